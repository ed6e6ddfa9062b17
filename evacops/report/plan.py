"""The plots and ``report.html`` of a plan folder (the tables and summary.json beside them are
written by :func:`evacops.planfolder.write_plan`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from evacops.plan import whole_cost, window_search
from evacops.plan.crew_use import crew_sentence
from evacops.plan.gates import call_forward_daily, density_frame
from evacops.plan.gates import gate_densities as plan_gates
from evacops.plan.priority import priority_sentence
from evacops.planfolder import daily_out
from evacops.report.folders import make_folder
from evacops.report.html import HtmlReport
from evacops.report.plots import (
    plot_aircraft_use,
    plot_cumulative,
    plot_daily_out,
    plot_gate_density,
    plot_occupancy,
)

if TYPE_CHECKING:
    from evacops.plan import Plan


def _gate_table(gates: list[dict[str, Any]]) -> pd.DataFrame:
    """Gate crowds as a table: plan and everyone-at-once side by side."""
    rows = []
    for g in gates:
        cf = g["counterfactual"]
        rows.append(
            {
                "gate": g["name"],
                "area m2": g["area_m2"],
                "approach m": g["approach_width_m"],
                "peak /m2 (plan)": g["peak_density"],
                "wait h (plan)": g["peak_wait_h"],
                "people (at once)": cf["peak_people"],
                "peak /m2 (at once)": cf["peak_density"],
                "queue m (at once)": cf["peak_queue_m"],
                "wait h (at once)": cf["peak_wait_h"],
                "h >= 3.5 (at once)": cf["hours_ge_3_5"],
                "h >= 5 (at once)": cf["hours_ge_5"],
                "h >= 7 (at once)": cf["hours_ge_7"],
            }
        )
    return pd.DataFrame(rows).set_index("gate")


def write_plan_report(
    plan: Plan, folder: str | Path, summary: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Draw the plan's plots and write ``report.html`` into ``folder`` (``summary``: the plan's
    summary, if already at hand); return the paths written (``plots``, ``report``)."""
    out = make_folder(folder)
    summary = summary if summary is not None else plan.summary()
    files: dict[str, Any] = {}
    plots = _plots(plan, out)
    files["plots"] = [str(p) for p in plots.values()]
    files["report"] = str(_report(plan, summary, plots).write(out / "report.html"))
    return files


def _plots(plan: Plan, out: Path) -> dict[str, Path]:
    """The plan's PNG plots by name, in order (no ``gate_density`` without a gate crowd area)."""
    net = plan.network
    title = plan.scenario.name
    plots: dict[str, Path] = {}
    plots["cumulative"] = plot_cumulative(
        plan.out_cumulative(),
        out / "cumulative_out.png",
        f"{title}: people off the evacuation airport, by cohort",
        deadline=plan.scenario.deadline and net.timeline.time_of(net.deadline_period),
    )
    occ = plan.occupancy()
    cap = pd.DataFrame(net.cap.T, index=occ.index, columns=net.sites)
    shown = [
        s for i, s in enumerate(net.sites) if net.site_kind[i] != "assembly" and occ[s].max() > 0
    ]
    plots["daily"] = plot_daily_out(
        plan.daily_out().drop(columns=["total"]),
        out / "daily_out.png",
        f"{title}: people off the evacuation airport per day, by cohort",
    )
    plots["occupancy"] = plot_occupancy(
        occ[shown],
        cap[shown],
        out / "occupancy.png",
        f"{title}: people waiting at each site against its holding capacity",
    )
    plots["aircraft"] = plot_aircraft_use(
        plan.aircraft_use(),
        pd.Series(net.fleet_avail.sum(axis=0), index=plan.times),
        out / "aircraft_use.png",
        f"{title}: aircraft airborne by fleet",
    )
    dens_plan, dens_cf = density_frame(plan)
    if len(dens_plan.columns):
        plots["gate_density"] = plot_gate_density(
            dens_plan,
            dens_cf,
            out / "gate_density.png",
            f"{title}: crowd density in front of each gate",
            plan.scenario.safe_density_per_m2,
            queues={g["name"]: g["counterfactual"]["peak_queue_m"] for g in plan_gates(plan)},
        )
    return plots


