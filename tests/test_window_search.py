"""The repair's second search, window by window (:mod:`evacops.plan.window_search`): from the
repair's first schedule it never gets worse, keeps every row of the repair model and the
repair's box, gives the same schedule every time (a work limit, no clock), stops when told;
and the repair keeps whichever of the two searches found the lower repair objective, and says
which."""

from __future__ import annotations

import html
import json
import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings

import evacops.plan.solve as solve
from evacops.errors import InfeasibleError
from evacops.network import compile_network
from evacops.plan import window_search
from evacops.plan.assemble import RepairModel, assemble_repair
from evacops.plan.highs import HighsRun
from evacops.plan.objective import repair_value
from evacops.scenario import load
from tests.helpers import ROOT, evacops, scenario_from
from tests.test_plan_properties import scenarios

TWO_FLEETS = ROOT / "tests" / "scenarios" / "two-fleets.yaml"


def _repair_of(net):
    """The repair model of ``net``'s LP as :func:`solve.repair_sorties` builds it, its first
    schedule's column values, and the repair's absolute gap."""
    run = solve.lp_run(net)
    lp = solve._solution(run, duals=False)
    lo, hi = np.floor(lp.sorties + 1e-6), np.ceil(lp.sorties - 1e-6)
    model = assemble_repair(net, lp.flow.sum(axis=0), repair_value(net), (lo, hi))
    rep = HighsRun(model, time.perf_counter())
    start = np.asarray(solve._start_from_a_first_schedule(rep).col_value)
    return model, rep, start, 1e-3 * max(abs(lp.objective), 1.0), (lo, hi)


def _feasible(rep: HighsRun[RepairModel], col: np.ndarray) -> bool:
    """Every row and column bound of the repair model holds at ``col`` (and it is whole)."""
    lp = rep.h.getLp()
    a = lp.a_matrix_
    start, index, value = (np.asarray(x) for x in (a.start_, a.index_, a.value_))
    act = np.bincount(index, value * np.repeat(col, np.diff(start)), minlength=lp.num_row_)
    tol = 1e-6 * (1 + np.abs(act))
    rows = (act >= np.asarray(lp.row_lower_) - tol) & (act <= np.asarray(lp.row_upper_) + tol)
    cols = (col >= np.asarray(lp.col_lower_) - 1e-6) & (col <= np.asarray(lp.col_upper_) + 1e-6)
    ints = np.array([int(v) for v in lp.integrality_] or [0] * lp.num_col_)  # (enum members)
    whole = np.abs(col - np.round(col))[ints != 0] <= 1e-6
    return bool(rows.all() and cols.all() and whole.all())


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_the_windows_never_make_the_schedule_worse_and_keep_every_limit(d):
    net = compile_network(scenario_from(d))
    try:
        model, rep, start, gap, (lo, hi) = _repair_of(net)
    except InfeasibleError:  # a scenario with no plan
        assume(False)
    assume((lo < hi).any())
    small = {"window_h": 2 * net.period_h, "step_h": net.period_h}
    found = window_search.by_windows(rep, start, net.period_h, gap, **small)
    assert found.objective <= window_search.objective_of(rep, start) + 1e-9
    assert _feasible(rep, found.col)  # (the box is the columns' bounds, put back)
    y = rep.values(model.aircraft.sortie, found.col)
    assert (y >= lo - 1e-9).all() and (y <= hi + 1e-9).all()
    assert 0 <= found.kept <= found.windows
    # the same search again, on a model built afresh: the same schedule (no clock in it)
    fresh = HighsRun(model, time.perf_counter())
    again = window_search.by_windows(fresh, start, net.period_h, gap, **small)
    assert np.array_equal(again.col, found.col) and again.objective == found.objective


def _two_fleets():
    return compile_network(load(TWO_FLEETS))


