"""The limits of issue 11 as arrays of the time-expanded network: airfield rates that change over
time (departure and arrival slots, runway movements) and how long people stay at a site (a stay
limit rounded down, a minimum dwell rounded up, in periods). :mod:`evacops.network.compile` puts
them in the :class:`~evacops.network.compile.Network`.
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
