"""The planner's constraint families: one free function each, over all components and periods.

Each ``define_*`` adds one family, named ``Component-attr`` like the variables
(:mod:`evacops.plan.variables`), to a linopy model; rows are gathered with numpy
(:mod:`evacops.plan.rows`). People: balance, holding limits, processing rates, ground leg
capacity, seats. Aircraft: balance, availability, slots, MOG. The repair model
(:func:`evacops.plan.assemble.assemble_repair`) adds the seat cover instead of the people
families.
"""

from __future__ import annotations

import linopy
import numpy as np

from evacops.network import Network
from evacops.network.keys import padded
from evacops.network.limits import hour_peak
from evacops.plan.rows import Part, add_rows, coords, data_array, gather, per_period, window
from evacops.plan.variables import AircraftVars, PeopleVars


def _by(keys: np.ndarray, n: int) -> np.ndarray:
    """For each of ``n`` entities, the positions of ``keys`` equal to it, padded with -1."""
    return padded([list(np.flatnonzero(keys == k)) for k in range(n)])


# ---- people --------------------------------------------------------------------------------------


def define_people_balance(m: linopy.Model, net: Network, people: PeopleVars) -> None:
    """hold[t] - hold[t-1] - arrivals[t] + departures[t] = appearing[t], per cohort and site."""
    S = len(net.sites)
    ins, outs = _by(net.arc_to, S), _by(net.arc_from, S)
    in_lag = np.where(ins >= 0, net.arc_delay[np.maximum(ins, 0)], 0)
    me = np.arange(S)[:, None]
    parts = [
        (gather(people.hold, me, np.zeros_like(me)), 1.0),
        (gather(people.hold, me, np.ones_like(me)), -1.0),
        (gather(people.flow, ins, in_lag), -1.0),
        (gather(people.flow, outs, np.zeros_like(outs)), 1.0),
    ]
    # a site a cohort may not be at has no hold variable: its rows must still hold 0 = 0
    mask = people.hold >= 0
    dims = ["cohort", "site", "period"]
    add_rows(m, net, "Site-balance", parts, dims, "=", net.appear, mask)


def define_holding_limits(m: linopy.Model, net: Network, people: PeopleVars) -> None:
    """Sum over cohorts of people waiting at a site <= its holding capacity, every period."""
    lab = np.moveaxis(people.hold, 0, -1)  # (S, T, C)
    add_rows(m, net, "Site-holding", [(lab, 1.0)], ["site", "period"], "<=", net.cap)


def define_processing_rates(m: linopy.Model, net: Network, people: PeopleVars) -> None:
    """People processed at a site in a period <= its processing rate (screening,
    out-processing). At a gate that is the people who leave it in the period. At a pooled site
    (:attr:`Network.pooled`: the evacuation airport's airside, staging bases) processing goes on
    while people wait: ``Site-pool[s, t]`` people processed and not yet gone, so the rows are
    ``left[t] + pool[t] - pool[t-1] <= rate`` and ``pool[t] <= people there at the end of t``
    (``Site-pool``): an aircraft can take a whole sortie processed over several periods."""
    S = len(net.sites)
    outs = _by(net.arc_from, S)
    g = gather(people.flow, outs, np.zeros_like(outs))  # (C, S, T, K)
    lab = np.moveaxis(g, 0, -1).reshape(S, net.T, -1)
    rhs = per_period(net, net.rate)
    dims = ["site", "period"]
    parts: list[Part] = [(lab, 1.0)]
    pooled = np.broadcast_to(net.pooled[:, None], (S, net.T))
    if pooled.any():
        pool = m.add_variables(
            lower=0,
            name="Site-pool",
            coords=[coords(net)[d] for d in dims],
            dims=dims,
            mask=data_array(net, pooled, dims),
        ).labels.values
        me = np.arange(S)[:, None]
        now, before = gather(pool, me, np.zeros_like(me)), gather(pool, me, np.ones_like(me))
        parts += [(now, 1.0), (before, -1.0)]
        hold = np.moveaxis(people.hold, 0, -1)  # (S, T, C)
        zero = np.zeros((S, net.T))
        add_rows(m, net, "Site-pool", [(now, 1.0), (hold, -1.0)], dims, "<=", zero, pooled)
    add_rows(m, net, "Site-processing", parts, dims, "<=", rhs)


