"""Staging bases as the aircraft see them: whether a flight's load would overfill its base when
it lands (then it is held at its origin, or diverted), and the counts of held flights."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from evacops.sim.arrays import before_2d, rsum
from evacops.sim.stays import horizon, stay_room
from evacops.sim.transfer import EPS

if TYPE_CHECKING:
    from evacops.sim.core import Batch


def landing_by(b: Batch, t: int, rows: np.ndarray, to: np.ndarray, until: np.ndarray) -> np.ndarray:
    """People landing at ``to`` in periods t .. until (per entry)."""
    LB = b.md.ix.land_ring
    k = np.arange(LB)
    steps = (t + k) % LB
    vals = b.people.land_sched[steps[None, :], rows[:, None], to[:, None]]  # (n, LB)
    return np.where(k[None, :] <= (until - t)[:, None], vals, 0.0).sum(axis=1)


def full(
    b: Batch,
    t: int,
    rows: np.ndarray,
    m: np.ndarray,
    load: np.ndarray,
    land: np.ndarray | None = None,
    key: np.ndarray | None = None,
) -> np.ndarray:
    """Entries whose move takes people to a site that cannot take their load: a holding
    capacity their load would exceed when they land (with a plan: counting the plan's
    departures from it until then; without: people there, on the way and landing there, and no
    departures), or a stay limit the site could not keep for them (:func:`stay_short`)."""
    out = _over_capacity(b, t, rows, m, load)
    return out | stay_short(b, t, rows, m, load, land, key)


def stay_short(
    b: Batch,
    t: int,
    rows: np.ndarray,
    m: np.ndarray,
    load: np.ndarray,
    land: np.ndarray | None = None,
    key: np.ndarray | None = None,
) -> np.ndarray:
    """Entries bound for a site with a stay limit that could not send their people on before
    their stay ends if they land after ``land`` periods (the move's own by default), counting
    the entries before them in the order of ``key`` that land by then."""
    md = b.md
    net = md.net
    to = net.move_to[m]
    out = np.zeros(rows.size, dtype=bool)
    idx = np.flatnonzero(net.move_forward[m] & (md.stays.pos[to] >= 0))
    if idx.size == 0:
        return out
    p = t + (net.move_land[m] if land is None else land)[idx]
    r, s, ld = rows[idx], to[idx], load[idx]
    ahead = None
    if key is not None:
        K = horizon(b)
        arrives = p[:, None] <= t + np.arange(K)[None, :]
        ahead = before_2d(r, s, key[idx], ld[:, None] * arrives)
    room = stay_room(b, t, r, s, p, ahead)
    tol = EPS * np.maximum(1.0, np.where(np.isfinite(room), room, 1.0))
    out[idx] = ld > room + tol
    return out


def _over_capacity(
    b: Batch, t: int, rows: np.ndarray, m: np.ndarray, load: np.ndarray
) -> np.ndarray:
    """Entries whose load would overfill a site with a holding capacity (see :func:`full`)."""
    md, now, pp = b.md, b.now, b.people
    net = md.net
    to = net.move_to[m]
    L = np.minimum(t + net.move_land[m], md.T - 1)
    capL = md.hold_cap[to, L]
    # (a flight that lands after the end of the horizon is never held, as in the plan)
    check = net.move_forward[m] & np.isfinite(capL) & (t + net.move_land[m] < md.T)
    out = np.zeros(rows.size, dtype=bool)
    if not check.any():
        return out
    r, s, Lc, cap = rows[check], to[check], L[check], capL[check]
    there = now.A[r, s].sum(axis=1) + pp.inbound[r, s].sum(axis=1)
    if md.follow is not None:
        out_cum = md.follow.out_cum
        there = there + landing_by(b, t, r, s, Lc)
        there = there - (out_cum[Lc, s] - (out_cum[t - 1, s] if t > 0 else 0.0))
    else:
        there = there + rsum(pp.land_sched[:, r, s], 0)
    out[check] = there + load[check] > cap + EPS * np.maximum(1.0, cap)
    return out


def divert(b: Batch, t: int, rows: np.ndarray, m: np.ndarray, held: np.ndarray, load: np.ndarray):
    """Flights bound for a full staging base go to the nearest other staging base their
    fleet flies to from there that has room. Returns (moves, still held)."""
    md = b.md
    orig = md.net.move_to[m]
    for j in range(md.alt.shape[1]):
        m2 = md.alt[m, j]
        tr = held & (m2 >= 0)
        if not tr.any():
            break
        m2c = np.maximum(m2, 0)
        ok = tr & md.move_open_tm[t, m2c]
        if ok.any():
            idx = np.flatnonzero(ok)
            ok[idx] = ~full(b, t, rows[idx], m2c[idx], load[idx])
        sp = md.ix.stage_pos[orig]
        hit = ok & (sp >= 0)
        np.add.at(b.rec["diverted_from"], (rows[hit], sp[hit]), 1)
        m = np.where(ok, m2c, m)
        held = held & ~ok
    return m, held


def note_held(
    b: Batch, rows: np.ndarray, cols: np.ndarray, m: np.ndarray, held: np.ndarray
) -> None:
    """Count flights held because their staging base is full (a flight held over several
    periods counts once as a flight, and once per period in aircraft-periods)."""
    ac = b.air
    sp = b.md.ix.stage_pos[b.md.net.move_to[m]]
    hit = held & (sp >= 0)
    new = hit & ~ac.held[rows, cols]
    np.add.at(b.rec["held_flights"], (rows[new], sp[new]), 1)
    np.add.at(b.rec["held_aircraft_periods"], (rows[hit], sp[hit]), 1)
    ac.held[rows, cols] = held
