"""Time-expanded network, solvers, schedules and bottleneck reports.

The names below load on first use, so that ``evacops route`` (which needs only
:mod:`evacops.plan.routing`) does not pay for importing linopy and xarray.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evacops.network import Network, compile_network
    from evacops.plan.plan import Plan
    from evacops.plan.solve import solve_network, solve_plan

_WHERE = {
    "Network": "evacops.network",
    "compile_network": "evacops.network",
    "Plan": "evacops.plan.plan",
    "solve_network": "evacops.plan.solve",
    "solve_plan": "evacops.plan.solve",
}

__all__ = ["Network", "Plan", "compile_network", "solve_network", "solve_plan"]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'evacops.plan' has no attribute {name!r}")
