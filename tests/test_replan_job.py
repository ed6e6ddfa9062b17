"""The service's re-plan job (``evacops.plan.replan_job.run``) on the kept schedule and in a
window, called directly: a what-if and its baseline staged in two threads (the what-if's model
built first, the baseline's while it solves); a what-if the schedule cannot keep fails at once,
with no baseline solved. Generated counts only, no people."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import yaml
from test_replan_registry import _scenario

import evacops.plan.solve as solve
from evacops.errors import UserError
from evacops.plan import replan_job, solve_plan
from evacops.plan.replan import registry_counts, registry_rows, state_from_plan
from evacops.planfolder import outline_of
from evacops.scenario import load


@pytest.fixture(scope="module")
def job(tmp_path_factory) -> dict:
    """A kept-schedule job from the plan's own state at +4h (counts by cohort and site)."""
    d = tmp_path_factory.mktemp("job")
    path = d / "scenario.yaml"
    path.write_text(yaml.safe_dump(_scenario()))
    p = solve_plan(load(path), check_binding=0)
    net, at = p.network, 4
    return {
        "scenario": Path(path).read_text(),
        "period_h": net.period_h,
        "departures": outline_of(p)["departures"],
        "people": registry_rows(net, state_from_plan(p, at)),
        "at": net.timeline.time_of(at).isoformat(),
        "keep_schedule": True,
    }


def _watch(monkeypatch) -> list[str]:
    """The threads that build a plan model, in the order they start building."""
    seen: list[str] = []
    real = solve.assemble_plan

    def spy(*a, **k):
        seen.append("main" if threading.current_thread() is threading.main_thread() else "beside")
        return real(*a, **k)

    monkeypatch.setattr(solve, "assemble_plan", spy)
    return seen


def test_a_kept_what_if_builds_its_model_first_and_its_baseline_beside(job, monkeypatch):
    plain = replan_job.run(job)
    assert "error" not in plain, plain
    seen = _watch(monkeypatch)
    got = replan_job.run({**job, "what_if": {"close": ["Gate A"]}})
    assert "error" not in got, got
    assert seen == ["main", "beside"]
    res = got["result"]
    assert res["baseline_out_by_deadline"] == plain["result"]["out_by_deadline"]
    assert got["outline"]["departures"] == plain["outline"]["departures"]  # the same schedule


def test_a_window_what_if_solves_its_baseline_in_a_thread_beside_it(job, monkeypatch):
    """With ``window_h`` (seconds, as a kept schedule) the baseline runs in a thread, not a
    second process: its model is built here, after the what-if's, and it is the plain window
    re-plan of the same state."""
    windowed = {**job, "keep_schedule": False, "window_h": 3}
    plain = replan_job.run(windowed)
    assert "error" not in plain, plain
    assert plain["result"]["window_until"] and plain["result"]["window_h"] == 3
    seen = _watch(monkeypatch)
    got = replan_job.run({**windowed, "what_if": {"close": ["Gate A"]}})
    assert "error" not in got, got
    assert seen == ["main", "beside"]
    res = got["result"]
    assert res["baseline_out_by_deadline"] == plain["result"]["out_by_deadline"]
    assert res["baseline_lp_out_by_deadline"] == plain["result"]["lp_out_by_deadline"]


def test_a_what_if_the_schedule_cannot_keep_fails_without_a_baseline(job, monkeypatch):
    seen = _watch(monkeypatch)
    got = replan_job.run({**job, "what_if": {"close": ["Al Udeid"]}})
    assert got["error_code"] == "schedule-site-closed", got
    assert seen == ["main"]  # the baseline's model was never built


def test_a_window_what_if_that_fails_answers_without_waiting_for_its_baseline(job, monkeypatch):
    """The plan's one aircraft taken away at the moment: a 1-hour window cannot keep the plan's
    later sorties, which is found only once the what-if's LP is solved. The refusal comes back
    while the baseline (held here until the answer is in) still solves; it then ends alone."""
    entered, release, finished = threading.Event(), threading.Event(), threading.Event()
    real = replan_job._solve

    def held(*a, **k):
        if threading.current_thread() is threading.main_thread():
            try:
                return real(*a, **k)
            except UserError:
                # the refusal waits until the baseline has started (else the job rightly skips
                # it), so that what is tested is not waiting for a baseline that runs
                assert entered.wait(60)
                raise
        entered.set()
        try:
            assert release.wait(60)
            return real(*a, **k)
        finally:
            finished.set()

    monkeypatch.setattr(replan_job, "_solve", held)
    windowed = {**job, "keep_schedule": False, "window_h": 1}
    try:
        got = replan_job.run({**windowed, "what_if": {"aircraft": {"c17": 0}}})
        assert not finished.is_set()  # answered while the baseline still waits to solve
    finally:
        release.set()
    assert got["error_code"] == "window-not-fit" and got["error_params"] == {"hours": "1"}, got
    assert finished.wait(60)


def test_registry_rows_give_back_the_state_they_came_from(tmp_path):
    """What the benchmark and these tests hand the job as the registry's counts: read back by
    :func:`registry_counts`, every cohort at every site as the state had it (whole people)."""
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(_scenario()))
    p = solve_plan(load(path), check_binding=0)
    net = p.network
    for at in (2, 4, 6):
        state = state_from_plan(p, at)
        counts = registry_counts(net, registry_rows(net, state))
        here = state.waiting + state.arriving.sum(axis=2)
        for i, c in enumerate(net.cohorts):
            for j, site in enumerate(net.sites):
                assert counts.get((c, site), 0) == round(float(here[i, j]))


def test_the_job_counts_the_crews_of_its_replan(tmp_path):
    """A job's result carries its re-plan's crews aircraft by aircraft (as ``evacops plan``
    reports them), sorties flown before the moment included; none where no fleet has a rate."""
    d = _scenario()
    d["fleets"][0]["max_sorties_per_day"] = 3
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(d))
    p = solve_plan(load(path), check_binding=0)
    net, at = p.network, 6
    job = {
        "scenario": path.read_text(),
        "period_h": net.period_h,
        "departures": outline_of(p)["departures"],
        "people": registry_rows(net, state_from_plan(p, at)),
        "at": net.timeline.time_of(at).isoformat(),
    }
    got = replan_job.run(job)
    assert "error" not in got, got
    crews = got["result"]["crews"]
    # the one aircraft flies the plan's first 6 hours and the re-plan's rest: 3 sorties at most
    # in the 12-hour horizon (the fleet's rate over any 24 hours), some of them after the moment
    held = {"sorties_dropped": 0, "out_by_deadline_lost": 0, "kept": True, "sorties_over_crew": 0}
    assert crews == {
        "window_h": 24,
        "aircraft": 1,
        "aircraft_over": [],
        "fleets_over": [],
        "held": held,  # each aircraft held to its crew from the moment on: nothing to drop here
    }
    after = [row for row in got["outline"]["departures"] if row[3].startswith("c17")]
    before = p.schedule()["dep_period"] < at
    assert len(after) > 0 and len(after) + int(before.sum()) <= 3
    d["fleets"][0].pop("max_sorties_per_day")
    unlimited = replan_job.run({**job, "scenario": yaml.safe_dump(d)})
    assert unlimited["result"]["crews"] is None
