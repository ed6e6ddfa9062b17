"""The registry's report folder: ``report.html`` with its plot (people by status, and people
through each step over time) and tables, and ``report.json``, from the dict
:meth:`evacops.registry.service.Registry.report` returns. Counts only: no personal data."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from evacops.report.folders import make_folder
from evacops.report.html import HtmlReport

_STEP_COLOURS = ("#4477aa", "#ccbb44", "#228833", "#aa3377")
_TABLES = (
    ("By site", "by_site"),
    ("By cohort", "by_cohort"),
    ("By nationality", "by_nationality"),
    ("Out by nationality", "out_by_nationality"),
)


def plot_registry_counts(report: Mapping[str, Any], path: Path) -> Path:
    """People by status (bars) and, per day, people through each step, cumulative (lines)."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    st = pd.Series(report["by_status"])
    axes[0].barh(st.index, st.values, color="#4477aa")
    axes[0].set_title("People by status")
    timeline = pd.DataFrame.from_dict(report["per_day"], orient="index").sort_index()
    if len(timeline):
        cum = timeline.cumsum()
        for col, colour in zip(cum.columns, _STEP_COLOURS, strict=False):
            axes[1].plot(pd.to_datetime(cum.index), cum[col].values, marker="o", color=colour,
                         label=col.replace("_", " "))  # fmt: skip
        axes[1].legend()
        axes[1].tick_params(axis="x", rotation=45)
    axes[1].set_title("People through each step, cumulative (first time)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_registry_report(report: Mapping[str, Any], folder: str | Path) -> dict[str, Path]:
    """Write the report folder (created if need be); returns the files written: ``counts_png``,
    ``report`` (the HTML page) and ``json``."""
    folder = make_folder(folder)
    png = plot_registry_counts(report, folder / "registry-counts.png")
    page = HtmlReport(f"Registry: {report['operation']}")
    page.figures(
        [
            ("registered", f"{report['registered']:,}"),
            ("out", f"{report['out']:,}"),
            ("households split", f"{report['households_split']:,}"),
            ("unaccompanied minors", f"{report['unaccompanied_minors']:,}"),
        ]
    )
    page.image(png, "Status now, and people through each step over time")
    for title, key in _TABLES:
        page.heading(title)
        page.table(pd.DataFrame({"people": pd.Series(report[key], dtype=int)}))
    html = page.write(folder / "report.html")
    data = folder / "report.json"
    data.write_text(json.dumps(report, default=str, indent=1))
    return {"counts_png": png, "report": html, "json": data}
