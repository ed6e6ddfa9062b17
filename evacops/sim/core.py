"""One batch of Monte Carlo runs, stepped period by period with a runs axis on every array.

People are counts by cohort at each site (``H[run, site, cohort]``), in ground transit (a ring of
arrivals by period) or aboard an aircraft; aircraft are individual entities, arrays indexed by
aircraft id (``loc[run, aircraft]``, ``eta``, ``ready``, ``onboard[run, aircraft, cohort]``); the
state is in a few small parts (:mod:`evacops.sim.state`). One period (docs/simulation.md has the
model and the policy), each step in its own module:

1. gates (:mod:`~evacops.sim.crowds`): incidents start or go on, screening rates are drawn;
   people leave closed gates for other gates or their assembly point, and some of a pressed
   crowd give up;
2. people arriving by ground this period are added where they arrive;
3. aircraft: departures (:mod:`~evacops.sim.departures`: the plan's schedule, or the dispatch
   policy of :mod:`~evacops.sim.dispatch`) within departure slots, held when their staging base
   is full or diverted (:mod:`~evacops.sim.staging`), with aborts and random block and ground
   times; then landings (:mod:`~evacops.sim.landings`) within arrival slots and MOG (an aircraft
   holds in the air otherwise);
4. people (:mod:`~evacops.sim.flows`), site by site in the order of the ground legs crossed
   within a period: first the plan's flows (what the plan has sent on an arc by now, less what
   has gone: behind the plan, it catches up), then everyone above the plan's numbers (everyone,
   without a plan) moves on where there is room: gates screen, aircraft fill their seats by
   cohort priority, the call-forward fills the gates, surges bring uncalled people;
5. a site whose holding capacity would be exceeded at the end of the period takes back what came
   in over it this period (:mod:`~evacops.sim.capacity`: gates stop admitting; people stay
   aboard at a full base);
6. records (:mod:`~evacops.sim.records`).

Work on aircraft is done on sparse lists of (run, aircraft) pairs that matter in the period.
Randomness comes only from one generator per run (``SeedSequence.spawn``), drawn in fixed blocks
of periods (:mod:`~evacops.sim.draws`); every computation on one run's numbers is the same
whatever else is in its batch (no sums across runs, no BLAS), so a run's results do not depend on
its batch or worker.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from evacops.sim import capacity, crowds, departures, flows, landings, ramp, records, stays
from evacops.sim.arrays import lognormal
from evacops.sim.draws import Draws
from evacops.sim.model import SimModel
from evacops.sim.state import Aircraft, Gates, People, Period

EPS = 1e-6


class Batch:
    """``len(seeds)`` runs of one :class:`SimModel`: the model, the runs' generators, their
    state in parts (people, aircraft, gates), the period being stepped and the records."""

    def __init__(
        self,
        model: SimModel,
        seeds: Sequence[np.random.SeedSequence],
        audit: bool = False,
        random: bool = True,
    ):
        self.md = model
        self.R = R = len(seeds)
        self.audit = audit
        self.random = random and model.rnd.any
        self.gens = [np.random.Generator(np.random.PCG64(s)) for s in seeds]
        self.people = People.new(model, R)
        self.air = Aircraft.new(model, R)
        self.gates = Gates(inc_left=np.zeros((R, model.G), dtype=np.int64))
        # a day factor per run shared by every gate (drawn first, from each run's generator)
        days = int(np.ceil(model.T * model.period_h / 24.0)) or 1
        self.day_factor = np.ones((R, days))
        if self.random:
            for r, g in enumerate(self.gens):
                self.day_factor[r] = lognormal(g.standard_normal(days), model.rnd.day_cv)
        self.draws: Draws | None = None
        self.now: Period
        self.rec = records.new_records(model, R, audit)

    def d(self, key: str, t: int) -> np.ndarray:
        """The random numbers ``key`` of period ``t`` (see :class:`Draws`)."""
        assert self.draws is not None
        return self.draws.at(key, t)

    def run(self) -> records.Records:
        md = self.md
        for t in range(md.T):
            if self.random and t % md.chunk == 0:
                self.draws = Draws(md, self.gens, t)
            self.step(t)
        return records.finish(self)

    def step(self, t: int) -> None:
        md, R, pp, ac = self.md, self.R, self.people, self.air
        site_open, rate_eff = crowds.open_gates(self, t)
        slot = t % md.ix.ring
        arr = pp.ring[slot].copy()
        pp.ring[slot] = 0.0
        pp.inbound -= arr
        self.now = Period(
            t=t,
            A=pp.H + md.appear_tsc[t][None] + arr,
            arrived=arr,
            site_open=site_open,
            rate_eff=rate_eff,
            nd_move=np.zeros((R, md.M), dtype=np.int64),
        )
        crowds.crowd_moves(self, t)
        departures.departures(self, t, None)
        landed, quick = landings.landings(self, t)
        if landed[0].size:
            lr, lc = landed
            again = (ac.ready[lr, lc] <= t) & (ac.ob_tot[lr, lc] <= EPS)
            if again.any():
                departures.departures(self, t, (lr[again], lc[again]))
        ramp.count_over(self, t)
        if quick[0].size:
            landings.go_around(self, t, quick)
        flows.people(self, t)
        capacity.overflow(self, t)
        flows.processed(self)
        stays.record(self, t)
        pp.H = self.now.A
        records.record(self, t)


def run_batch(
    model: SimModel,
    seeds: Sequence[np.random.SeedSequence],
    audit: bool = False,
    random: bool = True,
) -> dict[str, np.ndarray]:
    """Run ``len(seeds)`` replications (one seed sequence each); return their records, each an
    array whose first axis is the run."""
    return Batch(model, seeds, audit=audit, random=random).run()
