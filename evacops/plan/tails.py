"""Which aircraft flies each sortie, and crews held aircraft by aircraft.

The model moves a fleet's aircraft as numbers at stations; the schedule names them. Sorties are
given aircraft fleet by fleet, in time order (:func:`take_aircraft`). A fleet's crew limit
(``max_sorties_per_day``) is a rate for the fleet as a whole in the model
(:mod:`evacops.plan.limits`), so the whole sorties may ask more of one aircraft than its crew
may fly. :func:`hold_crews` drops those sorties, aircraft by aircraft, until every aircraft of a
limited fleet departs at most ``floor(rate)`` times in any ``round(24 / period_h)`` consecutive
periods; the plan then re-flows its people on the sorties left
(:func:`evacops.plan.solve.plan_network`).

How a sortie is dropped without breaking the fleet's balance: an aircraft whose crew may not fly
a sortie stays where it is (one aircraft more there than the plan had: a *surplus*), and a
*ghost* of it flies on in its place. A ghost takes no seats: every sortie a ghost takes is
dropped too. A ghost takes the first sortie back to a station with a surplus (the pair out and
back is dropped, and the surplus aircraft is the plan's again), or any sortie that has too few
real aircraft ready (it is where the plan counted an aircraft that is not there); it vanishes
where it meets a surplus. So at every station and period the real aircraft ready are at least
the plan's less the ghosts there, and each sortie kept has a real aircraft. Where the earliest
ready leave first (an airfield with a limit on the ground), a ghost never goes before a real
aircraft that was ready sooner, so no real aircraft waits there longer than the plan's would.
An aircraft is never held at an airfield with a limit on the ground (``max_ground_h``: Kabul):
a sortie *to* such an airfield goes only with an aircraft whose crew may also fly the way out
of it, at the earliest moment it could leave. Sorties before a re-plan's moment were flown:
they are never dropped.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evacops.errors import InfeasibleError, SolverError
from evacops.network import Network
from evacops.plan.constraints import mog_rhs
from evacops.plan.highs import Solution


def take_aircraft(
    queue: list[tuple[int, int]],
    k: int,
    t: int,
    available: int,
    flown: dict[int, list[int]],
    day: int,
    fifo: bool = False,
    over: dict[int, bool] | None = None,
) -> list[int] | None:
    """The ``k`` aircraft of a fleet at one station (``queue``: (period ready, aircraft)) that
    fly a sortie leaving in period ``t``, taken out of the queue; None if fewer are ready. Of
    those ready by ``t``: first the aircraft numbered within the fleet's ``available`` count
    (aircraft become available in number order, as the simulator has them, so an aircraft that
    is not yet available never carries a sortie while one that is waits), then those whose crew
    may fly it (``over``: aircraft whose crew may not, :func:`crew_over`), then those with the
    fewest sorties in the last ``day`` periods (``flown``: each aircraft's departures), so that
    the fleet's crew limit falls on its aircraft as evenly as the sorties allow; then the lowest
    number. Any choice among the ready aircraft keeps the schedule feasible: the model conserves
    a fleet's aircraft station by station, not by number. Where the airfield limits time on the
    ground (``fifo``: its ``max_ground_h``) the earliest ready go first, before all that: the
    model's ``Station-ground`` rows hold for that order."""
    ready = [e for e in queue if e[0] <= t]
    if len(ready) < k:
        return None
    over = over or {}

    def key(entry: tuple[int, int]) -> tuple[int, bool, bool, int, int]:
        aid = entry[1]
        recent = _since(flown.get(aid, []), t - day)
        return (entry[0] if fifo else 0, aid >= available, over.get(aid, False), recent, aid)

    chosen = sorted(ready, key=key)[:k]
    for e in chosen:
        queue.remove(e)
    return [aid for _, aid in chosen]


def _since(periods: list[int], after: int) -> int:
    """How many of ``periods`` (ascending) are later than ``after``."""
    return len(periods) - bisect_right(periods, after)


def crew_over(prior: list[int], t: int, day: int, most: int, back_at: int | None) -> bool:
    """Whether an aircraft that departed in periods ``prior`` (ascending, all before ``t``)
    would fly more than ``most`` sorties in some ``day`` consecutive periods if it left in
    ``t``; with ``back_at`` (the first period it could leave an airfield that limits time on
    the ground, where it may not wait for its crew), counting the sortie out of there too."""
    n = _since(prior, t - day) + 1
    if back_at is not None:
        n = max(n, _since(prior, back_at - day) + 2)
    return n > most


@dataclass
class Tails:
    """Each sortie's aircraft: ``picks[(move, period)]`` the fleet's aircraft numbers (from 0)
    flying the sorties of that move leaving in that period; ``dropped`` (M, T) the sorties the
    crews could not fly (:func:`assign_tails` with ``hold``); ``stays`` each aircraft held
    where the plan had it leave, as (fleet, site, from, until, the drop that held it: (move,
    period)), so that parking and the aircraft held at home can be checked
    (:func:`hold_crews`)."""

    picks: dict[tuple[int, int], list[int]] = field(default_factory=dict)
    dropped: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=int))
    stays: list[tuple[int, int, int, int, tuple[int, int]]] = field(default_factory=list)


