"""Benchmark: exact evacuation routing against CCRP and against HiGHS on the same network as an LP.

Grids k x k made by ``grid_instance(k, seed)`` (like the shared samples), two seeds each. For each
instance, side by side, in one run:

- **exact**: ``route_exact`` (time-expanded network, OR-Tools max flows, earliest-arrival
  profile; optimal egress, then optimal total arrival, with the proof at egress - 1);
- **CCRP**: ``ccrp``, the Capacity Constrained Route Planner heuristic;
- **HiGHS LP**: the plain time-expanded network (no pruning) written as an LP and solved by
  HiGHS: bisection on the horizon with max-arrival LPs between the static lower bound and CCRP's
  egress (a feasible horizon; CCRP's time is not counted here), then the min-total-arrival LP at
  the least feasible horizon. A per-instance time limit (default 300 s) covers all its LPs; when
  it runs out the row says "time limit".

Both plans (exact and CCRP) are checked with ``validate_routes``; a row is marked if a check
fails or if exact and HiGHS disagree.

    python benchmarks/route_vs_ccrp.py [--sizes 10,16,20,24,28,32] [--seeds 1,2]
                                       [--time-limit 300] [--no-lp] [--json]

The module also holds the LP reference (:func:`lp_optimum`) that tests/test_route.py imports:
it is written here from the problem statement, independently of evacops.route.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass

import highspy
import numpy as np
import scipy.sparse as sp

from evacops.route import NetworkInstance, grid_instance

TOL = 1e-6


class LpTimeLimit(Exception):
    """HiGHS ran out of the time allowed."""


def _highs() -> highspy.Highs:
    """A quiet Highs (its constructor prints a banner on the C-level stdout)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            h = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    h.setOptionValue("output_flag", False)
    return h


# -- the LP reference --------------------------------------------------------------------------
def lp_arcs(inst: NetworkInstance, T: int) -> dict[str, np.ndarray]:
    """Arcs of the time-expanded network by horizon T, written plainly (nothing pruned).

    Nodes (v, t), t = 0..T, are numbered t * N + v; then the super source S and the sink Z.
    Exits absorb: no edge and no waiting out of an exit.
    """
    n = inst.n_nodes
    big = float(max(inst.total_evacuees, 1))
    S, Z = (T + 1) * n, (T + 1) * n + 1
    tails, heads, caps, costs, kinds = [], [], [], [], []

    def add(tail, head, cap, cost, kind):
        tails.append(np.asarray(tail, dtype=np.int64))
        heads.append(np.asarray(head, dtype=np.int64))
        caps.append(np.broadcast_to(np.asarray(cap, dtype=float), np.shape(tail)).copy())
        costs.append(np.broadcast_to(np.asarray(cost, dtype=float), np.shape(tail)).copy())
        kinds.append(np.full(np.shape(tail), kind))

    src = np.flatnonzero(inst.evacuees > 0)
    add(np.full(len(src), S), src, inst.evacuees[src], 0.0, "source")
    leave = ~inst.is_exit[inst.edge_from]
    for e in np.flatnonzero(leave):
        tau = int(inst.edge_travel[e])
        if tau > T:
            continue
        t = np.arange(0, T - tau + 1)
        add(
            t * n + inst.edge_from[e],
            (t + tau) * n + inst.edge_to[e],
            float(inst.edge_capacity[e]),
            0.0,
            "edge",
        )
    for v in np.flatnonzero(~inst.is_exit):
        t = np.arange(0, T)
        add(t * n + v, (t + 1) * n + v, min(float(inst.holding[v]), big), 0.0, "hold")
    for x in np.flatnonzero(inst.is_exit):
        t = np.arange(0, T + 1)
        add(t * n + x, np.full(len(t), Z), big, t.astype(float), "sink")
    return {
        "tail": np.concatenate(tails),
        "head": np.concatenate(heads),
        "cap": np.concatenate(caps),
        "cost": np.concatenate(costs),
        "kind": np.concatenate(kinds),
        "nodes": np.array((T + 1) * n),
    }


