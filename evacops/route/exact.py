"""Exact evacuation routing on a time-expanded network, the CCRP heuristic, and a plan checker.

The problem (docs/routing.md): evacuees stand at the nodes of a network at t = 0 and must reach an
exit; an edge admits at most ``capacity`` people per step and takes ``travel`` steps; at most
``holding`` people may wait at a node between t and t+1. Find a plan that minimises the egress
time (the step at which the last evacuee arrives) and then the total arrival time.

:func:`route_exact` solves it to optimality:

1. **Time-expanded network** for a horizon H: node (v, t) for t = 0..H; an arc (u, t) -> (v, t+τ)
   per edge and step with the edge's capacity; a holdover arc (v, t) -> (v, t+1) with the holding
   capacity; a super source feeding (v, 0) with the evacuees of v; (exit, t) -> sink with cost t.
   It is built with numpy index arithmetic (no Python loop per arc), pruned to the (v, t) that can
   be reached from a source by t and can still reach an exit by H, and its arcs are sorted by the
   last horizon they matter for, so the network of any horizon T <= H is a *prefix* of the arrays.
2. **Egress time T\\***: the least T whose maximum flow is all the evacuees (OR-Tools max flow).
   The search starts at a lower bound (shortest travel to an exit, and cut bounds: the people
   inside a set of nodes must cross its boundary in time), steps by where the last probe's
   arrivals would get everyone out at their recent rate (never less than the exits' inflow
   allows), and closes by bisection; each probe is a max flow on a prefix of one network.
3. **Total arrival**: any plan has at most A(θ) = (max flow by step θ) people out by step θ, so
   its total arrival, the sum over θ < T\\* of the people not yet out, is at least
   sum_θ (E - A(θ)). Earliest arrival flows exist for one sink (the out-by-step vectors form a
   polymatroid), so a plan reaches that sum: the probes' min cuts and flows pin A(θ) for every
   θ (a few more probes at early steps, which are small prefixes), and one max flow whose
   arrivals at step θ are capped at A(θ) - A(θ-1) finds the plan. ``total_by="min-cost-flow"``
   gets the same optimum from OR-Tools' min-cost flow at T\\* (cost = arrival step), about ten
   times slower on large grids.
4. **Proof**: the max flow at T\\*-1 is below the number of evacuees, so no plan ends before T\\*.
5. **Groups**: the integral flow is decomposed into (source, count, path, departure step on each
   edge); a departure later than the arrival at a node is a wait there.

:func:`ccrp` is the Capacity Constrained Route Planner of Lu, George & Shekhar (2005), the usual
baseline; :func:`validate_routes` checks any plan independently of both.
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
import time
from bisect import bisect_left as _bisect_left
from bisect import insort as _insort
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evacops.errors import InfeasibleError, SolverError, UserError
from evacops.route.instance import NetworkInstance, exit_distance, source_distance

_BIG = np.iinfo(np.int64).max

# arc families in the time-expanded network
SOURCE, EDGE, HOLD, SINK = 0, 1, 2, 3


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RouteGroup:
    """``count`` evacuees of node ``source`` who travel together.

    They take edges ``edges`` (indices into the instance), i.e. the nodes ``path``, entering
    edge ``i`` at step ``departures[i]``; a departure later than the arrival at that node is a
    wait there. A group whose source is an exit has one node, no edge, and arrives at step 0.
    """

    source: int
    count: int
    path: tuple[int, ...]
    departures: tuple[int, ...]
    edges: tuple[int, ...]
    arrival: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "count": self.count,
            "path": list(self.path),
            "departures": list(self.departures),
            "edges": list(self.edges),
            "arrival": self.arrival,
        }


@dataclass
class RouteResult:
    """A routing plan and what is known about its optimality.

    ``proof`` is the maximum flow of the time-expanded network at horizon ``egress - 1`` (exact
    method only): fewer than ``evacuees`` people can reach an exit by then, so no plan has a
    smaller egress. ``lower_bound`` and ``upper_bound`` bracket the egress before the search.
    """

    egress: int
    total_arrival: int
    evacuees: int
    method: str
    solve_s: float
    lower_bound: int | None
    upper_bound: int | None
    proof: int | None
    groups: list[RouteGroup]
    instance: str = ""
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def proof_text(self) -> str | None:
        if self.proof is None:
            return None
        return (
            f"egress {self.egress - 1} is infeasible: at most {self.proof} of "
            f"{self.evacuees} evacuees reach an exit by step {self.egress - 1}"
        )

    def summary(self) -> dict[str, Any]:
        """A JSON-able summary (no groups)."""
        return {
            "instance": self.instance,
            "method": self.method,
            "egress": self.egress,
            "total_arrival": self.total_arrival,
            "evacuees": self.evacuees,
            "solve_s": round(self.solve_s, 4),
            "lower_bound": self.lower_bound,
            "upper_bound": self.upper_bound,
            "proof": self.proof,
            "proof_text": self.proof_text,
            "groups": len(self.groups),
            "stats": self.stats,
        }


def write_groups(result: RouteResult, path: str | Path) -> Path:
    """Write the groups of a plan: CSV (source, count, path, departures, arrival, edges; lists
    space-separated), or JSON (the summary and the groups) if ``path`` ends with ``.json``."""
    p = Path(path)
    if p.suffix.lower() == ".json":
        doc = {**result.summary(), "groups": [g.as_dict() for g in result.groups]}
        text = json.dumps(doc) + "\n"
    else:
        lines = ["source,count,path,departures,arrival,edges"]
        for g in result.groups:
            lines.append(
                f"{g.source},{g.count},{' '.join(map(str, g.path))},"
                f"{' '.join(map(str, g.departures))},{g.arrival},{' '.join(map(str, g.edges))}"
            )
        text = "\n".join(lines) + "\n"
    try:
        p.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(
            f"{p}: cannot be written ({exc.strerror}); check that its folder exists and is writable"
        ) from None
    return p


def _make_group(
    inst: NetworkInstance, source: int, count: int, edges: Sequence[int], departures: Sequence[int]
) -> RouteGroup:
    edges = tuple(int(e) for e in edges)
    departures = tuple(int(d) for d in departures)
    path = (int(source), *(int(inst.edge_to[e]) for e in edges))
    arrival = departures[-1] + int(inst.edge_travel[edges[-1]]) if edges else 0
    return RouteGroup(int(source), int(count), path, departures, edges, arrival)


def _merge_groups(groups: list[RouteGroup]) -> list[RouteGroup]:
    """Sum the counts of groups with the same source, edges and departures."""
    merged: dict[tuple, RouteGroup] = {}
    for g in groups:
        key = (g.source, g.edges, g.departures)
        old = merged.get(key)
        merged[key] = (
            g
            if old is None
            else RouteGroup(g.source, old.count + g.count, g.path, g.departures, g.edges, g.arrival)
        )
    return sorted(merged.values(), key=lambda g: (g.arrival, g.source, g.departures, g.edges))


# ---------------------------------------------------------------------------------------------
# bounds
# ---------------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------------
# the time-expanded network
# ---------------------------------------------------------------------------------------------
def _ranges(lo: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For items i with ``count[i]`` steps from ``lo[i]``: (item index, step) per (i, step)."""
    count = np.maximum(count, 0)
    item = np.repeat(np.arange(len(count)), count)
    first = np.cumsum(count) - count
    step = np.arange(int(count.sum()), dtype=np.int64) - np.repeat(first - lo, count)
    return item, step


