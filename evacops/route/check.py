"""The independent checker of a routing plan: :func:`validate_routes`.

It recomputes everything from the groups and the instance alone (who is routed, each group's
path and timing, the people entering each edge at each step, the people waiting at each node
between steps), sharing no code with the methods that make plans (evacops.route.exact and
evacops.route.ccrp), so a plan it accepts is valid whatever made it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from evacops.route.instance import NetworkInstance
from evacops.route.result import RouteGroup


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


@dataclass
class _Usage:
    """What the groups checked so far use: people entering each (edge, step), people waiting
    at each node (as +/- changes at steps), people routed from each node."""

    routed: np.ndarray
    edge_use: dict[tuple[int, int], int] = field(default_factory=dict)
    wait_delta: dict[int, dict[int, int]] = field(default_factory=dict)

    def wait(self, v: int, a: int, b: int, count: int) -> None:
        """``count`` people wait at ``v`` for steps a..b-1."""
        if b > a:
            d = self.wait_delta.setdefault(v, {})
            d[a] = d.get(a, 0) + count
            d[b] = d.get(b, 0) - count

    def enter(self, e: int, dep: int, count: int) -> None:
        key = (e, dep)
        self.edge_use[key] = self.edge_use.get(key, 0) + count


def validate_routes(inst: NetworkInstance, groups: Sequence[RouteGroup]) -> RouteCheck:
    """Check a plan against the instance, independently of how it was made.

    Every evacuee is in exactly one group of their node; a group's path starts at its source,
    follows edges (leaving no exit on the way) and ends at an exit; its departures respect the
    travel times (enter edge i+1 no earlier than the arrival from edge i); no edge admits more
    than its capacity at any step; no node holds more waiting people than its holding capacity
    between any t and t+1 (waiting at the source before the first departure counts).
    """
    problems: list[str] = []
    usage = _Usage(np.zeros(inst.n_nodes, dtype=np.int64))
    egress = 0
    total = 0
    for gi, g in enumerate(groups):
        t = _check_group(inst, gi, g, usage, problems)
        if t is not None:
            egress = max(egress, t)
            total += g.count * t
    routed = usage.routed
    for node in np.flatnonzero(routed != inst.evacuees):
        problems.append(
            f"node {node}: {routed[node]} people routed, {inst.evacuees[node]} evacuees"
        )
    problems += _capacity_problems(inst, usage.edge_use)
    problems += _holding_problems(inst, usage.wait_delta)
    return RouteCheck(problems, egress, total, int(routed.sum()))


def _check_group(
    inst: NetworkInstance, gi: int, g: RouteGroup, usage: _Usage, problems: list[str]
) -> int | None:
    """Check group ``gi`` and record what it uses; return its arrival step, or None if it
    cannot be followed."""
    tag = f"group {gi} (source {g.source}, {g.count} people)"
    if g.count <= 0:
        problems.append(f"{tag}: count must be > 0")
        return None
    if not 0 <= g.source < inst.n_nodes:
        problems.append(f"{tag}: unknown source node")
        return None
    usage.routed[g.source] += g.count
    path, deps = list(g.path), list(g.departures)
    if not path or path[0] != g.source:
        problems.append(f"{tag}: path does not start at the source")
        return None
    if len(deps) != len(path) - 1:
        problems.append(f"{tag}: {len(deps)} departures for {len(path) - 1} edges")
        return None
    edges = list(g.edges)
    if len(edges) != len(deps):
        edges = _edges_of_path(inst, tag, path, problems)
        if len(edges) != len(deps):
            return None
    if not inst.is_exit[path[-1]]:
        problems.append(f"{tag}: path ends at node {path[-1]}, which is not an exit")
    if any(inst.is_exit[v] for v in path[:-1]):
        problems.append(f"{tag}: path passes through an exit before its end")
    t = _follow(inst, tag, g, edges, usage, problems)
    if t is not None and t != g.arrival:
        problems.append(f"{tag}: arrival {g.arrival} but the timing gives {t}")
    return t


def _edges_of_path(
    inst: NetworkInstance, tag: str, path: list[int], problems: list[str]
) -> list[int]:
    """The edges joining the nodes of ``path`` (when a group does not give them); stops short
    at a pair of nodes not joined by exactly one edge."""
    edges = []
    for a, b in itertools.pairwise(path):
        cand = np.flatnonzero((inst.edge_from == a) & (inst.edge_to == b))
        if len(cand) != 1:
            problems.append(f"{tag}: {len(cand)} edges {a} -> {b}; give the edges")
            break
        edges.append(int(cand[0]))
    return edges


def _follow(
    inst: NetworkInstance,
    tag: str,
    g: RouteGroup,
    edges: list[int],
    usage: _Usage,
    problems: list[str],
) -> int | None:
    """Walk group ``g`` along ``edges``, recording its waits and entries; return its arrival
    step, or None at the first hop that is not an edge or leaves before arriving."""
    path = g.path
    here, t = g.source, 0
    for i, (e, dep) in enumerate(zip(edges, g.departures, strict=True)):
        if not 0 <= e < inst.n_edges or inst.edge_from[e] != here or inst.edge_to[e] != path[i + 1]:
            problems.append(f"{tag}: hop {i} is not an edge {here} -> {path[i + 1]}")
            return None
        if dep < t:
            problems.append(f"{tag}: leaves node {here} at step {dep} before arriving at step {t}")
            return None
        usage.wait(here, t, dep, g.count)
        usage.enter(e, dep, g.count)
        here, t = int(inst.edge_to[e]), dep + int(inst.edge_travel[e])
    return t


def _capacity_problems(inst: NetworkInstance, edge_use: dict[tuple[int, int], int]) -> list[str]:
    """An edge entered by more people at a step than its capacity."""
    return [
        f"edge {e} ({inst.edge_from[e]} -> {inst.edge_to[e]}) at step "
        f"{dep}: {used} enter, capacity {inst.edge_capacity[e]}"
        for (e, dep), used in sorted(edge_use.items())
        if used > inst.edge_capacity[e]
    ]


def _holding_problems(inst: NetworkInstance, wait_delta: dict[int, dict[int, int]]) -> list[str]:
    """The first step at which more people wait at a node than its holding capacity."""
    problems = []
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
    return problems
