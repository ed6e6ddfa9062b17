"""When each cohort can first be at each site: the planner creates no variable before it.

A person of a cohort can be at a site in a period only if the cohort appears there by then, or
could have set off on an arc it may use, while the arc is open, from a site it could already be
at, and arrived by then. Every variable of people before that moment is zero in every feasible
plan, so leaving it out changes no optimum (the planner's "arcs no cohort can use in a period
are never created"); on Kabul at 1-hour periods it removes a quarter of the people variables.
"""

from __future__ import annotations

import numpy as np

from evacops.network.compile import Network


def next_open(open_: np.ndarray) -> np.ndarray:
    """``(..., T + 1)``: for each period, the first period at or after it in which ``open_``
    (``(..., T)`` bool) holds, ``T`` if none (and ``T`` for the period after the horizon)."""
    T = open_.shape[-1]
    at = np.where(open_, np.arange(T), T)
    nxt = np.minimum.accumulate(at[..., ::-1], axis=-1)[..., ::-1]
    return np.concatenate([nxt, np.full((*open_.shape[:-1], 1), T)], axis=-1)


def first_periods(net: Network) -> np.ndarray:
    """(C, S): the first period in which a person of each cohort can be at each site, ``T`` if
    never within the horizon (earliest arrivals, relaxed over the arcs until nothing changes:
    at most one pass per site)."""
    C, S, T = len(net.cohorts), len(net.sites), net.T
    appears = net.appear > 0
    first = np.where(appears.any(axis=2), appears.argmax(axis=2), T)
    usable = net.arc_allowed[:, :, None] & net.arc_open[None, :, :]  # (C, A, T)
    nxt = next_open(usable)  # (C, A, T + 1)
    rows = np.arange(C)[:, None]
    to = np.broadcast_to(net.arc_to[None, :], (C, len(net.arc_to)))
    for _ in range(S + 1):
        leave = np.take_along_axis(nxt, first[:, net.arc_from][..., None], axis=2)[..., 0]
        land = np.where(leave < T, leave + net.arc_delay[None, :], T)
        new = first.copy()
        np.minimum.at(new, (np.broadcast_to(rows, to.shape), to), np.minimum(land, T))
        if np.array_equal(new, first):
            break
        first = new
    return first
