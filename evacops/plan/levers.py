"""The limits a planner can change, as changes of the plan model's right-hand sides.

A *lever* is one change a planner would ask for, in the planner's unit: one more departure slot
per hour at an airfield over some days, 1,000 more places at a staging base, one more aircraft
for a fleet... Several constraint families may move together: a departure slot per hour raises
both the slot window rows (``Airfield-departures``) and the one-hour rows that keep a window
from bunching its movements (``Airfield-departures-hour``); one more aircraft supplies an
aircraft at home, raises the fleet's crew and maintenance limits and, while the fleet is not
available, holds one more aircraft at home.

:func:`shift` turns a lever into a :class:`Shift`: the HiGHS rows it moves and by how much per
step, computed from the network's arrays with the same helpers the constraint families use
(:meth:`~evacops.network.Network.rate_windows`, :func:`~evacops.plan.constraints.hour_peak`) or
from the model's own right-hand sides. No lever changes a coefficient of the matrix, so the
basis of the LP (:mod:`evacops.plan.basis`) can say what it is worth.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from evacops.network import Network
from evacops.plan.constraints import hour_peak
from evacops.plan.highs import HighsRun


@dataclass(frozen=True)
class Shift:
    """Rows of the HiGHS model (positions) and how far their right-hand side moves per step of
    a lever (the bound a ``<=`` row has above, a ``>=`` row below, both of an equality)."""

    rows: np.ndarray
    delta: np.ndarray

    def __bool__(self) -> bool:
        return bool(len(self.rows))


@dataclass(frozen=True)
class Kind:
    """One kind of lever: which entities it is about (``site``, ``arc`` or ``fleet``), the
    families it moves, its step and unit, and how a planner says it."""

    key: str
    axis: str
    families: tuple[str, ...]
    step: float
    unit: str
    windowed: bool = True  # False: for the whole horizon (an aircraft is not hired for a day)


KINDS: tuple[Kind, ...] = (
    Kind(
        "departure_slots", "site", ("Airfield-departures", "Airfield-departures-hour"), 1, "slot/h"
    ),
    Kind("arrival_slots", "site", ("Airfield-arrivals", "Airfield-arrivals-hour"), 1, "slot/h"),
    Kind(
        "runway_movements",
        "site",
        ("Airfield-movements", "Airfield-movements-hour"),
        1,
        "movement/h",
    ),
    Kind("holding", "site", ("Site-holding",), 1000, "places"),
    Kind("processing", "site", ("Site-processing",), 100, "people/h"),
    Kind("ground_leg", "arc", ("Arc-capacity",), 100, "people/h"),
    Kind("parking", "site", ("Airfield-mog",), 1, "aircraft"),
    Kind("crew", "fleet", ("Fleet-crew",), 1, "sortie/aircraft/day"),
    Kind("maintenance", "fleet", ("Fleet-maintenance",), 1, "h/aircraft/day"),
    Kind(
        "aircraft",
        "fleet",
        (
            "Station-balance",
            "Station-availability",
            "Airfield-mog",
            "Fleet-crew",
            "Fleet-maintenance",
        ),
        1,
        "aircraft",
        windowed=False,
    ),
    Kind("stay", "site", ("Site-stay",), 1000, "people"),
    Kind("dwell", "site", ("Site-dwell",), 1000, "people"),
)
KIND = {k.key: k for k in KINDS}

FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(f for k in KINDS for f in k.families))
"""Every family a lever moves."""


@dataclass(frozen=True)
class Lever:
    """One step of a kind of lever for one entity (site, arc or fleet index) over periods
    ``start`` to ``end`` (exclusive)."""

    kind: str
    entity: int
    start: int
    end: int

    def name(self, net: Network) -> str:
        axis = KIND[self.kind].axis
        if axis == "arc":
            return net.arc_leg[self.entity]
        return (net.fleets if axis == "fleet" else net.sites)[self.entity]

    def phrase(self, net: Network) -> str:
        """What the lever is, in a planner's words ("one more departure slot per hour at HKIA")."""
        return _PHRASES[self.kind](net, self.entity)


