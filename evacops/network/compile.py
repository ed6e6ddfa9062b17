"""Compile a scenario into the arrays of a time-expanded network.

Nothing here builds an optimisation model: :class:`Network` is plain numpy, indexed by period,
site, cohort, arc (a way people move: a ground leg, or an air leg flown by one fleet) and move (a
way aircraft move: a fleet flying an air leg outbound, with people, or back, empty). The linopy
model (:mod:`evacops.plan.model`) and the simulator read the same arrays.

Rounding to periods (period length Δ):
- a ground leg takes ``round(travel_time_h / Δ)`` periods (0 means people arrive in the period
  they leave);
- a sortie lands ``ceil(block_time_h / Δ)`` periods after it leaves and is ready to leave again
  ``ceil((block_time_h + ground_time_h) / Δ)`` periods after it left, so the two roundings are not
  added twice;
- a closure blocks every period it overlaps; a site that opens at time x is closed before it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evacops.network.keys import air_arc_name, move_name, station_name
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
    dep_slots: np.ndarray  # (S,) per rolling hour (inf = unlimited)
    arr_slots: np.ndarray
    mog: np.ndarray  # (S,)

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
        hours = [
            h for h in SLOT_WINDOWS_H if h >= dt - 1e-9 and abs(h / dt - round(h / dt)) < 1e-9
        ] or [dt]
        for s in range(S):
            r = float(per_h[s])
            if not np.isfinite(r):
                continue
            pick = next((h for h in hours if abs(r * h - round(r * h)) <= 0.05), hours[-1])
            w[s] = max(1, round(pick / dt))
            rhs[s] = r * pick
        return w, rhs


SLOT_WINDOWS_H: tuple[float, ...] = (1, 2, 3, 4, 6, 8, 12, 24)


def _blocked(tl: Timeline, start, end, n: int) -> tuple[int, int]:
    a = max(0, tl.period_of(start))
    b = min(n, tl.period_ceil(end))
    return a, b


def compile_network(sc: Scenario, period: str | None = None) -> Network:
    """Turn a validated scenario into the arrays of its time-expanded network."""
    tl = sc.timeline(period)
    T, dt = tl.n, tl.period_h
    sites = [s.name for s in sc.sites]
    sidx = {n: i for i, n in enumerate(sites)}
    S = len(sites)

    # openness is computed past the horizon too, for people and aircraft arriving after it
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
    TX = T + longest + 1
    cap = np.full((S, T), INF)
    rate = np.full(S, INF)
    open_x = np.ones((S, TX), dtype=bool)
    dep_slots = np.full(S, INF)
    arr_slots = np.full(S, INF)
    mog = np.full(S, INF)
    for i, s in enumerate(sc.sites):
        if s.holding_capacity is not None:
            cap[i, :] = s.holding_capacity
        for ch in s.capacity_changes:
            cap[i, max(0, tl.period_ceil(ch.at)) :] = ch.holding_capacity
        if s.processing_rate_per_h is not None:
            rate[i] = s.processing_rate_per_h * dt
        if s.opens is not None:
            open_x[i, : max(0, min(TX, tl.period_ceil(s.opens)))] = False
        for w in s.closures:
            a, b = _blocked(tl, w.start, w.end, TX)
            open_x[i, a:b] = False
        if s.airfield is not None:
            af = s.airfield
            dep_slots[i] = af.departure_slots_per_h if af.departure_slots_per_h else INF
            arr_slots[i] = af.arrival_slots_per_h if af.arrival_slots_per_h else INF
            mog[i] = af.mog if af.mog else INF
    for e in sc.events:
        if e.kind == "closure":
            assert e.site is not None and e.start is not None  # the model's validator saw to it
            a, b = _blocked(tl, e.start, e.end, TX)
            open_x[sidx[e.site], a:b] = False
        elif e.kind == "capacity":
            assert e.site is not None and e.at is not None
            cap[sidx[e.site], max(0, tl.period_ceil(e.at)) :] = e.holding_capacity
    # a gate holds no more than its crowd area at the safe density, whatever else is said
    crowd_area = np.array(
        [np.nan if s.crowd_area_m2 is None else s.crowd_area_m2 for s in sc.sites]
    )
    has_area = np.isfinite(crowd_area)
    cap[has_area] = np.minimum(
        cap[has_area], (crowd_area[has_area] * sc.safe_density_per_m2)[:, None]
    )

    cohorts = [c.name for c in sc.cohorts]
    C = len(cohorts)
    appear = np.zeros((C, S, T))
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
            # whole people, spread as evenly as whole numbers allow
            edges = np.floor(np.linspace(0, c.size, b - a + 1) + 1e-9)
            appear[ci, o, a:b] = np.diff(edges)
        else:
            for p in ap.table:
                appear[ci, o, min(T - 1, max(0, tl.period_of(p.at)))] += p.count
    priority = np.array([c.priority for c in sc.cohorts], dtype=float)

    # fleets and their stations (fleet, airfield site)
    types = {t.name: t for t in sc.aircraft_types}
    legs = {lg.name: lg for lg in sc.legs}
    fleets = [f.name for f in sc.fleets]
    F = len(fleets)
    fleet_load = np.array([types[f.type].planning_load for f in sc.fleets], dtype=float)
    fleet_count = np.array([f.count for f in sc.fleets], dtype=float)
    window = np.zeros((F, T), dtype=bool)
    for fi, f in enumerate(sc.fleets):
        a = 0 if f.available_from is None else max(0, min(T, tl.period_ceil(f.available_from)))
        b = T if f.available_until is None else max(0, min(T, tl.period_of(f.available_until)))
        window[fi, a:b] = True
    fleet_avail = np.where(window, fleet_count[:, None], 0.0)
    changes = [
        (tl.period_ceil(e.at), fleets.index(e.fleet), int(e.count))  # type: ignore[arg-type]
        for e in sc.events
        if e.kind == "fleet"
    ]
    for t_at, fi, count in sorted(changes):
        t0 = max(0, min(T, t_at))
        fleet_avail[fi, t0:] = np.where(window[fi, t0:], count, 0.0)
        fleet_count[fi] = max(fleet_count[fi], count)

    stations: list[tuple[int, int]] = []
    st_idx: dict[tuple[int, int], int] = {}

    def station(fi: int, si: int) -> int:
        key = (fi, si)
        if key not in st_idx:
            st_idx[key] = len(stations)
            stations.append(key)
        return st_idx[key]

    home_station = np.array([station(fi, sidx[f.home]) for fi, f in enumerate(sc.fleets)])
    mv: dict[str, list] = {k: [] for k in ("fleet", "leg", "fwd", "frm", "to", "land", "ready")}
    for fi, f in enumerate(sc.fleets):
        for name in f.legs:
            lg = legs[name]
            block = lg.block_time_for(f.type)
            assert block is not None  # cross_check guarantees a block time for the fleet's type
            o, d = sidx[lg.origin], sidx[lg.destination]
            for fwd, a, b in ((True, o, d), (False, d, o)):
                ground = sc.sites[b].airfield.ground_time_for(f.type)  # type: ignore[union-attr]
                land = max(1, tl.periods(block))
                ready = max(land, tl.periods(block + ground))
                for k, v in zip(mv, (fi, name, fwd, a, b, land, ready), strict=True):
                    mv[k].append(v)
                station(fi, a)
                station(fi, b)
    M = len(mv["fleet"])
    move_fleet = np.array(mv["fleet"], dtype=int)
    move_from = np.array(mv["frm"], dtype=int)
    move_to = np.array(mv["to"], dtype=int)
    move_land = np.array(mv["land"], dtype=int)
    move_ready = np.array(mv["ready"], dtype=int)
    open_ = open_x[:, :T]
    tt = np.arange(T)
    move_open = np.zeros((M, T), dtype=bool)
    for m in range(M):
        ok_land = open_x[move_to[m], tt + move_land[m]]
        move_open[m] = open_[move_from[m]] & ok_land & (fleet_avail[move_fleet[m]].max() > 0)

    # people arcs: ground legs, then the outbound air moves
    arc: dict[str, list] = {
        k: [] for k in ("name", "kind", "leg", "frm", "to", "delay", "cap", "move")
    }
    for lg in sc.legs:
        if lg.kind != "ground":
            continue
        cap_pp = INF if lg.capacity_per_h is None else lg.capacity_per_h * dt
        vals = (
            lg.name,
            "ground",
            lg.name,
            sidx[lg.origin],
            sidx[lg.destination],
            math.floor((lg.travel_time_h or 0.0) / dt + 0.5 + 1e-9),
            cap_pp,
            -1,
        )
        for k, v in zip(arc, vals, strict=True):
            arc[k].append(v)
    for m in range(M):
        if not mv["fwd"][m]:
            continue
        vals = (
            air_arc_name(mv["leg"][m], fleets[mv["fleet"][m]]),
            "air",
            mv["leg"][m],
            move_from[m],
            move_to[m],
            move_land[m],
            INF,
            m,
        )
        for k, v in zip(arc, vals, strict=True):
            arc[k].append(v)
    A = len(arc["name"])
    arc_from = np.array(arc["frm"], dtype=int)
    arc_to = np.array(arc["to"], dtype=int)
    arc_delay = np.array(arc["delay"], dtype=int)
    arc_move = np.array(arc["move"], dtype=int)
    arc_open = np.zeros((A, T), dtype=bool)
    for a in range(A):
        if arc_move[a] >= 0:
            arc_open[a] = move_open[arc_move[a]]
        else:
            arc_open[a] = open_[arc_from[a]] & open_x[arc_to[a], tt + arc_delay[a]]
    arc_allowed = np.zeros((C, A), dtype=bool)
    for ci, cname in enumerate(cohorts):
        ok_sites = allowed_sites(sc, cname)
        for a in range(A):
            if sites[arc_to[a]] not in ok_sites or sites[arc_from[a]] not in ok_sites:
                continue
            if arc_move[a] >= 0 and not cohort_may_fly(sc, cname, fleets[move_fleet[arc_move[a]]]):
                continue
            arc_allowed[ci, a] = True

    return Network(
        scenario=sc,
        timeline=tl,
        sites=sites,
        site_kind=np.array([s.kind for s in sc.sites]),
        evac=sidx[sc.evacuation_airport],
        cap=cap,
        crowd_area=crowd_area,
        rate=rate,
        open_=open_,
        cohorts=cohorts,
        priority=priority,
        appear=appear,
        arc_name=arc["name"],
        arc_kind=np.array(arc["kind"]),
        arc_leg=arc["leg"],
        arc_from=arc_from,
        arc_to=arc_to,
        arc_delay=arc_delay,
        arc_cap=np.array(arc["cap"], dtype=float),
        arc_move=arc_move,
        arc_allowed=arc_allowed,
        arc_open=arc_open,
        fleets=fleets,
        fleet_type=[f.type for f in sc.fleets],
        fleet_load=fleet_load,
        fleet_count=fleet_count,
        fleet_avail=fleet_avail,
        fleet_home_station=home_station,
        stations=stations,
        move_fleet=move_fleet,
        move_leg=mv["leg"],
        move_forward=np.array(mv["fwd"], dtype=bool),
        move_from=move_from,
        move_to=move_to,
        move_from_station=np.array(
            [st_idx[(mv["fleet"][m], move_from[m])] for m in range(M)], dtype=int
        ),
        move_to_station=np.array(
            [st_idx[(mv["fleet"][m], move_to[m])] for m in range(M)], dtype=int
        ),
        move_land=move_land,
        move_ready=move_ready,
        move_open=move_open,
        dep_slots=dep_slots,
        arr_slots=arr_slots,
        mog=mog,
    )
