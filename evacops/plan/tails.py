"""Which aircraft flies which sortie, so that each aircraft keeps its crew's rate where the
fleet's sorties allow it (OR-Tools CP-SAT).

The planner holds a fleet's crews to a rate for the fleet as a whole (``Fleet-crew``,
:mod:`evacops.plan.limits`): aircraft of a fleet are interchangeable in the model. The plan's
per-aircraft schedule then gives every sortie an aircraft. A rule taken sortie by sortie
(:func:`evacops.plan.result.take_aircraft`: the ready aircraft with the fewest sorties in the
last 24 hours) cannot look ahead: an aircraft sent now may be the only one at its station for
the next sortie. This module searches the fleet's assignments as a whole, from the rule's:

- every sortie of the fleet is flown by exactly one of its aircraft, one at a time;
- an aircraft flies from where it is: at each station (the fleet at a site) its sorties leave
  only after it is there and ready (``move_ready`` periods after its last departure), starting
  at the fleet's home;
- an aircraft numbered beyond the fleet's available count at a sortie's departure does not fly
  it (aircraft become available in number order);
- where an airfield limits time on the ground (``station_wait`` >= 0), an aircraft that is ready
  there leaves within that many periods (when the horizon is long enough to say);
- objective: the least sum over aircraft of the most sorties by which any 24 hours (``W``
  periods from a departure) exceed the fleet's rate, then the fewest aircraft over at all.

The search starts from the rule's assignment (a hint) and is stopped by a deterministic budget
(CP-SAT's ``max_deterministic_time``, one worker, a fixed seed), so the same plan gives the
same schedule on any machine; the result is kept only if it is better than the rule's. A fleet
the model's aircraft cannot fly this way (a bug) keeps the rule's assignment.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from evacops.network import Network

Events = list[tuple[int, int, list[int]]]
"""A fleet's sorties in departure order: (departure period, move, the aircraft flying it)."""

BUDGET = 2.0
"""CP-SAT's deterministic time per fleet (about seconds of one core)."""

MAX_SIZE = 1_000
"""The most aircraft x sorties searched: beyond, the search costs seconds and, on Kabul's large
fleets (14 aircraft x 229 sorties and more), found nothing better than the rule in 60 s."""


def excess(net: Network, fi: int, events: Events) -> tuple[int, int]:
    """(sum over aircraft of the most sorties above the rate in any 24 hours, aircraft above
    it) for fleet ``fi``'s assignment ``events``."""
    rate = float(net.fleet_sorties_day[fi])
    W = max(1, round(24 / net.period_h))
    per: dict[int, list[int]] = defaultdict(list)
    for t, _m, aids in events:
        for a in aids:
            per[a].append(t)
    total = over = 0
    for deps in per.values():
        d = np.sort(np.asarray(deps))
        most = int((np.searchsorted(d, d + W, side="left") - np.arange(d.size)).max())
        if most > rate + 1e-9:
            total += int(np.ceil(most - rate - 1e-9))
            over += 1
    return total, over


