"""Crews held aircraft by aircraft (evacops/plan/tails.py): the model counts a fleet's crew
limit as a rate for the fleet, so its whole sorties may ask more of one aircraft than its crew
may fly; the plan drops those sorties and re-flows its people. Checked here against the
schedule itself, independently of the rule: no aircraft of a limited fleet departs more than
its fleet's rate in any 24 hours, every aircraft can fly its legs (where it is, once ready,
within the limit on the ground), the plan keeps every other limit, only sorties of the plan
held to its fleets' rates are dropped, and a re-plan never drops a sortie flown before its
moment."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from evacops.errors import InfeasibleError
from evacops.plan import solve_plan, tails
from evacops.plan.crew_use import crew_sentence, crew_use
from evacops.plan.polish import polish
from evacops.plan.replan import replan, replan_people, state_from_plan
from evacops.plan.tails import (
    assign_tails,
    held_crews,
    hold_crews,
    on_ground,
    parking_over,
    take_aircraft,
)
from evacops.scenario import load
from tests.helpers import ROOT, evacops, scenario_from
from tests.test_crew_use import most_per_aircraft
from tests.test_plan_properties import check_invariants, check_limits, scenarios
from tests.test_plan_tails import problems

SMALL = ROOT / "scenarios" / "small-airlift.yaml"


def over_rate(p) -> dict[str, int]:
    """Aircraft of limited fleets that depart more than their fleet's rate in some 24 hours
    (any ``round(24 / period_h)`` consecutive periods), from the schedule: their most."""
    net = p.network
    rate = dict(zip(net.fleets, net.fleet_sorties_day, strict=True))
    W = round(24 / net.period_h)
    per = most_per_aircraft(p.schedule(), W)
    return {a: n for a, (f, n) in per.items() if n > np.floor(rate[f] + 1e-9)}


def out_by_deadline(p) -> float:
    net = p.network
    return float(p.final.flow[:, net.out_arcs, : net.deadline_period].sum())


def check_held(held, loose, limits: bool = True, cut: bool = False) -> None:
    """``held``: a plan with every aircraft held to its crew; ``loose``: the same scenario's
    plan held to its fleets' rates only; ``limits``: check the people and every limit of the
    model hour by hour (:func:`check_invariants` and :func:`check_limits` count per period
    against rates per hour: 1-hour periods only)."""
    found = problems(held)
    if cut:  # (a known defect of the rule, not of holding: after a cut it may fly an aircraft
        # numbered beyond the count, the model holding another one at home; the plan on the
        # fleets' rates alone does the same)
        found = [x for x in found if not x.endswith("not yet available")]
    assert found == []
    if limits:
        check_invariants(held)
        check_limits(held)
    note = held.crews_held
    if not np.isfinite(held.network.fleet_sorties_day).any():
        assert note is None and held.sortie_counts.tolist() == loose.sortie_counts.tolist()
        return
    if not note["kept"]:  # the sorties left broke another limit: the loose schedule stands
        assert note["reason"] and np.array_equal(held.sortie_counts, loose.sortie_counts)
        return
    if note["sorties_over_crew"] == 0:
        assert over_rate(held) == {}
    assert (held.sortie_counts <= loose.sortie_counts).all()  # sorties only dropped
    dropped = int((loose.sortie_counts - held.sortie_counts).sum())
    assert note["sorties_dropped"] == dropped
    assert note["out_by_deadline_lost"] == round(out_by_deadline(loose) - out_by_deadline(held))
    if dropped == 0:
        assert np.array_equal(held.final.flow, loose.final.flow)
    crews = crew_use(held)
    assert crews["held"] == note
    if note["sorties_over_crew"] == 0:
        assert crews["aircraft_over"] == []


@st.composite
def busy(draw) -> dict:
    """A random scenario (tests/test_plan_properties.py) made busy enough for crews to bind:
    more than 24 hours, a crew rate on every fleet, thousands to carry, and sometimes a limit
    on the ground at the evacuation airport (so sorties to it need crew for the way out; not
    where a fleet is based there, which validation refuses)."""
    d = draw(scenarios())
    d["time"]["horizon_h"] = draw(st.integers(36, 60))
    for f in d["fleets"]:
        f["max_sorties_per_day"] = draw(st.integers(2, 3))
    for c in d["cohorts"]:
        c["size"] = draw(st.integers(800, 3000))
    evac = next(s for s in d["sites"] if s["name"] == "EVAC")["airfield"]
    if all(f["home"] != "EVAC" for f in d["fleets"]) and draw(st.booleans()):
        evac["max_ground_h"] = evac["ground_time_h"]["default"] + draw(st.sampled_from([1, 2]))
    return d


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(busy())
def test_no_aircraft_of_a_random_plan_flies_beyond_its_crew(d):
    sc = scenario_from(d)
    held = solve_plan(sc, check_binding=-1)
    check_held(held, solve_plan(sc, check_binding=-1, hold_crews=False))
    event(f"sorties dropped: {'some' if held.crews_held['sorties_dropped'] else 'none'}")


def test_small_airlift_drops_the_sorties_its_crews_cannot_fly():
    sc = load(SMALL)
    loose = solve_plan(sc, period="1h", check_binding=-1, hold_crews=False)
    assert over_rate(loose), "held to its fleets' rates only, some aircraft fly beyond theirs"
    held = solve_plan(sc, period="1h", check_binding=-1)
    check_held(held, loose)
    note = held.crews_held
    assert note["kept"] and note["sorties_dropped"] > 0
    assert held.final.objective >= loose.final.objective - 1e-6  # never better: fewer sorties
    text = crew_sentence(crew_use(held))
    assert text.startswith("Crews: no aircraft flies more sorties in any 24 hours")
    assert f"{note['sorties_dropped']} sorties of the whole-sortie schedule dropped" in text


def test_the_rule_on_what_is_left_drops_nothing_more():
    """The rounds end where the rule's own assignment of the sorties left drops nothing, so
    the schedule printed (the same rule, nothing dropped) is the one that was checked."""
    sc = load(SMALL)
    loose = solve_plan(sc, period="1h", check_binding=-1, hold_crews=False)
    net, y0 = loose.network, loose.sortie_counts
    y, over = hold_crews(net, y0)
    assert over == frozenset()
    last = assign_tails(net, y, hold=True)
    assert not last.dropped.any()
    assert (y <= y0).all() and (y < y0).any()
    picks = assign_tails(net, y).picks
    assert picks == last.picks  # the schedule printed is the last round's, aircraft by aircraft
    assert {k: len(v) for k, v in picks.items()} == {
        (int(m), int(t)): int(y[m, t]) for m, t in zip(*np.nonzero(y), strict=True)
    }


def test_an_aircraft_is_not_held_where_parking_is_full(monkeypatch):
    """Small-airlift's plan on its fleets' rates, with its parking cut (the ``Airfield-mog``
    right-hand sides) to what the plan itself parks where and while the hold would keep its
    first aircraft: the plan still fits, that drop is not made (its aircraft flies beyond its
    crew, and the count says so), and the sorties left fit the parking everywhere. (On
    small-airlift's own parking the polishing windows once hit this: tests/test_polish.py.)"""
    loose = solve_plan(load(SMALL), period="1h", check_binding=-1, hold_crews=False)
    net, y0 = loose.network, loose.sortie_counts
    _fleet, site, start, until, why = assign_tails(net, y0, hold=True).stays[0]
    rhs = np.full((len(net.sites), net.T), np.inf)
    rhs[site, start:until] = on_ground(net, y0)[site, start:until]
    monkeypatch.setattr(tails, "mog_rhs", lambda _net: rhs)
    assert not parking_over(net, y0).any()
    y, over = hold_crews(net, y0)
    assert why in over and not parking_over(net, y).any()
    assert y[why] == y0[why]  # the sortie whose drop would have parked it is flown


@pytest.mark.parametrize(("at", "count"), [(16, 1), (26, 2)])
def test_a_fleet_cut_by_an_event_is_held_too_and_polished_held(at, count):
    """small-airlift with airlift-a cut to fewer aircraft during the operation: the cut
    aircraft must wait at home (``Station-availability``), so no held aircraft may be away
    then; a review found the whole hold lost there (the sorties left did not fit, and the plan
    fell back to its fleets' rates), and polishing keep a window that fell back so."""
    d = yaml.safe_load(SMALL.read_text())
    cut = {"kind": "fleet", "fleet": "airlift-a", "at": f"+{at}h", "count": count}
    d["events"] = [*(d.get("events") or []), cut]
    sc = scenario_from(d)
    held = solve_plan(sc, period="1h", check_binding=-1)
    assert held.crews_held["kept"] and held.crews_held["sorties_dropped"] > 0
    check_held(held, solve_plan(sc, period="1h", check_binding=-1, hold_crews=False), cut=True)
    if at == 16:
        q = polish(held, 1)
        assert over_rate(q) == {} and q.crews_held["before_polish"]
        assert q.final.objective <= held.final.objective + 1e-6 * abs(held.final.objective)


@pytest.mark.parametrize("window", [None, 6.0, 24.0])
def test_a_held_replan_is_never_worse_than_going_on_with_the_plan(window):
    """Re-planned from a held plan's own state, the re-plan (whole, or of the aircraft in a
    window) is never worse than the people re-planned on the plan's own sorties: holding can
    cost the repair's schedule more than the plan's, and then the plan's are kept (on Kabul at
    +192h a 24-hour window's held repair got 120,301 people out where the plan's own got
    121,743)."""
    p = solve_plan(load(SMALL), period="1h", check_binding=-1)
    y = p.sortie_counts.astype(float)
    for at in (8, 20, 30):
        state = state_from_plan(p, at)
        kept = replan_people(p.network, state, y)
        r = replan(p.network, state, plan_sorties=y, window_h=window)
        tol = 1e-6 * max(1.0, abs(p.final.objective))
        assert r.plan.final.objective <= kept.plan.final.objective + tol, (at, window)
        assert over_rate(r.plan) == {}


def test_a_replan_never_drops_a_sortie_flown_before_its_moment():
    """The plan held to its fleets' rates only has aircraft beyond their crews; re-planned
    from its own state at +30h, the sorties before the moment stand as flown, and an aircraft
    is beyond its crew only in 24 hours that hold a sortie flown before the moment."""
    sc = load(SMALL)
    loose = solve_plan(sc, period="1h", check_binding=-1, hold_crews=False)
    at = 30
    r = replan(loose.network, state_from_plan(loose, at))
    p = r.plan
    assert np.array_equal(p.sortie_counts[:, :at], loose.sortie_counts[:, :at])
    assert p.crews_held is not None and p.crews_held["kept"]
    net = p.network
    rate = dict(zip(net.fleets, net.fleet_sorties_day, strict=True))
    W = round(24 / net.period_h)
    for (fleet, _name), g in p.schedule().groupby(["fleet", "aircraft"]):
        deps = sorted(g["dep_period"])
        for d in deps:
            window = [x for x in deps if d <= x < d + W]
            if len(window) > rate[fleet]:
                assert window[0] < at, (fleet, window)


def test_when_the_sorties_left_break_another_limit_the_plan_says_so():
    loose = solve_plan(load(SMALL), period="1h", check_binding=-1, hold_crews=False)

    def refuse(_y):
        raise InfeasibleError("infeasible")

    final, note = held_crews(loose.network, loose.final, 0, refuse)
    assert final is loose.final
    assert note["kept"] is False and note["reason"] == "infeasible"
    assert note["sorties_dropped"] == 0

    def reflowed(y):  # the people re-flowed: a solution of its own, timed on its own
        return dataclasses.replace(loose.final, sorties=y, solve_s=1.0, build_s=0.0)

    final, note = held_crews(
        loose.network, dataclasses.replace(loose.final, solve_s=5.0, mip_gap=0.01), 0, reflowed
    )
    assert note["kept"] and note["sorties_dropped"] > 0
    # the plan's whole-sortie step is the repair's and the re-flow's time together; a MIP's gap
    # (of its own schedule) stays
    assert final.solve_s == 6.0 and final.build_s == loose.final.build_s
    assert final.mip_gap == 0.01


def test_an_aircraft_whose_crew_may_fly_goes_first():
    queue = [(0, 0), (0, 1), (0, 2)]
    flown = {0: [20], 1: [10, 21], 2: []}
    # aircraft 2 has flown least but its crew may not (say, its way back out of Kabul)
    assert take_aircraft(queue, 1, 22, 3, flown, 24, over={2: True, 0: False}) == [0]
    # availability still comes first: an aircraft not yet available never flies
    queue = [(0, 0), (0, 5)]
    assert take_aircraft(queue, 1, 22, 3, {}, 24, over={0: True}) == [0]


def test_the_plan_command_says_what_holding_crews_cost(tmp_path):
    r = evacops("plan", SMALL, "--period", "1h", "--check", "0", "--out", tmp_path, "--json")
    assert r.returncode == 0, r.stderr
    crews = json.loads(r.stdout)["crews"]
    assert crews["aircraft_over"] == [] and crews["held"]["sorties_dropped"] > 0
    assert json.loads((tmp_path / "summary.json").read_text())["crews"] == crews
    loose = evacops("plan", SMALL, "--period", "1h", "--check", "0", "--fleet-crews", "--json")
    assert loose.returncode == 0, loose.stderr
    crews = json.loads(loose.stdout)["crews"]
    assert crews["aircraft_over"] and crews["held"] is None
    shown = evacops("plan", SMALL, "--period", "1h", "--check", "0", "--fleet-crews")
    assert "not each aircraft" in " ".join(shown.stdout.split())


def test_small_airlift_at_three_hours_is_held_too():
    period = "3h"
    sc = load(SMALL)
    check_held(
        solve_plan(sc, period=period, check_binding=-1),
        solve_plan(sc, period=period, check_binding=-1, hold_crews=False),
        limits=False,
    )
