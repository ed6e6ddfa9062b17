"""Evacuation network instances (the CCRP / EVACNET problem): read, check, generate, write.

The text format (scenarios/networks/FORMAT.md, summarised in docs/routing.md)::

    nodes N
    node <id> <holding_capacity|inf> <evacuees> [exit]
    edge <from> <to> <capacity_per_step> <travel_steps>

:func:`read_instance` turns a file into a :class:`NetworkInstance` of numpy arrays; every mistake
raises :class:`~evacops.errors.InstanceError` with one line naming ``file:line`` and the fix::

    grid.txt:12: edge travel_steps must be >= 1, got 0; give a whole number of steps of at least 1

The checks that need the whole network (an exit exists; every node with evacuees has a road to an
exit; the evacuees of a node can wait or leave at step 0) live in :class:`NetworkInstance` itself,
so an instance built in code is checked the same way. :func:`grid_instance` makes k x k grids like
the shared samples; :func:`write_instance` writes the same format back.
:func:`exit_distance` and :func:`source_distance` are the shortest travel times the checks, the
bounds (evacops.route.bounds) and the step network (evacops.route.expand) start from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from evacops.errors import InstanceError

INF = np.inf


@dataclass(frozen=True, eq=False)
class NetworkInstance:
    """An evacuation network: nodes 0..N-1 and directed edges, as numpy arrays.

    ``holding`` is the holding capacity of each node (people who may wait there between t and
    t+1; ``inf`` = unlimited; passing through is free), ``evacuees`` the people standing at each
    node at t = 0 and ``is_exit`` marks the exits, which absorb evacuees. Edge ``e`` leads from
    ``edge_from[e]`` to ``edge_to[e]``: at most ``edge_capacity[e]`` people may enter it at each
    step and they reach its head ``edge_travel[e]`` (>= 1) steps later.

    ``source`` and the ``*_line`` arrays (1-based line numbers, 0 = unknown) only make error
    messages point into the user's file.
    """

    holding: np.ndarray  # (N,) float64, inf = unlimited
    evacuees: np.ndarray  # (N,) int64
    is_exit: np.ndarray  # (N,) bool
    edge_from: np.ndarray  # (E,) int64
    edge_to: np.ndarray  # (E,) int64
    edge_capacity: np.ndarray  # (E,) int64, people per step
    edge_travel: np.ndarray  # (E,) int64, steps >= 1
    name: str = "instance"
    source: str | None = None
    node_line: np.ndarray | None = field(default=None, repr=False)
    edge_line: np.ndarray | None = field(default=None, repr=False)
    header_line: int = 0

    def __post_init__(self) -> None:
        conv = {
            "holding": np.float64,
            "evacuees": np.int64,
            "is_exit": bool,
            "edge_from": np.int64,
            "edge_to": np.int64,
            "edge_capacity": np.int64,
            "edge_travel": np.int64,
        }
        for name, dtype in conv.items():
            object.__setattr__(self, name, np.ascontiguousarray(getattr(self, name), dtype=dtype))
        self._check()

    # -- sizes -------------------------------------------------------------------------------
    @property
    def n_nodes(self) -> int:
        return int(self.holding.shape[0])

    @property
    def n_edges(self) -> int:
        return int(self.edge_from.shape[0])

    @property
    def total_evacuees(self) -> int:
        return int(self.evacuees.sum())

    @property
    def exits(self) -> np.ndarray:
        return np.flatnonzero(self.is_exit)

    # -- error places ------------------------------------------------------------------------
    def _where(self, line: int) -> str:
        src = self.source or self.name
        return f"{src}:{line}: " if line else f"{src}: "

    def where_node(self, v: int | np.integer) -> str:
        """``file:line: `` of node ``v``'s line (or ``name: `` for an instance built in code)."""
        line = int(self.node_line[v]) if self.node_line is not None else 0
        return self._where(line)

    def where_edge(self, e: int | np.integer) -> str:
        line = int(self.edge_line[e]) if self.edge_line is not None else 0
        return self._where(line)

    # -- checks ------------------------------------------------------------------------------
    def _check(self) -> None:
        self._check_shapes()
        self._check_nodes()
        self._check_edges()
        if not self.is_exit.any():
            raise InstanceError(
                f"{self._where(self.header_line)}no node is marked exit; end "
                "at least one node line with 'exit'"
            )
        self._check_reach()
        self._check_step0()

    def _check_shapes(self) -> None:
        n, m = self.n_nodes, self.n_edges
        if n == 0:
            raise InstanceError(
                f"{self._where(self.header_line)}no nodes; give 'nodes N' with N >= 1"
            )
        for name in ("evacuees", "is_exit"):
            if getattr(self, name).shape != (n,):
                raise InstanceError(
                    f"{self._where(0)}{name} has shape {getattr(self, name).shape}, expected ({n},)"
                )
        for name in ("edge_to", "edge_capacity", "edge_travel"):
            if getattr(self, name).shape != (m,):
                raise InstanceError(
                    f"{self._where(0)}{name} has shape {getattr(self, name).shape}, expected ({m},)"
                )

    def _check_nodes(self) -> None:
        for v in np.flatnonzero(~((self.holding >= 0) & ~np.isnan(self.holding))):
            raise InstanceError(
                f"{self.where_node(v)}node {v} holding capacity must be >= 0 "
                f"or inf, got {self.holding[v]:g}"
            )
        fin = np.isfinite(self.holding)
        for v in np.flatnonzero(fin & (self.holding != np.floor(np.where(fin, self.holding, 0)))):
            raise InstanceError(
                f"{self.where_node(v)}node {v} holding capacity must be a whole "
                f"number or inf, got {self.holding[v]:g}"
            )
        for v in np.flatnonzero(self.evacuees < 0):
            raise InstanceError(
                f"{self.where_node(v)}node {v} evacuees must be >= 0, got {self.evacuees[v]}"
            )

    def _check_edges(self) -> None:
        n = self.n_nodes
        for e in np.flatnonzero(
            (self.edge_from < 0) | (self.edge_from >= n) | (self.edge_to < 0) | (self.edge_to >= n)
        ):
            raise InstanceError(
                f"{self.where_edge(e)}edge {self.edge_from[e]} -> "
                f"{self.edge_to[e]}: unknown node id; ids are 0..{n - 1}"
            )
        for e in np.flatnonzero(self.edge_capacity < 0):
            raise InstanceError(
                f"{self.where_edge(e)}edge capacity_per_step must be >= 0, "
                f"got {self.edge_capacity[e]}; give the people who may enter "
                "the road per step"
            )
        for e in np.flatnonzero(self.edge_travel < 1):
            raise InstanceError(
                f"{self.where_edge(e)}edge travel_steps must be >= 1, got "
                f"{self.edge_travel[e]}; give a whole number of steps of at "
                "least 1"
            )

    def usable_edges(self) -> np.ndarray:
        """Indices of the edges a plan may use: capacity > 0 and not leaving an exit."""
        return np.flatnonzero((self.edge_capacity > 0) & ~self.is_exit[self.edge_from])

    def _check_reach(self) -> None:
        ok = exit_distance(self) < np.iinfo(np.int64).max
        for v in np.flatnonzero((self.evacuees > 0) & ~ok):
            raise InstanceError(
                f"{self.where_node(v)}node {v} holds {self.evacuees[v]} evacuees but no road "
                "leads from it to an exit (roads with capacity 0 or leaving an exit do not "
                "count); add an edge towards an exit or mark a reachable node 'exit'"
            )

    def _check_step0(self) -> None:
        # Nobody arrives anywhere at t = 0 (travel >= 1): the evacuees of a node that is not an
        # exit either leave on a road at step 0 or wait there until step 1.
        use = self.usable_edges()
        out0 = np.bincount(
            self.edge_from[use], weights=self.edge_capacity[use], minlength=self.n_nodes
        )
        bad = ~self.is_exit & (self.evacuees > self.holding + out0)
        for v in np.flatnonzero(bad):
            raise InstanceError(
                f"{self.where_node(v)}node {v} holds {self.evacuees[v]} evacuees but only "
                f"{int(self.holding[v] + out0[v])} can wait there (holding capacity "
                f"{int(self.holding[v])}) or leave at step 0 (roads {int(out0[v])} per step); "
                "raise its holding capacity (or give inf)"
            )


