"""The static arrays the simulator steps over: a compiled network, its uncertainty, and a plan.

:func:`build_model` turns a scenario (and, optionally, a plan read by
:func:`evacops.sim.planfile.read_plan`) into a :class:`SimModel`: plain numpy arrays and a few
numbers, small enough to send to every worker once. The period grid and every capacity come from
:func:`evacops.network.compile_network`, so the simulator and the planner round times and
capacities the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from evacops.network import Network, compile_network
from evacops.network.keys import padded
from evacops.scenario import Scenario
from evacops.scenario.model import Uncertainty

#: an aircraft that is ready but not full, at an airfield without departure slots, leaves after
#: waiting this long with people to carry; one with nobody to carry and nowhere to go flies home
#: after waiting this long (the dispatch policy, docs/simulation.md)
MAX_WAIT_H = 2.0
#: without a plan, the evacuation airport admits (and the call-forward calls) a cohort only while
#: fewer of its people wait there than this many loads of the aircraft that may carry it
LIFT_LOADS = 2.0


@dataclass
class Randomness:
    """The uncertainty block as per-period numbers (see docs/simulation.md)."""

    surge_p: float  # chance a surge starts at a gate in a period
    surge_size_h: float
    screening_cv: float
    incident_p: float  # chance an incident starts at a gate in a period
    incident_mean_h: float
    block_cv: float
    ground_cv: float
    abort_p: float
    divert: bool

    @property
    def any(self) -> bool:
        return (
            (self.surge_p > 0 and self.surge_size_h > 0)
            or self.screening_cv > 0
            or (self.incident_p > 0 and self.incident_mean_h > 0)
            or self.block_cv > 0
            or self.ground_cv > 0
            or self.abort_p > 0
        )

    @classmethod
    def of(cls, u: Uncertainty, period_h: float) -> Randomness:
        return cls(
            surge_p=1.0 - (1.0 - u.surge_probability_per_h) ** period_h,
            surge_size_h=u.surge_size_h,
            screening_cv=u.screening_cv,
            incident_p=1.0 - math.exp(-u.incidents_per_gate_per_day * period_h / 24.0),
            incident_mean_h=u.incident_mean_h,
            block_cv=u.block_time_cv,
            ground_cv=u.ground_time_cv,
            abort_p=u.abort_probability,
            divert=u.divert_when_staging_full,
        )


@dataclass
class PlanArrays:
    """A plan as the simulator follows it (dense arrays over the network of the plan)."""

    flow: np.ndarray  # (T, A, C) people setting off on each arc in each period
    hold: np.ndarray  # (T, S, C) people waiting at the end of each period
    sched_move: np.ndarray  # (N, K) each aircraft's sorties in order: move index, -1 padding
    sched_dep: np.ndarray  # (N, K) their planned departure periods (huge for padding)
    n_sched: np.ndarray  # (N,)
    sorties: np.ndarray  # (T, M) sorties leaving

    @property
    def flow_cum(self) -> np.ndarray:
        return np.cumsum(self.flow, axis=0)


@dataclass
class SimModel:
    """Everything a batch of runs needs, as numpy arrays (indexed like :class:`Network`)."""

    name: str
    start: datetime
    period_h: float
    T: int
    deadline_period: int
    sites: list[str]
    site_kind: np.ndarray
    evac: int
    cohorts: list[str]
    priority: np.ndarray
    prio_order: np.ndarray  # cohorts, highest priority first (stable)
    appear: np.ndarray  # (T, S, C)
    cap: np.ndarray  # (S, T) holding capacity the simulator enforces (inf at assembly, gates)
    cap_site: np.ndarray  # (S, T) the scenario's holding capacity (for "full")
    rate: np.ndarray  # (S,) people per period
    open_: np.ndarray  # (S, T)
    gates: np.ndarray  # (G,) site index of each gate
    gate_area: np.ndarray  # (G,) m2, nan without a crowd area
    gate_rate_h: np.ndarray  # (G,) people per hour (inf = unlimited)
    arc_name: list[str]
    arc_from: np.ndarray
    arc_to: np.ndarray
    arc_delay: np.ndarray
    arc_cap: np.ndarray  # (A,) per period
    arc_move: np.ndarray  # (A,) -1 for ground
    arc_allowed: np.ndarray  # (A, C)
    arc_open: np.ndarray  # (T, A)
    fleets: list[str]
    fleet_load: np.ndarray  # (F,)
    fleet_count: np.ndarray  # (F,) int
    fleet_avail: np.ndarray  # (F, T)
    fleet_op: np.ndarray  # (F,) operator index
    operators: list[str]
    move_name: list[str]
    move_fleet: np.ndarray
    move_from: np.ndarray
    move_to: np.ndarray
    move_fwd: np.ndarray
    move_land: np.ndarray
    move_ready: np.ndarray
    move_open: np.ndarray  # (T, M)
    move_arc: np.ndarray  # (M,) the people arc of an outbound move, -1 for back
    block_h: np.ndarray  # (M,)
    ground_dest_h: np.ndarray  # (M,) ground time at the destination
    ground_origin_periods: np.ndarray  # (M,) periods an abort keeps the aircraft on the ground
    sub: np.ndarray  # (M, S) move of the same fleet from a site to the same destination, or -1
    alt: np.ndarray  # (M, K) other outbound moves of the fleet from the origin to a staging base
    fleet_fwd: np.ndarray  # (F, K) outbound moves of each fleet, -1 padding
    fleet_all: np.ndarray  # (F, K) all moves of each fleet, -1 padding
    home_move: np.ndarray  # (F, S) the fleet's move from a site to its home, or -1
    lift_quota: np.ndarray  # (T, C) people of a cohort the evacuation airport admits at once
    ac_fleet: np.ndarray  # (N,) aircraft -> fleet (aircraft of a fleet are contiguous)
    ac_j: np.ndarray  # (N,) index of the aircraft within its fleet
    ac_home: np.ndarray  # (N,)
    dep_w: np.ndarray  # (S,) periods of the departure slot window
    dep_rhs: np.ndarray  # (S,) departures allowed in it (inf = unlimited)
    arr_w: np.ndarray
    arr_rhs: np.ndarray
    mog_eff: np.ndarray  # (S, T) MOG plus aircraft not yet (or no longer) available held at home
    layers: list[np.ndarray]  # sites in the order people move through them within a period
    staging: np.ndarray  # (B,) staging bases
    dest_sites: np.ndarray  # (S,) bool
    rnd: Randomness
    plan: PlanArrays | None = None
    safe_density_per_m2: float = 2.0
    chunk: int = 24  # periods of random draws taken at a time (fixed: results do not depend on it)
    notes: list[str] = field(default_factory=list)

    @property
    def S(self) -> int:
        return len(self.sites)

    @property
    def C(self) -> int:
        return len(self.cohorts)

    @property
    def N(self) -> int:
        return len(self.ac_fleet)

    @property
    def M(self) -> int:
        return len(self.move_fleet)

    @property
    def A(self) -> int:
        return len(self.arc_from)

    @property
    def G(self) -> int:
        return len(self.gates)

    @property
    def total_people(self) -> float:
        return float(self.appear.sum())

    def day_index(self) -> tuple[np.ndarray, list]:
        """(day number of each period, the local dates): days in the scenario's UTC offset."""
        from datetime import timedelta

        dates = [(self.start + timedelta(hours=t * self.period_h)).date() for t in range(self.T)]
        days = sorted(set(dates))
        pos = {d: i for i, d in enumerate(days)}
        return np.array([pos[d] for d in dates], dtype=int), days


