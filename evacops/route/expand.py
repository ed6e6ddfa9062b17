"""The step network of an instance: its time expansion, one node per (node, step).

For a horizon H, :func:`expand_instance` makes node (v, t) for t = 0..H; an arc (u, t) ->
(w, t+τ) per edge and step with the edge's capacity; a holdover arc (v, t) -> (v, t+1) with the
holding capacity; a super source feeding (v, 0) with the evacuees of v; (exit, t) -> sink with
cost t. It is built with numpy index arithmetic (no Python loop per arc), pruned to the (v, t)
that can be reached from a source by t and can still reach an exit by H, and its arcs are sorted
by the last horizon they matter for, so the network of any horizon T <= H is a *prefix* of the
arrays (:meth:`StepNetwork.prefix`). :func:`decompose` reads an integral flow on it back as
groups of evacuees.

These were ``TimeExpandedNetwork`` and ``build_network`` in evacops.plan.routing; they are named
apart from the planner's ``Network``/``compile_network`` (evacops.network), which expand a
scenario, not a routing instance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from evacops.route.instance import NetworkInstance, exit_distance, source_distance
from evacops.route.result import RouteGroup, make_group, merge_groups

# arc families of the step network
SOURCE, EDGE, HOLD, SINK = 0, 1, 2, 3


@dataclass
class StepNetwork:
    """The arcs of the step network for horizon ``horizon``, sorted by ``need``.

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


class _Arcs(NamedTuple):
    """The arcs of one family, unsorted, one array per column of :class:`StepNetwork`."""

    tail: np.ndarray
    head: np.ndarray
    cap: np.ndarray
    cost: np.ndarray
    need: np.ndarray
    kind: int
    ref: np.ndarray
    step: np.ndarray


