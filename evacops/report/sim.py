"""A simulation written to a folder (``evacops simulate --out DIR``): tables (CSV),
``summary.json``, PNG plots of the spreads across runs and ``report.html``."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from evacops.report.compare import compare_daily, cumulative_points
from evacops.report.folders import make_folder
from evacops.report.html import HtmlReport
from evacops.report.plots import plot_density_bands, plot_fan, plot_occupancy_bands

if TYPE_CHECKING:
    from evacops.sim.results import SimResult


def write_simulation(
    res: SimResult,
    folder: str | Path,
    summary: dict[str, Any] | None = None,
    compare: pd.Series | None = None,
) -> dict[str, Any]:
    """Write every output of ``res`` into ``folder``; return the paths written (``compare``:
    a user's own people out per day, drawn over the fan chart and tabled beside the runs)."""
    out = make_folder(folder)
    summary = summary if summary is not None else res.summary()
    files: dict[str, Any] = {}
    tables = {
        "daily": res.daily(),
        "runs": res.runs(),
        "gates": res.gates(),
        "staging": res.staging(),
        "aircraft": res.aircraft(),
        "cumulative_out": res.cumulative_quantiles(),
    }
    for name, df in tables.items():
        path = out / f"{name}.csv"
        df.to_csv(path)
        files[name] = str(path)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    files["summary"] = str(out / "summary.json")
    plots = _plots(res, out, summary, compare)
    files["plots"] = [str(p) for p in plots.values()]
    rep = _report(res, summary, tables, plots)
    if compare is not None:
        rep.heading(f"Your counts ({compare.name}) beside the runs")
        rep.paragraph(
            "People off the evacuation airport per day as given in your file, with its running "
            "total, beside the simulated P10/P50/P90. Nothing is fitted to them."
        )
        rep.table(pd.DataFrame(compare_daily(res.daily(), compare)).set_index("date"))
    files["report"] = str(rep.write(out / "report.html"))
    return files


def _plots(
    res: SimResult, out: Path, summary: dict[str, Any], compare: pd.Series | None = None
) -> dict[str, Path]:
    """The simulation's PNG plots by name, in order (``density`` only with a gate crowd area,
    ``staging`` only where anyone reaches a staging base)."""
    md = res.model
    title = md.name
    deadline = (
        md.start + timedelta(hours=md.deadline_period * md.period_h)
        if md.deadline_period < md.T
        else None
    )
    plots = {
        "fan": plot_fan(
            res.cumulative_quantiles(),
            out / "sim_cumulative_out.png",
            f"{title}: people off the evacuation airport across {res.runs_n:,} runs",
            deadline=deadline,
            plan=res.plan_cumulative(),
            observed=None if compare is None else cumulative_points(compare, md.start.tzinfo),
        )
    }
    dens = res.density_quantiles()
    if dens:
        safe = float(summary.get("safe_density_per_m2", 2.0))
        plots["density"] = plot_density_bands(
            dens,
            out / "sim_gate_density.png",
            f"{title}: crowd density in front of each gate",
            safe,
        )
    occ = res.staging_quantiles()
    if occ:
        plots["staging"] = plot_occupancy_bands(
            occ,
            out / "sim_staging.png",
            f"{title}: people at each staging base against its capacity",
        )
    return plots


def _key_figures(rep: HtmlReport, res: SimResult, s: dict[str, Any]) -> None:
    def q(key: str, fmt: str = "{:,.0f}") -> str:
        vals = [s.get(f"{key}_p{p}") for p in (10, 50, 90)]
        return " / ".join("-" if v is None else fmt.format(v) for v in vals)

    rep.paragraph(
        f"{res.runs_n:,} runs from seed {res.seed} ({res.engine} engine); aircraft "
        + ("follow the plan" if res.mode == "plan" else "follow the dispatch policy (no plan)")
        + (
            "; randomness from the scenario's uncertainty block."
            if res.random
            else "; no randomness (a replay)."
        )
        + " Figures are P10 / P50 / P90 across runs."
    )
    rep.figures(
        [
            ("off the evacuation airport", q("evacuated")),
            ("reached a destination", q("delivered")),
            ("left behind at the deadline", q("left_behind")),
            ("everyone out after (h)", q("completion_h", "{:g}")),
            ("P(everyone out by the deadline)", f"{s['p_all_out_by_deadline']:.1%}"),
            ("sorties P50", f"{s['aircraft']['sorties_p50']:,.0f}"),
        ]
    )


def _report(
    res: SimResult,
    summary: dict[str, Any],
    tables: dict[str, pd.DataFrame],
    plots: dict[str, Path],
) -> HtmlReport:
    """The simulation's report page: key figures, per day, gates, staging bases, aircraft."""
    rep = HtmlReport(f"evacops simulate: {res.model.name}")
    _key_figures(rep, res, summary)
    rep.heading("People off the evacuation airport")
    rep.image(
        plots["fan"],
        "Cumulative people off the evacuation airport: P50 (line), P25-P75 and "
        "P10-P90 (bands)" + ("; the plan dashed" if res.mode == "plan" else ""),
    )
    rep.heading("Per day")
    rep.paragraph(
        "People off the evacuation airport per local day and the total since the "
        "start, with the flights that carried them, in total and by operator (P50)."
    )
    rep.table(tables["daily"])
    rep.heading("Gates: crowd density")
    if "density" not in plots:
        rep.paragraph("No gate has a crowd area (crowd_area_m2), so no density is shown.")
    else:
        rep.paragraph(
            "Peak density in front of each gate and person-hours spent in a crowd of "
            "5 persons/m2 or more (Fruin's 'dangerous' level), across runs."
        )
        rep.table(tables["gates"])
        rep.image(
            plots["density"],
            "Crowd density in front of each gate: P50 and P10-P90 across runs (cut "
            "at 10 persons/m2)",
        )
    _staging_section(rep, tables["staging"], plots.get("staging"))
    rep.heading("Aircraft")
    rep.table(tables["aircraft"])
    rep.heading("Runs")
    rep.table(tables["runs"], max_rows=20)
    return rep


def _staging_section(rep: HtmlReport, st: pd.DataFrame, plot: Path | None) -> None:
    rep.heading("Staging bases")
    if len(st):
        rep.paragraph(
            "Hours each staging base was full, flights held at their origin because "
            "it was full (and the aircraft-hours they waited), flights diverted from "
            "it."
        )
        rep.table(st)
    if plot is not None:
        rep.image(
            plot,
            "People at each staging base: P50 and P10-P90 across runs, against its "
            "holding capacity (red)",
        )
