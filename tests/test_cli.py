"""The command line as a user runs it: a subprocess, exit codes, one-line errors, files written.

Plans use the tiny shuttle scenario (worked by hand in its YAML comments) and ``--check 0`` unless
the binding checks are under test; each command runs once per module and its tests share it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.helpers import assert_user_error, evacops, shuttle_dict

SHUTTLE = "tests/scenarios/shuttle.yaml"
SMALL = "scenarios/small-airlift.yaml"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TABLES = ("schedule", "flows", "sorties", "people", "completion", "daily_out")
PLOTS = ("cumulative_out.png", "daily_out.png", "occupancy.png", "aircraft_use.png")


def assert_ok(r: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in r.stderr + r.stdout, r.stderr
    assert r.returncode == 0, (r.returncode, r.stderr)


@pytest.fixture(scope="module")
def broken(tmp_path_factory) -> Path:
    """A scenario file with two problems (a negative count and a misspelt field)."""
    d = shuttle_dict()
    d["fleets"][0]["count"] = -5
    d["cohorts"][0]["sise"] = 300
    path = tmp_path_factory.mktemp("broken") / "broken.yaml"
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    return path


# --- validate -------------------------------------------------------------------------------------


def test_validate_ok():
    r = evacops("validate", SMALL)
    assert_ok(r)
    assert r.stdout.startswith("ok ")
    assert "small-airlift" in r.stdout
    assert r.stderr == ""


def test_validate_json_ok():
    r = evacops("validate", "--json", SMALL)
    assert_ok(r)
    doc = json.loads(r.stdout)
    assert doc["valid"] is True
    assert doc["name"] == "small-airlift"
    assert doc["people"] == 5500 and doc["aircraft"] == 6


def test_validate_broken_file_lists_each_problem_on_one_line(broken):
    r = evacops("validate", broken)
    assert "Traceback" not in r.stderr + r.stdout
    assert r.returncode == 2
    lines = r.stderr.splitlines()
    assert len(lines) == 2, r.stderr
    assert all(line.startswith(f"error: {broken}:") for line in lines)
    assert any(line.endswith("fleets[0].count: must be >= 0, got -5") for line in lines)
    assert any("cohorts[0].sise: is not a known field" in line for line in lines)


def test_validate_broken_file_json(broken):
    r = evacops("validate", "--json", broken)
    assert "Traceback" not in r.stderr + r.stdout
    assert r.returncode == 2
    doc = json.loads(r.stdout)
    assert doc["valid"] is False
    assert len(doc["problems"]) == 2
    assert all(p.startswith(f"{broken}:") and "\n" not in p for p in doc["problems"])
    # the plain output says the same, line for line
    plain = evacops("validate", broken).stderr.splitlines()
    assert plain == [f"error: {p}" for p in doc["problems"]]


@pytest.mark.parametrize("what", ["missing", "folder", "list"])
def test_validate_not_a_scenario(tmp_path, what):
    path = {"missing": tmp_path / "nope.yaml", "folder": tmp_path, "list": tmp_path / "list.yaml"}[
        what
    ]
    if what == "list":
        path.write_text("- a\n- b\n")
    line = assert_user_error(evacops("validate", path))
    assert line.startswith(f"error: {path}: ")


# --- plan: the summary ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shuttle_json() -> subprocess.CompletedProcess[str]:
    return evacops("plan", SHUTTLE, "--json", "--check", "0")


def test_plan_json_is_one_object(shuttle_json):
    assert_ok(shuttle_json)
    s = json.loads(shuttle_json.stdout)  # the whole of stdout, nothing else
    assert isinstance(s, dict)
    for key in (
        "status",
        "objective",
        "evacuated_total",
        "delivered_total",
        "left_behind",
        "completion_h",
        "periods",
        "variables",
        "constraints",
        "solve_s",
    ):
        assert key in s, key


def test_plan_json_matches_the_hand_answer(shuttle_json):
    s = json.loads(shuttle_json.stdout)
    assert s["status"] == "optimal"
    assert s["evacuated_total"] == 300
    assert s["completion_h"] == 9.0
    assert s["left_behind"] == 0
    assert s["periods"] == 12
    assert s["objective"] == pytest.approx(-2395.0)
    # everyone is out: no limit gets more people out, one only gets them out sooner
    assert all(abs((b["checked"] or b["estimate"])["people_out"]) < 0.5 for b in s["binding"])


def test_plan_fifteen_minute_periods():
    r = evacops("plan", SHUTTLE, "--period", "15min", "--json", "--check", "0")
    assert_ok(r)
    s = json.loads(r.stdout)
    assert s["periods"] == 48
    assert s["evacuated_total"] == 300


def test_plan_prints_a_summary_table():
    r = evacops("plan", SHUTTLE, "--check", "0")
    assert_ok(r)
    assert "people off the evacuation airport" in r.stdout
    assert "300" in r.stdout


def test_plan_binding_constraints_are_reported():
    r = evacops("plan", SMALL, "--json")  # default checks: re-solves to verify what binds
    assert_ok(r)
    s = json.loads(r.stdout)
    assert s["binding"], "small-airlift has binding capacity limits"
    for b in s["binding"]:
        assert b["text"] and isinstance(b["text"], str)
        assert b["from"] < b["until"]  # ISO times with the same offset sort as text


def test_plan_json_and_out_have_the_gates(tmp_path):
    r = evacops("plan", SMALL, "--json", "--check", "0", "--out", tmp_path / "o")
    assert_ok(r)
    s = json.loads(r.stdout)
    (gate,) = s["gates"]
    assert gate["name"] == "GATE" and gate["area_m2"] == 300
    assert gate["peak_density"] <= s["safe_density_per_m2"] + 1e-9
    keys = ("peak_density", "peak_queue_m", "peak_wait_h", "peak_people", "hours_ge_2")
    for key in (*keys, "hours_ge_3_5", "hours_ge_5", "hours_ge_7"):
        assert key in gate and key in gate["counterfactual"]
    cf = gate["counterfactual"]
    assert gate["peak_density"] < cf["peak_density"] <= s["crowd"]["max_density_per_m2"]
    assert cf["peak_queue_m"] >= gate["peak_queue_m"]
    for name in ("call_forward.csv", "gate_density.png"):
        assert (tmp_path / "o" / name).is_file()
    report = (tmp_path / "o" / "report.html").read_text()
    assert "call-forward" in report and "CAMP -&gt; GATE" in report


def test_plan_prints_the_call_forward_and_gate_densities():
    r = evacops("plan", SMALL, "--check", "0")
    assert_ok(r)
    assert "Call-forward" in r.stdout and "GATE" in r.stdout
    assert "Crowds in front of the gates" in r.stdout and "queue m" in r.stdout


# --- plan: files written --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shuttle_out(tmp_path_factory) -> tuple[subprocess.CompletedProcess[str], Path]:
    folder = tmp_path_factory.mktemp("plan") / "out"
    return evacops("plan", SHUTTLE, "--out", folder, "--check", "0"), folder


def test_plan_out_writes_every_file(shuttle_out):
    r, folder = shuttle_out
    assert_ok(r)
    expected = {"report.html", "summary.json", *PLOTS, *(f"{t}.csv" for t in TABLES)}
    assert expected <= {p.name for p in folder.iterdir()}
    assert "report.html" in r.stdout


def test_plan_out_plots_are_png_and_inlined_in_the_report(shuttle_out):
    _, folder = shuttle_out
    for name in PLOTS:
        assert (folder / name).read_bytes()[:8] == PNG_MAGIC, name
    html = (folder / "report.html").read_text()
    assert "<img" in html and "data:image/png" in html


def test_plan_out_tables(shuttle_out):
    _, folder = shuttle_out
    sched = pd.read_csv(folder / "schedule.csv")
    outbound = sched[sched["direction"] == "outbound"]
    assert outbound["load"].sum() == 300
    assert outbound["dep_period"].tolist() == [0, 4, 8]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["evacuated_total"] == 300
    assert len(summary["scenario_sha256"]) == 64
    for t in TABLES:
        pd.read_csv(folder / f"{t}.csv")  # every table reads back


def test_plan_out_gives_people_out_per_cohort_and_per_day(shuttle_out):
    r, folder = shuttle_out
    assert "per day, by cohort" in r.stdout and "deadline" in r.stdout
    assert "Priority: no two cohorts" in r.stdout  # one cohort
    summary = json.loads((folder / "summary.json").read_text())
    (cohort,) = summary["cohorts"]
    assert cohort["out_by_deadline"] == cohort["evacuated"] == 300  # no deadline: the horizon
    assert summary["daily_out"] == [{"date": "2030-01-01", "total": 300, "by_cohort": {"all": 300}}]
    daily = pd.read_csv(folder / "daily_out.csv")
    assert daily.to_dict("records") == [{"date": "2030-01-01", "all": 300, "total": 300}]
    assert pd.read_csv(folder / "completion.csv")["out_by_deadline"].tolist() == [300]
    html = (folder / "report.html").read_text()
    assert "People off the evacuation airport per day, by cohort" in html


def test_plan_out_prints_no_warnings(shuttle_out):
    r, _ = shuttle_out
    assert "Warning" not in r.stderr, r.stderr


def test_plan_parquet(tmp_path):
    pytest.importorskip("pyarrow")
    r = evacops("plan", SHUTTLE, "--format", "parquet", "--out", tmp_path, "--check", "0")
    assert_ok(r)
    sched = pd.read_parquet(tmp_path / "schedule.parquet")
    assert sched.query("direction == 'outbound'")["load"].sum() == 300
    assert not (tmp_path / "schedule.csv").exists()


# --- plan: a user's mistakes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, says",
    [
        (["--period", "7min"], "--period 7min"),
        (["--time-limit", "-1"], "--time-limit -1"),
        (["--mip-gap", "2"], "--mip-gap 2"),
        (["--format", "xls"], "--format xls"),
        (["--check-budget", "0"], "--check-budget 0"),
    ],
    ids=["period-7min", "time-limit", "mip-gap", "format", "check-budget"],
)
def test_plan_bad_option(args, says):
    line = assert_user_error(evacops("plan", SHUTTLE, *args, "--check", "0"))
    assert line.startswith(f"error: {says}: ")


def test_plan_negative_check():
    line = assert_user_error(evacops("plan", SHUTTLE, "--check", "-1"))
    assert line.startswith("error: --check -1: ")


def test_plan_missing_scenario():
    line = assert_user_error(evacops("plan", "no/such/scenario.yaml", "--check", "0"))
    assert "no such file" in line


def test_light_modules_load_no_solver_plots_or_database():
    """What a refused option, the gates' table, a sensitivity file or a command through the
    service needs loads neither the solver (linopy), the plots (matplotlib) nor SQLAlchemy: the
    packages import their heavy parts on first use (a new interpreter, as a command line)."""
    import sys

    code = (
        "import sys, evacops.cli, evacops.plan, evacops.report, evacops.report.levels, "
        "evacops.plan.sensitivity, evacops.cli.registry.common, evacops.client; "
        "print(' '.join(m for m in ('linopy', 'matplotlib', 'sqlalchemy') if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.split() == []
    # and the package still gives the solver when asked for it
    code = "from evacops.plan import Plan, solve_plan; print(solve_plan.__module__, Plan.__name__)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.split() == ["evacops.plan.solve", "Plan"]


def test_plan_broken_scenario(broken):
    line = assert_user_error(evacops("plan", broken, "--check", "0"))
    assert line.startswith(f"error: {broken}:")
    assert line.endswith("(and 1 more problem)")


# --- help -----------------------------------------------------------------------------------------


def test_plan_help():
    r = evacops("plan", "--help")
    assert_ok(r)
    assert "--integer" in r.stdout and "MIP" in r.stdout
    assert "--period" in r.stdout and "15min" in r.stdout


def test_no_arguments_shows_help():
    r = evacops()
    assert "Traceback" not in r.stderr + r.stdout
    assert r.returncode in (0, 2)  # click >= 8.2 exits 2 after showing help for no arguments
    text = r.stdout + r.stderr
    assert "Usage" in text
    assert "validate" in text and "plan" in text
