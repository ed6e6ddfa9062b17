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
    # everyone at once: 1,000 at the gate (100 m2, screens 100/h). The first hour starts with
    # nobody pressing: 100 pass. Then 900 stand on 100 m2: at most 7/m2 fit (the rest queue
    # along the approach), and a gate pressed at or past the jam density keeps a quarter of
    # its rate: 25 an hour until the crowd thins below 5.4/m2 (540 people).
    g = gate_crowds(plan)["GATE"]
    cf = g["counterfactual"]
    assert np.allclose(cf[:4], [900, 875, 850, 825])
    assert np.allclose(np.diff(cf[cf > 540 + 25]), -25)
    # it drains ever faster as the crowd thins, and never lets in more than the plan moved on
    assert (np.diff(g["counterfactual_through"][1:]) >= -1e-9).all()
    assert (np.cumsum(g["counterfactual_through"]) <= np.cumsum(through) + 1e-9).all()
    s = plan.summary()["gates"][0]
    assert s["name"] == "GATE" and s["area_m2"] == 100 and s["approach_width_m"] == 10
    assert s["peak_density"] <= 2.0 + 1e-9 and s["hours_ge_5"] == 0
    c = s["counterfactual"]
    assert c["peak_people"] == 900 and c["peak_density"] == 7.0  # never the 9/m2 of 900/100
    # 700 fill the area (10 m deep on a 10 m approach); 200 more stand 200/(7 x 10) m further
    assert c["peak_queue_m"] == round(10 + 200 / 70, 1)
    # after the second hour 875 wait at the 25 an hour the pressed gate manages: 35 h for the
    # last of them (the wait at the rate of the moment, the longest over the horizon)
    assert c["peak_wait_h"] == 35.0
    dens = np.minimum(cf / 100, 7.0)
    for level in (2, 3.5, 5, 7):
        assert c[f"hours_ge_{level:g}".replace(".", "_")] == float((dens >= level - 1e-9).sum())


def test_no_gate_area_no_gates():
    p = solve_plan(scenario_from(shuttle_dict()), check_binding=0)
    assert p.summary()["gates"] == []
    assert call_forward(p).empty
