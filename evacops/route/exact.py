"""Exact evacuation routing: least egress time, then least total arrival, with a proof.

The problem (docs/routing.md): evacuees stand at the nodes of a network at t = 0 and must reach an
exit; an edge admits at most ``capacity`` people per step and takes ``travel`` steps; at most
``holding`` people may wait at a node between t and t+1. Find a plan that minimises the egress
time (the step at which the last evacuee arrives) and then the total arrival time.

:func:`route_exact` solves it to optimality:

1. **Step network** for a horizon H (evacops.route.expand): node (v, t) for t = 0..H, pruned, its
   arcs sorted so that the network of any horizon T <= H is a *prefix* of the arrays.
2. **Egress time T\\***: the least T whose maximum flow is all the evacuees (OR-Tools max flow,
   evacops.route.flows). The search starts at a lower bound (evacops.route.bounds: shortest
   travel to an exit, and cut bounds), steps by where the last probe's arrivals would get
   everyone out at their recent rate (never less than the exits' inflow allows), and closes by
   bisection; each probe is a max flow on a prefix of one network (:class:`_Horizons`).
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
   edge) by :func:`evacops.route.expand.decompose`; a departure later than the arrival at a node
   is a wait there.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from evacops.errors import InfeasibleError, SolverError
from evacops.route.bounds import exit_inflow_per_step, lower_bound
from evacops.route.expand import SINK, StepNetwork, decompose, expand_instance
from evacops.route.flows import capped_max_flow, min_cost_flow, solved_prefix
from evacops.route.instance import NetworkInstance, exit_distance, source_distance
from evacops.route.result import RouteResult, make_group

_BIG = np.iinfo(np.int64).max
TOTAL_BY = ("earliest-arrival", "min-cost-flow")


class _Horizons:
    """Max-flow probes over the horizons of one step network, and what they prove.

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
        # a min cut whose source side ends this many steps before the horizon has all its arcs
        # in the network of every larger horizon: then no horizon is feasible
        self.margin = int(inst.edge_travel.max(initial=1)) + int(dexit[dexit < _BIG].max()) + 1
        self.net: StepNetwork | None = None
        self.value: dict[int, int] = {}
        self.upper = np.zeros(0, dtype=np.int64)  # A(θ) <= upper[θ]
        self.lower = np.zeros(0, dtype=np.int64)  # A(θ) >= lower[θ]
        self.last_cut_step = 0  # of the last probe: last step on the source side of its cut

    def build(self, H: int) -> StepNetwork:
        if self.net is None or self.net.horizon < H:
            if self.net is not None:
                H = max(H, math.ceil(1.25 * self.net.horizon))
            t = time.perf_counter()
            self.net = expand_instance(self.inst, H, self.dsrc, self.dexit)
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
        """Max flow by step T (remembered), tightening the bounds on the arrival profile."""
        if T in self.value:
            return self.value[T]
        if T < 0:
            return 0
        net = self.build(T)
        t0 = time.perf_counter()
        solver = solved_prefix(net, T)
        value = int(solver.optimal_flow())
        self._learn_arrivals(net, T, solver)
        self._learn_cut(net, T, solver, value)
        self._tighten()
        self.value[T] = value
        self.stats["max_flows"] = self.stats.get("max_flows", 0) + 1
        self.stats["max_flow_s"] = self.stats.get("max_flow_s", 0) + time.perf_counter() - t0
        self.say(f"max flow by step {T}: {value} of {self.people} evacuees")
        return value

    def _learn_arrivals(self, net: StepNetwork, T: int, solver: Any) -> None:
        """Lower bounds: the arrivals of the probe's flow by each step."""
        m = net.prefix(T)
        H = net.horizon
        flow = np.asarray(solver.flows(np.arange(m, dtype=np.int32)), dtype=np.int64)
        sink = net.kind[:m] == SINK
        got = np.cumsum(np.bincount(net.step[:m][sink], weights=flow[sink], minlength=H + 1))
        self.lower = np.maximum(self.lower, got[: H + 1].astype(np.int64))

    def _learn_cut(self, net: StepNetwork, T: int, solver: Any, value: int) -> None:
        """Upper bounds: the capacity of the probe's min cut in the network of each horizon."""
        H = net.horizon
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

    ``upper_bound``: a horizon known to be feasible (e.g. the egress of
    :func:`evacops.route.ccrp.ccrp`); by default the search probes upward from the lower bound.
    ``total_by`` chooses how the least total arrival at the egress time T* is found (both exact,
    see docs/routing.md):

    - ``"earliest-arrival"`` (default): the arrival profile A(θ) = max flow by step θ for every
      θ <= T*, pinned by the cuts and flows of the probes (a few extra probes at early steps),
      then one max flow in which exactly A(θ) - A(θ-1) people arrive at step θ. Any plan has
      at most A(θ) people out by θ, so its total arrival sum_θ (E - out by θ) is at least
      this plan's;
    - ``"min-cost-flow"``: OR-Tools' min-cost flow at T* with cost = arrival step (slower on
      large networks: 47 s instead of 5 s on a 32 x 32 grid).
    """
    if total_by not in TOTAL_BY:
        raise ValueError(
            f"total_by must be 'earliest-arrival' or 'min-cost-flow', got {total_by!r}"
        )
    t0 = time.perf_counter()
    people = inst.total_evacuees
    stats: dict[str, Any] = {"total_by": total_by}
    dsrc, dexit = source_distance(inst), exit_distance(inst)
    lb = lower_bound(inst, dsrc, dexit)
    if not ((inst.evacuees > 0) & ~inst.is_exit).any():  # nobody has to move
        return _nobody_moves(inst, t0, stats)
    hz = _Horizons(inst, dsrc, dexit, progress or (lambda msg: None), stats)
    T, ub = _egress(hz, lb, upper_bound)
    stats["search_probes"] = {str(k): v for k, v in sorted(hz.value.items())}
    proof = hz.probe(T - 1) if T > 0 else None
    if proof is not None and proof >= people:
        raise SolverError(f"internal: horizon {T - 1} is feasible after the search")
    net = hz.net
    assert net is not None
    stats["arcs_at_egress"] = net.prefix(T)
    t1 = time.perf_counter()
    total, flow = _least_total(hz, net, T, total_by)
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


def _nobody_moves(inst: NetworkInstance, t0: float, stats: dict[str, Any]) -> RouteResult:
    """The plan when every evacuee already stands at an exit: all arrive at step 0."""
    groups = [
        make_group(inst, int(v), int(inst.evacuees[v]), [], [])
        for v in np.flatnonzero(inst.evacuees > 0)
    ]
    return RouteResult(
        0,
        0,
        inst.total_evacuees,
        "exact",
        time.perf_counter() - t0,
        0,
        0,
        None,
        groups,
        inst.name,
        stats,
    )


def _egress(hz: _Horizons, lb: int, upper_bound: int | None) -> tuple[int, int | None]:
    """The least feasible horizon T*, searched from ``lb``, and the first feasible horizon
    found (the upper bound on the egress before the search closed)."""
    people = hz.people
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
            _check_can_finish(hz, T, f, hi)
            lo = max(lo, T + 1, T + math.ceil((people - f) / hz.inflow))
        if hi is not None and lo >= hi:
            break
        T = _next_probe(hz, T, f, lo, hi)
    assert hi is not None
    return hi, ub


def _check_can_finish(hz: _Horizons, T: int, f: int, hi: int | None) -> None:
    """Raise if horizon T, infeasible with max flow ``f``, shows that no horizon is feasible
    (or that the search would grow too large)."""
    inst = hz.inst
    if hi is None and hz.last_cut_step + hz.margin <= T:
        raise InfeasibleError(
            f"{inst.name}: at most {f} of {hz.people} evacuees can ever reach an exit: "
            "the holding capacities cannot take the people who must wait; raise "
            "holding capacities (or give inf) near the nodes with evacuees"
        )
    if (T + 1) * inst.n_nodes > 50_000_000:
        raise SolverError(f"{inst.name}: no feasible horizon up to step {T}")


def _next_probe(hz: _Horizons, T: int, f: int, lo: int, hi: int | None) -> int:
    """The next horizon to probe after T (max flow ``f``), inside [lo, hi).

    Where the arrivals of the last probe's flow, at their recent rate, would get everyone out (a
    secant step), kept inside [lo, hi) and halving the bracket at worst.
    """
    people = hz.people
    got = hz.lower
    w = min(5, T)
    rate = max(1.0, (got[T] - got[T - w]) / w if w > 0 else hz.inflow)
    guess = T + math.ceil((people - got[T]) / rate) if f < people else T - 1
    if hi is None:
        return max(lo, guess)
    T = min(max(lo, guess), hi - 1)
    if hi - lo > 2 and not (lo + (hi - lo) // 4 <= T <= hi - 1 - (hi - lo) // 4):
        T = (lo + hi - 1) // 2
    return T


def _least_total(hz: _Horizons, net: StepNetwork, T: int, total_by: str) -> tuple[int, np.ndarray]:
    """(least total arrival, flow on the prefix arcs) of a plan with everyone out by T."""
    say = hz.say
    if total_by == "min-cost-flow":
        say(f"min-cost flow by step {T}")
        return min_cost_flow(net, T)
    say(f"arrival profile up to step {T}")
    arrived = hz.profile(T)
    out_by = np.diff(arrived, prepend=0)
    say(f"max flow with the arrival profile by step {T}")
    flow = capped_max_flow(net, T, out_by)
    sink = net.kind[: len(flow)] == SINK
    if int(flow[sink].sum()) != hz.people:  # cannot happen (earliest arrival flows exist)
        say("the arrival profile is not attained; min-cost flow instead")
        hz.stats["total_by"] = "min-cost-flow (fallback)"
        return min_cost_flow(net, T)
    return int((np.arange(T + 1) * out_by).sum()), flow