Drop = tuple[int, int]
"""A sortie dropped for its aircraft's crew: (move, period)."""


@dataclass
class _Fleet:
    """One fleet's aircraft while its sorties are given out (module docs)."""

    fleet: int
    ready: dict[int, list[tuple[int, int]]]  # site: (period ready, aircraft)
    stays: list[tuple[int, int, int, int, Drop]]  # (fleet, site, from, until, drop): see Tails
    ghosts: dict[int, list[int]] = field(default_factory=dict)  # site: periods a ghost is ready
    # site: (period held from, drop) of each real aircraft there beyond the plan's
    surplus: dict[int, list[tuple[int, Drop]]] = field(default_factory=dict)
    flown: dict[int, list[int]] = field(default_factory=dict)  # aircraft: departure periods

    def ghost_to(self, site: int, ready: int) -> None:
        """A ghost reaches ``site`` (ready in period ``ready``): it meets a surplus (held there
        until then) or waits."""
        held = self.surplus.get(site)
        if held:
            start, why = held.pop(0)
            self.stays.append((self.fleet, site, start, max(start, ready), why))
        else:
            self.ghosts.setdefault(site, []).append(ready)

    def hold_at(self, site: int, t: int, why: Drop) -> None:
        """An aircraft stays at ``site`` from ``t`` that the plan had leave (for the drop
        ``why``): it meets a ghost there (held until the ghost would be ready) or is a
        surplus."""
        if self.ghosts.get(site):  # the ghost ready first: the plan's aircraft here soonest
            ready = min(self.ghosts[site])
            self.ghosts[site].remove(ready)
            if ready > t:
                self.stays.append((self.fleet, site, t, ready, why))
        else:
            self.surplus.setdefault(site, []).append((t, why))

    def end(self, T: int) -> None:
        """The horizon's end: a surplus never met is held to it."""
        for site, held in self.surplus.items():
            self.stays.extend((self.fleet, site, start, T, why) for start, why in held)
        self.surplus.clear()

    def take_ghosts(self, site: int, t: int, k: int) -> int:
        """Up to ``k`` ghosts ready at ``site`` by ``t`` taken; how many."""
        g = self.ghosts.get(site, [])
        ready = sorted(r for r in g if r <= t)[:k]
        for r in ready:
            g.remove(r)
        return len(ready)


def assign_tails(
    net: Network,
    counts: np.ndarray,
    moment: int = 0,
    hold: bool = False,
    keep: frozenset[Drop] = frozenset(),
) -> Tails:
    """Give every sortie of ``counts`` (M, T whole sorties) an aircraft (:func:`take_aircraft`,
    its crew counted). With ``hold``, a sortie from ``moment`` on that no ready aircraft's crew
    may fly is dropped (module docs), and so are the sorties its ghost takes; not those in
    ``keep`` (their aircraft would be held where parking is full: :func:`hold_crews`)."""
    out = Tails(dropped=np.zeros(counts.shape, dtype=int))
    day = max(1, round(24 / net.period_h))
    for fi in range(len(net.fleets)):
        rate = float(net.fleet_sorties_day[fi])
        most = int(np.floor(rate + 1e-9)) if np.isfinite(rate) else None
        home = net.stations[net.fleet_home_station[fi]][1]
        ground = {s: net.station_wait[k] >= 0 for k, (f, s) in enumerate(net.stations) if f == fi}
        fl = _Fleet(fi, {home: [(0, i) for i in range(int(net.fleet_count[fi]))]}, stays=[])
        moves = np.flatnonzero(net.move_fleet == fi)
        events = sorted((int(t), int(m)) for m in moves for t in np.flatnonzero(counts[m] > 0))
        for t, m in events:
            may_drop = hold and t >= moment and (m, t) not in keep
            _give(net, fl, out, (t, m, int(counts[m, t])), most, day, may_drop, ground)
        fl.end(net.T)
        out.stays.extend(fl.stays)
    return out


