"""Crowds as crowds: the physics the planner's reports and the simulator share.

A gate's crowd is a **queue with a physical maximum density**. People fill the gate's crowd area
(``crowd_area_m2``) up to ``max_density_per_m2``; the rest stand further back along the approach
(``approach_width_m`` wide), packed at that density, so a crowd too big for its area shows as a
queue hundreds of metres long, never as an impossible density.

**Faster is slower.** A gate screens at its rate while the crowd before it is loose. Past the
density at which a walking crowd's flow peaks, pressing people slow the gate down: we scale its
rate by the specific flow of Weidmann's fundamental diagram relative to that peak,

    v(D) = v0 * (1 - exp(-gamma * (1/D - 1/D_jam))),   J(D) = D * v(D),
    share(D) = 1 for D <= D*,  max(min_share, J(D) / J(D*)) above, D* = argmax J,

with v0 = 1.34 m/s, gamma = 1.913 persons/m2 and D_jam = 5.4 persons/m2 (U. Weidmann,
*Transporttechnik der Fussgaenger*, Schriftenreihe des IVT Nr. 90, ETH Zuerich, 1993; the flow
peaks at about 1.75 persons/m2). That outflow through a bottleneck falls when a crowd pushes is
the "faster is slower" effect of D. Helbing, I. Farkas and T. Vicsek, *Simulating dynamical
features of escape panic*, Nature 407, 487-490 (2000). Up to the scenario's safe density (the
crowd a call-forward plans for) a gate keeps its full rate whatever D* is: the decline starts at
the higher of the two. A gate jammed at or past D_jam still lets some people through (soldiers
pull people over the wall, the gate is cleared and opened again):
``min_throughput_share`` of its rate, an assumption (scenario ``crowd:`` block).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from evacops.scenario.model import Scenario

__all__ = ["CrowdPhysics", "approach_widths"]


@dataclass(frozen=True)
class CrowdPhysics:
    """The crowd parameters of a scenario (its ``crowd:`` block) and the curves built on them."""

    max_density_per_m2: float = 7.0
    safe_density_per_m2: float = 2.0
    free_speed_m_s: float = 1.34
    gamma_per_m2: float = 1.913
    jam_density_per_m2: float = 5.4
    min_throughput_share: float = 0.25

    @classmethod
    def of(cls, sc: Scenario) -> CrowdPhysics:
        c = sc.crowd
        return cls(
            max_density_per_m2=c.max_density_per_m2,
            safe_density_per_m2=sc.safe_density_per_m2,
            free_speed_m_s=c.free_speed_m_s,
            gamma_per_m2=c.weidmann_gamma_per_m2,
            jam_density_per_m2=c.jam_density_per_m2,
            min_throughput_share=c.min_throughput_share,
        )

    # ---- Weidmann's fundamental diagram ---------------------------------------------------------
    def speed(self, density: np.ndarray | float) -> np.ndarray:
        """Walking speed in m/s at ``density`` persons/m2 (0 at and past the jam density)."""
        d = np.maximum(np.asarray(density, dtype=float), 1e-9)
        v = self.free_speed_m_s * (1.0 - np.exp(-self.gamma_per_m2 * (1.0 / d - 1.0 / self.jam)))
        return np.maximum(v, 0.0)

    def specific_flow(self, density: np.ndarray | float) -> np.ndarray:
        """Persons per metre of width per second at ``density`` (J = D v)."""
        return np.asarray(density, dtype=float) * self.speed(density)

    @property
    def jam(self) -> float:
        return self.jam_density_per_m2

    @property
    def critical_density(self) -> float:
        """The density at which the specific flow peaks (D*), found on a fine grid."""
        return _critical(self.free_speed_m_s, self.gamma_per_m2, self.jam_density_per_m2)

    @property
    def onset_density(self) -> float:
        """Where pressing starts to slow a gate: the critical density, or the safe density if
        that is higher (a crowd the call-forward plans for is screened at the full rate)."""
        return max(self.critical_density, self.safe_density_per_m2)

    def throughput_share(self, density: np.ndarray | float) -> np.ndarray:
        """The share of a gate's screening rate it keeps at ``density``: 1 up to the onset
        density, then the fundamental diagram's flow relative to its flow there, never below
        ``min_throughput_share``."""
        d = np.asarray(density, dtype=float)
        d0 = self.onset_density
        ref = float(self.specific_flow(d0))
        rel = self.specific_flow(np.maximum(d, d0)) / ref
        return np.where(d <= d0, 1.0, np.maximum(rel, self.min_throughput_share))

    def gate_share(self, people: np.ndarray, area_m2: np.ndarray) -> np.ndarray:
        """:meth:`throughput_share` of gates with ``people`` waiting on ``area_m2`` (the last
        axis is the gate); 1 where a gate has no crowd area (nan)."""
        area = np.asarray(area_m2, dtype=float)
        has = np.isfinite(area)
        share = self.throughput_share(self.density(people, np.where(has, area, 1.0)))
        return np.where(has, share, 1.0)

    # ---- the queue ------------------------------------------------------------------------------
    def density(self, people: np.ndarray | float, area_m2: np.ndarray | float) -> np.ndarray:
        """Density in the gate's crowd area: people over area, never above the physical
        maximum (the rest stand along the approach)."""
        return np.minimum(np.asarray(people, dtype=float) / area_m2, self.max_density_per_m2)

    def queue_length_m(
        self,
        people: np.ndarray | float,
        area_m2: np.ndarray | float,
        width_m: np.ndarray | float,
    ) -> np.ndarray:
        """How far back from the gate the crowd stands, in metres: the depth of the crowd area
        (area over approach width) once anyone waits, plus the people it cannot hold packed at
        the maximum density along the approach."""
        n = np.asarray(people, dtype=float)
        held = self.max_density_per_m2 * area_m2
        depth = np.where(n > 1e-9, area_m2 / width_m, 0.0)
        beyond = np.maximum(n - held, 0.0) / (self.max_density_per_m2 * width_m)
        return depth + beyond

    def wait_h(self, people: np.ndarray | float, rate_per_h: np.ndarray | float) -> np.ndarray:
        """Hours the last person in the crowd waits at ``rate_per_h`` (inf when the gate lets
        nobody through while people wait)."""
        n = np.asarray(people, dtype=float)
        r = np.asarray(rate_per_h, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.where(r > 1e-9, n / np.where(r > 1e-9, r, 1.0), np.inf)
        return np.where(n > 1e-9, w, 0.0)


_CRITICAL: dict[tuple[float, float, float], float] = {}


def _critical(v0: float, gamma: float, jam: float) -> float:
    key = (v0, gamma, jam)
    if key not in _CRITICAL:
        d = np.linspace(0.05, jam, 20001)
        v = v0 * (1.0 - np.exp(-gamma * (1.0 / d - 1.0 / jam)))
        _CRITICAL[key] = float(d[int(np.argmax(d * v))])
    return _CRITICAL[key]


def approach_widths(sc: Scenario) -> dict[str, float]:
    """Each gate with a crowd area: the width of its approach in metres (``approach_width_m``;
    without one, the crowd area is taken as a square, so its side)."""
    out = {}
    for s in sc.sites:
        if s.crowd_area_m2 is None:
            continue
        w = s.approach_width_m
        out[s.name] = float(w) if w is not None else math.sqrt(s.crowd_area_m2)
    return out