def _solve_line(plan: Plan, summary: dict[str, Any]) -> str:
    """How the plan was solved, in one paragraph."""
    net = plan.network
    line = (
        f"{net.T} periods of {net.period_h:g} h; {summary['variables']:,} variables, "
        f"{summary['constraints']:,} constraints; built in {summary['build_s']:.1f} s, "
        f"solved by HiGHS in {summary['solve_s']:.1f} s (the LP in "
        f"{summary['lp_solve_s']:.1f} s, then "
        f"{'the MIP' if summary['mode'] == 'mip' else 'whole sorties'} in "
        f"{summary['after_lp_s']:.1f} s)."
    )
    if "repair" in summary:
        r = summary["repair"]
        line += (
            f" Whole sorties cost {100 * r['objective_gap']:.2f}% of the objective "
            f"against the LP bound ({r['evacuated_cost']:,} people out within the "
            "horizon)."
        )
        if r.get("search"):
            line += f" The whole sorties were found by {window_search.found_by(r['search'])}."
    if summary.get("mip_gap") is not None:
        line += f" MIP gap {100 * summary['mip_gap']:.2f}%."
    return line


def _gates_section(rep: HtmlReport, plan: Plan, summary: dict[str, Any], plot: Path | None) -> None:
    rep.heading("Gates: call-forward and crowd density")
    if plot is None:
        rep.paragraph("No gate has a crowd area (crowd_area_m2), so no crowd density is shown.")
        return
    safe = plan.scenario.safe_density_per_m2
    rep.paragraph(
        f"Assembly points call people forward so that the crowd in front of each gate stays "
        f"within {safe:g} persons/m2 (its crowd area times the safe density). The "
        "counterfactual sends everyone to the gates the moment they appear, with the gates "
        "letting people through as in the plan but slower as the crowd presses on them "
        "(faster is slower, Weidmann's fundamental diagram). A crowd packs no denser than "
        f"{plan.scenario.crowd.max_density_per_m2:g} persons/m2; the rest queue along the "
        "approach, so the table gives the queue's length in metres and the wait of the last "
        "in it. Hours at or above Fruin's levels: 2 restricted, 3.5 dense, 5 dangerous, "
        "7 critical."
    )
    rep.table(_gate_table(summary["gates"]))
    rep.image(
        plot,
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


def _bottleneck_table(found: list[dict[str, Any]]) -> pd.DataFrame:
    """The bottlenecks' numbers, one row each, with their units."""

    def people(o: dict[str, Any] | None) -> str:
        return "-" if o is None else f"{o['people_out']:,.0f}"

    rows = []
    for b in found:
        r = b["exact_up_to"]
        exact = {"closed": "", "at least": ">= "}.get(b["range"], b["range"])
        if r is not None:
            exact += f"{r:,.3g} {b['unit']}"
        best = b["checked"] or b["estimate"]
        rows.append(
            {
                "limit": b["what"] + (f", {b['days']}" if b["days"] else ""),
                "step": f"{b['step']:,g} {b['unit']}",
                "people out per step (basis)": people(b["estimate"]),
                "estimate exact up to": exact,
                "people out, re-solved": people(b["checked"]),
                "re-solve s": "-" if b["check_s"] is None else f"{b['check_s']:.1f}",
                "objective gain per step": f"{best['objective_gain']:,.0f}",
            }
        )
    return pd.DataFrame(rows).set_index("limit")


def _bottlenecks_section(rep: HtmlReport, found: list[dict[str, Any]]) -> None:
    """Bottlenecks counted in people: the sentences, then their numbers."""
    if not found:
        rep.heading("Bottlenecks")
        rep.paragraph("No limit binds: demand, not capacity, limits the plan.")
        return
    rep.heading(f"Bottlenecks, in people out by {found[0]['deadline']}")
    rep.paragraph(
        "What one more step of each limit gets out by the deadline, best first. The estimate "
        "comes from the LP's optimal basis and is exact over the range given (the plan changes "
        "linearly until the basis changes); the first ones are checked by re-solving the LP "
        "with one more step. The objective gain is in priority-weighted person-hours: what a "
        "step gains beyond more people out is people out earlier (docs/planner.md)."
    )
    rep.bullets([b["text"] for b in found])
    rep.table(_bottleneck_table(found))


def _cohorts_section(rep: HtmlReport, plan: Plan, summary: dict[str, Any], plot: Path) -> None:
    """People out per cohort by the deadline and per day, and the priority guarantee."""
    rep.heading("Per cohort")
    rep.paragraph(
        "People of each cohort off the evacuation airport by the deadline and within the "
        "horizon (evacuated), delivered to a destination, left behind at the deadline, and the "
        "hour the last of the cohort left. A cohort's priority weighs its people in the "
        "objective; " + priority_sentence(summary["priority"])
    )
    rep.table(plan.completion().drop(columns=["completion_time"]))
    rep.heading("Per day")
    rep.image(plot, "People off the evacuation airport per day, by cohort")
    rep.table(daily_out(plan))


def _whole_cost_section(rep: HtmlReport, summary: dict[str, Any]) -> None:
    """Where whole sorties cost people against the LP, if they cost any."""
    r = summary.get("repair")
    if not r or not r.get("evacuated_cost"):
        return
    cohorts, fleets = whole_cost.frames(r)
    rep.paragraph(whole_cost.heading(r))
    rep.table(cohorts)
    if len(fleets):
        rep.paragraph(whole_cost.FLEET_HEADING)
        rep.table(fleets)


def _crews_section(rep: HtmlReport, crews: dict[str, Any] | None) -> None:
    """Aircraft and fleets that fly more than their crew rate in some 24 hours (the summary's
    ``crews``, when the command line put it there)."""
    if crews is None:
        return
    rep.paragraph(crew_sentence(crews))
    if crews["aircraft_over"]:
        rep.paragraph("Aircraft over their fleet's rate per aircraft (the most in any 24 hours):")
        rep.table(
            pd.DataFrame(crews["aircraft_over"])
            .set_index("aircraft")
            .rename(columns={"sorties_24h": "sorties in 24 h", "per_aircraft": "rate"})
        )
    if crews["fleets_over"]:
        rep.paragraph("Fleets over their rate times their aircraft (the worst 24 hours):")
        names = {"sorties_24h": "sorties in 24 h", "allowed": "allowed", "ending": "ending"}
        rep.table(pd.DataFrame(crews["fleets_over"]).set_index("fleet").rename(columns=names))


def _report(plan: Plan, summary: dict[str, Any], plots: dict[str, Path]) -> HtmlReport:
    """The plan's report page: key figures, how it was solved, the bottlenecks, the plots."""
    rep = HtmlReport(f"evacops plan: {plan.scenario.name}")
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
    rep.paragraph(_solve_line(plan, summary))
    _whole_cost_section(rep, summary)
    _bottlenecks_section(rep, summary["binding"])
    rep.heading("People off the evacuation airport")
    rep.image(plots["cumulative"], "Cumulative people off the evacuation airport, by cohort")
    _cohorts_section(rep, plan, summary, plots["daily"])
    _gates_section(rep, plan, summary, plots.get("gate_density"))
    rep.heading("Sites")
    rep.image(
        plots["occupancy"], "People waiting at each site (blue) against its holding capacity (red)"
    )
    rep.heading("Aircraft")
    rep.image(plots["aircraft"], "Aircraft airborne by fleet")
    _crews_section(rep, summary.get("crews"))
    sched = plan.schedule()
    if len(sched):
        rep.heading("Per-aircraft schedule")
        rep.table(sched.drop(columns=["dep_period", "arr_period", "ready_period"]), max_rows=40)
    return rep