def _whose(name: str) -> str:
    """A possessive: "UK charters'", "airlift-a's"."""
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def _site_phrase(what: str) -> Callable[[Network, int], str]:
    return lambda net, e: what.format(net.sites[e])


def _holding_phrase(net: Network, e: int) -> str:
    kind, name = net.site_kind[e], net.sites[e]
    if kind == "gate":
        return f"room for 1,000 more people in front of {name}"
    if e == net.evac:
        return f"1,000 more places inside {name}"
    where = "the staging base " if kind == "staging" else ""
    return f"1,000 more places at {where}{name}"


def _processing_phrase(net: Network, e: int) -> str:
    verb = {"gate": "screened at", "assembly": "sent on from"}.get(
        str(net.site_kind[e]), "processed at" if e == net.evac else "out-processed at"
    )
    return f"100 more people per hour {verb} {net.sites[e]}"


_PHRASES: dict[str, Callable[[Network, int], str]] = {
    "departure_slots": _site_phrase("one more departure slot per hour at {}"),
    "arrival_slots": _site_phrase("one more arrival slot per hour at {}"),
    "runway_movements": _site_phrase("one more runway movement per hour at {}"),
    "holding": _holding_phrase,
    "processing": _processing_phrase,
    "ground_leg": lambda net, e: f"100 more people per hour on {net.arc_leg[e]}",
    "parking": _site_phrase("parking for one more aircraft at {}"),
    "crew": lambda net, e: (
        f"one more sortie per aircraft per day for {_whose(net.fleets[e])} crews"
    ),
    "maintenance": lambda net, e: (
        f"one more hour in use per aircraft per day for {net.fleets[e]} (maintenance)"
    ),
    "aircraft": lambda net, e: f"one more {net.fleet_type[e]} for {net.fleets[e]}",
    "stay": _site_phrase("1,000 people allowed to stay past the stay limit at {}"),
    "dwell": _site_phrase("1,000 people allowed to leave {} before the minimum dwell"),
}


# ---- right-hand sides ----------------------------------------------------------------------------


class Rows:
    """The HiGHS rows and right-hand sides of a solved plan model's families, read once."""

    def __init__(self, net: Network, run: HighsRun):
        self.net = net
        self.pos = {f: run.rows(f) for f in FAMILIES if f in run.m.constraints}
        self.rhs = {f: run.m.constraints[f].rhs.values for f in self.pos}
        self.windows = {
            "Airfield-departures": net.rate_windows(net.dep_rate)[0],
            "Airfield-arrivals": net.rate_windows(net.arr_rate)[0],
            "Airfield-movements": net.rate_windows(net.mov_rate)[0],
        }

    def entities(self, kind: Kind) -> np.ndarray:
        """Indices of the entities the kind can be about: those with a row in one of its
        families (fleets with aircraft available at some time, for more aircraft)."""
        net = self.net
        if kind.key == "aircraft":
            return np.flatnonzero((net.fleet_count > 0) & (net.fleet_avail.max(axis=1) > 0))
        has = [(self.pos[f] >= 0).any(axis=1) for f in kind.families if f in self.pos]
        return np.flatnonzero(np.any(has, axis=0)) if has else np.zeros(0, dtype=int)


_RATES = {
    "Airfield-departures": "dep_rate",
    "Airfield-arrivals": "arr_rate",
    "Airfield-movements": "mov_rate",
}


