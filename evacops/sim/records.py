"""What a batch records of its runs, period by period (Mesa's DataCollector, kept out of the
stepping): people off the evacuation airport and delivered, crowds at gates, people at staging
bases, sorties, holds, aborts; with ``audit``, every flow, sortie and count per period that the
tests check the invariants on."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from evacops.sim.arrays import rsum

if TYPE_CHECKING:
    from evacops.sim.core import Batch
    from evacops.sim.model import SimModel

Records = dict[str, np.ndarray]


def new_records(md: SimModel, R: int, audit: bool) -> Records:
    """The records of ``R`` runs, zero (each an array whose first axis is the run)."""
    T = md.T
    nd = int(md.ix.day_of.max(initial=0)) + 1
    n_op, F, B, G = len(md.operators), len(md.net.fleets), len(md.staging), md.G
    rec: Records = {
        "out": np.zeros((R, md.C, T)),
        "delivered": np.zeros((R, T)),
        "out_op_day": np.zeros((R, n_op, nd)),
        "flights_op_day": np.zeros((R, n_op, nd), dtype=np.int64),
        "gate_crowd": np.zeros((R, G, T), dtype=np.float32),
        "stage_hold": np.zeros((R, B, T), dtype=np.float32),
        "stage_full_periods": np.zeros((R, B), dtype=np.int64),
        "held_flights": np.zeros((R, B), dtype=np.int64),
        "held_aircraft_periods": np.zeros((R, B), dtype=np.int64),
        "diverted_from": np.zeros((R, B), dtype=np.int64),
        "air_hold_periods": np.zeros((R,), dtype=np.int64),
        "gate_switched": np.zeros((R,)),  # people who walked from a closed gate to another
        "gave_up": np.zeros((R,)),  # people who went back from a gate to their assembly point
        "sorties_out": np.zeros((R, F), dtype=np.int64),
        "sorties_back": np.zeros((R, F), dtype=np.int64),
        "airborne_periods": np.zeros((R, F), dtype=np.int64),
        "people_flown": np.zeros((R, F)),
        "seats_flown": np.zeros((R, F)),
        "aborts": np.zeros((R, F), dtype=np.int64),
        "overstay": np.zeros((R, md.S)),  # person-periods at a site beyond its stay limit
        "refused": np.zeros((R,)),  # people turned away at a gate's screening
        "ramp_freed": np.zeros((R,), dtype=np.int64),  # aircraft sent off to free the ramp
        "ground_over": np.zeros((R,), dtype=np.int64),  # aircraft-periods past max_ground_h
        # each aircraft's most departures in any 24 hours (its crew: evacops.sim.crews)
        "aircraft_most_24h": np.zeros((R, md.N), dtype=np.int64),
        "quit": np.zeros((R, T)),  # people who gave up for good, by period
    }
    if audit:
        S, A, C, M = md.S, md.A, md.C, md.M
        rec.update(
            {
                "in_system": np.zeros((R, T)),  # people at sites, on the way, aboard
                "flows": np.zeros((R, T, A, C)),
                "sorties": np.zeros((R, T, M), dtype=np.int64),
                "hold": np.zeros((R, T, S)),
                "on_ground": np.zeros((R, T, S), dtype=np.int64),
                "dep_count": np.zeros((R, T, S), dtype=np.int64),
                "arr_count": np.zeros((R, T, S), dtype=np.int64),
                "fleet_use": np.zeros((R, T, len(md.net.fleets)), dtype=np.int64),
                "aircraft_dep": np.zeros((R, T, md.N), dtype=np.int8),  # departures, each aircraft
                "gate_people": np.zeros((R, T, G, md.C)),  # by cohort, at the end of a period
                "gate_closed": np.zeros((R, T, G), dtype=bool),  # closed in the period
                "requeue_in": np.zeros((R, T, G, md.C)),  # turned away, queueing again
            }
        )
    return rec


def record(b: Batch, t: int) -> None:
    """Record the end of period ``t``; clear the slot rings' entry for the period W on."""
    md, rec, now, ac, pp = b.md, b.rec, b.now, b.air, b.people
    net = md.net
    rec["out"][:, :, t] = now.out_t
    rec["delivered"][:, t] = rsum(pp.H[:, net.dest_sites].sum(axis=2), 1)
    if md.G:
        rec["gate_crowd"][:, :, t] = pp.H[:, md.gates].sum(axis=2)
    if md.staging.size:
        hold = pp.H[:, md.staging].sum(axis=2)
        rec["stage_hold"][:, :, t] = hold
        cap = net.cap[md.staging, t]
        rec["stage_full_periods"] += np.isfinite(cap)[None, :] & (hold >= cap[None, :] - 1.0)
    ac.airborne += ac.loc < 0
    for rows, cols, m in now.gone:
        if b.audit:
            rec["aircraft_dep"][rows, t, cols] += 1
        fwd = net.move_forward[m]
        np.add.at(rec["sorties_out"], (rows[fwd], net.move_fleet[m[fwd]]), 1)
        np.add.at(rec["sorties_back"], (rows[~fwd], net.move_fleet[m[~fwd]]), 1)
    np.maximum(rec["aircraft_most_24h"], ac.tail_ring.sum(axis=0), out=rec["aircraft_most_24h"])
    W = md.ix.slot_ring
    if b.audit:
        rec["in_system"][:, t] = (
            pp.H.sum(axis=2).sum(axis=1)
            + pp.inbound.sum(axis=2).sum(axis=1)
            + ac.ob_tot.sum(axis=1)
        )
        rec["flows"][:, t] = now.flow_t
        rec["sorties"][:, t] = now.nd_move
        rec["hold"][:, t] = pp.H.sum(axis=2)
        rec["on_ground"][:, t] = ac.on_ground(md.S)
        rec["dep_count"][:, t] = ac.dep_ring[t % W]
        rec["arr_count"][:, t] = ac.arr_ring[t % W]
        rec["fleet_use"][:, t] = ac.use_ring[t % ac.crew_ring.shape[0]]
        rec["gate_people"][:, t] = pp.H[:, md.gates]
        rec["gate_closed"][:, t] = ~now.site_open[:, md.gates]
    # the rings keep a period's counts until they are cleared W periods on
    nxt = (t + 1) % W
    ac.dep_ring[nxt] = 0
    ac.arr_ring[nxt] = 0
    nxt = (t + 1) % ac.crew_ring.shape[0]
    ac.crew_ring[nxt] = 0
    ac.use_ring[nxt] = 0
    ac.tail_ring[nxt] = 0


def finish(b: Batch) -> Records:
    """The records after the last period (flying hours by fleet)."""
    for f, sl in enumerate(b.md.ix.fleet_slices):
        b.rec["airborne_periods"][:, f] = b.air.airborne[:, sl].sum(axis=1)
    return b.rec
