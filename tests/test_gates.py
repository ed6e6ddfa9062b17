"""The call-forward schedule and gate crowd densities, on a gate worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import scenario_from, shuttle_dict

from evacops.network import compile_network
from evacops.plan import solve_plan
from evacops.plan.gates import call_forward, call_forward_daily, gate_crowds


def gate_dict(area: float = 100.0, density: float | None = None, holding: int | None = None):
    """1,000 people at CAMP at the start, one gate (screens 100/h) before EVAC, aircraft to
    spare: the gate is the bottleneck, so the plan lets 100 through every hour from the start."""
    d = shuttle_dict()
    d["time"]["horizon_h"] = 24
    gate = {"name": "GATE", "kind": "gate", "crowd_area_m2": area, "processing_rate_per_h": 100}
    if holding is not None:
        gate["holding_capacity"] = holding
    d["sites"].insert(1, gate)
    d["legs"][0] = {
        "name": "camp-gate",
        "kind": "ground",
        "origin": "CAMP",
        "destination": "GATE",
        "travel_time_h": 0,
    }
    d["legs"].insert(
        1,
        {
            "name": "gate-evac",
            "kind": "ground",
            "origin": "GATE",
            "destination": "EVAC",
            "travel_time_h": 0,
        },
    )
    d["fleets"][0]["count"] = 10
    d["cohorts"][0]["size"] = 1000
    if density is not None:
        d["safe_density_per_m2"] = density
    return d


@pytest.fixture(scope="module")
def plan():
    return solve_plan(scenario_from(gate_dict()), check_binding=0)


def test_gate_holds_its_area_at_the_safe_density():
    assert compile_network(scenario_from(gate_dict())).cap[1].max() == 200  # 100 m2 x 2
    assert compile_network(scenario_from(gate_dict(density=1.5))).cap[1].max() == 150
    # a holding capacity above the crowd's safe size does not raise it; one below it lowers it
    assert compile_network(scenario_from(gate_dict(holding=5000))).cap[1].max() == 200
    assert compile_network(scenario_from(gate_dict(holding=120))).cap[1].max() == 120


def test_call_forward_keeps_the_crowd_within_the_safe_density(plan):
    crowd = plan.final.hold[:, 1, :].sum(axis=0)
    assert crowd.max() <= 200 + 1e-6
    cf = call_forward(plan)
    assert set(cf["assembly"]) == {"CAMP"} and set(cf["gate"]) == {"GATE"}
    assert cf["people"].sum() == 1000  # everyone is called, in whole people
    assert (cf["people"] > 0).all()
    # the crowd in front of the gate is who was called less who went through
    through = plan.final.flow[0, plan.network.arc_name.index("gate-evac"), :]
    called = np.zeros(plan.network.T)
    np.add.at(called, cf["period"].to_numpy(), cf["people"].to_numpy())
    assert np.allclose(np.cumsum(called) - np.cumsum(through), crowd, atol=1.0)
    daily = call_forward_daily(plan)
    assert daily.to_numpy().sum() == 1000 and list(daily.columns) == ["CAMP -> GATE"]
    by_gate = call_forward_daily(plan, by="gate")
    assert list(by_gate.columns) == ["GATE"] and (by_gate.to_numpy() == daily.to_numpy()).all()


def test_everyone_at_once_worked_by_hand(plan):
    # the gate lets 100 through each hour from the start (it is the only bottleneck)
    through = plan.final.flow[0, plan.network.arc_name.index("gate-evac"), :]
    assert np.allclose(through[:10], 100) and np.allclose(through[10:], 0)
    # everyone at once: 1,000 at the gate, 100 leave per hour: 900, 800, ..., 0 on 100 m2
    cf = gate_crowds(plan)["GATE"]["counterfactual"]
    assert np.allclose(cf[:10], 1000 - 100 * np.arange(1, 11))
    g = plan.summary()["gates"][0]
    assert g["name"] == "GATE" and g["area_m2"] == 100
    assert g["peak_density"] <= 2.0 + 1e-9 and g["hours_ge_5"] == 0
    c = g["counterfactual"]
    assert c["peak_density"] == 9.0
    # densities 9, 8, ..., 1 persons/m2: >= 2 for 8 h, >= 3.5 for 6 h, >= 5 for 5 h, >= 7 for 3 h
    assert (c["hours_ge_2"], c["hours_ge_3_5"], c["hours_ge_5"], c["hours_ge_7"]) == (8, 6, 5, 3)


def test_no_gate_area_no_gates():
    p = solve_plan(scenario_from(shuttle_dict()), check_binding=0)
    assert p.summary()["gates"] == []
    assert call_forward(p).empty
