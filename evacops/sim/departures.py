"""Aircraft leaving: the candidates (the plan's schedule here, or the dispatch policy of
:mod:`evacops.sim.dispatch`), then departure slots, aborts and random block and ground times."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from evacops.sim.arrays import rank
from evacops.sim.crews import count_sorties, within_crews
from evacops.sim.dispatch import policy_candidates, ready_list
from evacops.sim.ramp import with_overdue
from evacops.sim.staging import divert, full, note_held

if TYPE_CHECKING:
    from evacops.sim.core import Batch

BIG = np.iinfo(np.int64).max // 4
Only = tuple[np.ndarray, np.ndarray] | None  # (runs, aircraft) to consider, or all ready


def departures(b: Batch, t: int, only: Only) -> None:
    """Aircraft that leave in period ``t`` (of ``only``, or of all that are ready)."""
    md = b.md
    follows = md.plan is not None
    got = _plan_candidates(b, t, only) if follows else policy_candidates(b, t, only)
    got = with_overdue(b, t, only, got)
    if got is None:
        return
    rows, cols, m, key, planned = got
    if rows.size == 0:
        return
    land, tot = durations(b, t, rows, cols, m)
    keep = within_crews(b, t, rows, md.ac_fleet[cols], tot, key, (cols, m))
    origin = b.air.loc[rows, cols]
    keep[keep] = _within_slots(b, t, rows[keep], origin[keep], key[keep])
    rows, cols, m, origin, land, tot, planned = (
        x[keep] for x in (rows, cols, m, origin, land, tot, planned)
    )
    if rows.size == 0:
        return
    np.add.at(b.air.dep_ring[t % md.ix.slot_ring], (rows, origin), 1)
    rnd = md.rnd
    if b.random and rnd.abort_p > 0:  # the sortie does not leave; its slot is lost
        ab = b.d("abort", t)[rows, cols] < rnd.abort_p
        if ab.any():
            ar, ac = rows[ab], cols[ab]
            b.air.ready[ar, ac] = t + md.ground_origin_periods[m[ab]]
            np.add.at(b.rec["aborts"], (ar, md.ac_fleet[ac]), 1)
            rows, cols, m, land, tot, planned = (
                x[~ab] for x in (rows, cols, m, land, tot, planned)
            )
    if rows.size == 0:
        return
    _take_off(b, t, rows, cols, m, land, tot, planned)
    count_sorties(b, t, rows, md.ac_fleet[cols], tot, cols)


def _within_slots(
    b: Batch, t: int, rows: np.ndarray, origin: np.ndarray, key: np.ndarray
) -> np.ndarray:
    """Entries that find room on the runway at their origin (departure slots and movements, in
    every window that holds ``t``: :class:`~evacops.sim.runway.Runway`), in the order of
    ``key``."""
    md = b.md
    keep = np.ones(rows.size, dtype=bool)
    lim = np.flatnonzero(md.runway.dep_limited[origin])
    if lim.size:
        room = md.runway.room(b.air.dep_ring, b.air.arr_ring, t, md.T, arrival=False)
        r, o = rows[lim], origin[lim]
        keep[lim] = rank(r, o, key[lim]) < room[r, o]
    return keep


def durations(b: Batch, t: int, rows: np.ndarray, cols: np.ndarray, m: np.ndarray):
    """(periods until each sortie lands, periods until its aircraft is ready again): the
    planner's, or drawn (block and ground times a lognormal factor each), rounded as the
    planner rounds them."""
    md = b.md
    if not b.random:
        return md.net.move_land[m], md.net.move_ready[m]
    bv = md.block_h[m] * b.d("block", t)[rows, cols]
    gv = md.ground_dest_h[m] * b.d("ground", t)[rows, cols]
    land = np.maximum(1, np.ceil(bv / md.period_h - 1e-9)).astype(np.int64)
    tot = np.maximum(land, np.ceil((bv + gv) / md.period_h - 1e-9).astype(np.int64))
    return land, tot


def _take_off(
    b: Batch,
    t: int,
    rows: np.ndarray,
    cols: np.ndarray,
    m: np.ndarray,
    land: np.ndarray,
    tot: np.ndarray,
    planned: np.ndarray,
) -> None:
    """The aircraft leave on moves ``m``: in the air for ``land`` periods, then on the ground
    until ``tot`` periods after leaving; with a plan, those flying their ``planned`` sortie
    move on to the next (not those sent off a limited airfield: :mod:`evacops.sim.ramp`)."""
    md, ac = b.md, b.air
    net = md.net
    ac.loc[rows, cols] = -1
    ac.mv[rows, cols] = m
    ac.dest[rows, cols] = net.move_to[m]
    ac.eta[rows, cols] = t + land
    ac.gnd_off[rows, cols] = tot - land
    ac.wait[rows, cols] = 0
    ac.held[rows, cols] = False
    if md.plan is not None and planned.any():
        advance(b, rows[planned], cols[planned])
    np.add.at(b.now.nd_move, (rows, m), 1)
    b.now.gone.append((rows, cols, m))


def advance(b: Batch, rows: np.ndarray, cols: np.ndarray) -> None:
    """Move on to each aircraft's next planned sortie."""
    plan, ac = b.md.plan, b.air
    assert plan is not None
    ac.ptr[rows, cols] += 1
    k = np.minimum(ac.ptr[rows, cols], plan.sched_move.shape[1] - 1)
    nxt = plan.sched_dep[cols, k]
    ac.next_tp[rows, cols] = np.where(ac.ptr[rows, cols] < plan.n_sched[cols], nxt, BIG)


def _plan_candidates(b: Batch, t: int, only: Only):
    """Aircraft whose next planned sortie is due, from where they are (the same flight from
    another airfield if the aircraft is not where the plan has it), unless its staging base
    is full (then held, or diverted)."""
    md, ac = b.md, b.air
    plan, net = md.plan, md.net
    assert plan is not None and md.follow is not None
    if only is None:
        rows, cols = ready_list(b, t, None, ac.next_tp <= t)
    else:
        rows, cols = only
        sel = ac.next_tp[rows, cols] <= t
        rows, cols = rows[sel], cols[sel]
    if rows.size == 0:
        return None
    k = np.minimum(ac.ptr[rows, cols], plan.sched_move.shape[1] - 1)
    mp = plan.sched_move[cols, k]
    tp = plan.sched_dep[cols, k]
    loc = ac.loc[rows, cols]
    m = np.where(net.move_from[mp] == loc, mp, md.sub[mp, loc])
    skip = m < 0
    if skip.any():  # no move of its fleet from where it is: the sortie is dropped
        advance(b, rows[skip], cols[skip])
        rows, cols, m, tp = rows[~skip], cols[~skip], m[~skip], tp[~skip]
    ok = md.move_open_tm[t, m] & (net.fleet_avail[md.ac_fleet[cols], t] > 0)
    rows, cols, m, tp = rows[ok], cols[ok], m[ok], tp[ok]
    share = md.follow.share[t, m]
    land, _tot = durations(b, t, rows, cols, m)
    held = full(b, t, rows, m, share, land, tp * md.N + cols)
    if held.any() and md.rnd.divert:
        m, held = divert(b, t, rows, m, held, share)
    note_held(b, rows, cols, m, held)
    go = ~held
    return rows[go], cols[go], m[go], tp[go] * md.N + cols[go]
