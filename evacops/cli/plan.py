"""``evacops plan``: solve the scenario's time-expanded network and print (or write) the plan."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from evacops.cli.output import err, fail, guard, out


def _summary_table(s: dict) -> Table:
    t = Table(title=f"Plan: {s['scenario']}", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column(justify="right")
    comp = s["completion_h"]
    rows = [
        ("status", f"{s['status']} ({s['mode']})"),
        ("people off the evacuation airport", f"{s['evacuated_total']:,}"),
        ("reached a destination", f"{s['delivered_total']:,}"),
        ("left behind at the deadline", f"{s['left_behind']:,}"),
        ("everyone out after", f"{comp:g} h" if comp is not None else "not everyone is out"),
        ("sorties", f"{s['sorties']:,}"),
        ("periods", f"{s['periods']} x {s['period_h']:g} h"),
        ("variables / constraints", f"{s['variables']:,} / {s['constraints']:,}"),
        ("build / solve", f"{s['build_s']:.1f} s / {s['solve_s']:.1f} s"),
        (
            "  solve: LP / " + ("MIP" if s["mode"] == "mip" else "whole sorties"),
            f"{s['lp_solve_s']:.1f} s / {s['after_lp_s']:.1f} s",
        ),
    ]
    if s.get("mip_gap") is not None:
        rows.append(("MIP gap", f"{100 * s['mip_gap']:.3f}%"))
    if "repair" in s:
        r = s["repair"]
        rows.append(
            (
                "whole sorties cost (vs LP bound)",
                f"{100 * r['objective_gap']:.2f}% objective, {r['evacuated_cost']:,} people",
            )
        )
        if r.get("search"):
            from evacops.plan.window_search import found_by

            rows.append(("  whole sorties found by", found_by(r["search"])))
    for k, v in rows:
        t.add_row(k, v)
    return t


def _cohort_table(s: dict) -> Table:
    horizon = any(c["evacuated"] != c["out_by_deadline"] for c in s["cohorts"])
    t = Table(title="By cohort (people off the evacuation airport)", title_justify="left")
    cols = ["cohort", "priority", "size", "out by deadline", "left behind"]
    cols += ["out in horizon"] * horizon + ["delivered", "all out after"]
    for col in cols:
        t.add_column(col, justify="left" if col == "cohort" else "right")
    for c in s["cohorts"]:
        comp = c["completion_h"]
        row = [c["name"], f"{c['priority']:g}", f"{c['size']:,}", f"{c['out_by_deadline']:,}"]
        row += [f"{c['left_behind']:,}"] + [f"{c['evacuated']:,}"] * horizon
        row += [f"{c['delivered']:,}", f"{comp:g} h" if comp is not None else "-"]
        t.add_row(*row)
    return t


def _daily_table(s: dict) -> Table:
    """People off the evacuation airport per day, a column per cohort (its title is printed
    above it: a narrow table would wrap it)."""
    names = [c["name"] for c in s["cohorts"]]
    t = Table()
    t.add_column("date")
    for col in [*names, "total"]:
        t.add_column(col, justify="right")
    for day in s["daily_out"]:
        counts = [day["by_cohort"][n] for n in names]
        when = date.fromisoformat(day["date"])
        t.add_row(f"{when:%d %b}", *[f"{v:,}" for v in [*counts, day["total"]]])
    sums = [sum(d["by_cohort"][n] for d in s["daily_out"]) for n in names]
    total = sum(d["total"] for d in s["daily_out"])
    t.add_row("total", *[f"{v:,}" for v in [*sums, total]], style="bold")
    return t


def _gate_table(s: dict) -> Table:
    t = Table(
        title="Crowds in front of the gates: the plan, and everyone at once (people, density "
        "at most the physical maximum, queue length, wait of the last, hours at 5 and 7/m2)",
        title_justify="left",
    )
    t.add_column("gate")
    for col in ("m2", "plan\n/m2", "plan\nwait h", "at once\npeople", "/m2", "queue m"):
        t.add_column(col, justify="right")
    for col in ("wait h", "h>=5", "h>=7"):
        t.add_column(col, justify="right")
    for g in s["gates"]:
        cf = g["counterfactual"]
        t.add_row(
            g["name"],
            f"{g['area_m2']:,.0f}",
            f"{g['peak_density']:.2f}",
            f"{g['peak_wait_h']:.1f}",
            f"{cf['peak_people']:,.0f}",
            f"{cf['peak_density']:.1f}",
            f"{cf['peak_queue_m']:,.0f}",
            f"{cf['peak_wait_h']:,.1f}",
            f"{cf['hours_ge_5']:g}",
            f"{cf['hours_ge_7']:g}",
        )
    return t


def _call_forward_table(daily) -> Table:
    t = Table()  # its title is printed above it: a narrow table would wrap it
    t.add_column("date")
    for col in daily.columns:
        t.add_column(str(col), justify="right")
    for day, row in daily.iterrows():
        t.add_row(f"{day:%d %b}", *[f"{v:,}" for v in row.to_numpy()])
    t.add_row("total", *[f"{v:,}" for v in daily.sum().to_numpy()], style="bold")
    return t


def _check_options(
    period: str | None,
    time_limit: float | None,
    check: int,
    check_budget: float | None,
    mip_gap: float,
    fmt: str,
    polish: int = 0,
    integer: bool = False,
) -> None:
    """Refuse bad option values before anything is solved or written."""
    from evacops.scenario import check_period

    if period is not None:
        check_period(period)  # a UserError: @guard prints its one line
    if time_limit is not None and time_limit <= 0:
        fail(f"--time-limit {time_limit:g}: must be > 0 seconds")
    if check < 0:
        fail(f"--check {check}: must be 0 or more bottlenecks to check")
    if check_budget is not None and check_budget <= 0:
        fail(f"--check-budget {check_budget:g}: must be > 0 seconds")
    if not 0 <= mip_gap < 1:
        fail(f"--mip-gap {mip_gap:g}: must be between 0 and 1, e.g. 0.001")
    if fmt not in ("csv", "parquet"):
        fail(f"--format {fmt}: must be csv or parquet")
    if polish < 0 or (polish and integer):
        fail(f"--polish {polish}: give 0 or more passes, without --integer (a MIP is solved whole)")


def _frame_table(df: Any) -> Table:
    """A small DataFrame (its index the first column) as a terminal table."""
    t = Table()
    t.add_column(str(df.index.name))
    for col in df.columns:
        t.add_column(str(col), justify="right")
    for key, *values in df.itertuples():
        t.add_row(str(key), *[f"{v:,}" for v in values])
    return t


def _print_whole_cost(summary: dict[str, Any]) -> None:
    """Where whole sorties cost people against the LP (cohorts, fleets), if they cost any."""
    from evacops.plan import whole_cost

    r = summary.get("repair")
    if not r or not r.get("evacuated_cost"):
        return
    cohorts, fleets = whole_cost.frames(r)
    out.print(whole_cost.heading(r), style="italic", soft_wrap=True)
    out.print(_frame_table(cohorts))
    if len(fleets):
        out.print(whole_cost.FLEET_HEADING, style="italic", soft_wrap=True)
        out.print(_frame_table(fleets))


def print_crews(crews: dict[str, Any] | None) -> None:
    """The crews sentence of a plan's or a re-plan's ``crews`` (nothing if no fleet has a crew
    rate)."""
    from evacops.plan.crew_use import crew_sentence

    if crews is not None:
        out.print(crew_sentence(crews), highlight=False, soft_wrap=True)


def _print_plan(p: Any, summary: dict[str, Any]) -> None:
    """The terminal view of a plan: summary, cohorts, call-forward, gates, bottlenecks."""
    from evacops.plan.priority import priority_sentence
    from evacops.report.levels import fruin_text

    out.print(_summary_table(summary))
    out.print(_cohort_table(summary))
    _print_whole_cost(summary)
    out.print("People off the evacuation airport per day, by cohort", style="italic")
    out.print(_daily_table(summary))
    out.print(priority_sentence(summary["priority"]), highlight=False, soft_wrap=True)
    print_crews(summary.get("crews"))
    if summary["gates"]:
        from evacops.plan.gates import call_forward_daily

        daily = call_forward_daily(p, by="gate")
        if len(daily):
            out.print("Call-forward: people to call to each gate, per day", style="italic")
            out.print(_call_forward_table(daily))
            out.print(
                "  by assembly point, cohort and period: call_forward.csv (with --out)", style="dim"
            )
        out.print(_gate_table(summary))
        out.print(
            f"  safe density {summary['safe_density_per_m2']:g}; Fruin's levels: "
            f"{fruin_text()}; h = hours",
            style="dim",
            soft_wrap=True,
        )
    _print_bottlenecks(summary["binding"])


def _print_bottlenecks(found: list[dict[str, Any]]) -> None:
    """The bottlenecks, best first: what one more step of each limit gets out by the deadline."""
    if not found:
        return
    out.print(f"[bold]Bottlenecks, in people out by {found[0]['deadline']}[/]", highlight=False)
    for b in found:
        out.print(f" - {b['text']}", highlight=False, soft_wrap=True)
    out.print(
        "  estimates from the LP's optimal basis, exact over the range given; checks re-solve "
        "the LP with one more step (--check, --check-budget)",
        style="dim",
        soft_wrap=True,
    )


Check = Annotated[
    int,
    typer.Option(
        help="bottlenecks to check by re-solving the LP with one more step (0 = estimates "
        "from the optimal basis only)"
    ),
]
CheckBudget = Annotated[
    float | None,
    typer.Option(
        help="seconds each checking re-solve may take (default: 3 times the LP's own solve "
        "time, at least 10); one that runs out is reported not checked"
    ),
]
Polish = Annotated[
    int,
    typer.Option(
        "--polish",
        help="passes of polishing the whole sorties: each pass re-plans every fleet in 48 h "
        "windows every 24 h, then one at a time the 8 fleets whose whole sorties carry the most "
        "fewer people than the LP's (the rest of the schedule kept; a change kept only if the "
        "plan gets better): nearer the LP bound, at seconds a step (docs/planner.md, Polishing)",
        metavar="PASSES",
    ),
]

FleetCrews = Annotated[
    bool,
    typer.Option(
        "--fleet-crews",
        help="hold crews to their rate for each fleet as a whole only: no whole sortie is "
        "dropped for an aircraft's crew (default: every aircraft held to its fleet's "
        "max_sorties_per_day in any 24 hours, the sorties it cannot fly dropped and the "
        "people re-flowed; the terminal says what that cost)",
    ),
]


@guard
def plan(
    scenario: Annotated[Path, typer.Argument(help="scenario file (YAML or JSON)")],
    period: Annotated[
        str | None,
        typer.Option(help="period length, e.g. 15min or 1h (default: the scenario's time.period)"),
    ] = None,
    integer: Annotated[
        bool,
        typer.Option(
            "--integer",
            help="solve a MIP with integer sorties (reports the MIP gap); default "
            "solves the LP and repairs it to whole sorties",
        ),
    ] = False,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="folder for tables, plots and report.html")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table format: csv or parquet")] = "csv",
    time_limit: Annotated[
        float | None,
        typer.Option(
            help="seconds allowed for each solve (default: none for the LP and the MIP; the "
            "repair to whole sorties 30 s, longer until it betters its first schedule, with a "
            "search window by window beside it on the other core)"
        ),
    ] = None,
    mip_gap: Annotated[float, typer.Option(help="relative MIP gap to stop at")] = 1e-3,
    check: Check = 3,
    check_budget: CheckBudget = None,
    polish_sweeps: Polish = 0,
    fleet_crews: FleetCrews = False,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Plan an evacuation: optimal time-phased flows, sorties and a per-aircraft schedule.

    Solves the time-expanded network with HiGHS (through linopy): people off the evacuation
    airport as early as possible (weighted by cohort priority), then onward to destinations,
    then fewer sorties. Prints a summary; with --out writes CSV/Parquet tables, PNG plots and an
    HTML report.
    """
    from evacops.scenario import load

    _check_options(period, time_limit, check, check_budget, mip_gap, fmt, polish_sweeps, integer)
    sc = load(scenario)
    from evacops.plan import solve_plan  # after the checks: a bad input is refused at once
    from evacops.plan.crew_use import crew_use
    from evacops.planfolder import write_plan
    from evacops.report.plan import write_plan_report

    with err.status("planning", spinner="dots") as status:
        p = solve_plan(
            sc,
            period=period,
            integer=integer,
            time_limit=time_limit,
            mip_gap=mip_gap,
            check_binding=check,
            check_budget_s=check_budget,
            progress=lambda msg: status.update(msg),
            hold_crews=not fleet_crews,
        )
        if polish_sweeps:
            from evacops.plan.polish import polish

            p = polish(p, polish_sweeps, progress=lambda msg: status.update(msg))
        summary = p.summary()
        summary["crews"] = crew_use(p)
        if out_dir is not None:
            status.update(f"writing tables, plots and report to {out_dir}")
            files = write_plan(p, out_dir, fmt=fmt, scenario_path=scenario, summary=summary)
            files |= write_plan_report(p, out_dir, summary)
            summary["files"] = files
    if as_json:
        print(json.dumps(summary, default=str))
        return
    _print_plan(p, summary)
    if out_dir is not None:
        out.print(f"Report: {summary['files']['report']}", highlight=False)