def define_ground_capacity(m: linopy.Model, net: Network, people: PeopleVars) -> None:
    """People setting off on a ground leg in a period <= its capacity."""
    lab = np.moveaxis(people.flow, 0, -1)  # (A, T, C)
    rhs = per_period(net, net.arc_cap)
    add_rows(m, net, "Arc-capacity", [(lab, 1.0)], ["arc", "period"], "<=", rhs)


def _arc_sorties(net: Network, aircraft: AircraftVars) -> tuple[np.ndarray, np.ndarray]:
    """(sortie labels (A, T, 1) of each air arc's move, -1 for ground arcs; seats per sortie
    (A, 1, 1): the planning load, or the max load on a surge leg)."""
    air = net.arc_move >= 0
    mv = np.where(air, net.arc_move, 0)
    sl = np.where(air[:, None], aircraft.sortie[mv], -1)[..., None]
    load = net.arc_load[:, None, None]
    return sl, load


def define_seat_capacity(
    m: linopy.Model, net: Network, people: PeopleVars, aircraft: AircraftVars
) -> None:
    """People on a fleet's sorties on an air leg <= seats (planning load, or max load on a
    ``surge_load`` leg) x sorties."""
    air = net.arc_move >= 0
    lab = np.moveaxis(people.flow, 0, -1)  # (A, T, C)
    sl, load = _arc_sorties(net, aircraft)
    rhs = np.where(air[:, None], 0.0, np.inf) * np.ones((1, net.T))
    add_rows(m, net, "Arc-seats", [(lab, 1.0), (sl, -load)], ["arc", "period"], "<=", rhs)


# ---- aircraft ------------------------------------------------------------------------------------


def define_aircraft_balance(m: linopy.Model, net: Network, aircraft: AircraftVars) -> None:
    """idle[t] - idle[t-1] + departures[t] - ready arrivals[t] = aircraft supplied[t]."""
    K = len(net.stations)
    ins, outs = _by(net.move_to_station, K), _by(net.move_from_station, K)
    in_lag = np.where(ins >= 0, net.move_ready[np.maximum(ins, 0)], 0)
    me = np.arange(K)[:, None]
    parts = [
        (gather(aircraft.idle, me, np.zeros_like(me)), 1.0),
        (gather(aircraft.idle, me, np.ones_like(me)), -1.0),
        (gather(aircraft.sortie, outs, np.zeros_like(outs)), 1.0),
        (gather(aircraft.sortie, ins, in_lag), -1.0),
    ]
    supply = np.zeros((K, net.T))
    supply[net.fleet_home_station, 0] = net.fleet_count
    add_rows(m, net, "Station-balance", parts, ["station", "period"], "=", supply)


def define_fleet_availability(m: linopy.Model, net: Network, aircraft: AircraftVars) -> None:
    """Aircraft idle at home >= aircraft that exist - aircraft available, every period."""
    K = len(net.stations)
    need = np.full((K, net.T), -np.inf)
    short = net.fleet_count[:, None] - net.fleet_avail  # (F, T)
    need[net.fleet_home_station] = np.where(short > 0, short, -np.inf)
    lab = aircraft.idle[:, :, None]
    add_rows(m, net, "Station-availability", [(lab, 1.0)], ["station", "period"], ">=", need)


def define_ground_limit(m: linopy.Model, net: Network, aircraft: AircraftVars) -> None:
    """At an airfield with ``max_ground_h``: aircraft idle at a station at the end of a period
    <= aircraft that became ready there within its last ``W`` periods (``station_wait``, the
    limit less the ground time). With the earliest ready leaving first (the per-aircraft
    schedule's rule there, :func:`evacops.plan.result.take_aircraft`), the aircraft left are
    the latest ready, so none waits more than ``W`` periods once ready."""
    K, w = len(net.stations), net.station_wait
    if not (w >= 0).any():
        return
    ins = _by(net.move_to_station, K)
    lag0 = np.where(ins >= 0, net.move_ready[np.maximum(ins, 0)], 0)
    span = max(1, int(w.max()))
    idx, lag = window(ins, lag0, span)
    step = np.tile(np.arange(span), ins.shape[1])[None, :]
    idx = np.where(step < w[:, None], idx, -1)  # a station's own W terms per inbound move
    parts = [(aircraft.idle[:, :, None], 1.0), (gather(aircraft.sortie, idx, lag), -1.0)]
    rhs = np.where(w >= 0, 0.0, np.inf)[:, None] * np.ones((1, net.T))
    if net.ground_exempt is not None:  # a re-plan's aircraft on the ground at its moment
        rhs = rhs + net.ground_exempt
    add_rows(m, net, "Station-ground", parts, ["station", "period"], "<=", rhs)


