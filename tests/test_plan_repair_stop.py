"""The repair's search is stopped on its budget by HiGHS's interrupt callback
(:func:`evacops.plan.solve._improve`): past the budget at the first schedule better than the
start, or :data:`~evacops.plan.solve.REPAIR_ON_S` later with the start. Tried on a
multidimensional knapsack that HiGHS cannot close at its root, so the search is interrupted
(not finished) and the answer is read from the interrupted run."""

from __future__ import annotations

import time
from types import SimpleNamespace

import highspy
import linopy
import numpy as np
import pytest

import evacops.plan.solve as solve
from evacops.plan.highs import HighsRun


def _knapsack(seed: int, n: int = 80, k: int = 6) -> HighsRun:
    rng = np.random.default_rng(seed)
    m = linopy.Model()
    x = m.add_variables(binary=True, coords=[np.arange(n)], dims=["i"], name="x")
    for r in range(k):
        w = rng.integers(20, 100, n)
        m.add_constraints((x * w).sum() <= int(w.sum()) // 3, name=f"c{r}")
    m.add_objective((x * -rng.integers(20, 100, n)).sum())
    return HighsRun(SimpleNamespace(m=m), time.perf_counter())


def _start(rep: HighsRun) -> highspy.HighsSolution:
    start = highspy.HighsSolution()
    start.col_value = [0.0] * rep.variables  # nothing packed: a schedule, the worst
    start.value_valid = True
    rep.h.setSolution(start)
    return start


@pytest.mark.parametrize("seed", [1, 2])
def test_past_its_budget_the_search_stops_and_keeps_a_schedule(seed, monkeypatch):
    rep = _knapsack(seed)
    monkeypatch.setattr(solve, "REPAIR_ON_S", 0.0)
    solve._improve(rep, _start(rep), gap=0.0, budget_s=0.0)
    assert "interrupt" in rep.status  # stopped by the callback, not finished
    x = np.asarray(rep.h.getSolution().col_value)
    assert np.allclose(x, np.round(x))  # a whole answer, at worst the start
    assert rep.objective() <= 0.0
    # given its time, the same search goes on to the optimum, no worse
    full = _knapsack(seed)
    solve._improve(full, _start(full), gap=0.0, budget_s=None)
    assert full.status == "optimal" and full.objective() < rep.objective() + 1e-9
