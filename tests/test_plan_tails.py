"""The per-aircraft schedule: which aircraft of a fleet flies each sortie. The model counts a
fleet's aircraft station by station, so any ready aircraft at the origin keeps the schedule
feasible; the schedule picks one that is available (aircraft become available in number
order, as the simulator has them) and, of those, the one with the fewest sorties in the last
24 hours, so that the fleet's crew limit falls on its aircraft as evenly as it can.

Where the fleet has a crew rate, the fleet's assignment is then searched as a whole
(:mod:`evacops.plan.tails`): every assignment the schedule gives is one the aircraft can fly
(checked here by following each aircraft, independently of the search's model), flies exactly
the plan's sorties, and never leaves more sorties over the crew rate than the rule; given one
aircraft's sorties that two could share, the search shares them."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd
import yaml
from hypothesis import HealthCheck, given, settings

from evacops.network import compile_network
from evacops.plan import solve_plan, tails
from evacops.plan.result import take_aircraft
from evacops.scenario import load
from tests.helpers import ROOT, scenario_from, shuttle_dict
from tests.test_plan_properties import scenarios
from tests.test_replan_registry import _scenario

SMALL = ROOT / "scenarios" / "small-airlift.yaml"


def problems(net, fi: int, events: tails.Events) -> list[str]:
    """What makes ``events`` an assignment fleet ``fi``'s aircraft cannot fly: an aircraft
    leaving from where it is not, before it is ready, before it is available, or waiting longer
    than an airfield's limit on the ground (where the horizon reaches the limit's end)."""
    home = net.stations[net.fleet_home_station[fi]][1]
    station = {s: k for k, (f, s) in enumerate(net.stations) if f == fi}
    per: dict[int, list[tuple[int, int]]] = defaultdict(list)
    found = []
    for t, m, aids in events:
        assert len(set(aids)) == len(aids), "one aircraft twice on one sortie"
        for a in aids:
            per[a].append((t, m))
            if a >= net.fleet_avail[fi, t]:
                found.append(f"aircraft {a} flies at {t}, not yet available")
    for a, legs in per.items():
        legs.sort()
        where, ready = home, 0
        for i, (t, m) in enumerate(legs):
            if int(net.move_from[m]) != where:
                found.append(f"aircraft {a} leaves {net.sites[int(net.move_from[m])]} at {t}")
            if t < ready:
                found.append(f"aircraft {a} leaves at {t}, ready at {ready}")
            where, ready = int(net.move_to[m]), t + int(net.move_ready[m])
            wait = net.station_wait[station[where]] if where in station else -1
            if wait < 0 or ready + wait >= net.T:
                continue
            if i + 1 == len(legs) or legs[i + 1][0] > ready + wait:
                found.append(f"aircraft {a} stays at {net.sites[where]} from {ready}")
    return found


def flown(events: tails.Events) -> dict[tuple[int, int], int]:
    return {(t, m): len(aids) for t, m, aids in events}


def rule_only(p, fi: int, monkeypatch) -> tails.Events:
    with monkeypatch.context() as mp:
        mp.setattr(tails, "improve", lambda net, fi, events, budget=0: events)
        return p.aircraft_assignment(fi)


def check_plan(p, monkeypatch) -> None:
    net = p.network
    for fi in range(len(net.fleets)):
        got = p.aircraft_assignment(fi)
        rule = rule_only(p, fi, monkeypatch)
        assert problems(net, fi, got) == [], net.fleets[fi]
        assert problems(net, fi, rule) == [], net.fleets[fi]
        assert flown(got) == flown(rule)
        mine = np.flatnonzero(net.move_fleet == fi)
        assert sum(flown(got).values()) == int(p.sortie_counts[mine].sum())
        if np.isfinite(net.fleet_sorties_day[fi]):
            assert tails.excess(net, fi, got) <= tails.excess(net, fi, rule)
        else:
            assert got == rule  # no rate: nothing to search


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(scenarios())
def test_every_assignment_is_flyable_and_no_worse_than_the_rule(monkeypatch, d):
    check_plan(solve_plan(scenario_from(d), check_binding=-1), monkeypatch)


def test_small_airlift_assignments_are_flyable_and_no_worse_than_the_rule(monkeypatch):
    for period in ("1h", "3h"):
        check_plan(solve_plan(load(SMALL), period=period, check_binding=-1), monkeypatch)


def test_the_search_spreads_one_aircrafts_sorties_over_the_idle_one(tmp_path):
    """Two aircraft, 2 sorties a day each; one of them given both round trips of a 12-hour
    day while the other stays at home. The search gives the second trip to the second
    aircraft: nobody over, the same sorties, flyable."""
    d = _scenario()
    d["fleets"][0].update(count=2, max_sorties_per_day=2)
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump(d))
    net = compile_network(load(path), "1h")
    out = next(m for m in range(len(net.move_leg)) if net.move_forward[m])
    back = next(m for m in range(len(net.move_leg)) if not net.move_forward[m])
    r = int(net.move_ready[out])
    assert int(net.move_ready[back]) == r and 4 * r <= net.T
    one = [(0, out, [0]), (r, back, [0]), (2 * r, out, [0]), (3 * r, back, [0])]
    assert problems(net, 0, one) == [] and tails.excess(net, 0, one) == (2, 1)
    spread = tails.improve(net, 0, one)
    assert problems(net, 0, spread) == [] and flown(spread) == flown(one)
    assert tails.excess(net, 0, spread) == (0, 0)
    assert {tuple(a) for _, _, a in spread} == {(0,), (1,)}
    assert tails.improve(net, 0, one) == spread  # the same answer every time


def test_an_aircraft_not_yet_available_never_flies_while_an_available_one_waits():
    """One aircraft of three is available for the first 6 hours, all three after: before
    06:00 every sortie is aircraft 01's, though 02 and 03 stand ready at home too (the old
    rule, earliest ready first, sent 02 at 04:00: a tail the operation did not have yet)."""
    d = shuttle_dict()
    d["fleets"][0]["count"] = 1
    d["cohorts"][0]["size"] = 900
    d["events"] = [{"kind": "fleet", "fleet": "one", "at": "2030-01-01T06:00:00+00:00", "count": 3}]
    p = solve_plan(scenario_from(d), check_binding=0)
    sched = p.schedule()
    early = sched[sched["departure"] < pd.Timestamp("2030-01-01T06:00:00+00:00")]
    assert len(early) >= 2  # out at 0 and again at 4 (back at 2)
    assert set(early["aircraft"]) == {"one-01"}
    assert sched["aircraft"].nunique() == 3  # all three fly once they are there


def test_the_aircraft_with_the_fewest_sorties_in_the_last_day_flies():
    queue = [(0, 0), (2, 1), (30, 2)]
    flown = {0: [10, 15, 20], 1: [18], 2: []}
    # at 22 (24-period day): aircraft 0 flew 3 times, 1 once; 2 is not ready yet
    assert take_aircraft(queue, 1, 22, 3, flown, 24) == [1]
    assert queue == [(0, 0), (30, 2)]
    # an aircraft beyond the available count waits while an available one is ready
    queue = [(0, 0), (0, 4)]
    assert take_aircraft(queue, 1, 22, 3, {0: [20, 21], 4: []}, 24) == [0]
    # sorties older than a day do not count; ties go to the lowest number
    queue = [(0, 0), (0, 1)]
    assert take_aircraft(queue, 2, 40, 2, {0: [1, 2, 3], 1: []}, 24) == [0, 1]
    # fewer ready than asked: none taken
    queue = [(0, 0), (30, 1)]
    assert take_aircraft(queue, 2, 22, 2, {}, 24) is None and len(queue) == 2
