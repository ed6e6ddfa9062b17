"""tools/fidelity_days.py makes docs/fidelity.md's day table from one run: on a small scenario
here (seconds), its days add up to the plan it wrote, and every row has the simulations'
figures."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "fidelity_days.py"


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def test_the_day_table_adds_up_to_the_plan_it_wrote(tmp_path):
    folder = tmp_path / "plan"
    args = ["--scenario", str(ROOT / "scenarios" / "small-airlift.yaml"), "--runs", "4"]
    res = subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--out", str(folder)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    rows = [line for line in res.stdout.splitlines() if re.match(r"\| \d\d [A-Z][a-z]{2} \|", line)]
    assert rows, res.stdout
    summary = json.loads((folder / "summary.json").read_text())
    cum = 0
    for line in rows:
        cells = [c.strip() for c in line.strip("|").split("|")]
        out, lead, other = map(
            _int, re.match(r"([\d,]+) \(([\d,]+) / ([\d,]+)\)", cells[1]).groups()
        )
        assert lead + other == out and lead >= 0 and other >= 0
        cum += out
        assert _int(cells[2]) == cum
        departures, with_people = map(int, re.match(r"(\d+) \((\d+)\)", cells[3]).groups())
        assert with_people <= departures
        assert re.fullmatch(r"[\d,]+ / [\d,]+ / [\d,]+|-", cells[4])
    assert cum == round(summary["evacuated_total"])
    assert "simulation (plan): 4 runs" in res.stdout and "simulation (policy)" in res.stdout
