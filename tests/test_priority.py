"""The priority guarantee (docs/planner.md, "Priority"): no lower-priority person takes a seat out
of the evacuation airport that a higher-priority person waiting beside them could have had.

Checked on random small scenarios (hypothesis) from the plan's arrays and the scenario itself,
independently of :mod:`evacops.plan.priority`, and on a golden case worked out by hand in which
the earlier seat's onward journey is the slower one (a delivery term weighted by priority gave
that seat to the lower-priority cohort).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evacops.plan import solve_plan
from evacops.plan.priority import seats_out_of_order
from tests.helpers import scenario_from
from tests.test_plan_properties import scenarios

TOL = 1e-5


def _two_ways_out(d: dict) -> bool:
    """Two staging bases: seats out to either, with onward journeys of different lengths, where
    priority is put to the test (half the examples)."""
    return sum(s["kind"] == "staging" for s in d["sites"]) == 2


@st.composite
def prioritised(draw, alike: bool) -> dict:
    """A random small scenario with 2 or 3 cohorts of different priorities at CAMP. ``alike``:
    all appear at the start and may go anywhere, so they differ only in priority; otherwise each
    may appear over a window and be restricted to one operator."""
    d = draw(st.one_of(scenarios(), scenarios().filter(_two_ways_out)))
    operators = sorted({f["operator"] for f in d["fleets"]})
    n = draw(st.integers(2, 3))
    priorities = draw(st.permutations([1, 2, 5]))[:n]
    cohorts = []
    for i, p in enumerate(priorities):
        c = {"name": f"p{p}", "size": draw(st.integers(20, 700)), "origin": "CAMP", "priority": p}
        if not alike:
            if draw(st.booleans()):
                c["operators"] = [draw(st.sampled_from(operators))]
            if draw(st.booleans()):
                end = draw(st.integers(1, d["time"]["horizon_h"]))
                c["appear"] = {"mode": "uniform", "start": f"+{i}h", "end": f"+{i + end}h"}
        cohorts.append(c)
    d["cohorts"] = cohorts
    for leg in d["legs"]:  # onward journeys of very different lengths
        if leg["name"].endswith("-home"):
            leg["travel_time_h"] = draw(st.sampled_from([0, 1, 4, 9]))
    # the guarantee holds whatever the other weights: a heavy delivery weight tempts a plan to
    # give an early seat with a slow onward journey to whoever matters less
    d["objective"] = {
        "delivery": draw(st.sampled_from([0.0, 0.05, 1.0, 5.0])),
        "sortie": draw(st.sampled_from([0.0, 1.0, 20.0])),
        "gate_wait": draw(st.sampled_from([0.0, 0.01, 1.0])),
    }
    return d


def _fleets_of(sc, cohort) -> frozenset[str]:
    """The fleets a cohort may fly (the random scenarios restrict cohorts by operator only)."""
    ops = cohort.operators
    return frozenset(f.name for f in sc.fleets if ops is None or f.operator in ops)


def _out_periods(out: np.ndarray) -> np.ndarray:
    return np.flatnonzero(out > TOL)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prioritised(alike=True))
def test_cohorts_alike_but_for_priority_leave_in_priority_order(d):
    p = solve_plan(scenario_from(d), check_binding=-1)
    net = p.network
    out = p.out_by_period  # (C, T) recomputed below from the flows, not trusted
    assert np.allclose(out, p.final.flow[:, net.arc_from == net.evac, :].sum(axis=1))
    size = net.appear.sum(axis=(1, 2))
    for h, lo in ((h, lo) for h in range(len(size)) for lo in range(len(size))):
        if net.priority[h] <= net.priority[lo]:
            continue
        oh, ol = _out_periods(out[h]), _out_periods(out[lo])
        if oh.size and ol.size:  # every higher leaves no later than any lower
            assert oh.max() <= ol.min(), (net.cohorts[h], oh, net.cohorts[lo], ol)
        if out[h].sum() < size[h] - TOL:  # a higher one left behind: no lower one out
            assert out[lo].sum() <= TOL, (net.cohorts[h], net.cohorts[lo])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prioritised(alike=False))
def test_no_lower_priority_person_takes_a_seat_a_waiting_higher_one_could_have(d):
    sc = scenario_from(d)
    p = solve_plan(sc, check_binding=-1)
    net, flow, hold = p.network, p.final.flow, p.final.hold
    evac = net.sites.index(sc.evacuation_airport)
    from_evac = np.array([net.sites[s] == sc.evacuation_airport for s in net.arc_from])
    checked = 0
    for h, ch in enumerate(sc.cohorts):
        for lo, cl in enumerate(sc.cohorts):
            if ch.priority <= cl.priority or _fleets_of(sc, ch) != _fleets_of(sc, cl):
                continue
            checked += 1
            seats_taken = flow[lo][from_evac].sum(axis=0)  # (T,)
            left_waiting = hold[h, evac]
            both = (seats_taken > TOL) & (left_waiting > TOL)
            assert not both.any(), (ch.name, cl.name, np.flatnonzero(both))
    # the plan's own check says the same, over the same pairs
    rows = seats_out_of_order(net, flow, hold)
    assert len(rows) == checked
    assert all(r["people"] <= TOL for r in rows)


def _two_routes() -> dict:
    """Worked by hand. 100 'high' (priority 2) and 100 'low' (priority 1) wait at EVAC from the
    start, 40 h horizon. Aircraft A (100 seats) leaves at hour 0 for SLOW, 1 h away, from where
    the road HOME takes 30 h; aircraft B (100 seats, available from hour 1) leaves at hour 1 for
    FAST, 1 h away, 1 h from HOME. The first seat out is A's, so it is high's:
    high leaves at 0 and reaches HOME at 31, low leaves at 1 and reaches HOME at 3.

    Objective: evacuation -(2 x 100 x 40 + 1 x 100 x 39) = -11,900; delivery (weight 0.05, the
    same for every cohort) -0.05 x 100 x ((40 - 31) + (40 - 3)) = -230; two sorties +2:
    -12,128. With the delivery term weighted by priority (as before this guarantee), low on A
    and high on B scored -11,800 - 0.05 x (1 x 100 x 9 + 2 x 100 x 37) + 2 = -12,213, against
    -11,900 - 0.05 x (2 x 100 x 9 + 1 x 100 x 37) + 2 = -12,173: high's faster delivery was
    worth more than its hour, and low took the first seat."""
    hub = {"unlimited": True, "reason": "hand-checked example"}
    ground = {"ground_time_h": {"default": 1}}
    return {
        "name": "two-routes",
        "time": {"start": "2030-01-01T00:00:00+00:00", "horizon_h": 40},
        "evacuation_airport": "EVAC",
        "sites": [
            {"name": "EVAC", "kind": "airport", **hub, "airfield": ground},
            {"name": "SLOW", "kind": "staging", **hub, "airfield": ground},
            {"name": "FAST", "kind": "staging", **hub, "airfield": ground},
            {"name": "HOME", "kind": "destination", **hub},
        ],
        "legs": [
            {"name": "evac-slow", "kind": "air", "origin": "EVAC", "destination": "SLOW",
             "block_time_h": 1},
            {"name": "evac-fast", "kind": "air", "origin": "EVAC", "destination": "FAST",
             "block_time_h": 1},
            {"name": "slow-home", "kind": "ground", "origin": "SLOW", "destination": "HOME",
             "travel_time_h": 30},
            {"name": "fast-home", "kind": "ground", "origin": "FAST", "destination": "HOME",
             "travel_time_h": 1},
        ],
        "aircraft_types": [{"name": "T", "planning_load": 100, "max_load": 100}],
        "fleets": [
            {"name": "A", "type": "T", "count": 1, "home": "EVAC", "legs": ["evac-slow"]},
            {"name": "B", "type": "T", "count": 1, "home": "EVAC", "legs": ["evac-fast"],
             "available_from": "+1h"},
        ],
        "cohorts": [
            {"name": "low", "size": 100, "origin": "EVAC", "priority": 1},
            {"name": "high", "size": 100, "origin": "EVAC", "priority": 2},
        ],
    }  # fmt: skip


def test_first_seat_goes_to_the_higher_priority_even_if_its_onward_journey_is_slower():
    p = solve_plan(scenario_from(_two_routes()), check_binding=-1)
    out = p.out_by_period
    assert out[1, 0] == pytest.approx(100)  # high on A, at hour 0
    assert out[0, 1] == pytest.approx(100)  # low on B, at hour 1
    assert out.sum() == pytest.approx(200)
    assert p.final.objective == pytest.approx(-12128.0)
    delivered = p.delivered_by_period
    assert delivered[1, 31] == pytest.approx(100) and delivered[0, 3] == pytest.approx(100)
    s = p.summary()
    assert s["priority"] == {
        "pairs": ["high > low"],
        "seats_out_of_order_people": 0.0,
        "out_of_order": [],
    }


def test_seats_out_of_order_counts_a_plan_that_breaks_the_guarantee():
    """The plan's check on a hand-made violation: low on the first seat while high waits."""
    p = solve_plan(scenario_from(_two_routes()), check_binding=-1)
    net = p.network
    flow, hold = p.final.flow.copy(), p.final.hold.copy()
    a, b = net.arc_name.index("evac-slow@A"), net.arc_name.index("evac-fast@B")
    flow[:, a, 0], flow[:, b, 1] = flow[::-1, a, 0], flow[::-1, b, 1]  # swap the seats
    evac = net.evac
    hold[1, evac, 0], hold[0, evac, 0] = 100.0, 0.0  # high waits at EVAC through hour 0
    (row,) = seats_out_of_order(net, flow, hold)
    assert row == {"higher": "high", "lower": "low", "people": 100.0, "periods": 1}


def test_cohorts_with_different_ways_out_are_not_compared():
    d = _two_routes()
    d["fleets"][0]["operator"] = "red"
    d["fleets"][1]["operator"] = "blue"
    d["cohorts"][0]["operators"] = ["blue"]  # low may fly B only
    p = solve_plan(scenario_from(d), check_binding=-1)
    assert p.summary()["priority"]["pairs"] == []
    assert seats_out_of_order(p.network, p.final.flow, p.final.hold) == []
