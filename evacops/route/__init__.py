"""Exact evacuation routing on node/edge networks, and the CCRP baseline.

Evacuees stand at the nodes of a network and must reach an exit over roads of limited capacity
per step; a plan is groups of evacuees with a path and a departure step on each road. This
package shares nothing with the planner (evacops.plan), which schedules aircraft on a scenario.
Where things live, in the order a plan is made:

- ``instance``: the instance format: :class:`NetworkInstance`, :func:`read_instance` (file:line
  errors), :func:`format_instance`/:func:`write_instance`, :func:`grid_instance` (generator),
  shortest travel to an exit and from the sources;
- ``bounds``: :func:`lower_bound` on the egress time and the exits' inflow per step, from the
  static network;
- ``expand``: :class:`StepNetwork`, the time expansion of an instance (one node per node and
  step) built by :func:`expand_instance`, and :func:`decompose` (a flow on it -> groups);
- ``flows``: OR-Tools' max flow and min-cost flow on a prefix of a step network;
- ``exact``: :func:`route_exact`, the optimal plan with its proof;
- ``ccrp``: :func:`ccrp`, the CCRP heuristic, the usual baseline;
- ``check``: :func:`validate_routes`, an independent check of any plan;
- ``result``: :class:`RouteGroup`, :class:`RouteResult` and :func:`write_groups`.
"""

from evacops.route.bounds import exit_inflow_per_step, lower_bound
from evacops.route.ccrp import ccrp
from evacops.route.check import RouteCheck, validate_routes
from evacops.route.exact import route_exact
from evacops.route.expand import StepNetwork, decompose, expand_instance
from evacops.route.flows import max_flow, min_cost_flow
from evacops.route.instance import (
    NetworkInstance,
    exit_distance,
    format_instance,
    grid_instance,
    parse_instance,
    read_instance,
    source_distance,
    write_instance,
)
from evacops.route.result import RouteGroup, RouteResult, write_groups

__all__ = [
    "NetworkInstance",
    "RouteCheck",
    "RouteGroup",
    "RouteResult",
    "StepNetwork",
    "ccrp",
    "decompose",
    "exit_distance",
    "exit_inflow_per_step",
    "expand_instance",
    "format_instance",
    "grid_instance",
    "lower_bound",
    "max_flow",
    "min_cost_flow",
    "parse_instance",
    "read_instance",
    "route_exact",
    "source_distance",
    "validate_routes",
    "write_groups",
    "write_instance",
]
