"""Aircraft landing: within arrival slots and MOG, first due first (the others hold in the air);
people step off where they land; an aircraft that landed to turn round at once and did not leave
goes round where the MOG is exceeded."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from evacops.sim.arrays import rank
from evacops.sim.transfer import EPS

if TYPE_CHECKING:
    from evacops.sim.core import Batch

Entries = tuple[np.ndarray, np.ndarray]  # (runs, aircraft)


def landings(b: Batch, t: int) -> tuple[Entries, Entries]:
    """Aircraft due land within arrival slots and MOG, first due first; the others hold in
    the air. An aircraft whose ground time ends within the period it lands (it may leave
    again at once) is not counted against the MOG now: if it does not leave, it goes round
    (:func:`go_around`). People step off where they land. Returns (landed, quick turns)."""
    ac = b.air
    rows, cols = np.nonzero((ac.loc < 0) & (ac.eta <= t))
    landed = (rows[:0], cols[:0])
    quick = landed
    if rows.size:
        landed, quick = _land(b, t, rows, cols)
    # people step off: aircraft that landed, and those held at the ramp with people aboard
    rr, rc = np.nonzero((ac.loc >= 0) & (ac.ob_tot > EPS))
    if rr.size:
        amount = ac.onboard[rr, rc]
        site = ac.loc[rr, rc]
        np.add.at(b.now.A, (rr, site), amount)
        ac.onboard[rr, rc] = 0.0
        ac.ob_tot[rr, rc] = 0.0
        b.now.off.append((rr, rc, site, amount))
    return landed, quick


def _cleared(b: Batch, t: int, rows: np.ndarray, cols: np.ndarray, d: np.ndarray):
    """(cleared to land, quick turn) of the aircraft due at ``d``: within arrival slots and the
    MOG (a quick turn is not counted against it), first due first."""
    md, ac = b.md, b.air
    key = np.minimum(ac.eta[rows, cols], md.T) * md.N + cols
    ok = md.net.open_[d, t]
    if md.runway.arr_limited[d].any():  # arrival slots and runway movements
        left = md.runway.room(ac.dep_ring, ac.arr_ring, t, md.T, arrival=True)
        sel = np.flatnonzero(ok & md.runway.arr_limited[d])
        ok[sel] = rank(rows[sel], d[sel], key[sel]) < left[rows[sel], d[sel]]
    turn = ac.gnd_off[rows, cols] == 0
    mog_left = np.floor(md.mog_eff[:, t][None, :] - ac.on_ground(md.S) + 1e-9)
    sel = np.flatnonzero(ok & ~turn)
    ok[sel] = rank(rows[sel], d[sel], key[sel]) < mog_left[rows[sel], d[sel]]
    return ok, turn


def _land(b: Batch, t: int, rows: np.ndarray, cols: np.ndarray) -> tuple[Entries, Entries]:
    md, ac, pp = b.md, b.air, b.people
    LB = md.ix.land_ring
    d = ac.dest[rows, cols]
    ok, turn = _cleared(b, t, rows, cols, d)
    hold = ~ok
    if hold.any():  # held in the air: try again next period
        hr, hc = rows[hold], cols[hold]
        b.rec["air_hold_periods"] += np.bincount(hr, minlength=b.R)
        people = ac.ob_tot[hr, hc]
        np.add.at(pp.land_sched, (ac.eta[hr, hc] % LB, hr, d[hold]), -people)
        np.add.at(pp.land_sched, ((t + 1) % LB, hr, d[hold]), people)
        ac.eta[hr, hc] = t + 1
    lr, lc, ld = rows[ok], cols[ok], d[ok]
    if lr.size:
        np.add.at(pp.land_sched, (ac.eta[lr, lc] % LB, lr, ld), -ac.ob_tot[lr, lc])
        np.add.at(ac.arr_ring[t % md.ix.slot_ring], (lr, ld), 1)
        ac.loc[lr, lc] = ld
        ac.ready[lr, lc] = t + ac.gnd_off[lr, lc]
        ac.eta[lr, lc] = t
        ac.dest[lr, lc] = -1
    return (lr, lc), (lr[turn[ok]], lc[turn[ok]])


def go_around(b: Batch, t: int, quick: Entries) -> None:
    """Aircraft that landed this period to turn round at once but did not leave go round
    (back in the air with their people, landing next period) where the MOG is exceeded."""
    md, ac, now = b.md, b.air, b.now
    N = md.N
    qr, qc = quick
    still = ac.loc[qr, qc] >= 0
    qr, qc = qr[still], qc[still]
    if qr.size == 0:
        return
    excess = ac.on_ground(md.S) - np.floor(md.mog_eff[:, t][None, :] + 1e-9)
    site = ac.loc[qr, qc]
    back = rank(qr, site, N - qc) < excess[qr, site]
    if not back.any():
        return
    br, bc, bs = qr[back], qc[back], site[back]
    for i, (rr, rc, s, amount) in enumerate(now.off):  # take their people back aboard
        code = rr * N + rc
        hit = np.isin(code, br * N + bc)
        if hit.any():
            np.add.at(now.A, (rr[hit], s[hit]), -amount[hit])
            ac.onboard[rr[hit], rc[hit]] += amount[hit]
            ac.ob_tot[rr[hit], rc[hit]] = ac.onboard[rr[hit], rc[hit]].sum(axis=1)
            keep = ~hit
            now.off[i] = (rr[keep], rc[keep], s[keep], amount[keep])
    np.add.at(b.people.land_sched, ((t + 1) % md.ix.land_ring, br, bs), ac.ob_tot[br, bc])
    np.add.at(ac.arr_ring[t % md.ix.slot_ring], (br, bs), -1)
    b.rec["air_hold_periods"] += np.bincount(br, minlength=b.R)
    ac.dest[br, bc] = bs
    ac.eta[br, bc] = t + 1
    ac.loc[br, bc] = -1
