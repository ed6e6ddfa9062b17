"""Re-planning from a state (:mod:`evacops.plan.replan`).

- From a plan's own state at a moment, the re-plan's LP has the rest of that plan as an optimum:
  its objective plus what the plan's flows before the moment contributed equals the plan's
  (random scenarios without the three things a state does not carry over);
- from a plan's whole-sortie state, the re-plan is never worse than going on with the plan, its
  sorties before the moment are the plan's, and nobody is created or lost;
- registry counts replace the people waiting; unknown cohorts, sites and moments are refused.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evacops.errors import UserError
from evacops.network import compile_network
from evacops.plan import solve_plan
from evacops.plan.objective import flow_coefficients
from evacops.plan.replan import (
    plan_state,
    replan,
    replan_people,
    state_from_plan,
    state_network,
    what_if,
    with_counts,
)
from evacops.plan.solve import lp_run, on_schedule, plan_run
from tests.helpers import scenario_from, shuttle_dict
from tests.test_plan_properties import scenarios


def _carried(d: dict) -> dict:
    """``d`` without what a state does not carry over: processing pools at staging bases, stay
    limits and a minimum dwell at the evacuation airport."""
    for site in d["sites"]:
        if site["kind"] == "staging":
            site["processing_rate_per_h"] = None
            site["max_stay_h"] = None
        site.pop("min_dwell_h", None)
    return d


def _planned(d: dict, when: float):
    """The plan of scenario ``d`` and a moment inside its horizon, ``when`` of the way in."""
    p = solve_plan(scenario_from(d), check_binding=0)
    T = p.network.T
    return p, min(T - 1, max(1, int(when * T)))


def _past(net, flow: np.ndarray, hold: np.ndarray, at: int) -> float:
    """What flows and people waiting before period ``at`` contribute to the plan objective
    (recomputed from the objective's definition: the sortie term is counted in both)."""
    coef = flow_coefficients(net)
    total = float((coef[:, :, :at] * flow[:, :, :at]).sum())
    gate = net.site_kind == "gate"
    ob = net.scenario.objective
    return total + ob.gate_wait * net.period_h * float(hold[:, gate, :at].sum())


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.floats(0.1, 0.9))
def test_a_replan_from_the_plans_own_state_has_the_plans_objective(d, when):
    p, at = _planned(_carried(d), when)
    net, lp = p.network, p.lp
    state = plan_state(net, lp.flow, lp.hold, lp.sorties, at)
    mask = np.zeros(lp.sorties.shape, dtype=bool)
    mask[:, :at] = True
    run = lp_run(state_network(net, state), fixed=(mask, state.sorties))
    rest = run.objective() + _past(net, lp.flow, lp.hold, at)
    assert rest == pytest.approx(lp.objective, rel=1e-7, abs=1e-5)


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.floats(0.1, 0.9))
def test_a_replan_is_never_worse_than_going_on_with_the_plan(d, when):
    p, at = _planned(_carried(d), when)
    net, fin = p.network, p.final
    r = replan(net, state_from_plan(p, at), plan_sorties=p.sortie_counts.astype(float))
    past = _past(net, fin.flow, fin.hold, at)
    tol = 1e-6 * max(1.0, abs(fin.objective))
    assert r.plan.lp.objective + past <= fin.objective + tol
    # on whole sorties too: the plan's own sorties are a candidate the re-plan keeps if better
    assert r.plan.final.objective + past <= fin.objective + tol
    assert r.plan.repair is None or "plan_sorties" in r.plan.repair
    # the sorties before the moment are the plan's, whole
    assert np.array_equal(r.plan.sortie_counts[:, :at], p.sortie_counts[:, :at])
    # nobody created or lost: everyone is somewhere at the moment (waiting at a site, the
    # destinations too, or on a leg), except people on a leg that ends after the horizon
    rnet = r.plan.network
    assert rnet.appear[:, :, :at].sum() == 0
    beyond = sum(
        fin.flow[:, a, t].sum()
        for a in range(len(net.arc_from))
        for t in range(at)
        if t + net.arc_delay[a] >= net.T
    )
    assert rnet.appear.sum() + beyond == pytest.approx(net.appear.sum(), abs=1e-6)


def test_the_shuttle_replanned_midway_keeps_its_first_sortie_and_its_people():
    p = solve_plan(scenario_from(shuttle_dict()), check_binding=0)
    r = replan(p.network, state_from_plan(p, 5))  # after the second sortie has left (hour 4)
    s = r.summary()
    assert s["replan"]["out_before"] == 200
    assert s["out_by_deadline_total"] == 300
    assert r.plan.sortie_counts[:, :5].sum() == p.sortie_counts[:, :5].sum()


def test_a_replans_schedule_marks_the_sorties_flown_before_it_without_loads():
    """Sorties before the moment are the plan's, flown: the re-plan does not know their loads
    (its people start at the moment), so they are marked and empty, not 0 people; from the
    moment on every outbound sortie's load is the re-plan's people on it."""
    p = solve_plan(scenario_from(shuttle_dict()), check_binding=0)
    at = 5
    r = replan(p.network, state_from_plan(p, at))
    sched = r.plan.schedule()
    flown = sched[sched["flown_before_replan"]]
    assert (flown["dep_period"] < at).all() and len(flown) == int(p.sortie_counts[:, :at].sum())
    assert flown["load"].isna().all()
    rest = sched[~sched["flown_before_replan"]]
    assert (rest["dep_period"] >= at).all() and rest["load"].notna().all()
    air = r.plan.network.arc_move >= 0
    assert int(rest["load"].sum()) == round(float(r.plan.final.flow[:, air, at:].sum()))
    # a plan that is no re-plan has no flown sorties
    assert not p.schedule()["flown_before_replan"].any()


