"""``evacops sensitivity``: which assumptions move people out by the deadline most."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from evacops.cli.output import fail, guard, out, progress_bar


def _table(s: dict) -> Table:
    t = Table(
        title=f"People out by the deadline, each assumption at its low and high value "
        f"(base {s['base_out']:,.0f}; solved as {s['solved_as']}; largest swing first)",
        title_justify="left",
    )
    for col in ("assumption", "low", "high", "out at low", "out at high", "swing"):
        t.add_column(col, justify="left" if col == "assumption" else "right")

    def v(x: float | None, factor: bool) -> str:
        return "-" if x is None else (f"x{x:g}" if factor else f"{x:,.6g}")

    def n(row: dict, end: str) -> str:
        if row[f"out_{end}"] is None:
            return "failed"
        return f"{row[f'out_{end}']:,.0f}"

    for r in s["assumptions"]:
        factor = r["values_are"] == "factor"
        t.add_row(
            r["assumption"],
            v(r["low_value"], factor),
            v(r["high_value"], factor),
            n(r, "low"),
            n(r, "high"),
            "-" if r["swing"] is None else f"{r['swing']:,.0f}",
        )
    return t


def _write(sens, s: dict, folder: Path, scenario: Path) -> dict[str, str]:
    from evacops.plan.sensitivity import tornado
    from evacops.report.folders import make_folder
    from evacops.report.html import HtmlReport

    folder = make_folder(folder)
    table = sens.table()
    table.to_csv(folder / "sensitivity.csv")
    png = tornado(sens, folder / "tornado.png", f"{scenario.name}: people out by the deadline")
    (folder / "sensitivity.json").write_text(json.dumps(s, indent=1, default=str))
    rep = HtmlReport(f"Sensitivity: {scenario.name}")
    rep.figures(
        [
            ("people out by the deadline, base", f"{s['base_out']:,.0f}"),
            ("solved as", s["solved_as"]),
            ("assumptions varied", str(len(s["assumptions"]))),
        ]
    )
    rep.image(png, "Each assumption at its low (blue) and high (red) value, largest swing first")
    cols = ["low_value", "high_value", "values_are", "out_low", "out_high", "swing", "why"]
    rep.table(table[cols])
    failed = [r for r in s["assumptions"] if r["error_low"] or r["error_high"]]
    if failed:
        rep.heading("Variants that could not be planned")
        rep.bullets([f"{r['assumption']}: {r['error_low'] or r['error_high']}" for r in failed])
    html = rep.write(folder / "report.html")
    return {
        "csv": str(folder / "sensitivity.csv"),
        "json": str(folder / "sensitivity.json"),
        "plot": str(png),
        "report": str(html),
    }


@guard
def sensitivity(
    scenario: Annotated[Path, typer.Argument(help="scenario file (YAML or JSON)")],
    vary: Annotated[
        Path,
        typer.Option(
            help="YAML file of assumptions: name, path (e.g. sites[HKIA].holding_capacity), "
            "low and high, or factor: [low, high]; see docs/planner.md"
        ),
    ],
    period: Annotated[
        str | None,
        typer.Option(help="period length for every solve, e.g. 2h (default: the scenario's)"),
    ] = None,
    whole_sorties: Annotated[
        bool,
        typer.Option(
            "--whole-sorties",
            help="plan each variant in full (LP and repair to whole sorties); default: the LP, "
            "the bound every schedule stays under, much faster",
        ),
    ] = False,
    workers: Annotated[int, typer.Option(help="variants solved at once (processes)")] = 1,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="folder for sensitivity.csv/.json, tornado.png, report.html"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Sensitivity table: each assumption at a low and a high value, the scenario re-planned,
    people out by the deadline counted, largest swing first (one at a time, others at base).

    Every variant is validated like a scenario file; a variant that cannot be planned is
    reported as failed with its reason.
    """
    from evacops.plan.sensitivity import load_spec, run_sensitivity
    from evacops.scenario import check_period, load

    if period is not None:
        check_period(period)  # a UserError: @guard prints its one line
    if workers < 1:
        fail(f"--workers {workers}: must be 1 or more")
    load(scenario)  # the base scenario is valid before anything is varied
    spec = load_spec(vary)
    text = scenario.read_text(encoding="utf-8")
    with progress_bar("solving variants", 1 + 2 * len(spec.assumptions)) as progress:
        sens = run_sensitivity(
            text, spec, period=period, whole_sorties=whole_sorties, workers=workers,
            progress=progress,
        )  # fmt: skip
    s = sens.as_dict()
    if out_dir is not None:
        s["files"] = _write(sens, s, out_dir, scenario)
    if as_json:
        print(json.dumps(s, default=str))
        return
    out.print(_table(s))
    if out_dir is not None:
        out.print(f"Report: {s['files']['report']}", highlight=False)