def improve(net: Network, fi: int, events: Events, budget: float = BUDGET) -> Events:
    """``events`` with aircraft reassigned (module docs); ``events`` itself if no better one is
    found within ``budget``."""
    if not np.isfinite(net.fleet_sorties_day[fi]) or not events:
        return events
    before = excess(net, fi, events)
    if before == (0, 0):
        return events
    from ortools.sat.python import cp_model

    units = [(t, m, a) for t, m, aids in events for a in aids]
    N = int(net.fleet_count[fi])
    if N * len(units) > MAX_SIZE:
        return events
    model = cp_model.CpModel()
    avail = net.fleet_avail[fi]
    # x[a][u]: aircraft a flies unit u (only where a is available at u's departure)
    x: list[dict[int, Any]] = [
        {u: model.new_bool_var(f"x{a}_{u}") for u, (t, _, _) in enumerate(units) if a < avail[t]}
        for a in range(N)
    ]
    for u, (_t, _m, a0) in enumerate(units):
        model.add_exactly_one(x[a][u] for a in range(N) if u in x[a])
        for a in range(N):
            if u in x[a]:
                model.add_hint(x[a][u], a == a0)
    _stations(model, net, fi, units, x)
    _ground(model, net, units, x)
    rate = int(np.floor(net.fleet_sorties_day[fi] + 1e-9))
    W = max(1, round(24 / net.period_h))
    deps = np.array([t for t, _, _ in units])
    worst = max(1, len(units))
    e = [model.new_int_var(0, worst, f"e{a}") for a in range(N)]
    over = [model.new_bool_var(f"o{a}") for a in range(N)]
    for a in range(N):
        model.add(e[a] <= worst * over[a])
        for start in np.unique(deps):
            inside = np.flatnonzero((deps >= start) & (deps < start + W))
            lits = _lits(x, a, inside)
            if len(lits) > rate:
                model.add(sum(lits) <= rate + e[a])
    model.minimize((N + 1) * sum(e) + sum(over))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 0
    solver.parameters.max_deterministic_time = budget
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return events
    chosen = [next(a for a in range(N) if u in x[a] and solver.value(x[a][u]))
              for u in range(len(units))]  # fmt: skip
    out: Events = []
    u = 0
    for t, m, aids in events:
        out.append((t, m, sorted(chosen[u : u + len(aids)])))
        u += len(aids)
    return out if excess(net, fi, out) < before else events


def _stations(model, net: Network, fi: int, units, x) -> None:
    """Each aircraft is at one place at a time: at each site, whether it is there after each
    event (a landing ready to leave, or a departure) follows from the one before."""
    home = net.stations[net.fleet_home_station[fi]][1]
    at_site: dict[int, dict[int, tuple[list[int], list[int]]]] = defaultdict(dict)
    for u, (t, m, _) in enumerate(units):
        o, d, r = int(net.move_from[m]), int(net.move_to[m]), t + int(net.move_ready[m])
        at_site[o].setdefault(t, ([], []))[1].append(u)
        at_site[d].setdefault(r, ([], []))[0].append(u)
    N = len(x)
    for site, times in at_site.items():
        for a in range(N):
            here: Any = 1 if site == home else 0  # whether it is there: 0, 1 or a variable
            for tau in sorted(times):
                arrive, leave = times[tau]
                ins, outs = _lits(x, a, arrive), _lits(x, a, leave)
                if not ins and not outs:
                    continue
                y = model.new_bool_var("")
                model.add(y == here + sum(ins) - sum(outs))
                here = y


def _ground(model, net: Network, units, x) -> None:
    """Where the airfield limits time on the ground, an aircraft ready there leaves within the
    station's wait (when the horizon reaches that far)."""
    by_station: dict[int, list[int]] = defaultdict(list)
    for u, (_t, m, _) in enumerate(units):
        by_station[int(net.move_from_station[m])].append(u)
    for u, (t, m, _) in enumerate(units):
        d = int(net.move_to[m])
        r = t + int(net.move_ready[m])
        k = _station_of(net, int(net.move_fleet[m]), d)
        if k is None or net.station_wait[k] < 0 or r + net.station_wait[k] >= net.T:
            continue
        later = [v for v in by_station[k] if r <= units[v][0] <= r + net.station_wait[k]]
        for a in range(len(x)):
            if u in x[a]:
                model.add(sum(_lits(x, a, later)) >= x[a][u])


def _lits(x: list[dict[int, Any]], a: int, units: Any) -> list[Any]:
    """Aircraft ``a``'s literals of ``units`` (those it may fly)."""
    return [x[a][int(u)] for u in units if int(u) in x[a]]


def _station_of(net: Network, fi: int, site: int) -> int | None:
    for k, (f, s) in enumerate(net.stations):
        if f == fi and s == site:
            return k
    return None
