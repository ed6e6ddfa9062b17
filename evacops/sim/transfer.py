"""Sending people on arcs: the one place where people leave a site for an arc in a period, and
arrive (at once, or in the ring of a later period); every step that moves people calls it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from evacops.sim.screening import refuse

if TYPE_CHECKING:
    from evacops.sim.core import Batch

EPS = 1e-6


def send_one(b: Batch, t: int, a: int, f: np.ndarray, planned: bool) -> None:
    """Send flows ``f`` (R, C) on arc ``a`` (see :func:`send`)."""
    net, now, pp = b.md.net, b.now, b.people
    src = int(net.arc_from[a])
    now.site_room[:, src] -= f.sum(axis=1)  # (at a gate, those turned away took time too)
    if net.arc_move[a] < 0:
        f = refuse(b, t, src, f)
    tot = f.sum(axis=1)
    if src == net.evac:
        now.out_t += f
    now.A[:, src] -= f
    now.flow_t[:, a] += f
    now.arc_room[:, a] -= tot
    if planned:
        pp.X[:, a] += f
    if net.arc_move[a] >= 0:
        return
    d, dst = int(net.arc_delay[a]), int(net.arc_to[a])
    if d == 0:
        now.A[:, dst] += f
        (now.d0 if planned else now.d0s)[:, a] += f
    else:
        pp.ring[(t + d) % b.md.ix.ring][:, dst] += f
        pp.inbound[:, dst] += f


def send(b: Batch, t: int, arcs: np.ndarray, f: np.ndarray, planned: bool) -> None:
    """Send flows ``f`` (R, arcs, C) on ``arcs``, arc by arc in their order (adding the
    zeros of arcs that carry no one in this batch would change nothing, so they are
    skipped); ``planned`` flows follow the plan."""
    for j in np.flatnonzero(f.any(axis=(0, 2))):
        send_one(b, t, int(arcs[j]), f[:, j], planned)
