"""Crowds as crowds (evacops/network/crowd.py): Weidmann's curve as cited, a queue that never
packs past the physical maximum, and a gate slowed by a crowd pressing on it."""

from __future__ import annotations

import numpy as np
from helpers import scenario_from, shuttle_dict
from hypothesis import given, settings
from hypothesis import strategies as st

from evacops.network.crowd import CrowdPhysics, approach_widths
from evacops.scenario.model import Uncertainty

P = CrowdPhysics()


def test_weidmann_curve_as_published():
    # Weidmann (1993): free speed 1.34 m/s, jam at 5.4/m2, capacity about 1.22 persons/m/s
    # reached near 1.75 persons/m2
    assert np.isclose(P.speed(0.01), 1.34, atol=1e-6)
    assert P.speed(5.4) == 0.0 and P.speed(6.0) == 0.0
    assert abs(P.critical_density - 1.75) < 0.01
    assert abs(float(P.specific_flow(P.critical_density)) - 1.225) < 0.005
    # the speed falls with density (the curve is monotone)
    d = np.linspace(0.1, 5.4, 200)
    assert (np.diff(P.speed(d)) < 0).all()


def test_faster_is_slower_share():
    d = np.linspace(0.0, 9.0, 901)
    share = P.throughput_share(d)
    assert (share[d <= P.onset_density] == 1.0).all()  # a planned crowd is screened in full
    assert (np.diff(share) <= 1e-12).all()  # never faster when denser
    assert share.min() == P.min_throughput_share  # a jammed gate keeps its floor
    assert (share[d >= P.jam] == P.min_throughput_share).all()
    # between onset and jam it follows the fundamental diagram
    mid = 3.5
    expect = float(P.specific_flow(mid) / P.specific_flow(P.onset_density))
    assert np.isclose(float(P.throughput_share(mid)), expect)
    # the onset is the higher of Weidmann's critical density and the safe density
    assert CrowdPhysics(safe_density_per_m2=1.0).onset_density == P.critical_density
    assert CrowdPhysics(safe_density_per_m2=3.0).onset_density == 3.0


@settings(max_examples=200, deadline=None)
@given(
    people=st.floats(0, 1e6),
    area=st.floats(1, 1e4),
    width=st.floats(0.5, 200),
    dmax=st.floats(2.5, 9),
)
def test_queue_never_packs_past_the_maximum_and_holds_everyone(people, area, width, dmax):
    p = CrowdPhysics(max_density_per_m2=dmax)
    d = float(p.density(people, area))
    assert 0 <= d <= dmax + 1e-12
    q = float(p.queue_length_m(people, area, width))
    assert q >= 0
    if people > 1e-9:
        # everyone stands somewhere: the area at its density, the rest along the approach
        in_area = d * area
        beyond = (q - area / width) * dmax * width
        assert np.isclose(in_area + beyond, people, rtol=1e-9, atol=1e-6)
    # a bigger crowd never stands closer to the gate
    assert float(p.queue_length_m(people * 1.5 + 1, area, width)) >= q - 1e-9


def test_gate_share_ignores_gates_without_area():
    s = P.gate_share(np.array([[700.0, 700.0]]), np.array([100.0, np.nan]))
    assert s[0, 0] == P.min_throughput_share and s[0, 1] == 1.0


def test_approach_width_given_or_the_side_of_a_square():
    d = shuttle_dict()
    d["sites"].insert(
        1, {"name": "G1", "kind": "gate", "crowd_area_m2": 400, "processing_rate_per_h": 10}
    )
    d["sites"].insert(
        1,
        {
            "name": "G2",
            "kind": "gate",
            "crowd_area_m2": 400,
            "approach_width_m": 8,
            "processing_rate_per_h": 10,
        },
    )
    w = approach_widths(scenario_from(d))
    assert w == {"G1": 20.0, "G2": 8.0}


def crowded_gate_dict() -> dict:
    """1,000 people appear right in front of one gate (100 m2, screens 100/h) with aircraft to
    spare: the gate is the only limit, and its crowd presses on it from the first hour."""
    d = shuttle_dict()
    d["time"]["horizon_h"] = 48
    d["sites"].insert(
        1, {"name": "GATE", "kind": "gate", "crowd_area_m2": 100, "processing_rate_per_h": 100}
    )
    d["legs"][0] = {
        "name": "gate-evac",
        "kind": "ground",
        "origin": "GATE",
        "destination": "EVAC",
        "travel_time_h": 0,
    }
    d["fleets"][0]["count"] = 10
    d["cohorts"][0]["size"] = 1000
    d["cohorts"][0]["origin"] = "GATE"
    return d


