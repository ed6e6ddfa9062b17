"""benchmarks/plan_kabul.py runs issue 11's peer (another commit's code with its own scenario
file) beside this checkout, on a small scenario here so that it takes seconds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "plan_kabul.py"
SCENARIO = str(ROOT / "scenarios" / "small-airlift.yaml")


def _has(commit: str) -> bool:
    """The commit is in this clone (a shallow clone may not have it)."""
    res = subprocess.run(
        ["git", "-C", str(ROOT), "cat-file", "-e", f"{commit}^{{commit}}"],
        capture_output=True,
        check=False,
    )
    return res.returncode == 0


def _bench(*args: str, scenario: str = SCENARIO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--scenario", scenario, "--periods", "1h", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def test_the_peer_runs_its_own_code_and_scenario_beside_ours():
    peer = "41f41a7"
    if not _has(peer):
        pytest.skip(f"commit {peer} is not in this clone (shallow?)")
    res = _bench()
    assert res.returncode == 0, res.stderr
    rows = [line.split() for line in res.stdout.splitlines() if line.split()[:2] in (
        ["this", "1h"], [peer, "1h"])]  # fmt: skip
    assert [r[0] for r in rows] == ["this", peer]
    # the peer is the model before issue 11's limits, from its own files: another model size
    ours, theirs = (r[3:5] for r in rows)
    assert ours != theirs
    assert "1h: this code takes" in res.stdout and "x the peer's wall time" in res.stdout


def test_no_peer_measures_this_code_alone():
    res = _bench("--no-peer", "--json")
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert [r["code"] for r in rows] == ["this"] and rows[0]["evacuated_total"] > 0


def test_an_unknown_peer_is_said_in_one_line_and_ours_still_runs():
    res = _bench("--peer", "0000000000000000000000000000000000000000", "--json")
    assert res.returncode == 0, res.stderr
    said = res.stderr.strip().splitlines()
    assert len(said) == 1 and said[0].startswith("peer 0000000") and "--no-peer" in said[0]
    assert [r["code"] for r in json.loads(res.stdout)] == ["this"]


def test_a_scenario_the_peer_lacks_is_said_in_one_line(tmp_path):
    if not _has("41f41a7"):
        pytest.skip("commit 41f41a7 is not in this clone (shallow?)")
    own = tmp_path / "mine.yaml"
    own.write_text((ROOT / "scenarios" / "small-airlift.yaml").read_text())
    res = _bench("--json", scenario=str(own))
    assert res.returncode == 0, res.stderr
    said = res.stderr.strip().splitlines()
    assert len(said) == 1 and "not run (it has no" in said[0], said
    assert [r["code"] for r in json.loads(res.stdout)] == ["this"]
