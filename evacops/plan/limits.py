"""The limits real operations have that are not capacities of one period: crews, maintenance and
stays. One free ``define_*`` function per family, as in :mod:`evacops.plan.constraints`.

- ``Fleet-crew`` (fleet x period): sorties a fleet flies (outbound and back) in 24 hours <=
  ``max_sorties_per_day`` x the most aircraft it has available in those hours. Crews are not
  individuals in a time-expanded network (aircraft of a fleet are interchangeable), so the crew
  limit is the one a planner states per aircraft and day, applied to the fleet as a whole over
  24-hour windows that end every 3 hours (``STRIDE_H``, counted back from the last period):
  any 24 hours then hold at most the limit plus what the fleet flies in 3 hours. Each 3-hour
  block's count is a variable (``Fleet-crew-block``), so a window is 8 terms. A window ending
  in every period, with cumulative counts, made the Kabul LP more than twice as slow for that
  last margin.
- ``Fleet-maintenance`` (fleet x period): an aircraft is down for maintenance
  ``maintenance_down_fraction`` of its time, so the fleet's hours in use (from a sortie's
  departure until it is ready again: block time and ground time) in any 24 hours are at most
  ``(1 - maintenance_down_fraction) x 24`` per aircraft available. Over a day, not at every
  moment: two aircraft 20 % down may both fly at once, but not around the clock (a per-period
  limit would leave a 2-aircraft fleet one aircraft in whole sorties). Windows as for crews.
- ``Site-stay`` / ``Site-dwell`` (site x period): people stay at most ``max_stay`` periods, the
  period they arrive in counted as one (people waiting at the end of a period <= arrivals in
  its last ``max_stay - 1`` periods and itself); people who arrived in the last ``min_dwell``
  periods are all still there (people waiting >= arrivals in them), so nobody leaves sooner.
  Cohorts are counted together: who leaves first is not said (first come, first out is the
  reading that makes the stay limit hold for each person). ``Site-arrived`` counts arrivals
  so far (``Site-arrived-balance``).
"""

from __future__ import annotations

import linopy
import numpy as np

from evacops.network import Network
from evacops.network.keys import padded
from evacops.network.limits import day_windows
from evacops.plan.rows import Part, add_rows, data_array, gather, window
from evacops.plan.variables import AircraftVars, PeopleVars


def _prev(labels: np.ndarray, lag: np.ndarray | int = 1) -> np.ndarray:
    """``labels[x, t - lag[x]]`` as (X, T, 1), -1 before the first period."""
    X = labels.shape[0]
    lag = np.broadcast_to(np.asarray(lag), (X,))
    return gather(labels, np.arange(X)[:, None], lag[:, None])


def _fleet_moves(net: Network) -> np.ndarray:
    """(F, K) each fleet's moves, padded with -1."""
    return padded([list(np.flatnonzero(net.move_fleet == f)) for f in range(len(net.fleets))])


def _day_windows(
    m: linopy.Model,
    net: Network,
    name: str,
    sortie: np.ndarray,
    per_move: np.ndarray,
    limited: np.ndarray,
    per_day: np.ndarray,
) -> None:
    """What fleet f's sorties count (each sortie of move m counts ``per_move[m]``) in the 24
    hours ending every :data:`~evacops.network.limits.STRIDE_H` hours, counted back from the
    last period, <= ``per_day[f]`` x the most aircraft available in those hours. The count of
    each 3-hour block is a variable (``<name>-block``), so a window is 8 terms, not 24 x the
    fleet's moves."""
    F, T = len(net.fleets), net.T
    W, stride, ends, most = day_windows(net.period_h, net.fleet_avail)
    rows = limited[:, None] & ends[None, :]
    block = m.add_variables(
        lower=0,
        name=f"{name}-block",
        coords=[net.axes["fleet"], net.axes["period"]],
        dims=["fleet", "period"],
        mask=data_array(net, rows, ["fleet", "period"]),
    ).labels.values
    mv = _fleet_moves(net)
    idx, lag = window(mv, np.zeros_like(mv), stride)  # every move of the fleet, lags 0 .. stride-1
    weight = np.where(idx >= 0, per_move[np.maximum(idx, 0)], 0.0)[:, None, :]
    parts: list[Part] = [(block[..., None], 1.0), (gather(sortie, idx, lag), -weight)]
    zeros = np.zeros((F, T))
    add_rows(m, net, f"{name}-block", parts, ["fleet", "period"], "=", zeros, mask=rows)
    n = W // stride
    me = np.repeat(np.arange(F)[:, None], n, axis=1)
    back = np.broadcast_to(np.arange(n)[None, :] * stride, (F, n))
    rhs = np.where(limited[:, None], per_day[:, None] * most, np.inf)
    parts = [(gather(block, me, back), 1.0)]  # the window's blocks
    add_rows(m, net, name, parts, ["fleet", "period"], "<=", rhs, mask=rows)