def _runway_terms(net: Network, deps: bool, arrs: bool) -> tuple[np.ndarray, np.ndarray]:
    """(moves, lags) padded per site: departures from it (lag 0) and/or landings at it (lag:
    the move's landing time)."""
    S = len(net.sites)
    groups: list[tuple[np.ndarray, np.ndarray]] = []
    if deps:
        b = _by(net.move_from, S)
        groups.append((b, np.zeros_like(b)))
    if arrs:
        b = _by(net.move_to, S)
        groups.append((b, np.where(b >= 0, net.move_land[np.maximum(b, 0)], 0)))
    return np.concatenate([g[0] for g in groups], 1), np.concatenate([g[1] for g in groups], 1)


def _window_rows(
    m: linopy.Model,
    net: Network,
    name: str,
    sortie: np.ndarray,
    terms_: tuple[np.ndarray, np.ndarray],
    w: np.ndarray,
    rhs: np.ndarray,
) -> None:
    """Sorties (moves, lags) per site within the window of ``w[site]`` periods ending in each
    period <= ``rhs`` (site, period)."""
    base, lag0 = terms_
    W = int(w.max())
    idx, lag = window(base, lag0, W)
    offset = np.tile(np.arange(W), base.shape[1])[None, :]
    idx = np.where(offset < w[:, None], idx, -1)  # each site its own window
    add_rows(m, net, name, [(gather(sortie, idx, lag), 1.0)], ["site", "period"], "<=", rhs)


def define_slots(m: linopy.Model, net: Network, aircraft: AircraftVars) -> None:
    """Departures, arrivals and runway movements (both) at an airfield within any slot window
    <= what its rates allow over the window (see :meth:`Network.rate_windows`; rates may change
    over time), and within any one hour <= the rate rounded up (``*-hour`` families)."""
    for name, per_h, deps, arrs in (
        ("Airfield-departures", net.dep_rate, True, False),
        ("Airfield-arrivals", net.arr_rate, False, True),
        ("Airfield-movements", net.mov_rate, True, True),
    ):
        if not np.isfinite(per_h).any():
            continue
        terms_ = _runway_terms(net, deps, arrs)
        w, most = net.rate_windows(per_h)
        _window_rows(m, net, name, aircraft.sortie, terms_, w, most)
        hp, peak = hour_peak(net.period_h, per_h, w)
        if np.isfinite(peak).any():
            _window_rows(m, net, f"{name}-hour", aircraft.sortie, terms_, hp, peak)


def _on_ground(net: Network) -> tuple[np.ndarray, np.ndarray]:
    """(moves, lags) padded per site: a move landed there ``lag`` periods ago and still in its
    ground time (from landing until ready)."""
    groups_i: list[list[int]] = []
    groups_l: list[list[int]] = []
    for s in range(len(net.sites)):
        ii, ll = [], []
        for mv in np.flatnonzero(net.move_to == s):
            for k in range(net.move_land[mv], net.move_ready[mv]):
                ii.append(int(mv))
                ll.append(k)
        groups_i.append(ii)
        groups_l.append(ll)
    return padded(groups_i), padded(groups_l, 0)


def _fleets_at(net: Network) -> list[set[int]]:
    """Per site, the fleets that have a station there or fly there."""
    fleets_at: list[set[int]] = [set() for _ in net.sites]
    for f, s in net.stations:
        fleets_at[s].add(f)
    for f, s in zip(net.move_fleet, net.move_to, strict=True):
        fleets_at[int(s)].add(int(f))
    return fleets_at


