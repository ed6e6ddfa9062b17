"""`evacops simulate --compare FILE.csv`: a user's own daily counts over the fan chart and beside
the runs (never fitted), and bad files refused with one line naming the file, line and fix."""

from __future__ import annotations

import json

import pytest
from helpers import ROOT, assert_user_error, evacops

SMALL = ROOT / "scenarios" / "small-airlift.yaml"


def assert_ok(r) -> None:
    assert "Traceback" not in r.stderr + r.stdout, r.stderr
    assert r.returncode == 0, (r.returncode, r.stderr)


def test_compare_sets_the_counts_beside_the_runs(tmp_path):
    f = tmp_path / "reported.csv"
    f.write_text("date,out\n2030-01-01,1200\n2030-01-02,800\n")
    out = tmp_path / "sim"
    r = evacops("simulate", SMALL, "--runs", "8", "--json", "--compare", f, "--out", out)
    assert_ok(r)
    s = json.loads(r.stdout)
    days = s["compare"]["days"]
    assert [d["date"] for d in days] == ["2030-01-01", "2030-01-02"]
    assert [d["cumulative"] for d in days] == [1200, 2000]
    daily = {d["date"]: d for d in s["daily"]}
    for d in days:  # the simulated figures beside each day are the run's own, not the file's
        assert d["sim_out_p50"] == daily[d["date"]]["out_p50"]
        assert d["sim_cumulative_p10"] <= d["sim_cumulative_p50"] <= d["sim_cumulative_p90"]
    report = (out / "report.html").read_text()
    assert "Your counts (reported) beside the runs" in report
    assert (out / "sim_cumulative_out.png").stat().st_size > 0
    # the terminal view has the side-by-side table too
    r = evacops("simulate", SMALL, "--runs", "4", "--compare", f)
    assert_ok(r)
    assert "Your counts (reported)" in r.stdout and "1,200" in r.stdout


def test_a_day_outside_the_simulation_has_no_simulated_figures(tmp_path):
    f = tmp_path / "c.csv"
    f.write_text("date,out\n2029-12-30,5\n")
    r = evacops("simulate", SMALL, "--runs", "2", "--json", "--compare", f)
    assert_ok(r)
    (day,) = json.loads(r.stdout)["compare"]["days"]
    assert day["sim_out_p50"] is None and day["out"] == 5


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("day,people\n2030-01-01,5\n", "line 1: the header must name the columns date and out"),
        ("date,out\n01/01/2030,5\n", "line 2: date must be YYYY-MM-DD"),
        ("date,out\n2030-01-01,many\n", "line 2: out must be a number"),
        ("date,out\n2030-01-01,-4\n", "line 2: out must be 0 or more"),
        ("date,out\n2030-01-01,nan\n", "line 2: out must be 0 or more"),
        ("date,out\n2030-01-01,4\n2030-01-01,5\n", "line 3: 2030-01-01 is given twice"),
        ("date,out\n", "no rows"),
        ("", "empty"),
    ],
)
def test_bad_compare_files(tmp_path, text, words):
    f = tmp_path / "bad.csv"
    f.write_text(text)
    line = assert_user_error(evacops("simulate", SMALL, "--runs", "2", "--compare", f))
    assert words in line and "bad.csv" in line, line


def test_missing_compare_file(tmp_path):
    line = assert_user_error(
        evacops("simulate", SMALL, "--runs", "2", "--compare", tmp_path / "none.csv")
    )
    assert "no such file" in line and "date,out" in line
