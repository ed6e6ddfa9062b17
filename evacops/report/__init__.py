"""Tables, plots and HTML reports shared by the stages.

- :mod:`evacops.report.plots`: the matplotlib plots (PNG);
- :mod:`evacops.report.html`: :class:`HtmlReport`, a self-contained HTML page;
- :mod:`evacops.report.folders`: :func:`make_folder`, the ``--out`` folder;
- :mod:`evacops.report.levels`: Fruin's levels of service (crowd densities), declared once;
- :mod:`evacops.report.plan` and :mod:`evacops.report.sim`: the plots and ``report.html`` of a
  plan folder and of a simulation folder.
"""

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
