"""Solve the plan model with HiGHS and turn the result into a :class:`~evacops.plan.result.Plan`.

Two modes:

- default (LP + repair): the LP relaxation is solved with HiGHS's interior-point method and
  crossover (a basis, so duals and fast warm re-solves). Its objective bounds every schedule.
  The *repair* then makes sorties whole with a small aircraft-only MIP
  (:func:`evacops.plan.assemble.assemble_repair`): each sortie variable may only take the floor
  or the ceiling of its LP value, subject to every aircraft constraint (fleet balance,
  availability, slots, MOG), and it must seat the people the LP put on each arc; seats it cannot
  give are priced at those people's value. HiGHS searches it on one core, a search window by
  window (:mod:`evacops.plan.window_search`) on the other, and the better schedule is kept. If
  every person keeps a seat, the LP's flows stand; otherwise the people are re-flowed with the
  whole sorties fixed.
- ``integer=True``: the LP relaxation first (bound and duals), then the full MIP with integer
  sorties, started from the repaired schedule; HiGHS's MIP gap is reported.

The binding constraints come from the LP's duals; the top ones are checked by warm re-solves of
the LP with more capacity (:mod:`evacops.plan.binding`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import highspy
import numpy as np

from evacops.errors import InfeasibleError, SolverError
from evacops.network import Network, compile_network
from evacops.plan import window_search
from evacops.plan.assemble import PlanModel, RepairModel, assemble_plan, assemble_repair
from evacops.plan.binding import FAMILIES, what_binds
from evacops.plan.highs import HighsRun, Solution
from evacops.plan.objective import repair_value
from evacops.plan.result import Plan
from evacops.plan.tails import held_or_own
from evacops.scenario import Scenario

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


def _solution(run: HighsRun[PlanModel], duals: bool, mip_gap: float | None = None) -> Solution:
    """The arrays of a solved plan model; duals and tightness of the capacity families that
    :mod:`evacops.plan.binding` reads, if ``duals``."""
    v = run.model
    d: dict[str, np.ndarray] = {}
    tight: dict[str, np.ndarray] = {}
    if duals:
        for name in FAMILIES:
            if name in run.m.constraints:
                d[name], tight[name] = run.row_arrays(name)
    return Solution(
        status=run.status,
        objective=run.objective(),
        hold=run.values(v.people.hold),
        flow=run.values(v.people.flow),
        sorties=run.values(v.aircraft.sortie),
        idle=run.values(v.aircraft.idle),
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


def plan_run(net: Network, integer: bool = False) -> HighsRun[PlanModel]:
    """The plan model of ``net`` assembled and handed to HiGHS, not yet solved."""
    started = time.perf_counter()
    return HighsRun(assemble_plan(net, integer=integer), started)


Fixed = tuple[np.ndarray, np.ndarray]
"""Sorties already flown: (mask (move, period) bool, whole sorties there); a re-plan fixes them
(:mod:`evacops.plan.replan`)."""


def _fix(run: HighsRun[PlanModel], fixed: Fixed | None) -> None:
    if fixed is not None:
        mask, values = fixed
        run.fix_columns(np.where(mask, run.model.aircraft.sortie, -1), values)


def lp_run(
    net: Network,
    time_limit: float | None = None,
    threads: int | None = None,
    fixed: Fixed | None = None,
    simplex: bool = False,
    on_built: Callable[[], None] | None = None,
) -> HighsRun[PlanModel]:
    """Build and solve the LP relaxation (interior point + crossover, or with ``simplex`` the
    dual simplex), with the sorties in ``fixed`` fixed; keep it for re-solves. ``on_built`` is
    called once the model is built, before it is solved."""
    run = plan_run(net)
    if on_built is not None:
        on_built()
    _fix(run, fixed)
    if simplex:
        run.run(solver="simplex", simplex_strategy=1, **_options(time_limit, threads))
    else:
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
    run = plan_run(net, integer=True)
    run.run(mip_rel_gap=mip_gap, **_options(time_limit, threads))
    return _solution(run, duals=False, mip_gap=float(run.h.getInfo().mip_gap))


def _start_from_a_first_schedule(rep: HighsRun[RepairModel]) -> highspy.HighsSolution:
    """Find any whole schedule in the repair's box first, and hand it to the search as its
    start (returned, to be handed again). With the objective set to zero HiGHS stops at the
    first one (about 5 s on Kabul at 1-hour periods); with the objective it spent 30 s on the
    root's cutting planes and found none, then 60-70 s more to the first schedule from scratch.
    Raises InfeasibleError if the box has none."""
    h = rep.h
    n = h.getNumCol()
    cols = np.arange(n, dtype=np.int32)
    cost = np.asarray(h.getLp().col_cost_).copy()
    h.changeColsCost(n, cols, np.zeros(n))
    try:
        rep.run(mip_max_improving_sols=1)
    finally:
        h.changeColsCost(n, cols, cost)
        h.setOptionValue("mip_max_improving_sols", _ALL_SOLUTIONS)
    start = highspy.HighsSolution()
    start.col_value = list(h.getSolution().col_value)
    start.value_valid = True
    h.setSolution(start)
    return start


def _improve(
    rep: HighsRun[RepairModel],
    start: highspy.HighsSolution,
    gap: float,
    budget_s: float | None,
    settle: bool = False,
    beside: window_search.Beside | None = None,
) -> None:
    """Search from ``start`` for ``budget_s``; if the budget runs out before anything better
    than the start was found (on Kabul the first better schedules come after 20-30 s of cutting
    planes at the root), search on until the first better one; while the window search
    ``beside`` it is still sweeping with a better schedule than HiGHS's, until its sweep ends
    (each at most :data:`REPAIR_ON_S` more; then the best so far is kept), unless ``settle``.
    One search: HiGHS's interrupt callback stops it (a second run from the start would repeat
    the root's cutting planes)."""
    if budget_s is None or settle:
        rep.run(mip_abs_gap=gap, mip_rel_gap=1e-4, budget_s=budget_s)
        return
    lp = rep.h.getLp()
    first = float(np.asarray(lp.col_cost_) @ np.asarray(start.col_value)) + float(lp.offset_)
    better = first - 1e-9 * max(1.0, abs(first))
    began = float(rep.h.getRunTime())
    limit, last = began + budget_s, began + budget_s + REPAIR_ON_S

    def stop(e: Any) -> None:
        found = e.data_out.mip_primal_bound
        leading = beside is not None and beside.leads(found)
        if window_search.stop_search(e.data_out.running_time, limit, last, found < better, leading):
            e.interrupt()

    rep.h.cbMipInterrupt += stop
    try:
        rep.run(mip_abs_gap=gap, mip_rel_gap=1e-4)
    finally:
        rep.h.cbMipInterrupt -= stop


