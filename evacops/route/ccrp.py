"""The CCRP baseline: Capacity Constrained Route Planner (Lu, George & Shekhar, 2005).

:func:`ccrp` routes the evacuees one earliest-arrival route at a time over the capacities still
free in time (:class:`_FreeCapacity`); it is fast, gives no proof, and is what the exact method
(evacops.route.exact) is measured against in benchmarks/route_vs_ccrp.py.
"""

from __future__ import annotations

import heapq
import time
from bisect import bisect_left as _bisect_left
from bisect import insort as _insort

import numpy as np

from evacops.errors import SolverError
from evacops.route.instance import NetworkInstance
from evacops.route.result import RouteGroup, RouteResult, make_group, merge_groups

_BIG = np.iinfo(np.int64).max

# a hop of a route: (node, arrival step there, edge taken, departure step on it)
Hop = tuple[int, int, int, int]


def ccrp(inst: NetworkInstance) -> RouteResult:
    """The Capacity Constrained Route Planner (Lu, George & Shekhar, 2005).

    Repeat until everyone is routed: find the earliest-arrival route from any node with people
    left to any exit over the capacities still free in time, send as many people as the route's
    bottleneck allows (people left at the source, free edge capacity at each departure step, free
    holding capacity at each step of each wait) and reserve it.

    The search is Dijkstra's on arrival steps. A route may wait at a node while its holding
    capacity has room; where a full holding capacity blocks a wait, a later arrival at that node
    is not dominated by the earlier one, so a node keeps the intervals of steps at which a route
    can be there (one interval for a node with unlimited holding: plain CCRP). The route found is
    thus the earliest over the free capacities. Evacuees already at an exit arrive at step 0.
    """
    t0 = time.perf_counter()
    state = _FreeCapacity(inst)
    groups: list[RouteGroup] = []
    left = state.left
    for v in range(inst.n_nodes):
        if inst.is_exit[v] and left[v] > 0:
            groups.append(make_group(inst, v, left[v], [], []))
            left[v] = 0
    remaining = sum(left)
    searches = 0
    while remaining > 0:
        searches += 1
        route = state.search()
        if route is None:  # cannot happen for a checked instance: sources can wait
            raise SolverError(
                f"CCRP is stuck with {remaining} evacuees left: every route from "
                "their nodes needs a wait where the holding capacity is taken"
            )
        src, hops = route
        count = state.reserve(src, hops)
        remaining -= count
        groups.append(make_group(inst, src, count, [h[2] for h in hops], [h[3] for h in hops]))
    groups = merge_groups(groups)
    egress = max((g.arrival for g in groups), default=0)
    total = sum(g.count * g.arrival for g in groups)
    return RouteResult(
        egress,
        total,
        inst.total_evacuees,
        "ccrp",
        time.perf_counter() - t0,
        None,
        None,
        None,
        groups,
        inst.name,
        {"searches": searches},
    )


def _route_to(pred: dict[tuple[int, int], Hop | None], w: int, y: int) -> tuple[int, list[Hop]]:
    """The route that reaches node ``w`` at step ``y``: (source, hops), read back from ``pred``."""
    hops = []
    key = (w, y)
    while (p := pred[key]) is not None:
        hops.append(p)
        key = (p[0], p[1])
    hops.reverse()
    return key[0], hops


