"""The static indices the stepping reads: lookups that depend only on the model, computed once
when the model is built (:class:`Indices`, ``SimModel.ix``), never per batch or per period.

They group the network's arcs and sites the ways the steps walk them: arcs by the site they
leave (and by layer, sorted for segment sums), the call-forward arcs from assembly points to
gates, the arcs bound for each site, the (fleet, airfield) pairs of the dispatch policy, the
positions of gates and staging bases among the sites, and the lengths of the rings that hold
what arrives or lands in later periods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from evacops.sim.model import SimModel

#: an aircraft that is ready but not full, at an airfield without departure slots, leaves after
#: waiting this long with people to carry; one with nobody to carry and nowhere to go flies home
#: after waiting this long (the dispatch policy, docs/simulation.md)
MAX_WAIT_H = 2.0


def segments(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the key of each run of equal keys, where each run starts) in a sorted array."""
    start = np.ones(keys.size, dtype=bool)
    start[1:] = keys[1:] != keys[:-1]
    idx = np.flatnonzero(start)
    return keys[idx], idx


@dataclass
class LayerArcs:
    """The arcs leaving one layer's sites, sorted by origin, as segments for sums by site."""

    arcs: np.ndarray  # (a,) arc indices
    sites: np.ndarray  # origin site of each segment
    starts: np.ndarray  # where each segment starts
    seg: np.ndarray  # (a,) segment of each arc


@dataclass
class Pairs:
    """(fleet, airfield) pairs where a fleet's outbound arcs start (the dispatch policy)."""

    of: np.ndarray  # (F, S) pair index, or -1
    arcs: np.ndarray  # the pairs' outbound arcs, pair after pair
    starts: np.ndarray  # where each pair's arcs start in ``arcs``
    fs: np.ndarray  # (P,) fleet * S + site
    load: np.ndarray  # (P,) planning load of the pair's fleet
    fleets: np.ndarray  # fleets that have pairs
    fleet_starts: np.ndarray  # where each fleet's pairs start (pairs are by fleet)

    def __len__(self) -> int:
        return len(self.fs)


@dataclass
class Indices:
    """Every static index of the stepping (see the module's docstring)."""

    fwd_arcs: np.ndarray  # outbound air arcs
    capped: np.ndarray  # sites with a finite holding capacity the simulator enforces
    gate_pos: np.ndarray  # (S,) position among the gates, or -1
    stage_pos: np.ndarray  # (S,) position among the staging bases, or -1
    is_assembly: np.ndarray  # (S,) bool
    layer_of: np.ndarray  # (S,) layer of each site
    layer_arcs: list[LayerArcs]
    site_arcs: list[np.ndarray]  # arcs leaving each site
    call_arcs: np.ndarray  # ground arcs from an assembly point to a gate
    bound_arcs: list[np.ndarray]  # air arcs bound for each site
    gate_cap: np.ndarray  # (G, T) safe crowd (area x safe density)
    pairs: Pairs
    fleet_slices: list[slice]  # each fleet's aircraft
    max_wait: int  # periods of MAX_WAIT_H
    ring: int  # periods of the ring of people arriving by ground (D)
    land_ring: int  # periods of the ring of people landing (LB)
    slot_ring: int  # periods of the rings of departures and arrivals counted for slots (W)
    day_of: np.ndarray  # (T,) local day of each period


def _layer_arcs(md: SimModel) -> list[LayerArcs]:
    net = md.net
    out = []
    for layer in md.layers:
        arcs = np.flatnonzero(np.isin(net.arc_from, layer))
        arcs = arcs[np.argsort(net.arc_from[arcs], kind="stable")]
        sites, starts = segments(net.arc_from[arcs])
        seg = np.cumsum(np.isin(np.arange(arcs.size), starts)) - 1
        out.append(LayerArcs(arcs, sites, starts, seg))
    return out


def _pairs(md: SimModel) -> Pairs:
    net, S, F = md.net, md.S, len(md.net.fleets)
    pairs: list[tuple[int, int, np.ndarray]] = []
    pair_of = np.full((F, S), -1, dtype=np.int64)
    for f in range(F):
        per: dict[int, list[int]] = {}
        for m in md.fleet_fwd[f]:
            if m >= 0:
                per.setdefault(int(net.move_from[m]), []).append(int(md.move_arc[m]))
        for s, arc_list in per.items():
            pair_of[f, s] = len(pairs)
            pairs.append((f, s, np.array(arc_list, dtype=np.int64)))
    fleet_of_pair = np.array([f for f, _, _ in pairs], dtype=np.int64)
    pair_fleets, fleet_starts = segments(fleet_of_pair)
    return Pairs(
        of=pair_of,
        arcs=np.concatenate([a for _, _, a in pairs]) if pairs else np.zeros(0, int),
        starts=np.cumsum([0] + [len(a) for _, _, a in pairs])[:-1],
        fs=np.array([f * S + s for f, s, _ in pairs], dtype=np.int64),
        load=np.array([net.fleet_load[f] for f, _, _ in pairs]),
        fleets=pair_fleets,
        fleet_starts=fleet_starts,
    )


def build_indices(md: SimModel) -> Indices:
    """The static indices of ``md`` (everything but ``md.ix`` must be set)."""
    net, S = md.net, md.S
    is_assembly = net.site_kind == "assembly"
    gate_pos = np.full(S, -1, dtype=np.int64)
    gate_pos[md.gates] = np.arange(md.G)
    stage_pos = np.full(S, -1, dtype=np.int64)
    stage_pos[md.staging] = np.arange(len(md.staging))
    layer_of = np.zeros(S, dtype=np.int64)
    for i, layer in enumerate(md.layers):
        layer_of[layer] = i
    fleet_slices = []
    start = 0
    for f in range(len(net.fleets)):
        n = int(md.fleet_count[f])
        fleet_slices.append(slice(start, start + n))
        start += n
    return Indices(
        fwd_arcs=np.flatnonzero(net.arc_move >= 0),
        capped=np.flatnonzero(np.isfinite(md.hold_cap).any(axis=1)),
        gate_pos=gate_pos,
        stage_pos=stage_pos,
        is_assembly=is_assembly,
        layer_of=layer_of,
        layer_arcs=_layer_arcs(md),
        site_arcs=[np.flatnonzero(net.arc_from == s) for s in range(S)],
        call_arcs=np.flatnonzero(is_assembly[net.arc_from] & (net.site_kind[net.arc_to] == "gate")),
        bound_arcs=[np.flatnonzero((net.arc_move >= 0) & (net.arc_to == s)) for s in range(S)],
        gate_cap=net.cap[md.gates],
        pairs=_pairs(md),
        fleet_slices=fleet_slices,
        max_wait=max(1, int(np.ceil(MAX_WAIT_H / md.period_h - 1e-9))),
        # + 1: people waiting at an entrance; people turned away at a gate queue again later
        ring=max(int(net.arc_delay.max(initial=0)), md.rnd.requeue_periods) + 2,
        land_ring=2 * int(net.move_land.max(initial=1)) + 4,
        slot_ring=md.runway.ring,
        day_of=md.day_index()[0],
    )
