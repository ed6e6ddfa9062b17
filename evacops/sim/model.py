"""The static arrays the simulator steps over: a compiled network, its uncertainty, and a plan.

:func:`build_model` turns a scenario (and, optionally, a plan read by
:func:`evacops.planfolder.read_plan`) into a :class:`SimModel`: the compiled
:class:`~evacops.network.Network` itself, read as it is, and what the simulator adds to it (a few
of its arrays laid out period first, the aircraft as individuals, the dispatch policy's lookups,
the uncertainty per period, the plan's numbers and the static indices of the stepping), computed
once and small enough to send to every worker once. The period grid and every capacity come from
:func:`evacops.network.compile_network`, so the simulator and the planner round times and
capacities the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from evacops.network import Network, compile_network
from evacops.network.crowd import CrowdPhysics, approach_widths
from evacops.network.keys import padded
from evacops.planfolder import PlanArrays
from evacops.scenario import Scenario
from evacops.scenario.model import Uncertainty
from evacops.sim.crews import Crews, allowance
from evacops.sim.indices import MAX_WAIT_H, Indices, build_indices
from evacops.sim.runway import Runway
from evacops.sim.screening import Screening
from evacops.sim.stays import StayLimits

__all__ = [
    "LIFT_LOADS",
    "MAX_WAIT_H",
    "PlanArrays",
    "PlanFollow",
    "Randomness",
    "SimModel",
    "build_model",
]

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
    incident_density: float  # share of incident_p added per person/m2 above the safe density
    day_cv: float  # the day factor shared by every gate
    attraction: float  # how much a gate's surge chance follows its screening now
    switch: float  # share of a closed gate's crowd that walks to other open gates
    give_up_p: float  # share of a pressed crowd that gives up in a period
    refusal: float  # share of those screened at a gate turned away (evacops.sim.screening)
    requeue: float  # of those, the share who queue again
    requeue_periods: int  # periods before they queue again
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
            or self.day_cv > 0
            or self.refusal > 0
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
            incident_density=u.incident_density_factor,
            day_cv=u.day_cv,
            attraction=u.surge_attraction,
            switch=u.gate_switch_share,
            give_up_p=1.0 - (1.0 - u.give_up_share_per_h) ** period_h,
            refusal=u.refusal_share,
            requeue=u.requeue_share,
            requeue_periods=max(1, round(u.requeue_delay_h / period_h)),
            block_cv=u.block_time_cv,
            ground_cv=u.ground_time_cv,
            abort_p=u.abort_probability,
            divert=u.divert_when_staging_full,
        )


@dataclass
class PlanFollow:
    """The plan's numbers as the stepping reads them, computed once with the model."""

    flow_cum: np.ndarray  # (T, A, C) people the plan has sent on each arc by each period
    out_cum: np.ndarray  # (T, S) people the plan has sent from each site by each period
    share: np.ndarray  # (T, M) people the plan puts on each sortie of a move in each period

    @classmethod
    def of(cls, plan: PlanArrays, net: Network, move_arc: np.ndarray) -> PlanFollow:
        T, S, M = net.T, len(net.sites), len(net.move_fleet)
        tot = plan.flow.sum(axis=2)  # (T, A)
        out_site = np.zeros((T, S))
        np.add.at(out_site.T, net.arc_from.astype(np.int64), tot.T)
        arcflow = np.zeros((T, M))
        fwd = move_arc >= 0
        arcflow[:, fwd] = tot[:, move_arc[fwd]]
        sortie = plan.sorties
        return cls(
            flow_cum=plan.flow_cum,
            out_cum=np.cumsum(out_site, axis=0),
            share=np.where(sortie > 0, arcflow / np.maximum(sortie, 1), 0.0),
        )


