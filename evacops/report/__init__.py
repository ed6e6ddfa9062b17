"""Tables, plots and HTML reports shared by the stages.

- :mod:`evacops.report.plots`: the matplotlib plots (PNG);
- :mod:`evacops.report.html`: :class:`HtmlReport`, a self-contained HTML page;
- :mod:`evacops.report.folders`: :func:`make_folder`, the ``--out`` folder;
- :mod:`evacops.report.levels`: Fruin's levels of service (crowd densities), declared once;
- :mod:`evacops.report.plan` and :mod:`evacops.report.sim`: the plots and ``report.html`` of a
  plan folder and of a simulation folder.

Import from the submodule itself: the package imports nothing, so a command that needs only
:mod:`~evacops.report.levels` (the gates' table) does not load matplotlib.
"""
