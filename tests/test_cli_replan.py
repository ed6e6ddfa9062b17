"""``evacops replan`` as a user runs it: from a plan's folder at a moment, with what-if changes;
the plan's folder never changes; one-line errors for bad input."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.helpers import HERE, assert_user_error, evacops

SHUTTLE = HERE / "scenarios" / "shuttle.yaml"


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def plan_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("shuttle-plan")
    r = evacops("plan", SHUTTLE, "--out", out, "--check", "0")
    assert r.returncode == 0, r.stderr
    return out


def _replan(plan_dir: Path, *args: str):
    r = evacops("replan", SHUTTLE, "--plan", plan_dir, *args, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_a_replan_from_the_plans_state_gets_everyone_out_as_the_plan_does(plan_dir):
    s = _replan(plan_dir, "--at", "+5h")
    assert s["replan"]["at"].startswith("2030-01-01T05:00")
    assert s["replan"]["out_before"] == 200 and s["replan"]["source"] == "plan"
    assert s["comparison"] == [{"cohort": "all", "plan": 300, "replan": 300, "difference": 0}]


def test_what_if_the_airport_closes_answers_beside_the_plan_and_leaves_it_alone(plan_dir, tmp_path):
    before = _digest(plan_dir)
    out = tmp_path / "closed"
    s = _replan(plan_dir, "--at", "+1h", "--close", "EVAC", "--out", str(out))
    # one sortie of 100 left in the first hour; after that nobody leaves a closed airport
    assert s["comparison"][0]["replan"] == 100 and s["comparison"][0]["difference"] == -200
    assert s["replan"]["what_if"]["close"] == ["EVAC"]
    assert _digest(plan_dir) == before  # the stored plan is never changed
    assert (out / "replan.json").exists() and (out / "schedule.csv").exists()
    assert json.loads((out / "replan.json").read_text())["comparison"] == s["comparison"]


def test_what_if_slots_and_capacity_are_scenario_changes(plan_dir):
    s = _replan(plan_dir, "--at", "+3h", "--slots", "EVAC=0.25", "--capacity", "STAGE=100")
    assert s["replan"]["what_if"]["departure_slots"] == {"EVAC": 0.25}
    assert s["comparison"][0]["replan"] <= 300


def test_the_terminal_view_names_the_moment_and_the_difference(plan_dir):
    r = evacops("replan", SHUTTLE, "--plan", plan_dir, "--at", "+1h", "--close", "EVAC")
    assert r.returncode == 0, r.stderr
    assert "Re-plan from 2030-01-01 01:00 UTC (plan)" in r.stdout
    assert "-200" in r.stdout and "not carried over the moment" in r.stdout


def test_keeping_the_schedule_replans_the_people_alone(plan_dir):
    s = _replan(plan_dir, "--at", "+5h", "--keep-schedule")
    assert s["mode"] == "schedule-kept" and s["lp_bound"] is None and "repair" not in s
    assert s["comparison"] == [{"cohort": "all", "plan": 300, "replan": 300, "difference": 0}]
    r = evacops("replan", SHUTTLE, "--plan", plan_dir, "--at", "+5h", "--keep-schedule")
    assert r.returncode == 0, r.stderr
    assert "people re-planned on the plan's schedule" in " ".join(r.stdout.split())


def test_a_window_replans_the_aircraft_around_a_closed_base(plan_dir):
    """The staging base closed from hour 3: the kept schedule is refused (below); re-planning
    the aircraft for the next 2 hours only gets out whom the whole re-plan gets out, says so,
    and keeps no sortie to the closed base."""
    whole = _replan(plan_dir, "--at", "+3h", "--close", "STAGE")
    s = _replan(plan_dir, "--at", "+3h", "--close", "STAGE", "--window", "2")
    assert s["window_until"].startswith("2030-01-01T05:00") and whole["window_until"] is None
    assert s["comparison"] == whole["comparison"]
    assert s["lp_bound"] >= whole["lp_bound"] - 1e-6 * abs(whole["lp_bound"])
    r = evacops("replan", SHUTTLE, "--plan", plan_dir, "--at", "+3h", "--close", "STAGE",
                "--window", "2")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "aircraft re-planned until 2030-01-01T05:00 only" in " ".join(r.stdout.split())


@pytest.mark.parametrize("keep", [[], ["--keep-schedule"]])
def test_a_replans_folder_replanned_again_counts_everyone(plan_dir, tmp_path, keep):
    """A re-plan's folder has no flows before its moment: re-planned again, the people out
    before that moment still count (the plan's 300, not the 200 flown after it), and a moment
    before it is refused."""
    first = tmp_path / "first"
    _replan(plan_dir, "--at", "+3h", *keep, "--out", str(first))
    s = _replan(first, "--at", "+5h", *keep)
    assert s["comparison"] == [{"cohort": "all", "plan": 300, "replan": 300, "difference": 0}]
    assert s["replan"]["out_before"] == 200
    line = assert_user_error(evacops("replan", SHUTTLE, "--plan", first, "--at", "+1h"))
    assert "this folder is a re-plan from 2030-01-01T03:00" in line, line


@pytest.mark.parametrize(
    "args, says",
    [
        (["--at", "+50h"], "--at: must fall within the plan's horizon"),
        (["--at", "2030-01-01T05:00"], "give an ISO date and time with its zone"),
        (["--at", "+2h", "--close", "NOWHERE"], "unknown site 'NOWHERE'"),
        (["--at", "+2h", "--aircraft", "one"], "--aircraft one: give NAME=NUMBER"),
        (["--at", "+2h", "--capacity", "STAGE=-3"], "--capacity STAGE=-3: must be >= 0"),
        (["--at", "+2h", "--slots", "CAMP=2"], "'CAMP' is not an airfield of the scenario"),
        (
            ["--at", "+3h", "--close", "STAGE", "--keep-schedule"],
            "flies evac-stage@one at 2030-01-01 04:00 (+1 h from the moment), which this state "
            "rules out",
        ),
        (["--at", "+3h", "--window", "0"], "--window 0: give hours above 0 and at most 168"),
        (["--at", "+3h", "--window", "2", "--keep-schedule"], "--window and --keep-schedule"),
        (
            ["--at", "+4h", "--aircraft", "one=0", "--window", "1"],
            "the plan's sorties after the first 1 h do not fit this state",
        ),
    ],
)
def test_bad_input_is_one_line(plan_dir, args, says):
    line = assert_user_error(evacops("replan", SHUTTLE, "--plan", plan_dir, *args))
    assert says in line, line


def test_a_folder_that_is_not_a_plan_is_refused(tmp_path):
    line = assert_user_error(evacops("replan", SHUTTLE, "--plan", tmp_path, "--at", "+2h"))
    assert "summary.json" in line or "not a plan" in line, line