@dataclass
class TimeExpandedNetwork:
    """The arcs of the time-expanded network for horizon ``horizon``, sorted by ``need``.

    Node (v, t) has index ``t * n + v``; ``source`` and ``sink`` follow. ``need[a]`` is the
    smallest horizon at which arc ``a`` can carry flow to the sink, so the network of horizon
    T <= ``horizon`` is the prefix ``[:prefix(T)]``. ``kind``/``ref``/``step`` decode an arc:
    SOURCE (node), EDGE (edge index, departure step), HOLD (node, step t of (v,t)->(v,t+1)),
    SINK (exit, arrival step).
    """

    horizon: int
    n: int
    source: int
    sink: int
    evacuees: int
    tail: np.ndarray
    head: np.ndarray
    cap: np.ndarray
    cost: np.ndarray
    need: np.ndarray
    kind: np.ndarray
    ref: np.ndarray
    step: np.ndarray

    @property
    def n_arcs(self) -> int:
        return int(self.tail.shape[0])

    @property
    def n_nodes(self) -> int:
        return (self.horizon + 1) * self.n + 2

    def prefix(self, T: int) -> int:
        """Number of arcs of the network of horizon T."""
        return int(np.searchsorted(self.need, T, side="right"))


def build_network(
    inst: NetworkInstance,
    horizon: int,
    dsrc: np.ndarray | None = None,
    dexit: np.ndarray | None = None,
) -> TimeExpandedNetwork:
    """The time-expanded network of ``inst`` up to step ``horizon`` (vectorised)."""
    H = int(horizon)
    n = inst.n_nodes
    people = inst.total_evacuees
    big = max(people, 1)
    dsrc = source_distance(inst) if dsrc is None else dsrc
    dexit = exit_distance(inst) if dexit is None else dexit
    ds = np.minimum(dsrc, H + 1)
    dx = np.minimum(dexit, H + 1)
    S, Z = (H + 1) * n, (H + 1) * n + 1

    # super source -> (v, 0)
    sv = np.flatnonzero(inst.evacuees > 0)
    parts = [
        (
            np.full(len(sv), S),
            sv,
            inst.evacuees[sv],
            np.zeros(len(sv), np.int64),
            np.full(len(sv), -1),
            SOURCE,
            sv,
            np.zeros(len(sv), np.int64),
        )
    ]
    # edge arcs (u, t) -> (w, t + tau) for t in [ds[u], H - tau - dx[w]]
    use = inst.usable_edges()
    u, w, tau = inst.edge_from[use], inst.edge_to[use], inst.edge_travel[use]
    lo = ds[u]
    i, t = _ranges(lo, H - tau - dx[w] - lo + 1)
    e = use[i]
    parts.append(
        (
            t * n + u[i],
            (t + tau[i]) * n + w[i],
            inst.edge_capacity[e],
            np.zeros(len(t), np.int64),
            t + tau[i] + dx[w[i]],
            EDGE,
            e,
            t,
        )
    )
    # holdover arcs (v, t) -> (v, t + 1) for t in [ds[v], H - 1 - dx[v]]
    hv = np.flatnonzero(~inst.is_exit & (inst.holding > 0))
    lo = ds[hv]
    i, t = _ranges(lo, H - 1 - dx[hv] - lo + 1)
    v = hv[i]
    hcap = np.minimum(inst.holding[v], big).astype(np.int64)
    parts.append(
        (t * n + v, (t + 1) * n + v, hcap, np.zeros(len(t), np.int64), t + 1 + dx[v], HOLD, v, t)
    )
    # (exit, t) -> sink with cost t
    xv = inst.exits
    lo = ds[xv]
    i, t = _ranges(lo, H - lo + 1)
    x = xv[i]
    parts.append((t * n + x, np.full(len(t), Z), np.full(len(t), big), t, t, SINK, x, t))

    cols = list(zip(*parts, strict=True))
    need = np.concatenate(cols[4])
    order = np.argsort(need, kind="stable")

    def cat(k: int, dtype: type) -> np.ndarray:
        return np.concatenate(cols[k]).astype(dtype, copy=False)[order]

    kind = np.concatenate([np.full(len(p[0]), p[5], np.int8) for p in parts])[order]
    return TimeExpandedNetwork(
        horizon=H,
        n=n,
        source=S,
        sink=Z,
        evacuees=people,
        tail=cat(0, np.int32),
        head=cat(1, np.int32),
        cap=cat(2, np.int64),
        cost=cat(3, np.int64),
        need=need[order],
        kind=kind,
        ref=cat(6, np.int64),
        step=cat(7, np.int64),
    )


