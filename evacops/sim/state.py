"""The state of a batch of runs, in a few small parts; every array has the runs axis first.

- :class:`People`: counts by cohort at each site, on the way by ground, aboard and landing;
- :class:`Aircraft`: individual aircraft (where each is, its move, when it lands and is ready,
  who is aboard) and the rings of departures and arrivals counted against slots;
- :class:`Gates`: incidents going on at each gate;
- :class:`Period`: what the steps of one period share (people at each site now, rooms left on
  arcs and at sites, flows so far, departures and people who stepped off); made anew each period.

The stepping itself is in :mod:`evacops.sim.core` and the modules it calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from evacops.sim.model import SimModel


@dataclass
class People:
    """People as counts by cohort: at sites, on the way by ground, landing."""

    H: np.ndarray  # (R, S, C) people at each site at the end of the last period
    ring: np.ndarray  # (D, R, S, C) people arriving by ground, by period (a ring)
    inbound: np.ndarray  # (R, S, C) people on the way by ground
    X: np.ndarray  # (R, A, C) cumulative flows that followed the plan
    land_sched: np.ndarray  # (LB, R, S) people aboard landing at a site, by period (a ring)
    stay_hold: np.ndarray  # (H, R, n) people at each site with a stay limit, by period (a ring)
    stay_cum: np.ndarray  # (H, R, n) people who have left it by the end of each period (a ring)
    pool: np.ndarray  # (R, S) people processed and still waiting at pooled sites (Network.pooled)

    @classmethod
    def new(cls, md: SimModel, R: int) -> People:
        S, C, A = md.S, md.C, md.A
        return cls(
            H=np.zeros((R, S, C)),
            ring=np.zeros((md.ix.ring, R, S, C)),
            inbound=np.zeros((R, S, C)),
            X=np.zeros((R, A, C)),
            land_sched=np.zeros((md.ix.land_ring, R, S)),
            stay_hold=np.zeros((md.stays.H, R, md.stays.sites.size)),
            stay_cum=np.zeros((md.stays.H, R, md.stays.sites.size)),
            pool=np.zeros((R, S)),
        )


@dataclass
class Aircraft:
    """Each aircraft of each run, and the slot counts of their departures and arrivals."""

    loc: np.ndarray  # (R, N) site, or -1 in the air
    dest: np.ndarray  # (R, N) where it flies to, -1 on the ground
    mv: np.ndarray  # (R, N) its last move
    eta: np.ndarray  # (R, N) period it lands (or landed)
    ready: np.ndarray  # (R, N) period it may leave again
    gnd_off: np.ndarray  # (R, N) periods on the ground after landing
    onboard: np.ndarray  # (R, N, C) people aboard
    ob_tot: np.ndarray  # (R, N) people aboard, all cohorts
    ptr: np.ndarray  # (R, N) its next planned sortie
    next_tp: np.ndarray  # (R, N) planned departure period of that sortie (with a plan)
    wait: np.ndarray  # (R, N) periods waited (the dispatch policy)
    held: np.ndarray  # (R, N) held for a full staging base last period
    airborne: np.ndarray  # (R, N) periods in the air
    dep_ring: np.ndarray  # (W, R, S) departures by period (a ring), for departure slots
    arr_ring: np.ndarray  # (W, R, S) arrivals by period, for arrival slots
    crew_ring: np.ndarray  # (24 h, R, F) sorties that took off by period, for crews
    use_ring: np.ndarray  # (24 h, R, F) periods in use they started, for maintenance
    tail_ring: np.ndarray  # (24 h, R, N) each aircraft's departures by period, for its crew

    @classmethod
    def new(cls, md: SimModel, R: int) -> Aircraft:
        N, S, C, W, F = md.N, md.S, md.C, md.ix.slot_ring, len(md.net.fleets)
        if md.plan is not None:
            next_tp = np.broadcast_to(md.plan.sched_dep[:, 0], (R, N)).copy()
        else:
            next_tp = np.zeros((R, N), dtype=np.int64)
        return cls(
            loc=np.broadcast_to(md.ac_home, (R, N)).copy(),
            dest=np.full((R, N), -1, dtype=np.int64),
            mv=np.full((R, N), -1, dtype=np.int64),
            eta=np.zeros((R, N), dtype=np.int64),
            ready=np.zeros((R, N), dtype=np.int64),
            gnd_off=np.zeros((R, N), dtype=np.int64),
            onboard=np.zeros((R, N, C)),
            ob_tot=np.zeros((R, N)),
            ptr=np.zeros((R, N), dtype=np.int64),
            next_tp=next_tp,
            wait=np.zeros((R, N), dtype=np.int64),
            held=np.zeros((R, N), dtype=bool),
            airborne=np.zeros((R, N), dtype=np.int64),
            dep_ring=np.zeros((W, R, S), dtype=np.int64),
            arr_ring=np.zeros((W, R, S), dtype=np.int64),
            crew_ring=np.zeros((md.crews.W, R, F), dtype=np.int64),
            use_ring=np.zeros((md.crews.W, R, F), dtype=np.int64),
            tail_ring=np.zeros((md.crews.W, R, N), dtype=np.int64),
        )

    @staticmethod
    def count(site: np.ndarray, mask: np.ndarray, S: int) -> np.ndarray:
        """(R, S) aircraft counts by site (``site``: (R, N)), of those in ``mask``."""
        R = site.shape[0]
        code = (np.arange(R)[:, None] * S + site)[mask]
        return np.bincount(code, minlength=R * S).reshape(R, S)

    def on_ground(self, S: int) -> np.ndarray:
        """(R, S) aircraft on the ground at each site."""
        return self.count(self.loc, self.loc >= 0, S)

    def inbound(self, S: int) -> np.ndarray:
        """(R, S) aircraft in the air bound for each site."""
        return self.count(self.dest, (self.loc < 0) & (self.dest >= 0), S)


@dataclass
class Gates:
    """Incidents at the gates (they last over periods)."""

    inc_left: np.ndarray  # (R, G) periods left of an incident at each gate


Departed = tuple[np.ndarray, np.ndarray, np.ndarray]  # (runs, aircraft, moves)
SteppedOff = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # (runs, aircraft, site, people)


@dataclass
class Period:
    """What the steps of period ``t`` share."""

    t: int
    A: np.ndarray  # (R, S, C) people at each site now
    arrived: np.ndarray  # (R, S, C) arrived by ground legs that take time
    site_open: np.ndarray  # (R, S) open in this period (gate incidents)
    rate_eff: np.ndarray  # (R, S) people who may leave each site (random screening)
    nd_move: np.ndarray  # (R, M) sorties leaving
    gone: list[Departed] = field(default_factory=list)  # departures
    off: list[SteppedOff] = field(default_factory=list)  # people who stepped off
    # set by the people step (evacops.sim.flows)
    flow_t: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (R, A, C) flows
    out_t: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (R, C) off the airport
    d0: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (R, A, C) delay-0, planned
    d0s: np.ndarray = field(default_factory=lambda: np.zeros(0))  # and not planned
    arc_room: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (R, A)
    site_room: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (R, S)
    # who waits for each call arc before anyone surges this period (evacops.sim.crowds)
    surge_waiting: np.ndarray | None = None
    surge_all: np.ndarray | None = None
    # (R, S) the room each site has for people landing next period (evacops.sim.stays)
    stay_next: np.ndarray | None = None
    # (R,) the room at a site for people landing in a period, by (site, period) (evacops.sim.flows)
    stay_at: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    due: np.ndarray | None = None  # (R, n) people whose stay at each site ends now
