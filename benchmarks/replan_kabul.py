"""Measure re-planning Kabul from a moment, beside planning it whole, in the same run.

    .venv/bin/python benchmarks/replan_kabul.py [--period 1h] [--at +96h +192h]
        [--close "Abbey Gate"] [--window 12 24 48] [--service] [--json]

Plans the scenario (LP + repair, no bottleneck checks), then re-plans from the plan's own state
at each moment (and, with --close, the what-if of that site closed from the moment). Prints for
each: seconds (LP, whole sorties, total), the re-plan's variables, people out by the deadline
over the whole operation, and the LP identity (the re-plan's LP objective plus what the plan's
flows before the moment contributed, against the plan's LP objective; equal up to what a state
does not carry over: docs/planner.md). Each re-plan is also timed with the schedule kept (the
people alone on the plan's sorties, ``--keep-schedule``: no LP, so no bound; its identity is
its whole-sortie objective plus the plan's past, against the plan's), and with --window the
aircraft re-planned for the next hours only (``--window``: the plan's sorties kept after them;
its whole-sortie gap is against that window's bound). Issue 12's target: a
re-plan from a live state <= 5 s at 1-hour periods. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--scenario", default=os.path.join(ROOT, "scenarios", "kabul-2021.yaml"))
    ap.add_argument("--period", default="1h")
    ap.add_argument("--at", nargs="+", default=["+96h", "+192h"])
    ap.add_argument("--close", help="also re-plan with this site closed from each moment")
    ap.add_argument(
        "--window",
        nargs="*",
        type=float,
        default=[],
        help="also re-plan the aircraft for these hours only (evacops replan --window)",
    )
    ap.add_argument(
        "--service",
        action="store_true",
        help="also time the service's re-plan job (evacops/plan/replan_job.py) from the plan's "
        "outline, its people waiting at the moment given as the registry would count them",
    )
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    from evacops.errors import UserError
    from evacops.network import compile_network
    from evacops.plan import solve_plan
    from evacops.plan.objective import flow_coefficients
    from evacops.plan.replan import replan, replan_people, state_from_plan, what_if
    from evacops.scenario import load

    sc = load(a.scenario)
    t0 = time.perf_counter()
    p = solve_plan(sc, period=a.period, check_binding=0)
    s = p.summary()
    rows = [
        {
            "what": f"plan, {a.period} periods",
            "lp_s": s["lp_solve_s"] + s["build_s"],
            "after_lp_s": s["after_lp_s"],
            "total_s": round(time.perf_counter() - t0, 2),
            "variables": s["variables"],
            "out_by_deadline": sum(c["out_by_deadline"] for c in s["cohorts"]),
            "whole_sortie_gap_pct": round(100 * s.get("repair", {}).get("objective_gap", 0.0), 2),
        }
    ]
    net = p.network
    coef = flow_coefficients(net)
    gate = net.site_kind == "gate"
    for at_text in a.at:
        at = net.timeline.period_ceil(at_text)
        state = state_from_plan(p, at)
        past = float((coef[:, :, :at] * p.final.flow[:, :, :at]).sum())
        past += sc.objective.gate_wait * net.period_h * float(p.final.hold[:, gate, :at].sum())
        cases = [("re-plan from the plan's state", net)]
        if a.close:
            moment = net.timeline.time_of(at)
            closed = compile_network(what_if(sc, moment, [a.close]), a.period)
            cases.append((f"what-if {a.close} closed", closed))
        for name, n in cases:
            t1 = time.perf_counter()
            r = replan(n, state, plan_sorties=p.sortie_counts.astype(float))
            identity = f"{r.plan.lp.objective + past:.6e} vs {p.final.objective:.6e}"
            rows.append(_lp_row(f"{name} at {at_text}", r, t1, identity))
            for w in a.window:
                t1 = time.perf_counter()
                try:
                    wr = replan(n, state, plan_sorties=p.sortie_counts.astype(float), window_h=w)
                except UserError as e:
                    rows.append(_row(f"{name}, aircraft for {w:g} h, at {at_text}: {e}",
                                     time.perf_counter() - t1))  # fmt: skip
                    continue
                rows.append(_lp_row(f"{name}, aircraft for the next {w:g} h, at {at_text}", wr, t1))
            # the people alone, on the plan's sorties (--keep-schedule): no LP, no bound
            t1 = time.perf_counter()
            try:
                k = replan_people(n, state, p.sortie_counts.astype(float))
            except UserError as e:
                rows.append(
                    _row(f"{name}, schedule kept, at {at_text}: {e}", time.perf_counter() - t1)
                )
                continue
            ks = k.summary()
            rows.append(
                _row(
                    f"{name}, schedule kept, at {at_text}",
                    time.perf_counter() - t1,
                    ks["variables"],
                    ks["out_by_deadline_total"],
                    f"{k.plan.final.objective + past:.6e} vs {p.final.objective:.6e}",
                )
            )
        if a.service:
            rows.append(_service_row(a, p, state, at_text))
            rows.append(_service_row(a, p, state, at_text, keep=True))
            for w in a.window:
                rows.append(_service_row(a, p, state, at_text, window=w))
    if a.json:
        print(json.dumps(rows, default=float))
        return
    head = ["what", "lp_s", "after_lp_s", "total_s", "variables", "out_by_deadline",
            "whole_sortie_gap_pct"]  # fmt: skip
    print(" | ".join(head))
    for r in rows:
        print(" | ".join(str(round(r[h], 2) if isinstance(r[h], float) else r[h]) for h in head))
    for r in rows[1:]:
        if not r["lp_identity"]:
            continue
        what = "whole sorties" if "schedule kept" in r["what"] else "LP"
        print(f"{r['what']}: re-plan's {what} + the plan's past, against the plan: "
              f"{r['lp_identity']}")  # fmt: skip


def _lp_row(what: str, r, t1: float, identity: str = "") -> dict:
    """A row of a re-plan with an LP (``r``), timed from ``t1``."""
    s = r.summary()
    return {
        "what": what,
        "lp_s": s["lp_solve_s"] + s["build_s"],
        "after_lp_s": s["after_lp_s"],
        "total_s": round(time.perf_counter() - t1, 2),
        "variables": s["variables"],
        "out_by_deadline": s["out_by_deadline_total"],
        "whole_sortie_gap_pct": round(100 * s.get("repair", {}).get("objective_gap", 0.0), 2),
        "lp_identity": identity,
    }


def _row(what: str, total: float, variables: int = 0, out: int = 0, identity: str = "") -> dict:
    """A row of a re-plan without an LP (the schedule kept): its time is all of it."""
    return {"what": what, "lp_s": 0.0, "after_lp_s": 0.0, "total_s": round(total, 2),
            "variables": variables, "out_by_deadline": out, "whole_sortie_gap_pct": "-",
            "lp_identity": identity}  # fmt: skip


def _service_row(
    a: argparse.Namespace, p, state, at_text: str, keep: bool = False, window: float | None = None
) -> dict:
    """The service's job (what POST .../replan runs in its worker), timed whole: compile the
    scenario, re-plan, write the outline; people as counts by cohort and site (no one on their
    way: the registry places people in flight at their destination; nobody already out, so its
    people out by the deadline count from the moment only); ``keep``: the schedule kept."""
    from pathlib import Path

    from evacops.plan.replan import registry_rows
    from evacops.plan.replan_job import run
    from evacops.planfolder import outline_of

    net = p.network
    outline = outline_of(p)
    people = registry_rows(net, state)
    job = {
        "scenario": Path(a.scenario).read_text(encoding="utf-8"),
        "period_h": net.period_h,
        "departures": outline["departures"],
        "people": people,
        "at": net.timeline.time_of(state.at).isoformat(),
        "what_if": {"close": [a.close] if a.close else []},
        "keep_schedule": keep,
        "window_h": window,
    }
    t1 = time.perf_counter()
    got = run(job)
    total = round(time.perf_counter() - t1, 2)
    kept = ", schedule kept," if keep else ""
    if window is not None:
        kept = f", aircraft for the next {window:g} h,"
    if "error" in got:
        return {"what": f"service job{kept} at {at_text}: {got['error']}", "lp_s": 0.0,
                "after_lp_s": 0.0, "total_s": total, "variables": 0, "out_by_deadline": 0,
                "whole_sortie_gap_pct": 0.0, "lp_identity": ""}  # fmt: skip
    res = got["result"]
    return {
        "what": f"service job{' ' + a.close + ' closed' if a.close else ''}{kept} at {at_text}",
        "lp_s": 0.0,
        "after_lp_s": 0.0,
        "total_s": total,
        "variables": 0,
        "out_by_deadline": res["out_by_deadline_total"],
        "whole_sortie_gap_pct": "-" if keep else res["whole_sortie_gap_pct"] or 0.0,
        "lp_identity": "",
    }


if __name__ == "__main__":
    main()
