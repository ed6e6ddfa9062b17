"""Holding capacity at the end of a period: a site over its capacity takes back what came in
over it this period (gates stop admitting; people stay aboard at a full base)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from evacops.sim.arrays import rsum
from evacops.sim.transfer import EPS

if TYPE_CHECKING:
    from evacops.sim.core import Batch

ALL = slice(None)


def overflow(b: Batch, t: int) -> None:
    """Sites over their holding capacity take back what came in over it, the layers behind
    first."""
    md, now = b.md, b.now
    capped = md.ix.capped
    if capped.size == 0:
        return
    cap = md.hold_cap[capped, t]
    over = now.A[:, capped].sum(axis=2) - cap[None, :]
    tol = EPS * np.maximum(1.0, np.where(np.isfinite(cap), cap, 1.0))
    hit = (over > tol[None, :]).any(axis=0)
    if not hit.any():
        return
    for s in sorted(capped[hit], key=lambda x: -md.ix.layer_of[x]):
        _take_back(b, t, int(s))


def _stepped_off(b: Batch, s: int, inflow: np.ndarray):
    """People who stepped off at ``s`` this period: those whose aircraft is still there are
    added to ``inflow`` (in place) and returned as entries (runs, aircraft, people); returned
    too are those who stepped off aircraft that have left again, by run (R, C)."""
    ac, now = b.air, b.now
    offs = []
    gone = np.zeros_like(inflow)
    for rr, rc, site, amount in now.off:
        here = (site == s) & (ac.loc[rr, rc] == s)
        if here.any():
            offs.append((rr[here], rc[here], amount[here]))
            np.add.at(inflow, rr[here], amount[here])
        away = (site == s) & (ac.loc[rr, rc] != s)
        if away.any():
            np.add.at(gone, rr[away], amount[away])
    return offs, gone


def _take_back(b: Batch, t: int, s: int) -> None:
    """People who came in this period over the capacity go back: to the gate (legs
    crossed within the period), aboard their aircraft (at the ramp), or wait at the
    entrance for the next period (legs that take time, and people who stepped off an
    aircraft that has left again)."""
    md, now, pp, ac = b.md, b.now, b.people, b.air
    net = md.net
    end = now.A[:, s]  # (R, C)
    over = end.sum(axis=1) - md.hold_cap[s, t]
    cap = md.hold_cap[s, t]
    over = np.where(over > EPS * max(1.0, cap), over, 0.0)  # as in overflow: exact no-op
    # for the runs of the batch that are within the capacity
    ground = np.flatnonzero((net.arc_to == s) & (net.arc_move < 0) & (net.arc_delay == 0))
    gin = now.d0[:, ground] + now.d0s[:, ground]  # (R, k, C)
    inflow = rsum(gin, 1) + now.arrived[:, s]
    offs, gone = _stepped_off(b, s, inflow)
    inflow = inflow + gone
    reducible = np.minimum(inflow, np.maximum(end, 0.0))
    rtot = reducible.sum(axis=1)
    amount_back = np.minimum(over, rtot)
    frac = np.where(rtot > 0, amount_back / np.where(rtot > 0, rtot, 1.0), 0.0)
    red = reducible * frac[:, None]
    share = np.where(inflow > 0, red / np.where(inflow > 0, inflow, 1.0), 0.0)  # (R, C)
    now.A[:, s] -= red
    if ground.size:
        back = gin * share[:, None, :]
        from_s = np.minimum(back, now.d0s[:, ground])
        from_p = back - from_s
        now.d0s[:, ground] -= from_s
        now.d0[:, ground] -= from_p
        pp.X[:, ground] -= from_p
        now.flow_t[:, ground] -= back
        for j in np.flatnonzero(net.arc_from[ground] == net.evac):
            now.out_t -= back[:, j]
        np.add.at(now.A, (ALL, net.arc_from[ground]), back)  # type: ignore[arg-type]
    for rr, rc, amount in offs:
        back = amount * share[rr]
        ac.onboard[rr, rc] += back
        ac.ob_tot[rr, rc] = ac.onboard[rr, rc].sum(axis=1)
    wait = (now.arrived[:, s] + gone) * share
    pp.ring[(t + 1) % md.ix.ring][:, s] += wait
    pp.inbound[:, s] += wait
