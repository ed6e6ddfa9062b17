"""The LP's optimal basis as a linear map: what a change of the limits does to the plan, and for
how long that holds.

HiGHS keeps the optimal basis ``B`` of the LP, factorised, after crossover. Its basic variables
``z_B`` (columns, and the row logicals ``s = -A x``) are fixed by the nonbasic ones: moving the
right-hand sides of nonbasic rows by ``theta * d`` moves them by ``theta * B^-1 d`` (one FTRAN,
``Highs.getBasisSolve``). The costs do not change, so ``B`` stays dual feasible, hence optimal,
for as long as the basic variables stay within their bounds: a ratio test gives that range
(HiGHS's own rhs ranging, ``getRanging``, gives it for one row; a lever moves many). Over the
range, any linear count of the plan changes linearly: people out by the deadline ``p'x`` by
``theta * y_p'd`` with ``y_p = B^-T p_B`` (one BTRAN, ``getBasisTransposeSolve``: the duals of
the same basis under a people-counting objective), and the objective by the row duals ``y'd``.

:class:`Basis` reads all of this once, right after the LP is solved (a re-solve replaces the
factorisation), and moves rows for the checks that re-solve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evacops.errors import SolverError
from evacops.plan.highs import HighsRun
from evacops.plan.levers import Shift


@dataclass(frozen=True)
class Ray:
    """How far one lever's direction goes on the basis: ``steps`` (inf = without end) before
    ``blocking`` (``("row", i)`` or ``("col", j)``) reaches a bound and the basis changes;
    ``slopes`` per step along it (from the FTRAN; equal to :meth:`Basis.slopes`)."""

    steps: float
    blocking: tuple[str, int] | None
    slopes: dict[str, float]


class Basis:
    """The optimal basis of a solved LP (``run``) and counts over its columns (``counts``, e.g.
    ``people``: 1 for each flow leaving the evacuation airport before the deadline). Slopes are
    per step of a :class:`~evacops.plan.levers.Shift`, for each count and for ``objective`` (the
    minimised objective: negative is a gain)."""

    def __init__(self, run: HighsRun, counts: dict[str, np.ndarray]):
        h = run.h
        self.h = h
        status, basic = h.getBasicVariables()  # type: ignore[attr-defined]
        if "kOk" not in str(status):
            raise SolverError("HiGHS holds no basis of the LP (was it solved with crossover?)")
        self.basic = np.asarray(basic, dtype=np.int64)
        lp = h.getLp()
        sol = h.getSolution()
        self.row_lower = np.asarray(lp.row_lower_, dtype=float)
        self.row_upper = np.asarray(lp.row_upper_, dtype=float)
        m = len(self.row_lower)
        is_row = self.basic < 0
        row = -self.basic[is_row] - 1
        col = self.basic[~is_row]
        # the basic variables' values and bounds: columns as they are, logicals s = -row
        self.value = np.empty(m)
        self.lower = np.empty(m)
        self.upper = np.empty(m)
        self.value[~is_row] = np.asarray(sol.col_value)[col]
        self.lower[~is_row] = np.asarray(lp.col_lower_)[col]
        self.upper[~is_row] = np.asarray(lp.col_upper_)[col]
        self.value[is_row] = -np.asarray(sol.row_value)[row]
        self.lower[is_row] = -self.row_upper[row]
        self.upper[is_row] = -self.row_lower[row]
        self.slot_of_row = np.full(m, -1, dtype=np.int64)  # basic position of a row's logical
        self.slot_of_row[row] = np.flatnonzero(is_row)
        self.nonbasic_row = self.slot_of_row < 0
        self.counts = counts
        self.duals = {"objective": np.asarray(sol.row_dual, dtype=float)}
        for name, c in counts.items():
            c_b = np.zeros(m)
            c_b[~is_row] = c[col]
            self.duals[name] = self._btran(c_b)

    def _btran(self, rhs: np.ndarray) -> np.ndarray:
        status, y = self.h.getBasisTransposeSolve(rhs)  # type: ignore[attr-defined]
        if "kOk" not in str(status):
            raise SolverError(f"HiGHS could not solve with the basis: {status}")
        return np.asarray(y, dtype=float)

    def _ftran(self, rhs: np.ndarray) -> np.ndarray:
        status, x = self.h.getBasisSolve(rhs)  # type: ignore[attr-defined]
        if "kOk" not in str(status):
            raise SolverError(f"HiGHS could not solve with the basis: {status}")
        return np.asarray(x, dtype=float)

    def slopes(self, s: Shift) -> dict[str, float]:
        """Each count's and the objective's change per step of ``s`` while the basis holds: only
        nonbasic (tight) rows move the plan."""
        moving = self.nonbasic_row[s.rows]
        r, d = s.rows[moving], s.delta[moving]
        return {name: float(y[r] @ d) for name, y in self.duals.items()}

    def _bound_moves(self, s: Shift) -> tuple[np.ndarray, np.ndarray]:
        """Per basic position, how fast its lower and upper bounds move per step (the logicals
        of rows that move but are not tight: s = -row, so their bounds move the other way)."""
        m = len(self.basic)
        d_lo, d_up = np.zeros(m), np.zeros(m)
        slot = self.slot_of_row[s.rows]
        basic = slot >= 0
        rows, d, slot = s.rows[basic], s.delta[basic], slot[basic]
        up_moves = np.isfinite(self.row_upper[rows])
        lo_moves = np.isfinite(self.row_lower[rows])
        np.add.at(d_lo, slot[up_moves], -d[up_moves])
        np.add.at(d_up, slot[lo_moves], -d[lo_moves])
        return d_lo, d_up

    def ray(self, s: Shift) -> Ray:
        """How many steps of ``s`` the basis stays optimal for, what ends it, and the slopes."""
        m = len(self.basic)
        r = np.zeros(m)
        moving = self.nonbasic_row[s.rows]
        np.add.at(r, s.rows[moving], s.delta[moving])
        dz = self._ftran(r)
        d_lo, d_up = self._bound_moves(s)
        eps = 1e-9 * max(1.0, float(np.abs(dz).max(initial=0.0)))
        to_lo = dz - d_lo  # how fast a basic variable nears its lower bound (negative: nearer)
        to_up = dz - d_up
        gap_lo = np.maximum(self.value - self.lower, 0.0)
        gap_up = np.maximum(self.upper - self.value, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            th_lo = np.where(to_lo < -eps, gap_lo / -to_lo, np.inf)
            th_up = np.where(to_up > eps, gap_up / to_up, np.inf)
        th = np.minimum(th_lo, th_up)
        k = int(np.argmin(th)) if m else 0
        steps = float(th[k]) if m else np.inf
        blocking = None
        if np.isfinite(steps):
            b = int(self.basic[k])
            blocking = ("row", -b - 1) if b < 0 else ("col", b)
        col = self.basic >= 0
        slopes = {name: float(c[self.basic[col]] @ dz[col]) for name, c in self.counts.items()}
        slopes["objective"] = float(self.duals["objective"] @ r)
        return Ray(steps, blocking, slopes)

    def move(self, s: Shift, steps: float) -> None:
        """Move the rows of ``s`` by ``steps`` steps from where the LP had them (0: back)."""
        if not s:
            return
        rows = s.rows
        lo = self.row_lower[rows].copy()
        up = self.row_upper[rows].copy()
        lo = np.where(np.isfinite(lo), lo + steps * s.delta, lo)
        up = np.where(np.isfinite(up), up + steps * s.delta, up)
        # a row the shift names twice moves by the sum: collapse duplicates first
        uniq, inv = np.unique(rows, return_inverse=True)
        if len(uniq) < len(rows):
            d = np.zeros(len(uniq))
            np.add.at(d, inv, s.delta)
            return self.move(Shift(uniq.astype(np.int32), d), steps)
        self.h.changeRowsBounds(len(rows), rows.astype(np.int32), lo, up)  # type: ignore[attr-defined]
