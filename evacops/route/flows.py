"""OR-Tools' max flow and min-cost flow on the prefix of a step network that is one horizon.

Every call takes a :class:`~evacops.route.expand.StepNetwork` and a horizon T <= its horizon and
solves on the arcs of steps 0..T (``net.prefix(T)``). :func:`max_flow` is how many evacuees can
be out by step T; :func:`min_cost_flow` routes everyone by T at least total arrival;
:func:`capped_max_flow` routes everyone by T with a given number of arrivals per step (the
earliest-arrival plan of evacops.route.exact). A solver that does not reach its optimum raises
:class:`~evacops.errors.SolverError`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from evacops.errors import SolverError
from evacops.route.expand import SINK, StepNetwork


def solved_prefix(net: StepNetwork, T: int) -> Any:
    """OR-Tools' max flow (``SimpleMaxFlow``) solved on the arcs of steps 0..T of ``net``."""
    from ortools.graph.python import max_flow as mf

    m = net.prefix(T)
    solver = mf.SimpleMaxFlow()
    solver.add_arcs_with_capacity(net.tail[:m], net.head[:m], net.cap[:m])
    solver.add_arc_with_capacity(net.source, net.sink, 0)  # both ends exist in the graph
    status = solver.solve(net.source, net.sink)
    if status != solver.OPTIMAL:
        raise SolverError(f"OR-Tools max flow failed at horizon {T} (status {status})")
    return solver


def max_flow(net: StepNetwork, T: int) -> int:
    """Maximum number of evacuees who can reach an exit by step ``T`` (<= net.horizon)."""
    if T < 0:
        return 0
    return int(solved_prefix(net, T).optimal_flow())


def min_cost_flow(net: StepNetwork, T: int) -> tuple[int, np.ndarray]:
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


def capped_max_flow(net: StepNetwork, T: int, arrivals: np.ndarray) -> np.ndarray:
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
