"""The day table of docs/fidelity.md ("What the plan and the simulation predict, day by day"),
made from today's code in one run, so that the table is regenerated, not edited by hand.

    python tools/fidelity_days.py [--scenario scenarios/kabul-2021.yaml] [--period 1h]
        [--runs 200] [--seed 0] [--out DIR]

It plans the scenario (``evacops plan SCENARIO --check 0``: LP and whole sorties, no bottleneck
re-solves), simulates the plan and the dispatch policy (``evacops simulate``, the same runs and
seed), and prints the table as Markdown with the headline figures above it: people off the
evacuation airport per local day in the plan, split by the operator of the aircraft that flew
them out (the scenario's first operator, US for Kabul, against the others), the plan's
departures (those carrying anyone), and the simulations' P10 / P50 / P90. ``--out`` keeps the
plan folder (otherwise a temporary one). Counts only; no person is named anywhere.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "kabul-2021.yaml"))
    ap.add_argument("--period", default="1h")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="folder to keep the plan in (default: a temporary one)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run(a, Path(a.out) if a.out else Path(tmp) / "plan")


def run(a: argparse.Namespace, folder: Path) -> None:
    from evacops.plan import solve_plan
    from evacops.planfolder import write_plan
    from evacops.scenario import load
    from evacops.sim import prepare, simulate

    sc = load(a.scenario)
    t0 = time.perf_counter()
    plan = solve_plan(sc, period=a.period, check_binding=0)
    plan_s = time.perf_counter() - t0
    write_plan(plan, folder, scenario_path=a.scenario)
    sims = {}
    for name, plan_dir in (("plan", folder), ("policy", None)):
        t1 = time.perf_counter()
        model = prepare(sc, plan_dir, a.scenario)
        res = simulate(model, runs=a.runs, seed=a.seed, workers=os.cpu_count())
        sims[name] = (res, time.perf_counter() - t1)
    s = plan.summary()
    repair = s.get("repair") or {}
    lead = sc.fleets[0].operator
    net = plan.network
    lp_out = float(plan.lp.flow[:, net.out_arcs, : net.deadline_period].sum())
    out = sum(c["out_by_deadline"] for c in s["cohorts"])
    print(f"plan: {a.period} periods, {plan_s:.1f} s; {out:,.0f} people off "
          f"{sc.evacuation_airport} by the deadline ({s['delivered_total']:,.0f} delivered) in "
          f"{s['sorties']:,} sorties; the LP {lp_out:,.0f}; whole sorties "
          f"{100 * repair.get('objective_gap', 0.0):.2f} % under the LP bound")  # fmt: skip
    for c in s["cohorts"]:
        print(f"  {c['name']}: {c['out_by_deadline']:,.0f} of {c['size']:,.0f} out by the "
              f"deadline, all out by {c['completion_h']} h" if c["completion_h"] is not None
              else f"  {c['name']}: {c['out_by_deadline']:,.0f} of {c['size']:,.0f}")  # fmt: skip
    for name, (res, took) in sims.items():
        r = res.summary()
        print(f"simulation ({name}): {a.runs} runs, seed {a.seed}, {took:.1f} s; people off "
              f"the airport P10 / P50 / P90: {_q(r, 'evacuated')}; left behind "
              f"{_q(r, 'left_behind')}")  # fmt: skip
    print()
    print(table(plan, sc, lead, sims["plan"][0].daily(), sims["policy"][0].daily()))


def _q(d: dict, what: str) -> str:
    return " / ".join(f"{d[f'{what}_{k}']:,.0f}" for k in ("p10", "p50", "p90"))


def plan_days(plan, sc, lead: str) -> pd.DataFrame:
    """Per local day: the plan's people off the evacuation airport (its ``daily_out`` total),
    those flown out by ``lead``'s aircraft, the departures out of the airport and those with
    anyone on board."""
    ops = {f.name: f.operator for f in sc.fleets}
    sch = plan.schedule()
    sch = sch[(sch["origin"] == sc.evacuation_airport) & (sch["direction"] == "outbound")]
    day = pd.to_datetime(sch["departure"]).dt.date
    lead_out = sch["load"].where(sch["fleet"].map(ops) == lead, 0).groupby(day).sum()
    days = plan.daily_out()
    return pd.DataFrame(
        {
            "out": days["total"],
            "lead": lead_out.reindex(days.index, fill_value=0),
            "departures": day.value_counts().reindex(days.index, fill_value=0),
            "with_people": day[sch["load"] > 0].value_counts().reindex(days.index, fill_value=0),
        }
    )


def table(plan, sc, lead: str, follow: pd.DataFrame, policy: pd.DataFrame) -> str:
    """The Markdown table: one row per day of the plan or the simulations."""
    p = plan_days(plan, sc, lead)
    index = sorted(set(p.index) | set(follow.index) | set(policy.index))
    head = (f"| day | plan out ({lead} aircraft / other nations') | plan cumulative | plan "
            "departures (with people) | following the plan P10 / P50 / P90 | cumulative P50 | "
            "flights P50 | dispatch policy P50 (cumulative) |")  # fmt: skip
    lines = [head, "|---" * 8 + "|"]
    cum = 0
    for d in index:
        row = p.loc[d] if d in p.index else pd.Series(0, index=p.columns)
        cum += int(row["out"])
        f = follow.loc[d] if d in follow.index else None
        q = policy.loc[d] if d in policy.index else None
        lines.append(
            f"| {d:%d %b} | {int(row['out']):,} ({int(row['lead']):,} / "
            f"{int(row['out'] - row['lead']):,}) | {cum:,} | {int(row['departures'])} "
            f"({int(row['with_people'])}) | "
            + (f"{f.out_p10:,} / {f.out_p50:,} / {f.out_p90:,} | {f.cumulative_p50:,} | "
               f"{f.flights_p50:,}" if f is not None else "- | - | -")
            + (f" | {q.out_p50:,} ({q.cumulative_p50:,}) |" if q is not None else " | - |")
        )  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    main()
