"""One assembled model handed to HiGHS, kept for warm re-solves, and what a solve gives back.

:class:`HighsRun` holds a ``highspy.Highs`` object built from a linopy model (through linopy's
public ``to_highspy`` and ``matrices``), runs it, and maps variable and constraint labels to
HiGHS's columns and rows, so values, duals and bounds are read and changed as arrays shaped like
the network. :class:`Solution` is the arrays of one solved plan model.
"""

from __future__ import annotations

import contextlib
import copy
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import highspy
import linopy
import numpy as np

from evacops.errors import InfeasibleError, SolverError


class Assembled(Protocol):
    """A model put together by :mod:`evacops.plan.assemble`."""

    @property
    def m(self) -> linopy.Model: ...


A = TypeVar("A", bound=Assembled)


class _Quiet:
    """How many threads have stdout silenced, and the stdout they saved (the first one in)."""

    lock = threading.Lock()
    depth = 0
    saved = -1


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Silence what the solver library prints on the process's stdout (its banner), so that
    ``--json`` output stays one JSON object. Threads solving at once (a what-if beside its
    baseline) share one redirection: the first in saves stdout, the last out puts it back (each
    saving its own, one would save the null device and leave it as the process's stdout)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # captured streams in tests
        yield
        return
    with _Quiet.lock:
        if _Quiet.depth == 0:
            sys.stdout.flush()
            _Quiet.saved = os.dup(fd)
            with open(os.devnull, "w") as devnull:
                os.dup2(devnull.fileno(), fd)
        _Quiet.depth += 1
    try:
        yield
    finally:
        with _Quiet.lock:
            _Quiet.depth -= 1
            if _Quiet.depth == 0:
                os.dup2(_Quiet.saved, fd)
                os.close(_Quiet.saved)


def _positions(labels: np.ndarray, ordered: np.ndarray) -> np.ndarray:
    """label -> position in ``ordered`` (-1 if absent), for every label up to the largest."""
    size = max(int(labels.max(initial=-1)), int(ordered.max(initial=-1))) + 1
    pos = np.full(size + 1, -1, dtype=np.int64)
    pos[ordered] = np.arange(len(ordered))
    return pos


def _all_labels(container) -> np.ndarray:
    """Every label of a linopy ``Variables`` or ``Constraints`` container, flattened."""
    parts = [np.ravel(container[name].labels.values) for name in container]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


class HighsRun(Generic[A]):
    """One assembled model handed to a ``highspy.Highs`` object, kept for warm re-solves.

    ``started`` is when the model began to be assembled (``time.perf_counter()``), so that
    ``build_s`` counts assembling and handing over."""

    def __init__(self, model: A, started: float):
        self.model = model
        self.m = model.m
        with _quiet_stdout():
            self.h = self.m.to_highspy()
        self.h.setOptionValue("output_flag", False)
        M = self.m.matrices
        self.vpos = _positions(_all_labels(self.m.variables), np.asarray(M.vlabels))
        self.cpos = _positions(_all_labels(self.m.constraints), np.asarray(M.clabels))
        self.build_s = time.perf_counter() - started
        self.solve_s = 0.0
        self.status = "unsolved"

    def twin(self, lp: highspy.HighsLp, basis: highspy.HighsBasis) -> HighsRun[A]:
        """A second HiGHS object holding ``lp`` (this one's, as ``getLp`` gave it) with
        ``basis``, for a re-solve in another thread beside this one; the linopy model and the
        label maps are shared, not copied."""
        other = copy.copy(self)
        with _quiet_stdout():
            other.h = highspy.Highs()
        other.h.setOptionValue("output_flag", False)
        other.h.passModel(lp)
        if basis.valid:
            other.h.setBasis(basis)
        other.solve_s = 0.0
        other.status = "unsolved"
        return other

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
            # a budget or a solution limit (the repair's first-schedule fallback) with a
            # solution in hand is an answer, not a failure
            stopped = ("time limit", "iteration", "solution limit", "interrupt")
            if not (any(w in status for w in stopped) and has_solution):
                raise SolverError(
                    f"HiGHS stopped: {status}; try a longer time limit or a coarser period"
                )
        return status

    def values(self, labels: np.ndarray, col: np.ndarray | None = None) -> np.ndarray:
        """The values of variables ``labels`` (shaped like them; zeros where absent) in the
        last solution, or in the column values ``col`` of another solution of this model."""
        if col is None:
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
