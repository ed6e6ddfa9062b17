"""Measure the bottlenecks stage of planning: pricing every lever on the LP's optimal basis, and
the warm re-solves that check, settle and walk the estimates.

    .venv/bin/python benchmarks/bottlenecks.py [--scenario scenarios/kabul-2021.yaml]
        [--check 3] [--check-budget SECONDS] [--json]

Prints the LP's solve time beside the stage's: pricing (BTRAN, candidates, one FTRAN each), each
check's re-solve, and the rest (settling and walking), then the sentences. Figures are printed,
never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default=os.path.join(ROOT, "scenarios", "kabul-2021.yaml"))
    ap.add_argument("--check", type=int, default=3)
    ap.add_argument("--check-budget", type=float, default=None)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    sys.path.insert(0, ROOT)
    from evacops.network import compile_network
    from evacops.plan.binding import find_binding
    from evacops.plan.solve import lp_run
    from evacops.scenario import load

    net = compile_network(load(a.scenario))
    run = lp_run(net)
    lp_s = run.solve_s
    budget = a.check_budget if a.check_budget is not None else max(10.0, lp_s)
    marks: list[tuple[float, str]] = []
    t0 = time.perf_counter()
    found = find_binding(
        net,
        run,
        checks=a.check,
        budget_s=budget,
        progress=lambda msg: marks.append((time.perf_counter(), msg)),
    )
    total = time.perf_counter() - t0
    first_check = next((t for t, m in marks if m.startswith("checking")), t0 + total)
    settling = next((t for t, m in marks if m.startswith("settling")), t0 + total)
    out = {
        "scenario": os.path.basename(a.scenario),
        "rows": run.constraints,
        "lp_solve_s": round(lp_s, 2),
        "check_budget_s": round(budget, 2),
        "pricing_s": round(first_check - t0 if a.check else settling - t0, 2),
        "checks_s": [b.check_s and round(b.check_s, 2) for b in found[: a.check]],
        "settle_and_walk_s": round(t0 + total - settling, 2),
        "stage_s": round(total, 2),
        "sentences": [b.sentence() for b in found],
    }
    if a.json:
        print(json.dumps(out))
        return
    for k, v in out.items():
        if k != "sentences":
            print(f"{k:>18}: {v}")
    for s in out["sentences"]:
        print(" -", s)


if __name__ == "__main__":
    main()
