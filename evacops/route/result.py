"""What a routing method returns: groups of evacuees travelling together, and the plan.

:class:`RouteGroup` is ``count`` evacuees of one node on one path with one departure step per
edge; :class:`RouteResult` is a whole plan (its groups, egress time, total arrival and, for the
exact method, the proof of optimality); :func:`write_groups` writes a plan as CSV or JSON.
:func:`make_group` and :func:`merge_groups` are how the methods (evacops.route.exact and
evacops.route.ccrp) build their groups.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evacops.errors import UserError
from evacops.route.instance import NetworkInstance


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

    ``proof`` is the maximum flow of the step network at horizon ``egress - 1`` (exact method
    only): fewer than ``evacuees`` people can reach an exit by then, so no plan has a smaller
    egress. ``lower_bound`` and ``upper_bound`` bracket the egress before the search.
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


def make_group(
    inst: NetworkInstance, source: int, count: int, edges: Sequence[int], departures: Sequence[int]
) -> RouteGroup:
    """The group of ``count`` people of ``source`` entering ``edges`` at ``departures``."""
    edges = tuple(int(e) for e in edges)
    departures = tuple(int(d) for d in departures)
    path = (int(source), *(int(inst.edge_to[e]) for e in edges))
    arrival = departures[-1] + int(inst.edge_travel[edges[-1]]) if edges else 0
    return RouteGroup(int(source), int(count), path, departures, edges, arrival)


def merge_groups(groups: list[RouteGroup]) -> list[RouteGroup]:
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