def exit_distance(inst: NetworkInstance) -> np.ndarray:
    """Shortest travel steps from each node to an exit over usable edges (int64 max if none)."""
    return _dijkstra(inst, inst.exits, reverse=True)


def source_distance(inst: NetworkInstance) -> np.ndarray:
    """Shortest travel steps from any node holding evacuees to each node (int64 max if none)."""
    return _dijkstra(inst, np.flatnonzero(inst.evacuees > 0), reverse=False)


def _dijkstra(inst: NetworkInstance, starts: np.ndarray, reverse: bool) -> np.ndarray:
    import heapq

    big = np.iinfo(np.int64).max
    use = inst.usable_edges()
    a, b = (
        (inst.edge_to[use], inst.edge_from[use])
        if reverse
        else (inst.edge_from[use], inst.edge_to[use])
    )
    order = np.argsort(a, kind="stable")
    ptr = np.searchsorted(a[order], np.arange(inst.n_nodes + 1)).tolist()
    heads = b[order].tolist()
    wts = inst.edge_travel[use][order].tolist()
    dist = [big] * inst.n_nodes
    heap = [(0, int(s)) for s in starts]
    for _, s in heap:
        dist[s] = 0
    heapq.heapify(heap)
    while heap:
        d, u = heapq.heappop(heap)
        if d > dist[u]:
            continue
        for i in range(ptr[u], ptr[u + 1]):
            v, nd = heads[i], d + wts[i]
            if nd < dist[v]:
                dist[v] = nd
                heapq.heappush(heap, (nd, v))
    return np.array(dist, dtype=np.int64)


