"""Bounds on the egress time read from the static network, before any step network is built.

:func:`lower_bound` is where the exact search (evacops.route.exact) starts: no plan can end
earlier. :func:`exit_inflow_per_step` caps how fast people can reach the exits, which the search
uses to step forward and to bound the arrival profile.
"""

from __future__ import annotations

import numpy as np

from evacops.route.instance import NetworkInstance, exit_distance, source_distance

_BIG = np.iinfo(np.int64).max


def _min_horizon(cap: np.ndarray, ready: np.ndarray, people: int) -> int:
    """Least T with sum(cap * max(0, T - ready + 1)) >= people (ready: first arrival step)."""
    if people <= 0:
        return 0
    ok = ready < _BIG // 4
    cap, ready = cap[ok], ready[ok]
    if cap.sum() <= 0:
        return _BIG // 4
    lo, hi = int(ready.min()), int(ready.max()) + people  # f(hi) >= people since cap >= 1
    while lo < hi:
        mid = (lo + hi) // 2
        if int((cap * np.maximum(0, mid - ready + 1)).sum()) >= people:
            hi = mid
        else:
            lo = mid + 1
    return lo


def lower_bound(
    inst: NetworkInstance, dsrc: np.ndarray | None = None, dexit: np.ndarray | None = None
) -> int:
    """A lower bound on the egress time from the static network.

    The largest of: the shortest travel time from a node with evacuees to an exit; and cut
    bounds: everyone inside a set X of nodes must last leave X on an edge (u, w) departing at
    some step t >= (earliest anyone can be at u), arriving at an exit no earlier than
    t + travel + (shortest travel from w), so by horizon T the edge carries at most
    ``capacity * (T - ready + 1)`` of them. X runs over the singletons of the nodes with
    evacuees and the sets {v : shortest travel to an exit >= r} for every r (r = 1 is the cut
    in front of the exits).
    """
    dsrc = source_distance(inst) if dsrc is None else dsrc
    dexit = exit_distance(inst) if dexit is None else dexit
    src = np.flatnonzero((inst.evacuees > 0) & ~inst.is_exit)
    if len(src) == 0:
        return 0
    best = int(dexit[src].max())
    use = inst.usable_edges()
    u, w = inst.edge_from[use], inst.edge_to[use]
    cap, tau = inst.edge_capacity[use], inst.edge_travel[use]
    reach = (dsrc[u] < _BIG) & (dexit[w] < _BIG)
    u, w, cap, tau = u[reach], w[reach], cap[reach], tau[reach]
    ready = dsrc[u] + tau + dexit[w]
    people_at = np.where(inst.is_exit, 0, inst.evacuees)
    fin = np.where(dexit < _BIG, dexit, -1)
    for r in range(1, int(dexit[src].max()) + 1):
        cross = (dexit[u] >= r) & (dexit[w] < r)
        inside = int(people_at[fin >= r].sum())
        best = max(best, _min_horizon(cap[cross], ready[cross], inside))
    for s in src.tolist():
        out = u == s
        best = max(best, _min_horizon(cap[out], ready[out], int(inst.evacuees[s])))
    return best


def exit_inflow_per_step(inst: NetworkInstance) -> int:
    """People who can reach the exits per step at most: the capacity of the roads into exits."""
    use = inst.usable_edges()
    into = use[inst.is_exit[inst.edge_to[use]]]
    return int(inst.edge_capacity[into].sum())