class _FreeCapacity:
    """Free capacities in time, and the earliest-arrival search of CCRP over them."""

    def __init__(self, inst: NetworkInstance):
        n = self.n = inst.n_nodes
        use = inst.usable_edges()
        self.out: list[list[tuple[int, int, int]]] = [[] for _ in range(n)]
        for e, a, b, tr in zip(
            use.tolist(),
            inst.edge_from[use].tolist(),
            inst.edge_to[use].tolist(),
            inst.edge_travel[use].tolist(),
            strict=True,
        ):
            self.out[a].append((e, b, tr))
        self.cap = inst.edge_capacity.tolist()
        self.is_exit = inst.is_exit.tolist()
        self.hold_inf = np.isinf(inst.holding).tolist()
        self.hold = [
            0 if h else int(x) for h, x in zip(self.hold_inf, inst.holding.tolist(), strict=True)
        ]
        self.size = 64  # steps allocated; everything at or after self.free_from is free
        self.free_from = 0
        self.edge_free = [[c] * self.size for c in self.cap]
        # next_free[e][t]: a step t' >= t, equal to t when edge e has room at t; followed and
        # compressed like union-find, so runs of full steps are skipped at once
        self.next_free = [list(range(self.size)) for _ in self.cap]
        self.hold_free = [
            None if self.hold_inf[v] else [self.hold[v]] * self.size for v in range(n)
        ]
        self.blocked: list[list[int]] = [[] for _ in range(n)]  # steps with no holding left
        self.no_wait = [not h and x == 0 for h, x in zip(self.hold_inf, self.hold, strict=True)]
        self.left = inst.evacuees.tolist()

    def _grow(self, steps: int) -> None:
        new = max(2 * self.size, steps)
        for row, c in zip(self.edge_free, self.cap, strict=True):
            row.extend([c] * (new - self.size))
        for row in self.next_free:
            row.extend(range(self.size, new))
        for v, hrow in enumerate(self.hold_free):
            if hrow is not None:
                hrow.extend([self.hold[v]] * (new - self.size))
        self.size = new

    # -- the search ----------------------------------------------------------------------------
    def search(self) -> tuple[int, list[Hop]] | None:
        """Earliest route: (source, [(node, arrival there, edge, departure), ...]) or None."""
        is_exit, hold_inf = self.is_exit, self.hold_inf
        no_wait, blocked = self.no_wait, self.blocked
        end = [-1] * self.n  # a route can be at node v at every step up to end[v] (settled)
        pred: dict[tuple[int, int], Hop | None] = {}
        heap: list[tuple[int, int]] = []
        for v, people in enumerate(self.left):
            if people > 0:
                pred[(v, 0)] = None
                heap.append((0, v))
        heapq.heapify(heap)
        best = _BIG
        while heap:
            y, w = heapq.heappop(heap)
            if y <= end[w]:
                continue
            if is_exit[w]:
                return _route_to(pred, w, y)
            # a route there can wait until its next step with no holding left
            if hold_inf[w]:
                s = _BIG
            elif no_wait[w]:
                s = y
            else:
                bw = blocked[w]
                i = _bisect_left(bw, y)
                s = bw[i] if i < len(bw) else _BIG
            end[w] = s
            best = self._relax(w, y, s, best, end, pred, heap)
        return None

    def _relax(
        self,
        w: int,
        y: int,
        s: int,
        best: int,
        end: list[int],
        pred: dict[tuple[int, int], Hop | None],
        heap: list[tuple[int, int]],
    ) -> int:
        """Push the arrivals over the edges out of ``w`` of a route there from step ``y`` to
        step ``s``; return the earliest arrival at an exit pushed so far (``best``)."""
        next_free, is_exit, hold_inf = self.next_free, self.is_exit, self.hold_inf
        no_wait, blocked = self.no_wait, self.blocked
        size, free_from = self.size, self.free_from
        for e, x, tr in self.out[w]:
            nf = next_free[e]
            dep = y
            while True:
                # full at dep: find the next step with room (every step from free_from on has
                # room), compressing the path like union-find
                if dep < size and (r := nf[dep]) != dep:
                    while nf[r] != r:
                        r = nf[r]
                    while dep != r:
                        nxt = nf[dep]
                        nf[dep] = r
                        dep = nxt
                a = dep + tr
                if dep > s or a >= best:
                    break
                if a > end[x] and (x, a) not in pred:
                    pred[(x, a)] = (w, y, e, dep)
                    heapq.heappush(heap, (a, x))
                    if is_exit[x]:
                        best = a
                if hold_inf[x] or dep >= free_from:
                    break  # x can wait, or nothing later is full: no later departure helps
                if no_wait[x]:
                    dep += 1
                    continue
                # a later departure only helps if it arrives after x's next full step
                bx = blocked[x]
                i = _bisect_left(bx, a)
                if i == len(bx):
                    break
                dep = max(dep + 1, bx[i] - tr + 1)
        return best

    # -- reserving a route ---------------------------------------------------------------------
    def reserve(self, src: int, hops: list[Hop]) -> int:
        """Send the route's bottleneck along it; return the number of people sent."""
        count = self.left[src]
        for w, y, e, dep in hops:
            count = min(count, self.edge_free[e][dep])
            row = self.hold_free[w]
            if row is not None and dep > y:
                count = min(count, min(row[y:dep]))
        if count <= 0:
            raise SolverError("internal: CCRP found a route with no room")
        last = max(dep for _, _, _, dep in hops)
        if last + 2 > self.size:
            self._grow(last + 2)
        for w, y, e, dep in hops:
            self.edge_free[e][dep] -= count
            if self.edge_free[e][dep] == 0:
                self.next_free[e][dep] = dep + 1
            row = self.hold_free[w]
            if row is not None:
                for t in range(y, dep):
                    row[t] -= count
                    if row[t] == 0:
                        _insort(self.blocked[w], t)
        self.free_from = max(self.free_from, last + 1)
        self.left[src] -= count
        return count
