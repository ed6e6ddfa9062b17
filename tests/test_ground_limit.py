"""An airfield's ``max_ground_h``: aircraft leave within that many hours of landing (a contested
ramp is no place to wait). The planner keeps it by the rows ``Station-ground`` (aircraft idle at
a station at most those that became ready there within the last W periods, W = the limit less
the ground time, rounded down), the per-aircraft schedule by taking the earliest ready first
there, and the simulator by sending an aircraft that has waited its W periods off, empty, home
(or on its fleet's shortest flight), ahead of others for a slot."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evacops.errors import ScenarioError
from evacops.network import compile_network
from evacops.plan import solve_plan
from evacops.plan.replan import replan, state_from_plan, state_network
from evacops.plan.tails import take_aircraft
from evacops.sim import simulate
from evacops.sim.core import run_batch
from evacops.sim.model import build_model
from tests.helpers import scenario_from, shuttle_dict
from tests.test_plan_properties import check_invariants, check_limits, scenarios
from tests.test_validation import only_problem


def _park_dict(limit: float | None) -> dict:
    """One aircraft based at STAGE, which closes at +3 h for the rest of the day, so it must
    leave STAGE by then; 100 people reach EVAC at +6 h and go on to STAGE2. Without a limit the
    aircraft waits at EVAC from +4 h to +6 h; block 1 h and ground 1 h everywhere."""
    d = shuttle_dict()
    stage2 = copy.deepcopy(d["sites"][2]) | {"name": "STAGE2"}
    d["sites"].append(stage2)
    d["sites"][2]["closures"] = [{"start": "+3h", "end": "+12h"}]
    d["legs"] += [
        {"name": "evac-stage2", "kind": "air", "origin": "EVAC", "destination": "STAGE2"}
        | {"block_time_h": 1},
        {"name": "stage2-home", "kind": "ground", "origin": "STAGE2", "destination": "HOME"}
        | {"travel_time_h": 100},
    ]
    d["fleets"][0] |= {"home": "STAGE", "legs": ["evac-stage", "evac-stage2"]}
    d["cohorts"][0] |= {"size": 100, "appear": {"mode": "uniform", "start": "+6h", "end": "+7h"}}
    if limit is not None:
        d["sites"][1]["airfield"]["max_ground_h"] = limit
    return d


def _turns(p, site: str) -> list[tuple[int, int]]:
    """(ready period, next departure period) of every aircraft turn at ``site``."""
    out = []
    for _, rows in p.schedule().groupby("aircraft"):
        rows = rows.sort_values("dep_period").reset_index(drop=True)
        for i in range(len(rows) - 1):
            if rows.loc[i, "destination"] == site:
                out.append((int(rows.loc[i, "ready_period"]), int(rows.loc[i + 1, "dep_period"])))
    return out


def test_without_a_limit_the_aircraft_parks_and_with_one_it_does_not():
    free = solve_plan(scenario_from(_park_dict(None)), check_binding=0)
    assert max(dep - ready for ready, dep in _turns(free, "EVAC")) >= 2  # parked 2 h or more
    tight = solve_plan(scenario_from(_park_dict(1)), check_binding=0)  # W = 1 - 1 = 0
    assert tight.network.station_wait.tolist() == [-1, 0, -1]  # (one, STAGE), EVAC, STAGE2
    assert all(dep == ready for ready, dep in _turns(tight, "EVAC"))
    # the same people out as early: it shuttles EVAC-STAGE2 empty instead of waiting
    assert tight.final.flow.sum() == pytest.approx(free.final.flow.sum())
    assert tight.sortie_counts.sum() == free.sortie_counts.sum() + 2
    loose = solve_plan(scenario_from(_park_dict(3)), check_binding=0)  # W = 2: it may wait
    assert loose.sortie_counts.sum() == free.sortie_counts.sum()
    assert all(dep - ready <= 2 for ready, dep in _turns(loose, "EVAC"))


def test_the_earliest_ready_leaves_first_where_the_ground_is_limited():
    queue = [(5, 0), (2, 3), (4, 1)]
    # the fewest recent sorties would pick aircraft 0; where the ground is limited, 3 goes first
    assert take_aircraft(list(queue), 1, 6, 4, {3: [1], 1: [2]}, 24) == [0]
    assert take_aircraft(queue, 2, 6, 4, {3: [1], 1: [2]}, 24, fifo=True) == [3, 1]
    assert queue == [(5, 0)]


@pytest.mark.parametrize(
    "base, edit, expected, needle",
    [
        (
            lambda: _park_dict(None),
            lambda d: d["sites"][1]["airfield"].update(max_ground_h=0.5),
            "sites[1].airfield.max_ground_h: 0.5 h is shorter than the ground time of 'T' there "
            "(1 h); raise max_ground_h to at least that",
            "max_ground_h",
        ),
        (
            shuttle_dict,
            lambda d: d["sites"][1]["airfield"].update(max_ground_h=2),
            "fleets[0].home: home 'EVAC' lets aircraft stay only 2 h on the ground "
            "(max_ground_h); base the fleet elsewhere or drop that limit",
            "home: EVAC",
        ),
    ],
    ids=["shorter-than-ground-time", "at-a-fleet-home"],
)
def test_a_limit_that_cannot_hold_is_one_line(tmp_path, base, edit, expected, needle):
    d = base()
    edit(d)
    only_problem(d, tmp_path, expected, needle)


def test_a_limit_that_is_not_positive_is_refused(tmp_path):
    with pytest.raises(ScenarioError) as info:
        scenario_from(_park_dict(0))
    assert info.value.problems == [
        "test.yaml:17: sites[1].airfield.max_ground_h: must be > 0.0, got 0"
    ]


@st.composite
def limited(draw) -> dict:
    """A random scenario of tests/test_plan_properties.py with ``max_ground_h`` on airfields
    that are no fleet's home."""
    d = copy.deepcopy(draw(scenarios()))
    homes = {f["home"] for f in d["fleets"]}
    for s in d["sites"]:
        af = s.get("airfield")
        if af is None or s["name"] in homes or not draw(st.booleans()):
            continue
        af["max_ground_h"] = af["ground_time_h"]["default"] + draw(st.sampled_from([0.5, 1, 2]))
    return d


