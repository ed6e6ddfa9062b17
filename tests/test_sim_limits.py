"""The simulator keeps the limits the planner keeps (crews, maintenance, runway movements, slot
rates that change over time, stays and minimum dwell, out-processing, MOG) and behaves like an
operation (screening that turns people away, eligibility that changes on a date, decisions that
make a site or a fleet exist from a time, a ramp no aircraft blocks): golden cases worked by hand
on the shuttle (tests/scenarios/shuttle.yaml: one aircraft, 100 seats, block 1 h and ground 1 h
at each end; the dispatch policy leaves EVAC at 1, 5 and 9, docs/simulation.md) and small
scenarios, then property tests on random scenarios, every check recomputed from the audit
records (tests/test_sim.py).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evacops.errors import ScenarioError
from evacops.plan import solve_plan
from evacops.planfolder import write_plan
from evacops.scenario import load
from evacops.scenario.model import Uncertainty
from evacops.sim import prepare, simulate
from evacops.sim.core import run_batch
from evacops.sim.model import SimModel, build_model
from tests.helpers import ROOT, scenario_from, shuttle_dict
from tests.test_plan_properties import scenarios
from tests.test_sim import STRESS, check_invariants, replay_matches
from tests.test_sim_dispatch import full_base_dict


def _out(d: dict, uncertainty: Uncertainty | None = None) -> dict[int, int]:
    """People off the evacuation airport per period under the dispatch policy, no randomness."""
    res = simulate(build_model(scenario_from(d), uncertainty=uncertainty), runs=1, random=False)
    return {t: round(v) for t, v in enumerate(res.out_by_period()[0]) if v > 1e-6}


def _audit(d: dict, random: bool = False, u: Uncertainty | None = None, seeds: int = 1):
    md = build_model(scenario_from(d), uncertainty=u)
    return md, run_batch(md, np.random.SeedSequence(3).spawn(seeds), audit=True, random=random)


# ---- crews, maintenance, dwell: the shuttle by hand ------------------------------------------
@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        (2, {1: 100}),  # out at 1, back at 3: two sorties, none more in the 12 h
        (3, {1: 100, 5: 100}),  # and out again at 5
        (5, {1: 100, 5: 100, 9: 100}),  # the unlimited shuttle (3 out, 2 back)
    ],
)
def test_crew_limit_caps_sorties_per_aircraft_per_day(limit, expected):
    d = shuttle_dict()
    d["fleets"][0]["max_sorties_per_day"] = limit
    assert _out(d) == expected


def test_maintenance_down_time_limits_hours_in_use():
    d = shuttle_dict()
    d["fleets"][0]["maintenance_down_fraction"] = 0.75  # 6 h a day = 3 sorties of 2 h
    assert _out(d) == {1: 100, 5: 100}
    d["fleets"][0]["maintenance_down_fraction"] = 0.25  # 18 h: more than 12 h can use
    assert _out(d) == {1: 100, 5: 100, 9: 100}


@pytest.mark.parametrize("dwell_h", [1, 2, 3])
def test_minimum_dwell_keeps_people_from_boarding(dwell_h):
    """Everyone is airside at 0; nobody boards before 0 + dwell; the aircraft waits for them
    (it does not leave with nobody who may board)."""
    d = shuttle_dict()
    d["sites"][1]["min_dwell_h"] = dwell_h
    first = max(1, dwell_h)
    assert _out(d) == {first: 100, first + 4: 100, first + 8: 100}


@pytest.mark.parametrize("limit", [2, 3])
def test_replay_of_a_plan_with_crew_and_dwell_limits_is_the_plan(tmp_path, limit):
    d = shuttle_dict()
    d["fleets"][0]["max_sorties_per_day"] = limit
    d["sites"][1]["min_dwell_h"] = 1
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    write_plan(solve_plan(load(path), check_binding=0), tmp_path / "plan", scenario_path=path)
    md = prepare(load(path), tmp_path / "plan", path)
    replay_matches(md, tmp_path / "plan")


def test_each_aircraft_is_held_to_its_crew_unless_its_plan_asks_more(tmp_path):
    """small-airlift planned with its fleets' rates alone (``--fleet-crews``): some aircraft
    fly more than their crews may. The simulator following that plan replays it as planned
    (an aircraft may fly what its plan asks of it); held to the crews (the plan's default) no
    aircraft flies beyond its crew in any run, with randomness too; without a plan (the
    dispatch policy) every aircraft is held to its crew."""
    path = ROOT / "scenarios" / "small-airlift.yaml"
    for hold in (False, True):
        folder = tmp_path / f"plan-{hold}"
        p = solve_plan(load(path), check_binding=0, hold_crews=hold)
        write_plan(p, folder, scenario_path=path)
        md = prepare(load(path), folder, path)
        assert (md.tail_most > np.floor(md.net.fleet_sorties_day[md.ac_fleet])).any() != hold
        replay_matches(md, folder)
        md.rnd = build_model(load(path), uncertainty=STRESS).rnd
        rec = run_batch(md, np.random.SeedSequence(5).spawn(3), audit=True)
        check_invariants(md, rec, random=True, stays_kept=False)
    md = build_model(load(path), uncertainty=STRESS)
    rec = run_batch(md, np.random.SeedSequence(6).spawn(3), audit=True)
    # (under stress the policy overstays at a base here with or without per-aircraft crews:
    # only counted, as where a plan is late)
    check_invariants(md, rec, random=True, stays_kept=False)


# ---- runway: movements and slot rates that change --------------------------------------------
def _two_aircraft() -> dict:
    d = shuttle_dict()
    d["fleets"][0]["count"] = 2
    d["cohorts"][0]["size"] = 600
    d["sites"][1]["airfield"]["mog"] = 2
    return d


def test_runway_movements_count_arrivals_and_departures_together():
    d = _two_aircraft()
    assert _out(d) == {1: 200, 5: 200, 9: 200}  # both leave together
    d["sites"][1]["airfield"]["movements_per_h"] = 1
    md, rec = _audit(d)
    e = md.net.sites.index("EVAC")
    both = rec["dep_count"][0, :, e] + rec["arr_count"][0, :, e]
    assert both.max() == 1  # one movement an hour, arrivals and departures together
    # by hand: one leaves at 1, the other at 2; each lands back 3 h after it left, so the
    # runway alternates: departures at 1, 2, 5, 7, 9, 11; arrivals at 4, 6, 8, 10
    assert list(np.flatnonzero(rec["dep_count"][0, :, e])) == [1, 2, 5, 7, 9, 11]
    assert list(np.flatnonzero(rec["arr_count"][0, :, e])) == [4, 6, 8, 10]


def test_slot_rate_that_changes_over_time():
    d = _two_aircraft()
    d["sites"][1]["airfield"]["departure_slots_per_h"] = 2
    d["sites"][1]["airfield"]["slot_changes"] = [
        {"from": "+0h", "to": "+6h", "departure_slots_per_h": 0.5}
    ]
    md, rec = _audit(d)
    deps = rec["dep_count"][0, :, md.net.sites.index("EVAC")]
    # one in any 2 hours until +6h (so not both at 1), two an hour after
    assert (deps[:6][1:] + deps[:6][:-1]).max() == 1
    assert list(np.flatnonzero(deps)) == [1, 3, 5, 7, 9, 11]


# ---- stays ------------------------------------------------------------------------------------
def _stay_dict(stay_h: float | None) -> dict:
    """The shuttle over 24 h; STAGE sends on 20 people an hour (1 h to HOME)."""
    d = shuttle_dict()
    d["time"]["horizon_h"] = 24
    d["legs"][2].update(travel_time_h=1, capacity_per_h=20)
    if stay_h is not None:
        d["sites"][2]["max_stay_h"] = stay_h
    return d


def test_stay_limit_cuts_loads_to_what_can_go_on_in_time():
    """A stay of 3 h at STAGE (the landing hour and two more) and 20 an hour onward: each flight
    carries only the 60 who can leave before their stay ends; without the limit, full loads."""
    assert set(_out(_stay_dict(None)).values()) == {100}
    md, rec = _audit(_stay_dict(3))
    loads = rec["out"][0].sum(axis=0)
    assert set(np.round(loads[loads > 0])) == {60}
    assert rec["overstay"].sum() == 0
    check_invariants(md, rec, random=False)


def test_overstay_is_counted_where_onward_aircraft_do_not_come():
    """People go on from STAGE by air only, on one aircraft whose crew flies two sorties a day:
    the admission counts STAGE's out-processing (which aircraft will come is not known), the
    aircraft does not keep up, the stay is not kept, and the simulator says so (person-periods
    over the stay) instead of hiding it."""
    d = shuttle_dict()
    d["sites"][2]["max_stay_h"] = 2
    d["sites"][2]["processing_rate_per_h"] = 100
    d["sites"].insert(3, {"name": "HUB", "kind": "airport", "unlimited": True, "reason": "t"})
    d["sites"][3]["airfield"] = {"ground_time_h": {"default": 1}}
    d["legs"][2] = {
        "name": "stage-hub",
        "kind": "air",
        "origin": "STAGE",
        "destination": "HUB",
        "block_time_h": 2,
    }
    d["legs"].append(
        {"name": "hub-home", "kind": "ground", "origin": "HUB", "destination": "HOME"}
        | {"travel_time_h": 1}
    )
    d["fleets"].append(
        {"name": "onward", "type": "T", "count": 1, "home": "HUB", "legs": ["stage-hub"]}
        | {"max_sorties_per_day": 2}
    )
    md, rec = _audit(d)
    s = md.net.sites.index("STAGE")
    assert rec["overstay"][0, s] > 0
    check_invariants(md, rec, random=False, stays_kept=False)  # counted right, not kept


# ---- the ramp ---------------------------------------------------------------------------------
def _ramp_dict() -> dict:
    """EVAC parks one aircraft. Fleet f, based there, flies only to STAGE, which takes nobody:
    it can never be loaded. Fleet g, based at STAGE2 (room for all), must use that ramp."""
    d = full_base_dict(aircraft=1)
    evac = d["sites"][1]
    evac.pop("unlimited"), evac.pop("reason")
    evac.update(holding_capacity=1000)
    evac["airfield"]["mog"] = 1
    d["sites"][2]["holding_capacity"] = 0
    d["sites"].insert(
        3,
        {"name": "STAGE2", "kind": "staging", "unlimited": True, "reason": "a test"}
        | {"airfield": {"ground_time_h": {"default": 1}}},
    )
    d["legs"] += [
        {"name": "evac-stage2", "kind": "air", "origin": "EVAC", "destination": "STAGE2"}
        | {"block_time_h": 1},
        {"name": "stage2-home", "kind": "ground", "origin": "STAGE2", "destination": "HOME"}
        | {"travel_time_h": 1},
    ]
    d["fleets"] = [
        {"name": "f", "type": "T", "count": 1, "home": "EVAC", "legs": ["evac-stage"]},
        {"name": "g", "type": "T", "count": 1, "home": "STAGE2", "legs": ["evac-stage2"]},
    ]
    return d


def test_an_aircraft_that_cannot_be_loaded_frees_the_ramp():
    res = simulate(scenario_from(_ramp_dict()), runs=1, random=False, workers=1)
    rec = res.rec
    assert round(res.evacuated()[0]) == 300  # g carries everyone, 100 at a time
    assert rec["ramp_freed"][0] == 1  # f left once (empty, to STAGE) and was not sent back
    assert rec["sorties_out"][0].tolist() == [1, 3] and rec["sorties_back"][0].tolist() == [0, 3]
    # f was held (no base with room) in one period only, and left in it; g never held in the air
    assert rec["air_hold_periods"][0] == 0 and rec["held_aircraft_periods"].sum() == 1


# ---- screening, eligibility, decisions ---------------------------------------------------------
def _gate_dict() -> dict:
    """Two cohorts of 300 at CAMP, one gate screening 50 an hour, the shuttle behind it."""
    d = shuttle_dict()
    d["time"]["horizon_h"] = 24
    d["sites"].insert(1, {"name": "GATE", "kind": "gate", "processing_rate_per_h": 50})
    d["sites"][1] |= {"crowd_area_m2": 500}
    d["legs"][0] = {"name": "camp-gate", "kind": "ground", "origin": "CAMP"} | {
        "destination": "GATE",
        "travel_time_h": 1,
    }
    d["legs"].append(
        {"name": "gate-evac", "kind": "ground", "origin": "GATE", "destination": "EVAC"}
        | {"travel_time_h": 0}
    )
    d["cohorts"] = [
        {"name": "a", "size": 300, "origin": "CAMP"},
        {"name": "b", "size": 300, "origin": "CAMP"},
    ]
    return d


def test_eligibility_that_changes_on_a_date():
    """From +4h GATE accepts only cohort a: b's people before it go back to CAMP (counted), none
    of b is screened or called after, and everyone is accounted for."""
    d = _gate_dict()
    d["cohorts"][1]["priority"] = 2  # b is called first
    # two aircraft: the airport admits two loads of them, shared by a and b (200 each), so more
    # of b are called than the gate screens by +4h and a crowd of b stands before it then
    d["fleets"][0]["count"] = 2
    d["events"] = [{"kind": "eligibility", "site": "GATE", "at": "+4h", "cohorts": ["a"]}]
    md, rec = _audit(d)
    g, camp = md.net.sites.index("GATE"), md.net.sites.index("CAMP")
    b = md.net.cohorts.index("b")
    screened = rec["flows"][0][:, md.net.arc_from == g, :].sum(axis=1)  # (T, C)
    assert screened[:4, b].sum() > 0 and screened[4:, b].sum() == 0
    assert rec["gate_people"][0, 4:, 0, b].max() == 0
    assert rec["gave_up"][0] > 0  # b's crowd went back to CAMP at +4h
    assert rec["hold"][0, -1, camp] > 0
    check_invariants(md, rec, random=False)


def test_screening_turns_people_away_and_some_come_back():
    """Half of those screened are turned away; half of those queue again 2 h later, the rest
    give up for good: turned away = let through, gave up = half of those turned away."""
    off = Uncertainty.off()
    u = off.model_copy(update={"refusal_share": 0.5, "requeue_share": 0.5, "requeue_delay_h": 2})
    md, rec = _audit(_gate_dict(), random=True, u=u)
    g = md.net.sites.index("GATE")
    through = rec["flows"][0][:, md.net.arc_from == g, :].sum()
    assert rec["refused"][0] == pytest.approx(through)
    assert rec["quit"][0].sum() == pytest.approx(through / 2)
    back = rec["requeue_in"][0].sum(axis=(1, 2))  # (T,) queueing again, 2 periods after
    screened_t = rec["flows"][0][:, md.net.arc_from == g, :].sum(axis=(1, 2)) * 2
    assert np.allclose(back[2:], screened_t[:-2] * 0.25)
    check_invariants(md, rec, random=True)


def test_decisions_make_a_site_and_a_fleet_exist_from_their_time():
    d = shuttle_dict()
    d["events"] = [{"kind": "decision", "site": "STAGE", "at": "+3h", "note": "agreed"}]
    # the plan and the policy both wait for STAGE: the first flight lands at 3
    p = solve_plan(scenario_from(d), check_binding=0)
    assert min(t for t, v in enumerate(p.out_by_period.sum(axis=0)) if v > 1e-6) == 2
    assert min(_out(d)) == 2
    d["events"] = [{"kind": "decision", "fleet": "one", "at": "+5h", "note": "activated"}]
    p = solve_plan(scenario_from(d), check_binding=0)
    assert min(t for t, v in enumerate(p.out_by_period.sum(axis=0)) if v > 1e-6) == 5
    # the policy admits people airside for the aircraft available (two loads each): from 5 on,
    # so they board at 6
    assert min(_out(d)) == 6


@pytest.mark.parametrize(
    ("event", "words"),
    [
        ({"kind": "eligibility", "site": "EVAC", "at": "+1h", "cohorts": ["all"]}, "for a gate"),
        ({"kind": "eligibility", "site": "GATE", "at": "+1h", "cohorts": ["x"]}, "unknown cohort"),
        ({"kind": "eligibility", "site": "GATE", "at": "+1h"}, "needs site, at, cohorts"),
        ({"kind": "decision", "at": "+1h"}, "needs site (a site agreed) or fleet"),
        ({"kind": "decision", "site": "STAGE", "fleet": "one", "at": "+1h"}, "not both"),
        ({"kind": "decision", "site": "EVAC", "at": "+1h"}, "other than the evacuation airport"),
    ],
)
def test_new_events_are_checked_in_one_line(event, words):
    d = _gate_dict()
    d["cohorts"] = [{"name": "all", "size": 300, "origin": "CAMP"}]
    d["events"] = [event]
    with pytest.raises(ScenarioError) as exc:
        scenario_from(d)
    assert any(p.startswith("test.yaml:") and "events[0]" in p for p in exc.value.problems)
    assert any(words in p for p in exc.value.problems), exc.value.problems
    assert all("\n" not in p for p in exc.value.problems)


def test_refusal_shares_are_checked_in_one_line():
    d = shuttle_dict()
    d["uncertainty"] = {"refusal_share": 1.5, "requeue_delay_h": -2}
    with pytest.raises(ScenarioError) as exc:
        scenario_from(d)
    assert any("uncertainty.refusal_share: must be <= 1" in p for p in exc.value.problems)
    assert any("uncertainty.requeue_delay_h: must be >= 0" in p for p in exc.value.problems)


# ---- property tests on random scenarios -------------------------------------------------------
@st.composite
def operations(draw, eligibility: bool = True) -> dict:
    """A random scenario of tests/test_plan_properties.py with what an operation adds: a
    second gate, an eligibility change, a decision that makes a staging base or a fleet exist
    from a time, screening that turns people away, tight stays."""
    d = copy.deepcopy(draw(scenarios()))
    if draw(st.booleans()):
        d["sites"].insert(2, {"name": "GATE2", "kind": "gate", "processing_rate_per_h": 60})
        d["sites"][2] |= {"crowd_area_m2": 100}
        d["legs"] += [
            {"name": "camp-gate2", "kind": "ground", "origin": "CAMP", "destination": "GATE2"}
            | {"travel_time_h": draw(st.integers(0, 1))},
            {"name": "gate2-evac", "kind": "ground", "origin": "GATE2", "destination": "EVAC"}
            | {"travel_time_h": 0},
        ]
    events = d.setdefault("events", [])
    names = [c["name"] for c in d["cohorts"]]
    if eligibility and draw(st.booleans()):
        events.append(
            {"kind": "eligibility", "site": "GATE", "at": f"+{draw(st.integers(0, 8))}h"}
            | {"cohorts": draw(st.lists(st.sampled_from(names), unique=True))}
        )
    what = draw(st.sampled_from(["none", "site", "fleet"]))
    if what != "none":
        who = {"site": "STAGE0"} if what == "site" else {"fleet": d["fleets"][0]["name"]}
        events.append({"kind": "decision", "at": f"+{draw(st.integers(0, 6))}h"} | who)
    for s in d["sites"]:
        if s["kind"] == "staging" and draw(st.booleans()):
            s["max_stay_h"] = draw(st.integers(1, 3))
    for leg in d["legs"]:
        if leg["name"].endswith("-home") and draw(st.booleans()):
            leg["capacity_per_h"] = draw(st.integers(10, 40))
    return d


def _uncertainty(draw_refusal: float, requeue: float, stress: bool) -> Uncertainty:
    base = STRESS if stress else Uncertainty()
    return base.model_copy(
        update={"refusal_share": draw_refusal, "requeue_share": requeue, "requeue_delay_h": 2}
    )


def check_dispatch_room(md: SimModel, rec: dict[str, np.ndarray]) -> None:
    """No aircraft is sent empty to an airfield where its fleet is loaded unless a base its
    fleet flies to from there had room for half a load at the end of the period before it left
    (the policy asks more: room after everyone there, on the way and landing)."""
    net = md.net
    hold = rec["hold"]  # (R, T, S)
    for m in np.flatnonzero(~net.move_forward):
        f, x = net.move_fleet[m], net.move_to[m]
        outs = np.flatnonzero(net.move_forward & (net.move_fleet == f) & (net.move_from == x))
        r, t = np.nonzero(rec["sorties"][:, :, m] > 0)
        if outs.size == 0 or r.size == 0:
            continue
        prev = np.where((t > 0)[:, None], hold[r, np.maximum(t - 1, 0)], 0.0)  # (n, S)
        room = np.zeros(r.size, dtype=bool)
        for m2 in outs:
            cap = md.hold_cap[net.move_to[m2], t]
            room |= ~np.isfinite(cap) | (cap - prev[:, net.move_to[m2]] >= net.fleet_load[f] / 2)
        assert room.all(), net.move_names[m]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    d=operations(),
    seed=st.integers(0, 2**31),
    refusal=st.sampled_from([0.0, 0.3]),
    requeue=st.sampled_from([0.0, 0.5, 1.0]),
    stress=st.booleans(),
)
def test_operations_keep_every_limit_on_random_scenarios(d, seed, refusal, requeue, stress):
    """Under the dispatch policy with randomness: nobody created or lost (those who give up
    counted), nobody left before a closed gate, no crew, maintenance, runway, stay, dwell,
    processing, holding or MOG limit exceeded in any period, no aircraft sent to be loaded
    without a base with room; the same seed gives the same runs."""
    sc = scenario_from(d)
    md = build_model(sc, uncertainty=_uncertainty(refusal, requeue, stress))
    seeds = np.random.SeedSequence(seed).spawn(3)
    rec = run_batch(md, seeds, audit=True)
    check_invariants(md, rec, random=True)
    check_dispatch_room(md, rec)
    again = run_batch(md, seeds, audit=True)
    for k in rec:
        assert np.array_equal(rec[k], again[k]), k


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(d=operations(eligibility=False), seed=st.integers(0, 2**31))
def test_replay_with_decisions_and_stays_is_the_plan(tmp_path_factory, d, seed):
    """A plan of a random operation (decisions the planner sees; eligibility it does not) is
    replayed without randomness period by period; with randomness every limit holds."""
    path = tmp_path_factory.mktemp("op") / "op.yaml"
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    write_plan(solve_plan(load(path), check_binding=0), path.parent / "plan", scenario_path=path)
    md = prepare(load(path), path.parent / "plan", path)
    replay_matches(md, path.parent / "plan", tol=1e-5)
    md.rnd = build_model(load(path), uncertainty=STRESS).rnd
    rec = run_batch(md, np.random.SeedSequence(seed).spawn(2), audit=True)
    check_invariants(md, rec, random=True, stays_kept=False)  # a late plan may overstay: counted