def max_flow(net: TimeExpandedNetwork, T: int) -> int:
    """Maximum number of evacuees who can reach an exit by step ``T`` (<= net.horizon)."""
    return _max_flow(net, T)[0]


def _solved_prefix(net: TimeExpandedNetwork, T: int):
    """OR-Tools' max flow solved on the arcs of steps 0..T of ``net``."""
    from ortools.graph.python import max_flow as mf

    m = net.prefix(T)
    solver = mf.SimpleMaxFlow()
    solver.add_arcs_with_capacity(net.tail[:m], net.head[:m], net.cap[:m])
    solver.add_arc_with_capacity(net.source, net.sink, 0)  # both ends exist in the graph
    status = solver.solve(net.source, net.sink)
    if status != solver.OPTIMAL:
        raise SolverError(f"OR-Tools max flow failed at horizon {T} (status {status})")
    return solver


def _max_flow(net: TimeExpandedNetwork, T: int, cut: bool = False) -> tuple[int, int]:
    """(max flow by step T, last step of the source side of the minimal min cut if ``cut``)."""
    if T < 0:
        return 0, 0
    solver = _solved_prefix(net, T)
    last = -1
    if cut:
        side = np.asarray(solver.get_source_side_min_cut(), dtype=np.int64)
        side = side[side < net.source]
        last = int(side.max() // net.n) if len(side) else 0
    return int(solver.optimal_flow()), last


def min_cost_flow(net: TimeExpandedNetwork, T: int) -> tuple[int, np.ndarray]:
    """Min-cost flow of all evacuees by step ``T``: (total arrival, flow on the prefix arcs)."""
    from ortools.graph.python import min_cost_flow as mcf

    m = net.prefix(T)
    solver = mcf.SimpleMinCostFlow()
    arcs = solver.add_arcs_with_capacity_and_unit_cost(
        net.tail[:m], net.head[:m], net.cap[:m], net.cost[:m]
    )
    solver.set_nodes_supplies(
        np.array([net.source, net.sink], dtype=np.int32),
        np.array([net.evacuees, -net.evacuees], dtype=np.int64),
    )
    status = solver.solve()
    if status != solver.OPTIMAL:
        raise SolverError(f"OR-Tools min-cost flow failed at horizon {T} (status {status})")
    flows = np.asarray(solver.flows(np.asarray(arcs, dtype=np.int32)), dtype=np.int64)
    return int(solver.optimal_cost()), flows


def decompose(
    inst: NetworkInstance, net: TimeExpandedNetwork, flow: np.ndarray
) -> list[RouteGroup]:
    """Split an integral flow on ``net``'s prefix into groups (source, count, path, departures).

    The time-expanded network is acyclic (every arc goes forward in time), so walking from the
    super source along arcs with flow left always reaches the sink; each walk takes the smallest
    flow on its arcs, which empties at least one arc.
    """
    m = len(flow)
    pos = np.flatnonzero(flow > 0)
    kind, ref, step = net.kind[:m][pos], net.ref[:m][pos], net.step[:m][pos]
    tail = net.tail[:m][pos].astype(np.int64)
    order = np.argsort(tail, kind="stable")
    pos, tail = pos[order], tail[order]
    kind, ref, step = kind[order], ref[order], step[order]
    left = flow[pos].tolist()
    head = net.head[:m][pos].tolist()
    kind_l, ref_l, step_l = kind.tolist(), ref.tolist(), step.tolist()
    # out-arcs of each time-expanded node with flow: a slice of the sorted arrays
    uniq, first = np.unique(tail, return_index=True)
    bounds = np.append(first, len(tail))
    start = {
        int(a): (int(b), int(c)) for a, b, c in zip(uniq, bounds[:-1], bounds[1:], strict=True)
    }
    ptr = {a: s for a, (s, _) in start.items()}
    groups: list[RouteGroup] = []
    S, Z = net.source, net.sink
    first_s, end_s = start.get(S, (0, 0))
    for i in range(first_s, end_s):  # the arcs from the super source: one node with evacuees
        while left[i] > 0:
            arcs = [i]
            node = head[i]
            while node != Z:  # conservation: a node with flow in has flow out left
                j = ptr[node]
                while left[j] == 0:
                    j += 1
                ptr[node] = j
                arcs.append(j)
                node = head[j]
            count = min(left[j] for j in arcs)
            for j in arcs:
                left[j] -= count
            edges = [ref_l[j] for j in arcs if kind_l[j] == EDGE]
            deps = [step_l[j] for j in arcs if kind_l[j] == EDGE]
            groups.append(_make_group(inst, ref_l[i], count, edges, deps))
    return _merge_groups(groups)


# ---------------------------------------------------------------------------------------------
# the exact method
# ---------------------------------------------------------------------------------------------
def _capped_max_flow(net: TimeExpandedNetwork, T: int, arrivals: np.ndarray) -> np.ndarray:
    """A max flow by step T in which at most ``arrivals[t]`` people reach the exits at step t.

    The sink arcs of step t lead to a collector node joined to the sink by an arc of capacity
    ``arrivals[t]``. Returns the flow on the prefix arcs (the collectors are left out).
    """
    from ortools.graph.python import max_flow as mf

    m = net.prefix(T)
    sink = net.kind[:m] == SINK
    collector = net.n_nodes + np.arange(T + 1)
    head = np.where(sink, collector[np.minimum(net.step[:m], T)], net.head[:m]).astype(np.int32)
    solver = mf.SimpleMaxFlow()
    solver.add_arcs_with_capacity(net.tail[:m], head, net.cap[:m])
    solver.add_arcs_with_capacity(
        collector.astype(np.int32),
        np.full(T + 1, net.sink, dtype=np.int32),
        arrivals.astype(np.int64),
    )
    status = solver.solve(net.source, net.sink)
    if status != solver.OPTIMAL:
        raise SolverError(f"OR-Tools max flow failed at horizon {T} (status {status})")
    return np.asarray(solver.flows(np.arange(m, dtype=np.int32)), dtype=np.int64)


class _Horizons:
    """Max-flow probes over the horizons of one time-expanded network, and what they prove.

    ``probe(T)`` solves the max flow by step T on the prefix of the network built for a larger
    horizon (rebuilt, larger, only when T goes past it). Each probe also tightens bounds on the
    *arrival profile* A(θ) = max flow by step θ for every θ: the source side X of its min cut is
    a cut of the network of every horizon θ, so A(θ) <= capacity of the arcs of horizon θ that
    leave X; and the part of its flow that reaches an exit by θ is a flow of horizon θ, so
    A(θ) >= those arrivals.
    """

    def __init__(
        self,
        inst: NetworkInstance,
        dsrc: np.ndarray,
        dexit: np.ndarray,
        say: Callable[[str], None],
        stats: dict[str, Any],
    ):
        self.inst, self.dsrc, self.dexit, self.say, self.stats = inst, dsrc, dexit, say, stats
        self.people = inst.total_evacuees
        self.inflow = max(exit_inflow_per_step(inst), 1)
        self.net: TimeExpandedNetwork | None = None
        self.value: dict[int, int] = {}
        self.upper = np.zeros(0, dtype=np.int64)  # A(θ) <= upper[θ]
        self.lower = np.zeros(0, dtype=np.int64)  # A(θ) >= lower[θ]
        self.last_cut_step = 0  # of the last probe: last step on the source side of its cut

    def build(self, H: int) -> TimeExpandedNetwork:
        if self.net is None or self.net.horizon < H:
            if self.net is not None:
                H = max(H, math.ceil(1.25 * self.net.horizon))
            t = time.perf_counter()
            self.net = build_network(self.inst, H, self.dsrc, self.dexit)
            self.stats["build_s"] = self.stats.get("build_s", 0) + time.perf_counter() - t
            self.stats["horizon_built"] = H
            self.stats["arcs_built"] = self.net.n_arcs
            old = len(self.upper)
            self.upper = np.concatenate([self.upper, np.full(H + 1 - old, self.people)])
            self.lower = np.concatenate(
                [self.lower, np.full(H + 1 - old, self.lower[-1] if old else 0)]
            )
        return self.net

    def probe(self, T: int) -> int:
        if T in self.value:
            return self.value[T]
        if T < 0:
            return 0
        net = self.build(T)
        t0 = time.perf_counter()
        solver = _solved_prefix(net, T)
        value = int(solver.optimal_flow())
        m = net.prefix(T)
        H = net.horizon
        # lower bounds: arrivals of this flow by each step
        flow = np.asarray(solver.flows(np.arange(m, dtype=np.int32)), dtype=np.int64)
        sink = net.kind[:m] == SINK
        got = np.cumsum(np.bincount(net.step[:m][sink], weights=flow[sink], minlength=H + 1))
        self.lower = np.maximum(self.lower, got[: H + 1].astype(np.int64))
        # upper bounds: capacity of the cut by horizon
        side = np.zeros(net.n_nodes, dtype=bool)
        side[np.asarray(solver.get_source_side_min_cut(), dtype=np.int64)] = True
        if not side[net.source] or side[net.sink]:
            raise SolverError(f"internal: bad min cut at horizon {T}")
        leave = side[net.tail] & ~side[net.head]
        cut = np.cumsum(
            np.bincount(np.maximum(net.need[leave], 0), weights=net.cap[leave], minlength=H + 1)
        )[: H + 1].astype(np.int64)
        if cut[T] != value:
            raise SolverError(f"internal: cut {cut[T]} != max flow {value} at horizon {T}")
        self.upper = np.minimum(self.upper, cut)
        inside = np.flatnonzero(side[: net.source])
        self.last_cut_step = int(inside.max() // net.n) if len(inside) else 0
        self._tighten()
        self.value[T] = value
        self.stats["max_flows"] = self.stats.get("max_flows", 0) + 1
        self.stats["max_flow_s"] = self.stats.get("max_flow_s", 0) + time.perf_counter() - t0
        self.say(f"max flow by step {T}: {value} of {self.people} evacuees")
        return value

    def _tighten(self) -> None:
        # A is nondecreasing, and rises by at most the exits' inflow per step
        lo, up = self.lower, self.upper
        lo[:] = np.maximum.accumulate(lo)
        up[:] = np.minimum.accumulate(up[::-1])[::-1]
        steps = np.arange(len(up))
        up[:] = np.minimum(
            up, np.minimum.accumulate(up - self.inflow * steps) + self.inflow * steps
        )
        lo[:] = np.maximum(
            lo,
            (np.maximum.accumulate((lo - self.inflow * steps)[::-1])[::-1] + self.inflow * steps),
        )

    def profile(self, T: int) -> np.ndarray:
        """A(0..T), probing the steps whose bounds do not meet yet."""
        while True:
            gap = np.flatnonzero(self.lower[: T + 1] < self.upper[: T + 1])
            if len(gap) == 0:
                return self.lower[: T + 1].copy()
            self.stats["profile_probes"] = self.stats.get("profile_probes", 0) + 1
            self.probe(int(gap[0]))


def route_exact(
    inst: NetworkInstance,
    *,
    upper_bound: int | None = None,
    total_by: str = "earliest-arrival",
    progress: Callable[[str], None] | None = None,
) -> RouteResult:
    """Optimal routing: least egress time, then least total arrival, with a proof.

    ``upper_bound``: a horizon known to be feasible (e.g. the egress of :func:`ccrp`); by default
    the search probes upward from the lower bound. ``total_by`` chooses how the least total
    arrival at the egress time T* is found (both exact, see docs/routing.md):

    - ``"earliest-arrival"`` (default): the arrival profile A(θ) = max flow by step θ for every
      θ <= T*, pinned by the cuts and flows of the probes (a few extra probes at early steps),
      then one max flow in which exactly A(θ) - A(θ-1) people arrive at step θ. Any plan has
      at most A(θ) people out by θ, so its total arrival sum_θ (E - out by θ) is at least
      this plan's;
    - ``"min-cost-flow"``: OR-Tools' min-cost flow at T* with cost = arrival step (slower on
      large networks: 47 s instead of 5 s on a 32 x 32 grid).
    """
    if total_by not in ("earliest-arrival", "min-cost-flow"):
        raise ValueError(
            f"total_by must be 'earliest-arrival' or 'min-cost-flow', got {total_by!r}"
        )
    t0 = time.perf_counter()
    say = progress or (lambda msg: None)
    people = inst.total_evacuees
    stats: dict[str, Any] = {"total_by": total_by}
    dsrc, dexit = source_distance(inst), exit_distance(inst)
    lb = lower_bound(inst, dsrc, dexit)
    if not ((inst.evacuees > 0) & ~inst.is_exit).any():  # nobody has to move
        groups = [
            _make_group(inst, int(v), int(inst.evacuees[v]), [], [])
            for v in np.flatnonzero(inst.evacuees > 0)
        ]
        return RouteResult(
            0, 0, people, "exact", time.perf_counter() - t0, 0, 0, None, groups, inst.name, stats
        )
    hz = _Horizons(inst, dsrc, dexit, say, stats)
    inflow = hz.inflow
    # a min cut whose source side ends this many steps before the horizon has all its arcs in
    # the network of every larger horizon: then no horizon is feasible
    margin = int(inst.edge_travel.max(initial=1)) + int(dexit[dexit < _BIG].max()) + 1

    lo, hi = lb, None  # every T < lo is infeasible; hi is feasible
    if upper_bound is not None:
        hi = max(int(upper_bound), lo)
        hz.build(hi)
        if hz.probe(hi) < people:
            raise SolverError(
                f"upper bound {hi} is not feasible (max flow {hz.value[hi]} of {people})"
            )
    else:
        hz.build(lo + max(8, lo // 8))
    ub = hi
    T = lo
    while hi is None or lo < hi:
        f = hz.probe(T)
        if f == people:
            hi = T
            ub = T if ub is None else ub
        else:
            if hi is None and hz.last_cut_step + margin <= T:
                raise InfeasibleError(
                    f"{inst.name}: at most {f} of {people} evacuees can ever reach an exit: "
                    "the holding capacities cannot take the people who must wait; raise "
                    "holding capacities (or give inf) near the nodes with evacuees"
                )
            if (T + 1) * inst.n_nodes > 50_000_000:
                raise SolverError(f"{inst.name}: no feasible horizon up to step {T}")
            lo = max(lo, T + 1, T + math.ceil((people - f) / inflow))
        if hi is not None and lo >= hi:
            break
        # next probe: where the arrivals of the last probe's flow, at their recent rate, would
        # get everyone out (a secant step), kept inside [lo, hi) and halving the bracket at worst
        got = hz.lower
        w = min(5, T)
        rate = max(1.0, (got[T] - got[T - w]) / w if w > 0 else inflow)
        guess = T + math.ceil((people - got[T]) / rate) if f < people else T - 1
        if hi is None:
            T = max(lo, guess)
        else:
            T = min(max(lo, guess), hi - 1)
            if hi - lo > 2 and not (lo + (hi - lo) // 4 <= T <= hi - 1 - (hi - lo) // 4):
                T = (lo + hi - 1) // 2
    T = hi
    stats["search_probes"] = {str(k): v for k, v in sorted(hz.value.items())}
    proof = hz.probe(T - 1) if T > 0 else None
    if proof is not None and proof >= people:
        raise SolverError(f"internal: horizon {T - 1} is feasible after the search")
    net = hz.net
    assert net is not None
    stats["arcs_at_egress"] = net.prefix(T)
    t1 = time.perf_counter()
    if total_by == "min-cost-flow":
        say(f"min-cost flow by step {T}")
        total, flow = min_cost_flow(net, T)
    else:
        say(f"arrival profile up to step {T}")
        arrived = hz.profile(T)
        out_by = np.diff(arrived, prepend=0)
        say(f"max flow with the arrival profile by step {T}")
        flow = _capped_max_flow(net, T, out_by)
        sink = net.kind[: len(flow)] == SINK
        if int(flow[sink].sum()) != people:  # cannot happen (earliest arrival flows exist)
            say("the arrival profile is not attained; min-cost flow instead")
            stats["total_by"] = "min-cost-flow (fallback)"
            total, flow = min_cost_flow(net, T)
        else:
            total = int((np.arange(T + 1) * out_by).sum())
    stats["total_s"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    groups = decompose(inst, net, flow)
    stats["decompose_s"] = time.perf_counter() - t2
    stats["probes"] = {str(k): v for k, v in sorted(hz.value.items())}
    for k in ("build_s", "max_flow_s", "total_s", "decompose_s"):
        if k in stats:
            stats[k] = round(stats[k], 3)
    return RouteResult(
        T, total, people, "exact", time.perf_counter() - t0, lb, ub, proof, groups, inst.name, stats
    )


# ---------------------------------------------------------------------------------------------
# CCRP
# ---------------------------------------------------------------------------------------------
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
    state = _Ccrp(inst)
    groups: list[RouteGroup] = []
    left = state.left
    for v in range(inst.n_nodes):
        if inst.is_exit[v] and left[v] > 0:
            groups.append(_make_group(inst, v, left[v], [], []))
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
        groups.append(_make_group(inst, src, count, [h[2] for h in hops], [h[3] for h in hops]))
    groups = _merge_groups(groups)
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


class _Ccrp:
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

    def search(self) -> tuple[int, list[tuple[int, int, int, int]]] | None:
        """Earliest route: (source, [(node, arrival there, edge, departure), ...]) or None."""
        inf = _BIG
        out, is_exit, hold_inf, no_wait = self.out, self.is_exit, self.hold_inf, self.no_wait
        next_free, blocked = self.next_free, self.blocked
        size, free_from = self.size, self.free_from
        bisect_left = _bisect_left
        end = [-1] * self.n  # a route can be at node v at every step up to end[v] (settled)
        pred: dict[tuple[int, int], tuple[int, int, int, int] | None] = {}
        heap: list[tuple[int, int]] = []
        for v, people in enumerate(self.left):
            if people > 0:
                pred[(v, 0)] = None
                heap.append((0, v))
        heapq.heapify(heap)
        best = inf
        while heap:
            y, w = heapq.heappop(heap)
            if y <= end[w]:
                continue
            if is_exit[w]:
                hops = []
                key = (w, y)
                while (p := pred[key]) is not None:
                    hops.append(p)
                    key = (p[0], p[1])
                hops.reverse()
                return key[0], hops
            if hold_inf[w]:
                s = inf
            elif no_wait[w]:
                s = y
            else:
                bw = blocked[w]
                i = bisect_left(bw, y)
                s = bw[i] if i < len(bw) else inf
            end[w] = s
            for e, x, tr in out[w]:
                nf = next_free[e]
                dep = y
                while True:
                    # full at dep: find the next step with room (every step from free_from on
                    # has room), compressing the path
                    if dep < size and (r := nf[dep]) != dep:
                        while nf[r] != r:
                            r = nf[r]
                        while dep != r:
                            nxt = nf[dep]
                            nf[dep] = r
                            dep = nxt
                    if dep > s:
                        break
                    a = dep + tr
                    if a >= best:
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
                    if not bx:
                        break
                    i = bisect_left(bx, a)
                    if i == len(bx):
                        break
                    dep = max(dep + 1, bx[i] - tr + 1)
        return None

    def reserve(self, src: int, hops: list[tuple[int, int, int, int]]) -> int:
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


# ---------------------------------------------------------------------------------------------
# independent checker
# ---------------------------------------------------------------------------------------------
@dataclass
class RouteCheck:
    """What :func:`validate_routes` found: ``problems`` is empty for a valid plan."""

    problems: list[str]
    egress: int
    total_arrival: int
    routed: int

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_routes(inst: NetworkInstance, groups: Sequence[RouteGroup]) -> RouteCheck:
    """Check a plan against the instance, independently of how it was made.

    Every evacuee is in exactly one group of their node; a group's path starts at its source,
    follows edges (leaving no exit on the way) and ends at an exit; its departures respect the
    travel times (enter edge i+1 no earlier than the arrival from edge i); no edge admits more
    than its capacity at any step; no node holds more waiting people than its holding capacity
    between any t and t+1 (waiting at the source before the first departure counts).
    """
    problems: list[str] = []
    n = inst.n_nodes
    routed = np.zeros(n, dtype=np.int64)
    edge_use: dict[tuple[int, int], int] = {}
    wait_delta: dict[int, dict[int, int]] = {}  # node -> step -> +/- people waiting
    egress = 0
    total = 0

    def wait(v: int, a: int, b: int, count: int) -> None:  # waiting at v for steps a..b-1
        if b > a:
            d = wait_delta.setdefault(v, {})
            d[a] = d.get(a, 0) + count
            d[b] = d.get(b, 0) - count

    for gi, g in enumerate(groups):
        tag = f"group {gi} (source {g.source}, {g.count} people)"
        if g.count <= 0:
            problems.append(f"{tag}: count must be > 0")
            continue
        if not 0 <= g.source < n:
            problems.append(f"{tag}: unknown source node")
            continue
        routed[g.source] += g.count
        path, deps, edges = list(g.path), list(g.departures), list(g.edges)
        if not path or path[0] != g.source:
            problems.append(f"{tag}: path does not start at the source")
            continue
        if len(deps) != len(path) - 1:
            problems.append(f"{tag}: {len(deps)} departures for {len(path) - 1} edges")
            continue
        if len(edges) != len(deps):
            # resolve edges from the node list when they are not given
            edges = []
            for a, b in itertools.pairwise(path):
                cand = np.flatnonzero((inst.edge_from == a) & (inst.edge_to == b))
                if len(cand) != 1:
                    problems.append(f"{tag}: {len(cand)} edges {a} -> {b}; give the edges")
                    break
                edges.append(int(cand[0]))
            if len(edges) != len(deps):
                continue
        if not inst.is_exit[path[-1]]:
            problems.append(f"{tag}: path ends at node {path[-1]}, which is not an exit")
        if any(inst.is_exit[v] for v in path[:-1]):
            problems.append(f"{tag}: path passes through an exit before its end")
        here, t = g.source, 0
        bad = False
        for i, (e, dep) in enumerate(zip(edges, deps, strict=True)):
            if (
                not 0 <= e < inst.n_edges
                or inst.edge_from[e] != here
                or inst.edge_to[e] != path[i + 1]
            ):
                problems.append(f"{tag}: hop {i} is not an edge {here} -> {path[i + 1]}")
                bad = True
                break
            if dep < t:
                problems.append(
                    f"{tag}: leaves node {here} at step {dep} before arriving at step {t}"
                )
                bad = True
                break
            wait(here, t, dep, g.count)
            key = (e, dep)
            edge_use[key] = edge_use.get(key, 0) + g.count
            here, t = int(inst.edge_to[e]), dep + int(inst.edge_travel[e])
        if bad:
            continue
        if t != g.arrival:
            problems.append(f"{tag}: arrival {g.arrival} but the timing gives {t}")
        egress = max(egress, t)
        total += g.count * t
    for node in np.flatnonzero(routed != inst.evacuees):
        problems.append(
            f"node {node}: {routed[node]} people routed, {inst.evacuees[node]} evacuees"
        )
    for (e, dep), used in sorted(edge_use.items()):
        if used > inst.edge_capacity[e]:
            problems.append(
                f"edge {e} ({inst.edge_from[e]} -> {inst.edge_to[e]}) at step "
                f"{dep}: {used} enter, capacity {inst.edge_capacity[e]}"
            )
    for v, deltas in sorted(wait_delta.items()):
        level = 0
        for t in sorted(deltas):
            level += deltas[t]
            if level > inst.holding[v]:
                problems.append(
                    f"node {v} between steps {t} and {t + 1}: {level} wait, "
                    f"holding capacity {inst.holding[v]:g}"
                )
                break
    return RouteCheck(problems, egress, total, int(routed.sum()))