def _solve_lp(
    arcs: dict[str, np.ndarray], inst: NetworkInstance, maximize_out: bool, time_limit: float | None
) -> float:
    """Max people out (``maximize_out``) or min total arrival with everyone out; the value."""
    m, rows = len(arcs["tail"]), int(arcs["nodes"])
    src = arcs["kind"] == "source"
    # flow balance at every (v, t): out - in = 0 (S and Z have no row)
    inner_t, inner_h = arcs["tail"] < rows, arcs["head"] < rows
    cols = np.arange(m)
    a = sp.csc_matrix(
        (
            np.r_[np.ones(inner_t.sum()), -np.ones(inner_h.sum())],
            (
                np.r_[arcs["tail"][inner_t], arcs["head"][inner_h]],
                np.r_[cols[inner_t], cols[inner_h]],
            ),
        ),
        shape=(rows, m),
    )
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = m, rows
    lower = np.zeros(m)
    if maximize_out:
        lp.sense_ = highspy.ObjSense.kMaximize
        lp.col_cost_ = src.astype(float)
    else:
        lp.col_cost_ = arcs["cost"]
        lower[src] = arcs["cap"][src]  # everyone leaves the super source
    lp.col_lower_, lp.col_upper_ = lower, arcs["cap"]
    lp.row_lower_ = lp.row_upper_ = np.zeros(rows)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = a.indptr, a.indices, a.data
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = m, rows
    h = _highs()
    if time_limit is not None:
        if time_limit <= 0:
            raise LpTimeLimit
        h.setOptionValue("time_limit", float(time_limit))
    h.passModel(lp)
    h.run()
    status = h.getModelStatus()
    if status == highspy.HighsModelStatus.kTimeLimit:
        raise LpTimeLimit
    if status == highspy.HighsModelStatus.kInfeasible:
        return float("inf")
    if status != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"HiGHS: {h.modelStatusToString(status)}")
    return float(h.getInfo().objective_function_value)


def lp_max_out(inst: NetworkInstance, horizon: int, time_limit: float | None = None) -> int:
    """Most evacuees who can reach an exit by step ``horizon``, by the LP."""
    return round(_solve_lp(lp_arcs(inst, horizon), inst, True, time_limit))


@dataclass
class LpResult:
    egress: int | None
    total_arrival: int | None
    status: str  # "optimal" | "time limit" | "infeasible"
    wall_s: float
    lps: int


def lp_optimum(
    inst: NetworkInstance,
    lower: int = 0,
    upper: int | None = None,
    time_limit: float | None = None,
    max_horizon: int = 200,
) -> LpResult:
    """Least egress, then least total arrival, by HiGHS on the time-expanded LP.

    Without ``upper``: every horizon from ``lower`` up (``max_horizon`` at most: "infeasible"
    past it); with ``upper`` (known feasible): bisection in [lower, upper].
    """
    t0 = time.perf_counter()
    people = inst.total_evacuees
    lps = 0

    def left() -> float | None:
        return None if time_limit is None else time_limit - (time.perf_counter() - t0)

    def feasible(T: int) -> bool:
        nonlocal lps
        lps += 1
        return _solve_lp(lp_arcs(inst, T), inst, True, left()) >= people - TOL

    try:
        if upper is None:
            horizon = lower
            while not feasible(horizon):
                horizon += 1
                if horizon > max_horizon:
                    return LpResult(None, None, "infeasible", time.perf_counter() - t0, lps)
        else:
            lo, hi = lower, upper
            while lo < hi:
                mid = (lo + hi) // 2
                if feasible(mid):
                    hi = mid
                else:
                    lo = mid + 1
            horizon = hi
        lps += 1
        total = _solve_lp(lp_arcs(inst, horizon), inst, False, left())
    except LpTimeLimit:
        return LpResult(None, None, "time limit", time.perf_counter() - t0, lps)
    return LpResult(horizon, round(total), "optimal", time.perf_counter() - t0, lps)


# -- the benchmark -----------------------------------------------------------------------------
@dataclass
class Row:
    k: int
    seed: int
    nodes: int
    evacuees: int
    exact_egress: int
    exact_total: int
    exact_s: float
    lower_bound: int
    proof: int | None
    ccrp_egress: int
    ccrp_total: int
    ccrp_s: float
    lp_status: str
    lp_egress: int | None
    lp_total: int | None
    lp_s: float | None
    lp_solves: int | None
    checks: str


