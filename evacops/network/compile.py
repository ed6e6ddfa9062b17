"""Compile a scenario into the arrays of a time-expanded network.

Nothing here builds an optimisation model: :class:`Network` is plain numpy, indexed by period,
site, cohort, arc (a way people move: a ground leg, or an air leg flown by one fleet) and move (a
way aircraft move: a fleet flying an air leg outbound, with people, or back, empty). The linopy
model (:mod:`evacops.plan.assemble`) and the simulator read the same arrays.

Rounding to periods (period length Δ):
- a ground leg takes ``round(travel_time_h / Δ)`` periods (0 means people arrive in the period
  they leave);
- a sortie lands ``ceil(block_time_h / Δ)`` periods after it leaves and is ready to leave again
  ``ceil((block_time_h + ground_time_h) / Δ)`` periods after it left, so the two roundings are not
  added twice;
- a closure blocks every period it overlaps (one to the horizon's end, the periods after it
  too); a site that opens at time x is closed before it;
- an airfield's ``max_ground_h`` lets an aircraft wait once ready ``floor((max_ground_h -
  ground_time_h) / Δ)`` periods (:func:`~evacops.network.limits.station_waits`).

:func:`compile_network` puts together one function per component: sites (:func:`site_capacity`,
:func:`site_openness`, :func:`site_rates`; :mod:`evacops.network.limits` for rates that change
over time, stays and ground limits), cohorts (:func:`cohort_appearance`), fleets and their moves
(:func:`fleet_availability`, :func:`fleet_moves`), people arcs (:func:`people_arcs`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from evacops.network.keys import air_arc_name, move_name, station_name
from evacops.network.limits import airfield_rates, site_stays, station_waits, window_hours
from evacops.scenario import Scenario, Timeline, allowed_sites, cohort_may_fly

INF = np.inf


@dataclass
class Network:
    scenario: Scenario
    timeline: Timeline
    sites: list[str]
    site_kind: np.ndarray  # (S,) str
    evac: int  # index of the evacuation airport
    cap: np.ndarray  # (S, T) holding capacity, inf = unlimited
    crowd_area: np.ndarray  # (S,) m2 where a gate's crowd stands, nan elsewhere
    rate: np.ndarray  # (S,) people per period who may leave, inf = unlimited
    open_: np.ndarray  # (S, T) bool
    cohorts: list[str]
    priority: np.ndarray  # (C,)
    appear: np.ndarray  # (C, S, T) people appearing
    # people arcs
    arc_name: list[str]
    arc_kind: np.ndarray  # (A,) "ground" | "air"
    arc_leg: list[str]
    arc_from: np.ndarray  # (A,) site index
    arc_to: np.ndarray
    arc_delay: np.ndarray  # (A,) periods
    arc_cap: np.ndarray  # (A,) per period (ground), inf otherwise
    arc_move: np.ndarray  # (A,) move index for air arcs, -1 for ground
    arc_allowed: np.ndarray  # (C, A) bool
    arc_open: np.ndarray  # (A, T) bool: may people depart on it in period t
    # aircraft
    fleets: list[str]
    fleet_type: list[str]
    fleet_load: np.ndarray  # (F,) planning load
    fleet_count: np.ndarray  # (F,) aircraft that exist
    fleet_avail: np.ndarray  # (F, T) aircraft available to fly
    fleet_home_station: np.ndarray  # (F,)
    stations: list[tuple[int, int]]  # (fleet, site)
    move_fleet: np.ndarray  # (M,)
    move_leg: list[str]
    move_forward: np.ndarray  # (M,) bool: outbound with people
    move_from: np.ndarray  # (M,) site
    move_to: np.ndarray
    move_from_station: np.ndarray  # (M,)
    move_to_station: np.ndarray
    move_land: np.ndarray  # (M,) periods after departure it lands
    move_ready: np.ndarray  # (M,) periods after departure it may leave again (>= land)
    move_open: np.ndarray  # (M, T) bool: may depart in period t
    dep_slots: np.ndarray  # (S,) per rolling hour (inf = unlimited), the airfield's own rate
    arr_slots: np.ndarray
    mog: np.ndarray  # (S,)
    # limits of issue 11 (the planner's; the simulator reads the rates above)
    dep_rate: np.ndarray  # (S, T) departure slots per hour in each period, after slot changes
    arr_rate: np.ndarray  # (S, T) arrival slots per hour
    mov_rate: np.ndarray  # (S, T) runway movements (arrivals + departures) per hour
    max_stay: np.ndarray  # (S,) periods a person may stay at most, 0 = no limit
    min_dwell: np.ndarray  # (S,) periods a person stays at least, 0 = none
    arc_load: np.ndarray  # (A,) seats per sortie on an air arc (max_load on surge legs), 0 ground
    fleet_sorties_day: np.ndarray  # (F,) sorties per aircraft in any 24 h, inf = no limit
    fleet_up: np.ndarray  # (F,) share of available aircraft that may be in use (maintenance)
    station_wait: np.ndarray  # (K,) periods an aircraft may wait there once ready, -1 = any
    # a re-plan's people present at a site with a stay limit (or on their way to it) at its
    # moment, by the period they appear: they may stay to the end (evacops.plan.replan)
    stay_exempt: np.ndarray | None = None  # (S, T) cumulative, None: nobody
    # and its aircraft on the ground at the moment at a station with a ground limit: added to
    # that limit from the moment on (no row before it), None: none
    ground_exempt: np.ndarray | None = None  # (K, T)

    @property
    def T(self) -> int:
        return self.timeline.n

    @property
    def period_h(self) -> float:
        return self.timeline.period_h

    @property
    def danger(self) -> np.ndarray:
        """Sites inside the danger zone: assembly points, gates and the evacuation airport."""
        d = np.isin(self.site_kind, ["assembly", "gate"])
        d[self.evac] = True
        return d

    @property
    def pooled(self) -> np.ndarray:
        """(S,) sites whose processing goes on while people wait (the evacuation airport's
        airside and the staging bases, with a processing rate): people processed in earlier
        periods and still there may leave together, so a whole sortie can board at once. At
        gates and assembly points the rate is what passes in each period."""
        return np.isin(self.site_kind, ["airport", "staging"]) & np.isfinite(self.rate)

    @property
    def out_arcs(self) -> np.ndarray:
        """Arcs whose use takes people out of the danger zone."""
        return self.arc_from == self.evac

    @property
    def dest_sites(self) -> np.ndarray:
        return self.site_kind == "destination"

    @property
    def deadline_period(self) -> int:
        """The first period after the scenario's deadline (``T`` without one): people out before
        it count as out by the deadline."""
        dl = self.scenario.deadline
        return self.T if dl is None else int(min(self.T, max(0, self.timeline.period_ceil(dl))))

    @property
    def move_names(self) -> list[str]:
        """Each move's name (``leg@fleet``, ``leg~back@fleet``), as in tables and the model."""
        return [
            move_name(leg, bool(fwd), self.fleets[f])
            for leg, fwd, f in zip(self.move_leg, self.move_forward, self.move_fleet, strict=True)
        ]

    @property
    def station_names(self) -> list[str]:
        """Each station's name (``fleet@site``)."""
        return [station_name(self.fleets[f], self.sites[s]) for f, s in self.stations]

    @cached_property
    def axes(self) -> dict[str, list | np.ndarray]:
        """The labels of each axis by its name (cohort, site, arc, move, station, period), as in
        tables and models; computed once, so every array of a model shares the same ones."""
        return {
            "cohort": self.cohorts,
            "site": self.sites,
            "arc": self.arc_name,
            "move": self.move_names,
            "station": self.station_names,
            "fleet": self.fleets,
            "period": np.arange(self.T),
        }

    def rate_windows(self, per_h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(periods in the window (S,), movements allowed in the window ending in each period
        (S, T)) of a rate per hour that may change over time (``dep_rate``...).

        The window is the shortest of :data:`~evacops.network.limits.SLOT_WINDOWS_H` in which
        every rate the site ever has allows a whole number of movements (within 0.05), as in
        :meth:`slot_windows`; the allowance of a window is the sum of its periods' rates x
        period length.
        """
        S, T = per_h.shape
        w = np.ones(S, dtype=int)
        rhs = np.full((S, T), INF)
        dt = self.period_h
        hours = window_hours(dt)
        for s in range(S):
            rates = np.unique(per_h[s][np.isfinite(per_h[s])])
            if rates.size == 0:
                continue
            pick = next(
                (h for h in hours if all(abs(r * h - round(r * h)) <= 0.05 for r in rates)),
                hours[-1],
            )
            w[s] = max(1, round(pick / dt))
            per = np.where(np.isfinite(per_h[s]), per_h[s] * dt, 1e9)  # inf: no limit then
            c = np.concatenate([[0.0], np.cumsum(per)])
            total = c[1:] - c[np.maximum(np.arange(1, T + 1) - w[s], 0)]
            rhs[s] = np.where(total >= 1e9, INF, total)
        return w, rhs

    def slot_windows(self, per_h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(periods in the window, movements allowed in it) of each site's slot limit.

        A rate of slots per hour is enforced over the shortest window (1, 2, 3, 4, 6, 8, 12 or
        24 h, a whole number of periods) in which it allows a whole number of movements: 3.75/h
        ("about 90 a day") becomes 15 in any 4 hours, not 3 in every hour, so whole sorties can
        use the rate the LP uses.
        """
        S = len(per_h)
        w = np.ones(S, dtype=int)
        rhs = np.full(S, INF)
        dt = self.period_h
        hours = window_hours(dt)
        for s in range(S):
            r = float(per_h[s])
            if not np.isfinite(r):
                continue
            pick = next((h for h in hours if abs(r * h - round(r * h)) <= 0.05), hours[-1])
            w[s] = max(1, round(pick / dt))
            rhs[s] = r * pick
        return w, rhs


# ---- compiling, one component at a time -------------------------------------------------------


def _blocked(tl: Timeline, start, end, n: int) -> tuple[int, int]:
    a, b = max(0, tl.period_of(start)), tl.period_ceil(end)
    return a, n if b >= tl.n else b


def _extended_periods(sc: Scenario, tl: Timeline) -> int:
    """Periods over which openness is computed: past the horizon by the longest leg, for people
    and aircraft arriving after it."""
    longest = max(
        [tl.periods(lg.travel_time_h or 0.0) for lg in sc.legs if lg.kind == "ground"]
        + [
            tl.periods(v)
            for lg in sc.legs
            if lg.kind == "air"
            for v in (
                lg.block_time_h.values()
                if isinstance(lg.block_time_h, dict)
                else [lg.block_time_h or 0.0]
            )
        ]
        + [0]
    )
    return tl.n + longest + 1


def site_capacity(sc: Scenario, tl: Timeline) -> tuple[np.ndarray, np.ndarray]:
    """(holding capacity (S, T), crowd area (S,)) of each site: its capacity, changes and events
    in turn; a gate holds no more than its crowd area at the safe density, whatever is said."""
    sidx = {s.name: i for i, s in enumerate(sc.sites)}
    cap = np.full((len(sc.sites), tl.n), INF)
    for i, s in enumerate(sc.sites):
        if s.holding_capacity is not None:
            cap[i, :] = s.holding_capacity
        for ch in s.capacity_changes:
            cap[i, max(0, tl.period_ceil(ch.at)) :] = ch.holding_capacity
    for e in sc.events:
        if e.kind == "capacity":
            assert e.site is not None and e.at is not None  # the model's validator saw to it
            cap[sidx[e.site], max(0, tl.period_ceil(e.at)) :] = e.holding_capacity
    crowd_area = np.array(
        [np.nan if s.crowd_area_m2 is None else s.crowd_area_m2 for s in sc.sites]
    )
    has_area = np.isfinite(crowd_area)
    cap[has_area] = np.minimum(
        cap[has_area], (crowd_area[has_area] * sc.safe_density_per_m2)[:, None]
    )
    return cap, crowd_area


def site_openness(sc: Scenario, tl: Timeline, TX: int) -> np.ndarray:
    """(S, TX) bool: a site is closed before it opens, in its closures, in closure events and
    before a decision event agrees it."""
    sidx = {s.name: i for i, s in enumerate(sc.sites)}
    open_x = np.ones((len(sc.sites), TX), dtype=bool)
    for i, s in enumerate(sc.sites):
        if s.opens is not None:
            open_x[i, : max(0, min(TX, tl.period_ceil(s.opens)))] = False
        for w in s.closures:
            a, b = _blocked(tl, w.start, w.end, TX)
            open_x[i, a:b] = False
    for e in sc.events:
        if e.kind == "closure":
            assert e.site is not None and e.start is not None  # the model's validator saw to it
            a, b = _blocked(tl, e.start, e.end, TX)
            open_x[sidx[e.site], a:b] = False
    for e in sc.events:
        if e.kind == "decision" and e.site is not None:
            assert e.at is not None  # the model's validator saw to it
            # the site exists only once it is agreed
            open_x[sidx[e.site], : max(0, min(TX, tl.period_ceil(e.at)))] = False
    if sc.deadline_hard and sc.deadline is not None:
        # the evacuation airport closes at the deadline: nobody leaves it, nothing lands there
        open_x[sidx[sc.evacuation_airport], max(0, tl.period_ceil(sc.deadline)) :] = False
    return open_x


def site_rates(sc: Scenario, tl: Timeline) -> dict[str, np.ndarray]:
    """Per site (inf = unlimited): people who may leave per period (``rate``), departure and
    arrival slots per hour (``dep_slots``, ``arr_slots``) and aircraft on the ground (``mog``)."""
    S = len(sc.sites)
    out = {k: np.full(S, INF) for k in ("rate", "dep_slots", "arr_slots", "mog")}
    for i, s in enumerate(sc.sites):
        if s.processing_rate_per_h is not None:
            out["rate"][i] = s.processing_rate_per_h * tl.period_h
        if s.airfield is not None:
            af = s.airfield
            out["dep_slots"][i] = af.departure_slots_per_h if af.departure_slots_per_h else INF
            out["arr_slots"][i] = af.arrival_slots_per_h if af.arrival_slots_per_h else INF
            out["mog"][i] = af.mog if af.mog else INF
    return out


def cohort_appearance(sc: Scenario, tl: Timeline) -> np.ndarray:
    """(C, S, T) people of each cohort appearing at its origin: all at once, uniformly over a
    window (whole people, spread as evenly as whole numbers allow), or by a table."""
    T = tl.n
    sidx = {s.name: i for i, s in enumerate(sc.sites)}
    appear = np.zeros((len(sc.cohorts), len(sc.sites), T))
    for ci, c in enumerate(sc.cohorts):
        o = sidx[c.origin]
        ap = c.appear
        if ap.mode == "at_start":
            t0 = 0 if ap.start is None else min(T - 1, max(0, tl.period_of(ap.start)))
            appear[ci, o, t0] = c.size
        elif ap.mode == "uniform":
            assert ap.start is not None and ap.end is not None
            a = min(T - 1, max(0, tl.period_of(ap.start)))
            b = min(T, max(a + 1, tl.period_ceil(ap.end)))
            edges = np.floor(np.linspace(0, c.size, b - a + 1) + 1e-9)
            appear[ci, o, a:b] = np.diff(edges)
        else:
            for p in ap.table:
                appear[ci, o, min(T - 1, max(0, tl.period_of(p.at)))] += p.count
    return appear


def fleet_availability(sc: Scenario, tl: Timeline) -> tuple[np.ndarray, np.ndarray]:
    """(aircraft that exist (F,), aircraft available to fly (F, T)): the fleet's count within
    its window (and from the decision that activates it), changed by fleet events; a fleet has as
    many aircraft as it ever has."""
    T = tl.n
    fleets = [f.name for f in sc.fleets]
    count = np.array([f.count for f in sc.fleets], dtype=float)
    window = np.zeros((len(fleets), T), dtype=bool)
    for fi, f in enumerate(sc.fleets):
        a = 0 if f.available_from is None else max(0, min(T, tl.period_ceil(f.available_from)))
        b = T if f.available_until is None else max(0, min(T, tl.period_of(f.available_until)))
        window[fi, a:b] = True
    for e in sc.events:  # a fleet activated by a decision has no aircraft before it
        if e.kind == "decision" and e.fleet is not None:
            assert e.at is not None  # the model's validator saw to it
            window[fleets.index(e.fleet), : max(0, min(T, tl.period_ceil(e.at)))] = False
    avail = np.where(window, count[:, None], 0.0)
    changes = [
        (tl.period_ceil(e.at), fleets.index(e.fleet), int(e.count))  # type: ignore[arg-type]
        for e in sc.events
        if e.kind == "fleet"
    ]
    for t_at, fi, n in sorted(changes):
        t0 = max(0, min(T, t_at))
        avail[fi, t0:] = np.where(window[fi, t0:], n, 0.0)
        count[fi] = max(count[fi], n)
    return count, avail


@dataclass
class _Moves:
    """Aircraft moves (each fleet's air legs, outbound and back) and stations, as in Network."""

    stations: list[tuple[int, int]]
    home_station: np.ndarray
    fleet: np.ndarray
    leg: list[str]
    forward: np.ndarray
    frm: np.ndarray
    to: np.ndarray
    from_station: np.ndarray
    to_station: np.ndarray
    land: np.ndarray
    ready: np.ndarray
    open_: np.ndarray


def fleet_moves(sc: Scenario, tl: Timeline, open_x: np.ndarray, fleet_avail: np.ndarray) -> _Moves:
    """Each fleet's moves: every air leg it flies, outbound then back, landing ``ceil(block /
    Δ)`` periods after it leaves and ready ``ceil((block + ground) / Δ)`` after; a move may
    depart when its origin is open, its destination is open when it lands, and its fleet ever
    has aircraft. Stations (fleet, site): each fleet's home first, then its moves' ends."""
    sidx = {s.name: i for i, s in enumerate(sc.sites)}
    legs = {lg.name: lg for lg in sc.legs}
    st_idx: dict[tuple[int, int], int] = {}

    def station(fi: int, si: int) -> int:
        return st_idx.setdefault((fi, si), len(st_idx))

    home = np.array([station(fi, sidx[f.home]) for fi, f in enumerate(sc.fleets)])
    rows: list[tuple[int, str, bool, int, int, int, int]] = []
    for fi, f in enumerate(sc.fleets):
        for name in f.legs:
            lg = legs[name]
            block = lg.block_time_for(f.type)
            assert block is not None  # cross_check guarantees a block time for the fleet's type
            o, d = sidx[lg.origin], sidx[lg.destination]
            for fwd, a, b in ((True, o, d), (False, d, o)):
                ground = sc.sites[b].airfield.ground_time_for(f.type)  # type: ignore[union-attr]
                lands = max(1, tl.periods(block))
                rows.append((fi, name, fwd, a, b, lands, max(lands, tl.periods(block + ground))))
                station(fi, a)
                station(fi, b)
    cols = list(zip(*rows, strict=True)) if rows else [()] * 7
    fleet, frm, to, land, ready = (np.array(cols[k], dtype=int) for k in (0, 3, 4, 5, 6))
    T, tt = tl.n, np.arange(tl.n)
    move_open = np.zeros((len(rows), T), dtype=bool)
    for m in range(len(rows)):
        ok_land = open_x[to[m], tt + land[m]]
        move_open[m] = open_x[frm[m], :T] & ok_land & (fleet_avail[fleet[m]].max() > 0)
    return _Moves(
        stations=list(st_idx),
        home_station=home,
        fleet=fleet,
        leg=list(cols[1]),
        forward=np.array(cols[2], dtype=bool),
        frm=frm,
        to=to,
        from_station=np.array([st_idx[(fleet[m], frm[m])] for m in range(len(rows))], dtype=int),
        to_station=np.array([st_idx[(fleet[m], to[m])] for m in range(len(rows))], dtype=int),
        land=land,
        ready=ready,
        open_=move_open,
    )


@dataclass
class _Arcs:
    """People arcs (ground legs, then outbound air moves), as in Network."""

    name: list[str]
    kind: np.ndarray
    leg: list[str]
    frm: np.ndarray
    to: np.ndarray
    delay: np.ndarray
    cap: np.ndarray
    move: np.ndarray
    open_: np.ndarray
    allowed: np.ndarray
    load: np.ndarray


def _arc_rows(sc: Scenario, tl: Timeline, mv: _Moves) -> list[tuple]:
    """(name, kind, leg, from, to, delay, capacity per period, move, seats per sortie) of each
    people arc: a ground leg takes ``round(travel_time_h / Δ)`` periods; an air arc is an
    outbound move, seating the type's planning load (its max load on a ``surge_load`` leg)."""
    sidx = {s.name: i for i, s in enumerate(sc.sites)}
    dt = tl.period_h
    rows: list[tuple] = []
    for lg in sc.legs:
        if lg.kind != "ground":
            continue
        cap_pp = INF if lg.capacity_per_h is None else lg.capacity_per_h * dt
        delay = math.floor((lg.travel_time_h or 0.0) / dt + 0.5 + 1e-9)
        rows.append(
            (
                lg.name,
                "ground",
                lg.name,
                sidx[lg.origin],
                sidx[lg.destination],
                delay,
                cap_pp,
                -1,
                0,
            )
        )
    legs = {lg.name: lg for lg in sc.legs}
    types = {t.name: t for t in sc.aircraft_types}
    for m in np.flatnonzero(mv.forward):
        f = sc.fleets[mv.fleet[m]]
        t = types[f.type]
        seats = t.max_load if legs[mv.leg[m]].surge_load else t.planning_load
        name = air_arc_name(mv.leg[m], f.name)
        rows.append((name, "air", mv.leg[m], mv.frm[m], mv.to[m], mv.land[m], INF, int(m), seats))
    return rows


def people_arcs(sc: Scenario, tl: Timeline, open_x: np.ndarray, mv: _Moves) -> _Arcs:
    """The people arcs, when people may set off on each (an air arc when its move may depart; a
    ground arc when its origin is open and its destination open on arrival) and which cohorts
    may use each (both ends allowed to the cohort, and a fleet it may fly)."""
    rows = _arc_rows(sc, tl, mv)
    cols = list(zip(*rows, strict=True)) if rows else [()] * 9
    frm, to, delay, move = (np.array(cols[k], dtype=int) for k in (3, 4, 5, 7))
    T, tt = tl.n, np.arange(tl.n)
    A = len(rows)
    arc_open = np.zeros((A, T), dtype=bool)
    for a in range(A):
        if move[a] >= 0:
            arc_open[a] = mv.open_[move[a]]
        else:
            arc_open[a] = open_x[frm[a], :T] & open_x[to[a], tt + delay[a]]
    sites = [s.name for s in sc.sites]
    fleets = [f.name for f in sc.fleets]
    allowed = np.zeros((len(sc.cohorts), A), dtype=bool)
    for ci, c in enumerate(sc.cohorts):
        ok_sites = allowed_sites(sc, c.name)
        for a in range(A):
            if sites[to[a]] not in ok_sites or sites[frm[a]] not in ok_sites:
                continue
            if move[a] >= 0 and not cohort_may_fly(sc, c.name, fleets[mv.fleet[move[a]]]):
                continue
            allowed[ci, a] = True
    return _Arcs(
        name=list(cols[0]),
        kind=np.array(cols[1]),
        leg=list(cols[2]),
        frm=frm,
        to=to,
        delay=delay,
        cap=np.array(cols[6], dtype=float),
        move=move,
        open_=arc_open,
        allowed=allowed,
        load=np.array(cols[8], dtype=float),
    )


def compile_network(sc: Scenario, period: str | None = None) -> Network:
    """Turn a validated scenario into the arrays of its time-expanded network."""
    tl = sc.timeline(period)
    sites = [s.name for s in sc.sites]
    cap, crowd_area = site_capacity(sc, tl)
    open_x = site_openness(sc, tl, _extended_periods(sc, tl))
    limits = site_rates(sc, tl)
    rates_t = airfield_rates(sc, tl)
    stay, dwell = site_stays(sc, tl)
    fleet_count, fleet_avail = fleet_availability(sc, tl)
    mv = fleet_moves(sc, tl, open_x, fleet_avail)
    arcs = people_arcs(sc, tl, open_x, mv)
    types = {t.name: t for t in sc.aircraft_types}
    return Network(
        scenario=sc,
        timeline=tl,
        sites=sites,
        site_kind=np.array([s.kind for s in sc.sites]),
        evac={n: i for i, n in enumerate(sites)}[sc.evacuation_airport],
        cap=cap,
        crowd_area=crowd_area,
        rate=limits["rate"],
        open_=open_x[:, : tl.n],
        cohorts=[c.name for c in sc.cohorts],
        priority=np.array([c.priority for c in sc.cohorts], dtype=float),
        appear=cohort_appearance(sc, tl),
        arc_name=arcs.name,
        arc_kind=arcs.kind,
        arc_leg=arcs.leg,
        arc_from=arcs.frm,
        arc_to=arcs.to,
        arc_delay=arcs.delay,
        arc_cap=arcs.cap,
        arc_move=arcs.move,
        arc_allowed=arcs.allowed,
        arc_open=arcs.open_,
        fleets=[f.name for f in sc.fleets],
        fleet_type=[f.type for f in sc.fleets],
        fleet_load=np.array([types[f.type].planning_load for f in sc.fleets], dtype=float),
        fleet_count=fleet_count,
        fleet_avail=fleet_avail,
        fleet_home_station=mv.home_station,
        stations=mv.stations,
        move_fleet=mv.fleet,
        move_leg=mv.leg,
        move_forward=mv.forward,
        move_from=mv.frm,
        move_to=mv.to,
        move_from_station=mv.from_station,
        move_to_station=mv.to_station,
        move_land=mv.land,
        move_ready=mv.ready,
        move_open=mv.open_,
        dep_slots=limits["dep_slots"],
        arr_slots=limits["arr_slots"],
        mog=limits["mog"],
        dep_rate=rates_t["dep_rate"],
        arr_rate=rates_t["arr_rate"],
        mov_rate=rates_t["mov_rate"],
        max_stay=stay,
        min_dwell=dwell,
        arc_load=arcs.load,
        fleet_sorties_day=np.array(
            [INF if f.max_sorties_per_day is None else f.max_sorties_per_day for f in sc.fleets]
        ),
        fleet_up=np.array([1.0 - f.maintenance_down_fraction for f in sc.fleets]),
        station_wait=station_waits(sc, tl, mv.stations),
    )
