"""Runway limits as the planner states them: departure slots, arrival slots and runway movements
(arrivals plus departures together), each a rate per hour that may change over time
(``slot_changes``), enforced over the planner's windows (:meth:`Network.rate_windows`: 3.75/h is
15 in any 4 hours) and never bunched beyond the rate rounded up in any one hour
(:func:`evacops.network.limits.hour_peak`).

The simulator enforces every window causally: a departure or a landing in period ``t`` counts in
every window that holds ``t``, those ending in ``t`` and in the periods after it, so it is allowed
only if each of them still has room for it given what has happened so far; what happens later is
checked when it happens. So no window is ever exceeded, and a replay of a plan (which keeps them
all) is never held back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evacops.network import Network
from evacops.network.limits import hour_peak


@dataclass
class Family:
    """One limit: the departures and/or arrivals at each site in any window of ``w[s]`` periods
    ending in period e are at most ``rhs[s, e]``."""

    name: str
    deps: bool
    arrs: bool
    w: np.ndarray  # (S,) periods of the window
    rhs: np.ndarray  # (S, T) movements allowed in the window ending in each period (inf: none)
    sites: np.ndarray  # sites where the family limits anything


@dataclass
class Runway:
    """Every runway limit of a network (:class:`Family` each) and the length of the rings of
    departures and arrivals that the checks read."""

    families: list[Family]
    ring: int  # periods of the rings (the longest window)
    dep_limited: np.ndarray  # (S,) bool: departures there are limited
    arr_limited: np.ndarray  # (S,) bool: arrivals there are limited

    @classmethod
    def of(cls, net: Network) -> Runway:
        fams: list[Family] = []
        for name, per_h, deps, arrs in (
            ("departures", net.dep_rate, True, False),
            ("arrivals", net.arr_rate, False, True),
            ("movements", net.mov_rate, True, True),
        ):
            if not np.isfinite(per_h).any():
                continue
            w, rhs = net.rate_windows(per_h)
            hp, peak = hour_peak(net.period_h, per_h, w)
            for fname, fw, frhs in ((name, w, rhs), (f"{name}-hour", hp, peak)):
                sites = np.flatnonzero(np.isfinite(frhs).any(axis=1))
                if sites.size:
                    fams.append(Family(fname, deps, arrs, fw.astype(np.int64), frhs, sites))
        S = len(net.sites)
        dep_lim, arr_lim = np.zeros(S, dtype=bool), np.zeros(S, dtype=bool)
        for f in fams:
            dep_lim[f.sites] |= f.deps
            arr_lim[f.sites] |= f.arrs
        ring = max([int(f.w[f.sites].max()) for f in fams] + [1])
        return cls(fams, ring, dep_lim, arr_lim)

    def room(
        self, dep_ring: np.ndarray, arr_ring: np.ndarray, t: int, T: int, arrival: bool
    ) -> np.ndarray:
        """(R, S) how many more departures (or arrivals, with ``arrival``) each site may have in
        period ``t``: the least room left in any window that holds ``t`` (inf where unlimited).
        ``dep_ring`` and ``arr_ring`` are (ring, R, S) counts by period, period u at u % ring."""
        R, S = dep_ring.shape[1], dep_ring.shape[2]
        out = np.full((R, S), np.inf)
        for f in self.families:
            if not (f.arrs if arrival else f.deps):
                continue
            s = f.sites
            counts = np.zeros((self.ring, R, s.size))
            if f.deps:
                counts += dep_ring[:, :, s]
            if f.arrs:
                counts += arr_ring[:, :, s]
            out[:, s] = np.minimum(out[:, s], window_room(counts, t, T, f.w[s], f.rhs[s]))
        return np.floor(out + 1e-9)


def window_room(ring: np.ndarray, t: int, T: int, w: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """(R, E) room left in period ``t`` for each entity (a site, a fleet): the least, over the
    windows of ``w[e]`` periods that hold ``t`` and end in ``t .. t + w[e] - 1`` (before ``T``),
    of the window's allowance ``rhs[e, end]`` less what the periods ``end - w[e] + 1 .. t``
    count. ``ring``: (n, R, E) counts by period, period u at u % n (n >= w)."""
    n, _r, E = ring.shape
    W = int(w.max(initial=1))
    k = np.arange(W)
    c = ring[(t - k) % n]  # (W, R, E): period t - k
    c = np.where(((k[:, None] < w[None, :]) & (t - k >= 0)[:, None])[:, None, :], c, 0)
    used = np.cumsum(c, axis=0)  # used[k]: periods t - k .. t
    J = min(W, T - t)
    j = np.flatnonzero(np.isfinite(rhs[:, t : t + J]).any(axis=0))[:, None]  # windows that limit
    if j.size == 0:
        return np.full((ring.shape[1], E), np.inf)
    # the window ending in t + j holds t + j - w + 1 .. t
    u = used[np.maximum(w[None, :] - 1 - j, 0), :, np.arange(E)[None, :]]  # (J, E, R)
    left = np.where((j < w[None, :])[..., None], rhs[:, t + j[:, 0]].T[..., None] - u, np.inf)
    return left.min(axis=0, initial=np.inf).T