def test_on_a_scenario_the_windows_improve_the_first_schedule_the_same_way_under_load():
    """Slowed down (a callback that sleeps in every check HiGHS makes, as a busy machine
    would), the search ends at the same schedule: it stops on nodes, never on time."""
    net = _two_fleets()
    model, rep, start, gap, _ = _repair_of(net)
    found = window_search.by_windows(rep, start, net.period_h, gap)
    assert found.kept >= 1 and found.objective < window_search.objective_of(rep, start)
    slow = HighsRun(model, time.perf_counter())

    def dawdle(_e) -> None:
        time.sleep(0.002)

    slow.h.cbMipInterrupt += dawdle
    again = window_search.by_windows(slow, start, net.period_h, gap)
    assert np.array_equal(again.col, found.col)


def test_told_to_stop_it_keeps_what_it_has():
    net = _two_fleets()
    _, rep, start, gap, _ = _repair_of(net)
    stop = threading.Event()
    stop.set()
    found = window_search.by_windows(rep, start, net.period_h, gap, stop)
    assert found.windows == 0 and np.array_equal(found.col, start)


def _small_windows(monkeypatch) -> None:
    """Windows of 4 hours every 2 (the scenario's horizon is 20 hours: with the 48-hour
    windows one would hold every sortie, and the search would not start), on two cores."""
    monkeypatch.setattr(window_search, "WINDOW_H", 4.0)
    monkeypatch.setattr(window_search, "STEP_H", 2.0)
    monkeypatch.setattr(window_search, "cores", lambda: 2)


def test_the_search_starts_only_where_the_free_sorties_span_more_than_a_window(monkeypatch):
    lo = np.zeros((3, 100))
    hi = lo.copy()
    assert not window_search.spans_windows(lo, hi, 1.0)  # nothing free
    hi[1, 10], hi[2, 57] = 1, 1
    assert not window_search.spans_windows(lo, hi, 1.0)  # periods 10-57: 48 hours
    hi[2, 58] = 1
    assert window_search.spans_windows(lo, hi, 1.0)  # 10-58: 49 hours
    assert not window_search.spans_windows(lo, hi, 0.5)  # 24.5 hours at half-hour periods
    _small_windows(monkeypatch)
    assert window_search.spans_windows(lo[:, :20], hi[:, :20] + 1, 1.0)
    net = _two_fleets()
    lp = solve._solution(solve.lp_run(net), duals=False)
    started = []
    real = window_search.Beside

    def spy(*a, **k):
        started.append(1)
        return real(*a, **k)

    monkeypatch.setattr(window_search, "Beside", spy)
    info: dict = {}
    with window_search.sharing_cores(1):  # a what-if's baseline solving in a second process
        solve.repair_sorties(net, lp, 30.0, info=info)
    assert info["kept"] == "highs" and "windows" not in info and not started
    assert window_search.free_cores() == 2  # (given back)
    solve.repair_sorties(net, lp, 30.0, info=info)
    assert started  # (the same repair alone on two cores starts it)
    monkeypatch.setattr(window_search, "cores", lambda: 1)
    started.clear()
    info = {}
    solve.repair_sorties(net, lp, 30.0, info=info)
    assert info["kept"] == "highs" and "windows" not in info and not started  # one core
    monkeypatch.undo()
    info = {}
    solve.repair_sorties(net, lp, 30.0, info=info)
    assert info["kept"] == "highs" and "windows" not in info  # 20 hours: one window


def test_the_repair_keeps_the_better_of_the_two_searches(monkeypatch):
    """With HiGHS's search held at its first schedule and the window search let run to its
    end, the repair's schedule is the windows' and it says so; with HiGHS's search as it is,
    the schedule kept is never worse than either."""
    _small_windows(monkeypatch)
    net = _two_fleets()
    lp = solve._solution(solve.lp_run(net), duals=False)
    info: dict = {}
    monkeypatch.setattr(solve, "_improve", lambda *a, **k: None)
    result = window_search.Beside.result

    def to_the_end(self):
        self.thread.join()  # (the sweep ends on its own before it is told to stop)
        return result(self)

    monkeypatch.setattr(window_search.Beside, "result", to_the_end)
    y, _, _ = solve.repair_sorties(net, lp, 30.0, info=info)
    assert info["kept"] == "windows"
    assert info["windows"]["objective"] < info["highs_objective"]
    assert info["windows"]["kept"] >= 1
    monkeypatch.undo()
    _small_windows(monkeypatch)
    both: dict = {}
    y2, _, _ = solve.repair_sorties(net, lp, 30.0, info=both)
    best = min(both["highs_objective"], both.get("windows", {}).get("objective", np.inf))
    assert both["kept"] in ("highs", "windows")
    kept = both["highs_objective"] if both["kept"] == "highs" else both["windows"]["objective"]
    assert kept == pytest.approx(best)
    assert y.sum() > 0 and y2.sum() > 0