def test_simulated_gate_slows_under_its_crowd():
    """Worked by hand: the crowd when each hour starts sets the gate's share of its 100/h, so
    100 pass in the first hour (nobody pressing yet), then 25 an hour while 900 down to 540
    stand on 100 m2 (at or past the jam density), then more as it thins."""
    from evacops.sim import simulate

    sc = scenario_from(crowded_gate_dict())
    assert sc.cohorts[0].origin == "GATE"
    res = simulate(sc, runs=1, random=False, workers=1)
    md = res.model
    g = int(np.flatnonzero(md.net.site_kind[md.gates] == "gate")[0])
    crowd = res.rec["gate_crowd"][0, g].astype(float)  # at the end of each hour
    passed = -np.diff(np.concatenate([[1000.0], crowd]))
    assert passed[0] == 100
    start = np.concatenate([[0.0], crowd[:-1]])
    there = start + 1000 * (np.arange(crowd.size) == 0)  # who can be screened this hour
    want = np.minimum(100 * P.throughput_share(np.minimum(start / 100, 7.0)), there)
    assert np.allclose(passed, want, atol=1e-6)
    assert np.allclose(passed[1:5], 25)
    # densities reported never pass the physical maximum; the queue is reported in metres
    assert res.gate_density().max() <= 7.0 + 1e-12
    q = res.gate_queue_m()[0, g]
    assert q[0] == 10 + 200 / 70  # 900 left: 700 on the area (10 m deep), 200 further back
    row = res.gates().iloc[0]
    assert row["peak_density_p50"] == 7.0 and row["peak_queue_m_p50"] == q.max()


def test_crowd_inputs_are_checked():
    from evacops.errors import ScenarioError

    d = crowded_gate_dict()
    d["crowd"] = {"max_density_per_m2": 1.5}
    with np.testing.assert_raises(ScenarioError) as e:
        scenario_from(d)
    assert "crowd.max_density_per_m2" in str(e.exception)
    d = crowded_gate_dict()
    d["sites"][0]["approach_width_m"] = 5  # CAMP has no crowd area
    with np.testing.assert_raises(ScenarioError) as e:
        scenario_from(d)
    assert "approach_width_m" in str(e.exception) and "crowd_area_m2" in str(e.exception)


def _two_gate_batch(runs: int, **uncertainty):
    from evacops.scenario.model import Uncertainty
    from evacops.sim.core import Batch
    from evacops.sim.draws import Draws
    from evacops.sim.model import build_model

    d = crowded_gate_dict()
    d["sites"].insert(
        1, {"name": "GATE2", "kind": "gate", "crowd_area_m2": 100, "processing_rate_per_h": 50}
    )
    off = Uncertainty.off().model_dump()
    md = build_model(scenario_from(d), uncertainty=Uncertainty(**{**off, **uncertainty}))
    b = Batch(md, np.random.SeedSequence(11).spawn(runs))
    b.draws = Draws(md, b.gens, 0)
    return md, b


def test_a_bad_day_is_bad_at_every_gate():
    from evacops.sim import crowds

    md, b = _two_gate_batch(2000, day_cv=0.5)
    _, rate = crowds.open_gates(b, 0)
    factor = rate[:, md.gates] / md.net.rate[md.gates][None, :]
    # both gates screen at the same share of their rate in a run: the day's shared factor
    assert np.allclose(factor[:, 0], factor[:, 1]) and np.allclose(factor[:, 0], b.day_factor[:, 0])
    # lognormal with mean 1 and the stated coefficient of variation (2,000 runs)
    assert abs(factor[:, 0].mean() - 1) < 0.05 and abs(factor[:, 0].std() / 0.5 - 1) < 0.1
    # the same within a day, another draw the next day
    _, later = crowds.open_gates(b, 5)
    assert np.allclose(later[:, md.gates], rate[:, md.gates])
    assert not np.allclose(b.day_factor[:, 1], b.day_factor[:, 0])


