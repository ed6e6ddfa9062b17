"""Crews and maintenance as the planner states them (:mod:`evacops.plan.limits`): a fleet flies
at most ``max_sorties_per_day`` sorties (outbound or back) per aircraft available in any 24 hours,
and its aircraft are in use (from a sortie's departure until they are ready again: block and
ground time) at most ``1 - maintenance_down_fraction`` of those hours. The windows are the
planner's (:func:`evacops.network.limits.day_windows`: 24 hours ending every 3 hours, counted back
from the last period), enforced causally as the runway's are
(:func:`evacops.sim.runway.window_room`): a sortie leaves only if every window that holds its
period still has room for it. Hours in use are the sortie's own, as drawn (a slow turn uses more
of the allowance), so a replay of a plan counts exactly what the plan counts. Each aircraft
is held to its own crew as well, as the plan holds it (:func:`aircraft_crews`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from evacops.network import Network
from evacops.network.limits import day_windows
from evacops.sim.arrays import before, rank
from evacops.sim.runway import window_room

if TYPE_CHECKING:
    from evacops.sim.core import Batch


@dataclass
class Crews:
    """The crew and maintenance allowances of each fleet over the planner's 24-hour windows."""

    W: int  # periods of a window
    w: np.ndarray  # (F,) W for every fleet (window_room reads one per entity)
    sorties: np.ndarray  # (F, T) sorties allowed in the window ending in each period (inf: none)
    in_use: np.ndarray  # (F, T) periods in use allowed in it
    limited: bool  # any fleet limited at all
    per_aircraft: np.ndarray  # (F,) sorties each aircraft may fly in any W periods (inf: none)

    @classmethod
    def of(cls, net: Network) -> Crews:
        W, _stride, ends, most = day_windows(net.period_h, net.fleet_avail)
        F = len(net.fleets)
        per_day = net.fleet_sorties_day[:, None]
        crew = np.isfinite(per_day) & ends[None, :]
        sorties = np.where(crew, np.floor(np.where(crew, per_day, 0.0) * most + 1e-9), np.inf)
        down = (net.fleet_up < 1.0)[:, None] & ends[None, :]
        periods = net.fleet_up[:, None] * 24.0 * most / net.period_h
        in_use = np.where(down, np.floor(periods + 1e-9), np.inf)
        limited = bool(np.isfinite(sorties).any() or np.isfinite(in_use).any())
        each = np.floor(net.fleet_sorties_day + 1e-9)
        return cls(W, np.full(F, W, dtype=np.int64), sorties, in_use, limited, each)


def within_crews(
    b: Batch,
    t: int,
    rows: np.ndarray,
    fleet: np.ndarray,
    use: np.ndarray,
    key: np.ndarray,
    tails: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Entries (sorties of ``fleet`` taking ``use`` periods until ready) that fit their fleet's
    crew and maintenance allowances in every window that holds ``t``, in the order of ``key``;
    with ``tails`` ((aircraft, moves) of the entries), each aircraft's own crew too
    (:func:`aircraft_crews`)."""
    cr, ac = b.md.crews, b.air
    keep = np.ones(rows.size, dtype=bool)
    if not cr.limited or rows.size == 0:
        return keep
    if tails is not None:
        keep &= aircraft_crews(b, t, rows, tails[0], tails[1], use)
    T = b.md.T
    fl, j = np.unique(fleet, return_inverse=True)  # only the fleets of these sorties
    w = cr.w[fl]
    crew = np.floor(window_room(ac.crew_ring[:, :, fl], t, T, w, cr.sorties[fl]) + 1e-9)
    k = np.flatnonzero(keep)  # ranked among those whose own crews may fly
    keep[k] = rank(rows[k], fleet[k], key[k]) < crew[rows[k], j[k]]  # (R, fleets here)
    maint = np.floor(window_room(ac.use_ring[:, :, fl], t, T, w, cr.in_use[fl]) + 1e-9)
    k = np.flatnonzero(keep)
    if k.size:
        ahead = before(rows[k], fleet[k], key[k], use[k])
        keep[k] = ahead + use[k] <= maint[rows[k], j[k]]
    return keep


def aircraft_crews(
    b: Batch, t: int, rows: np.ndarray, cols: np.ndarray, m: np.ndarray, use: np.ndarray
) -> np.ndarray:
    """Whether each aircraft's crew may fly its sortie (move ``m``, ready again ``use``
    periods after leaving): at most its fleet's ``max_sorties_per_day`` departures (rounded
    down) in any ``W`` periods, as the plan holds each aircraft (:mod:`evacops.plan.tails`).
    Out of an airfield that limits time on the ground the aircraft always may (it cannot wait
    there for its crew); *to* one, only if its crew may also fly the way out again once ready.
    A sortie refused waits: the aircraft tries again next period."""
    md, ac = b.md, b.air
    W = ac.tail_ring.shape[0]
    most = md.tail_most[cols]
    ok = np.ones(rows.size, dtype=bool)
    net = md.net
    check = np.isfinite(most) & (md.ground_wait[md.ac_fleet[cols], net.move_from[m]] < 0)
    if not check.any():
        return ok
    k = np.arange(W)
    past = ac.tail_ring[(t - k[:, None]) % W, rows[None, check], cols[None, check]]  # (W, K)
    past = np.where((t - k >= 0)[:, None], past, 0)
    n = past.sum(axis=0) + 1
    back = md.ground_wait[md.ac_fleet[cols[check]], net.move_to[m[check]]] >= 0
    # the way out of a limited airfield, ready use periods on: departures after t + use - W
    recent = np.where(k[:, None] <= W - 1 - use[check][None, :], past, 0).sum(axis=0)
    n = np.where(back, np.maximum(n, recent + 2), n)
    ok[check] = n <= most[check]
    return ok


def allowance(crews: Crews, ac_fleet: np.ndarray, plan=None) -> np.ndarray:
    """(N,) the departures each aircraft may make in any 24 hours: its fleet's
    ``max_sorties_per_day`` rounded down (inf: none); following a ``plan``, at least the most
    the plan's own schedule gives it (a plan holds each aircraft to its crew, but not where
    that would leave an aircraft where there is no room for it, nor with ``--fleet-crews``:
    a replay of the plan flies it as planned)."""
    most = crews.per_aircraft[ac_fleet].astype(float)
    if plan is not None:
        from evacops.plan.crew_use import most_in_window

        for i in range(most.size):
            planned = plan.sched_dep[i, : plan.n_sched[i]]
            most[i] = max(most[i], most_in_window(planned, crews.W))
    return most


def count_sorties(
    b: Batch, t: int, rows: np.ndarray, fleet: np.ndarray, use: np.ndarray, cols: np.ndarray
) -> None:
    """Count sorties that took off against their fleet's crews and maintenance, and each
    aircraft's (``cols``) crew."""
    n = b.air.crew_ring.shape[0]
    np.add.at(b.air.crew_ring[t % n], (rows, fleet), 1)
    np.add.at(b.air.use_ring[t % n], (rows, fleet), use)
    b.air.tail_ring[t % b.air.tail_ring.shape[0], rows, cols] += 1
