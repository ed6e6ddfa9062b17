"""Measure the Dask engine against the local engine on the Kabul scenario (following the plan).

    .venv/bin/python benchmarks/sim_dask.py [--plan DIR] [--runs 1000] [--workers 2] [--json]

Runs the same runs (same seed) on the local engine (a process pool of --workers) and on a Dask
LocalCluster of --workers single-threaded worker processes, checks that they give the same
numbers, and prints both times: with the cluster's start and stop, and the runs alone. Target
(issue 4): Dask within 1.3x of the local engine. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from sim_kabul import KABUL, kabul_plan  # noqa: E402

from evacops.scenario import load  # noqa: E402
from evacops.sim import prepare, simulate  # noqa: E402
from evacops.sim.engines import local_cluster  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--plan", type=Path, default=None)
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    md = prepare(load(KABUL), a.plan or kabul_plan(), KABUL)

    local = simulate(md, runs=a.runs, seed=a.seed, workers=a.workers)

    from dask.distributed import Client

    t0 = time.perf_counter()
    cluster = local_cluster(a.workers)
    start_s = time.perf_counter() - t0
    with Client(cluster):
        addr = cluster.scheduler_address
        dask = simulate(
            md, runs=a.runs, seed=a.seed, engine="dask", workers=a.workers, scheduler=addr
        )
    t1 = time.perf_counter()
    cluster.close()
    stop_s = time.perf_counter() - t1
    # the engine's own LocalCluster, started and stopped inside the run (evacops simulate
    # --engine dask without --scheduler)
    own = simulate(md, runs=a.runs, seed=a.seed, engine="dask", workers=a.workers)

    same = all(
        np.array_equal(local.rec[k], dask.rec[k]) and np.array_equal(local.rec[k], own.rec[k])
        for k in local.rec
    )
    row = {
        "runs": a.runs,
        "workers": a.workers,
        "cores": os.cpu_count(),
        "local_s": round(local.wall_s, 2),
        "dask_runs_s": round(dask.wall_s, 2),
        "dask_cluster_start_s": round(start_s, 2),
        "dask_cluster_stop_s": round(stop_s, 2),
        "dask_with_own_cluster_s": round(own.wall_s, 2),
        "ratio_runs": round(dask.wall_s / local.wall_s, 2),
        "ratio_with_own_cluster": round(own.wall_s / local.wall_s, 2),
        "same_results": same,
    }
    if a.json:
        print(json.dumps(row, indent=2))
        return
    print(
        f"Dask vs local engine: Kabul, {a.runs:,} runs, {a.workers} workers "
        f"({os.cpu_count()} cores)"
    )
    for k, v in row.items():
        print(f"  {k:28s} {v}")
    print("  goal: Dask within 1.3x of the local engine")


if __name__ == "__main__":
    main()
