"""The random numbers of a batch: drawn from each run's own generator in fixed blocks of
periods (``SimModel.chunk``), so a run's numbers do not depend on its batch."""

from __future__ import annotations

import numpy as np

from evacops.sim.arrays import lognormal
from evacops.sim.model import SimModel


class Draws:
    """Every random number of periods ``t0 .. t0 + chunk`` of a batch, by name (``inc_u``,
    ``surge_u``, ``abort``: uniforms; ``inc_h``: incident hours; ``surge_n``: surge sizes;
    ``screen``, ``block``, ``ground``: lognormal factors of mean 1)."""

    def __init__(self, md: SimModel, gens: list[np.random.Generator], t0: int):
        rnd = md.rnd
        CH = min(md.chunk, md.T - t0)
        G, N = md.G, md.N
        R, K = len(gens), md.chunk
        rate_h = np.where(np.isfinite(md.gate_rate_h), md.gate_rate_h, 0.0)
        u = np.empty((R, 2 * G + N, K))
        e = np.empty((R, 2 * G, K))
        z = np.empty((R, G + 2 * N, K))
        for r, g in enumerate(gens):  # each run's numbers from its own generator
            g.random(out=u[r])
            g.standard_exponential(out=e[r])
            g.standard_normal(out=z[r])
            z[r, :G] = lognormal(z[r, :G], rnd.screening_cv)
            z[r, G : G + N] = lognormal(z[r, G : G + N], rnd.block_cv)
            z[r, G + N :] = lognormal(z[r, G + N :], rnd.ground_cv)
        self.draws = {
            "inc_u": u[:, :G, :CH],
            "surge_u": u[:, G : 2 * G, :CH],
            "abort": u[:, 2 * G :, :CH],
            "inc_h": e[:, :G, :CH] * rnd.incident_mean_h,
            "surge_n": e[:, G:, :CH] * (rnd.surge_size_h * rate_h)[None, :, None],
            "screen": z[:, :G, :CH],
            "block": z[:, G : G + N, :CH],
            "ground": z[:, G + N :, :CH],
        }
        self.t0 = t0

    def at(self, key: str, t: int) -> np.ndarray:
        """The numbers ``key`` of period ``t`` (runs first)."""
        return self.draws[key][:, :, t - self.t0]
