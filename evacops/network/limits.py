"""The limits of issue 11 as arrays of the time-expanded network: airfield rates that change over
time (departure and arrival slots, runway movements), how long people stay at a site (a stay
limit rounded down, a minimum dwell rounded up, in periods), and the geometry the planner and the
simulator share to enforce them: the hour a slot window may not bunch into (:func:`hour_peak`)
and the 24-hour windows of crews and maintenance (:func:`day_windows`).
:mod:`evacops.network.compile` puts the arrays in the :class:`~evacops.network.compile.Network`.
"""

from __future__ import annotations

import math

import numpy as np

from evacops.scenario import Scenario, Timeline

INF = np.inf


def airfield_rates(sc: Scenario, tl: Timeline) -> dict[str, np.ndarray]:
    """(S, T) per hour (inf = unlimited): departure slots (``dep_rate``), arrival slots
    (``arr_rate``) and runway movements (``mov_rate``) in each period: the airfield's own
    rates, replaced by its ``slot_changes`` over every period that starts within one."""
    S, T = len(sc.sites), tl.n
    keys = {
        "dep_rate": "departure_slots_per_h",
        "arr_rate": "arrival_slots_per_h",
        "mov_rate": "movements_per_h",
    }
    out = {k: np.full((S, T), INF) for k in keys}
    for i, s in enumerate(sc.sites):
        af = s.airfield
        if af is None:
            continue
        for k, field in keys.items():
            own = getattr(af, field)
            out[k][i] = INF if own is None else own
        for ch in af.slot_changes:
            a = max(0, min(T, tl.period_ceil(ch.from_)))
            b = max(0, min(T, tl.period_ceil(ch.to)))
            for k, field in keys.items():
                v = getattr(ch, field)
                if v is not None:
                    out[k][i, a:b] = v
    return out


def site_stays(sc: Scenario, tl: Timeline) -> tuple[np.ndarray, np.ndarray]:
    """(max stay, min dwell) of each site in periods, 0 where none: a stay limit rounds down
    (nobody stays longer than it says), a minimum dwell rounds up (nobody leaves sooner)."""
    dt = tl.period_h
    stay = np.array(
        [
            0 if s.max_stay_h is None else max(1, math.floor(s.max_stay_h / dt + 1e-9))
            for s in sc.sites
        ]
    )
    dwell = np.array(
        [0 if s.min_dwell_h is None else math.ceil(s.min_dwell_h / dt - 1e-9) for s in sc.sites]
    )
    return stay.astype(int), dwell.astype(int)


SLOT_WINDOWS_H: tuple[float, ...] = (1, 2, 3, 4, 6, 8, 12, 24)


def window_hours(dt: float) -> list[float]:
    """The slot windows that are a whole number of periods of ``dt`` hours."""
    return [h for h in SLOT_WINDOWS_H if h >= dt - 1e-9 and abs(h / dt - round(h / dt)) < 1e-9] or [
        dt
    ]


def station_waits(sc: Scenario, tl: Timeline, stations: list[tuple[int, int]]) -> np.ndarray:
    """(K,) periods an aircraft of each station (fleet, site) may wait once ready, -1 where the
    site's airfield sets no ``max_ground_h``: the limit less the type's ground time there,
    rounded down (the model's ground time is itself rounded up to whole periods, so time on
    the ground, landing to take-off, stays within the limit plus one period's rounding)."""
    out = np.full(len(stations), -1, dtype=int)
    for k, (fi, si) in enumerate(stations):
        af = sc.sites[si].airfield
        if af is None or af.max_ground_h is None:
            continue
        spare = af.max_ground_h - af.ground_time_for(sc.fleets[fi].type)
        out[k] = max(0, math.floor(spare / tl.period_h + 1e-9))
    return out


def hour_peak(period_h: float, per_h: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(periods in the shortest span (S,), movements allowed in any such span (S, T)) where a
    rate is enforced over a window longer than that span: the span is one hour, or one period
    where periods are longer; it holds at most the rate x its hours, rounded up, so that a window
    cannot bunch its movements into one span (3.75/h at 1-hour periods: 15 in any 4 h and at
    most 4 in any hour; at 3-hour periods: 45 in any 12 h and at most 12 in any period)."""
    hp = max(1, round(1 / period_h))
    span_h = hp * period_h  # one hour, or one longer period
    S, T = per_h.shape
    peak = np.full((S, T), INF)
    longer = w > hp
    if longer.any():
        r = np.where(np.isfinite(per_h), np.ceil(per_h * span_h - 1e-9), INF)
        # the most the rate allows in the hour ending in each period
        padded_r = np.concatenate([np.full((S, hp - 1), -INF), r], axis=1)
        r_max = np.stack([padded_r[:, k : k + T] for k in range(hp)]).max(axis=0)
        peak[longer] = r_max[longer]
    return np.full(S, hp), peak


STRIDE_H = 3.0
"""The crew and maintenance windows (24 h) end every STRIDE_H hours, not every period."""


DayWindows = tuple[int, int, np.ndarray, np.ndarray]


def day_windows(period_h: float, fleet_avail: np.ndarray) -> DayWindows:
    """The 24-hour windows of the crew and maintenance limits: (periods in a window W, periods
    between window ends, (T,) whether a window ends in each period, (F, T) the most aircraft of
    each fleet available in the W periods ending there). Windows end every :data:`STRIDE_H`
    hours counted back from the last period (every period if 24 h is not a whole number of
    strides)."""
    F, T = fleet_avail.shape
    W = max(1, round(24 / period_h))
    stride = max(1, round(STRIDE_H / period_h))
    if W % stride:
        stride = 1
    ends = np.zeros(T, dtype=bool)
    ends[(T - 1) % stride :: stride] = True  # block ends, the last period among them
    padded_avail = np.concatenate([np.zeros((F, W - 1)), fleet_avail], axis=1)
    most = np.stack([padded_avail[:, k : k + T] for k in range(W)]).max(axis=0)
    return W, stride, ends, most


def pool_step(prev: np.ndarray, rate, out: np.ndarray, present: np.ndarray) -> np.ndarray:
    """People processed and still waiting at a pooled site at the end of a period, from those
    at the end of the one before: processing goes on at ``rate`` whenever someone there is not
    yet processed, ``min(prev + rate - out, present)`` (never below 0)."""
    return np.maximum(np.minimum(prev + rate - out, present), 0.0)


def processed_pool(rate: np.ndarray, out: np.ndarray, present: np.ndarray) -> np.ndarray:
    """(..., T) :func:`pool_step` over every period: ``out`` and ``present`` are (..., T),
    people who left in each period and people there at its end. The largest pool any schedule
    with these departures can have, so ``out[t] <= pool[t-1] + rate`` in every period is exactly
    the planner's processing rows (``Site-processing``, ``Site-pool``) holding."""
    pool = np.zeros(out.shape)
    prev = np.zeros(out.shape[:-1])
    for t in range(out.shape[-1]):
        prev = pool[..., t] = pool_step(prev, rate, out[..., t], present[..., t])
    return pool
