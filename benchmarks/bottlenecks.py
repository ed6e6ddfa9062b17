"""Measure the bottlenecks stage of planning: pricing every lever on the LP's optimal basis, and
the warm re-solves that check, settle and walk the estimates.

    .venv/bin/python benchmarks/bottlenecks.py [--scenario scenarios/kabul-2021.yaml]
        [--period 1h] [--check 3] [--check-budget SECONDS] [--one-at-a-time] [--json]

Prints the LP's solve time beside the stage's: pricing (BTRAN, candidates, one FTRAN each), each
check's re-solve, the checks' wall time (two at a time where two cores are free), and the rest
(settling and walking), then the sentences. ``--one-at-a-time`` runs the stage again on the
same LP with one core's worth of checks, side by side. Figures are printed, never asserted.
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
    ap.add_argument("--period", default=None, help="period length (default: the scenario's)")
    ap.add_argument("--one-at-a-time", action="store_true", help="also check one at a time")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    sys.path.insert(0, ROOT)
    from evacops.network import compile_network
    from evacops.plan import binding
    from evacops.plan.solve import check_budget, lp_run
    from evacops.scenario import load

    net = compile_network(load(a.scenario), a.period)
    run = lp_run(net)
    lp_s = run.solve_s
    budget = a.check_budget
    if budget is None:
        budget = check_budget(lp_s)  # evacops plan's default
    if not a.json:
        print(f"LP solved in {lp_s:.1f} s; each check may take {budget:.0f} s", flush=True)
    rows = [stage(net, run, a.check, budget, "two at a time where two cores are free", a.json)]
    if a.one_at_a_time:
        binding.free_cores = lambda: 1  # type: ignore[assignment]
        rows.append(stage(net, run, a.check, budget, "one at a time", a.json))
    out = {
        "scenario": os.path.basename(a.scenario),
        "periods": net.T,
        "rows": run.constraints,
        "lp_solve_s": round(lp_s, 2),
        "check_budget_s": round(budget, 2),
        "stages": rows,
    }
    if a.json:
        print(json.dumps(out))
        return
    for k, v in out.items():
        if k != "stages":
            print(f"{k:>18}: {v}")
    for s in rows[0]["sentences"]:
        print(" -", s)


def stage(net, run, checks: int, budget: float, how: str, quiet: bool) -> dict:
    """The bottlenecks stage on the solved LP ``run`` (its basis restored after), timed;
    printed as soon as it ends unless ``quiet``."""
    from evacops.plan.binding import find_binding

    marks: list[tuple[float, str]] = []
    t0 = time.perf_counter()
    found = find_binding(
        net,
        run,
        checks=checks,
        budget_s=budget,
        progress=lambda msg: marks.append((time.perf_counter(), msg)),
    )
    total = time.perf_counter() - t0
    first_check = next((t for t, m in marks if m.startswith("checking")), t0 + total)
    settling = next((t for t, m in marks if m.startswith("settling")), t0 + total)
    row = {
        "checks": how,
        "pricing_s": round(first_check - t0 if checks else settling - t0, 2),
        "checks_s": [b.check_s and round(b.check_s, 2) for b in found[:checks]],
        "checked_people": [b.checked and round(b.checked.people) for b in found[:checks]],
        "checks_wall_s": round(settling - first_check, 2) if checks else 0.0,
        "settle_and_walk_s": round(t0 + total - settling, 2),
        "stage_s": round(total, 2),
        "sentences": [b.sentence() for b in found],
    }
    if not quiet:
        print()
        for k, v in row.items():
            if k != "sentences":
                print(f"{k:>18}: {v}", flush=True)
    return row


if __name__ == "__main__":
    main()