def test_the_terminal_the_report_and_json_say_which_search_found_the_schedule(tmp_path):
    """A national hub over 96 hours (more than one window), through the command line."""
    import yaml

    from tests.test_plan_repair_value import _hub

    scenario = tmp_path / "hub.yaml"
    scenario.write_text(yaml.safe_dump(_hub(8, 200, 96, 3, 3)))
    r = evacops("plan", scenario, "--check", "0", "--json")
    assert r.returncode == 0, r.stderr
    search = json.loads(r.stdout)["repair"]["search"]
    assert search["kept"] in ("highs", "windows") and search["highs_objective"] > 0
    # (how far the windows got depends on when HiGHS's search ended: none, if before they began)
    w = search.get("windows", {"solved": 0, "kept": 0})
    assert 0 <= w["kept"] <= w["solved"]
    r = evacops("plan", scenario, "--check", "0", "--out", tmp_path / "p")
    assert r.returncode == 0, r.stderr
    assert "whole sorties found by" in r.stdout
    summary = json.loads((tmp_path / "p" / "summary.json").read_text())
    words = window_search.found_by(summary["repair"]["search"])
    report = (tmp_path / "p" / "report.html").read_text()
    assert html.escape(f"The whole sorties were found by {words}") in report
    # the words for each case
    w = {"objective": 1.0, "solved": 3, "kept": 2, "seconds": 1.0}
    assert window_search.found_by({"kept": "windows", "windows": w}).startswith(
        "the window search (2 of 3 windows"
    )
    assert window_search.found_by({"kept": "highs", "windows": {**w, "solved": 0}}) == (
        "HiGHS's search"
    )


def test_with_its_budget_spent_the_repair_waits_for_a_window_search_that_leads():
    """The repair's stop rule: before its budget, never; after it, once it has bettered its
    start, unless the window search is still sweeping with a better schedule; at the last
    moment, whatever it has."""
    limit, last = 30.0, 150.0
    assert not window_search.stop_search(29.0, limit, last, improved=True, leading=False)
    assert not window_search.stop_search(31.0, limit, last, improved=True, leading=True)
    assert not window_search.stop_search(31.0, limit, last, improved=False, leading=False)
    assert window_search.stop_search(31.0, limit, last, improved=True, leading=False)
    assert window_search.stop_search(150.0, limit, last, improved=False, leading=True)


def test_the_window_search_says_when_its_sweep_has_ended(monkeypatch):
    """``swept`` is set once the sweep has ended on its own, with ``best`` its schedule's
    repair objective, and also when it failed (nobody waits for a search that has stopped)."""
    _small_windows(monkeypatch)
    net = _two_fleets()
    model, _, start, gap, _ = _repair_of(net)
    beside = window_search.Beside(model, start, net.period_h, gap)
    assert beside.swept.wait(60)
    assert beside.result() is not None and beside.found is not None
    assert beside.found.kept >= 1 and beside.best == beside.found.objective
    assert not beside.leads(np.inf)  # (its sweep has ended: nothing to wait for)
    monkeypatch.setattr(window_search, "by_windows", lambda *a, **k: 1 / 0)
    failed = window_search.Beside(model, start, net.period_h, gap)
    assert failed.swept.wait(60)
    assert failed.result() is None
