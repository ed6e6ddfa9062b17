"""The simulator on the Kabul scenario: a replay without randomness is the plan, period by period;
with the scenario's uncertainty nobody is created or lost and no capacity is exceeded.

Solving the Kabul plan at 1-hour periods takes minutes, so it is solved once for this module at
3-hour periods (LP + repair, no binding checks: a third of the periods, the same sites, legs,
fleets, cohorts, limits and events) and written to a temporary folder as `evacops plan --out`
would. The simulator reads the period length from the plan, so the checks are the same.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

try:
    from tests.helpers import ROOT
except ModuleNotFoundError:  # `pytest tests/test_sim_kabul.py` without the root on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.helpers import ROOT
from evacops.scenario import load
from evacops.sim import prepare, simulate
from evacops.sim.core import run_batch
from tests.test_sim import check_invariants, replay_matches, write_plan_of

KABUL = ROOT / "scenarios" / "kabul-2021.yaml"


@pytest.fixture(scope="module")
def kabul_plan(tmp_path_factory) -> Path:
    return write_plan_of(KABUL, tmp_path_factory.mktemp("kabul") / "plan", period="3h")


@pytest.fixture(scope="module")
def kabul_model(kabul_plan):
    return prepare(load(KABUL), kabul_plan, KABUL)


def test_kabul_replay_is_the_plan(kabul_model, kabul_plan):
    replay_matches(kabul_model, kabul_plan)


def test_kabul_under_uncertainty_conserves_people_and_capacities(kabul_model):
    rec = run_batch(kabul_model, np.random.SeedSequence(2021).spawn(3), audit=True)
    # people go on from the staging bases by air: overstays are counted, not ruled out
    check_invariants(kabul_model, rec, random=True, stays_kept=False)
    assert rec["aborts"].sum() > 0  # the scenario's uncertainty is in play


def test_kabul_policy_conserves_people_and_capacities(kabul_plan):
    md = prepare(load(KABUL))
    rec = run_batch(md, np.random.SeedSequence(7).spawn(2), audit=True)
    check_invariants(md, rec, random=True, stays_kept=False)
    # the policy gets people out: a sizeable share of what the plan gets (docs/simulation.md:
    # about half on Kabul), whatever the scenario's limits make of both
    planned = json.loads((kabul_plan / "summary.json").read_text())["evacuated_total"]
    assert rec["out"].sum(axis=(1, 2)).min() > 0.3 * planned


def test_kabul_daily_table(kabul_model):
    res = simulate(kabul_model, runs=4, seed=1, workers=1)
    daily = res.daily()
    assert len(daily) == 17
    assert str(daily.index[0]) == "2021-08-14" and str(daily.index[-1]) == "2021-08-30"
    assert (daily["out_p10"] <= daily["out_p50"]).all()
    assert (daily["out_p50"] <= daily["out_p90"]).all()
    assert {"out_US_p50", "flights_US_p50", "out_UK_p50"} <= set(daily.columns)
    # HKIA's departure slots: at most 90 flights out in a day
    assert daily["flights_p50"].max() <= 90
