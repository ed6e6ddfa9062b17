"""Time-expanded network, solvers, schedules and bottleneck reports."""

from evacops.plan.network import Network, compile_network
from evacops.plan.plan import Plan
from evacops.plan.solve import solve_network, solve_plan

__all__ = ["Network", "Plan", "compile_network", "solve_network", "solve_plan"]
