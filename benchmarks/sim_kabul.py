"""Measure the simulator on the Kabul scenario: 1,000 Monte Carlo runs with the local engine.

    .venv/bin/python benchmarks/sim_kabul.py [--plan DIR] [--runs 1000] [--workers 2]
                                             [--modes plan policy] [--json]

`plan`: aircraft and people follow the Kabul plan (solved first, minutes, into
out/bench/kabul-plan unless --plan gives one, or reused from there if it is the plan of the
current scenario file); `policy`: the dispatch policy, no plan. Each mode prints the wall time
of the runs (the engine's own time: process pool, batches, gathering), the time per run, and
the P10/P50/P90 of people out and left behind. Target (issue 4): 1,000 runs in <= 60 s on
2 cores. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evacops.plan import solve_plan  # noqa: E402
from evacops.planfolder import scenario_digest, write_plan  # noqa: E402
from evacops.scenario import load  # noqa: E402
from evacops.sim import prepare, simulate  # noqa: E402

KABUL = ROOT / "scenarios" / "kabul-2021.yaml"
PLAN_DIR = ROOT / "out" / "bench" / "kabul-plan"


def kabul_plan(folder: Path = PLAN_DIR) -> Path:
    """The Kabul plan's folder: reused if it is the plan of the current scenario file."""
    summary = folder / "summary.json"
    digest = scenario_digest(KABUL)
    if summary.exists() and json.loads(summary.read_text()).get("scenario_sha256") == digest:
        return folder
    print(f"solving the Kabul plan into {folder} (minutes; once)", file=sys.stderr)
    p = solve_plan(load(KABUL), check_binding=0)
    write_plan(p, folder, scenario_path=KABUL)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--plan", type=Path, default=None)
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--modes", nargs="+", default=["plan", "policy"])
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    sc = load(KABUL)
    rows = []
    for mode in a.modes:
        t0 = time.perf_counter()
        md = prepare(sc, a.plan or kabul_plan(), KABUL) if mode == "plan" else prepare(sc)
        prep_s = time.perf_counter() - t0
        res = simulate(md, runs=a.runs, seed=a.seed, workers=a.workers)
        s = res.summary()
        rows.append(
            {
                "mode": mode,
                "runs": a.runs,
                "workers": a.workers,
                "cores": os.cpu_count(),
                "prepare_s": round(prep_s, 2),
                "runs_s": round(res.wall_s, 2),
                "ms_per_run": round(1000 * res.wall_s / a.runs, 1),
                "evacuated_p10_p50_p90": [
                    s["evacuated_p10"],
                    s["evacuated_p50"],
                    s["evacuated_p90"],
                ],
                "left_behind_p10_p50_p90": [
                    s["left_behind_p10"],
                    s["left_behind_p50"],
                    s["left_behind_p90"],
                ],
                "p_all_out_by_deadline": s["p_all_out_by_deadline"],
            }
        )
    if a.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"Kabul simulation benchmark: {KABUL.name}, local engine ({os.cpu_count()} cores)")
    print("  prepare: load the scenario (and the plan's tables), compile the network")
    print("  runs: the Monte Carlo runs on the local engine; target 1,000 runs <= 60 s")
    for r in rows:
        print(
            f"  {r['mode']:6s} {r['runs']:,} runs x {r['workers']} workers: "
            f"prepare {r['prepare_s']:.1f} s, runs {r['runs_s']:.1f} s "
            f"({r['ms_per_run']:.1f} ms/run); out P10/P50/P90 "
            f"{'/'.join(f'{x:,.0f}' for x in r['evacuated_p10_p50_p90'])}; left behind "
            f"{'/'.join(f'{x:,.0f}' for x in r['left_behind_p10_p50_p90'])}"
        )


if __name__ == "__main__":
    main()