def _layers(net: Network) -> list[np.ndarray]:
    """Sites in topological order of the ground legs people cross within one period (delay 0):
    a gate before the airport behind it. A cycle of such legs goes in one last layer."""
    S = len(net.sites)
    zero = [
        (int(f), int(t))
        for f, t, d, k in zip(net.arc_from, net.arc_to, net.arc_delay, net.arc_kind, strict=True)
        if d == 0 and k == "ground"
    ]
    indeg = np.zeros(S, dtype=int)
    for _, t in zero:
        indeg[t] += 1
    left = set(range(S))
    layers = []
    while left:
        now = sorted(s for s in left if indeg[s] == 0)
        if not now:
            layers.append(np.array(sorted(left), dtype=int))
            break
        layers.append(np.array(now, dtype=int))
        for s in now:
            left.discard(s)
        for f, t in zero:
            if f in now:
                indeg[t] -= 1
    return layers


def build_model(
    sc: Scenario,
    period: str | None = None,
    plan: PlanArrays | None = None,
    net: Network | None = None,
    uncertainty: Uncertainty | None = None,
) -> SimModel:
    """Compile ``sc`` for the simulator; with ``plan``, aircraft and people follow it."""
    net = net or compile_network(sc, period)
    T, dt = net.T, net.period_h
    S, C = len(net.sites), len(net.cohorts)
    M = len(net.move_fleet)
    F = len(net.fleets)
    tl = net.timeline
    kinds = net.site_kind
    crowd = np.isin(kinds, ["assembly", "gate"])
    cap = np.where(crowd[:, None], np.inf, net.cap)
    gates = np.flatnonzero(kinds == "gate")
    deadline = net.deadline_period

    legs = {lg.name: lg for lg in sc.legs}
    block = np.zeros(M)
    g_dest = np.zeros(M)
    g_orig = np.zeros(M, dtype=int)
    for m in range(M):
        f = sc.fleets[net.move_fleet[m]]
        block[m] = legs[net.move_leg[m]].block_time_for(f.type) or 0.0
        dest_af = sc.sites[net.move_to[m]].airfield
        orig_af = sc.sites[net.move_from[m]].airfield
        g_dest[m] = dest_af.ground_time_for(f.type) if dest_af else 1.0
        g_orig[m] = max(1, tl.periods(orig_af.ground_time_for(f.type) if orig_af else 1.0))

    sub = np.full((M, S), -1, dtype=np.int64)
    for m in range(M):
        for m2 in range(M):
            same = net.move_fleet[m2] == net.move_fleet[m] and net.move_to[m2] == net.move_to[m]
            if same and sub[m, net.move_from[m2]] < 0:
                sub[m, net.move_from[m2]] = m2
        sub[m, net.move_from[m]] = m
    alt_rows = []
    for m in range(M):
        row = []
        if net.move_forward[m]:
            cands = [
                m2
                for m2 in range(M)
                if m2 != m
                and net.move_forward[m2]
                and net.move_fleet[m2] == net.move_fleet[m]
                and net.move_from[m2] == net.move_from[m]
                and kinds[net.move_to[m2]] == "staging"
                and net.move_to[m2] != net.move_to[m]
            ]
            row = sorted(cands, key=lambda k: (block[k], k))
        alt_rows.append(row)
    fleet_fwd = padded(
        [[m for m in range(M) if net.move_fleet[m] == f and net.move_forward[m]] for f in range(F)]
    )
    fleet_all = padded([[m for m in range(M) if net.move_fleet[m] == f] for f in range(F)])

    counts = net.fleet_count.astype(int)
    ac_fleet = np.repeat(np.arange(F), counts)
    ac_j = np.concatenate([np.arange(c) for c in counts]) if counts.sum() else np.zeros(0, int)
    home_site = np.array([net.stations[net.fleet_home_station[f]][1] for f in range(F)], dtype=int)

    dep_w, dep_rhs = net.slot_windows(net.dep_slots)
    arr_w, arr_rhs = net.slot_windows(net.arr_slots)
    away = np.zeros((S, T))
    np.add.at(away, home_site, np.maximum(net.fleet_count[:, None] - net.fleet_avail, 0.0))
    mog_eff = net.mog[:, None] + away

    home_move = np.full((F, S), -1, dtype=np.int64)
    for m in range(M):
        f = int(net.move_fleet[m])
        if net.move_to[m] == home_site[f] and home_move[f, net.move_from[m]] < 0:
            home_move[f, net.move_from[m]] = m
    carry = np.zeros((F, C), dtype=bool)  # the fleet may carry the cohort out of the airport
    for a, m in enumerate(net.arc_move):
        if m >= 0 and net.arc_from[a] == net.evac:
            carry[net.move_fleet[m]] |= net.arc_allowed[:, a]
    lift = np.zeros((T, C))
    for f in range(F):
        lift += LIFT_LOADS * net.fleet_avail[f][:, None] * net.fleet_load[f] * carry[f][None, :]

    ops = sorted({f.operator for f in sc.fleets})
    move_arc = np.full(M, -1, dtype=np.int64)
    for a, m in enumerate(net.arc_move):
        if m >= 0:
            move_arc[m] = a

    return SimModel(
        name=sc.name,
        start=tl.start,
        period_h=dt,
        T=T,
        deadline_period=deadline,
        sites=list(net.sites),
        site_kind=np.asarray(kinds),
        evac=int(net.evac),
        cohorts=list(net.cohorts),
        priority=net.priority.copy(),
        prio_order=np.argsort(-net.priority, kind="stable"),
        appear=np.ascontiguousarray(np.transpose(net.appear, (2, 1, 0))),
        cap=cap,
        cap_site=net.cap.copy(),
        rate=net.rate.copy(),
        open_=net.open_.copy(),
        gates=gates,
        gate_area=net.crowd_area[gates].copy(),
        gate_rate_h=net.rate[gates] / dt,
        arc_name=list(net.arc_name),
        arc_from=net.arc_from.astype(np.int64),
        arc_to=net.arc_to.astype(np.int64),
        arc_delay=net.arc_delay.astype(np.int64),
        arc_cap=net.arc_cap.copy(),
        arc_move=net.arc_move.astype(np.int64),
        arc_allowed=np.ascontiguousarray(net.arc_allowed.T),
        arc_open=np.ascontiguousarray(net.arc_open.T),
        fleets=list(net.fleets),
        fleet_load=net.fleet_load.copy(),
        fleet_count=counts,
        fleet_avail=net.fleet_avail.copy(),
        fleet_op=np.array([ops.index(f.operator) for f in sc.fleets], dtype=np.int64),
        operators=ops,
        move_name=net.move_names,
        move_fleet=net.move_fleet.astype(np.int64),
        move_from=net.move_from.astype(np.int64),
        move_to=net.move_to.astype(np.int64),
        move_fwd=net.move_forward.copy(),
        move_land=net.move_land.astype(np.int64),
        move_ready=net.move_ready.astype(np.int64),
        move_open=np.ascontiguousarray(net.move_open.T),
        move_arc=move_arc,
        block_h=block,
        ground_dest_h=g_dest,
        ground_origin_periods=g_orig,
        sub=sub,
        alt=padded(alt_rows),
        fleet_fwd=fleet_fwd,
        fleet_all=fleet_all,
        home_move=home_move,
        lift_quota=lift,
        ac_fleet=ac_fleet.astype(np.int64),
        ac_j=ac_j.astype(np.int64),
        ac_home=home_site[ac_fleet].astype(np.int64),
        dep_w=dep_w.astype(np.int64),
        dep_rhs=dep_rhs,
        arr_w=arr_w.astype(np.int64),
        arr_rhs=arr_rhs,
        mog_eff=mog_eff,
        layers=_layers(net),
        staging=np.flatnonzero(kinds == "staging"),
        dest_sites=kinds == "destination",
        rnd=Randomness.of(uncertainty or sc.uncertainty, dt),
        plan=plan,
        safe_density_per_m2=sc.safe_density_per_m2,
    )
