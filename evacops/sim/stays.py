"""How long people stay at a site, as the planner states it (:mod:`evacops.plan.limits`,
``Site-stay`` and ``Site-dwell``): nobody stays longer than ``max_stay_h`` (L periods, the period of
arrival counted as one), and nobody leaves sooner than ``min_dwell_h`` (d periods) after
arriving. Cohorts are counted together and the reading is first come, first out, as in the plan:
the people at a site at the end of period ``t - L + 1`` have all left by the end of period ``t``;
nobody leaves in periods ``t - d + 1 .. t`` but people who were there at the end of ``t - d``.

The simulator keeps both in every run:

- **Minimum dwell**: a site lets out in a period no more than the people who have been there
  ``d`` periods, less those of them who have left since (:func:`dwell_limit`).
- **Stay**: people whose stay runs out leave first: each period everyone whose stay ends then is
  moved on, before anyone above the plan's numbers (:func:`must_go`), and the dispatch policy
  sends idle aircraft first where stays run out within :data:`URGENT_H` (:func:`due_soon`);
  nobody is sent to a
  site that could not move them on in time (:func:`stay_room`): a flight or a ground leg bound
  for it takes only as many as the site can send on, first come first out, before their stay
  runs out: with a plan, its departures from the site by then; without, its onward capacity
  (out-processing rate, the onward ground legs open then, the room at their ends now less
  everyone who might take it first). People who go on by air are counted at the out-processing
  rate (which aircraft will come is not known in advance); if they do not come, people overstay
  and the overstay is counted (``overstay`` in the records), never hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from evacops.network import Network
from evacops.sim.arrays import rsum
from evacops.sim.transfer import EPS

if TYPE_CHECKING:
    from evacops.sim.core import Batch


@dataclass
class StayLimits:
    """The sites with a stay or dwell limit and what the checks of :mod:`evacops.sim.stays`
    read about them."""

    sites: np.ndarray  # (n,) sites with a limit
    pos: np.ndarray  # (S,) position among them, or -1
    stay: np.ndarray  # (n,) periods a person may stay, 0 = no limit
    dwell: np.ndarray  # (n,) periods a person stays at least, 0 = none
    H: int  # periods of the rings of people there and leaving
    svc_fin: np.ndarray  # (n, T + 1) cumulative onward capacity, finite periods
    svc_inf: np.ndarray  # (n, T + 1) cumulative count of periods without a limit
    far: list[list[tuple[int, np.ndarray]]]  # per site: (capped destination, its other feeders)

    @classmethod
    def of(cls, net: Network, hold_cap: np.ndarray) -> StayLimits:
        S, T = len(net.sites), net.T
        sites = np.flatnonzero((net.max_stay > 0) | (net.min_dwell > 0))
        pos = np.full(S, -1, dtype=np.int64)
        pos[sites] = np.arange(sites.size)
        stay, dwell = net.max_stay[sites], net.min_dwell[sites]
        svc = np.zeros((sites.size, T))
        far: list[list[tuple[int, np.ndarray]]] = []
        for i, s in enumerate(sites):
            out = np.flatnonzero(net.arc_from == s)
            ground = out[net.arc_move[out] < 0]
            air = out[net.arc_move[out] >= 0]
            cap = (net.arc_open[ground] * net.arc_cap[ground][:, None]).sum(axis=0)
            svc[i] = np.minimum(cap + _airlift(net, int(s)), net.rate[s])
            dests = sorted({int(d) for d in net.arc_to[ground] if np.isfinite(hold_cap[d]).any()})
            feeders = [
                (d, np.array(sorted(set(net.arc_from[net.arc_to == d].tolist()) - {int(s)})))
                for d in dests
            ]
            # a destination without a capacity, or a way on by air, gives room enough: no bound
            unbounded = air.size > 0 or (~np.isin(net.arc_to[ground], dests)).any()
            far.append([] if unbounded else feeders)
        zero = np.zeros((sites.size, 1))
        fin = np.concatenate([zero, np.cumsum(np.where(np.isfinite(svc), svc, 0.0), 1)], 1)
        inf = np.concatenate([zero, np.cumsum(~np.isfinite(svc), 1)], 1)
        H = int(max(stay.max(initial=0), dwell.max(initial=0))) + 1
        return cls(sites, pos, stay, dwell, H, fin, inf, far)


def _airlift(net: Network, s: int) -> np.ndarray:
    """(T,) people the fleets that fly on from site ``s`` can carry from it per period, as a
    planner would estimate it: each fleet's aircraft available x the people a sortie takes
    (its seats; at a site that is not pooled, at most what it processes in a period, since
    people there board in the period their sortie leaves) x the rotations an aircraft flies per
    period (one per out-and-back cycle of block and ground times, within its crews' sorties and
    its maintenance down time), shared equally among the airfields it carries people from."""
    out = np.zeros(net.T)
    dt = net.period_h
    for f in range(len(net.fleets)):
        fwd = np.flatnonzero((net.move_fleet == f) & net.move_forward)
        here = fwd[net.move_from[fwd] == s]
        if here.size == 0:
            continue
        m = here[np.argmin(net.move_ready[here])]  # its quickest flight on from s
        back = np.flatnonzero(
            (net.move_fleet == f) & ~net.move_forward & (net.move_leg == np.array(net.move_leg[m]))
        )
        cycle = net.move_ready[m] + (net.move_ready[back[0]] if back.size else net.move_ready[m])
        per = net.fleet_up[f] / cycle  # rotations per period, within maintenance
        if np.isfinite(net.fleet_sorties_day[f]):  # two sorties (out and back) a rotation
            per = min(per, net.fleet_sorties_day[f] / 2 * dt / 24)
        origins = np.unique(net.move_from[fwd]).size
        open_ = net.move_open[here].any(axis=0)
        seats = net.fleet_load[f] if net.pooled[s] else min(net.fleet_load[f], net.rate[s])
        out += np.where(open_, net.fleet_avail[f] * seats * per / origins, 0.0)
    return out


def _hold_ago(b: Batch, t: int, k: np.ndarray | int) -> np.ndarray:
    """(R, n) people at each limited site at the end of period t - k (0 before the start)."""
    st = b.md.stays
    k = np.broadcast_to(np.asarray(k), (st.sites.size,))
    got = b.people.stay_hold[(t - k) % st.H, :, np.arange(st.sites.size)].T
    return np.where((t - k >= 0)[None, :], got, 0.0)


def _out_since(b: Batch, t: int, k: np.ndarray) -> np.ndarray:
    """(R, n) people who left each limited site in periods t - k + 1 .. t - 1 (none for k <= 1):
    the difference of two cumulative counts."""
    st = b.md.stays
    n = st.sites.size
    cols = np.arange(n)
    ring = b.people.stay_cum
    last = ring[(t - 1) % st.H] if t >= 1 else np.zeros((b.R, n))
    first = ring[(t - k) % st.H, :, cols].T  # (R, n): by the end of t - k
    first = np.where((t - k >= 0)[None, :], first, 0.0)
    return np.where((k >= 2)[None, :], last - first, 0.0)


def may_leave(b: Batch, t: int) -> np.ndarray:
    """(R, S) the share of the people at each site now who have dwelt there long enough to
    leave (1 without a minimum dwell)."""
    st = b.md.stays
    out = np.ones((b.R, b.md.S))
    has = st.dwell > 0
    if not has.any():
        return out
    allowed = np.maximum(_hold_ago(b, t, st.dwell) - _out_since(b, t, st.dwell), 0.0)
    s = st.sites[has]
    there = b.now.A[:, s].sum(axis=2)
    out[:, s] = np.where(there > EPS, np.minimum(allowed[:, has] / np.maximum(there, EPS), 1.0), 1)
    return out


def dwell_limit(b: Batch, t: int) -> None:
    """Sites with a minimum dwell of d let out in period t no more than the people there at
    the end of t - d, less those who have left since."""
    st = b.md.stays
    has = st.dwell > 0
    if not has.any():
        return
    allowed = _hold_ago(b, t, st.dwell) - _out_since(b, t, st.dwell)
    s = st.sites[has]
    b.now.site_room[:, s] = np.minimum(b.now.site_room[:, s], np.maximum(allowed[:, has], 0.0))


#: the dispatch policy sends an idle aircraft first where people's stay runs out within this time
URGENT_H = 12.0


def due_soon(b: Batch, t: int) -> np.ndarray:
    """(R, S) people at each site with a stay limit whose stay runs out within
    :data:`URGENT_H` and who have not left (0 elsewhere)."""
    st = b.md.stays
    out = np.zeros((b.R, b.md.S))
    has = st.stay > 0
    if not has.any():
        return out
    U = max(1, int(np.ceil(URGENT_H / b.md.period_h - 1e-9)))
    k = np.maximum(st.stay - U, 1)  # who arrived by t + U - L is due by the end of t + U - 1
    due = _hold_ago(b, t, k) - _out_since(b, t, k)
    out[:, st.sites] = np.where(has[None, :], np.maximum(due, 0.0), 0.0)
    return out


def must_go(b: Batch, t: int, s: int) -> np.ndarray:
    """(R,) people at site s whose stay ends in period t (who arrived by t - L + 1, the period
    of arrival counted as one) and who have not left yet (counting who has left so far this
    period)."""
    st = b.md.stays
    i = st.pos[s]
    if i < 0 or st.stay[i] == 0:
        return np.zeros(b.R)
    if st.stay[i] == 1:  # a stay of one period: everyone there now
        return np.maximum(b.now.A[:, s].sum(axis=1), 0.0)
    if b.now.due is None:  # who arrived by t - k, k = L - 1, at every site: once a period
        k = np.maximum(st.stay - 1, 1)
        b.now.due = _hold_ago(b, t, k) - _out_since(b, t, k)
    due = b.now.due[:, i]
    gone = rsum(b.now.flow_t[:, b.md.ix.site_arcs[s]].sum(axis=2), 1)
    return np.maximum(due - gone, 0.0)


def _committed(b: Batch, t: int, rows: np.ndarray, s: np.ndarray, K: int) -> np.ndarray:
    """(n, K) people at site s now and arriving there (by ground or aboard) by period t + k,
    computed for every run at each site named and then picked."""
    pp, md, now = b.people, b.md, b.now
    u, inv = np.unique(s, return_inverse=True)
    there = now.A[:, u].sum(axis=2)  # (R, u)
    if now.flow_t.size:  # who has left this period counts against the capacity from t on
        for j, site in enumerate(u):
            there[:, j] += rsum(now.flow_t[:, md.ix.site_arcs[site]].sum(axis=2), 1)
    D, LB = md.ix.ring, md.ix.land_ring
    kd = np.arange(1, min(K, D))
    ground = pp.ring[:, :, u].sum(axis=3)[(t + kd) % D]  # (k, R, u), from t + 1
    kl = np.arange(min(K, LB))
    land = pp.land_sched[:, :, u][(t + kl) % LB]  # (k, R, u)
    arrive = np.zeros((K, b.R, u.size))
    arrive[kd] += ground
    arrive[kl] += land
    cum = there[None] + np.cumsum(arrive, axis=0)  # (K, R, u)
    return cum[:, rows, inv].T


def _capacity(b: Batch, t: int, i: np.ndarray, e: np.ndarray) -> np.ndarray:
    """(n, K) people site st.sites[i] can send on in periods t .. e (inf from the end of the
    horizon: a stay that ends after it binds nothing, as in the plan)."""
    md, st = b.md, b.md.stays
    s = st.sites[i]
    T = md.T
    ec = np.minimum(e, T - 1)
    if md.follow is not None:  # the plan's departures from it by then
        oc = md.follow.out_cum
        before_t = oc[t - 1, s] if t > 0 else np.zeros_like(s, dtype=float)
        cap = oc[ec, s[:, None]] - np.asarray(before_t)[:, None]
    else:
        infs = st.svc_inf[i[:, None], ec + 1] - st.svc_inf[i, t][:, None]
        fin = st.svc_fin[i[:, None], ec + 1] - st.svc_fin[i, t][:, None]
        cap = np.where(infs > 0, np.inf, fin)
    return np.where(e >= T, np.inf, cap)


def _far_room(b: Batch, t: int, rows: np.ndarray, i: np.ndarray) -> np.ndarray:
    """(n,) room at the far ends of a site's onward ground legs into places with a capacity:
    their least capacity from now on less people there and on the way, and less everyone at
    (or bound for, aboard aircraft that left this period too) the other places that feed them,
    who may take it first."""
    md, pp = b.md, b.people
    out = np.full(rows.size, np.inf)
    for j in np.unique(i):
        feeds = md.stays.far[j]
        if not feeds:
            continue
        sel = i == j
        r = rows[sel]
        room = np.zeros(r.size)
        for d, others in feeds:
            taken = b.now.A[r, d].sum(axis=1) + pp.inbound[r, d].sum(axis=1)
            if others.size:
                at = b.now.A[r][:, others].sum(axis=(1, 2))
                on_way = pp.inbound[r][:, others].sum(axis=(1, 2))
                taken = taken + at + on_way + rsum(pp.land_sched[:, r][:, :, others], 0).sum(1)
                air = np.concatenate([md.ix.bound_arcs[o] for o in others])
                if air.size and b.now.flow_t.size:  # loaded this period, not in land_sched yet
                    taken = taken + b.now.flow_t[r][:, air].sum(axis=(1, 2))
            room += np.maximum(md.hold_cap[d, t:].min() - taken, 0.0)
        out[sel] = room
    return out


def horizon(b: Batch) -> int:
    """Periods ahead over which arrivals are known (landings and ground legs): the width of the
    ``ahead`` arrays :func:`stay_room` reads."""
    return max(b.md.ix.land_ring, b.md.ix.ring)


def stay_room(
    b: Batch,
    t: int,
    rows: np.ndarray,
    s: np.ndarray,
    p: np.ndarray,
    ahead: np.ndarray | None = None,
) -> np.ndarray:
    """(n,) how many more people may arrive at site ``s`` in period ``p`` (per entry) and still
    be sent on before their stay ends, first come first out. With A(q) the people there now and
    arriving by period q, and C(u..e) what the site can send on in periods u .. e, everyone
    arriving by q has left by q + L - 1 if A(q) - A(u - 1) <= C(u..q + L - 1) for every u <= q
    from now on (the queue may empty at u - 1; capacity before then is lost). A load arriving at
    p adds to A(q) for every q >= p (later arrivals lose their place) and to no A(u - 1) with
    u <= p, so its room is min over q >= p of C(t..q + L - 1) - A(q), plus the least of
    A(u - 1) - C(t..u - 1) over u <= p (capacity lost while the site empties), and no more than
    the room at the far ends of its onward ground legs less A(q). ``ahead``: (n, K) people of
    entries decided before these in this period who arrive by t + k. Inf where the site has no
    stay limit."""
    md, st = b.md, b.md.stays
    out = np.full(rows.size, np.inf)
    if not (st.stay > 0).any():
        return out
    i = st.pos[s]
    L = st.stay[np.maximum(i, 0)]
    # (a stay that ends after the horizon binds nothing, as in the plan)
    lim = np.flatnonzero((i >= 0) & (L > 0) & (np.minimum(p, t + 1) + L - 1 < b.md.T))
    if lim.size == 0:
        return out
    r, sl, pl, il = rows[lim], s[lim], p[lim], i[lim]
    K = horizon(b)
    pl = np.minimum(pl, t + K - 1)
    k = np.arange(K)
    committed = _committed(b, t, r, sl, K)
    if ahead is not None:
        committed = committed + ahead[lim]
    # what each site can send on: until the stay of those arriving at t + k ends, and by t + k
    u, inv = np.unique(il, return_inverse=True)
    cap_end = _capacity(b, t, u, t + k[None, :] + st.stay[u][:, None] - 1)[inv]
    cap_now = _capacity(b, t, u, np.broadcast_to(t + k[None, :], (u.size, K)))[inv]
    later = t + k[None, :] >= pl[:, None]
    left = np.where(later, cap_end - committed, np.inf).min(axis=1)
    lost = np.where(~later & np.isfinite(cap_now), committed - cap_now, 0.0)
    left = left + np.minimum(lost.min(axis=1), 0.0)
    if md.follow is None:  # the room at the far ends of its onward legs
        far = _far_room(b, t, r, il)[:, None] - committed
        left = np.minimum(left, np.where(later, far, np.inf).min(axis=1))
    out[lim] = np.maximum(left, 0.0)
    return out


def stay_grid(b: Batch, t: int) -> np.ndarray:
    """(R, S) :func:`stay_room` of every run and site for people arriving next period (inf
    without a stay limit)."""
    st = b.md.stays
    out = np.full((b.R, b.md.S), np.inf)
    sites = st.sites[(st.stay > 0) & (t + st.stay < b.md.T)]  # (else nothing binds: stay_room)
    if sites.size:
        rows = np.repeat(np.arange(b.R), sites.size)
        s = np.tile(sites, b.R)
        out[rows, s] = stay_room(b, t, rows, s, np.full(rows.size, t + 1))
    return out


def record(b: Batch, t: int) -> None:
    """Keep the people at each limited site at the end of period t and who left it in t, and
    count people still there after their stay (person-periods, ``overstay``)."""
    st, md = b.md.stays, b.md
    if st.sites.size == 0:
        return
    pp = b.people
    left = np.stack(
        [rsum(b.now.flow_t[:, md.ix.site_arcs[s]].sum(axis=2), 1) for s in st.sites], axis=1
    )
    pp.stay_hold[t % st.H] = b.now.A[:, st.sites].sum(axis=2)
    pp.stay_cum[t % st.H] = (pp.stay_cum[(t - 1) % st.H] if t >= 1 else 0.0) + left
    has = st.stay > 0
    if has.any():
        k = np.where(has, st.stay - 1, 1)  # who arrived by t - k has left by the end of t
        over = _hold_ago(b, t, k) - _out_since(b, t, k) - np.where(k >= 1, left, 0.0)
        over = np.where(has[None, :] & (over > EPS * 10), over, 0.0)
        b.rec["overstay"][:, st.sites] += over
