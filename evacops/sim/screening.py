"""Who a gate's screening lets through: eligibility rules that change on a date (scenario events
of kind ``eligibility``: from a time a gate accepts only some cohorts), and people turned away
for lack of papers (``refusal_share`` of the uncertainty block), of whom ``requeue_share`` queue
at the same gate again ``requeue_delay_h`` later and the rest give up for good (counted).

People of a cohort a gate no longer accepts leave it as from a closed gate
(:func:`evacops.sim.crowds.crowd_moves`); the call-forward, surges and the plan's flows send no
one of that cohort to it, and its screening lets none of them through (:meth:`Screening.allowed`).
The planner does not see eligibility events (yet): a plan that calls a cohort to a gate after it
stops accepting it is not followed there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from evacops.network import Network
from evacops.scenario import Scenario

if TYPE_CHECKING:
    from evacops.sim.core import Batch


@dataclass
class Screening:
    """Who each gate accepts over time (eligibility events)."""

    allowed_ac: np.ndarray  # (A, C) may the cohort use the arc (the network's, fixed)
    accept: np.ndarray | None  # (T, G, C) does the gate accept the cohort, None: always
    allowed_tac: np.ndarray | None  # (T, A, C) may the cohort use the arc in the period

    @classmethod
    def of(cls, sc: Scenario, net: Network, gates: np.ndarray, ok: np.ndarray) -> Screening:
        """``ok``: (C, G) may the cohort be called to the gate at all."""
        allowed_ac = np.ascontiguousarray(net.arc_allowed.T)
        accept = _accept(sc, net, gates, ok)
        allowed_tac = None
        if accept is not None:
            allowed_tac = np.broadcast_to(allowed_ac, (net.T, *allowed_ac.shape)).copy()
            for j, g in enumerate(gates):  # arcs into the gate and out of it (its screening)
                arcs = np.flatnonzero((net.arc_to == g) | (net.arc_from == g))
                allowed_tac[:, arcs, :] &= accept[:, j, None, :]
        return cls(allowed_ac, accept, allowed_tac)

    def allowed(self, t: int) -> np.ndarray:
        """(A, C) may the cohort use the arc in period ``t``."""
        return self.allowed_ac if self.allowed_tac is None else self.allowed_tac[t]


def _accept(sc: Scenario, net: Network, gates: np.ndarray, ok: np.ndarray) -> np.ndarray | None:
    """(T, G, C) whether each gate accepts each cohort in each period (the cohorts it may be
    called at all, narrowed by the eligibility events in force), or None without any."""
    events = [e for e in sc.events if e.kind == "eligibility"]
    if not events:
        return None
    tl = net.timeline
    pos = {net.sites[g]: j for j, g in enumerate(gates)}
    cidx = {c: i for i, c in enumerate(net.cohorts)}
    rule = np.ones((net.T, gates.size, len(net.cohorts)), dtype=bool)

    def at(e) -> int:
        assert e.at is not None  # the model's validator saw to it
        return tl.period_ceil(e.at)

    for e in sorted(events, key=at):  # later rules override
        assert e.site is not None and e.at is not None and e.cohorts is not None
        row = np.zeros(len(net.cohorts), dtype=bool)
        row[[cidx[c] for c in e.cohorts]] = True
        rule[max(0, min(net.T, tl.period_ceil(e.at))) :, pos[e.site]] = row
    return rule & ok.T[None]


def refuse(b: Batch, t: int, src: int, f: np.ndarray) -> np.ndarray:
    """People ``f`` (R, C) screened at gate ``src`` in period ``t``: ``refusal`` of them are
    turned away (they leave the gate: ``requeue`` of them to queue there again later, the rest
    for good); returns those let through. (The uncertainty block, as ``SimModel.rnd``.)"""
    md, rnd = b.md, b.md.rnd
    if not (b.random and rnd.refusal > 0) or md.ix.gate_pos[src] < 0:
        return f
    pp, now = b.people, b.now
    turned = f * rnd.refusal
    again = turned * rnd.requeue
    now.A[:, src] -= turned
    d = min(rnd.requeue_periods, md.ix.ring - 1)  # (the ring is as long as the model's delay)
    k = (t + d) % md.ix.ring
    pp.ring[k][:, src] += again
    pp.inbound[:, src] += again
    b.rec["refused"] += turned.sum(axis=1)
    b.rec["quit"][:, t] += (turned - again).sum(axis=1)
    if b.audit and t + d < md.T:
        b.rec["requeue_in"][:, t + d, md.ix.gate_pos[src]] += again
    return f - turned
