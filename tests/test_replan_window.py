"""A re-plan of the aircraft in a window (:func:`evacops.plan.replan.replan` with ``window_h``):
the aircraft re-planned in the next hours only, the plan's sorties kept after them, the people
over the whole horizon.

- Its LP is the whole re-plan's LP with more sorties fixed, so its bound lies between the whole
  re-plan's bound and its own whole-sortie schedule, and that schedule is never worse than going
  on with the plan (the people re-planned on the plan's sorties);
- its sorties before the moment and from the window's end on are the plan's (none where a what-if
  closed a site); nobody is created or lost and no capacity is exceeded;
- a what-if the kept sorties after the window cannot fit is refused with the fix (a longer
  window, or none), and one window long enough is the whole re-plan.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evacops.errors import UserError
from evacops.network import compile_network
from evacops.plan import solve_plan
from evacops.plan.replan import (
    plan_state,
    replan,
    replan_people,
    state_from_plan,
    state_network,
    what_if,
    window_end,
)
from evacops.plan.solve import lp_run, on_schedule, reflow
from tests.helpers import scenario_from, shuttle_dict
from tests.test_plan_properties import check_invariants, scenarios
from tests.test_replan import _carried, _planned


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.floats(0.1, 0.8), st.floats(1.0, 48.0))
def test_a_window_replan_lies_between_the_whole_replan_and_going_on_with_the_plan(d, when, w):
    p, at = _planned(_carried(d), when)
    net = p.network
    y = p.sortie_counts.astype(float)
    state = state_from_plan(p, at)
    whole = replan(net, state, plan_sorties=y)
    kept = replan_people(net, state, y)
    r = replan(net, state, plan_sorties=y, window_h=w)
    tol = 1e-6 * max(1.0, abs(p.final.objective))
    # the window's LP is the whole re-plan's with more sorties fixed: no better
    assert whole.plan.lp.objective <= r.plan.lp.objective + tol
    # its bound holds for its whole sorties, which are never worse than the plan's sorties
    assert r.plan.lp.objective <= r.plan.final.objective + tol
    assert r.plan.final.objective <= kept.plan.final.objective + tol
    end = window_end(net, at, w)
    assert r.plan.window_end == end and at < end <= net.T
    k = r.plan.sortie_counts
    assert np.array_equal(k[:, :at], p.sortie_counts[:, :at])
    # after the window the plan's sorties, less any that no aircraft's crew may fly once the
    # window's new sorties gave them other aircraft (evacops/plan/tails.py)
    assert (k[:, end:] <= p.sortie_counts[:, end:]).all()
    if not (r.plan.crews_held or {}).get("sorties_dropped"):
        assert np.array_equal(k[:, end:], p.sortie_counts[:, end:])
    check_invariants(r.plan)
    s = r.summary()
    assert s["window_until"] == net.timeline.time_of(end).isoformat()
    assert whole.summary()["window_until"] is None


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.floats(0.1, 0.8), st.floats(1.0, 24.0))
def test_people_reflowed_warm_from_the_windows_lp_equal_a_solve_from_scratch(d, when, w):
    """A window re-plan re-flows its people on whole sorties from the LP's basis (the sorties
    differ from the LP's in the window only): the same optimum as a model solved afresh."""
    p, at = _planned(d, when)
    net, y = p.network, p.sortie_counts.astype(float)
    state = state_from_plan(p, at)
    rnet = state_network(net, state)
    mask = np.ones(y.shape, dtype=bool)
    mask[:, at : window_end(net, at, w)] = False
    run = lp_run(rnet, fixed=(mask, y), simplex=True)
    reflow(run, y, warm=True)
    fresh = on_schedule(rnet, y).objective
    assert run.objective() == pytest.approx(fresh, rel=1e-7, abs=1e-5)


def test_a_closed_base_is_flown_around_in_the_window_and_dropped_after_it():
    """The shuttle's staging base closed from hour 3: the kept schedule is refused (it flies
    there at 04:00); a window re-plan keeps no sortie to it after the moment, and gets out
    whom the whole re-plan gets out."""
    sc = scenario_from(shuttle_dict())
    p = solve_plan(sc, check_binding=0)
    net = compile_network(what_if(sc, p.network.timeline.time_of(3), close=["STAGE"]), "1h")
    f, y = p.final, p.sortie_counts.astype(float)
    state = plan_state(net, f.flow, f.hold, y, 3)
    with pytest.raises(UserError, match="re-plan the aircraft too"):
        replan_people(net, state, y)
    r = replan(net, state, plan_sorties=y, window_h=2)
    closed = ~net.move_open
    assert r.plan.sortie_counts[closed].sum() == 0
    assert np.array_equal(r.plan.sortie_counts[:, :3], p.sortie_counts[:, :3])
    whole = replan(net, state, plan_sorties=y)
    assert r.summary()["out_by_deadline_total"] == whole.summary()["out_by_deadline_total"]


def test_sorties_kept_after_the_window_that_a_what_if_rules_out_are_refused_with_the_fix():
    """The shuttle's one aircraft taken away from hour 4: a 1-hour window drops its sortie at
    04:00 but keeps the later ones, which need it: refused, with the code a page words and the
    fix; a window to the end of the horizon is the whole re-plan."""
    sc = scenario_from(shuttle_dict())
    p = solve_plan(sc, check_binding=0)
    y, f = p.sortie_counts.astype(float), p.final
    assert y[:, 5:].sum() > 0  # (the plan flies again after the window)
    net = compile_network(what_if(sc, p.network.timeline.time_of(4), aircraft={"one": 0}), "1h")
    state = plan_state(net, f.flow, f.hold, y, 4)
    with pytest.raises(UserError, match=r"after the first 1 h do not fit.*longer window") as e:
        replan(net, state, plan_sorties=y, window_h=1)
    assert e.value.code == "window-not-fit" and e.value.params == {"hours": "1"}
    r = replan(net, state, plan_sorties=y, window_h=net.T)
    assert r.plan.window_end == net.T
    assert (
        r.summary()["out_by_deadline_total"]
        == replan(net, state).summary()["out_by_deadline_total"]
    )


def test_a_window_needs_hours_and_the_plans_sorties():
    p = solve_plan(scenario_from(shuttle_dict()), check_binding=0)
    state = state_from_plan(p, 3)
    with pytest.raises(UserError, match="give a number of hours above 0"):
        replan(p.network, state, plan_sorties=p.sortie_counts.astype(float), window_h=0)
    with pytest.raises(UserError, match="keeps a plan's sorties after it"):
        replan(p.network, state, window_h=2)
    assert window_end(p.network, 3, 0.5) == 4  # at least one period
    assert window_end(p.network, 3, 1e6) == p.network.T


def test_a_window_replan_names_no_bottleneck():
    """Its LP fixes the plan's sorties after the window, so its duals price that schedule's
    limits, not the operation's ("one more aircraft" cannot fly a fixed schedule): the whole
    re-plan names what binds, the window's nothing."""
    from evacops.scenario import load
    from tests.helpers import ROOT

    p = solve_plan(load(ROOT / "tests" / "scenarios" / "two-fleets.yaml"), check_binding=0)
    at = p.network.T // 3
    state = state_from_plan(p, at)
    y = p.sortie_counts.astype(float)
    whole = replan(p.network, state, plan_sorties=y, check_binding=0)
    r = replan(p.network, state, plan_sorties=y, window_h=6, check_binding=0)
    assert whole.plan.binding and whole.summary()["binding"]
    assert r.plan.binding == [] and r.summary()["binding"] == []