def _ranges(lo: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For items i with ``count[i]`` steps from ``lo[i]``: (item index, step) per (i, step)."""
    count = np.maximum(count, 0)
    item = np.repeat(np.arange(len(count)), count)
    first = np.cumsum(count) - count
    step = np.arange(int(count.sum()), dtype=np.int64) - np.repeat(first - lo, count)
    return item, step


def _source_arcs(inst: NetworkInstance, S: int) -> _Arcs:
    """Super source -> (v, 0) with the evacuees of v."""
    sv = np.flatnonzero(inst.evacuees > 0)
    zero = np.zeros(len(sv), np.int64)
    return _Arcs(
        np.full(len(sv), S), sv, inst.evacuees[sv], zero, np.full(len(sv), -1), SOURCE, sv, zero
    )


def _edge_arcs(inst: NetworkInstance, H: int, ds: np.ndarray, dx: np.ndarray) -> _Arcs:
    """(u, t) -> (w, t + tau) for t in [ds[u], H - tau - dx[w]]."""
    n = inst.n_nodes
    use = inst.usable_edges()
    u, w, tau = inst.edge_from[use], inst.edge_to[use], inst.edge_travel[use]
    lo = ds[u]
    i, t = _ranges(lo, H - tau - dx[w] - lo + 1)
    e = use[i]
    return _Arcs(
        t * n + u[i],
        (t + tau[i]) * n + w[i],
        inst.edge_capacity[e],
        np.zeros(len(t), np.int64),
        t + tau[i] + dx[w[i]],
        EDGE,
        e,
        t,
    )


def _hold_arcs(inst: NetworkInstance, H: int, ds: np.ndarray, dx: np.ndarray) -> _Arcs:
    """Holdover (v, t) -> (v, t + 1) for t in [ds[v], H - 1 - dx[v]]."""
    n = inst.n_nodes
    hv = np.flatnonzero(~inst.is_exit & (inst.holding > 0))
    lo = ds[hv]
    i, t = _ranges(lo, H - 1 - dx[hv] - lo + 1)
    v = hv[i]
    hcap = np.minimum(inst.holding[v], max(inst.total_evacuees, 1)).astype(np.int64)
    return _Arcs(
        t * n + v, (t + 1) * n + v, hcap, np.zeros(len(t), np.int64), t + 1 + dx[v], HOLD, v, t
    )


def _sink_arcs(inst: NetworkInstance, H: int, ds: np.ndarray, Z: int) -> _Arcs:
    """(exit, t) -> sink with cost t."""
    n = inst.n_nodes
    xv = inst.exits
    lo = ds[xv]
    i, t = _ranges(lo, H - lo + 1)
    x = xv[i]
    big = max(inst.total_evacuees, 1)
    return _Arcs(t * n + x, np.full(len(t), Z), np.full(len(t), big), t, t, SINK, x, t)


def expand_instance(
    inst: NetworkInstance,
    horizon: int,
    dsrc: np.ndarray | None = None,
    dexit: np.ndarray | None = None,
) -> StepNetwork:
    """The step network of ``inst`` up to step ``horizon`` (vectorised).

    ``dsrc``/``dexit``: the instance's :func:`source_distance` and :func:`exit_distance`, if
    already known.
    """
    H = int(horizon)
    n = inst.n_nodes
    dsrc = source_distance(inst) if dsrc is None else dsrc
    dexit = exit_distance(inst) if dexit is None else dexit
    ds = np.minimum(dsrc, H + 1)
    dx = np.minimum(dexit, H + 1)
    S, Z = (H + 1) * n, (H + 1) * n + 1
    parts = [
        _source_arcs(inst, S),
        _edge_arcs(inst, H, ds, dx),
        _hold_arcs(inst, H, ds, dx),
        _sink_arcs(inst, H, ds, Z),
    ]
    need = np.concatenate([p.need for p in parts])
    order = np.argsort(need, kind="stable")

    def cat(column: str, dtype: type) -> np.ndarray:
        joined = np.concatenate([getattr(p, column) for p in parts])
        return joined.astype(dtype, copy=False)[order]

    kind = np.concatenate([np.full(len(p.tail), p.kind, np.int8) for p in parts])[order]
    return StepNetwork(
        horizon=H,
        n=n,
        source=S,
        sink=Z,
        evacuees=inst.total_evacuees,
        tail=cat("tail", np.int32),
        head=cat("head", np.int32),
        cap=cat("cap", np.int64),
        cost=cat("cost", np.int64),
        need=need[order],
        kind=kind,
        ref=cat("ref", np.int64),
        step=cat("step", np.int64),
    )


# -- reading a flow back -----------------------------------------------------------------------
class _FlowArcs(NamedTuple):
    """The arcs with flow, sorted by tail, as lists; ``start[node]``: (first, end) of its arcs."""

    left: list[int]
    head: list[int]
    kind: list[int]
    ref: list[int]
    step: list[int]
    start: dict[int, tuple[int, int]]


def _flow_arcs(net: StepNetwork, flow: np.ndarray) -> _FlowArcs:
    m = len(flow)
    pos = np.flatnonzero(flow > 0)
    tail = net.tail[:m][pos].astype(np.int64)
    order = np.argsort(tail, kind="stable")
    pos, tail = pos[order], tail[order]
    uniq, first = np.unique(tail, return_index=True)
    bounds = np.append(first, len(tail))
    start = {
        int(a): (int(b), int(c)) for a, b, c in zip(uniq, bounds[:-1], bounds[1:], strict=True)
    }
    return _FlowArcs(
        flow[pos].tolist(),
        net.head[:m][pos].tolist(),
        net.kind[:m][pos].tolist(),
        net.ref[:m][pos].tolist(),
        net.step[:m][pos].tolist(),
        start,
    )


def decompose(inst: NetworkInstance, net: StepNetwork, flow: np.ndarray) -> list[RouteGroup]:
    """Split an integral flow on ``net``'s prefix into groups (source, count, path, departures).

    The step network is acyclic (every arc goes forward in time), so walking from the super
    source along arcs with flow left always reaches the sink; each walk takes the smallest flow
    on its arcs, which empties at least one arc.
    """
    left, head, kind, ref, step, start = _flow_arcs(net, flow)
    ptr = {a: s for a, (s, _) in start.items()}
    groups: list[RouteGroup] = []
    first_s, end_s = start.get(net.source, (0, 0))
    for i in range(first_s, end_s):  # the arcs from the super source: one node with evacuees
        while left[i] > 0:
            walk = [i]
            node = head[i]
            while node != net.sink:  # conservation: a node with flow in has flow out left
                j = ptr[node]
                while left[j] == 0:
                    j += 1
                ptr[node] = j
                walk.append(j)
                node = head[j]
            count = min(left[j] for j in walk)
            for j in walk:
                left[j] -= count
            edges = [ref[j] for j in walk if kind[j] == EDGE]
            deps = [step[j] for j in walk if kind[j] == EDGE]
            groups.append(make_group(inst, ref[i], count, edges, deps))
    return merge_groups(groups)
