"""The planner's variables, named ``Component-attr`` and indexed like the network's arrays.

- ``Move-sorties[move, period]``: sorties of a fleet on an air leg (outbound or back) leaving in a
  period; integer in the MIP and in the repair;
- ``Station-idle[station, period]``: aircraft of a fleet ready and idle at an airfield;
- ``Site-hold[cohort, site, period]``: people of a cohort waiting at a site at the end of a
  period (only from the first period a person of the cohort can be there);
- ``Arc-flow[cohort, arc, period]``: people who set off on an arc (ground leg, or air leg flown by
  a fleet) in a period, if the cohort may use it, it is open and a person of the cohort can
  be at its start by then; they arrive ``arc_delay`` periods later;
- ``Arc-backlog[arc, period]`` (repair model only): people waiting for seats on an air arc;
- ``Site-pool[site, period]``: people processed and not yet gone at the evacuation airport and
  the staging bases with a processing rate
  (:func:`evacops.plan.constraints.define_processing_rates`);
- ``Site-arrived[site, period]``: people who have arrived at a site up to and including a period
  (only at sites with a stay limit or a minimum dwell): a stay is then three terms per row.

The crew and maintenance limits add their own 3-hour block counts (``Fleet-crew-block``,
``Fleet-maintenance-block``; :mod:`evacops.plan.limits`).

Each ``define_*`` function adds one kind to a model and returns its labels as numpy arrays (-1
where a variable does not exist), which is what the constraint families gather.
"""

from __future__ import annotations

from dataclasses import dataclass

import linopy
import numpy as np
import xarray as xr

from evacops.network import Network
from evacops.network.reach import first_periods
from evacops.plan.rows import coords, data_array


@dataclass(frozen=True)
class AircraftVars:
    """Labels of the aircraft variables: sorties (move x period), idle (station x period)."""

    sortie: np.ndarray
    idle: np.ndarray


@dataclass(frozen=True)
class PeopleVars:
    """Labels of the people variables: hold (cohort x site x period), flow (cohort x arc x
    period)."""

    hold: np.ndarray
    flow: np.ndarray
    arrived: np.ndarray  # (S, T) cumulative arrivals at sites with a stay limit, -1 elsewhere


def flow_mask(net: Network, first: np.ndarray | None = None) -> np.ndarray:
    """(C, A, T) where a flow variable exists: the cohort may use the arc, it is open, and a
    person of the cohort can be at its start by then (``first``:
    :func:`evacops.network.reach.first_periods`, computed if not given)."""
    if first is None:
        first = first_periods(net)
    there = np.arange(net.T)[None, None, :] >= first[:, net.arc_from][:, :, None]
    return net.arc_allowed[:, :, None] & net.arc_open[None, :, :] & there


def define_aircraft_variables(
    m: linopy.Model,
    net: Network,
    integer: bool = False,
    sortie_bounds: tuple[np.ndarray, np.ndarray] | None = None,
) -> AircraftVars:
    """Sorties (where a move may depart; bounded by ``sortie_bounds`` if given) and idle
    aircraft at every station."""
    c = coords(net)
    lower: float | xr.DataArray = 0.0
    upper: float | xr.DataArray = np.inf
    if sortie_bounds is not None:
        lower = data_array(net, sortie_bounds[0], ["move", "period"])
        upper = data_array(net, sortie_bounds[1], ["move", "period"])
    sortie = m.add_variables(
        lower=lower,
        upper=upper,
        name="Move-sorties",
        coords=[c["move"], c["period"]],
        dims=["move", "period"],
        integer=integer,
        mask=data_array(net, net.move_open, ["move", "period"]),
    )
    idle = m.add_variables(
        lower=0,
        name="Station-idle",
        coords=[c["station"], c["period"]],
        dims=["station", "period"],
    )
    return AircraftVars(sortie=sortie.labels.values, idle=idle.labels.values)


def define_people_variables(m: linopy.Model, net: Network) -> PeopleVars:
    """People waiting (at a site from the first period a person of the cohort can be there:
    :func:`evacops.network.reach.first_periods`) and people setting off on arcs
    (:func:`flow_mask`)."""
    c = coords(net)
    S = len(net.sites)
    first = first_periods(net)
    hold_mask = np.arange(net.T)[None, None, :] >= first[:, :, None]
    hold = m.add_variables(
        lower=0,
        name="Site-hold",
        coords=[c[d] for d in ("cohort", "site", "period")],
        dims=["cohort", "site", "period"],
        mask=data_array(net, hold_mask, ["cohort", "site", "period"]),
    )
    flow = m.add_variables(
        lower=0,
        name="Arc-flow",
        coords=[c[d] for d in ("cohort", "arc", "period")],
        dims=["cohort", "arc", "period"],
        mask=data_array(net, flow_mask(net, first), ["cohort", "arc", "period"]),
    )
    stays = (net.max_stay > 0) | (net.min_dwell > 0)
    arrived = m.add_variables(
        lower=0,
        name="Site-arrived",
        coords=[c["site"], c["period"]],
        dims=["site", "period"],
        mask=data_array(net, np.broadcast_to(stays[:, None], (S, net.T)), ["site", "period"]),
    )
    return PeopleVars(
        hold=hold.labels.values, flow=flow.labels.values, arrived=arrived.labels.values
    )


def define_backlog_variables(m: linopy.Model, net: Network, seat_demand: np.ndarray) -> np.ndarray:
    """Repair model: people waiting for seats on each air arc, from its first demand on."""
    c = coords(net)
    first = np.cumsum(seat_demand > 1e-9, axis=1) > 0
    air = (net.arc_move >= 0)[:, None] & first
    backlog = m.add_variables(
        lower=0,
        name="Arc-backlog",
        coords=[c["arc"], c["period"]],
        dims=["arc", "period"],
        mask=data_array(net, air, ["arc", "period"]),
    )
    return backlog.labels.values