def test_incidents_likelier_in_a_dense_crowd():
    from evacops.sim import crowds

    # base chance of an incident about 0.05 an hour; the crowd at GATE stands at 7/m2
    md, b = _two_gate_batch(
        20000, incidents_per_gate_per_day=1.23, incident_mean_h=1, incident_density_factor=0.5
    )
    g_dense = int(np.flatnonzero(md.net.site_kind[md.gates] == "gate")[0])
    b.people.H[:, md.gates[g_dense], 0] = 700.0
    crowds.open_gates(b, 0)
    started = (b.gates.inc_left > 0).mean(axis=0)
    weight = 1 + 0.5 * (7.0 - 2.0)  # 0.5 of the base chance per person/m2 above the safe 2/m2
    base = md.rnd.incident_p
    assert abs(started[g_dense] / (base * weight) - 1) < 0.1
    assert abs(started[1 - g_dense] / base - 1) < 0.15


def gates_and_assembly_dict(switch: float = 0.5, give_up: float = 0.0) -> dict:
    """An assembly point feeding two gates (A closes from hour 3 to 8), screening slowly so a
    crowd builds; surges on, everything else random off."""
    d = shuttle_dict()
    d["time"]["horizon_h"] = 24
    d["sites"][1:1] = [
        {"name": "GA", "kind": "gate", "crowd_area_m2": 50, "processing_rate_per_h": 20},
        {"name": "GB", "kind": "gate", "crowd_area_m2": 50, "processing_rate_per_h": 20},
    ]
    ground = {"kind": "ground", "travel_time_h": 0}
    d["legs"][0] = {**ground, "name": "camp-ga", "origin": "CAMP", "destination": "GA"}
    d["legs"][1:1] = [
        {**ground, "name": "camp-gb", "origin": "CAMP", "destination": "GB"},
        {**ground, "name": "ga-evac", "origin": "GA", "destination": "EVAC"},
        {**ground, "name": "gb-evac", "origin": "GB", "destination": "EVAC"},
    ]
    d["fleets"][0]["count"] = 5
    d["cohorts"][0]["size"] = 2000
    d["events"] = [
        {"kind": "closure", "site": "GA", "start": "+3h", "end": "+8h"},
        {"kind": "news", "start": "+10h", "end": "+14h", "factor": 4},
    ]
    d["uncertainty"] = {
        **Uncertainty.off().model_dump(),
        "surge_probability_per_h": 0.5,
        "surge_size_h": 5,
        "gate_switch_share": switch,
        "give_up_share_per_h": give_up,
        "surge_attraction": 1.0,
    }
    return d


def test_nobody_left_at_a_closed_gate_and_nobody_lost():
    from evacops.sim import simulate

    for switch in (0.0, 0.5, 1.0):
        res = simulate(scenario_from(gates_and_assembly_dict(switch, give_up=0.2)), runs=30, seed=4)
        md = res.model
        ga = next(j for j, g in enumerate(md.gates) if md.net.sites[g] == "GA")
        crowd = res.rec["gate_crowd"][:, ga]  # (R, T) at the end of each hour
        # closed 3-8: nobody stands before it at the end of those hours (nobody is sent there,
        # surges go to open gates only, those there leave)
        assert crowd[:, 3:8].max() == 0
        sw, back = res.rec["gate_switched"], res.rec["gave_up"]
        if switch == 0.0:
            assert sw.max() == 0 and back.max() > 0
        else:
            assert sw.max() > 0
        # nobody created or lost: everyone who appeared is somewhere in every run
        appeared = float(md.appear_tsc.sum())
        assert np.allclose(res.evacuated() + res.left_behind(), appeared, atol=1e-3 * appeared)


def test_news_and_an_open_gate_draw_surges():
    from evacops.sim import crowds, model

    sc = scenario_from(gates_and_assembly_dict())
    md = model.build_model(sc)
    assert md.news_t[10:14].tolist() == [4.0] * 4 and md.news_t[:10].max() == 1.0
    assert md.gate_cohort_ok.all() and (md.gate_back >= 0).all()
    _, b = _two_gate_batch(3, surge_attraction=1.0)
    b.now = type("P", (), {})()
    b.now.rate_eff = np.zeros((3, b.md.S))
    b.now.site_open = np.ones((3, b.md.S), dtype=bool)
    g = b.md.gates
    b.now.rate_eff[:, g] = b.md.net.rate[g] * np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 0.5]])
    b.now.site_open[0, g[0]] = False
    att = crowds._attraction(b)
    assert np.allclose(att, [[0.0, 1.0], [1.0, 1.0], [2.0, 0.5]])
