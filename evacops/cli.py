"""The evacops command line: thin, it calls the stages.

A user's mistake prints one line on stderr and exits with status 2; a traceback is a bug.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from evacops.cli_output import err, fail, out
from evacops.errors import ScenarioError, UserError

app = typer.Typer(
    help="Plan, simulate and track mass evacuations by air.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)


@app.command()
def validate(
    scenario: Annotated[Path, typer.Argument(help="scenario file (YAML or JSON)")],
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Check a scenario file; list every problem with its place in the file and the fix."""
    from evacops.scenario import load

    try:
        sc = load(scenario)
    except ScenarioError as exc:
        if as_json:
            print(json.dumps({"valid": False, "problems": exc.problems}))
        else:
            for line in exc.problems:
                err.print(f"error: {line}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    people = sum(c.size for c in sc.cohorts)
    aircraft = sum(f.count for f in sc.fleets)
    if as_json:
        print(
            json.dumps(
                {
                    "valid": True,
                    "name": sc.name,
                    "sites": len(sc.sites),
                    "legs": len(sc.legs),
                    "fleets": len(sc.fleets),
                    "aircraft": aircraft,
                    "cohorts": len(sc.cohorts),
                    "people": people,
                    "events": len(sc.events),
                }
            )
        )
        return
    out.print(
        f"[green]ok[/] {scenario}: {sc.name}: {len(sc.sites)} sites, {len(sc.legs)} legs, "
        f"{len(sc.fleets)} fleets ({aircraft} aircraft), {len(sc.cohorts)} cohorts "
        f"({people:,} people), {len(sc.events)} events",
        highlight=False,
        soft_wrap=True,
    )


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
    for k, v in rows:
        t.add_row(k, v)
    return t


def _cohort_table(s: dict) -> Table:
    t = Table(title="By cohort", title_justify="left")
    for col in ("cohort", "size", "out", "delivered", "left behind", "all out after"):
        t.add_column(col, justify="left" if col == "cohort" else "right")
    for c in s["cohorts"]:
        comp = c["completion_h"]
        t.add_row(
            c["name"],
            f"{c['size']:,}",
            f"{c['evacuated']:,}",
            f"{c['delivered']:,}",
            f"{c['left_behind']:,}",
            f"{comp:g} h" if comp is not None else "-",
        )
    return t


def _gate_table(s: dict) -> Table:
    t = Table(
        title="Crowd density in front of the gates, persons/m2: plan and everyone at once",
        title_justify="left",
    )
    for col in (
        "gate",
        "area m2",
        "plan peak",
        "plan h>=5",
        "at once peak",
        "h>=2",
        "h>=3.5",
        "h>=5",
        "h>=7",
    ):
        t.add_column(col, justify="left" if col == "gate" else "right")
    for g in s["gates"]:
        cf = g["counterfactual"]
        t.add_row(
            g["name"],
            f"{g['area_m2']:,.0f}",
            f"{g['peak_density']:.2f}",
            f"{g['hours_ge_5']:g}",
            f"{cf['peak_density']:,.1f}",
            f"{cf['hours_ge_2']:g}",
            f"{cf['hours_ge_3_5']:g}",
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


@app.command()
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
        float | None, typer.Option(help="seconds allowed for each solve (default: none)")
    ] = None,
    mip_gap: Annotated[float, typer.Option(help="relative MIP gap to stop at")] = 1e-3,
    check: Annotated[
        int, typer.Option(help="binding constraints to verify by re-solving (0 = duals only)")
    ] = 5,
    check_budget: Annotated[
        float | None,
        typer.Option(
            help="seconds each verifying re-solve may take (default: a quarter of the LP's solve "
            "time, at least 3); once one runs out, the rest are skipped"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Plan an evacuation: optimal time-phased flows, sorties and a per-aircraft schedule.

    Solves the time-expanded network with HiGHS (through linopy): people off the evacuation
    airport as early as possible (weighted by cohort priority), then onward to destinations,
    then fewer sorties. Prints a summary; with --out writes CSV/Parquet tables, PNG plots and an
    HTML report.
    """
    from evacops.plan import solve_plan
    from evacops.plan.output import write_plan
    from evacops.scenario import load, parse_duration_h

    if period is not None:
        try:
            h = parse_duration_h(period)
        except ValueError as exc:
            fail(f"--period {period}: {exc}")
        minutes = h * 60
        if (
            h <= 0
            or abs(minutes - round(minutes)) > 1e-9
            or (60 % max(1, round(minutes)) and round(minutes) % 60)
        ):
            fail(f"--period {period}: must divide an hour or be whole hours (15min, 30min, 1h)")
    if time_limit is not None and time_limit <= 0:
        fail(f"--time-limit {time_limit:g}: must be > 0 seconds")
    if check < 0:
        fail(f"--check {check}: must be 0 or more binding constraints to verify")
    if check_budget is not None and check_budget <= 0:
        fail(f"--check-budget {check_budget:g}: must be > 0 seconds")
    if not 0 <= mip_gap < 1:
        fail(f"--mip-gap {mip_gap:g}: must be between 0 and 1, e.g. 0.001")
    if fmt not in ("csv", "parquet"):
        fail(f"--format {fmt}: must be csv or parquet")
    try:
        sc = load(scenario)
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
            )
            summary = p.summary()
            if out_dir is not None:
                status.update(f"writing tables, plots and report to {out_dir}")
                digest = hashlib.sha256(Path(scenario).read_bytes()).hexdigest()
                files = write_plan(p, out_dir, fmt=fmt, scenario_digest=digest)
                summary["files"] = files
    except UserError as exc:
        fail(str(exc))
    if as_json:
        print(json.dumps(summary, default=str))
        return
    out.print(_summary_table(summary))
    out.print(_cohort_table(summary))
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
            f"  safe density {summary['safe_density_per_m2']:g}; Fruin's levels: 2 "
            "restricted, 3.5 dense, 5 dangerous, 7 critical; h = hours",
            style="dim",
            soft_wrap=True,
        )
    if summary["binding"]:
        out.print("[bold]What binds[/]")
        for b in summary["binding"]:
            out.print(f" - {b['text']}", highlight=False, soft_wrap=True)
    if out_dir is not None:
        out.print(f"Report: {summary['files']['report']}", highlight=False)


def _route_table(s: dict) -> Table:
    t = Table(title=f"Routes: {s['instance']}", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column(justify="right")
    rows = [
        ("method", s["method"]),
        ("evacuees", f"{s['evacuees']:,}"),
        ("egress (last arrival)", f"step {s['egress']}"),
        ("total arrival", f"{s['total_arrival']:,} person-steps"),
        ("mean arrival", f"step {s['total_arrival'] / max(s['evacuees'], 1):.2f}"),
        ("groups", f"{s['groups']:,}"),
        ("solve time", f"{s['solve_s']:.2f} s"),
    ]
    if s["lower_bound"] is not None:
        rows.append(("bounds on the egress", f"{s['lower_bound']} <= egress <= {s['upper_bound']}"))
    for k, v in rows:
        t.add_row(k, v)
    return t


@app.command()
def route(
    instance: Annotated[Path, typer.Argument(help="network instance file (docs/routing.md)")],
    method: Annotated[
        str, typer.Option(help="exact (optimal, with a proof) or ccrp (the CCRP heuristic)")
    ] = "exact",
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="write the groups: CSV, or JSON if FILE ends with .json"),
    ] = None,
) -> None:
    """Route evacuees on a network to its exits: least egress time, then least total arrival.

    Reads a network instance (nodes with holding capacity and evacuees, exits, roads with
    capacity per step and travel steps). `exact` solves the time-expanded network with OR-Tools
    max flows and proves that no plan ends a step earlier; `ccrp` runs the CCRP heuristic.
    """
    from evacops.plan.instances import read_instance
    from evacops.plan.routing import ccrp, route_exact, write_groups

    if method not in ("exact", "ccrp"):
        fail(f"--method {method}: must be exact or ccrp")
    try:
        inst = read_instance(instance)
        with err.status("routing", spinner="dots") as status:
            if method == "exact":
                res = route_exact(inst, progress=lambda msg: status.update(msg))
            else:
                res = ccrp(inst)
        summary = res.summary()
        if out_file is not None:
            summary["out"] = str(write_groups(res, out_file))
    except UserError as exc:
        fail(str(exc))
    if as_json:
        print(json.dumps(summary))
        return
    out.print(_route_table(summary))
    if summary["proof_text"]:
        out.print(f"Optimal: {summary['proof_text']}.", highlight=False, soft_wrap=True)
    elif method == "ccrp":
        out.print("Heuristic: no proof of optimality (use --method exact).", highlight=False)
    if out_file is not None:
        out.print(f"Groups: {summary['out']}", highlight=False, soft_wrap=True)


def _sim_tables(s: dict, daily) -> list[Table]:
    """The terminal view of `evacops simulate`: summary, per day, gates, staging bases."""

    def q(prefix: str, fmt: str = "{:,.0f}") -> str:
        vals = [s.get(f"{prefix}_p{p}") for p in (10, 50, 90)]
        return " / ".join("-" if v is None else fmt.format(v) for v in vals)

    t = Table(title=f"Simulation: {s['scenario']}", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column(justify="right")
    a = s["aircraft"]
    mode = "following the plan" if s["mode"] == "plan" else "dispatch policy (no plan)"
    rows = [
        ("runs (seed)", f"{s['runs']:,} ({s['seed']})"),
        ("aircraft", mode),
        ("randomness", "on (the scenario's uncertainty)" if s["random"] else "off"),
        (
            "engine",
            f"{s['engine']}, {s['workers']} worker{'s' * (s['workers'] > 1)}, {s['wall_s']:.1f} s",
        ),
        ("off the evacuation airport P10/P50/P90", q("evacuated")),
        ("reached a destination P10/P50/P90", q("delivered")),
        ("left behind at the deadline P10/P50/P90", q("left_behind")),
        ("everyone out after (h) P10/P50/P90", q("completion_h", "{:g}")),
        ("P(everyone out by the deadline)", f"{s['p_all_out_by_deadline']:.1%}"),
        ("sorties P50 (aborts P50)", f"{a['sorties_p50']:,.0f} ({a['aborts_p50']:,.0f})"),
        ("load factor P50", "-" if a["load_factor_p50"] is None else f"{a['load_factor_p50']:.0%}"),
        ("aircraft holding in the air P50", f"{a['air_holding_hours_p50']:,.0f} h"),
    ]
    for k, v in rows:
        t.add_row(k, v)
    tables = [t]
    d = Table(
        title="People off the evacuation airport per day (P10 / P50 / P90), flights "
        "that carried them (P50)",
        title_justify="left",
    )
    for col in ("date", "P10", "P50", "P90", "flights", "total since start P50"):
        d.add_column(col, justify="left" if col == "date" else "right")
    for day, row in daily.iterrows():
        d.add_row(
            f"{day:%d %b}",
            f"{row['out_p10']:,}",
            f"{row['out_p50']:,}",
            f"{row['out_p90']:,}",
            f"{row['flights_p50']:,}",
            f"{row['cumulative_p50']:,}",
        )
    tables.append(d)
    if s["gates"]:
        g = Table(
            title="Gates: peak crowd density (persons/m2) and person-hours at 5/m2 or "
            "more, P10 / P50 / P90",
            title_justify="left",
        )
        for col in ("gate", "area m2", "peak density", "person-hours >= 5/m2"):
            g.add_column(col, justify="left" if col == "gate" else "right")
        for row in s["gates"]:
            g.add_row(
                row["name"],
                f"{row['area_m2']:,.0f}",
                " / ".join(f"{row[f'peak_density_p{p}']:.1f}" for p in (10, 50, 90)),
                " / ".join(f"{row[f'person_hours_ge_5_p{p}']:,.0f}" for p in (10, 50, 90)),
            )
        tables.append(g)
    st = [row for row in s["staging"] if (row["peak_p50"] or 0) > 0]
    if st:
        b = Table(
            title="Staging bases: hours full and flights held because of it, P10 / P50 / P90",
            title_justify="left",
        )
        for col in (
            "staging base",
            "capacity",
            "peak P50",
            "hours full",
            "flights held",
            "diverted P50",
        ):
            b.add_column(col, justify="left" if col == "staging base" else "right")
        for row in st:
            cap = row["capacity"]
            b.add_row(
                row["name"],
                "unlimited" if cap is None else f"{cap:,.0f}",
                f"{row['peak_p50']:,.0f}",
                " / ".join(f"{row[f'hours_full_p{p}']:,.0f}" for p in (10, 50, 90)),
                " / ".join(f"{row[f'flights_held_p{p}']:,.0f}" for p in (10, 50, 90)),
                f"{row['diverted_p50']:,.0f}",
            )
        tables.append(b)
    return tables


@app.command()
def simulate(
    scenario: Annotated[Path, typer.Argument(help="scenario file (YAML or JSON)")],
    plan_dir: Annotated[
        Path | None,
        typer.Option(
            "--plan",
            help="folder written by `evacops plan SCENARIO --out DIR`: aircraft and "
            "people follow that plan (default: the dispatch policy)",
        ),
    ] = None,
    runs: Annotated[int, typer.Option(help="Monte Carlo runs")] = 200,
    seed: Annotated[int, typer.Option(help="seed of the runs' random streams")] = 0,
    engine: Annotated[str, typer.Option(help="local (processes on this machine) or dask")] = (
        "local"
    ),
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (default with --engine dask: "
            "a local cluster)"
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="worker processes (default: one per core; 2 for a local Dask cluster)"),
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="folder for tables, plots and report.html")
    ] = None,
    deterministic: Annotated[
        bool,
        typer.Option(
            "--deterministic", help="switch every random draw off (with --plan: replay the plan)"
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Simulate the operation under uncertainty: Monte Carlo runs, locally or on Dask.

    People move as counts by cohort through gates, the airport and staging bases; aircraft are
    individual. Surges, screening, gate incidents, block and ground times and aborts are drawn
    from the scenario's `uncertainty` block. Prints people out per day, left behind, completion,
    gate crowding and staging bases across runs (P10, P50, P90); with --out writes tables, plots
    and an HTML report.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from evacops.scenario import load
    from evacops.sim import prepare
    from evacops.sim import simulate as run_simulation

    if runs < 1:
        fail(f"--runs {runs}: must be 1 or more runs")
    if seed < 0:
        fail(f"--seed {seed}: must be 0 or more")
    if engine not in ("local", "dask"):
        fail(f"--engine {engine}: must be local or dask")
    if workers is not None and workers < 1:
        fail(f"--workers {workers}: must be 1 or more worker processes")
    if scheduler and engine != "dask":
        fail(
            f"--scheduler {scheduler}: a scheduler is for --engine dask; add --engine dask or "
            "leave --scheduler out"
        )
    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    task = bar.add_task("simulating", total=runs)

    def progress(done: int, total: int) -> None:
        if not err.is_terminal:  # a bar only where someone watches it
            return
        if not bar.live.is_started:
            bar.start()
        bar.update(task, completed=done, total=total)

    try:
        sc = load(scenario)
        model = prepare(sc, plan_dir, scenario)
        try:
            res = run_simulation(
                model,
                runs=runs,
                seed=seed,
                engine=engine,
                workers=workers,
                scheduler=scheduler,
                random=not deterministic,
                progress=progress,
            )
        finally:
            if bar.live.is_started:
                bar.stop()
        summary = res.summary()
        if out_dir is not None:
            from evacops.sim.output import write_simulation

            with err.status(f"writing tables, plots and report to {out_dir}", spinner="dots"):
                summary["files"] = write_simulation(res, out_dir, summary)
    except UserError as exc:
        fail(str(exc))
    if as_json:
        print(json.dumps(summary, default=str))
        return
    for table in _sim_tables(summary, res.daily()):
        out.print(table)
    if out_dir is not None:
        out.print(f"Report: {summary['files']['report']}", highlight=False)


def _registry_app() -> typer.Typer:
    from evacops.cli_registry import app as registry_app

    return registry_app


app.add_typer(_registry_app(), name="registry")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
