"""Write a plan to a folder: tables (CSV or Parquet), PNG plots and an HTML report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from evacops.errors import UserError
from evacops.plan.gates import call_forward, call_forward_daily, density_frame
from evacops.plan import Plan
from evacops.report import (
    HtmlReport,
    make_folder,
    plot_aircraft_use,
    plot_cumulative,
    plot_gate_density,
    plot_occupancy,
)


def daily_out(plan: Plan) -> pd.DataFrame:
    """People off the evacuation airport per local calendar day, by cohort, with a total."""
    per = pd.DataFrame(plan.out_by_period.T, index=plan.times, columns=plan.network.cohorts)
    day = per.groupby(per.index.date).sum()
    day.index.name = "date"
    day["total"] = day.sum(axis=1)
    return day.round(0).astype(int)


def _gate_table(gates: list[dict[str, Any]]) -> pd.DataFrame:
    """Gate densities as a table: plan and everyone-at-once side by side."""
    rows = []
    for g in gates:
        cf = g["counterfactual"]
        rows.append(
            {
                "gate": g["name"],
                "area m2": g["area_m2"],
                "peak /m2 (plan)": g["peak_density"],
                "h >= 5 (plan)": g["hours_ge_5"],
                "peak /m2 (at once)": cf["peak_density"],
                "h >= 2 (at once)": cf["hours_ge_2"],
                "h >= 3.5 (at once)": cf["hours_ge_3_5"],
                "h >= 5 (at once)": cf["hours_ge_5"],
                "h >= 7 (at once)": cf["hours_ge_7"],
            }
        )
    return pd.DataFrame(rows).set_index("gate")


def _write_table(df: pd.DataFrame, folder: Path, name: str, fmt: str) -> Path:
    if fmt == "parquet":
        path = folder / f"{name}.parquet"
        df.to_parquet(path)
    else:
        path = folder / f"{name}.csv"
        df.to_csv(path, index=not isinstance(df.index, pd.RangeIndex))
    return path


def write_plan(
    plan: Plan, folder: str | Path, fmt: str = "csv", scenario_digest: str | None = None
) -> dict[str, Any]:
    """Write every output of ``plan`` into ``folder``; return the paths written."""
    if fmt not in ("csv", "parquet"):  # before anything is written
        raise UserError(f"--format {fmt}: must be csv or parquet")
    out = make_folder(folder)
    net = plan.network
    summary = plan.summary()
    if scenario_digest:
        summary["scenario_sha256"] = scenario_digest
    files: dict[str, Any] = {}
    tables = {
        "people": plan.people(),
        "flows": plan.flows(),
        "sorties": plan.sorties(),
        "schedule": plan.schedule(),
        "completion": plan.completion(),
        "daily_out": daily_out(plan),
        "call_forward": call_forward(plan),
    }
    for name, df in tables.items():
        files[name] = str(_write_table(df, out, name, fmt))
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    files["summary"] = str(out / "summary.json")

    title = plan.scenario.name
    cum = plan.out_cumulative()
    p1 = plot_cumulative(
        cum,
        out / "cumulative_out.png",
        f"{title}: people off the evacuation airport, by cohort",
        deadline=plan.scenario.deadline and net.timeline.time_of(net.deadline_period),
    )
    occ = plan.occupancy()
    cap = pd.DataFrame(net.cap.T, index=occ.index, columns=net.sites)
    shown = [
        s for i, s in enumerate(net.sites) if net.site_kind[i] != "assembly" and occ[s].max() > 0
    ]
    p2 = plot_occupancy(
        occ[shown],
        cap[shown],
        out / "occupancy.png",
        f"{title}: people waiting at each site against its holding capacity",
    )
    p3 = plot_aircraft_use(
        plan.aircraft_use(),
        pd.Series(net.fleet_avail.sum(axis=0), index=plan.times),
        out / "aircraft_use.png",
        f"{title}: aircraft airborne by fleet",
    )
    files["plots"] = [str(p1), str(p2), str(p3)]
    dens_plan, dens_cf = density_frame(plan)
    p4 = None
    if len(dens_plan.columns):
        p4 = plot_gate_density(
            dens_plan,
            dens_cf,
            out / "gate_density.png",
            f"{title}: crowd density in front of each gate",
            plan.scenario.safe_density_per_m2,
        )
        files["plots"].append(str(p4))

    rep = HtmlReport(f"evacops plan: {title}")
    if plan.scenario.description:
        rep.paragraph(plan.scenario.description)
    comp_h = summary["completion_h"]
    rep.figures(
        [
            ("people off the evacuation airport", f"{summary['evacuated_total']:,}"),
            ("reached a destination", f"{summary['delivered_total']:,}"),
            ("left behind at the deadline", f"{summary['left_behind']:,}"),
            ("everyone out after", f"{comp_h:g} h" if comp_h is not None else "not everyone out"),
            ("sorties", f"{summary['sorties']:,}"),
            ("status", f"{summary['status']} ({summary['mode']})"),
        ]
    )
    solve_line = (
        f"{net.T} periods of {net.period_h:g} h; {summary['variables']:,} variables, "
        f"{summary['constraints']:,} constraints; built in {summary['build_s']:.1f} s, "
        f"solved by HiGHS in {summary['solve_s']:.1f} s (the LP in "
        f"{summary['lp_solve_s']:.1f} s, then "
        f"{'the MIP' if summary['mode'] == 'mip' else 'whole sorties'} in "
        f"{summary['after_lp_s']:.1f} s)."
    )
    if "repair" in summary:
        r = summary["repair"]
        solve_line += (
            f" Whole sorties cost {100 * r['objective_gap']:.2f}% of the objective "
            f"against the LP bound ({r['evacuated_cost']:,} people out within the "
            "horizon)."
        )
    if summary.get("mip_gap") is not None:
        solve_line += f" MIP gap {100 * summary['mip_gap']:.2f}%."
    rep.paragraph(solve_line)
    rep.heading("What binds")
    if plan.binding:
        rep.bullets([b.sentence() for b in plan.binding])
    else:
        rep.paragraph("No capacity constraint binds: demand, not capacity, limits the plan.")
    rep.heading("People off the evacuation airport")
    rep.image(p1, "Cumulative people off the evacuation airport, by cohort")
    rep.heading("Per cohort")
    rep.table(tables["completion"].drop(columns=["completion_time"]))
    rep.heading("Per day")
    rep.table(tables["daily_out"])
    rep.heading("Gates: call-forward and crowd density")
    if p4 is None:
        rep.paragraph("No gate has a crowd area (crowd_area_m2), so no crowd density is shown.")
    else:
        safe = plan.scenario.safe_density_per_m2
        rep.paragraph(
            f"Assembly points call people forward so that the crowd in front of each gate stays "
            f"within {safe:g} persons/m2 (its crowd area times the safe density). The "
            "counterfactual sends everyone to the gates the moment they appear, with the gates "
            "letting people through as in the plan. Hours at or above Fruin's levels: 2 "
            "restricted, 3.5 dense, 5 dangerous, 7 critical."
        )
        rep.table(_gate_table(summary["gates"]))
        rep.image(
            p4,
            "Crowd density in front of each gate: the call-forward plan (blue) and "
            "everyone at once (grey, cut at 10 persons/m2)",
        )
        daily = call_forward_daily(plan)
        if len(daily):
            rep.paragraph(
                "People called forward per day, from each assembly point to each gate "
                "(per period and cohort in call_forward.csv):"
            )
            rep.table(daily)
    rep.heading("Sites")
    rep.image(p2, "People waiting at each site (blue) against its holding capacity (red)")
    rep.heading("Aircraft")
    rep.image(p3, "Aircraft airborne by fleet")
    sched = tables["schedule"]
    if len(sched):
        rep.heading("Per-aircraft schedule")
        rep.table(sched.drop(columns=["dep_period", "arr_period", "ready_period"]), max_rows=40)
    files["report"] = str(rep.write(out / "report.html"))
    return files
