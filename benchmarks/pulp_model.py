"""The evacops planning LP written the way most operations-research users would write it: PuLP.

This is the benchmark's point of comparison for the planner's model (:mod:`evacops.plan.variables`,
:mod:`~evacops.plan.constraints`, :mod:`~evacops.plan.objective`): the *same* model
(same variables under the same masks, same constraint rows, same objective), read from the same
:class:`~evacops.network.Network` arrays, but written idiomatically with PuLP: dicts of
``LpVariable`` keyed by index tuples, Python loops over cohorts, sites, arcs and periods, and
``lpSum``. It does not use linopy. Sorties are continuous, as in the LP that
``evacops.plan.solve_network`` solves by default (``assemble_plan(net)``, ``integer=False``).

Indices are positions in the Network's lists: ``c`` cohort, ``s`` site, ``a`` arc (people),
``m`` move (aircraft), ``k`` station (fleet at an airfield), ``f`` fleet, ``t`` period.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import TypeAlias

import numpy as np
import pulp

from evacops.network import Network

Index: TypeAlias = tuple[int, ...]
VarDict: TypeAlias = dict[Index, pulp.LpVariable]


def per_period(values: np.ndarray, T: int) -> list[list[float]]:
    """A per-site (per-arc) limit as a list per period: the same limit every period."""
    return [[float(v)] * T for v in values.tolist()]


def build_pulp(net: Network) -> tuple[pulp.LpProblem, dict[str, VarDict]]:
    """Build the planning LP of ``net`` with PuLP.

    Returns the problem and its variables: ``{"hold": {(c, s, t): var}, "flow": {(c, a, t): var},
    "sortie": {(m, t): var}, "idle": {(k, t): var}}``, each holding only the variables evacops
    creates (the same masks).
    """
    T = net.T
    dt = net.period_h
    periods = range(T)
    C, S, A = len(net.cohorts), len(net.sites), len(net.arc_name)
    M, K, F = len(net.move_fleet), len(net.stations), len(net.fleets)

    # plain Python data (numpy scalars are slow inside PuLP expressions)
    cap = net.cap.tolist()
    rate = per_period(net.rate, T)
    appear = net.appear.tolist()
    priority = net.priority.tolist()
    arc_from, arc_to = net.arc_from.tolist(), net.arc_to.tolist()
    arc_delay, arc_cap = net.arc_delay.tolist(), per_period(net.arc_cap, T)
    arc_move = net.arc_move.tolist()
    arc_allowed, arc_open = net.arc_allowed.tolist(), net.arc_open.tolist()
    move_fleet, move_open = net.move_fleet.tolist(), net.move_open.tolist()
    move_from, move_to = net.move_from.tolist(), net.move_to.tolist()
    move_from_st, move_to_st = net.move_from_station.tolist(), net.move_to_station.tolist()
    move_land, move_ready = net.move_land.tolist(), net.move_ready.tolist()
    fleet_load, fleet_count = net.fleet_load.tolist(), net.fleet_count.tolist()
    fleet_avail, home = net.fleet_avail.tolist(), net.fleet_home_station.tolist()
    dep_w, dep_most = net.slot_windows(net.dep_slots)
    arr_w, arr_most = net.slot_windows(net.arr_slots)
    dep_w, arr_w = dep_w.tolist(), arr_w.tolist()
    dep_slots, arr_slots = per_period(dep_most, T), per_period(arr_most, T)
    mog = per_period(net.mog, T)
    station_site = [s for _, s in net.stations]
    # aircraft not (yet) available are held idle at home but are not on its ground
    for f in range(F):
        s_home = station_site[net.fleet_home_station[f]]
        for t in periods:
            mog[s_home][t] += max(0.0, float(net.fleet_count[f] - net.fleet_avail[f][t]))

    # adjacency lists
    arcs_in: dict[int, list[int]] = defaultdict(list)
    arcs_out: dict[int, list[int]] = defaultdict(list)
    for a in range(A):
        arcs_in[arc_to[a]].append(a)
        arcs_out[arc_from[a]].append(a)
    moves_in: dict[int, list[int]] = defaultdict(list)  # by station
    moves_out: dict[int, list[int]] = defaultdict(list)
    moves_from_site: dict[int, list[int]] = defaultdict(list)
    moves_to_site: dict[int, list[int]] = defaultdict(list)
    for m in range(M):
        moves_in[move_to_st[m]].append(m)
        moves_out[move_from_st[m]].append(m)
        moves_from_site[move_from[m]].append(m)
        moves_to_site[move_to[m]].append(m)
    stations_at: dict[int, list[int]] = defaultdict(list)
    for k in range(K):
        stations_at[station_site[k]].append(k)

    prob = pulp.LpProblem("evacops_plan", pulp.LpMinimize)

    # ---- variables ---------------------------------------------------------------------------
    # a cohort may be held at a site it may travel from or to, or where it appears
    may_hold: set[tuple[int, int]] = set()
    for c in range(C):
        for a in range(A):
            if arc_allowed[c][a]:
                may_hold.add((c, arc_from[a]))
                may_hold.add((c, arc_to[a]))
        for s in range(S):
            if sum(appear[c][s]) > 0:
                may_hold.add((c, s))
    hold: VarDict = {
        (c, s, t): pulp.LpVariable(f"hold_{c}_{s}_{t}", lowBound=0)
        for c in range(C)
        for s in range(S)
        if (c, s) in may_hold
        for t in periods
    }
    flow: VarDict = {
        (c, a, t): pulp.LpVariable(f"flow_{c}_{a}_{t}", lowBound=0)
        for c in range(C)
        for a in range(A)
        if arc_allowed[c][a]
        for t in periods
        if arc_open[a][t]
    }
    sortie: VarDict = {
        (m, t): pulp.LpVariable(f"sortie_{m}_{t}", lowBound=0)
        for m in range(M)
        for t in periods
        if move_open[m][t]
    }
    idle: VarDict = {
        (k, t): pulp.LpVariable(f"idle_{k}_{t}", lowBound=0) for k in range(K) for t in periods
    }

    def add(name: str, terms: list[tuple[float, pulp.LpVariable]], sense: str, rhs: float) -> None:
        """Add ``sum(coef * var) <sense> rhs`` unless the rhs is infinite or there are no terms."""
        if not terms or not math.isfinite(rhs):
            return
        expr = pulp.lpSum(coef * var for coef, var in terms)
        if sense == "<=":
            prob.addConstraint(expr <= rhs, name)
        elif sense == ">=":
            prob.addConstraint(expr >= rhs, name)
        else:
            prob.addConstraint(expr == rhs, name)

    # ---- people balance: hold[t] - hold[t-1] - arrivals[t] + departures[t] = appearing[t] ------
    for c in range(C):
        for s in range(S):
            if (c, s) not in may_hold:
                continue
            for t in periods:
                terms = [(1.0, hold[c, s, t])]
                if t >= 1:
                    terms.append((-1.0, hold[c, s, t - 1]))
                for a in arcs_in[s]:
                    key = (c, a, t - arc_delay[a])
                    if key in flow:
                        terms.append((-1.0, flow[key]))
                for a in arcs_out[s]:
                    if (c, a, t) in flow:
                        terms.append((1.0, flow[c, a, t]))
                add(f"balance_{c}_{s}_{t}", terms, "==", appear[c][s][t])

    # ---- holding capacity of a site ------------------------------------------------------------
    for s in range(S):
        for t in periods:
            terms = [(1.0, hold[c, s, t]) for c in range(C) if (c, s, t) in hold]
            add(f"holding_{s}_{t}", terms, "<=", cap[s][t])

    # ---- processing rate: people leaving a site per period --------------------------------------
    for s in range(S):
        for t in periods:
            terms = [
                (1.0, flow[c, a, t]) for a in arcs_out[s] for c in range(C) if (c, a, t) in flow
            ]
            add(f"processing_{s}_{t}", terms, "<=", rate[s][t])

    # ---- ground leg capacity, and seats on air legs --------------------------------------------
    for a in range(A):
        m = arc_move[a]
        for t in periods:
            terms = [(1.0, flow[c, a, t]) for c in range(C) if (c, a, t) in flow]
            add(f"ground_cap_{a}_{t}", terms, "<=", arc_cap[a][t])  # inf on air arcs: no row
            if m >= 0:
                if (m, t) in sortie:
                    terms.append((-fleet_load[move_fleet[m]], sortie[m, t]))
                add(f"seats_{a}_{t}", terms, "<=", 0.0)

    # ---- aircraft balance at each station ------------------------------------------------------
    for k in range(K):
        for t in periods:
            terms = [(1.0, idle[k, t])]
            if t >= 1:
                terms.append((-1.0, idle[k, t - 1]))
            for m in moves_out[k]:
                if (m, t) in sortie:
                    terms.append((1.0, sortie[m, t]))
            for m in moves_in[k]:
                ready = (m, t - move_ready[m])
                if ready in sortie:
                    terms.append((-1.0, sortie[ready]))
            supply = sum(fleet_count[f] for f in range(F) if home[f] == k and t == 0)
            add(f"aircraft_{k}_{t}", terms, "==", supply)

    # ---- unavailable aircraft stay idle at home ------------------------------------------------
    for f in range(F):
        for t in periods:
            short = fleet_count[f] - fleet_avail[f][t]
            if short > 0:
                add(f"availability_{f}_{t}", [(1.0, idle[home[f], t])], ">=", short)

    # ---- departure and arrival slots over each site's rolling window ----
    for s in range(S):
        for t in periods:
            dep = [
                (1.0, sortie[m, t - j])
                for m in moves_from_site[s]
                for j in range(dep_w[s])
                if (m, t - j) in sortie
            ]
            add(f"dep_slots_{s}_{t}", dep, "<=", dep_slots[s][t])
            arr = [
                (1.0, sortie[m, t - move_land[m] - j])
                for m in moves_to_site[s]
                for j in range(arr_w[s])
                if (m, t - move_land[m] - j) in sortie
            ]
            add(f"arr_slots_{s}_{t}", arr, "<=", arr_slots[s][t])

    # ---- maximum on ground: idle aircraft plus aircraft within their ground time -----------------
    for s in range(S):
        for t in periods:
            terms = [(1.0, idle[k, t]) for k in stations_at[s]]
            terms += [
                (1.0, sortie[m, t - j])
                for m in moves_to_site[s]
                for j in range(move_land[m], move_ready[m])
                if (m, t - j) in sortie
            ]
            add(f"mog_{s}_{t}", terms, "<=", mog[s][t])

    # ---- objective -----------------------------------------------------------------------------
    ob = net.scenario.objective
    evac = net.evac
    is_dest = [kind == "destination" for kind in net.site_kind.tolist()]
    objective: list[tuple[float, pulp.LpVariable]] = []
    for (c, a, t), var in flow.items():
        coef = 0.0
        if arc_from[a] == evac:  # off the evacuation airport: hours of the horizon left
            coef -= ob.evacuation * priority[c] * (T - t) * dt
        arrival = t + arc_delay[a]
        if is_dest[arc_to[a]] and arrival < T:  # at a destination: hours left after arriving
            coef -= ob.delivery * priority[c] * (T - arrival) * dt
        if coef != 0.0:
            objective.append((coef, var))
    objective += [(ob.sortie, var) for var in sortie.values()]
    is_gate = [kind == "gate" for kind in net.site_kind.tolist()]
    if ob.gate_wait > 0:  # person-hours waiting in front of a gate
        objective += [(ob.gate_wait * dt, var) for (c, s, t), var in hold.items() if is_gate[s]]
    prob += pulp.lpSum(coef * var for coef, var in objective)

    return prob, {"hold": hold, "flow": flow, "sortie": sortie, "idle": idle}
