"""The planner creates no people variable before a cohort can be at a site
(:func:`evacops.network.reach.first_periods`); that changes the model's size, never its optimum.

The full model is the same code with every site reachable from the first period (``first``
patched to zeros), so the comparison is of the same model with and without the reduction.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evacops.network import compile_network
from evacops.network.reach import first_periods, next_open
from evacops.plan import variables
from evacops.plan.solve import lp_run
from tests.helpers import scenario_from
from tests.test_plan_properties import scenarios


def test_next_open_finds_the_first_open_period_at_or_after_each():
    open_ = np.array([[False, True, False, False, True, False]])
    assert next_open(open_).tolist() == [[1, 1, 4, 4, 4, 6, 6]]


def _later(d: dict, start_h: int) -> dict:
    """The first cohort appears from ``start_h`` hours in, at the camp."""
    c = d["cohorts"][0]
    end = max(start_h + 1, int(c.get("appear", {}).get("end", "+1h")[1:-1]))
    c["appear"] = {"mode": "uniform", "start": f"+{start_h}h", "end": f"+{end}h"}
    return d


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.booleans())
def test_first_periods_follow_appearance_travel_time_and_closures(d, closed):
    d = _later(d, 3)
    d["legs"][0]["travel_time_h"] = 2  # camp -> gate: 2 hours
    d["legs"][1]["travel_time_h"] = 1  # gate -> evacuation airport: 1 hour
    d["sites"][1].pop("closures", None)
    d.pop("deadline", None)  # a hard deadline closes the way in after it: not this test's point
    d.pop("deadline_hard", None)
    if closed:  # the gate opens at +7h: nobody arrives at it or passes it before
        d["sites"][1]["closures"] = [{"start": "+0h", "end": "+7h"}]
    net = compile_network(scenario_from(d))
    first = first_periods(net)
    s = {name: i for i, name in enumerate(net.sites)}
    assert first[0, s["CAMP"]] == 3
    assert first[0, s["GATE"]] == (7 if closed else 5)  # left the camp at +3h at the earliest
    assert first[0, s["EVAC"]] == (8 if closed else 6)
    stage = [s[n] for n in net.sites if n.startswith("STAGE")]
    assert (first[0, stage] >= first[0, s["EVAC"]] + 1).all()  # a flight takes an hour at least


def _objective(d: dict, reduce: bool, monkeypatch) -> tuple[float, int]:
    net = compile_network(scenario_from(d))
    with monkeypatch.context() as mp:
        if not reduce:
            mp.setattr(variables, "first_periods", lambda n: np.zeros_like(first_periods(n)))
        run = lp_run(net)
    return run.objective(), run.variables


SLOW = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]  # monkeypatch: used in a context


@settings(max_examples=5, deadline=None, suppress_health_check=SLOW)
@given(scenarios(), st.integers(0, 6))
def test_the_reduced_model_has_the_full_models_optimum(monkeypatch, d, start_h):
    d = _later(d, start_h)
    full, n_full = _objective(d, reduce=False, monkeypatch=monkeypatch)
    reduced, n_reduced = _objective(d, reduce=True, monkeypatch=monkeypatch)
    assert n_reduced <= n_full
    assert reduced == pytest.approx(full, rel=1e-9, abs=1e-6)


@settings(max_examples=3, deadline=None, suppress_health_check=SLOW)
@given(scenarios())
def test_the_reduction_removes_variables_where_a_cohort_starts_late(monkeypatch, d):
    d = _later(d, 5)
    full, n_full = _objective(d, reduce=False, monkeypatch=monkeypatch)
    reduced, n_reduced = _objective(d, reduce=True, monkeypatch=monkeypatch)
    assert n_reduced < n_full
    assert reduced == pytest.approx(full, rel=1e-9, abs=1e-6)
