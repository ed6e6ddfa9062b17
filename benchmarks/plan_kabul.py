"""Measure planning the Kabul scenario: build and solve time and peak memory, per period length,
beside the peer: the same benchmark on the code and scenario of another commit (default
41f41a7, the planner as issue 11 was filed, before the limits real operations have).

    .venv/bin/python benchmarks/plan_kabul.py [--scenario scenarios/kabul-2021.yaml]
        [--periods 1h [15min ...]] [--integer] [--polish N] [--peer COMMIT | --no-peer] [--json]

Each period length runs in a fresh process so that its peak memory (max RSS) is its own; the
peer runs after it, from its own files (`git archive`, so this must be a git checkout), with its
own version of the scenario. Targets: issue 11, planning Kabul at 1-hour periods no slower than
the peer; issue 12, 1-hour periods <= 20 s with whole sorties, 15-minute periods <= 120 s.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def one(scenario: str, period: str, integer: bool, polish_passes: int = 0) -> dict:
    """Run in this process: compile, build, solve (LP + repair, or MIP; ``polish_passes`` of
    polishing after the repair, evacops plan --polish); no binding checks."""
    sys.path.insert(0, ROOT)
    from evacops.plan import solve_plan
    from evacops.scenario import load

    t0 = time.perf_counter()
    sc = load(scenario)
    stages: list[tuple[float, str]] = []
    p = solve_plan(
        sc,
        period=period,
        integer=integer,
        check_binding=0,
        progress=lambda msg: stages.append((time.perf_counter(), msg)),
    )
    if polish_passes:
        from evacops.plan.polish import polish

        p = polish(p, polish_passes)
    total = time.perf_counter() - t0
    # the LP stage ends where the next stage (binding duals) begins
    lp_end = next((t for t, msg in stages if msg.startswith("reading the binding")), t0 + total)
    s = p.summary()
    return {
        "period": period,
        "mode": s["mode"] + ("+polish" if polish_passes else ""),
        "periods": s["periods"],
        "variables": s["variables"],
        "constraints": s["constraints"],
        "build_s": s["build_s"],
        "solve_s": s["solve_s"],
        "lp_s": round(lp_end - t0, 2),
        "after_lp_s": round(t0 + total - lp_end, 2),
        "end_to_end_s": round(total, 2),
        # CPU seconds of this process: a fairer figure than wall time on a busy machine
        "cpu_s": round(sum(resource.getrusage(resource.RUSAGE_SELF)[:2]), 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "evacuated_total": s["evacuated_total"],
        "left_behind": s["left_behind"],
        "objective": s["objective"],
        "lp_bound": s["lp_bound"],
        "mip_gap": s["mip_gap"],
        # every aircraft held to its crew (none before 8 Dec, so none in the peer's)
        "crews_held": getattr(p, "crews_held", None),
    }


PEER = "41f41a7"
"""The planner as issue 11 was filed ("today's" planning, about 115 s at 1-hour periods then)."""


def child(root: str, scenario: str, period: str, integer: bool, polish_passes: int = 0) -> dict:
    """One period's figures from the benchmark script under ``root`` (ours or the peer's)."""
    cmd = [sys.executable, os.path.join(root, "benchmarks", "plan_kabul.py")]
    cmd += ["--scenario", scenario, "--child", period] + (["--integer"] if integer else [])
    cmd += ["--polish", str(polish_passes)] if polish_passes else []
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        print(res.stderr, file=sys.stderr)
        sys.exit(res.returncode)
    return json.loads(res.stdout.strip().splitlines()[-1])


def peer_tree(commit: str, into: str) -> str | None:
    """Extract ``commit``'s files into ``into``; None (and a line saying why) if it cannot."""
    try:
        archive = subprocess.run(
            ["git", "-C", ROOT, "archive", commit], capture_output=True, check=False
        )
    except OSError as e:
        why = f"git: {e.strerror}"
    else:
        if archive.returncode == 0:
            subprocess.run(["tar", "-x", "-C", into], input=archive.stdout, check=True)
            return into
        why = "not a commit of this clone"
    print(f"peer {commit}: not run ({why}); fetch it, or pass --no-peer", file=sys.stderr)
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--scenario", default=os.path.join(ROOT, "scenarios", "kabul-2021.yaml"))
    ap.add_argument(
        "--periods", nargs="+", default=["1h"], help="period lengths (15min does not finish today)"
    )
    ap.add_argument("--integer", action="store_true", help="solve the MIP instead of LP+repair")
    ap.add_argument("--peer", default=PEER, help=f"commit to measure beside (default {PEER})")
    ap.add_argument("--no-peer", action="store_true", help="measure this code alone")
    ap.add_argument(
        "--polish",
        type=int,
        default=0,
        help="this code only: also plan with this many passes of polishing (evacops plan "
        "--polish), a second row",
    )
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(one(a.scenario, a.child, a.integer, a.polish)))
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="evacops-peer-") as tmp:
        peer = None if a.no_peer else peer_tree(a.peer, tmp)
        rel = os.path.relpath(os.path.abspath(a.scenario), ROOT)
        theirs = os.path.join(tmp, rel)  # the peer's own version of the scenario file
        if peer is not None and (rel.startswith(os.pardir) or not os.path.isfile(theirs)):
            say = f"peer {a.peer}: not run (it has no {a.scenario}); pass --no-peer"
            print(say, file=sys.stderr)
            peer = None
        for period in a.periods:
            rows.append({"code": "this", **child(ROOT, a.scenario, period, a.integer)})
            if a.polish:
                rows.append({"code": "this", **child(ROOT, a.scenario, period, False, a.polish)})
            if peer is not None:
                rows.append({"code": a.peer, **child(peer, theirs, period, a.integer)})
    if a.json:
        print(json.dumps(rows, indent=2))
        return
    targets = {"1h": 20.0, "15min": 120.0}  # issue 12
    print(f"Kabul planning benchmark: {a.scenario} ({os.cpu_count()} cores)")
    print("  LP s: load, compile, build and solve the LP (the bound every schedule is held to);")
    print("  repair s: whole sorties and people re-flowed on them (or the MIP with --integer)")
    print("  total s is wall time; cpu s the process's CPU time (the same on an idle machine)")
    print("  code: this checkout, or the peer commit with its own scenario (issue 11: no slower)")
    head = (
        "code",
        "period",
        "mode",
        "vars",
        "cons",
        "LP s",
        "repair s",
        "total s",
        "cpu s",
        "target s",
        "peak MiB",
        "out",
        "left",
        "gap %",
    )
    line = "{:>8} {:>7} {:>17} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9} {:>6}"
    print(line.format(*head))
    for r in rows:
        print(
            "{:>8} {:>7} {:>17} {:>9,} {:>9,} {:>8.1f} {:>8.1f} {:>8.1f} {:>8.1f} {:>8} {:>9,.0f} "
            "{:>9,} {:>9,} {:>6}".format(
                r["code"],
                r["period"],
                r["mode"],
                r["variables"],
                r["constraints"],
                r["lp_s"],
                r["after_lp_s"],
                r["end_to_end_s"],
                r["cpu_s"],
                targets.get(r["period"], "-"),
                r["peak_rss_mib"],
                r["evacuated_total"],
                r["left_behind"],
                _gap(r),
            )
        )
    print("  gap %: the whole sorties' objective under the LP bound (issue 12: within 1 %)")
    for r in rows:
        held = r.get("crews_held")
        if held:
            print(
                f"{r['code']} {r['period']}: every aircraft held to its crew: "
                f"{held['sorties_dropped']} sorties dropped, {held['out_by_deadline_lost']:,} "
                "fewer people out by the deadline than on the fleets' rates alone"
                + ("" if held["kept"] else f" (not kept: {held.get('reason')})")
            )
    for period in a.periods:
        pair = [r for r in rows if r["period"] == period and "polish" not in r["mode"]]
        if len(pair) == 2:
            ours, theirs = pair
            wall = ours["end_to_end_s"] / theirs["end_to_end_s"]
            cpu = ours["cpu_s"] / theirs["cpu_s"]
            print(f"{period}: this code takes {wall:.2f}x the peer's wall time, {cpu:.2f}x its CPU")


def _gap(r: dict) -> str:
    """The whole sorties' objective under the LP bound, in per cent (objectives are minimised
    and negative), or "-" where the row has no bound."""
    obj, lp = r.get("objective"), r.get("lp_bound")
    if obj is None or not lp:
        return "-"
    return f"{100 * (obj - lp) / abs(lp):.2f}"


if __name__ == "__main__":
    main()