def define_crew_limits(m: linopy.Model, net: Network, aircraft: AircraftVars) -> None:
    """Fleet-crew: sorties in 24 hours <= max_sorties_per_day x aircraft (module docs)."""
    limited = np.isfinite(net.fleet_sorties_day)
    if limited.any():
        ones = np.ones(len(net.move_fleet))
        per_day = np.where(limited, net.fleet_sorties_day, 0.0)
        _day_windows(m, net, "Fleet-crew", aircraft.sortie, ones, limited, per_day)


def define_maintenance(m: linopy.Model, net: Network, aircraft: AircraftVars) -> None:
    """Fleet-maintenance: hours in use (block + ground time, departure to ready again) in 24
    hours <= (1 - maintenance_down_fraction) x 24 h x aircraft (module docs)."""
    down = net.fleet_up < 1.0
    if down.any():
        hours = net.move_ready * net.period_h
        per_day = 24.0 * net.fleet_up
        _day_windows(m, net, "Fleet-maintenance", aircraft.sortie, hours, down, per_day)


def define_stays(m: linopy.Model, net: Network, people: PeopleVars) -> None:
    """Site-arrived-balance, Site-stay and Site-dwell (see the module docs)."""
    S, T = len(net.sites), net.T
    stays = (net.max_stay > 0) | (net.min_dwell > 0)
    if not stays.any():
        return
    arrived = people.arrived
    ins = padded([list(np.flatnonzero(net.arc_to == k)) for k in range(S)])
    in_lag = np.where(ins >= 0, net.arc_delay[np.maximum(ins, 0)], 0)
    g = gather(people.flow, ins, in_lag)  # (C, S, T, K)
    inflow = np.moveaxis(g, 0, -1).reshape(S, T, -1)
    add_rows(
        m,
        net,
        "Site-arrived-balance",
        [(arrived[..., None], 1.0), (_prev(arrived), -1.0), (inflow, -1.0)],
        ["site", "period"],
        "=",
        net.appear.sum(axis=0),
        mask=np.broadcast_to(stays[:, None], (S, T)),
    )
    hold = np.moveaxis(people.hold, 0, -1)  # (S, T, C)
    now = arrived[..., None]
    # a stay of L periods: who arrived in period t - L + 1 or before has left by the end of t
    # (the period of arrival counts as one); a dwell of d: who arrived after t - d is still there
    for name, has, lag, sign in (
        ("Site-stay", net.max_stay > 0, net.max_stay - 1, 1.0),
        ("Site-dwell", net.min_dwell > 0, net.min_dwell, -1.0),
    ):
        if not has.any():
            continue
        rhs = np.where(has[:, None], 0.0, np.inf) * np.ones((1, T))
        if sign > 0 and net.stay_exempt is not None:  # a re-plan's people already there
            rhs = rhs + net.stay_exempt
        before = _prev(arrived, np.maximum(lag, 0))
        parts = [(hold, sign), (now, -sign), (before, sign)]
        mask = stay_rows_can_bind(before[..., 0]) if sign > 0 else None
        add_rows(m, net, name, parts, ["site", "period"], "<=", rhs, mask=mask)


def stay_rows_can_bind(before: np.ndarray) -> np.ndarray:
    """(S, T) the ``Site-stay`` rows that can bind: those with arrivals ``max_stay`` periods
    back (``before``, the labels of arrivals so far then, -1 before the first period). Before
    anyone can have stayed too long the row says "people there <= people who arrived so far",
    which the balances imply, so it is left out: an exact reduction (at Kabul 2,985 of 6,120
    rows at 1-hour periods)."""
    return before >= 0
