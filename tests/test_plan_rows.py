"""Rows the planner leaves out because they could never bind: a MOG that every aircraft able to
come, and one more, fits (:func:`evacops.plan.constraints.mog_left_out`), and a stay limit
before anyone can have stayed that long (:func:`evacops.plan.limits.stay_rows_can_bind`). They
change the model's size, never its optimum.

The full model is the same code with each reduction patched off, so the comparison is of the
same model with and without the rows.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from evacops.network import compile_network
from evacops.plan import constraints, limits
from evacops.plan.solve import lp_run
from tests.helpers import scenario_from
from tests.test_plan_properties import scenarios

SLOW = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]  # monkeypatch: used in a context


def _solve(d: dict, reduce: bool, monkeypatch) -> tuple[float, int]:
    net = compile_network(scenario_from(d))
    with monkeypatch.context() as mp:
        if not reduce:
            mp.setattr(constraints, "mog_left_out", lambda n: np.zeros((len(n.sites), n.T), bool))
            mp.setattr(limits, "stay_rows_can_bind", lambda before: np.ones(before.shape, bool))
        run = lp_run(net)
    return run.objective(), run.constraints


@settings(max_examples=8, deadline=None, suppress_health_check=SLOW)
@given(scenarios())
def test_rows_that_cannot_bind_leave_the_optimum_alone(monkeypatch, d):
    full, rows_full = _solve(d, reduce=False, monkeypatch=monkeypatch)
    reduced, rows_reduced = _solve(d, reduce=True, monkeypatch=monkeypatch)
    assert rows_reduced <= rows_full
    assert reduced == pytest.approx(full, rel=1e-9, abs=1e-6)


def _both_reductions_apply(d: dict) -> dict:
    """Stay limits at the staging bases and room for every aircraft on every ground."""
    for site in d["sites"]:
        if site["kind"] == "staging":
            site["max_stay_h"] = 6
        if "airfield" in site:
            site["airfield"]["mog"] = 50
    return d


@settings(max_examples=5, deadline=None, suppress_health_check=SLOW)
@given(scenarios())
def test_each_reduction_removes_rows_and_keeps_the_optimum(monkeypatch, d):
    d = _both_reductions_apply(d)
    net = compile_network(scenario_from(d))
    # the condition the MOG rows are left out on, checked on the network itself: at most 9
    # aircraft in these scenarios, 50 places
    assert (constraints.most_on_ground(net) <= 9).all()
    assert constraints.mog_left_out(net)[np.isfinite(net.mog)].all()
    assert constraints.mog_room(net, 0) >= 41
    full, rows_full = _solve(d, reduce=False, monkeypatch=monkeypatch)
    reduced, rows_reduced = _solve(d, reduce=True, monkeypatch=monkeypatch)
    assert rows_reduced < rows_full
    assert reduced == pytest.approx(full, rel=1e-9, abs=1e-6)
