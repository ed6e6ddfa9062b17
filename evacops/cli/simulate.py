"""``evacops simulate``: Monte Carlo runs of the operation, locally or on Dask."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from evacops.cli.output import err, fail, guard, out, progress_bar


def _sim_tables(s: dict, daily) -> list[Table]:
    """The terminal view of `evacops simulate`: summary, per day, gates, staging bases."""

    def q(prefix: str, fmt: str = "{:,.0f}") -> str:
        vals = [s.get(f"{prefix}_p{p}") for p in (10, 50, 90)]
        return " / ".join("-" if v is None else fmt.format(v) for v in vals)

    t = Table(title=f"Simulation: {s['scenario']}", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column(justify="right")
    a, o = s["aircraft"], s["operation"]
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
        ("aircraft sent off the ramp P50", f"{o['aircraft_sent_off_the_ramp_p50']:,.0f}"),
        (
            "aircraft-hours past a ground limit P50",
            f"{o['aircraft_hours_over_ground_limit_p50']:,.0f}",
        ),
        ("aircraft beyond their crew (most in a run)", f"{o['aircraft_over_crew_max']:,}"),
        ("turned away at screening P50", f"{o['people_turned_away_at_screening_p50']:,.0f}"),
        ("gave up for good P50", f"{o['people_gave_up_for_good_p50']:,.0f}"),
        ("person-hours beyond a stay limit P50", f"{o['person_hours_over_stay_p50']:,.0f}"),
    ]
    for k, v in rows:
        t.add_row(k, v)
    tables = [t, _daily_table(daily)]
    if s["gates"]:
        tables.append(_gates_table(s["gates"]))
    st = [row for row in s["staging"] if (row["peak_p50"] or 0) > 0]
    if st:
        tables.append(_staging_table(st))
    return tables


def _compare_table(days: list[dict[str, Any]], name: str) -> Table:
    t = Table(
        title=f"Your counts ({name}) beside the runs: people off the evacuation airport per day "
        "and in total (simulated P10 / P50 / P90; nothing is fitted)",
        title_justify="left",
    )
    for col in ("date", "yours", "simulated", "your total", "simulated total"):
        t.add_column(col, justify="left" if col == "date" else "right")

    def q(row: dict[str, Any], key: str) -> str:
        vals = [row[f"sim_{key}_p{p}"] for p in (10, 50, 90)]
        return "-" if vals[0] is None else " / ".join(f"{v:,}" for v in vals)

    for row in days:
        t.add_row(
            row["date"],
            f"{row['out']:,.0f}",
            q(row, "out"),
            f"{row['cumulative']:,.0f}",
            q(row, "cumulative"),
        )
    return t


def _daily_table(daily: Any) -> Table:
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
    return d


def _gates_table(gates: list[dict[str, Any]]) -> Table:
    g = Table(
        title="Gates: peak crowd density (persons/m2, at most the physical maximum), longest "
        "queue (m) and person-hours at 5/m2 or more, P10 / P50 / P90",
        title_justify="left",
    )
    for col in ("gate", "area m2", "peak density", "queue m", "person-hours >= 5/m2"):
        g.add_column(col, justify="left" if col == "gate" else "right")
    for row in gates:
        g.add_row(
            row["name"],
            f"{row['area_m2']:,.0f}",
            " / ".join(f"{row[f'peak_density_p{p}']:.1f}" for p in (10, 50, 90)),
            " / ".join(f"{row[f'peak_queue_m_p{p}']:,.0f}" for p in (10, 50, 90)),
            " / ".join(f"{row[f'person_hours_ge_5_p{p}']:,.0f}" for p in (10, 50, 90)),
        )
    return g


def _staging_table(st: list[dict[str, Any]]) -> Table:
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
        "h over stay P50",
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
            f"{row['person_hours_over_stay_p50']:,.0f}",
        )
    return b


def _check_options(
    runs: int, seed: int, engine: str, workers: int | None, scheduler: str | None
) -> None:
    """Refuse bad option values before the scenario is read."""
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


def _read_compare(path: Path | None) -> Any:
    """The user's daily counts (``--compare``), read before any work is done."""
    if path is None:
        return None
    from evacops.report.compare import read_daily_counts

    return read_daily_counts(path)


def _compare_summary(res: Any, path: Path | None, counts: Any) -> dict[str, Any]:
    from evacops.report.compare import compare_daily

    return {"file": str(path), "days": compare_daily(res.daily(), counts)}


@guard
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
    compare: Annotated[
        Path | None,
        typer.Option(
            "--compare",
            help="CSV of your own daily counts (columns date,out: people off the evacuation "
            "airport that day): drawn over the fan chart and set beside the runs; never fitted",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Simulate the operation under uncertainty: Monte Carlo runs, locally or on Dask.

    People move as counts by cohort through gates, the airport and staging bases; aircraft are
    individual. Surges, screening, gate incidents, block and ground times and aborts are drawn
    from the scenario's `uncertainty` block. Prints people out per day, left behind, completion,
    gate crowding and staging bases across runs (P10, P50, P90); with --out writes tables, plots
    and an HTML report.
    """
    from evacops.scenario import load

    _check_options(runs, seed, engine, workers, scheduler)
    counts = _read_compare(compare)
    sc = load(scenario)
    from evacops.sim import prepare  # after the checks: a bad input is refused at once
    from evacops.sim import simulate as run_simulation

    model = prepare(sc, plan_dir, scenario)
    with progress_bar("simulating", runs) as progress:
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
    _show(res, out_dir, compare, counts, as_json)


def _show(res: Any, out_dir: Path | None, compare: Path | None, counts: Any, as_json: bool) -> None:
    """Write the folder (``--out``) and print the result: one JSON object or the tables."""
    summary = res.summary()
    if counts is not None:
        summary["compare"] = _compare_summary(res, compare, counts)
    if out_dir is not None:
        from evacops.report.sim import write_simulation

        with err.status(f"writing tables, plots and report to {out_dir}", spinner="dots"):
            summary["files"] = write_simulation(res, out_dir, summary, counts)
    if as_json:
        print(json.dumps(summary, default=str))
        return
    for table in _sim_tables(summary, res.daily()):
        out.print(table)
    if counts is not None:
        out.print(_compare_table(summary["compare"]["days"], counts.name))
    if out_dir is not None:
        out.print(f"Report: {summary['files']['report']}", highlight=False)