def _give(
    net: Network,
    fl: _Fleet,
    out: Tails,
    sorties: tuple[int, int, int],
    most: int | None,
    day: int,
    may_drop: bool,
    ground_limit: dict[int, bool],
) -> None:
    """``sorties`` (period, move, how many): ghosts, then real aircraft (``ground_limit``: the
    fleet's sites that limit time on the ground)."""
    t, m, k = sorties
    origin, dest = int(net.move_from[m]), int(net.move_to[m])
    ready_at = t + int(net.move_ready[m])
    dropped = 0
    q = fl.ready.setdefault(origin, [])
    fifo_from = bool(net.station_wait[net.move_from_station[m]] >= 0)
    if may_drop and fl.surplus.get(dest):  # a ghost flies back to its surplus
        # where the earliest ready leave first, not before a real aircraft ready sooner
        by = min((e[0] for e in q), default=t) if fifo_from else t
        dropped = fl.take_ghosts(origin, min(t, by), min(k, len(fl.surplus[dest])))
    real = min(k - dropped, sum(1 for e in q if e[0] <= t))
    if real < k - dropped:  # the plan counted aircraft here that ghosts stand for
        forced = fl.take_ghosts(origin, t, k - dropped - real)
        if forced < k - dropped - real:
            raise AssertionError(
                f"no ready aircraft of {net.fleets[net.move_fleet[m]]} at {net.sites[origin]} "
                f"in period {t}"
            )  # a bug: the model conserves aircraft
        dropped += forced
    over: dict[int, bool] = {}
    if most is not None:
        back_at = ready_at if ground_limit.get(dest, False) else None
        over = {aid: crew_over(fl.flown.get(aid, []), t, day, most, back_at) for _, aid in q}
    avail = int(net.fleet_avail[net.move_fleet[m], t])
    picked = take_aircraft(q, real, t, avail, fl.flown, day, fifo_from, over) or []
    keep: list[int] = []
    for aid in picked:
        if may_drop and not fifo_from and over.get(aid, False):
            q.append((t, aid))  # its crew rests here
            fl.hold_at(origin, t, (m, t))
            dropped += 1
        else:
            keep.append(aid)
    for _ in range(dropped):
        fl.ghost_to(dest, ready_at)
    for aid in keep:
        fl.ready.setdefault(dest, []).append((ready_at, aid))
        fl.flown.setdefault(aid, []).append(t)
    out.picks[(m, t)] = keep
    out.dropped[m, t] += dropped


def hold_crews(
    net: Network, counts: np.ndarray, moment: int = 0
) -> tuple[np.ndarray, frozenset[Drop]]:
    """Whole sorties (M, T) within ``counts`` that every aircraft's crew may fly
    (:func:`assign_tails` with ``hold``, round after round until it drops nothing: a drop can
    change which aircraft later sorties get, so each round checks the rule on what is left;
    each drops at least one sortie or is the last, so the rounds end).

    An aircraft held where it is may break a limit the plan kept: it takes a parking place the
    plan did not count (``Airfield-mog``, every fleet counted), or it is away from home when the
    plan had it there to be withdrawn (``Station-availability``: a fleet's aircraft cut by an
    event wait at home). Where a round's sorties would do either, the round is done again
    without the drops that held aircraft there and then: those aircraft fly beyond their crew
    (:func:`evacops.plan.crew_use.crew_use` counts them). Returns the sorties and the drops
    the last round did not make so (``assign_tails(..., hold=True, keep=...)`` with them drops
    nothing more)."""
    y = np.asarray(counts, dtype=int).copy()
    keep: frozenset[Drop] = frozenset()
    while True:
        tails = assign_tails(net, y, moment, hold=True, keep=keep)
        if not tails.dropped.any():
            return y, keep
        blame = _blame(net, y - tails.dropped, tails.stays)
        if blame - keep:
            keep = keep | blame
            continue
        y, keep = y - tails.dropped, frozenset()


def _blame(net: Network, sorties: np.ndarray, stays: list) -> set[Drop]:
    """The drops whose held aircraft break parking or the aircraft held at home under whole
    ``sorties`` (:func:`hold_crews`)."""
    full = parking_over(net, sorties)
    home_idle = station_idle(net, sorties)[net.fleet_home_station]  # (F, T)
    short = home_idle < net.fleet_count[:, None] - net.fleet_avail - 1e-9
    home = [net.stations[k][1] for k in net.fleet_home_station]
    return {
        why
        for fleet, site, a, b, why in stays
        if full[site, a:b].any() or (site != home[fleet] and short[fleet, a:b].any())
    }


def station_idle(net: Network, sorties: np.ndarray) -> np.ndarray:
    """(K, T) aircraft idle at each station at the end of each period under whole ``sorties``
    (M, T), as the model's station balance counts them: supplied at home, less departures, plus
    aircraft ready again there."""
    K, T = len(net.stations), net.T
    change = np.zeros((K, T))
    change[net.fleet_home_station, 0] += net.fleet_count
    for m in range(len(net.move_fleet)):
        change[net.move_from_station[m]] -= sorties[m]
        r = int(net.move_ready[m])
        if r < T:
            change[net.move_to_station[m], r:] += sorties[m, : T - r]
    return np.cumsum(change, axis=1)


