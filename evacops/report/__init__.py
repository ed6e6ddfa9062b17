"""Tables, plots and HTML reports shared by the stages.

- :mod:`evacops.report.plots`: the matplotlib plots (PNG);
- :mod:`evacops.report.html`: :class:`HtmlReport`, a self-contained HTML page;
- :mod:`evacops.report.folders`: :func:`make_folder`, the ``--out`` folder;
- :mod:`evacops.report.levels`: Fruin's levels of service (crowd densities), declared once;
- :mod:`evacops.report.plan` and :mod:`evacops.report.sim`: the plots and ``report.html`` of a
  plan folder and of a simulation folder.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evacops.report.folders import make_folder
    from evacops.report.html import HtmlReport
    from evacops.report.plots import (
        plot_aircraft_use,
        plot_cumulative,
        plot_daily_out,
        plot_density_bands,
        plot_fan,
        plot_gate_density,
        plot_occupancy,
        plot_occupancy_bands,
    )

# what each name is imported from, on first use (PEP 562): importing a submodule (``levels`` for
# the gates' table, say) must not load matplotlib, about 0.5 s of every command line's start
_WHERE = {
    "HtmlReport": "html",
    "make_folder": "folders",
    "plot_aircraft_use": "plots",
    "plot_cumulative": "plots",
    "plot_daily_out": "plots",
    "plot_density_bands": "plots",
    "plot_fan": "plots",
    "plot_gate_density": "plots",
    "plot_occupancy": "plots",
    "plot_occupancy_bands": "plots",
}

__all__ = [
    "HtmlReport",
    "make_folder",
    "plot_aircraft_use",
    "plot_cumulative",
    "plot_daily_out",
    "plot_density_bands",
    "plot_fan",
    "plot_gate_density",
    "plot_occupancy",
    "plot_occupancy_bands",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'evacops.report' has no attribute {name!r}")
    return getattr(importlib.import_module(f"evacops.report.{_WHERE[name]}"), name)