@dataclass
class SimModel:
    """Everything a batch of runs needs: the compiled network (:class:`Network`, read as it is)
    and what the simulator adds to it, as numpy arrays: a few of the network's arrays laid out
    period first or cohort last for the vectorised core (named by their axes, ``appear_tsc``),
    the aircraft as individuals, the dispatch policy's lookups, the uncertainty, the plan to
    follow, and the static indices of the stepping (:class:`Indices`)."""

    net: Network
    # the network's arrays in the layout the core reads
    appear_tsc: np.ndarray  # (T, S, C) people appearing
    arc_allowed_ac: np.ndarray  # (A, C) may the cohort use the arc (at any time)
    screening: Screening  # who a gate accepts over time, people turned away
    arc_open_ta: np.ndarray  # (T, A) may people depart on the arc
    move_open_tm: np.ndarray  # (T, M) may the move depart
    hold_cap: np.ndarray  # (S, T) holding capacity the simulator enforces (inf at crowds)
    prio_order: np.ndarray  # cohorts, highest priority first (stable)
    gates: np.ndarray  # (G,) site index of each gate
    gate_area: np.ndarray  # (G,) m2, nan without a crowd area
    gate_rate_h: np.ndarray  # (G,) people per hour (inf = unlimited)
    gate_width: np.ndarray  # (G,) m, width of the approach where the queue stands (nan: no area)
    gate_cohort_ok: np.ndarray  # (C, G) may the cohort be called to the gate
    gate_back: np.ndarray  # (G, C) the assembly point a cohort goes back to from a gate, or -1
    news_t: np.ndarray  # (T,) the news factor on every gate's surge chance
    crowd: CrowdPhysics  # how a crowd packs, queues and slows its gate
    staging: np.ndarray  # (B,) staging bases
    layers: list[np.ndarray]  # sites in the order people move through them within a period
    # aircraft
    fleet_count: np.ndarray  # (F,) aircraft of each fleet, int
    fleet_op: np.ndarray  # (F,) operator index
    operators: list[str]
    ac_fleet: np.ndarray  # (N,) aircraft -> fleet (aircraft of a fleet are contiguous)
    ac_j: np.ndarray  # (N,) index of the aircraft within its fleet
    ac_home: np.ndarray  # (N,)
    move_arc: np.ndarray  # (M,) the people arc of an outbound move, -1 for back
    block_h: np.ndarray  # (M,)
    ground_dest_h: np.ndarray  # (M,) ground time at the destination
    ground_origin_periods: np.ndarray  # (M,) periods an abort keeps the aircraft on the ground
    sub: np.ndarray  # (M, S) move of the same fleet from a site to the same destination, or -1
    alt: np.ndarray  # (M, K) other outbound moves of the fleet from the origin to a staging base
    fleet_fwd: np.ndarray  # (F, K) outbound moves of each fleet, -1 padding
    fleet_all: np.ndarray  # (F, K) all moves of each fleet, -1 padding
    home_move: np.ndarray  # (F, S) the fleet's move from a site to its home, or -1
    leave_move: np.ndarray  # (F, S) where an aircraft goes when it must leave a site (to free
    # the evacuation airport's ramp, or at an airfield's max_ground_h): home, or its fleet's
    # shortest flight from there; -1 if none
    ground_wait: np.ndarray  # (F, S) periods an aircraft may wait once ready (max_ground_h), -1
    lift_quota: np.ndarray  # (T, C) people of a cohort the evacuation airport admits at once
    runway: Runway  # departure and arrival slots, runway movements (rates that may change)
    crews: Crews  # sorties and hours in use per fleet in 24 h (crews, maintenance)
    stays: StayLimits  # sites where people stay at most, or at least, some periods
    mog_eff: np.ndarray  # (S, T) MOG plus aircraft not yet (or no longer) available held at home
    rnd: Randomness
    plan: PlanArrays | None = None
    chunk: int = 24  # periods of random draws taken at a time (fixed: results do not depend on it)
    notes: list[str] = field(default_factory=list)
    ix: Indices = field(init=False)  # the static indices of the stepping
    follow: PlanFollow | None = field(init=False)  # the plan's numbers, with a plan
    T: int = field(init=False)  # periods (the network's, as a number: the steps read it often)
    # (N,) departures each aircraft may make in any 24 hours (evacops.sim.crews.allowance)
    tail_most: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.T = self.net.T
        self.ix = build_indices(self)
        self.follow = (
            None if self.plan is None else PlanFollow.of(self.plan, self.net, self.move_arc)
        )
        self.tail_most = allowance(self.crews, self.ac_fleet, self.plan)

    @property
    def name(self) -> str:
        return self.net.scenario.name

    @property
    def start(self) -> datetime:
        return self.net.timeline.start

    @property
    def period_h(self) -> float:
        return self.net.period_h

    @property
    def deadline_period(self) -> int:
        return self.net.deadline_period

    @property
    def safe_density_per_m2(self) -> float:
        return self.net.scenario.safe_density_per_m2

    @property
    def S(self) -> int:
        return len(self.net.sites)

    @property
    def C(self) -> int:
        return len(self.net.cohorts)

    @property
    def N(self) -> int:
        return len(self.ac_fleet)

    @property
    def M(self) -> int:
        return len(self.net.move_fleet)

    @property
    def A(self) -> int:
        return len(self.net.arc_from)

    @property
    def G(self) -> int:
        return len(self.gates)

    @property
    def total_people(self) -> float:
        return float(self.appear_tsc.sum())

    def day_index(self) -> tuple[np.ndarray, list]:
        """(day number of each period, the local dates): days in the scenario's UTC offset."""
        from datetime import timedelta

        dates = [(self.start + timedelta(hours=t * self.period_h)).date() for t in range(self.T)]
        days = sorted(set(dates))
        pos = {d: i for i, d in enumerate(days)}
        return np.array([pos[d] for d in dates], dtype=int), days