def _slot_deltas(rows: Rows, kind: Kind, e: int, on: np.ndarray) -> dict[str, np.ndarray]:
    """A slot (or movement) per hour more in the periods ``on``: each window row gains the
    window's periods that are on x the period length; each one-hour row gains what the rounded
    up rate of its hour gains (:func:`~evacops.plan.constraints.hour_peak`)."""
    net = rows.net
    fam, hour_fam = kind.families
    per_h = getattr(net, _RATES[fam])[e : e + 1]
    w = rows.windows[fam][e : e + 1]
    more = per_h + kind.step * on[None, :]
    c = np.concatenate([[0.0], np.cumsum(on * kind.step * net.period_h)])
    t = np.arange(1, net.T + 1)
    out = {fam: c[t] - c[np.maximum(t - int(w[0]), 0)]}
    _, before = hour_peak(net.period_h, per_h, w)
    _, after = hour_peak(net.period_h, more, w)
    with np.errstate(invalid="ignore"):  # no limit (inf) in some hours: no row there
        out[hour_fam] = np.where(np.isfinite(before[0]), after[0] - before[0], 0.0)
    return out


def _aircraft_deltas(rows: Rows, e: int) -> dict[str, tuple[int, np.ndarray]]:
    """One more aircraft of fleet ``e``, available whenever the fleet has any: supplied at home
    at the start; held at home (``Station-availability``) and counted there as not on its ground
    (``Airfield-mog``) while the fleet is not available; its crews and maintenance hours added to
    the fleet's (the most aircraft available in a window is one more wherever it is not 0)."""
    net = rows.net
    station = int(net.fleet_home_station[e])
    site = net.stations[station][1]
    off = (net.fleet_avail[e] <= 0).astype(float)
    supply = np.zeros(net.T)
    supply[0] = 1.0
    out = {
        "Station-balance": (station, supply),
        "Station-availability": (station, off),
        "Airfield-mog": (site, off),
    }
    for fam, per_day in (
        ("Fleet-crew", net.fleet_sorties_day[e]),
        ("Fleet-maintenance", 24.0 * net.fleet_up[e]),
    ):
        if fam in rows.rhs and np.isfinite(per_day):
            most = np.nan_to_num(rows.rhs[fam][e], posinf=0.0)
            out[fam] = (e, np.where(most > 0, per_day, 0.0))
    return out


def deltas(rows: Rows, lever: Lever) -> dict[str, tuple[int, np.ndarray]]:
    """family -> (row of the family's first axis, change per period of its right-hand side)
    for one step of ``lever``."""
    kind = KIND[lever.kind]
    net, e = rows.net, lever.entity
    on = np.zeros(net.T)
    on[lever.start : lever.end] = 1.0
    if kind.key == "aircraft":
        return _aircraft_deltas(rows, e)
    if kind.families[0] in _RATES:
        return {f: (e, v) for f, v in _slot_deltas(rows, kind, e, on).items()}
    (fam,) = kind.families
    if kind.key in ("processing", "ground_leg"):
        return {fam: (e, kind.step * net.period_h * on)}
    if kind.key in ("crew", "maintenance"):
        per_day = net.fleet_sorties_day[e] if kind.key == "crew" else 24.0 * net.fleet_up[e]
        rhs = rows.rhs.get(fam)
        most = np.zeros(net.T) if rhs is None else np.nan_to_num(rhs[e], posinf=0.0) / per_day
        return {fam: (e, kind.step * most * on)}
    return {fam: (e, kind.step * on)}


def shift(rows: Rows, lever: Lever) -> Shift:
    """The HiGHS rows ``lever`` moves, and by how much per step."""
    pos, val = [], []
    for fam, (i, d) in deltas(rows, lever).items():
        if fam not in rows.pos:
            continue
        p = rows.pos[fam][i]
        keep = (p >= 0) & np.isfinite(d) & (np.abs(d) > 1e-12)
        pos.append(p[keep])
        val.append(d[keep])
    if not pos:
        return Shift(np.zeros(0, dtype=np.int32), np.zeros(0))
    return Shift(np.concatenate(pos).astype(np.int32), np.concatenate(val).astype(float))