_ALL_SOLUTIONS = 2147483647  # HiGHS's default mip_max_improving_sols

REPAIR_ON_S = 120.0
"""The most the repair searches on, once its budget is spent, for a schedule better than its
first one (then it keeps the first) or for the window search beside it to end its sweep (then
it keeps the better of the two so far). Planning Kabul at 1-hour periods on 5 Dec, a second search
from the start (as the repair did then) ran more than 8 minutes without one."""


def repair_sorties(
    net: Network,
    lp: Solution,
    budget_s: float | None = None,
    fixed: Fixed | None = None,
    settle: bool = False,
    info: dict[str, Any] | None = None,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Whole sorties near the LP's: the aircraft-only MIP described in the module docs.

    A first whole schedule is found with no objective and starts the search
    (:func:`_start_from_a_first_schedule`). HiGHS stops when the schedule is within 0.1 % of
    the LP's objective of the best possible (an absolute gap: the repair's own objective is
    tiny next to the plan's), or after ``budget_s`` with the best schedule found so far.
    Returns (sorties, idle aircraft by station and period, person-periods people the LP put on
    an arc wait for a seat on the whole sorties). Sorties in ``fixed`` stay as they are.

    Beside HiGHS's search, on the other core, a search window by window from the same first
    schedule (:mod:`evacops.plan.window_search`) runs as long as HiGHS's does; the repair keeps
    the schedule of the two with the lower repair objective (``info``, if given, gets what
    each found: the summary's ``repair.search``).
    """
    demand = lp.flow.sum(axis=0)  # (arc, period)
    value = repair_value(net)  # value per person on the arc, per period
    lo = np.floor(lp.sorties + 1e-6)
    hi = np.ceil(lp.sorties - 1e-6)
    gap = 1e-3 * max(abs(lp.objective), 1.0)
    for widen in (False, True):
        bounds = (lo, hi) if not widen else (np.zeros_like(lo), hi + 1)
        if fixed is not None:
            bounds = tuple(np.where(fixed[0], fixed[1], b) for b in bounds)  # type: ignore[assignment]
        started = time.perf_counter()
        rep = HighsRun(assemble_repair(net, demand, value, bounds), started)
        try:
            start = _start_from_a_first_schedule(rep)
        except InfeasibleError:
            continue  # the floor/ceiling box has no whole schedule: search a wider one
        beside = window_search.start_beside(rep, start, bounds, net.period_h, gap)
        try:
            _improve(rep, start, gap, budget_s, settle, beside)
        except InfeasibleError:
            continue  # (as before the window search: a wider box)
        except SolverError:
            if budget_s is None:
                raise
            # nothing found within the budget: look on until the first whole schedule
            rep.run(mip_abs_gap=gap, mip_max_improving_sols=1)
        finally:
            other = None if beside is None else beside.result()
        mine = window_search.objective_of(rep)
        # the windows' schedule only if better by more than the search's gap (the repair's
        # objective stands in for the plan's: a difference within the gap says nothing)
        won = other is not None and other[1].objective < mine - gap
        if info is not None:
            info.update(window_search.summary(mine, other, won))
        return _read_repair(*other) if won and other is not None else _read_repair(rep)
    raise SolverError(
        "no whole-sortie schedule found near the LP optimum; solve the MIP with integer sorties"
    )


def _read_repair(
    rep: HighsRun[RepairModel], found: window_search.Found | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    """(sorties, idle, backlog summed) of the repair's schedule: HiGHS's (``found`` None) or
    the window search's."""
    col = None if found is None else found.col
    y = np.round(rep.values(rep.model.aircraft.sortie, col))
    idle = np.round(rep.values(rep.model.aircraft.idle, col))
    return y, idle, float(rep.values(rep.model.backlog, col).sum())


REPAIR_BUDGET_S = 30.0
"""The repair's default budget. Not the LP's solve time, as it was: with a first schedule as
its start the search needs the same 20-30 s of cutting planes at the root whatever the LP took,
and stopped sooner it keeps the start (26-45 % under the LP bound on Kabul). The repair's own
objective (seats covering the LP's people) is a stand-in for the plan's: on Kabul more time
improved it but not the plan (at 3-hour periods 30 s and 45 s gave the same schedule, 7.9 %
under the LP bound; at 1-hour periods 30 s and 141 s the same schedule's worth)."""


def reflow(run: HighsRun[PlanModel], sorties: np.ndarray, warm: bool = False) -> None:
    """Solve ``run``'s people flows on whole ``sorties`` (M, T): every sortie fixed, the dual
    simplex from scratch. With the aircraft fixed what is left is a flow of people, which the
    dual simplex solves fast from a slack basis; warm from the LP's basis it is slow (the whole
    sorties differ from the LP's fractions in every period). Kabul at 1-hour periods, the plan's
    whole sorties: 2.5 s, where interior point and crossover took 13.7 s and the dual simplex
    warm from the LP's basis 75 s, to the same objective.

    ``warm``: from the basis of the last solve, where the sorties differ from it in a few
    columns only (a re-plan of the aircraft in a window: Kabul at 1-hour periods from +54h, a
    24-hour window, 0.85 s and 0.11 s where each took 1.9 s from scratch)."""
    run.fix_columns(run.model.aircraft.sortie, sorties)
    if not warm:
        run.h.clearSolver()
    run.run(solver="simplex", simplex_strategy=1)


def _reflowed(run: HighsRun[PlanModel], sorties: np.ndarray, warm: bool) -> Solution:
    """The people flows on whole ``sorties`` (:func:`reflow`) as a solution."""
    t1 = time.perf_counter()
    reflow(run, sorties, warm)
    sol = _solution(run, duals=False)
    sol.build_s, sol.solve_s, sol.status = 0.0, time.perf_counter() - t1, "optimal"
    return sol


def on_schedule(
    net: Network, sorties: np.ndarray, on_built: Callable[[], None] | None = None
) -> Solution:
    """The plan model of ``net`` with every sortie fixed to whole ``sorties`` (M, T): the
    people flows optimal for that schedule (:func:`reflow`, no LP before it). Raises
    InfeasibleError if the schedule does not fit ``net``. ``on_built`` is called once the
    model is built, before it is solved (a caller building another model meanwhile), and not
    at all for a schedule that flies a move the network rules out (a closed site): that
    refusal is known before the solve, so a caller's other model is never started for it."""
    run = plan_run(net)
    if (sorties[run.model.aircraft.sortie < 0] > 0.5).any():
        raise InfeasibleError("the schedule flies a move the network rules out")
    if on_built is not None:
        on_built()
    return _reflowed(run, sorties, warm=False)


def _whole_sorties(
    net: Network,
    run: HighsRun[PlanModel],
    lp: Solution,
    time_limit: float | None,
    say: Progress,
    fixed: Fixed | None = None,
    settle: bool = False,
    warm: bool = False,
    then: Callable[[], Any] | None = None,
) -> tuple[Solution, dict[str, Any]]:
    """The LP's plan on whole sorties (the repair), and what the repair did (``warm``: its
    people re-flowed from the LP's basis, :func:`reflow`); ``settle``: keep
    the first schedule if the budget ends before a better one (a re-plan holding its plan's
    own sorties as a floor); ``then``: called once the repair is done, before ``run`` is
    used (the end of a solve on ``run`` in another thread meanwhile)."""
    frac = np.abs(lp.sorties - np.round(lp.sorties)) > 1e-6
    say(f"repairing {int(frac.sum())} fractional sortie variables to whole sorties")
    t1 = time.perf_counter()
    budget = time_limit if time_limit is not None else REPAIR_BUDGET_S
    search: dict[str, Any] = {}
    try:
        y, idle, short = repair_sorties(net, lp, budget, fixed, settle, search)
    finally:
        if then is not None:
            then()
    repair = {
        "fractional_sorties": int(frac.sum()),
        "seat_wait_person_periods": round(short, 3),
        "search": search,
    }
    if short > 1e-6:
        say("re-solving the people flows on the whole sorties")
        reflow(run, y, warm)
        final = _solution(run, duals=False)
    else:
        # every person keeps a seat: the LP's flows stand with the whole sorties
        sortie_weight = net.scenario.objective.sortie
        obj = lp.objective + sortie_weight * float(y.sum() - lp.sorties.sum())
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
    return final, repair


REPAIR_WITH_PLAN_S = 10.0
"""The repair's budget in a re-plan whose plan's own sorties keep every constraint (they are
kept if the repair does no better). Kabul at 1-hour periods (benchmarks/replan_kabul.py),
re-planned from +54h: 88 s in all (LP 59 s), whole sorties 8.1 % above the LP bound; from
+192h: 39 s, 6.4 %. Searching on until the first better schedule, the +54h re-plan took 175 s."""


def _on_sorties(
    run: HighsRun[PlanModel], sorties: np.ndarray, say: Progress, warm: bool = False
) -> Solution | None:
    """The people flows on whole ``sorties`` (M, T) (the plan being re-planned, going on as it
    was), or None if they do not keep every constraint (a what-if closed a base they fly to);
    ``warm``: from the LP's basis (:func:`reflow`)."""
    say("solving the people flows on the sorties of the plan being re-planned")
    t1 = time.perf_counter()
    try:
        reflow(run, np.round(sorties), warm)
    except (InfeasibleError, SolverError):
        run.h.clearSolver()  # (the next solve starts afresh)
        return None
    other = _solution(run, duals=False)
    other.build_s, other.solve_s = 0.0, time.perf_counter() - t1
    other.status = "optimal"
    return other


def _window_sorties(
    net: Network,
    run: HighsRun[PlanModel],
    lp: Solution,
    candidate: np.ndarray,
    time_limit: float | None,
    say: Progress,
    fixed: Fixed | None,
) -> tuple[Solution, dict[str, Any], Solution | None]:
    """Whole sorties of a re-plan of the aircraft in a window (the LP by the dual simplex):
    the people on the plan's own sorties (:func:`_on_sorties`, on ``run``) are solved in a
    thread while the repair searches (HiGHS lets go of the interpreter: the two overlap on the
    two cores), then the repair's people are re-flowed and the better kept. The repair gets
    :data:`REPAIR_WITH_PLAN_S` and keeps its first schedule then, as where the plan's sorties
    are a floor, whether or not they turn out to keep every constraint (a window's repair
    seldom needs a second: on Kabul it ends by its gap in about 1 s)."""
    say("solving the people flows on the plan's sorties beside the repair")
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="plan-sorties") as pool:
        other = pool.submit(_on_sorties, run, candidate, lambda _m: None, True)
        budget = time_limit if time_limit is not None else REPAIR_WITH_PLAN_S
        final, repair = _whole_sorties(
            net, run, lp, budget, say, fixed, True, warm=True, then=other.exception
        )
        plan_own = other.result()
        return _better_of(final, plan_own, repair), repair, plan_own


def _better_of(final: Solution, other: Solution | None, repair: dict[str, Any]) -> Solution:
    """The repair's whole sorties (``final``), or the plan's own (``other``) if they give a
    lower objective; ``repair`` notes which. (Re-planning Kabul at 1-hour periods from a plan's
    own state, the repair's schedule got 10,000 fewer people out than going on with the plan:
    the repair stops on a budget.)"""
    if other is None:
        repair["plan_sorties"] = "not feasible"
        return final
    better = other.objective < final.objective - 1e-9 * max(1.0, abs(final.objective))
    repair["plan_sorties"] = "kept: better than the repair's" if better else "the repair's better"
    if not better:
        return final
    other.solve_s += final.solve_s
    return other


def _solve_mip(
    net: Network,
    start_from: Solution,
    mip_gap: float,
    time_limit: float | None,
    fixed: Fixed | None = None,
) -> Solution:
    """The full MIP with integer sorties, started from ``start_from`` (the repaired plan)."""
    mip = plan_run(net, integer=True)
    _fix(mip, fixed)
    start = highspy.HighsSolution()
    col = np.zeros(mip.variables)
    v = mip.model
    for lab, vals in (
        (v.people.hold, start_from.hold),
        (v.people.flow, start_from.flow),
        (v.aircraft.sortie, start_from.sorties),
        (v.aircraft.idle, start_from.idle),
    ):
        keep = lab >= 0
        col[mip.vpos[lab[keep]]] = vals[keep]
    start.col_value = list(col)
    mip.h.setSolution(start)
    mip.run(mip_rel_gap=mip_gap, **_options(time_limit, None))
    return _solution(mip, duals=False, mip_gap=float(mip.h.getInfo().mip_gap))


def solve_plan(
    scenario: Scenario,
    period: str | None = None,
    integer: bool = False,
    time_limit: float | None = None,
    mip_gap: float = 1e-3,
    check_binding: int = 5,
    progress: Progress | None = None,
    check_budget_s: float | None = None,
    hold_crews: bool = True,
) -> Plan:
    """Plan ``scenario``: compile, solve (LP + repair, or MIP), explain what binds.

    ``check_budget_s`` is the time each binding check's re-solve may take (default:
    :data:`~evacops.plan.binding.CHECK_BUDGET_LPS` times the LP's solve time, at least 10 s)."""
    say = progress or (lambda _msg: None)
    t0 = time.perf_counter()
    say("compiling the time-expanded network")
    net = compile_network(scenario, period)
    return plan_network(
        net,
        integer=integer,
        time_limit=time_limit,
        mip_gap=mip_gap,
        check_binding=check_binding,
        progress=say,
        check_budget_s=check_budget_s,
        started=t0,
        hold_crews=hold_crews,
    )


def plan_network(
    net: Network,
    integer: bool = False,
    time_limit: float | None = None,
    mip_gap: float = 1e-3,
    check_binding: int = 5,
    progress: Progress | None = None,
    check_budget_s: float | None = None,
    fixed: Fixed | None = None,
    started: float | None = None,
    candidate: np.ndarray | None = None,
    simplex: bool = False,
    on_built: Callable[[], None] | None = None,
    moment: int = 0,
    hold_crews: bool = True,
) -> Plan:
    """Plan a compiled network (:func:`solve_plan` after compiling; a re-plan gives the sorties
    already flown in ``fixed``, and the plan it re-plans as ``candidate``: whole sorties (M, T)
    kept instead of the repair's when they keep every constraint and do better, so a re-plan
    on whole sorties is never worse than going on with that plan). ``simplex``: the LP by the
    dual simplex (most sorties fixed: a re-plan of the aircraft in a window). Every aircraft is
    held to its crew (:func:`evacops.plan.tails.held_crews`; sorties before ``moment`` were
    flown and stay); not with ``hold_crews`` False (crews a rate for each fleet alone)."""
    say = progress or (lambda _msg: None)
    t0 = time.perf_counter() if started is None else started
    say(f"building and solving the LP ({net.T} periods of {net.period_h:g} h)")
    try:
        run = lp_run(net, time_limit, fixed=fixed, simplex=simplex, on_built=on_built)
    except InfeasibleError:
        if fixed is not None:
            raise InfeasibleError(
                "infeasible: no plan from this state keeps every constraint (aircraft removed "
                "while away from home, or a site closed that people or aircraft are on their way "
                "to, leave none); re-plan from a later moment or with fewer changes",
                code="replan-infeasible",
            ) from None
        from evacops.plan.infeasible import explain_infeasible

        raise InfeasibleError(explain_infeasible(net)) from None
    lp = _solution(run, duals=True)
    binding = []
    if check_binding >= 0:
        binding = what_binds(net, run, lp, check_binding, check_budget_s, say)
    final, repair, other = lp, None, None
    frac = np.abs(lp.sorties - np.round(lp.sorties)) > 1e-6
    if frac.any() or integer:
        if candidate is not None and simplex and not integer:
            final, repair, other = _window_sorties(net, run, lp, candidate, time_limit, say, fixed)
        else:
            if candidate is not None and not integer:
                other = _on_sorties(run, candidate, say, warm=simplex)
            # with the plan's own sorties in hand as a floor, the repair gets a shorter budget
            budget = time_limit
            if budget is None and other is not None:
                budget = REPAIR_WITH_PLAN_S
            final, repair = _whole_sorties(
                net, run, lp, budget, say, fixed, other is not None, warm=simplex
            )
            if candidate is not None and not integer:
                final = _better_of(final, other, repair)
    # the last solve on ``run`` was of whole sorties (a warm start for the next) or the LP's
    warm = repair is not None and (
        repair["seat_wait_person_periods"] > 1e-6 or "plan_sorties" in repair
    )
    if integer:
        say("solving the MIP with integer sorties")
        final, repair = _solve_mip(net, final, mip_gap, time_limit, fixed), None
    crews = None
    if hold_crews:
        alt = None if integer or other is final else other
        final, crews = held_or_own(
            net, (final, alt), moment, lambda y, w=warm: _reflowed(run, y, w), repair
        )
    plan = Plan(network=net, lp=lp, final=final, integer=integer, repair=repair, crews_held=crews)
    plan.binding = binding
    plan.wall_s = time.perf_counter() - t0
    return plan