def test_registry_counts_replace_the_people_waiting():
    p = solve_plan(scenario_from(shuttle_dict()), check_binding=0)
    st_ = state_from_plan(p, 5)
    moved = with_counts(p.network, st_, {("all", "CAMP"): 40, ("all", "EVAC"): 60})
    assert moved.source == "registry"
    net = p.network
    assert moved.waiting[0, net.sites.index("CAMP")] == 40
    assert moved.waiting.sum() == 100
    r = replan(net, moved)
    assert r.summary()["replan"]["people_waiting"] == 100
    with pytest.raises(UserError, match="cohort 'nobody' is not in the scenario"):
        with_counts(net, st_, {("nobody", "CAMP"): 1})
    with pytest.raises(UserError, match="site 'MOON' is not in the scenario"):
        with_counts(net, st_, {("all", "MOON"): 1})
    with pytest.raises(UserError, match="within the plan's horizon"):
        state_from_plan(p, p.network.T)


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.floats(0.1, 0.9))
def test_a_replan_from_the_plans_state_always_has_a_plan(d, when):
    """With stays, pools and dwell kept: the people there at the moment may stay to the end
    (their time already spent is not known), so whole sorties always leave a plan (on Kabul a
    stay clock started at the moment left none)."""
    p, at = _planned(d, when)
    r = replan(p.network, state_from_plan(p, at))
    assert r.plan.final.status in ("optimal", "time limit reached")
    assert np.array_equal(r.plan.sortie_counts[:, :at], p.sortie_counts[:, :at])


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.floats(0.1, 0.9))
def test_people_replanned_on_the_plans_own_schedule_are_the_rest_of_the_plan(d, when):
    """Keeping the schedule (every sortie the plan's, whole), the people re-planned from the
    plan's own state are an optimum of the rest of that plan: the same objective, the same
    sorties, and no LP bound claimed (the aircraft were not re-planned)."""
    p, at = _planned(_carried(d), when)
    net, fin = p.network, p.final
    r = replan_people(net, state_from_plan(p, at), p.sortie_counts.astype(float))
    past = _past(net, fin.flow, fin.hold, at)
    assert r.plan.final.objective + past == pytest.approx(fin.objective, rel=1e-6, abs=1e-4)
    assert np.array_equal(r.plan.sortie_counts, p.sortie_counts)
    s = r.summary()
    assert s["mode"] == "schedule-kept" and s["lp_bound"] is None and "repair" not in s
    assert s["out_by_deadline_total"] <= sum(c["size"] for c in d["cohorts"])


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_people_flows_on_whole_sorties_by_dual_simplex_equal_interior_point(d):
    """The re-flow on whole sorties (:func:`evacops.plan.solve.reflow`, the dual simplex from
    scratch) reaches the optimum interior point and crossover reach on the same schedule."""
    p = solve_plan(scenario_from(d), check_binding=-1)
    y = p.sortie_counts.astype(float)
    got = on_schedule(p.network, y)
    run = plan_run(p.network)
    run.fix_columns(run.model.aircraft.sortie, y)
    run.run(solver="ipm", run_crossover="on")
    assert got.objective == pytest.approx(run.objective(), rel=1e-7, abs=1e-5)
    assert got.objective == pytest.approx(p.final.objective, rel=1e-7, abs=1e-5)


def test_a_schedule_a_what_if_rules_out_is_refused_naming_the_sortie():
    """Closing the staging base the shuttle flies to from hour 3: the plan's sortie at hour 4
    cannot be kept; the one-line error names it and the fix (re-plan the aircraft too)."""
    sc = scenario_from(shuttle_dict())
    p = solve_plan(sc, check_binding=0)
    moment = p.network.timeline.time_of(3)
    net = compile_network(what_if(sc, moment, close=["STAGE"]), "1h")
    f = p.final
    state = plan_state(net, f.flow, f.hold, p.sortie_counts.astype(float), 3)
    with pytest.raises(
        UserError,
        match=r"flies evac-stage@one at 2030-01-01 04:00 \(\+1 h from the moment\).*re-plan "
        r"the aircraft too",
    ):
        replan_people(net, state, p.sortie_counts.astype(float))
    # without the change the same schedule is kept, and gets everyone out as the plan does
    r = replan_people(p.network, state_from_plan(p, 3), p.sortie_counts.astype(float))
    assert r.summary()["out_by_deadline_total"] == 300


def test_a_schedule_with_more_aircraft_away_than_a_what_if_leaves_is_refused_naming_them():
    """The shuttle's one aircraft taken away from hour 4: at 04:00 the plan sends it out again,
    so its schedule cannot be kept (the line names the fleet, the time and the count), while a
    re-plan of the aircraft keeps it home. From hour 3 the aircraft is still away on a sortie
    flown before the moment: no plan keeps that, and the line says so."""
    sc = scenario_from(shuttle_dict())
    p = solve_plan(sc, check_binding=0)
    y, f = p.sortie_counts.astype(float), p.final

    def moved(at: int):
        net = compile_network(
            what_if(sc, p.network.timeline.time_of(at), aircraft={"one": 0}), "1h"
        )
        return net, plan_state(net, f.flow, f.hold, y, at)

    for at, says in (
        (4, r"schedule has 1 aircraft of one away from home at 2030-01-01 04:00 \(\+0 h from "
            r"the moment\), where this state leaves 0; re-plan the aircraft too"),
        (3, r"sorties flown before the moment leave 1 aircraft of one away from home at "
            r"2030-01-01 03:00.*no plan keeps that"),
    ):  # fmt: skip
        net, state = moved(at)
        with pytest.raises(UserError, match=says):
            replan_people(net, state, y)
    net, state = moved(4)
    assert replan(net, state).summary()["out_by_deadline_total"] == 100  # the one flown at 0
