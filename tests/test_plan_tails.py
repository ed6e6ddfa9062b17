"""The per-aircraft schedule: which aircraft of a fleet flies each sortie. The model counts a
fleet's aircraft station by station, so any ready aircraft at the origin keeps the schedule
feasible; the schedule picks one that is available (aircraft become available in number
order, as the simulator has them) and, of those, the one with the fewest sorties in the last
24 hours, so that the fleet's crew limit falls on its aircraft as evenly as it can. Every
aircraft of random plans and of small-airlift's is followed here, independently of the rule:
it leaves from where it is, once ready, once available, and within an airfield's limit on the
ground."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings

from evacops.plan import solve_plan
from evacops.plan.tails import take_aircraft
from evacops.scenario import load
from tests.helpers import ROOT, scenario_from, shuttle_dict
from tests.test_plan_properties import scenarios

SMALL = ROOT / "scenarios" / "small-airlift.yaml"


def follow(net, name: str, legs: list[tuple[int, int]]) -> list[str]:
    """What stops aircraft ``name`` flying ``legs`` ((departure period, move), any order) from
    its fleet's home: leaving from where it is not, before it is ready, or waiting longer than
    an airfield's limit on the ground (where the horizon reaches the limit's end)."""
    found = []
    fi = int(net.move_fleet[legs[0][1]])
    station = {s: k for k, (f, s) in enumerate(net.stations) if f == fi}
    where, ready = net.stations[net.fleet_home_station[fi]][1], 0
    legs = sorted(legs)
    for i, (t, m) in enumerate(legs):
        if int(net.move_from[m]) != where:
            found.append(f"{name} leaves {net.sites[int(net.move_from[m])]} at {t}")
        if t < ready:
            found.append(f"{name} leaves at {t}, ready at {ready}")
        where, ready = int(net.move_to[m]), t + int(net.move_ready[m])
        wait = net.station_wait[station[where]] if where in station else -1
        if wait < 0 or ready + wait >= net.T:
            continue
        nxt = legs[i + 1][0] if i + 1 < len(legs) else None
        if nxt is None or nxt > ready + wait:
            found.append(f"{name} stays at {net.sites[where]} from {ready}")
    return found


def problems(p) -> list[str]:
    """What makes the plan's schedule one its aircraft cannot fly: an aircraft leaving from
    where it is not, before it is ready, before it is available (number order), or waiting
    longer than an airfield's limit on the ground (where the horizon reaches the limit's
    end); and sorties that are not the plan's."""
    net, sched = p.network, p.schedule()
    move = {
        (net.fleets[int(net.move_fleet[m])], net.move_leg[m], bool(net.move_forward[m])): m
        for m in range(len(net.move_leg))
    }
    per: dict[str, list[tuple[int, int]]] = defaultdict(list)
    counts = np.zeros_like(p.sortie_counts)
    found = []
    for name, fleet, leg, way, t in zip(
        sched["aircraft"],
        sched["fleet"],
        sched["leg"],
        sched["direction"],
        sched["dep_period"],
        strict=True,
    ):
        m = move[(fleet, leg, way == "outbound")]
        per[name].append((int(t), m))
        counts[m, t] += 1
        fi = net.fleets.index(fleet)
        if int(name.rsplit("-", 1)[1]) > net.fleet_avail[fi, t]:
            found.append(f"{name} flies at {t}, not yet available")
    if not np.array_equal(counts, p.sortie_counts):
        found.append("the schedule's sorties are not the plan's")
    for name, legs in per.items():
        found += follow(net, name, legs)
    return found


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(scenarios())
def test_every_aircraft_of_a_random_plan_can_fly_its_schedule(d):
    p = solve_plan(scenario_from(d), check_binding=-1)
    assert problems(p) == []


def test_every_aircraft_of_small_airlift_can_fly_its_schedule():
    for period in ("1h", "3h"):
        p = solve_plan(load(SMALL), period=period, check_binding=-1)
        assert problems(p) == [] and len(p.schedule())


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
