"""Solve the time-expanded model with HiGHS and turn the result into a :class:`Plan`.

Two modes:

- default (LP + repair): the LP relaxation is solved with HiGHS's interior-point method and
  crossover (a basis, so duals and fast warm re-solves). Its objective bounds every schedule.
  The *repair* then makes sorties whole with a small aircraft-only MIP: each sortie variable may
  only take the floor or the ceiling of its LP value, subject to every aircraft constraint (fleet
  balance, availability, slots, MOG), and it must seat the people the LP put on each arc; seats it
  cannot give are priced at those people's value. If every person keeps a seat, the LP's flows
  stand; otherwise the LP is re-solved from its basis with the whole sorties fixed.
- ``integer=True``: the LP relaxation first (bound and duals), then the full MIP with integer
  sorties, started from the repaired schedule; HiGHS's MIP gap is reported.

The binding constraints come from the LP's duals; the top ones are checked by warm re-solves of
the LP with more capacity (:mod:`evacops.plan.binding`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import highspy
import numpy as np

from evacops.errors import InfeasibleError, SolverError
from evacops.network import Network, compile_network
from evacops.plan.model import Builder
from evacops.scenario import Scenario

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Silence what the solver library prints on the process's stdout (its banner), so that
    ``--json`` output stays one JSON object."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # captured streams in tests
        yield
        return
    sys.stdout.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


class HighsRun:
    """One linopy model handed to a ``highspy.Highs`` object, kept for warm re-solves."""

    def __init__(self, builder: Builder):
        t0 = time.perf_counter()
        self.b = builder
        self.m = builder.build()
        with _quiet_stdout():
            self.h = self.m.to_highspy()
        self.h.setOptionValue("output_flag", False)
        M = self.m.matrices
        self.vpos = np.full(int(self.m._xCounter) + 1, -1, dtype=np.int64)
        self.vpos[M.vlabels] = np.arange(len(M.vlabels))
        self.cpos = np.full(int(self.m._cCounter) + 1, -1, dtype=np.int64)
        self.cpos[M.clabels] = np.arange(len(M.clabels))
        self.build_s = time.perf_counter() - t0
        self.solve_s = 0.0
        self.status = "unsolved"

    @property
    def variables(self) -> int:
        return int(self.h.getNumCol())

    @property
    def constraints(self) -> int:
        return int(self.h.getNumRow())

    def run(self, budget_s: float | None = None, **options) -> str:
        """Run HiGHS with ``options``; ``budget_s`` limits this run alone (HiGHS's own
        ``time_limit`` counts the object's whole life, every earlier run included)."""
        for k, v in options.items():
            self.h.setOptionValue(k, v)
        if budget_s is not None:
            self.h.setOptionValue("time_limit", float(self.h.getRunTime()) + budget_s)
        t0 = time.perf_counter()
        try:
            with _quiet_stdout():
                self.h.run()
        finally:
            if budget_s is not None:
                self.h.setOptionValue("time_limit", float("inf"))
        self.solve_s += time.perf_counter() - t0
        status = self.h.modelStatusToString(self.h.getModelStatus()).lower()
        self.status = status
        if "infeasible" in status:
            raise InfeasibleError("infeasible")
        if status != "optimal":
            has_solution = self.h.getInfo().primal_solution_status == 2
            if not (("time limit" in status or "iteration" in status) and has_solution):
                raise SolverError(
                    f"HiGHS stopped: {status}; try a longer --time-limit or a coarser --period"
                )
        return status

    def values(self, labels: np.ndarray) -> np.ndarray:
        col = np.asarray(self.h.getSolution().col_value)
        pos = np.where(labels >= 0, self.vpos[np.maximum(labels, 0)], -1)
        return np.where(pos >= 0, col[np.maximum(pos, 0)], 0.0)

    def rows(self, name: str) -> np.ndarray:
        lab = self.m.constraints[name].labels.values
        return np.where(lab >= 0, self.cpos[np.maximum(lab, 0)], -1)

    def row_arrays(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(duals, tight) of a constraint family, shaped like its rows; zeros where absent."""
        sol = self.h.getSolution()
        dual = np.asarray(sol.row_dual)
        act = np.asarray(sol.row_value)
        pos = self.rows(name)
        ok = pos >= 0
        p = np.maximum(pos, 0)
        rhs = self.m.constraints[name].rhs.values
        d = np.where(ok, dual[p], 0.0)
        tight = ok & (np.abs(act[p] - rhs) <= 1e-6 * (1 + np.abs(rhs)))
        return d, tight

    def objective(self) -> float:
        return float(self.h.getInfo().objective_function_value)

    def change_rhs(self, name: str, index: tuple, delta: float) -> None:
        """Raise the limit of ``<=`` rows of a family (an index into its row array) by delta."""
        pos = np.atleast_1d(self.rows(name)[index])
        pos = pos[pos >= 0].astype(np.int32)
        if not len(pos):
            return
        lp = self.h.getLp()
        upper = np.asarray(lp.row_upper_)[pos] + delta
        lower = np.asarray(lp.row_lower_)[pos]
        self.h.changeRowsBounds(len(pos), pos, lower, upper)  # type: ignore[attr-defined]

    def fix_columns(self, labels: np.ndarray, values: np.ndarray) -> None:
        keep = labels >= 0
        pos = self.vpos[labels[keep]].astype(np.int32)
        v = values[keep].astype(float)
        self.h.changeColsBounds(len(pos), pos, v, v)


@dataclass
class Solution:
    """Arrays of one solved model (zeros where a variable does not exist)."""

    status: str
    objective: float
    hold: np.ndarray
    flow: np.ndarray
    sorties: np.ndarray
    idle: np.ndarray
    duals: dict[str, np.ndarray]
    tight: dict[str, np.ndarray]
    variables: int
    constraints: int
    build_s: float
    solve_s: float
    mip_gap: float | None = None

    @property
    def termination(self) -> str:
        return self.status


BINDING_FAMILIES = (
    "Site-holding",
    "Site-processing",
    "Arc-capacity",
    "Airfield-departures",
    "Airfield-arrivals",
    "Airfield-mog",
)


def _solution(run: HighsRun, duals: bool, mip_gap: float | None = None) -> Solution:
    b = run.b
    d: dict[str, np.ndarray] = {}
    tight: dict[str, np.ndarray] = {}
    if duals:
        for name in BINDING_FAMILIES:
            if name in run.m.constraints:
                d[name], tight[name] = run.row_arrays(name)
    return Solution(
        status=run.status,
        objective=run.objective(),
        hold=run.values(b.L_hold),
        flow=run.values(b.L_flow),
        sorties=run.values(b.L_sortie),
        idle=run.values(b.L_idle),
        duals=d,
        tight=tight,
        variables=run.variables,
        constraints=run.constraints,
        build_s=run.build_s,
        solve_s=run.solve_s,
        mip_gap=mip_gap,
    )


def _options(time_limit: float | None, threads: int | None) -> dict:
    opts: dict = {}
    if time_limit is not None:
        opts["budget_s"] = float(time_limit)
    if threads is not None:
        opts["threads"] = int(threads)
    return opts


def lp_run(net: Network, time_limit: float | None = None, threads: int | None = None) -> HighsRun:
    """Build and solve the LP relaxation (interior point + crossover); keep it for re-solves."""
    run = HighsRun(Builder(net))
    run.run(solver="ipm", run_crossover="on", **_options(time_limit, threads))
    return run


def solve_network(
    net: Network,
    integer: bool = False,
    time_limit: float | None = None,
    mip_gap: float = 1e-3,
    duals: bool = True,
    threads: int | None = None,
) -> Solution:
    """Build and solve one model of ``net``; raise InfeasibleError if none exists."""
    if not integer:
        return _solution(lp_run(net, time_limit, threads), duals)
    run = HighsRun(Builder(net, integer=True))
    run.run(mip_rel_gap=mip_gap, **_options(time_limit, threads))
    return _solution(run, duals=False, mip_gap=float(run.h.getInfo().mip_gap))


def repair_sorties(
    net: Network,
    run: HighsRun,
    lp: Solution,
    budget_s: float | None = None,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Whole sorties near the LP's: the aircraft-only MIP described in the module docs.

    HiGHS stops when the schedule is within 0.1 % of the LP's objective of the best possible
    (an absolute gap: the repair's own objective is tiny next to the plan's), or after
    ``budget_s`` with the best schedule found so far.
    Returns (sorties, idle aircraft by station and period, person-periods people the LP put on
    an arc wait for a seat on the whole sorties).
    """
    demand = lp.flow.sum(axis=0)  # (arc, period)
    value = np.abs(run.b.flow_coef).max(axis=0)  # value per person on the arc, per period
    lo = np.floor(lp.sorties + 1e-6)
    hi = np.ceil(lp.sorties - 1e-6)
    gap = 1e-3 * max(abs(lp.objective), 1.0)
    for widen in (False, True):
        bounds = (lo, hi) if not widen else (np.zeros_like(lo), hi + 1)
        rep = HighsRun(
            Builder(
                net,
                integer=True,
                sortie_bounds=bounds,
                seat_demand=demand,
                shortfall_value=np.maximum(value, 1.0),
            )
        )
        try:
            rep.run(mip_abs_gap=gap, mip_rel_gap=1e-4, budget_s=budget_s)
        except InfeasibleError:
            continue  # the floor/ceiling box has no whole schedule: search a wider one
        except SolverError:
            if budget_s is None:
                raise
            # nothing found within the budget: look on until the first whole schedule
            rep.run(mip_abs_gap=gap, mip_max_improving_sols=1)
        y = np.round(rep.values(rep.b.L_sortie))
        idle = np.round(rep.values(rep.b.L_idle))
        waiting = float(rep.values(rep.b.L_short).sum())
        return y, idle, waiting
    raise SolverError("no whole-sortie schedule found near the LP optimum; try --integer")


def explain_infeasible(net: Network) -> str:
    """Find which cohort and constraint make the scenario infeasible, by relaxing in turn the
    holding capacity of each site where people are made to appear."""
    origins = np.flatnonzero(net.appear.sum(axis=(0, 2)) > 0)
    for s in origins:
        if not np.isfinite(net.cap[s]).any():
            continue
        saved = net.cap[s].copy()
        net.cap[s] = np.inf
        try:
            lp_run(net)
        except InfeasibleError:
            continue
        finally:
            net.cap[s] = saved
        cohorts = [net.cohorts[c] for c in np.flatnonzero(net.appear[:, s].sum(axis=1) > 0)]
        t = int(np.argmax(np.cumsum(net.appear[:, s].sum(axis=0)) > saved.min()))
        return (
            f"infeasible: cohort {', '.join(map(repr, cohorts))} appears at {net.sites[s]!r} "
            f"faster than it can leave, and its holding capacity ({saved.min():g}) is "
            f"exceeded from {net.timeline.time_of(t):%d %b %H:%M}; raise "
            f"sites[{net.sites[s]}].holding_capacity, spread the cohort's appear profile, or "
            "add an assembly point before it"
        )
    return (
        "infeasible: no plan satisfies every constraint, and no single holding capacity "
        "explains it; check capacity changes and fleet events"
    )


def solve_plan(
    scenario: Scenario,
    period: str | None = None,
    integer: bool = False,
    time_limit: float | None = None,
    mip_gap: float = 1e-3,
    check_binding: int = 5,
    progress: Progress | None = None,
    check_budget_s: float | None = None,
):
    """Plan ``scenario``: compile, solve (LP + repair, or MIP), explain what binds.

    ``check_budget_s`` is the time each binding check's re-solve may take (default: a quarter of
    the LP's solve time, at least 3 s)."""
    from evacops.plan.binding import find_binding
    from evacops.plan.plan import Plan

    say = progress or (lambda _msg: None)
    t0 = time.perf_counter()
    say("compiling the time-expanded network")
    net = compile_network(scenario, period)
    say(f"building and solving the LP ({net.T} periods of {net.period_h:g} h)")
    try:
        run = lp_run(net, time_limit)
    except InfeasibleError:
        raise InfeasibleError(explain_infeasible(net)) from None
    lp = _solution(run, duals=True)
    binding = []
    if check_binding >= 0:
        say("reading the binding constraints from the duals")
        # each check is a warm re-solve; a quarter of the LP's own time is enough for most
        # (a few dual simplex pivots), and a check that needs more is reported unverified
        if check_budget_s is None:
            check_budget_s = max(3.0, 0.25 * run.solve_s)
        binding = find_binding(
            net, run, lp, checks=check_binding, progress=say, budget_s=check_budget_s
        )
    final, repair = lp, None
    frac = np.abs(lp.sorties - np.round(lp.sorties)) > 1e-6
    if frac.any() or integer:
        say(f"repairing {int(frac.sum())} fractional sortie variables to whole sorties")
        t1 = time.perf_counter()
        budget = time_limit if time_limit is not None else max(10.0, run.solve_s)
        y, idle, short = repair_sorties(net, run, lp, budget)
        repair = {
            "fractional_sorties": int(frac.sum()),
            "seat_wait_person_periods": round(short, 3),
        }
        if short > 1e-6:
            say("re-solving the people flows on the whole sorties")
            run.fix_columns(run.b.L_sortie, y)
            run.run(solver="simplex")
            final = _solution(run, duals=False)
        else:
            # every person keeps a seat: the LP's flows stand with the whole sorties
            obj = lp.objective + scenario.objective.sortie * float(y.sum() - lp.sorties.sum())
            final = Solution(
                **{
                    **lp.__dict__,
                    "sorties": y,
                    "idle": idle,
                    "objective": obj,
                    "duals": {},
                    "tight": {},
                }
            )
        final.build_s, final.solve_s = 0.0, time.perf_counter() - t1
        final.status = "optimal" if short <= 1e-6 else run.status
    if integer:
        say("solving the MIP with integer sorties")
        mip = HighsRun(Builder(net, integer=True))
        start = highspy.HighsSolution()
        col = np.zeros(mip.variables)
        for lab, vals in (
            (mip.b.L_hold, final.hold),
            (mip.b.L_flow, final.flow),
            (mip.b.L_sortie, final.sorties),
            (mip.b.L_idle, final.idle),
        ):
            keep = lab >= 0
            col[mip.vpos[lab[keep]]] = vals[keep]
        start.col_value = list(col)
        mip.h.setSolution(start)
        mip.run(mip_rel_gap=mip_gap, **_options(time_limit, None))
        final = _solution(mip, duals=False, mip_gap=float(mip.h.getInfo().mip_gap))
        repair = None
    plan = Plan(network=net, lp=lp, final=final, integer=integer, repair=repair)
    plan.binding = binding
    plan.wall_s = time.perf_counter() - t0
    return plan
