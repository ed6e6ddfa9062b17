"""The dispatch policy, for runs without a plan (docs/simulation.md): an aircraft flies when
loaded or when its slot comes, to the nearest staging base with room; one with nobody to carry
where it is goes where people wait for its fleet and a base it flies to from there has room, or
home."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from evacops.sim.arrays import before, rank, rsum, segsum
from evacops.sim.staging import note_held
from evacops.sim.stays import due_soon, may_leave, stay_grid
from evacops.sim.transfer import EPS

if TYPE_CHECKING:
    from evacops.sim.core import Batch

URGENT = 1e15  # a score above any number of people waiting


def ready_list(b: Batch, t: int, only, extra: np.ndarray | None = None):
    """(runs, aircraft) on the ground, ready and empty (and in ``extra``), unless ``only``."""
    if only is not None:
        return only
    ac = b.air
    mask = (ac.loc >= 0) & (ac.ready <= t) & (ac.ob_tot <= EPS)
    if extra is not None:
        mask &= extra
    return np.nonzero(mask)


def policy_candidates(b: Batch, t: int, only):
    """The aircraft that leave now under the dispatch policy, and their moves: (runs,
    aircraft, moves, order key), or None."""
    md, ac = b.md, b.air
    net, N = md.net, md.N
    rows, cols = ready_list(b, t, only)
    b.now.stay_next = None  # people may have landed since it was last computed
    if rows.size:
        avail = md.ac_j[cols] < net.fleet_avail[md.ac_fleet[cols], t]
        rows, cols = rows[avail], cols[avail]
    if rows.size == 0 or len(md.ix.pairs) == 0:
        return None
    n = rows.size
    f = md.ac_fleet[cols]
    loc = ac.loc[rows, cols]
    load = net.fleet_load[f]
    key = ac.ready[rows, cols] * N + cols
    # people who may board each outbound arc now, and per (fleet, airfield)
    fa = md.ix.fwd_arcs
    Wa = np.zeros((b.R, md.A))
    Wa[:, fa] = (b.now.A[:, net.arc_from[fa], :] * md.arc_allowed_ac[fa][None]).sum(axis=2)
    Wa[:, fa] *= may_leave(b, t)[:, net.arc_from[fa]]  # (not who has not dwelt long enough)
    waiting = segsum(Wa[:, md.ix.pairs.arcs], md.ix.pairs.starts, 1)  # (R, pairs)
    p_here = md.ix.pairs.of[f, loc]
    here = np.flatnonzero((p_here >= 0) & (waiting[rows, np.maximum(p_here, 0)] > EPS))
    has_out = np.zeros(n, dtype=bool)
    held = np.zeros(n, dtype=bool)
    loaded = np.zeros(n, dtype=bool)
    m = np.full(n, -1, dtype=np.int64)
    if here.size:
        ho, fl, ld, mo = _outbound(
            b, t, rows[here], cols[here], f[here], loc[here], load[here], key[here], Wa
        )
        has_out[here], held[here], loaded[here], m[here] = ho, fl, ld, mo
    # repositioning: no one to carry here; go where people wait for its fleet, or home
    idle = ~has_out & ~held
    if idle.any():
        m = _idle(b, t, rows, cols, f, loc, load, idle, m, waiting)
    m = _free_the_ramp(b, t, rows, cols, f, loc, m, held)
    go = m >= 0
    key = (
        np.where(loaded, 0, 1) * (md.T + 1) * N + np.minimum(ac.ready[rows, cols], md.T) * N + cols
    )
    return rows[go], cols[go], m[go], key[go]


def _free_the_ramp(b: Batch, t: int, rows, cols, f, loc, m, held) -> np.ndarray:
    """No aircraft holds ramp space at the evacuation airport that another needs: an aircraft
    there that cannot be loaded (no base it flies to has room) leaves at once, and where
    aircraft due to land would find the MOG full, aircraft on the ground that are not leaving
    (waiting for a load, idle) leave too, longest on the ground first; each flies empty home,
    or (based there) to the nearest airfield its fleet flies to (:data:`SimModel.leave_move`)."""
    md, ac = b.md, b.air
    e = md.net.evac
    stay = np.flatnonzero((loc == e) & (m < 0))
    if stay.size == 0:
        return m
    due = ((ac.loc < 0) & (ac.dest == e) & (ac.eta <= t)).sum(axis=1)  # (R,)
    leaving = np.bincount(rows[(loc == e) & ((m >= 0) | held)], minlength=b.R)
    room = np.floor(md.mog_eff[e, t] + 1e-9) - ac.on_ground(md.S)[:, e] + leaving
    need = due - room  # (R,)
    cand = stay[held[stay] | (need[rows[stay]] > 0)]
    if cand.size == 0:
        return m
    r, c = rows[cand], cols[cand]
    others = ~held[cand]  # the held leave anyway; of the others, as many as are needed
    first = held[cand].copy()
    first[others] = (
        rank(r[others], np.zeros_like(r[others]), ac.eta[r, c][others] * md.N + c[others])
        < need[r[others]]
    )
    away = md.leave_move[f[cand], e]
    go = first & (away >= 0) & md.move_open_tm[t, np.maximum(away, 0)]
    m = m.copy()
    m[cand[go]] = away[go]
    np.add.at(b.rec["ramp_freed"], r[go], 1)
    return m


def _idle(b: Batch, t: int, rows, cols, f, loc, load, idle, m, waiting) -> np.ndarray:
    """Idle aircraft reposition where people wait for their fleet, or, after waiting long
    enough, fly home (unless home is where it would be loaded and no base it flies to from
    there has room: it is not sent to sit on that ramp)."""
    md, ac = b.md, b.air
    m = _reposition(b, t, rows, cols, f, loc, load, idle, m, waiting)
    still = idle & (m < 0)
    home = md.home_move[f, loc]
    gohome = still & (home >= 0) & (ac.wait[rows, cols] >= md.ix.max_wait)
    gohome &= md.move_open_tm[t, np.maximum(home, 0)]
    loads_there = md.ix.pairs.of[f, md.net.move_to[np.maximum(home, 0)]] >= 0
    check = np.flatnonzero(gohome & loads_there)
    if check.size:
        there = md.net.move_to[home[check]]
        ahead = np.zeros(check.size, dtype=np.int64)
        gohome[check] = _room_from(b, t, rows[check], f[check], there, load[check], ahead)
    m = np.where(gohome, home, m)
    ac.wait[rows, cols] = np.where(
        still & ~gohome & (home >= 0),
        ac.wait[rows, cols] + 1,
        np.where(idle & ~still, 0, ac.wait[rows, cols]),
    )
    return m


def _nearest_with_room(b: Batch, t: int, rows, fm, Wm, load, key) -> np.ndarray:
    """For each aircraft, the position in ``fm`` of the nearest staging base with room (at
    least half a load, or everyone waiting if fewer, once the aircraft ahead of it bound there
    have their share; else the next nearest), or -1."""
    md, now, pp = b.md, b.now, b.people
    net = md.net
    n = rows.size
    fmm = np.maximum(fm, 0)
    to = net.move_to[fmm]
    capT = md.hold_cap[:, t]
    capped = np.isfinite(capT[to])
    room = np.full(Wm.shape, np.inf)
    if capped.any():
        there = now.A.sum(axis=2) + pp.inbound.sum(axis=2) + rsum(pp.land_sched, 0)
        room = np.where(capped, capT[to] - there[rows[:, None], to], np.inf)
    room = np.minimum(room, _stay_rooms(b, t, rows, to))
    capped = np.isfinite(room)
    need = np.ceil(np.minimum(Wm, load[:, None]) - 1e-9)
    half = np.ceil(load / 2)
    rem = Wm > EPS
    kbest = np.full(n, -1, dtype=np.int64)
    assigned = np.zeros((b.R, md.S), dtype=np.int64)
    ii = np.arange(n)
    for _ in range(fm.shape[1]):
        active = rem.any(axis=1) & (kbest < 0)
        if not active.any():
            break
        kb = np.argmin(np.where(rem, md.block_h[fmm], np.inf), axis=1)
        to_c, need_c, room_c, cap_c = to[ii, kb], need[ii, kb], room[ii, kb], capped[ii, kb]
        sel = np.flatnonzero(active & cap_c)
        ahead = np.zeros(n, dtype=np.int64)
        if sel.size:
            ahead[sel] = (
                before(rows[sel], to_c[sel], key[sel], need_c[sel]) + assigned[rows[sel], to_c[sel]]
            )
        ok = active & (~cap_c | (ahead + np.minimum(need_c, half) <= room_c + EPS))
        kbest = np.where(ok, kb, kbest)
        hit = ok & cap_c
        np.add.at(assigned, (rows[hit], to_c[hit]), need_c[hit].astype(np.int64))
        rem[ii[active & ~ok], kb[active & ~ok]] = False
    return kbest


def _stay_rooms(b: Batch, t: int, rows: np.ndarray, to: np.ndarray) -> np.ndarray:
    """(n, K) people each site ``to`` (n, K) could take and send on before their stay ends if
    they landed next period (inf without a stay limit); computed once for every run and site
    when the policy decides (:func:`evacops.sim.stays.stay_grid`)."""
    if b.now.stay_next is None:
        b.now.stay_next = stay_grid(b, t)
    return b.now.stay_next[rows[:, None], to]


def _outbound(b: Batch, t: int, rows, cols, f, loc, load, key, Wa):
    """For aircraft where people wait for them: the nearest staging base with room, and
    whether it leaves now (loaded, or its slot has come). Returns (has a base, held for a full
    base, loaded, move or -1)."""
    md, ac = b.md, b.air
    net = md.net
    n = rows.size
    fm = md.fleet_fwd[f]  # (n, K)
    fmm = np.maximum(fm, 0)
    at = (fm >= 0) & (net.move_from[fmm] == loc[:, None]) & md.move_open_tm[t, fmm]
    Wm = np.where(at, Wa[rows[:, None], md.move_arc[fmm]], 0.0)
    with_people = Wm > EPS
    kbest = _nearest_with_room(b, t, rows, fm, Wm, load, key)
    ii = np.arange(n)
    has_out = kbest >= 0
    kb = np.maximum(kbest, 0)
    m_out = fm[ii, kb]
    w_out = Wm[ii, kb]
    # held for a full base: people to carry, but no base it flies to has room
    held = ~has_out & with_people.any(axis=1)
    kn = np.argmin(np.where(with_people, md.block_h[fmm], np.inf), axis=1)
    note_held(b, rows, cols, fm[ii, kn], held)
    # people left for an aircraft once those ahead of it at the site have their seats
    ho = np.flatnonzero(has_out)
    left = np.zeros(n)
    left[ho] = w_out[ho] - before(rows[ho], loc[ho], key[ho], load[ho])
    loaded = has_out & (left >= load - EPS)
    slots_here = md.runway.dep_limited[loc]
    waited = ac.wait[rows, cols] >= md.ix.max_wait
    leave = has_out & (loaded | ((left > EPS) & (slots_here | waited)))
    ac.wait[rows, cols] = np.where(
        has_out & ~leave & (left > EPS),
        ac.wait[rows, cols] + 1,
        np.where(leave, 0, ac.wait[rows, cols]),
    )
    return has_out, held, loaded, np.where(leave, m_out, -1)


def _room_from(b: Batch, t: int, rows, f, site, load, ahead) -> np.ndarray:
    """Whether, from ``site``, the fleet ``f`` flies people to a place with room for half a
    load once ``ahead`` aircraft of its fleet have taken a full load each (places without a
    holding capacity always have room)."""
    md, now, pp = b.md, b.now, b.people
    net = md.net
    fm = md.fleet_fwd[f]  # (n, K)
    fmm = np.maximum(fm, 0)
    at = (fm >= 0) & (net.move_from[fmm] == site[:, None])
    to = net.move_to[fmm]
    cap = md.hold_cap[to, t]
    there = now.A.sum(axis=2) + pp.inbound.sum(axis=2) + rsum(pp.land_sched, 0)  # (R, S)
    room = np.where(np.isfinite(cap), cap - there[rows[:, None], to], np.inf)
    room = np.minimum(room, _stay_rooms(b, t, rows, to))
    need = (ahead + 0.5) * load
    return (at & (room >= need[:, None] - EPS)).any(axis=1)


def _reposition(b: Batch, t: int, rows, cols, f, loc, load, idle, m, waiting) -> np.ndarray:
    """Send idle aircraft where people wait for their fleet (more than the seats of its
    aircraft there or on the way), within the MOG there."""
    md, ac = b.md, b.air
    net, pairs = md.net, md.ix.pairs
    pos = np.where(ac.loc >= 0, ac.loc, ac.dest)  # (R, N) where each is or will be
    F, S = len(net.fleets), md.S
    code = (np.arange(b.R)[:, None] * F + md.ac_fleet[None, :]) * S + pos
    counts = np.bincount(code[pos >= 0], minlength=b.R * F * S).reshape(b.R, F * S)
    demand = waiting - pairs.load[None, :] * counts[:, pairs.fs]
    # only aircraft of a fleet that people wait for somewhere
    wanted = np.zeros((b.R, F), dtype=bool)
    wanted[:, pairs.fleets] = np.logical_or.reduceat(demand > EPS, pairs.fleet_starts, 1)
    idx = np.flatnonzero(idle & wanted[rows, f])
    if idx.size == 0:
        return m
    r, fi, li = rows[idx], f[idx], loc[idx]
    am = md.fleet_all[fi]  # (n, K)
    amm = np.maximum(am, 0)
    p = pairs.of[fi[:, None], net.move_to[amm]]
    ok = (am >= 0) & (net.move_from[amm] == li[:, None]) & md.move_open_tm[t, amm] & (p >= 0)
    d = np.where(ok, demand[r[:, None], np.maximum(p, 0)], -np.inf)
    # first where people's stay runs out soon, then where most wait
    soon = due_soon(b, t)[r[:, None], net.move_to[amm]] > EPS
    kb = np.argmax(d + np.where(soon & (d > EPS), URGENT, 0.0), axis=1)
    jj = np.arange(idx.size)
    best = d[jj, kb]
    mv = am[jj, kb]
    go = best > EPS
    if not go.any():
        return m
    g = np.flatnonzero(go)
    target = net.move_to[mv[g]]
    rg, cg, fg = r[g], cols[idx[g]], fi[g]
    rank1 = rank(rg, p[jj[g], kb[g]], cg)
    fine = rank1 * load[idx[g]] < best[g] - EPS
    # never to be loaded where no base it flies to from there has room for its load (after the
    # loads of its fleet's aircraft there or on the way, and of those sent before it now)
    ahead = counts[rg, fg * S + target] + rank(rg, fg * S + target, cg)
    fine &= _room_from(b, t, rg, fg, target, load[idx[g]], ahead)
    # within the MOG there, of those that would be sent
    there = ac.on_ground(S) + ac.inbound(S)
    mog_left = md.mog_eff[target, t] - there[rg, target]
    k = np.flatnonzero(fine)
    fine[k] = rank(rg[k], target[k], cg[k]) < mog_left[k]
    m = m.copy()
    m[idx[g[fine]]] = mv[g[fine]]
    return m
