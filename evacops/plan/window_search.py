"""A second search for the repair's whole sorties, run beside HiGHS's own on the other core.

The repair (:func:`evacops.plan.solve.repair_sorties`) hands its first whole schedule to
HiGHS's branch and cut, which spends its first 20-45 s on Kabul in cutting planes at the root
before its heuristics find a better schedule. This search starts from the same schedule and
improves it one window of time at a time (fix and optimise): the sorties of one window
(:data:`WINDOW_H` hours, a new window every :data:`STEP_H` hours) free within the repair's box,
every other sortie fixed at the best schedule so far, each window a small MIP that HiGHS
solves from that schedule (so it is never worse), kept if it lowers the repair's objective.
A window's MIP stops at :data:`NODES` nodes, not on a clock, so a sweep run to its end gives
the same schedule on any machine and under any load; beside the repair it is stopped when
HiGHS's search ends, so how far it gets depends on the machine, as HiGHS's budget does. Once
the repair's budget is spent, HiGHS's search does not end while this one is still sweeping
with a better schedule than HiGHS's (:func:`stop_search`).

The repair keeps the windows' schedule if its repair objective is lower than HiGHS's by more
than the search's gap. Measured on Kabul (docs/planner.md, "Two searches at
once"): at 3-hour periods the windows reach 6.45 % under the LP bound in 8 s, where HiGHS's
search stops at 8.07 % after its 30 s budget; at 1-hour periods HiGHS's search is the better
(5.63 % against 7.76 % for the windows), so the windows change nothing there but share the
machine with it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import highspy
import numpy as np

from evacops.errors import InfeasibleError, SolverError
from evacops.plan.assemble import RepairModel
from evacops.plan.highs import HighsRun

log = logging.getLogger(__name__)

#: hours of a window and hours between two windows' starts (they overlap by the difference)
WINDOW_H, STEP_H = 48.0, 24.0
#: the most branch-and-bound nodes of one window's MIP (a work limit, not a clock)
NODES = 300


@dataclass
class Found:
    """What the window search found: its best schedule's column values and repair objective,
    how many windows it solved and kept, and how long it took."""

    col: np.ndarray
    objective: float
    windows: int
    kept: int
    seconds: float


def objective_of(rep: HighsRun[RepairModel], col: np.ndarray | None = None) -> float:
    """The repair objective of ``rep``'s current solution (or of column values ``col``), from
    the model's costs (HiGHS's own figure is that of the last run, whose costs may have
    differed: the first schedule is found with none)."""
    lp = rep.h.getLp()
    if col is None:
        col = np.asarray(rep.h.getSolution().col_value)
    return float(np.asarray(lp.col_cost_) @ col) + float(lp.offset_)


def by_windows(
    rep: HighsRun[RepairModel],
    start: np.ndarray,
    period_h: float,
    gap: float,
    stop: threading.Event | None = None,
    window_h: float | None = None,
    step_h: float | None = None,
    on_better: Callable[[float], None] | None = None,
) -> Found:
    """Improve the repair's schedule ``start`` (column values of ``rep``) one window at a time
    (one sweep over the horizon); ``gap``: each window's absolute MIP gap, as the repair's.
    ``stop`` set: end now, the window being solved interrupted (its best so far is kept:
    HiGHS's interrupted search returns a schedule no worse than the one it was given).
    ``on_better`` is told each better schedule's repair objective."""
    t0 = time.perf_counter()
    h = rep.h
    labels = rep.model.aircraft.sortie
    keep = labels >= 0
    cols = rep.vpos[labels[keep]].astype(np.int32)
    lp = h.getLp()
    lo, hi = np.asarray(lp.col_lower_)[cols], np.asarray(lp.col_upper_)[cols]
    cost, offset = np.asarray(lp.col_cost_).copy(), float(lp.offset_)
    period = np.broadcast_to(np.arange(labels.shape[1])[None, :], labels.shape)[keep]
    width = max(1, round((window_h or WINDOW_H) / period_h))
    step = max(1, round((step_h or STEP_H) / period_h))
    best = np.asarray(start, dtype=float).copy()
    best_obj = float(cost @ best) + offset
    windows = kept = 0

    def interrupt(e: Any) -> None:
        if stop is not None and stop.is_set():
            e.interrupt()

    if stop is not None:
        h.cbMipInterrupt += interrupt
    try:
        for first in range(0, labels.shape[1], step):
            if stop is not None and stop.is_set():
                break
            free = (period >= first) & (period < first + width)
            if not (lo[free] < hi[free]).any():
                continue
            now = best[cols]
            h.changeColsBounds(len(cols), cols, np.where(free, lo, now), np.where(free, hi, now))
            incumbent = highspy.HighsSolution()
            incumbent.col_value = list(best)
            incumbent.value_valid = True
            h.setSolution(incumbent)
            try:
                rep.run(mip_abs_gap=gap, mip_rel_gap=1e-4, mip_max_nodes=NODES)
            except (InfeasibleError, SolverError):
                continue  # (not expected: the best schedule is a solution of every window)
            if h.getInfo().primal_solution_status != 2:
                continue
            windows += 1
            col = np.asarray(h.getSolution().col_value)
            obj = float(cost @ col) + offset
            if obj < best_obj - 1e-9 * max(1.0, abs(best_obj)):
                best, best_obj, kept = col.copy(), obj, kept + 1
                if on_better is not None:
                    on_better(best_obj)
    finally:
        if stop is not None:
            h.cbMipInterrupt -= interrupt
        h.changeColsBounds(len(cols), cols, lo, hi)
    return Found(best, best_obj, windows, kept, round(time.perf_counter() - t0, 3))


def cores() -> int:
    """The cores this process may run on (a container's limit, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # (not on Linux)
        return os.cpu_count() or 1


class _Shared:
    """Cores another solve is using beside this process's (:func:`sharing_cores`)."""

    lock = threading.Lock()
    taken = 0


@contextlib.contextmanager
def sharing_cores(n: int = 1) -> Iterator[None]:
    """While another solve runs beside this one (a what-if's baseline in a second process,
    :mod:`evacops.plan.replan_job`), count ``n`` cores fewer: on two cores the window search
    does not start, where it would take a core from one of the two solves."""
    with _Shared.lock:
        _Shared.taken += n
    try:
        yield
    finally:
        with _Shared.lock:
            _Shared.taken -= n


def free_cores() -> int:
    """The cores this process may run on less those another solve beside it is using."""
    return cores() - _Shared.taken


def stop_search(now: float, limit: float, last: float, improved: bool, leading: bool) -> bool:
    """Whether the repair's search stops at run time ``now``: at ``last`` whatever it has;
    from ``limit`` (its budget spent) once it has a schedule better than its start
    (``improved``), unless the window search beside it is still sweeping with a better
    schedule than HiGHS's so far (``leading``: then it waits for the sweep's end)."""
    return now >= last or (now >= limit and improved and not leading)


def spans_windows(lo: np.ndarray, hi: np.ndarray, period_h: float) -> bool:
    """Whether the sorties free in the box (``lo`` < ``hi``, move x period) span more than one
    window: if not, one window holds them all and this search would solve the same MIP as
    HiGHS's (a re-plan of the aircraft in a window of 12-48 hours), so it is not started."""
    periods = np.flatnonzero((hi > lo).any(axis=0))
    if not len(periods):
        return False
    return bool((periods[-1] - periods[0] + 1) * period_h > WINDOW_H)


class Beside:
    """:func:`by_windows` in a thread of its own, on its own HiGHS object built from the same
    repair model (HiGHS lets go of the interpreter while it solves, so the two searches run on
    the two cores). :meth:`result` stops it (its window's MIP interrupted) and takes its best
    schedule so far: it searches as long as HiGHS's search does, never longer."""

    def __init__(self, model: RepairModel, start: np.ndarray, period_h: float, gap: float):
        self.stop = threading.Event()
        self.swept = threading.Event()  # set once the sweep has ended (to its end, or failed)
        self.best = float("inf")  # the repair objective of its best schedule so far
        self.found: Found | None = None
        self.rep: HighsRun[RepairModel] | None = None
        self.error: BaseException | None = None

        def search() -> None:
            try:
                if self.stop.is_set():  # (HiGHS's search ended before this one began)
                    return
                self.rep = HighsRun(model, time.perf_counter())
                self.found = by_windows(
                    self.rep, start, period_h, gap, self.stop, on_better=self._better
                )
            except Exception as e:  # (kept for result(): a thread's error is not raised)
                self.error = e
            finally:
                self.swept.set()

        self.thread = threading.Thread(target=search, name="repair-windows", daemon=True)
        self.thread.start()

    def _better(self, objective: float) -> None:
        self.best = objective

    def leads(self, highs_best: float) -> bool:
        """Whether the sweep is still on with a better schedule than HiGHS's best so far."""
        return not self.swept.is_set() and self.best < highs_best

    def result(self) -> tuple[HighsRun[RepairModel], Found] | None:
        """Stop the window search and return its run and best schedule (None if it failed, or
        had not begun: its error is logged, the repair goes on with HiGHS's schedule)."""
        self.stop.set()
        self.thread.join()
        if self.error is not None:
            log.warning("the window search failed: %s", type(self.error).__name__)
        if self.error is not None or self.found is None or self.rep is None:
            return None
        return self.rep, self.found


def start_beside(
    rep: HighsRun[RepairModel],
    start: highspy.HighsSolution,
    bounds: tuple[np.ndarray, np.ndarray],
    period_h: float,
    gap: float,
) -> Beside | None:
    """The window search started beside HiGHS's, or None: where the free sorties fit one window
    (it would solve HiGHS's MIP again), on one core (it would take HiGHS's), or where it
    cannot start (the repair goes on without it)."""
    if not spans_windows(*bounds, period_h) or free_cores() < 2:
        return None
    try:
        return Beside(rep.model, np.asarray(start.col_value), period_h, gap)
    except RuntimeError:  # (no thread can start)
        return None


def summary(
    highs_objective: float,
    other: tuple[HighsRun[RepairModel], Found] | None,
    windows_won: bool,
) -> dict[str, Any]:
    """What the two searches found (the summary's ``repair.search``)."""
    out: dict[str, Any] = {"kept": "windows" if windows_won else "highs",
                           "highs_objective": highs_objective}  # fmt: skip
    if other is not None:
        f = other[1]
        out["windows"] = {"objective": f.objective, "solved": f.windows, "kept": f.kept,
                          "seconds": f.seconds}  # fmt: skip
    return out


def found_by(search: dict[str, Any]) -> str:
    """Which of the repair's two searches gave its schedule, in words (the summary's
    ``repair.search``: the terminal and the report)."""
    w = search.get("windows")
    if search["kept"] == "windows" and w:
        n = f"{w['kept']} of {w['solved']}"
        return f"the window search ({n} windows improved on the first schedule)"
    if not w or not w["solved"]:
        return "HiGHS's search"
    n = w["solved"]
    return f"HiGHS's search (the window search's {n} window{'s' * (n != 1)} did no better)"