def _gate_cohorts(net: Network, gates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """((C, G) may each cohort be called to each gate, (G, C) the assembly point it goes back to
    from there: the origin of the first call leg into the gate it may use, or -1)."""
    C, G = len(net.cohorts), gates.size
    ok = np.zeros((C, G), dtype=bool)
    back = np.full((G, C), -1, dtype=np.int64)
    kind = net.site_kind
    for j, g in enumerate(gates):
        into = np.flatnonzero((net.arc_to == g) & (kind[net.arc_from] == "assembly"))
        for a in into:
            allowed = net.arc_allowed[:, a]
            ok[:, j] |= allowed
            back[j] = np.where(allowed & (back[j] < 0), net.arc_from[a], back[j])
    return ok, back


def _news(sc: Scenario, net: Network) -> np.ndarray:
    """(T,) the product of the news events' factors in force in each period (1 without)."""
    out = np.ones(net.T)
    tl = net.timeline
    for e in sc.events:
        if e.kind == "news":
            assert e.start is not None and e.end is not None and e.factor is not None
            a, b = tl.period_of(e.start), tl.period_of(e.end)
            out[max(a, 0) : max(min(b, net.T), 0)] *= e.factor
    return out


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


def _move_times(sc: Scenario, net: Network) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each move's block time (h), ground time at its destination (h) and the periods an abort
    keeps the aircraft on the ground at its origin."""
    M = len(net.move_fleet)
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
        g_orig[m] = max(
            1, net.timeline.periods(orig_af.ground_time_for(f.type) if orig_af else 1.0)
        )
    return block, g_dest, g_orig


def _substitutes(net: Network, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sub, alt): for each move, the move of its fleet from each site to the same destination
    (or -1), and the other outbound moves of its fleet from its origin to a staging base,
    nearest first (-1 padding)."""
    M, S = len(net.move_fleet), len(net.sites)
    kinds = net.site_kind
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
    return sub, padded(alt_rows)


def _home_moves(net: Network, home_site: np.ndarray) -> np.ndarray:
    """(F, S) each fleet's move from a site to its home, or -1."""
    F, S = len(net.fleets), len(net.sites)
    home_move = np.full((F, S), -1, dtype=np.int64)
    for m in range(len(net.move_fleet)):
        f = int(net.move_fleet[m])
        if net.move_to[m] == home_site[f] and home_move[f, net.move_from[m]] < 0:
            home_move[f, net.move_from[m]] = m
    return home_move


def _leave_moves(net: Network, home_move: np.ndarray, block: np.ndarray) -> np.ndarray:
    """(F, S) each fleet's move off a site when an aircraft must leave it (to free the
    evacuation airport's ramp, or at the end of an airfield's ``max_ground_h``): home, or
    (based there) its shortest flight from it; -1 if it has none."""
    F, S = len(net.fleets), len(net.sites)
    out = np.full((F, S), -1, dtype=np.int64)
    for f in range(F):
        for s in range(S):
            mine = np.flatnonzero((net.move_fleet == f) & (net.move_from == s))
            if home_move[f, s] >= 0:
                out[f, s] = home_move[f, s]
            elif mine.size:
                out[f, s] = mine[np.argmin(block[mine])]
    return out


def _ground_waits(net: Network) -> np.ndarray:
    """(F, S) the network's ``station_wait`` by fleet and site (-1: no limit, or no station)."""
    out = np.full((len(net.fleets), len(net.sites)), -1, dtype=np.int64)
    for k, (f, s) in enumerate(net.stations):
        out[f, s] = net.station_wait[k]
    return out


def _lift_quota(net: Network, hold_cap: np.ndarray) -> np.ndarray:
    """(T, C) people of each cohort the evacuation airport admits at once without a plan:
    LIFT_LOADS loads of the aircraft available that may carry the cohort, each fleet's loads
    shared among the cohorts it may carry; where the cohorts' quotas together exceed the
    airport's holding capacity, each is cut in the same proportion. Without that cut, on Kabul,
    the nations' cohorts (each with two loads of its own aircraft, 11,288 in all) filled the
    10,000 places airside with people their hubs could not yet take, and no SIV applicant could
    get in to the US aircraft for days."""
    F, C = len(net.fleets), len(net.cohorts)
    carry = np.zeros((F, C), dtype=bool)  # the fleet may carry the cohort out of the airport
    for a, m in enumerate(net.arc_move):
        if m >= 0 and net.arc_from[a] == net.evac:
            carry[net.move_fleet[m]] |= net.arc_allowed[:, a]
    lift = np.zeros((net.T, C))
    for f in range(F):
        n = int(carry[f].sum())
        if n:
            per = LIFT_LOADS * net.fleet_avail[f] * net.fleet_load[f] / n
            lift += per[:, None] * carry[f][None, :]
    cap = hold_cap[net.evac]  # (T,)
    total = lift.sum(axis=1)
    cut = np.where(np.isfinite(cap) & (total > cap), cap / np.where(total > 0, total, 1.0), 1.0)
    return lift * cut[:, None]


def _mog_eff(net: Network, home_site: np.ndarray) -> np.ndarray:
    """(S, T) MOG plus the aircraft not yet (or no longer) available, held at their home."""
    away = np.zeros((len(net.sites), net.T))
    np.add.at(away, home_site, np.maximum(net.fleet_count[:, None] - net.fleet_avail, 0.0))
    return net.mog[:, None] + away


def build_model(
    sc: Scenario,
    period: str | None = None,
    plan: PlanArrays | None = None,
    net: Network | None = None,
    uncertainty: Uncertainty | None = None,
) -> SimModel:
    """Compile ``sc`` for the simulator; with ``plan``, aircraft and people follow it."""
    net = net or compile_network(sc, period)
    M, F = len(net.move_fleet), len(net.fleets)
    kinds = net.site_kind
    crowd = np.isin(kinds, ["assembly", "gate"])
    gates = np.flatnonzero(kinds == "gate")
    block, g_dest, g_orig = _move_times(sc, net)
    sub, alt = _substitutes(net, block)
    counts = net.fleet_count.astype(int)
    ac_fleet = np.repeat(np.arange(F), counts)
    ac_j = np.concatenate([np.arange(c) for c in counts]) if counts.sum() else np.zeros(0, int)
    home_site = np.array([net.stations[net.fleet_home_station[f]][1] for f in range(F)], dtype=int)
    ops = sorted({f.operator for f in sc.fleets})
    widths = approach_widths(sc)
    ok, back = _gate_cohorts(net, gates)
    hold_cap = np.where(crowd[:, None], np.inf, net.cap)
    home_move = _home_moves(net, home_site)
    move_arc = np.full(M, -1, dtype=np.int64)
    for a, m in enumerate(net.arc_move):
        if m >= 0:
            move_arc[m] = a
    return SimModel(
        net=net,
        appear_tsc=np.ascontiguousarray(np.transpose(net.appear, (2, 1, 0))),
        arc_allowed_ac=np.ascontiguousarray(net.arc_allowed.T),
        arc_open_ta=np.ascontiguousarray(net.arc_open.T),
        move_open_tm=np.ascontiguousarray(net.move_open.T),
        hold_cap=hold_cap,
        prio_order=np.argsort(-net.priority, kind="stable"),
        gates=gates,
        gate_area=net.crowd_area[gates].copy(),
        gate_rate_h=net.rate[gates] / net.period_h,
        gate_width=np.array([widths.get(net.sites[g], np.nan) for g in gates], dtype=float),
        gate_cohort_ok=ok,
        screening=Screening.of(sc, net, gates, ok),
        gate_back=back,
        news_t=_news(sc, net),
        crowd=CrowdPhysics.of(sc),
        staging=np.flatnonzero(kinds == "staging"),
        layers=_layers(net),
        fleet_count=counts,
        fleet_op=np.array([ops.index(f.operator) for f in sc.fleets], dtype=np.int64),
        operators=ops,
        ac_fleet=ac_fleet.astype(np.int64),
        ac_j=ac_j.astype(np.int64),
        ac_home=home_site[ac_fleet].astype(np.int64),
        move_arc=move_arc,
        block_h=block,
        ground_dest_h=g_dest,
        ground_origin_periods=g_orig,
        sub=sub,
        alt=alt,
        fleet_fwd=padded(
            [
                [m for m in range(M) if net.move_fleet[m] == f and net.move_forward[m]]
                for f in range(F)
            ]
        ),
        fleet_all=padded([[m for m in range(M) if net.move_fleet[m] == f] for f in range(F)]),
        home_move=home_move,
        leave_move=_leave_moves(net, home_move, block),
        ground_wait=_ground_waits(net),
        lift_quota=_lift_quota(net, hold_cap),
        runway=Runway.of(net),
        crews=Crews.of(net),
        stays=StayLimits.of(net, hold_cap),
        mog_eff=_mog_eff(net, home_site),
        rnd=Randomness.of(uncertainty or sc.uncertainty, net.period_h),
        plan=plan,
    )