def _check_turns(p) -> None:
    """Every turn at a limited airfield, from the schedule and the scenario alone: the next
    departure at most W periods after the aircraft is ready, and, in hours, at most the limit
    plus one period (the periods' rounding) after it landed."""
    sc = p.scenario
    legs = {lg.name: lg for lg in sc.legs}
    sched = p.schedule()
    for _, rows in sched.groupby("aircraft"):
        rows = rows.sort_values("dep_period").reset_index(drop=True)
        for i in range(len(rows) - 1):
            af = sc.site(rows.loc[i, "destination"]).airfield
            if af is None or af.max_ground_h is None:
                continue
            w = math.floor(af.max_ground_h - af.ground_time_for(rows.loc[i, "type"]) + 1e-9)
            nxt, ready = rows.loc[i + 1, "dep_period"], rows.loc[i, "ready_period"]
            assert nxt - ready <= w, (rows.loc[i, "aircraft"], ready, nxt, w)
            block = legs[rows.loc[i, "leg"]].block_time_for(rows.loc[i, "type"])
            landed = rows.loc[i, "dep_period"] + block
            assert nxt - landed < af.max_ground_h + 1, (landed, nxt)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(limited())
def test_plans_keep_the_ground_limit_on_random_scenarios(d):
    p = solve_plan(scenario_from(d), check_binding=0)
    check_invariants(p)
    check_limits(p)
    _check_turns(p)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(d=limited(), seed=st.integers(0, 2**31))
def test_simulated_aircraft_leave_in_time_where_nothing_keeps_them(d, seed):
    """Under the dispatch policy with random times: where no slot, runway, crew or maintenance
    limit and no closure can keep an aircraft on the ground, none stays past its airfield's
    limit in any run; the same seed gives the same runs. (A hard deadline closes the evacuation
    airport to aircraft: one at a staging base whose only flight is back there stays, counted.)"""
    d.pop("deadline", None)
    d.pop("deadline_hard", None)
    for s in d["sites"]:
        s.pop("closures", None)
        af = s.get("airfield")
        if af is not None:
            for k in ("departure_slots_per_h", "arrival_slots_per_h", "movements_per_h"):
                af[k] = None
            af.pop("slot_changes", None)
    for f in d["fleets"]:
        f["max_sorties_per_day"] = None
        f["maintenance_down_fraction"] = 0
    md = build_model(scenario_from(d))
    md.rnd.abort_p = 0.0
    seeds = np.random.SeedSequence(seed).spawn(3)
    rec = run_batch(md, seeds)
    assert (rec["ground_over"] == 0).all()
    assert np.array_equal(run_batch(md, seeds)["ground_over"], rec["ground_over"])


def test_a_simulated_aircraft_waiting_for_a_load_leaves_at_its_limit():
    """100 people reach EVAC over +2 h to +12 h: the policy keeps an aircraft there waiting for
    its load (three periods on the ground, landed at +6 h); with ``max_ground_h`` 1 (W = 0) it
    leaves when ready, with 2 (W = 1) one period later; everyone still gets out."""
    d = shuttle_dict()
    d["time"]["horizon_h"] = 24
    d["fleets"][0]["home"] = "STAGE"
    d["cohorts"] = [
        {"name": "a", "size": 100, "origin": "CAMP"},
        {"name": "b", "size": 100, "origin": "CAMP"}
        | {"appear": {"mode": "uniform", "start": "+2h", "end": "+12h"}},
    ]
    on_ground = {}
    for limit in (None, 1, 2):
        if limit is not None:
            d["sites"][1]["airfield"]["max_ground_h"] = limit
        r = simulate(scenario_from(d), runs=1, random=False, workers=1, audit=True)
        assert round(r.evacuated()[0]) == 200 and r.rec["ground_over"][0] == 0
        on_ground[limit] = r.rec["on_ground"][0, 6:9, 1].tolist()  # EVAC, +6 h to +8 h
    assert on_ground == {None: [1, 1, 1], 1: [1, 0, 0], 2: [1, 1, 0]}


def test_a_replan_keeps_an_aircraft_that_overstayed_before_its_moment():
    """The registry's flights may show an aircraft kept on a limited ramp longer than its
    limit: the re-plan from then still gives a plan (the aircraft there at the moment may stay,
    as people there may), where rows before the moment would have made it infeasible."""
    free = solve_plan(scenario_from(_park_dict(None)), check_binding=0)
    assert (4, 6) in _turns(free, "EVAC")  # ready at +4 h, left at +6 h: over a W of 0 at +5 h
    limited = compile_network(scenario_from(_park_dict(1)))
    state = state_from_plan(free, 5)
    assert state_network(limited, state).ground_exempt[1, 5:].tolist() == [1.0] * 7
    again = replan(limited, state)
    assert again.plan.final.flow.sum() == pytest.approx(free.final.flow.sum())
    assert again.plan.sortie_counts[:, 5:].sum() == 1  # it leaves with the 100 people at +6 h
