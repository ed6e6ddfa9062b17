"""Small array operations the steps share: ranks and sums within groups of a sparse list, sums
that come out the same for a run whatever else is in its batch, and taking people by priority.

Every operation here works on one run's numbers independently of the other runs in the arrays
(no sums across runs, no BLAS), so a run's results do not depend on its batch or worker.
"""

from __future__ import annotations

import numpy as np


def lognormal(z: np.ndarray, cv: float) -> np.ndarray:
    """Factors with mean 1 and coefficient of variation ``cv`` from standard normals."""
    if cv <= 0:
        return np.ones_like(z)
    s2 = np.log1p(cv * cv)
    return np.exp(np.sqrt(s2) * z - s2 / 2)


def _groups(rows: np.ndarray, group: np.ndarray, key: np.ndarray):
    """Sort entries by (run, group, key); return the order, positions and group starts."""
    order = np.lexsort((key, group, rows))
    r, g = rows[order], group[order]
    n = len(order)
    start = np.ones(n, dtype=bool)
    start[1:] = (r[1:] != r[:-1]) | (g[1:] != g[:-1])
    pos = np.arange(n)
    first = np.maximum.accumulate(np.where(start, pos, 0))
    return order, pos, first


def rank(rows: np.ndarray, group: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Rank of each entry among the entries of the same run and group, by key (0 = first)."""
    if rows.size == 0:
        return np.zeros(0, dtype=np.int64)
    order, pos, first = _groups(rows, group, key)
    out = np.empty(rows.size, dtype=np.int64)
    out[order] = pos - first
    return out


def before(rows: np.ndarray, group: np.ndarray, key: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Sum of the (whole-number) values of the entries ranked before each in its run and group;
    integers, so the sum is exact whatever other runs are in the list."""
    if rows.size == 0:
        return np.zeros(0, dtype=np.int64)
    order, _pos, first = _groups(rows, group, key)
    v = values.astype(np.int64)[order]
    cs = np.cumsum(v) - v
    out = np.empty(rows.size, dtype=np.int64)
    out[order] = cs - cs[first]
    return out


def before_2d(
    rows: np.ndarray, group: np.ndarray, key: np.ndarray, values: np.ndarray
) -> np.ndarray:
    """(n, K) sums of the rows of ``values`` of the entries ranked before each in its run and
    group, added one entry at a time in rank order, so each run's sums are exact whatever other
    runs are in the list."""
    out = np.zeros_like(values, dtype=float)
    if rows.size == 0:
        return out
    order, pos, first = _groups(rows, group, key)
    v = values[order]
    acc = np.zeros_like(v, dtype=float)
    rk = pos - first
    for lvl in range(1, int(rk.max()) + 1):
        idx = np.flatnonzero(rk == lvl)
        acc[idx] = acc[idx - 1] + v[idx - 1]
    out[order] = acc
    return out


def rsum(x: np.ndarray, axis: int) -> np.ndarray:
    """Sum over one axis, computed the same way for a run whatever else is in its batch: numpy
    sums a contiguous last axis pairwise and other axes term by term, and which one it does can
    depend on the array's layout and on a batch of one run; so the axis is made the contiguous
    last one first."""
    return np.ascontiguousarray(np.moveaxis(x, axis, -1)).sum(axis=-1)


def segsum(x: np.ndarray, starts: np.ndarray, axis: int) -> np.ndarray:
    """Sums over segments of one axis (see :func:`rsum`)."""
    y = np.add.reduceat(np.ascontiguousarray(np.moveaxis(x, axis, -1)), starts, axis=-1)
    return np.moveaxis(y, -1, axis)


def take_by_priority(avail: np.ndarray, room: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Take up to ``room`` (R,) from ``avail`` (R, C), cohorts in ``order`` first."""
    a = avail[:, order]
    before_ = np.cumsum(a, axis=1) - a
    take = np.clip(room[:, None] - before_, 0.0, a)
    out = np.empty_like(take)
    out[:, order] = take
    return out
