"""What the planner minimises, as pure functions of the network and the variables' labels.

The plan model (:func:`plan_objective`): minus people off the evacuation airport, weighted by
priority and by the hours of the horizon left when they leave (earlier is better); minus the
delivery weight times people reaching destinations, by the hours left when they arrive (the same
for every cohort); plus the sortie weight per sortie; plus the gate-wait weight per person-hour
waiting in front of a gate. The weights are the scenario's ``objective`` block
(docs/scenario.md).

Priority weighs the evacuation term only. Every constraint on people other than a cohort's own
balance counts the cohorts together, so this is what makes the priority guarantee hold (no
lower-priority person takes a seat out of the evacuation airport that a higher-priority person
waiting beside them could have had; docs/planner.md, "Priority", gives the proof and
:mod:`evacops.plan.priority` checks a plan against it). A delivery term weighted by priority
would break it: it could pay to put a lower-priority person on an earlier seat whose onward
journey is slower.

The repair model (:func:`repair_objective`) prices a person waiting for a seat by what the plan
objective says flying them earlier is worth (:func:`seat_value`), plus the sortie weight.
"""

from __future__ import annotations

import linopy
import numpy as np

from evacops.network import Network
from evacops.plan.rows import flat_expression
from evacops.plan.variables import AircraftVars, PeopleVars, flow_mask


def flow_coefficients(net: Network) -> np.ndarray:
    """(C, A, T) objective coefficient of one person of a cohort setting off on an arc in a
    period: minus priority x evacuation weight x hours left, if the arc leaves the evacuation
    airport; minus delivery weight x hours left at arrival (whatever the cohort), if it reaches
    a destination."""
    ob = net.scenario.objective
    T, dt = net.T, net.period_h
    remaining_h = (T - np.arange(T)) * dt  # hours of the horizon left from period t on
    out = net.out_arcs
    dest = net.dest_sites[net.arc_to]
    C, A = len(net.cohorts), len(net.arc_name)
    arr_t = np.arange(T)[None, :] + net.arc_delay[:, None]  # (A, T) arrival period
    arr_rem = np.where(arr_t < T, (T - arr_t) * dt, 0.0)
    coef = np.zeros((C, A, T))
    coef -= ob.evacuation * net.priority[:, None, None] * out[None, :, None] * remaining_h
    coef -= ob.delivery * (dest[:, None] * arr_rem)[None]  # not by priority: see the module docs
    return coef


def seat_value(net: Network) -> np.ndarray:
    """(A, T) what one person flown on an arc in a period is worth to the plan objective (the
    largest over the cohorts that may take it)."""
    coef = np.where(flow_mask(net), flow_coefficients(net), 0.0)
    return np.abs(coef).max(axis=0)


def repair_value(net: Network) -> np.ndarray:
    """(A, T) what the repair prices a person waiting for a seat on each air arc at (at least
    1; :func:`repair_objective` takes the difference from one period to the next): the plan's
    :func:`seat_value`, and on an onward arc (one that does not leave the evacuation airport)
    at least what a seat out of the evacuation airport is worth in the same period.

    In the plan's objective an onward seat is worth little (its people are out already), yet
    a person not flown on from a staging base holds a place there and uses up a stay that a
    person from the evacuation airport needs: with the national hubs' 72-hour stays, a French
    A400M that flies Kabul legs instead of its Paris legs flies empty seats out of Kabul. Priced
    as the plan prices them, the repair put off the onward legs (on Kabul at 1-hour periods,
    6.75 % under the LP bound, the French cohort 2,402 people short of the LP); priced as seats
    out of Kabul, 5.6-6.0 % (docs/planner.md, "Whole sorties")."""
    v = seat_value(net)
    air = net.arc_move >= 0
    out = net.out_arcs & air
    onward = air & ~out
    if out.any() and onward.any():
        v = v.copy()
        v[onward] = np.maximum(v[onward], v[out].max(axis=0)[None, :])
    return np.maximum(v, 1.0)


def plan_objective(
    m: linopy.Model, net: Network, people: PeopleVars, aircraft: AircraftVars
) -> linopy.LinearExpression:
    """The plan model's objective (see the module docs)."""
    ob = net.scenario.objective
    coef = np.where(people.flow >= 0, flow_coefficients(net), 0.0).ravel()
    expr = flat_expression(m, people.flow.ravel()[coef != 0], coef[coef != 0])
    sv = aircraft.sortie.ravel()
    sv = sv[sv >= 0]
    expr = expr + flat_expression(m, sv, np.full(sv.shape, ob.sortie))
    # people waiting in front of a gate: a small cost per person and hour, so that they are
    # called forward when the gate can take them (the evacuation terms do not mind where
    # people wait who will not be out by the deadline anyway)
    gate = net.site_kind == "gate"
    gh = people.hold[:, gate, :].ravel()
    gh = gh[gh >= 0]
    if gh.size and ob.gate_wait > 0:
        expr = expr + flat_expression(m, gh, np.full(gh.shape, ob.gate_wait * net.period_h))
    return expr


def repair_objective(
    m: linopy.Model,
    net: Network,
    aircraft: AircraftVars,
    backlog: np.ndarray,
    shortfall_value: np.ndarray,
) -> linopy.LinearExpression:
    """The repair model's objective: a person waiting one more period on an arc costs what one
    period of earliness is worth there (``shortfall_value``, (A, T), the value of flying one in
    each period), one still waiting at the end of the horizon the full value of flying them;
    plus the sortie weight per sortie. A person may thus take a later sortie at the cost of the
    delay, which a per-period cover would count as a person lost."""
    T = net.T
    value = np.asarray(shortfall_value, dtype=float)
    delay = np.maximum(
        value - np.concatenate([value[:, 1:], np.zeros((len(value), 1))], axis=1), 1e-3
    )
    delay[:, T - 1] = np.maximum(value[:, T - 1], 1.0)
    keep = backlog.ravel() >= 0
    sv = aircraft.sortie.ravel()
    sv = sv[sv >= 0]
    coeffs = np.concatenate([delay.ravel()[keep], np.full(sv.shape, net.scenario.objective.sortie)])
    labels = np.concatenate([backlog.ravel()[keep], sv])
    return flat_expression(m, labels, coeffs)
