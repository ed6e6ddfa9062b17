"""Bottlenecks counted in people, on random small scenarios (hypothesis): within the range the
planner is told, the estimate from the LP's basis equals a finite-difference re-solve.

Two independent re-solves are compared with the estimate at a point inside the stated range:
the LP of the *network* changed by the lever (its arrays, compiled into a fresh model and solved
cold: this also checks that a lever moves the right-hand sides the model code would), whose
objective is unique, so it must equal the estimate's; and a warm re-solve of the same model with
the lever's rows moved, whose people out by the deadline must equal the estimate's (a cold solve
may pick another optimal plan with the same objective but other people out).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, event, given, settings

from evacops.network import compile_network
from evacops.plan.basis import Basis
from evacops.plan.binding import Resolver, counts, find_binding
from evacops.plan.levers import Rows, shift
from evacops.plan.solve import lp_run
from tests.binding_helpers import changed, cold
from tests.helpers import scenario_from
from tests.test_plan_properties import scenarios

# levers whose network arrays are rounded up to whole units per hour in the one-hour rows
_WHOLE_STEPS = {"departure_slots", "arrival_slots", "runway_movements"}


def _inside(b) -> float | None:
    """A point strictly inside the stated range, past the settling step (None: no range)."""
    r = b.exact_up_to
    if r is None or r <= b.settle_steps + 1e-6:
        return None
    return b.settle_steps + 0.5 * (min(r, 2.0) - b.settle_steps)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenarios())
def test_estimate_equals_a_finite_difference_re_solve_within_its_range(d):
    net = compile_network(scenario_from(d))
    run = lp_run(net)
    _, base_objective = cold(net)
    count = counts(net, run)
    res = Resolver(run, Basis(run, count), count, budget_s=30.0)  # measures the LP's plan
    found = find_binding(net, run, checks=2, top=4)
    rows = Rows(net, run)
    for b in found:
        theta = _inside(b)
        if theta is None:
            continue
        event(f"range {b.range_kind}")
        est = b.estimate_at(theta)
        # the same model, its rows moved: people out by the deadline as estimated
        got = res.at(shift(rows, b.lever), theta)
        assert got.change is not None, got.why
        assert got.change["people"] == pytest.approx(est.people, rel=1e-5, abs=1e-4), b.sentence()
        assert -got.change["objective"] == pytest.approx(est.gain, rel=1e-6, abs=1e-4)
        # the network changed by the lever, compiled and solved cold: the same objective. A
        # slot rate's one-hour rows hold the rate rounded up (hour_peak), so the network is
        # changed by whole slots only: one, where the range reaches it
        at = theta
        if b.lever.kind in _WHOLE_STEPS and not float(at).is_integer():
            if b.exact_up_to < 1.0:
                continue
            at = 1.0
        other = changed(net, b.lever, at)
        if other is not None:
            _, objective = cold(other)
            gain = b.estimate_at(at).gain
            assert base_objective - objective == pytest.approx(gain, rel=1e-6, abs=1e-3)
