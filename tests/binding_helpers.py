"""Helpers of the bottleneck tests: a lever applied to the network itself (an independent way
to say what the lever changes, through the model code rather than the lever's right-hand
sides), and what a cold solve of a network gives."""

from __future__ import annotations

import dataclasses

import numpy as np

from evacops.network import Network
from evacops.plan.levers import KIND, Lever
from evacops.plan.solve import solve_network

# kinds whose change is a network array that varies in time (any window), or a constant one
# (only a lever over the whole horizon); stays and dwells have no array to change
_IN_TIME = {
    "departure_slots": "dep_rate",
    "arrival_slots": "arr_rate",
    "runway_movements": "mov_rate",
    "holding": "cap",
}
_CONSTANT = {"processing": "rate", "ground_leg": "arc_cap", "parking": "mog"}


def changed(net: Network, lever: Lever, steps: float) -> Network | None:
    """``net`` with ``steps`` steps of ``lever`` made in its arrays (None if the arrays cannot
    say it: a constant array changed over part of the horizon, or a stay limit)."""
    kind = KIND[lever.kind]
    e, a, b = lever.entity, lever.start, lever.end
    amount = kind.step * steps
    whole = (a, b) == (0, net.T)
    if lever.kind in _IN_TIME:
        arr = getattr(net, _IN_TIME[lever.kind]).copy()
        arr[e, a:b] += amount
        return dataclasses.replace(net, **{_IN_TIME[lever.kind]: arr})
    if not whole:
        return None
    if lever.kind in _CONSTANT:
        arr = getattr(net, _CONSTANT[lever.kind]).copy()
        per_period = lever.kind in ("processing", "ground_leg")
        arr[e] += amount * (net.period_h if per_period else 1.0)
        return dataclasses.replace(net, **{_CONSTANT[lever.kind]: arr})
    if lever.kind == "crew":
        arr = net.fleet_sorties_day.copy()
        arr[e] += amount
        return dataclasses.replace(net, fleet_sorties_day=arr)
    if lever.kind == "maintenance":
        arr = net.fleet_up.copy()
        arr[e] += amount / 24.0
        return dataclasses.replace(net, fleet_up=arr)
    if lever.kind == "aircraft":
        count, avail = net.fleet_count.copy(), net.fleet_avail.copy()
        count[e] += amount
        avail[e] = np.where(avail[e] > 0, avail[e] + amount, 0.0)
        return dataclasses.replace(net, fleet_count=count, fleet_avail=avail)
    return None


def people_out(net: Network, flow: np.ndarray) -> float:
    """People off the evacuation airport before the deadline, from a flow array."""
    return float(flow[:, net.out_arcs, : net.deadline_period].sum())


def cold(net: Network) -> tuple[float, float]:
    """(people out by the deadline, objective) of a fresh solve of ``net``."""
    sol = solve_network(net, duals=False)
    return people_out(net, sol.flow), sol.objective