def run_one(k: int, seed: int, time_limit: float, with_lp: bool) -> Row:
    from evacops.route import ccrp, lower_bound, route_exact, validate_routes

    inst = grid_instance(k, seed)
    ex = route_exact(inst)
    cc = ccrp(inst)
    notes = []
    for name, res in (("exact", ex), ("ccrp", cc)):
        chk = validate_routes(inst, res.groups)
        if not chk.ok or chk.egress != res.egress or chk.total_arrival != res.total_arrival:
            notes.append(f"{name} plan INVALID: {chk.problems[:1]}")
    lp = LpResult(None, None, "skipped", 0.0, 0)
    if with_lp:
        lp = lp_optimum(inst, lower=lower_bound(inst), upper=cc.egress, time_limit=time_limit)
        if lp.status == "optimal" and (lp.egress, lp.total_arrival) != (
            ex.egress,
            ex.total_arrival,
        ):
            notes.append("exact != HiGHS")
    return Row(
        k,
        seed,
        inst.n_nodes,
        inst.total_evacuees,
        ex.egress,
        ex.total_arrival,
        ex.solve_s,
        ex.lower_bound or 0,
        ex.proof,
        cc.egress,
        cc.total_arrival,
        cc.solve_s,
        lp.status,
        lp.egress,
        lp.total_arrival,
        lp.wall_s if with_lp else None,
        lp.lps if with_lp else None,
        "; ".join(notes) or "ok",
    )


def table(rows: list[Row], title: str):
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for col in (
        "grid",
        "seed",
        "evacuees",
        "exact egress",
        "exact total",
        "exact s",
        "CCRP egress",
        "CCRP total",
        "CCRP s",
        "HiGHS egress",
        "HiGHS total",
        "HiGHS s",
        "checks",
    ):
        t.add_column(col, justify="left" if col in ("grid", "checks") else "right")
    for r in rows:
        lp = (
            (str(r.lp_egress), f"{r.lp_total:,}", f"{r.lp_s:.1f}")
            if r.lp_status == "optimal"
            else (r.lp_status, "-", f"{r.lp_s:.0f}" if r.lp_s else "-")
        )
        t.add_row(
            f"{r.k}x{r.k}",
            str(r.seed),
            f"{r.evacuees:,}",
            str(r.exact_egress),
            f"{r.exact_total:,}",
            f"{r.exact_s:.2f}",
            str(r.ccrp_egress),
            f"{r.ccrp_total:,}",
            f"{r.ccrp_s:.2f}",
            *lp,
            r.checks,
        )
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10,16,20,24,28,32", help="grid sizes k, comma-separated")
    ap.add_argument("--seeds", default="1,2", help="seeds, comma-separated")
    ap.add_argument(
        "--time-limit",
        type=float,
        default=300.0,
        help="seconds HiGHS may take per instance, all its LPs together",
    )
    ap.add_argument("--no-lp", action="store_true", help="skip HiGHS")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    from rich.console import Console

    err = Console(stderr=True)
    sizes = [int(x) for x in args.sizes.split(",")]
    seeds = [int(x) for x in args.seeds.split(",")]
    rows = []
    for k in sizes:
        for seed in seeds:
            err.print(f"grid {k}x{k} seed {seed} ...", highlight=False)
            r = run_one(k, seed, args.time_limit, not args.no_lp)
            err.print(
                f"  exact {r.exact_egress}/{r.exact_total} in {r.exact_s:.2f} s; CCRP "
                f"{r.ccrp_egress}/{r.ccrp_total} in {r.ccrp_s:.2f} s; HiGHS {r.lp_status} "
                f"{r.lp_egress}/{r.lp_total} in {r.lp_s or 0:.1f} s; {r.checks}",
                highlight=False,
            )
            rows.append(r)
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, HiGHS {_highs().version()}"
    )
    if args.json:
        print(
            json.dumps(
                {
                    "machine": machine,
                    "time_limit_s": args.time_limit,
                    "rows": [asdict(r) for r in rows],
                }
            )
        )
        return
    Console(width=200).print(
        table(
            rows,
            f"Exact routing vs CCRP vs HiGHS LP ({machine}; HiGHS time "
            f"limit {args.time_limit:g} s per instance)",
        )
    )


if __name__ == "__main__":
    sys.exit(main())