def most_on_ground(net: Network) -> np.ndarray:
    """(S,) the most aircraft that could ever be on an airfield's ground: every aircraft of the
    fleets that have a station there or fly there. Aircraft are conserved, so no schedule puts
    more there."""
    return np.array([float(sum(net.fleet_count[f] for f in fl)) for fl in _fleets_at(net)])


def mog_rhs(net: Network) -> np.ndarray:
    """(S, T) the ``Airfield-mog`` right-hand sides: the MOG, plus the aircraft not yet (or no
    longer) available, which are held idle at home but are not on its ground."""
    st_site = np.array([s for _, s in net.stations])
    away = np.zeros((len(net.sites), net.T))
    home_site = st_site[net.fleet_home_station]
    np.add.at(away, home_site, np.maximum(net.fleet_count[:, None] - net.fleet_avail, 0.0))
    return per_period(net, net.mog) + away


SPARE = 1.0
"""Places a left-out MOG row keeps free beyond every aircraft that could come: one more aircraft
of any fleet (the bottleneck report's lever, and its check by re-solving the same model) still
cannot fill it."""


def _spare(net: Network) -> np.ndarray:
    """(S, T) places at each airfield beyond every aircraft that could come."""
    return mog_rhs(net) - most_on_ground(net)[:, None]


def mog_left_out(net: Network) -> np.ndarray:
    """(S, T) the ``Airfield-mog`` rows the plan model leaves out: where every aircraft that
    could come (:func:`most_on_ground`) leaves :data:`SPARE` places free, so the row could never
    bind, nor with one more aircraft (:func:`mog_room` caps that lever's range beyond). At
    Kabul 18 of 25 airfields, 6,576 of 10,200 rows at 1-hour periods."""
    return _spare(net) >= SPARE


def mog_room(net: Network, fleet: int) -> float:
    """How many more aircraft of ``fleet`` leave every MOG row the plan model left out unable to
    bind (inf if it reaches none): the estimate of the "aircraft" lever is exact no farther,
    as the basis cannot see rows that are not in the model."""
    sites = [s for s, fl in enumerate(_fleets_at(net)) if fleet in fl]
    spare = _spare(net)[sites]
    return float(spare[spare >= SPARE].min(initial=np.inf))


def define_mog(m: linopy.Model, net: Network, aircraft: AircraftVars, reduce: bool = True) -> None:
    """Aircraft on the ground at an airfield (idle, or in their ground time) <= its MOG; with
    ``reduce``, without the rows that could never bind (:func:`mog_left_out`)."""
    S = len(net.sites)
    st_site = np.array([s for _, s in net.stations])
    idle_idx = _by(st_site, S)
    gi, gl = _on_ground(net)
    parts = [
        (gather(aircraft.idle, idle_idx, np.zeros_like(idle_idx)), 1.0),
        (gather(aircraft.sortie, gi, gl), 1.0),
    ]
    keep = ~mog_left_out(net) if reduce else None
    add_rows(m, net, "Airfield-mog", parts, ["site", "period"], "<=", mog_rhs(net), mask=keep)


# ---- repair --------------------------------------------------------------------------------------


def define_seat_cover(
    m: linopy.Model,
    net: Network,
    aircraft: AircraftVars,
    backlog: np.ndarray,
    seat_demand: np.ndarray,
) -> None:
    """Repair model: a backlog of people on each air arc that whole sorties must work off.

    backlog[t] >= backlog[t-1] + people the LP put on the arc in t - load x sorties[t]
    (seats not used in a period are lost, never carried forward).
    """
    air = net.arc_move >= 0
    sl, load = _arc_sorties(net, aircraft)
    prev = np.concatenate([np.full((backlog.shape[0], 1), -1), backlog[:, :-1]], axis=1)
    demand = np.where(air[:, None], seat_demand, 0.0)
    add_rows(
        m,
        net,
        "Arc-seat-cover",
        [(backlog[..., None], 1.0), (prev[..., None], -1.0), (sl, load)],
        ["arc", "period"],
        ">=",
        np.where(backlog >= 0, demand, -np.inf),
        mask=backlog >= 0,
    )
