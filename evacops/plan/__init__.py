"""The planner: an optimal schedule of people and sorties on the time-expanded network.

A newcomer reads the modules in this order:

- :mod:`~evacops.plan.variables`: the variables (``Move-sorties``, ``Station-idle``,
  ``Site-hold``, ``Arc-flow``), indexed like :class:`evacops.network.Network`'s arrays;
- :mod:`~evacops.plan.constraints`: the constraint families, one ``define_*`` function each
  (rows gathered with :mod:`~evacops.plan.rows`);
- :mod:`~evacops.plan.objective`: what is minimised, as pure functions;
- :mod:`~evacops.plan.assemble`: the plan model and the aircraft-only repair model, each put
  together explicitly;
- :mod:`~evacops.plan.highs`: a model handed to HiGHS and kept for warm re-solves;
- :mod:`~evacops.plan.solve`: LP + repair, or MIP (:func:`solve_plan`);
- :mod:`~evacops.plan.binding`: bottlenecks counted in people (levers priced on the LP's basis,
  :mod:`~evacops.plan.levers`, :mod:`~evacops.plan.basis`), checked by re-solves;
- :mod:`~evacops.plan.result`: :class:`Plan`, the tables a planner uses;
- :mod:`~evacops.plan.gates`: the call-forward schedule and the crowd at each gate.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evacops.plan.result import Plan
    from evacops.plan.solve import solve_network, solve_plan

__all__ = ["Plan", "solve_network", "solve_plan"]

# imported on first use (PEP 562): a light submodule (the sensitivity file's reader, the
# what-if's changes) must not load linopy, pandas and xarray, about 1.3 s of a command's start
_WHERE = {"Plan": "result", "solve_network": "solve", "solve_plan": "solve"}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'evacops.plan' has no attribute {name!r}")
    return getattr(importlib.import_module(f"evacops.plan.{_WHERE[name]}"), name)
