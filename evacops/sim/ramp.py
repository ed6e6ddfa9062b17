"""Aircraft at an airfield that limits time on the ground (``max_ground_h``): one that has
waited its ``W`` periods once ready (:attr:`~evacops.sim.model.SimModel.ground_wait`, the
planner's ``station_wait``) and is not leaving leaves now, empty, home or on its fleet's
shortest flight from there (:attr:`~evacops.sim.model.SimModel.leave_move`), ahead of other
departures for a slot. With a plan, its planned sortie from there is not flown by it (the plan's
pointer stays: its next sortie is flown from where it goes, or dropped, as for any aircraft
out of place). Such an aircraft stays longer only when the runway, its crews or a closure keep
it: ``ground_over`` counts those aircraft-periods."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from evacops.sim.transfer import EPS

if TYPE_CHECKING:
    from evacops.sim.core import Batch


def _past(b: Batch, t: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Of these aircraft, those on the ground at a limited airfield whose wait once ready is
    used up by the end of ``t``."""
    md, ac = b.md, b.air
    loc = ac.loc[rows, cols]
    w = md.ground_wait[md.ac_fleet[cols], np.maximum(loc, 0)]
    return (loc >= 0) & (w >= 0) & (t >= ac.ready[rows, cols] + w)


def with_overdue(b: Batch, t: int, only, got):
    """The candidates ``got`` (runs, aircraft, moves, order key, or None) with the aircraft that
    must leave a limited airfield now added, and which entries are planned sorties: (runs,
    aircraft, moves, key, planned) or None."""
    md = b.md
    planned = None if got is None else (*got, np.ones(got[0].size, dtype=bool))
    if (md.ground_wait < 0).all():
        return planned
    if only is None:
        rows, cols = np.nonzero(b.air.loc >= 0)
    else:
        rows, cols = only
    sel = _past(b, t, rows, cols) & (b.air.ob_tot[rows, cols] <= EPS)  # empty: free to go
    rows, cols = rows[sel], cols[sel]
    if got is not None and rows.size:  # already leaving on their own
        taken = set(zip(got[0].tolist(), got[1].tolist(), strict=True))
        fresh = np.array([(r, c) not in taken for r, c in zip(rows, cols, strict=True)], bool)
        rows, cols = rows[fresh], cols[fresh]
    m = md.leave_move[md.ac_fleet[cols], b.air.loc[rows, cols]]
    ok = m >= 0
    ok[ok] = md.move_open_tm[t, m[ok]]
    rows, cols, m = rows[ok], cols[ok], m[ok]
    if rows.size == 0:
        return planned
    key = (b.air.ready[rows, cols] - md.T - 1) * md.N + cols  # before any other for a slot
    if planned is None:
        return rows, cols, m, key, np.zeros(rows.size, dtype=bool)
    return tuple(
        np.concatenate([a, x])
        for a, x in zip(planned, (rows, cols, m, key, np.zeros(rows.size, dtype=bool)), strict=True)
    )


def count_over(b: Batch, t: int) -> None:
    """Aircraft still on the ground at a limited airfield after their wait (``ground_over``)."""
    ac = b.air
    rows, cols = np.nonzero(ac.loc >= 0)
    over = _past(b, t, rows, cols)  # with people aboard too (held for a base, say)
    np.add.at(b.rec["ground_over"], rows[over], 1)