def on_ground(net: Network, sorties: np.ndarray) -> np.ndarray:
    """(S, T) aircraft on each airfield's ground at the end of each period under whole
    ``sorties`` (M, T), as the ``Airfield-mog`` rows count them: idle there, or in their ground
    time after landing."""
    S, T = len(net.sites), net.T
    ground = np.zeros((S, T))
    idle = station_idle(net, sorties)
    np.add.at(ground, np.array([s for _, s in net.stations], dtype=int), idle)
    for m in range(len(net.move_fleet)):
        for k in range(int(net.move_land[m]), min(int(net.move_ready[m]), T)):
            ground[int(net.move_to[m]), k:] += sorties[m, : T - k]
    return ground


def parking_over(net: Network, sorties: np.ndarray) -> np.ndarray:
    """(S, T) where whole ``sorties`` (M, T) put more aircraft on an airfield's ground than its
    ``Airfield-mog`` row allows (:func:`on_ground`)."""
    return on_ground(net, sorties) > mog_rhs(net) + 1e-6


def _out_by_deadline(net: Network, sol: Solution) -> float:
    """People off the evacuation airport by the deadline in ``sol``."""
    return float(sol.flow[:, net.out_arcs, : net.deadline_period].sum())


def held_crews(
    net: Network, final: Solution, moment: int, resolve: Callable[[np.ndarray], Solution]
) -> tuple[Solution, dict[str, Any] | None]:
    """``final``'s whole sorties with every aircraft held to its crew (:func:`hold_crews`), the
    people re-flowed on them by ``resolve`` (sorties, M x T, to a solution); and what that
    cost: ``sorties_dropped``, ``out_by_deadline_lost`` (people), ``sorties_over_crew``
    (sorties left to an aircraft beyond its crew: :func:`hold_crews`). None if no fleet has a
    crew limit. If the people cannot be re-flowed on the sorties left (they broke a limit of the
    model that :func:`hold_crews` does not check; none known), ``final`` stands and ``kept`` is
    False with the reason."""
    if not np.isfinite(net.fleet_sorties_day).any():
        return final, None
    y0 = np.round(final.sorties).astype(int)
    y, over = hold_crews(net, y0, moment)
    dropped = int((y0 - y).sum())
    note: dict[str, Any] = {
        "sorties_dropped": dropped,
        "out_by_deadline_lost": 0,
        "kept": True,
        "sorties_over_crew": len(over),
    }
    if dropped == 0:
        return final, note
    try:
        held = resolve(y.astype(float))
    except (InfeasibleError, SolverError) as e:
        return final, {
            **note,
            "sorties_dropped": 0,
            "sorties_over_crew": 0,
            "kept": False,
            "reason": str(e),
        }
    held.build_s, held.solve_s = final.build_s, final.solve_s + held.solve_s  # (both steps')
    held.mip_gap = final.mip_gap  # (a MIP's gap: of its own schedule, before the hold)
    lost = _out_by_deadline(net, final) - _out_by_deadline(net, held)
    note["out_by_deadline_lost"] = round(lost)
    return held, note


def held_or_own(
    net: Network,
    schedules: tuple[Solution, Solution | None],
    moment: int,
    resolve: Callable[..., Solution],
    repair: dict[str, Any] | None,
) -> tuple[Solution, dict[str, Any] | None]:
    """The plan's whole sorties (``schedules``: the chosen, and a re-plan's plan's own if not
    chosen) with every aircraft held to its crew (:func:`held_crews`; ``resolve(y, warm)``
    re-flows the people). Where holding dropped sorties of the chosen, or left an aircraft
    beyond its crew, the plan's own are held too and the better kept (``repair`` notes it):
    first the one with no aircraft beyond its crew, then the lower objective. Holding can cost
    the repair's schedule more than the plan's, and a re-plan is never worse than going on with
    its plan."""
    final, plan_own = schedules
    held, crews = held_crews(net, final, moment, resolve)
    if plan_own is None or not crews or not (crews["sorties_dropped"] or _over(crews)):
        return held, crews
    own, own_crews = held_crews(net, plan_own, moment, lambda y: resolve(y, True))
    tol = 1e-9 * max(1.0, abs(held.objective))
    if (_over(own_crews), own.objective + tol) < (_over(crews), held.objective):
        if repair is not None:
            repair["plan_sorties"] = "kept: better than the repair's, each held to the crews"
        return own, own_crews
    return held, crews


def _over(crews: dict[str, Any] | None) -> bool:
    """Whether a held schedule leaves any aircraft beyond its crew (or could not be held)."""
    return crews is not None and (not crews["kept"] or crews["sorties_over_crew"] > 0)