# -- reading -----------------------------------------------------------------------------------
def read_instance(path: str | Path) -> NetworkInstance:
    """Read a network instance file; raise InstanceError naming ``file:line`` on a mistake."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InstanceError(f"{p}: no such file; check the path") from None
    except IsADirectoryError:
        raise InstanceError(f"{p}: is a folder, not an instance file; give the file") from None
    except UnicodeDecodeError:
        raise InstanceError(
            f"{p}: not a text file (UTF-8); give a network instance file (see docs/routing.md)"
        ) from None
    except OSError as exc:
        raise InstanceError(
            f"{p}: cannot be read ({exc.strerror}); check the path and its permissions"
        ) from None
    return parse_instance(text, source=p.name, name=p.stem)


def _int(tok: str, what: str, at: str, hint: str) -> int:
    try:
        return int(tok)
    except ValueError:
        raise InstanceError(f"{at}{what} must be a whole number, got {tok!r}; {hint}") from None


_NODE_FORM = "'node <id> <holding_capacity|inf> <evacuees> [exit]'"
_EDGE_FORM = "'edge <from> <to> <capacity_per_step> <travel_steps>'"


def parse_instance(text: str, source: str = "<text>", name: str | None = None) -> NetworkInstance:
    """Parse the text of a network instance; ``source`` names it in error messages."""
    draft = _Draft(source)
    for lineno, raw in enumerate(text.splitlines(), start=1):
        toks = raw.split("#", 1)[0].split()
        if toks:
            draft.read(toks, lineno)
    return draft.instance(name or source)


@dataclass
class _Draft:
    """What the lines of an instance file read so far say; :meth:`instance` checks it is whole."""

    source: str
    n: int | None = None
    header: int = 0  # line of 'nodes N'
    holding: list[float] = field(default_factory=list)
    evac: list[int] = field(default_factory=list)
    is_exit: list[bool] = field(default_factory=list)
    node_line: list[int] = field(default_factory=list)
    edges: list[tuple[int, int, int, int, int]] = field(default_factory=list)

    def read(self, toks: list[str], lineno: int) -> None:
        """Read one line, split into words (comments gone, not empty)."""
        at = f"{self.source}:{lineno}: "
        kw = toks[0]
        if kw == "nodes":
            self._nodes(toks, at, lineno)
        elif kw in ("node", "edge"):
            if self.n is None:
                raise InstanceError(
                    f"{at}'{kw}' before the 'nodes N' line; start the file with 'nodes N'"
                )
            if kw == "node":
                self._node(toks, at, lineno, self.n)
            else:
                self._edge(toks, at, lineno, self.n)
        else:
            raise InstanceError(
                f"{at}malformed line: unknown keyword {kw!r}; lines are "
                f"'nodes N', {_NODE_FORM} or {_EDGE_FORM}"
            )

    def _nodes(self, toks: list[str], at: str, lineno: int) -> None:
        if self.n is not None:
            raise InstanceError(
                f"{at}a second 'nodes' line (the first is line {self.header}); keep one"
            )
        if len(toks) != 2:
            raise InstanceError(f"{at}malformed line; write 'nodes N'")
        n = _int(toks[1], "nodes N", at, "write 'nodes N' with the number of nodes")
        if n < 1:
            raise InstanceError(f"{at}nodes N must be >= 1, got {n}")
        self.n = n
        self.header = lineno
        self.holding = [-1.0] * n
        self.evac = [0] * n
        self.is_exit = [False] * n
        self.node_line = [0] * n

    def _node(self, toks: list[str], at: str, lineno: int, n: int) -> None:
        if len(toks) not in (4, 5) or (len(toks) == 5 and toks[4] != "exit"):
            raise InstanceError(f"{at}malformed node line; write {_NODE_FORM}")
        v = _int(toks[1], "node id", at, f"ids are 0..{n - 1}")
        if not 0 <= v < n:
            raise InstanceError(f"{at}unknown node id {v}; ids are 0..{n - 1} ('nodes {n}')")
        if self.node_line[v]:
            raise InstanceError(
                f"{at}node {v} already has a line (line {self.node_line[v]}); keep one"
            )
        h: float
        if toks[2] == "inf":
            h = INF
        else:
            h = _int(toks[2], "node holding_capacity", at, "give people or inf")
            if h < 0:
                raise InstanceError(f"{at}node holding_capacity must be >= 0 or inf, got {h}")
        people = _int(toks[3], "node evacuees", at, "give a number of people")
        if people < 0:
            raise InstanceError(f"{at}node evacuees must be >= 0, got {people}")
        self.holding[v], self.evac[v], self.is_exit[v] = h, people, len(toks) == 5
        self.node_line[v] = lineno

    def _edge(self, toks: list[str], at: str, lineno: int, n: int) -> None:
        if len(toks) != 5:
            raise InstanceError(f"{at}malformed edge line; write {_EDGE_FORM}")
        a = _int(toks[1], "edge from", at, f"ids are 0..{n - 1}")
        b = _int(toks[2], "edge to", at, f"ids are 0..{n - 1}")
        for end in (a, b):
            if not 0 <= end < n:
                raise InstanceError(f"{at}unknown node id {end}; ids are 0..{n - 1} ('nodes {n}')")
        cap = _int(toks[3], "edge capacity_per_step", at, "give people per step")
        if cap < 0:
            raise InstanceError(
                f"{at}edge capacity_per_step must be >= 0, got {cap}; "
                "give the people who may enter the road per step"
            )
        travel = _int(toks[4], "edge travel_steps", at, "give steps >= 1")
        if travel < 1:
            raise InstanceError(
                f"{at}edge travel_steps must be >= 1, got {travel}; "
                "give a whole number of steps of at least 1"
            )
        self.edges.append((a, b, cap, travel, lineno))

    def instance(self, name: str) -> NetworkInstance:
        """The instance the lines describe, once every node has its line."""
        n, source = self.n, self.source
        if n is None:
            raise InstanceError(
                f"{source}: no 'nodes N' line; start the file with 'nodes N' (see docs/routing.md)"
            )
        missing = [v for v in range(n) if not self.node_line[v]]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise InstanceError(
                f"{source}:{self.header}: node {missing[0]} has no 'node' line{more}; "
                f"every node 0..{n - 1} needs one: {_NODE_FORM}"
            )
        e = np.array(self.edges, dtype=np.int64).reshape(-1, 5)
        return NetworkInstance(
            holding=np.array(self.holding),
            evacuees=np.array(self.evac),
            is_exit=np.array(self.is_exit),
            edge_from=e[:, 0],
            edge_to=e[:, 1],
            edge_capacity=e[:, 2],
            edge_travel=e[:, 3],
            name=name,
            source=source,
            node_line=np.array(self.node_line),
            edge_line=e[:, 4].copy(),
            header_line=self.header,
        )


# -- writing -----------------------------------------------------------------------------------
def format_instance(inst: NetworkInstance, comment: str = "evacuation network instance") -> str:
    """The instance in the text format (what :func:`parse_instance` reads back)."""
    lines = [f"# {comment}", f"nodes {inst.n_nodes}"]
    for v in range(inst.n_nodes):
        h = "inf" if np.isinf(inst.holding[v]) else str(int(inst.holding[v]))
        lines.append(f"node {v} {h} {int(inst.evacuees[v])}" + (" exit" if inst.is_exit[v] else ""))
    for a, b, c, t in zip(
        inst.edge_from.tolist(),
        inst.edge_to.tolist(),
        inst.edge_capacity.tolist(),
        inst.edge_travel.tolist(),
        strict=True,
    ):
        lines.append(f"edge {a} {b} {c} {t}")
    return "\n".join(lines) + "\n"


def write_instance(inst: NetworkInstance, path: str | Path) -> Path:
    """Write the instance to ``path`` in the text format; return the path."""
    p = Path(path)
    p.write_text(format_instance(inst), encoding="utf-8")
    return p


# -- generating --------------------------------------------------------------------------------
def grid_instance(k: int, seed: int, *, share_with_evacuees: float = 0.15) -> NetworkInstance:
    """A k x k grid like the shared samples (``grid{k}-seed{seed}.txt`` in kind, not in values).

    Node ``r*k + c``; roads join 4-neighbours in both directions with the same capacity (2-6 per
    step) and travel time (1-4 steps) each way; the four corners are exits (holding inf, nobody
    there); ``round(share * k*k)`` other nodes hold 20-60 evacuees each (holding inf, as in the
    samples: the people are there at t = 0); every other node holds 10-40. Random draws come
    only from ``numpy.random.default_rng(seed)``.
    """
    if k < 3:
        raise InstanceError("must be >= 3 (a 2 x 2 grid is all exits)", field="k", value=k)
    rng = np.random.default_rng(seed)
    n = k * k
    corners = np.array([0, k - 1, n - k, n - 1])
    is_exit = np.zeros(n, dtype=bool)
    is_exit[corners] = True
    holding = rng.integers(10, 41, size=n).astype(np.float64)
    holding[corners] = INF
    others = np.flatnonzero(~is_exit)
    n_src = min(len(others), max(1, round(share_with_evacuees * n)))
    src = np.sort(rng.choice(others, size=n_src, replace=False))
    evac = np.zeros(n, dtype=np.int64)
    evac[src] = rng.integers(20, 61, size=n_src)
    holding[src] = INF
    # roads in the samples' order: for each node row by row, down then right, each followed
    # by its reverse
    idx = np.arange(n).reshape(k, k)
    down = np.stack([idx[:-1, :], idx[1:, :]], axis=-1)  # (k-1, k, 2)
    right = np.stack([idx[:, :-1], idx[:, 1:]], axis=-1)  # (k, k-1, 2)
    pairs = np.concatenate([down.reshape(-1, 2), right.reshape(-1, 2)])
    order = np.lexsort((pairs[:, 1] - pairs[:, 0] == 1, pairs[:, 0]))  # by tail, down first
    pairs = pairs[order]
    cap = rng.integers(2, 7, size=len(pairs))
    travel = rng.integers(1, 5, size=len(pairs))
    both = np.empty((2 * len(pairs), 2), dtype=np.int64)
    both[0::2] = pairs
    both[1::2] = pairs[:, ::-1]
    return NetworkInstance(
        holding=holding,
        evacuees=evac,
        is_exit=is_exit,
        edge_from=both[:, 0],
        edge_to=both[:, 1],
        edge_capacity=np.repeat(cap, 2),
        edge_travel=np.repeat(travel, 2),
        name=f"grid{k}-seed{seed}",
    )
