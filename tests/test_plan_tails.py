"""The per-aircraft schedule: which aircraft of a fleet flies each sortie. The model counts a
fleet's aircraft station by station, so any ready aircraft at the origin keeps the schedule
feasible; the schedule picks one that is available (aircraft become available in number
order, as the simulator has them) and, of those, the one with the fewest sorties in the last
24 hours, so that the fleet's crew limit falls on its aircraft as evenly as it can."""

from __future__ import annotations

import pandas as pd

from evacops.plan import solve_plan
from evacops.plan.result import take_aircraft
from tests.helpers import scenario_from, shuttle_dict


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
