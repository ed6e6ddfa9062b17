"""Write a simulation to a folder: tables (CSV), PNG plots and an HTML report."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from evacops.report import (
    HtmlReport,
    make_folder,
    plot_density_bands,
    plot_fan,
    plot_occupancy_bands,
)
from evacops.sim.results import SimResult


def write_simulation(
    res: SimResult, folder: str | Path, summary: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Write every output of ``res`` into ``folder``; return the paths written."""
    out = make_folder(folder)
    md = res.model
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

    title = md.name
    deadline = (
        md.start + timedelta(hours=md.deadline_period * md.period_h)
        if md.deadline_period < md.T
        else None
    )
    p1 = plot_fan(
        res.cumulative_quantiles(),
        out / "sim_cumulative_out.png",
        f"{title}: people off the evacuation airport across {res.runs_n:,} runs",
        deadline=deadline,
        plan=res.plan_cumulative(),
    )
    files["plots"] = [str(p1)]
    dens = res.density_quantiles()
    p2 = None
    if dens:
        safe = float(summary.get("safe_density_per_m2", 2.0))
        p2 = plot_density_bands(
            dens,
            out / "sim_gate_density.png",
            f"{title}: crowd density in front of each gate",
            safe,
        )
        files["plots"].append(str(p2))
    occ = res.staging_quantiles()
    p3 = None
    if occ:
        p3 = plot_occupancy_bands(
            occ,
            out / "sim_staging.png",
            f"{title}: people at each staging base against its capacity",
        )
        files["plots"].append(str(p3))

    rep = HtmlReport(f"evacops simulate: {title}")
    s = summary

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
    rep.heading("People off the evacuation airport")
    rep.image(
        p1,
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
    if p2 is None:
        rep.paragraph("No gate has a crowd area (crowd_area_m2), so no density is shown.")
    else:
        rep.paragraph(
            "Peak density in front of each gate and person-hours spent in a crowd of "
            "5 persons/m2 or more (Fruin's 'dangerous' level), across runs."
        )
        rep.table(tables["gates"])
        rep.image(
            p2,
            "Crowd density in front of each gate: P50 and P10-P90 across runs (cut "
            "at 10 persons/m2)",
        )
    rep.heading("Staging bases")
    st = tables["staging"]
    if len(st):
        rep.paragraph(
            "Hours each staging base was full, flights held at their origin because "
            "it was full (and the aircraft-hours they waited), flights diverted from "
            "it."
        )
        rep.table(st)
    if p3 is not None:
        rep.image(
            p3,
            "People at each staging base: P50 and P10-P90 across runs, against its "
            "holding capacity (red)",
        )
    rep.heading("Aircraft")
    rep.table(tables["aircraft"])
    rep.heading("Runs")
    rep.table(tables["runs"], max_rows=20)
    files["report"] = str(rep.write(out / "report.html"))
    return files
