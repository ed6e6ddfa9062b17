"""The two models the planner solves, each put together explicitly from the free functions of
:mod:`~evacops.plan.variables`, :mod:`~evacops.plan.constraints` and
:mod:`~evacops.plan.objective`.

- :func:`assemble_plan`: the plan model (people and aircraft), an LP, or a MIP with integer
  sorties;
- :func:`assemble_repair`: the aircraft-only repair model that makes the LP's sorties whole
  (:func:`evacops.plan.solve.repair_sorties`): no people variables; whole sorties, bounded near
  the LP's, that cover the seats the LP's people need, a shortfall priced by its value.

Each returns the linopy model with the labels of its variables; nothing else is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import linopy
import numpy as np

from evacops.network import Network
from evacops.plan import constraints as con
from evacops.plan import limits
from evacops.plan.objective import plan_objective, repair_objective
from evacops.plan.variables import (
    AircraftVars,
    PeopleVars,
    define_aircraft_variables,
    define_backlog_variables,
    define_people_variables,
)


@dataclass(frozen=True)
class PlanModel:
    """The plan model and the labels of its variables."""

    m: linopy.Model
    aircraft: AircraftVars
    people: PeopleVars


@dataclass(frozen=True)
class RepairModel:
    """The repair model and the labels of its variables (``backlog``: arc x period)."""

    m: linopy.Model
    aircraft: AircraftVars
    backlog: np.ndarray


def _define_aircraft_limits(
    m: linopy.Model, net: Network, aircraft: AircraftVars, reduce: bool
) -> None:
    """The aircraft families both models share: balance, availability, slots and runway
    movements, MOG, crews and maintenance; ``reduce``: without the MOG rows that could never
    bind (the plan model's LP: the same optimum, faster). The repair keeps them: on Kabul at
    1-hour periods, from the same LP, its search took 215 s without them and 81-88 s with them
    (the MIP's path, not its answer, changes)."""
    con.define_aircraft_balance(m, net, aircraft)
    con.define_fleet_availability(m, net, aircraft)
    con.define_ground_limit(m, net, aircraft)
    con.define_slots(m, net, aircraft)
    con.define_mog(m, net, aircraft, reduce)
    limits.define_crew_limits(m, net, aircraft)
    limits.define_maintenance(m, net, aircraft)


def assemble_plan(net: Network, integer: bool = False) -> PlanModel:
    """The plan model of ``net``: people and aircraft, integer sorties if ``integer``."""
    m = linopy.Model()
    aircraft = define_aircraft_variables(m, net, integer=integer)
    people = define_people_variables(m, net)
    con.define_people_balance(m, net, people)
    con.define_holding_limits(m, net, people)
    con.define_processing_rates(m, net, people)
    con.define_ground_capacity(m, net, people)
    con.define_seat_capacity(m, net, people, aircraft)
    limits.define_stays(m, net, people)
    _define_aircraft_limits(m, net, aircraft, reduce=True)
    m.add_objective(plan_objective(m, net, people, aircraft))
    return PlanModel(m=m, aircraft=aircraft, people=people)


def assemble_repair(
    net: Network,
    seat_demand: np.ndarray,
    shortfall_value: np.ndarray,
    sortie_bounds: tuple[np.ndarray, np.ndarray],
) -> RepairModel:
    """The repair model of ``net``: whole sorties within ``sortie_bounds`` (move x period) that
    work off ``seat_demand`` (people the LP put on each arc in each period), a person waiting
    priced by ``shortfall_value`` (arc x period; see
    :func:`evacops.plan.objective.repair_objective`)."""
    m = linopy.Model()
    aircraft = define_aircraft_variables(m, net, integer=True, sortie_bounds=sortie_bounds)
    backlog = define_backlog_variables(m, net, seat_demand)
    _define_aircraft_limits(m, net, aircraft, reduce=False)
    con.define_seat_cover(m, net, aircraft, backlog, seat_demand)
    m.add_objective(repair_objective(m, net, aircraft, backlog, shortfall_value))
    return RepairModel(m=m, aircraft=aircraft, backlog=backlog)
