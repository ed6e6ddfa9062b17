"""People moving in a period, site by site in the order of the ground legs crossed within a
period: the plan's flows first (what the plan has sent on an arc by now, less what has gone),
then everyone above the plan's numbers (everyone, without a plan) where there is room; at
assembly points the call-forward and surges (:mod:`evacops.sim.crowds`); then the loads of the
aircraft that left this period."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from evacops.network.limits import pool_step
from evacops.sim.arrays import rsum, segsum, take_by_priority
from evacops.sim.crowds import call_forward, surges
from evacops.sim.stays import dwell_limit, must_go, stay_room
from evacops.sim.transfer import EPS, send, send_one

if TYPE_CHECKING:
    from evacops.sim.core import Batch


def people(b: Batch, t: int) -> None:
    """Every movement of people in period ``t``, then the aircraft that left are loaded."""
    md, R, now = b.md, b.R, b.now
    net, ix = md.net, md.ix
    A_, C = md.A, md.C
    now.flow_t = np.zeros((R, A_, C))  # every flow this period
    now.out_t = np.zeros((R, C))  # people leaving the evacuation airport this period
    now.d0 = np.zeros((R, A_, C))  # delay-0 ground flows that followed the plan
    now.d0s = np.zeros((R, A_, C))  # and those that did not
    seats = np.zeros((R, A_))
    fa = ix.fwd_arcs
    if fa.size:
        mv = net.arc_move[fa]
        seats[:, fa] = now.nd_move[:, mv] * net.arc_load[fa][None, :]  # max load on surge legs
    room = np.where(net.arc_move[None, :] >= 0, seats, net.arc_cap[None, :])
    now.arc_room = np.where(md.arc_open_ta[t][None, :] & now.site_open[:, net.arc_from], room, 0.0)
    now.stay_at = {}  # stay rooms by (site, landing period), as people move this period
    now.site_room = now.rate_eff.copy()
    now.site_room[:, net.pooled] += b.people.pool[:, net.pooled]
    dwell_limit(b, t)  # nobody leaves before their minimum dwell
    for li, layer in enumerate(md.layers):
        if md.plan is not None and ix.layer_arcs[li].arcs.size:
            _planned(b, t, li)
        _surplus(b, t, layer)
    if now.gone:
        _load_aircraft(b, t)


def processed(b: Batch) -> None:
    """At the end of a period, the people processed and still waiting at each pooled site
    (:attr:`~evacops.network.Network.pooled`): processing goes on at the site's rate while
    anyone there is not yet processed, as in the planner's ``Site-pool`` rows
    (:func:`evacops.network.limits.processed_pool`), so that those who leave together on a
    sortie may have been processed over several periods. Processing goes on while a site is
    closed, as in the planner (nobody leaves it then)."""
    net, now, pool = b.md.net, b.now, b.people.pool
    s = net.pooled
    if not s.any():
        return
    out = np.zeros((b.R, b.md.S))  # people who left each site this period
    np.add.at(out.T, net.arc_from, now.flow_t.sum(axis=2).T)
    pool[:, s] = pool_step(pool[:, s], net.rate[s][None, :], out[:, s], now.A[:, s].sum(axis=2))


def _load_aircraft(b: Batch, t: int) -> None:
    """The people who set off on an outbound air arc board the aircraft that left on it,
    shared equally; they land with it."""
    md, now, ac, rec = b.md, b.now, b.air, b.rec
    net = md.net
    rows = np.concatenate([g[0] for g in now.gone])
    cols = np.concatenate([g[1] for g in now.gone])
    m = np.concatenate([g[2] for g in now.gone])
    fwd = md.move_arc[m] >= 0
    rows, cols, m = rows[fwd], cols[fwd], m[fwd]
    if not rows.size:
        return
    share = now.flow_t[rows, md.move_arc[m]] / now.nd_move[rows, m][:, None]
    pp = share.sum(axis=1)
    ac.onboard[rows, cols] = share
    ac.ob_tot[rows, cols] = pp
    dest = ac.dest[rows, cols]
    np.add.at(b.people.land_sched, (ac.eta[rows, cols] % md.ix.land_ring, rows, dest), pp)
    f = net.move_fleet[m]
    np.add.at(rec["people_flown"], (rows, f), pp)
    np.add.at(rec["seats_flown"], (rows, f), net.arc_load[md.move_arc[m]])
    ev = net.move_from[m] == net.evac
    day = md.ix.day_of[t]
    op = md.fleet_op[f]
    carried = ev & (pp > EPS)
    np.add.at(rec["flights_op_day"], (rows[carried], op[carried], day), 1)
    np.add.at(rec["out_op_day"], (rows[ev], op[ev], day), pp[ev])


def _dest_room(b: Batch, t: int, arcs: np.ndarray, planned: bool = False) -> np.ndarray:
    """(R, arcs) room at the far end of ground legs into a site with a holding capacity:
    its capacity when they arrive less people there and on the way; for the plan's own
    flows, plus the plan's departures from it until then (others: no one leaves meanwhile).
    For a leg crossed within the period, its capacity now less people there now. A site
    over its capacity at the end of a period takes back what came in over it."""
    md, now = b.md, b.now
    net = md.net
    to = net.arc_to[arcs]
    ta = np.minimum(t + net.arc_delay[arcs], md.T - 1)
    cap = md.hold_cap[to, ta]
    ground = net.arc_move[arcs] < 0
    lim = ground & np.isfinite(cap) & (t + net.arc_delay[arcs] < md.T)
    room = np.full((b.R, arcs.size), np.inf)
    if lim.any():
        there = now.A[:, to].sum(axis=2) + b.people.inbound[:, to].sum(axis=2)
        if planned and md.follow is not None:
            out_cum = md.follow.out_cum
            later = net.arc_delay[arcs] > 0
            drain = out_cum[ta, to] - (out_cum[t - 1, to] if t > 0 else 0.0)
            there = there - np.where(later, drain, 0.0)[None, :]
        room = np.where(lim[None, :], np.maximum(cap[None, :] - there, 0.0), np.inf)
    R = np.arange(b.R)
    for j in np.flatnonzero(ground & (md.stays.pos[to] >= 0)):  # people sent on in time
        p = np.full(b.R, t + int(net.arc_delay[arcs[j]]))
        room[:, j] = np.minimum(room[:, j], stay_room(b, t, R, np.full(b.R, to[j]), p))
    return room


def _planned(b: Batch, t: int, li: int) -> None:
    """What the plan has sent on each arc of layer ``li`` by now, less what has gone, within
    what is there and the capacities of this period."""
    md, now = b.md, b.now
    net = md.net
    assert md.follow is not None
    lay = md.ix.layer_arcs[li]
    arcs = lay.arcs
    target = md.follow.flow_cum[t, arcs][None] - b.people.X[:, arcs]  # (R, a, C)
    if not (target > EPS).any():
        return
    # every arc of the layer, whether or not it carries anyone in this batch: sums over
    # arcs then add the same terms in the same order whatever the batch holds
    target = np.where(target > EPS, target, 0.0)
    if md.screening.allowed_tac is not None:  # a gate that no longer accepts a cohort
        target = target * md.screening.allowed(t)[arcs][None]
    tot = target.sum(axis=2)
    room = now.arc_room[:, arcs]
    later = np.flatnonzero((net.arc_move[arcs] < 0) & (net.arc_delay[arcs] > 0))
    if later.size:
        room[:, later] = np.minimum(room[:, later], _dest_room(b, t, arcs[later], planned=True))
    target *= np.where(tot > room, np.maximum(room, 0.0) / np.where(tot > 0, tot, 1.0), 1.0)[
        :, :, None
    ]
    # site processing rates and the people at each site, cohort by cohort
    sites, starts, inv = lay.sites, lay.starts, lay.seg
    out = segsum(target.sum(axis=2), starts, 1)
    lim = now.site_room[:, sites]
    sc = np.where(out > lim, np.maximum(lim, 0.0) / np.where(out > 0, out, 1.0), 1.0)
    target *= sc[:, inv][:, :, None]
    need = segsum(target, starts, 1)
    have = np.maximum(now.A[:, sites], 0.0)
    sc2 = np.where(need > have, have / np.where(need > 0, need, 1.0), 1.0)
    target *= sc2[:, inv]
    send(b, t, arcs, target, True)


def _surplus(b: Batch, t: int, layer: np.ndarray) -> None:
    """Everyone above the plan's numbers (everyone, without a plan) moves on where there
    is room; at assembly points, the call-forward policy (without a plan) and surges."""
    md, now = b.md, b.now
    rnd, ix = md.rnd, md.ix
    for s in layer:
        out = ix.site_arcs[s]
        if out.size == 0:
            continue
        if ix.is_assembly[s]:
            if md.plan is None:
                call_forward(b, t, s, out)
            if b.random and rnd.surge_p > 0 and rnd.surge_size_h > 0:
                surges(b, t, s, out)
            continue
        surplus = now.A[:, s] - md.plan.hold[t, s][None, :] if md.plan is not None else now.A[:, s]
        surplus = np.where(surplus > EPS, surplus, 0.0)
        if md.stays.pos[s] >= 0:  # people whose stay ends now go first, planned or not
            extra = must_go(b, t, int(s)) - surplus.sum(axis=1)
            if (extra > EPS).any():
                rest = np.maximum(now.A[:, s] - surplus, 0.0)
                surplus = surplus + take_by_priority(rest, np.maximum(extra, 0.0), md.prio_order)
        if not surplus.any():
            continue
        live = out[(now.arc_room[:, out] > EPS).any(axis=0)]
        if live.size:
            _send_surplus(b, t, s, live, surplus)


def _send_surplus(b: Batch, t: int, s: int, live: np.ndarray, surplus: np.ndarray) -> None:
    """Send the surplus at site ``s`` on its arcs with room, arc by arc, by cohort priority."""
    md, now = b.md, b.now
    net = md.net
    droom = _dest_room(b, t, live)
    for j, a in enumerate(live):
        room = np.minimum(now.arc_room[:, a], now.site_room[:, s])
        if np.isfinite(droom[:, j]).any():
            room = np.minimum(room, droom[:, j] - now.flow_t[:, a].sum(axis=1))
        if net.arc_move[a] >= 0:  # (with a plan, only the stay: the plan keeps capacities)
            room = np.minimum(room, _air_room(b, t, int(a), stay_only=md.plan is not None))
        room = np.maximum(room, 0.0)
        if not (room > EPS).any():
            continue
        avail = surplus * md.screening.allowed(t)[a][None, :]
        if net.arc_to[a] == net.evac and net.arc_move[a] < 0:
            # the airport admits a cohort up to loads for the aircraft that carry it
            quota = md.lift_quota[t][None, :] - now.A[:, net.evac]
            avail = np.minimum(avail, np.maximum(quota, 0.0))
        take = take_by_priority(avail, room, md.prio_order)
        take = np.where(take > EPS, take, 0.0)
        if take.any():
            surplus = surplus - take
            send_one(b, t, int(a), take, False)


def _air_room(b: Batch, t: int, a: int, stay_only: bool = False) -> np.ndarray:
    """(R,) room at the staging base an outbound air arc flies to: its capacity less people
    there, on the way and loaded this period for it (the dispatch policy), and the people it
    can send on before their stay ends if they land next period (less those loaded for it)."""
    md, now, pp = b.md, b.now, b.people
    net = md.net
    to = int(net.arc_to[a])
    cap = md.hold_cap[to, min(t + int(net.move_land[net.arc_move[a]]), md.T - 1)]
    stay = md.stays.pos[to] >= 0
    if (stay_only or not np.isfinite(cap)) and not stay:
        return np.full(b.R, np.inf)
    loaded = rsum(now.flow_t[:, md.ix.bound_arcs[to]].sum(axis=2), 1)
    room = np.full(b.R, np.inf)
    if not stay_only and np.isfinite(cap):
        there = (
            now.A[:, to].sum(axis=1)
            + pp.inbound[:, to].sum(axis=1)
            + rsum(pp.land_sched[:, :, to], 0)
            + loaded
        )
        room = cap - there
    if stay:
        room = np.minimum(room, _landing_stay_room(b, t, a, to) - loaded)
    return np.maximum(room, 0.0)


def _landing_stay_room(b: Batch, t: int, a: int, to: int) -> np.ndarray:
    """(R,) the people site ``to`` can take and send on before their stay ends, if they land
    when the aircraft leaving on air arc ``a`` this period land (their drawn block times): the
    least :func:`~evacops.sim.stays.stay_room` over each run's first to last of those landings
    (next period where none leaves). Read for the landing period itself: a flight that is late
    lands with later ones, and the room next period would let both bring more than the site can
    send on in time."""
    md, now, ac = b.md, b.now, b.air
    m = int(md.net.arc_move[a])
    first = np.full(b.R, np.iinfo(np.int64).max)
    last = np.full(b.R, -1)
    for rows, cols, mv in now.gone:
        sel = mv == m
        np.minimum.at(first, rows[sel], ac.eta[rows[sel], cols[sel]])
        np.maximum.at(last, rows[sel], ac.eta[rows[sel], cols[sel]])
    none = last < 0
    first[none] = last[none] = t + 1
    out = np.full(b.R, np.inf)
    runs = np.arange(b.R)
    for p in range(int(first.min()), int(last.max()) + 1):
        live = (first <= p) & (p <= last)
        if not live.any():
            continue
        key = (to, p)
        if key not in now.stay_at:
            now.stay_at[key] = stay_room(b, t, runs, np.full(b.R, to), np.full(b.R, p))
        out[live] = np.minimum(out[live], now.stay_at[key][live])
    return out
