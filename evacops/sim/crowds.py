"""Gates and the crowds in front of them: incidents and random screening rates, the
call-forward that keeps each gate's crowd within its safe number (without a plan), and surges of
uncalled people from the assembly points."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from evacops.sim.arrays import rsum, take_by_priority
from evacops.sim.transfer import EPS, send, send_one

if TYPE_CHECKING:
    from evacops.sim.core import Batch
    from evacops.sim.model import SimModel


def open_gates(b: Batch, t: int) -> tuple[np.ndarray, np.ndarray]:
    """(open, rate) of each site in period ``t`` (R, S): incidents start or go on at gates and
    close them, likelier where the crowd before a gate is dense and on a bad day; screening
    rates are drawn, scaled by the day's factor shared by every gate, and slowed where the
    crowd before a gate presses past its onset density (:meth:`CrowdPhysics.gate_share`)."""
    md, R, rnd, gs = b.md, b.R, b.md.rnd, b.gates
    net = md.net
    open_ = np.broadcast_to(net.open_[:, t], (R, md.S)).copy()
    rate = np.broadcast_to(net.rate, (R, md.S)).copy()
    crowd = b.people.H[:, md.gates].sum(axis=2) if md.G else None  # (R, G) when t starts
    if b.random and md.G:
        assert crowd is not None
        day = b.day_factor[:, min(int(t * md.period_h // 24), b.day_factor.shape[1] - 1)]
        gs.inc_left = np.maximum(gs.inc_left - 1, 0)
        if rnd.incident_p > 0 and rnd.incident_mean_h > 0:
            p = rnd.incident_p * _incident_weight(md, crowd) / day[:, None]
            start = (gs.inc_left == 0) & (b.d("inc_u", t) < np.minimum(p, 1.0))
            dur = np.maximum(1, np.ceil(b.d("inc_h", t) / md.period_h - 1e-9))
            gs.inc_left = np.where(start, dur.astype(np.int64), gs.inc_left)
        open_[:, md.gates] &= ~(gs.inc_left > 0)
        rate[:, md.gates] = rate[:, md.gates] * b.d("screen", t) * day[:, None]
    if crowd is not None:  # faster is slower: a crowd pressing past the onset slows its gate
        rate[:, md.gates] = rate[:, md.gates] * md.crowd.gate_share(crowd, md.gate_area)
    rate[~open_] = 0.0
    return open_, rate


def _incident_weight(md: SimModel, crowd: np.ndarray) -> np.ndarray:
    """(R, G) how much likelier an incident is at each gate than its base chance: 1 plus
    ``incident_density`` per person/m2 the crowd stands above the safe density."""
    dens = md.crowd.density(crowd, np.where(np.isfinite(md.gate_area), md.gate_area, np.inf))
    excess = np.maximum(dens - md.crowd.safe_density_per_m2, 0.0)
    return 1.0 + md.rnd.incident_density * excess


def call_forward(b: Batch, t: int, s: int, out: np.ndarray) -> None:
    """Call people to the gates so that the crowd in front of each stays within its safe
    number (crowd area x safe density, or its holding capacity), allowing for the people
    it screens until they arrive; higher priority first, and no more of a cohort than the
    aircraft that may carry it can take soon."""
    md, now, pp = b.md, b.now, b.people
    net, ix = md.net, md.ix
    for a in out:
        g = int(net.arc_to[a])
        gp = ix.gate_pos[g]
        delay = int(net.arc_delay[a])
        budget = np.full(b.R, np.inf)
        if gp >= 0:
            cap = ix.gate_cap[gp, min(t + delay, md.T - 1)]
            if np.isfinite(cap):
                screened = net.rate[g] * delay if np.isfinite(net.rate[g]) else 0.0
                crowd = now.A[:, g].sum(axis=1) + pp.inbound[:, g].sum(axis=1)
                budget = np.where(now.site_open[:, g], cap + screened - crowd, 0.0)
        room = np.maximum(np.minimum(budget, now.arc_room[:, a]), 0.0)
        if not (room > EPS).any():
            continue
        avail = np.maximum(now.A[:, s], 0.0) * md.screening.allowed(t)[a][None, :]
        gates = md.gates
        pipeline = now.A[:, net.evac] + rsum(now.A[:, gates], 1) + rsum(pp.inbound[:, gates], 1)
        quota = md.lift_quota[min(t + delay, md.T - 1)][None, :] - pipeline
        avail = np.minimum(avail, np.maximum(quota, 0.0))
        take = take_by_priority(avail, room, md.prio_order)
        take = np.where(take > EPS, take, 0.0)
        if take.any():
            send_one(b, t, int(a), take, False)


def _waiting_for_calls(b: Batch, t: int) -> None:
    """Who waits for each call arc, and for each gate from every assembly point, before anyone
    surges this period."""
    md, now = b.md, b.now
    net, ix = md.net, md.ix
    calls = ix.call_arcs
    now.surge_waiting = (
        np.maximum(now.A[:, net.arc_from[calls]], 0.0) * md.screening.allowed(t)[calls][None]
    ).sum(axis=2)  # (R, calls)
    now.surge_all = np.zeros((b.R, md.G))
    for j, a in enumerate(calls):
        gp = ix.gate_pos[net.arc_to[a]]
        if gp >= 0:
            now.surge_all[:, gp] += now.surge_waiting[:, j]


def _attraction(b: Batch) -> np.ndarray:
    """(R, G) how much likelier a surge is at each gate than its base chance: what it lets
    through now against its nominal rate (a gate that lets people in draws more, a closed one
    draws none), blended by ``surge_attraction``."""
    md, now = b.md, b.now
    nominal = md.net.rate[md.gates]
    ok = np.isfinite(nominal) & (nominal > 0)
    eff = now.rate_eff[:, md.gates] / np.where(ok, nominal, 1.0)
    eff = np.where(ok, np.minimum(eff, 2.0), np.where(now.site_open[:, md.gates], 1.0, 0.0))
    a = md.rnd.attraction
    return np.maximum(1.0 - a + a * eff, 0.0)


def crowd_moves(b: Batch, t: int) -> None:
    """People before a gate act on what they see: everyone before a closed gate, or of a cohort
    the gate no longer accepts (eligibility events), leaves it (a share walks to the other open
    gates that accept their cohort, in proportion to their rates; the rest, and all if none is
    open, go back to their assembly point, or give up for good if they have none), and a share
    of a crowd pressed past the onset density gives up and goes back. Back at the assembly point
    they are called again, or come again in a surge. Closures and crowds only with randomness on
    (the crowd's behaviour is part of the uncertainty), eligibility always (a scenario event,
    then without walking to other gates); counted in the records."""
    md, now = b.md, b.now
    accept = md.screening.accept
    if not md.G or not (b.random or accept is not None):
        return
    gates, net = md.gates, md.net
    crowd = np.maximum(now.A[:, gates], 0.0)  # (R, G, C)
    ok = np.ones((md.G, md.C), dtype=bool) if accept is None else accept[t]  # (G, C)
    closed = ~now.site_open[:, gates] if b.random else np.zeros((b.R, md.G), dtype=bool)
    leave = np.where(closed[..., None] | ~ok[None], crowd, 0.0)
    give_up = np.zeros_like(crowd)
    if b.random:
        area = np.where(np.isfinite(md.gate_area), md.gate_area, np.inf)
        pressed = md.crowd.density(crowd.sum(axis=2), area) > md.crowd.onset_density
        give_up = np.where((pressed & ~closed)[..., None] & ok[None], crowd * md.rnd.give_up_p, 0)
    # to the other open gates that accept the cohort, in proportion to their nominal rates
    rate = np.where(np.isfinite(net.rate[gates]), net.rate[gates], 1.0)
    w_c = np.where(closed, 0.0, rate)[:, None, :] * (md.gate_cohort_ok & ok.T)[None]  # (R, C, G)
    tot = w_c.sum(axis=2, keepdims=True)  # (R, C, 1)
    share = w_c / np.where(tot > 0, tot, 1.0)  # (R, C, G): 0 where no gate is open to it
    walk = md.rnd.switch if b.random else 0.0
    switch = leave * walk * (tot[:, :, 0] > 0)[:, None, :]  # (R, G, C)
    arriving = np.transpose(share, (0, 2, 1)) * switch.sum(axis=1)[:, None, :]  # (R, G, C)
    has_back = (md.gate_back >= 0)[None]  # (1, G, C)
    back = np.where(has_back, leave - switch + give_up, 0.0)
    quit = np.where(has_back, 0.0, leave - switch)  # nowhere to go back to: they give up
    now.A[:, gates] += arriving - switch - back - quit
    for j in range(md.G):
        for c in np.flatnonzero(has_back[0, j]):
            now.A[:, md.gate_back[j, c], c] += back[:, j, c]
    b.rec["gate_switched"] += switch.sum(axis=(1, 2))
    b.rec["gave_up"] += back.sum(axis=(1, 2))
    b.rec["quit"][:, t] += quit.sum(axis=(1, 2))


def surges(b: Batch, t: int, s: int, out: np.ndarray) -> None:
    """Uncalled people come to a gate from the assembly points that feed it, in proportion
    to who waits there; with a plan, they count as called (the plan calls fewer later)."""
    md, now = b.md, b.now
    net, ix = md.net, md.ix
    hit = b.d("surge_u", t) < md.rnd.surge_p * md.news_t[t] * _attraction(b)  # (R, G)
    if not hit.any():
        return
    if now.surge_all is None:
        _waiting_for_calls(b, t)
    assert now.surge_all is not None
    mine = out[ix.gate_pos[net.arc_to[out]] >= 0]
    if mine.size == 0:
        return
    gp = ix.gate_pos[net.arc_to[mine]]
    go = hit[:, gp]  # (R, arcs)
    if not go.any():
        return
    avail = np.maximum(now.A[:, s], 0.0)[:, None, :] * md.screening.allowed(t)[mine][None]
    here = avail.sum(axis=2)  # (R, arcs)
    allf = now.surge_all[:, gp]
    share = np.where(allf > 0, here / np.where(allf > 0, allf, 1.0), 0.0)
    size = np.where(go, b.d("surge_n", t)[:, gp] * share, 0.0)
    size = np.maximum(np.minimum(size, now.arc_room[:, mine]), 0.0)
    frac = np.where(here > 0, np.minimum(size, here) / np.where(here > 0, here, 1.0), 0.0)
    take = avail * frac[:, :, None]  # (R, arcs, C)
    # the arcs draw on the same people: no more than are there, cohort by cohort
    tot = take.sum(axis=1)
    have = np.maximum(now.A[:, s], 0.0)
    cut = np.where(tot > have, have / np.where(tot > 0, tot, 1.0), 1.0)
    take = take * cut[:, None, :]
    take = np.where(take > EPS, take, 0.0)
    if take.any():
        send(b, t, mine, take, md.plan is not None)
