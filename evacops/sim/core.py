"""One batch of Monte Carlo runs, stepped period by period with a runs axis on every array.

People are counts by cohort at each site (``H[run, site, cohort]``), in ground transit (a ring of
arrivals by period) or aboard an aircraft; aircraft are individual entities, arrays indexed by
aircraft id (``loc[run, aircraft]``, ``eta``, ``ready``, ``onboard[run, aircraft, cohort]``). One
period (docs/simulation.md has the model and the policy):

1. gates: incidents start or go on, screening rates are drawn;
2. people arriving by ground this period are added where they arrive;
3. aircraft: departures (the plan's schedule, or the dispatch policy) within departure slots, held
   when their staging base is full (or diverted), with aborts and random block and ground times;
   then landings within arrival slots and MOG (an aircraft holds in the air otherwise);
4. people, site by site in the order of the ground legs crossed within a period: first the plan's
   flows (what the plan has sent on an arc by now, less what has gone: behind the plan, it
   catches up), then everyone above the plan's numbers (everyone, without a plan) moves on where
   there is room: gates screen, aircraft fill their seats by cohort priority, the call-forward
   fills the gates, surges bring uncalled people;
5. a site whose holding capacity would be exceeded at the end of the period takes back what came
   in over it this period (gates stop admitting; people stay aboard at a full base).

Work on aircraft is done on sparse lists of (run, aircraft) pairs that matter in the period.
Randomness comes only from one generator per run (``SeedSequence.spawn``), drawn in fixed blocks
of periods; every computation on one run's numbers is the same whatever else is in its batch
(no sums across runs, no BLAS), so a run's results do not depend on its batch or worker.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from evacops.sim.model import MAX_WAIT_H, SimModel

EPS = 1e-6
BIG = np.iinfo(np.int64).max // 4
ALL = slice(None)


def _lognormal(z: np.ndarray, cv: float) -> np.ndarray:
    """Factors with mean 1 and coefficient of variation ``cv`` from standard normals."""
    if cv <= 0:
        return np.ones_like(z)
    s2 = np.log1p(cv * cv)
    return np.exp(np.sqrt(s2) * z - s2 / 2)


def _groups(rows: np.ndarray, group: np.ndarray, key: np.ndarray):
    """Sort entries by (run, group, key); return the order, positions and group starts."""
    order = np.lexsort((key, group, rows))
    r, g = rows[order], group[order]
    n = len(order)
    start = np.ones(n, dtype=bool)
    start[1:] = (r[1:] != r[:-1]) | (g[1:] != g[:-1])
    pos = np.arange(n)
    first = np.maximum.accumulate(np.where(start, pos, 0))
    return order, pos, first


def _rank(rows: np.ndarray, group: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Rank of each entry among the entries of the same run and group, by key (0 = first)."""
    if rows.size == 0:
        return np.zeros(0, dtype=np.int64)
    order, pos, first = _groups(rows, group, key)
    out = np.empty(rows.size, dtype=np.int64)
    out[order] = pos - first
    return out


def _before(rows: np.ndarray, group: np.ndarray, key: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Sum of the (whole-number) values of the entries ranked before each in its run and group;
    integers, so the sum is exact whatever other runs are in the list."""
    if rows.size == 0:
        return np.zeros(0, dtype=np.int64)
    order, _pos, first = _groups(rows, group, key)
    v = values.astype(np.int64)[order]
    cs = np.cumsum(v) - v
    out = np.empty(rows.size, dtype=np.int64)
    out[order] = cs - cs[first]
    return out


def _rsum(x: np.ndarray, axis: int) -> np.ndarray:
    """Sum over one axis, computed the same way for a run whatever else is in its batch: numpy
    sums a contiguous last axis pairwise and other axes term by term, and which one it does can
    depend on the array's layout and on a batch of one run; so the axis is made the contiguous
    last one first."""
    return np.ascontiguousarray(np.moveaxis(x, axis, -1)).sum(axis=-1)


def _segsum(x: np.ndarray, starts: np.ndarray, axis: int) -> np.ndarray:
    """Sums over segments of one axis (see :func:`_rsum`)."""
    y = np.add.reduceat(np.ascontiguousarray(np.moveaxis(x, axis, -1)), starts, axis=-1)
    return np.moveaxis(y, -1, axis)


def _segments(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the key of each run of equal keys, where each run starts) in a sorted array."""
    start = np.ones(keys.size, dtype=bool)
    start[1:] = keys[1:] != keys[:-1]
    idx = np.flatnonzero(start)
    return keys[idx], idx


def _take_by_priority(avail: np.ndarray, room: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Take up to ``room`` (R,) from ``avail`` (R, C), cohorts in ``order`` first."""
    a = avail[:, order]
    before = np.cumsum(a, axis=1) - a
    take = np.clip(room[:, None] - before, 0.0, a)
    out = np.empty_like(take)
    out[:, order] = take
    return out


def _take_proportional(avail: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """Take ``amount`` (R,) from ``avail`` (R, C) in proportion to what is there."""
    tot = avail.sum(axis=1)
    frac = np.where(tot > 0, np.minimum(amount, tot) / np.where(tot > 0, tot, 1.0), 0.0)
    return avail * frac[:, None]


class Batch:
    """State and records of ``len(seeds)`` runs of one :class:`SimModel`."""

    def __init__(
        self,
        model: SimModel,
        seeds: Sequence[np.random.SeedSequence],
        audit: bool = False,
        random: bool = True,
    ):
        md = self.md = model
        self.R = R = len(seeds)
        self.audit = audit
        self.random = random and md.rnd.any
        self.gens = [np.random.Generator(np.random.PCG64(s)) for s in seeds]
        S, C, N, T, A, M = md.S, md.C, md.N, md.T, md.A, md.M
        self.plan = md.plan
        if self.plan is not None:
            self.flow_cum = self.plan.flow_cum  # (T, A, C)
            tot = self.plan.flow.sum(axis=2)  # (T, A)
            out_site = np.zeros((T, S))
            np.add.at(out_site.T, md.arc_from, tot.T)
            self.plan_out_cum = np.cumsum(out_site, axis=0)  # (T, S)
            arcflow = np.zeros((T, M))
            fwd = md.move_arc >= 0
            arcflow[:, fwd] = tot[:, md.move_arc[fwd]]
            sortie = self.plan.sorties
            self.plan_share = np.where(sortie > 0, arcflow / np.maximum(sortie, 1), 0.0)
            self.hold_plan = self.plan.hold
        # people
        self.H = np.zeros((R, S, C))
        self.D = int(md.arc_delay.max(initial=0)) + 2  # + 1: people waiting at an entrance
        self.ring = np.zeros((self.D, R, S, C))
        self.inbound = np.zeros((R, S, C))
        self.X = np.zeros((R, A, C))  # cumulative flows that followed the plan
        # aircraft
        self.loc = np.broadcast_to(md.ac_home, (R, N)).copy()  # site, or -1 in the air
        self.dest = np.full((R, N), -1, dtype=np.int64)
        self.mv = np.full((R, N), -1, dtype=np.int64)
        self.eta = np.zeros((R, N), dtype=np.int64)
        self.ready = np.zeros((R, N), dtype=np.int64)
        self.gnd_off = np.zeros((R, N), dtype=np.int64)
        self.onboard = np.zeros((R, N, C))
        self.ob_tot = np.zeros((R, N))
        self.ptr = np.zeros((R, N), dtype=np.int64)
        self.wait = np.zeros((R, N), dtype=np.int64)
        self.held = np.zeros((R, N), dtype=bool)
        self.airborne = np.zeros((R, N), dtype=np.int64)
        if self.plan is not None:
            self.next_tp = np.broadcast_to(self.plan.sched_dep[:, 0], (R, N)).copy()
        self.LB = 2 * int(md.move_land.max(initial=1)) + 4
        self.land_sched = np.zeros((self.LB, R, S))  # people landing at a site, by period
        self.W = int(max(md.dep_w.max(initial=1), md.arr_w.max(initial=1)))
        self.dep_ring = np.zeros((self.W, R, S), dtype=np.int64)
        self.arr_ring = np.zeros((self.W, R, S), dtype=np.int64)
        self.inc_left = np.zeros((R, md.G), dtype=np.int64)
        self.max_wait = max(1, int(np.ceil(MAX_WAIT_H / md.period_h - 1e-9)))
        # static helpers
        self.fwd_arcs = np.flatnonzero(md.arc_move >= 0)
        self.dep_limited = np.flatnonzero(np.isfinite(md.dep_rhs))
        self.capped = np.flatnonzero(np.isfinite(md.cap).any(axis=1))
        self.gate_pos = np.full(S, -1, dtype=np.int64)
        self.gate_pos[md.gates] = np.arange(md.G)
        self.is_assembly = md.site_kind == "assembly"
        # arcs leaving each layer's sites, sorted by origin (segments for reduceat)
        self.layer_arcs = []
        for layer in md.layers:
            arcs = np.flatnonzero(np.isin(md.arc_from, layer))
            self.layer_arcs.append(arcs[np.argsort(md.arc_from[arcs], kind="stable")])
        self.site_arcs = [np.flatnonzero(md.arc_from == s) for s in range(S)]
        self.call_arcs = np.flatnonzero(
            self.is_assembly[md.arc_from] & (md.site_kind[md.arc_to] == "gate")
        )
        self.gate_cap = md.cap_site[md.gates]  # (G, T) safe crowd (area x safe density)
        self.layer_of = np.zeros(S, dtype=np.int64)
        for i, layer in enumerate(md.layers):
            self.layer_of[layer] = i
        self.out_arcs = np.flatnonzero(md.arc_from == md.evac)
        self.bound_arcs = [np.flatnonzero((md.arc_move >= 0) & (md.arc_to == s)) for s in range(S)]
        # (fleet, site) pairs where a fleet's outbound arcs start, for repositioning
        pairs: list[tuple[int, int, np.ndarray]] = []
        self.pair_of = np.full((len(md.fleets), S), -1, dtype=np.int64)
        for f in range(len(md.fleets)):
            per: dict[int, list[int]] = {}
            for m in md.fleet_fwd[f]:
                if m >= 0:
                    per.setdefault(int(md.move_from[m]), []).append(int(md.move_arc[m]))
            for s, arc_list in per.items():
                self.pair_of[f, s] = len(pairs)
                pairs.append((f, s, np.array(arc_list, dtype=np.int64)))
        self.pairs = pairs
        self.pair_arcs = np.concatenate([a for _, _, a in pairs]) if pairs else np.zeros(0, int)
        self.pair_starts = np.cumsum([0] + [len(a) for _, _, a in pairs])[:-1]
        self.pair_fs = np.array([f * S + s for f, s, _ in pairs], dtype=np.int64)
        self.pair_load = np.array([md.fleet_load[f] for f, _, _ in pairs])
        fleet_of_pair = np.array([f for f, _, _ in pairs], dtype=np.int64)
        self.pair_fleets, self.fleet_starts = _segments(fleet_of_pair)  # pairs are by fleet
        self.fleet_slices = []
        start = 0
        for f in range(len(md.fleets)):
            n = int(md.fleet_count[f])
            self.fleet_slices.append(slice(start, start + n))
            start += n
        self.stage_pos = np.full(S, -1, dtype=np.int64)
        self.stage_pos[md.staging] = np.arange(len(md.staging))
        self._seg_cache: dict[bytes, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._surge_t = -1
        self._records(T)

    # ---- records ---------------------------------------------------------------------------
    def _records(self, T: int) -> None:
        md, R = self.md, self.R
        days, _ = md.day_index()
        self.day_of = days
        nd = int(days.max(initial=0)) + 1
        n_op, F, B, G = len(md.operators), len(md.fleets), len(md.staging), md.G
        self.rec: dict[str, np.ndarray] = {
            "out": np.zeros((R, md.C, T)),
            "delivered": np.zeros((R, T)),
            "out_op_day": np.zeros((R, n_op, nd)),
            "flights_op_day": np.zeros((R, n_op, nd), dtype=np.int64),
            "gate_crowd": np.zeros((R, G, T), dtype=np.float32),
            "stage_hold": np.zeros((R, B, T), dtype=np.float32),
            "stage_full_periods": np.zeros((R, B), dtype=np.int64),
            "held_flights": np.zeros((R, B), dtype=np.int64),
            "held_aircraft_periods": np.zeros((R, B), dtype=np.int64),
            "diverted_from": np.zeros((R, B), dtype=np.int64),
            "air_hold_periods": np.zeros((R,), dtype=np.int64),
            "sorties_out": np.zeros((R, F), dtype=np.int64),
            "sorties_back": np.zeros((R, F), dtype=np.int64),
            "airborne_periods": np.zeros((R, F), dtype=np.int64),
            "people_flown": np.zeros((R, F)),
            "seats_flown": np.zeros((R, F)),
            "aborts": np.zeros((R, F), dtype=np.int64),
        }
        if self.audit:
            S, A, C, M = md.S, md.A, md.C, md.M
            self.rec.update(
                {
                    "in_system": np.zeros((R, T)),  # people at sites, on the way, aboard
                    "flows": np.zeros((R, T, A, C)),
                    "sorties": np.zeros((R, T, M), dtype=np.int64),
                    "hold": np.zeros((R, T, S)),
                    "on_ground": np.zeros((R, T, S), dtype=np.int64),
                    "dep_count": np.zeros((R, T, S), dtype=np.int64),
                    "arr_count": np.zeros((R, T, S), dtype=np.int64),
                }
            )

    # ---- random draws ----------------------------------------------------------------------
    def _draw(self, t0: int) -> None:
        """Draw every random number of periods t0 .. t0 + chunk, run by run."""
        md, rnd = self.md, self.md.rnd
        CH = min(md.chunk, md.T - t0)
        G, N = md.G, md.N
        R, K = self.R, md.chunk
        rate_h = np.where(np.isfinite(md.gate_rate_h), md.gate_rate_h, 0.0)
        u = np.empty((R, 2 * G + N, K))
        e = np.empty((R, 2 * G, K))
        z = np.empty((R, G + 2 * N, K))
        for r, g in enumerate(self.gens):  # each run's numbers from its own generator
            g.random(out=u[r])
            g.standard_exponential(out=e[r])
            g.standard_normal(out=z[r])
            z[r, :G] = _lognormal(z[r, :G], rnd.screening_cv)
            z[r, G : G + N] = _lognormal(z[r, G : G + N], rnd.block_cv)
            z[r, G + N :] = _lognormal(z[r, G + N :], rnd.ground_cv)
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
        self.draw_t0 = t0

    def _d(self, key: str, t: int) -> np.ndarray:
        return self.draws[key][:, :, t - self.draw_t0]

    # ---- the run ---------------------------------------------------------------------------
    def run(self) -> dict[str, np.ndarray]:
        md = self.md
        for t in range(md.T):
            if self.random and t % md.chunk == 0:
                self._draw(t)
            self.step(t)
        for f, sl in enumerate(self.fleet_slices):
            self.rec["airborne_periods"][:, f] = self.airborne[:, sl].sum(axis=1)
        return self.rec

    def step(self, t: int) -> None:
        md, R = self.md, self.R
        self.t = t
        self._gates(t)
        slot = t % self.D
        arr = self.ring[slot].copy()
        self.ring[slot] = 0.0
        self.inbound -= arr
        self.arrived = arr  # by ground legs that take time
        self.A = self.H + md.appear[t][None] + arr
        self.nd_move = np.zeros((R, md.M), dtype=np.int64)
        self.gone: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # departures
        self.off: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []  # deplaned
        self._departures(t, None)
        landed, quick = self._landings(t)
        if landed[0].size:
            lr, lc = landed
            again = (self.ready[lr, lc] <= t) & (self.ob_tot[lr, lc] <= EPS)
            if again.any():
                self._departures(t, (lr[again], lc[again]))
        if quick[0].size:
            self._go_around(t, quick)
        self._people(t)
        self._overflow(t)
        self.H = self.A
        self._record(t)

    # ---- gates -----------------------------------------------------------------------------
    def _gates(self, t: int) -> None:
        md, R, rnd = self.md, self.R, self.md.rnd
        open_ = np.broadcast_to(md.open_[:, t], (R, md.S)).copy()
        rate = np.broadcast_to(md.rate, (R, md.S)).copy()
        if self.random and md.G:
            self.inc_left = np.maximum(self.inc_left - 1, 0)
            if rnd.incident_p > 0 and rnd.incident_mean_h > 0:
                start = (self.inc_left == 0) & (self._d("inc_u", t) < rnd.incident_p)
                dur = np.maximum(1, np.ceil(self._d("inc_h", t) / md.period_h - 1e-9))
                self.inc_left = np.where(start, dur.astype(np.int64), self.inc_left)
            open_[:, md.gates] &= ~(self.inc_left > 0)
            rate[:, md.gates] = rate[:, md.gates] * self._d("screen", t)
        rate[~open_] = 0.0
        self.site_open = open_
        self.rate_eff = rate

    # ---- aircraft: departures --------------------------------------------------------------
    def _departures(self, t: int, only: tuple[np.ndarray, np.ndarray] | None) -> None:
        md = self.md
        if self.plan is not None:
            got = self._plan_candidates(t, only)
        else:
            got = self._policy_candidates(t, only)
        if got is None:
            return
        rows, cols, m, key = got
        if rows.size == 0:
            return
        origin = self.loc[rows, cols]
        keep = np.ones(rows.size, dtype=bool)
        for s in self.dep_limited:  # departure slots, in the order of the key
            here = origin == s
            if not here.any():
                continue
            w = int(md.dep_w[s])
            used = sum(self.dep_ring[(t - k) % self.W][:, s] for k in range(w))  # (R,)
            room = np.floor(md.dep_rhs[s] - used + 1e-9)
            hr = rows[here]
            keep[here] = _rank(hr, np.zeros_like(hr), key[here]) < room[hr]
        rows, cols, m, origin = rows[keep], cols[keep], m[keep], origin[keep]
        if rows.size == 0:
            return
        np.add.at(self.dep_ring[t % self.W], (rows, origin), 1)
        rnd = md.rnd
        if self.random and rnd.abort_p > 0:  # the sortie does not leave; its slot is lost
            ab = self._d("abort", t)[rows, cols] < rnd.abort_p
            if ab.any():
                ar, ac = rows[ab], cols[ab]
                self.ready[ar, ac] = t + md.ground_origin_periods[m[ab]]
                np.add.at(self.rec["aborts"], (ar, md.ac_fleet[ac]), 1)
                rows, cols, m = rows[~ab], cols[~ab], m[~ab]
        if rows.size == 0:
            return
        if self.random:
            bv = md.block_h[m] * self._d("block", t)[rows, cols]
            gv = md.ground_dest_h[m] * self._d("ground", t)[rows, cols]
            land = np.maximum(1, np.ceil(bv / md.period_h - 1e-9)).astype(np.int64)
            tot = np.maximum(land, np.ceil((bv + gv) / md.period_h - 1e-9).astype(np.int64))
        else:
            land, tot = md.move_land[m], md.move_ready[m]
        self.loc[rows, cols] = -1
        self.mv[rows, cols] = m
        self.dest[rows, cols] = md.move_to[m]
        self.eta[rows, cols] = t + land
        self.gnd_off[rows, cols] = tot - land
        self.wait[rows, cols] = 0
        self.held[rows, cols] = False
        if self.plan is not None:
            self._advance(rows, cols)
        np.add.at(self.nd_move, (rows, m), 1)
        self.gone.append((rows, cols, m))

    def _advance(self, rows: np.ndarray, cols: np.ndarray) -> None:
        """Move on to each aircraft's next planned sortie."""
        plan = self.plan
        assert plan is not None
        self.ptr[rows, cols] += 1
        k = np.minimum(self.ptr[rows, cols], plan.sched_move.shape[1] - 1)
        nxt = plan.sched_dep[cols, k]
        self.next_tp[rows, cols] = np.where(self.ptr[rows, cols] < plan.n_sched[cols], nxt, BIG)

    def _ready_list(self, t: int, only, extra: np.ndarray | None = None):
        if only is not None:
            return only
        mask = (self.loc >= 0) & (self.ready <= t) & (self.ob_tot <= EPS)
        if extra is not None:
            mask &= extra
        return np.nonzero(mask)

    def _landing_by(
        self, t: int, rows: np.ndarray, to: np.ndarray, until: np.ndarray
    ) -> np.ndarray:
        """People landing at ``to`` in periods t .. until (per entry)."""
        k = np.arange(self.LB)
        steps = (t + k) % self.LB
        vals = self.land_sched[steps[None, :], rows[:, None], to[:, None]]  # (n, LB)
        return np.where(k[None, :] <= (until - t)[:, None], vals, 0.0).sum(axis=1)

    def _full(self, t: int, rows: np.ndarray, m: np.ndarray, load: np.ndarray) -> np.ndarray:
        """Entries whose move takes people to a site with a holding capacity that their load
        would exceed when they land (with a plan: counting the plan's departures from it until
        then; without: people there, on the way and landing there, and no departures)."""
        md = self.md
        to = md.move_to[m]
        L = np.minimum(t + md.move_land[m], md.T - 1)
        capL = md.cap[to, L]
        # (a flight that lands after the end of the horizon is never held, as in the plan)
        check = md.move_fwd[m] & np.isfinite(capL) & (t + md.move_land[m] < md.T)
        out = np.zeros(rows.size, dtype=bool)
        if not check.any():
            return out
        r, s, Lc, cap = rows[check], to[check], L[check], capL[check]
        there = self.A[r, s].sum(axis=1) + self.inbound[r, s].sum(axis=1)
        if self.plan is not None:
            there = there + self._landing_by(t, r, s, Lc)
            there = there - (
                self.plan_out_cum[Lc, s] - (self.plan_out_cum[t - 1, s] if t > 0 else 0.0)
            )
        else:
            there = there + _rsum(self.land_sched[:, r, s], 0)
        out[check] = there + load[check] > cap + EPS * np.maximum(1.0, cap)
        return out

    def _plan_candidates(self, t: int, only):
        md, plan = self.md, self.plan
        assert plan is not None
        if only is None:
            rows, cols = self._ready_list(t, None, self.next_tp <= t)
        else:
            rows, cols = only
            sel = self.next_tp[rows, cols] <= t
            rows, cols = rows[sel], cols[sel]
        if rows.size == 0:
            return None
        k = np.minimum(self.ptr[rows, cols], plan.sched_move.shape[1] - 1)
        mp = plan.sched_move[cols, k]
        tp = plan.sched_dep[cols, k]
        loc = self.loc[rows, cols]
        m = np.where(md.move_from[mp] == loc, mp, md.sub[mp, loc])
        skip = m < 0
        if skip.any():  # no move of its fleet from where it is: the sortie is dropped
            self._advance(rows[skip], cols[skip])
            rows, cols, m, tp = rows[~skip], cols[~skip], m[~skip], tp[~skip]
        ok = md.move_open[t, m] & (md.fleet_avail[md.ac_fleet[cols], t] > 0)
        rows, cols, m, tp = rows[ok], cols[ok], m[ok], tp[ok]
        share = self.plan_share[t, m]
        full = self._full(t, rows, m, share)
        if full.any() and md.rnd.divert:
            m, full = self._divert(t, rows, m, full, share)
        self._note_held(rows, cols, m, full)
        go = ~full
        return rows[go], cols[go], m[go], tp[go] * md.N + cols[go]

    def _divert(self, t: int, rows: np.ndarray, m: np.ndarray, full: np.ndarray, load: np.ndarray):
        """Flights bound for a full staging base go to the nearest other staging base their
        fleet flies to from there that has room."""
        md = self.md
        orig = md.move_to[m]
        for j in range(md.alt.shape[1]):
            m2 = md.alt[m, j]
            tr = full & (m2 >= 0)
            if not tr.any():
                break
            m2c = np.maximum(m2, 0)
            ok = tr & md.move_open[t, m2c]
            if ok.any():
                idx = np.flatnonzero(ok)
                ok[idx] = ~self._full(t, rows[idx], m2c[idx], load[idx])
            sp = self.stage_pos[orig]
            hit = ok & (sp >= 0)
            np.add.at(self.rec["diverted_from"], (rows[hit], sp[hit]), 1)
            m = np.where(ok, m2c, m)
            full = full & ~ok
        return m, full

    def _note_held(
        self, rows: np.ndarray, cols: np.ndarray, m: np.ndarray, full: np.ndarray
    ) -> None:
        """Count flights held because their staging base is full (a flight held over several
        periods counts once as a flight, and once per period in aircraft-periods)."""
        sp = self.stage_pos[self.md.move_to[m]]
        hit = full & (sp >= 0)
        new = hit & ~self.held[rows, cols]
        np.add.at(self.rec["held_flights"], (rows[new], sp[new]), 1)
        np.add.at(self.rec["held_aircraft_periods"], (rows[hit], sp[hit]), 1)
        self.held[rows, cols] = full

    def _policy_candidates(self, t: int, only):
        """The dispatch policy: fly when loaded or when the slot comes, to the nearest staging
        base with room; an aircraft with nobody to carry where it is goes where people wait for
        its fleet, or home."""
        md, N = self.md, self.md.N
        rows, cols = self._ready_list(t, only)
        if rows.size:
            avail = md.ac_j[cols] < md.fleet_avail[md.ac_fleet[cols], t]
            rows, cols = rows[avail], cols[avail]
        if rows.size == 0 or not self.pairs:
            return None
        n = rows.size
        f = md.ac_fleet[cols]
        loc = self.loc[rows, cols]
        load = md.fleet_load[f]
        key = self.ready[rows, cols] * N + cols
        # people who may board each outbound arc now, and per (fleet, airfield)
        fa = self.fwd_arcs
        Wa = np.zeros((self.R, md.A))
        Wa[:, fa] = (self.A[:, md.arc_from[fa], :] * md.arc_allowed[fa][None]).sum(axis=2)
        waiting = _segsum(Wa[:, self.pair_arcs], self.pair_starts, 1)  # (R, pairs)
        p_here = self.pair_of[f, loc]
        here = np.flatnonzero((p_here >= 0) & (waiting[rows, np.maximum(p_here, 0)] > EPS))
        has_out = np.zeros(n, dtype=bool)
        full = np.zeros(n, dtype=bool)
        loaded = np.zeros(n, dtype=bool)
        m = np.full(n, -1, dtype=np.int64)
        if here.size:
            ho, fl, ld, mo = self._outbound(
                t, rows[here], cols[here], f[here], loc[here], load[here], key[here], Wa
            )
            has_out[here], full[here], loaded[here], m[here] = ho, fl, ld, mo
        # repositioning: no one to carry here; go where people wait for its fleet, or home
        idle = ~has_out & ~full
        if idle.any():
            m = self._reposition(t, rows, cols, f, loc, load, idle, m, waiting)
            still = idle & (m < 0)
            home = md.home_move[f, loc]
            gohome = still & (home >= 0) & (self.wait[rows, cols] >= self.max_wait)
            gohome &= md.move_open[t, np.maximum(home, 0)]
            m = np.where(gohome, home, m)
            self.wait[rows, cols] = np.where(
                still & ~gohome & (home >= 0),
                self.wait[rows, cols] + 1,
                np.where(idle & ~still, 0, self.wait[rows, cols]),
            )
        go = m >= 0
        key = (
            np.where(loaded, 0, 1) * (md.T + 1) * N
            + np.minimum(self.ready[rows, cols], md.T) * N
            + cols
        )
        return rows[go], cols[go], m[go], key[go]

    def _outbound(self, t, rows, cols, f, loc, load, key, Wa):
        """For aircraft where people wait for them: the nearest staging base with room (at
        least half a load, or everyone waiting if fewer, once the aircraft ahead of it bound
        there have their share; else the next nearest), and whether it leaves now (loaded, or
        its slot has come). Returns (has a base, held for a full base, loaded, move or -1)."""
        md = self.md
        n = rows.size
        fm = md.fleet_fwd[f]  # (n, K)
        fmm = np.maximum(fm, 0)
        at = (fm >= 0) & (md.move_from[fmm] == loc[:, None]) & md.move_open[t, fmm]
        Wm = np.where(at, Wa[rows[:, None], md.move_arc[fmm]], 0.0)
        to = md.move_to[fmm]
        capT = md.cap[:, t]
        capped = np.isfinite(capT[to])
        room = np.full(Wm.shape, np.inf)
        if capped.any():
            now = self.A.sum(axis=2) + self.inbound.sum(axis=2) + _rsum(self.land_sched, 0)
            room = np.where(capped, capT[to] - now[rows[:, None], to], np.inf)
        need = np.ceil(np.minimum(Wm, load[:, None]) - 1e-9)
        half = np.ceil(load / 2)
        with_people = Wm > EPS
        rem = with_people.copy()
        kbest = np.full(n, -1, dtype=np.int64)
        assigned = np.zeros((self.R, md.S), dtype=np.int64)
        ii = np.arange(n)
        for _ in range(fm.shape[1]):
            active = rem.any(axis=1) & (kbest < 0)
            if not active.any():
                break
            kb = np.argmin(np.where(rem, md.block_h[fmm], np.inf), axis=1)
            to_c, need_c, room_c, cap_c = to[ii, kb], need[ii, kb], room[ii, kb], capped[ii, kb]
            sel = np.flatnonzero(active & cap_c)
            ahead = np.zeros(n, dtype=np.int64)
            if sel.size:
                ahead[sel] = (
                    _before(rows[sel], to_c[sel], key[sel], need_c[sel])
                    + assigned[rows[sel], to_c[sel]]
                )
            ok = active & (~cap_c | (ahead + np.minimum(need_c, half) <= room_c + EPS))
            kbest = np.where(ok, kb, kbest)
            hit = ok & cap_c
            np.add.at(assigned, (rows[hit], to_c[hit]), need_c[hit].astype(np.int64))
            rem[ii[active & ~ok], kb[active & ~ok]] = False
        has_out = kbest >= 0
        kb = np.maximum(kbest, 0)
        m_out = fm[ii, kb]
        w_out = Wm[ii, kb]
        # held for a full base: people to carry, but no base it flies to has room
        full = ~has_out & with_people.any(axis=1)
        kn = np.argmin(np.where(with_people, md.block_h[fmm], np.inf), axis=1)
        self._note_held(rows, cols, fm[ii, kn], full)
        # people left for an aircraft once those ahead of it at the site have their seats
        ho = np.flatnonzero(has_out)
        left = np.zeros(n)
        left[ho] = w_out[ho] - _before(rows[ho], loc[ho], key[ho], load[ho])
        loaded = has_out & (left >= load - EPS)
        slots_here = np.isfinite(md.dep_rhs)[loc]
        waited = self.wait[rows, cols] >= self.max_wait
        leave = has_out & (loaded | ((left > EPS) & (slots_here | waited)))
        self.wait[rows, cols] = np.where(
            has_out & ~leave & (left > EPS),
            self.wait[rows, cols] + 1,
            np.where(leave, 0, self.wait[rows, cols]),
        )
        return has_out, full, loaded, np.where(leave, m_out, -1)

    def _reposition(self, t: int, rows, cols, f, loc, load, idle, m, waiting) -> np.ndarray:
        """Send idle aircraft where people wait for their fleet (more than the seats of its
        aircraft there or on the way), within the MOG there."""
        md = self.md
        pos = np.where(self.loc >= 0, self.loc, self.dest)  # (R, N) where each is or will be
        F, S = len(md.fleets), md.S
        code = (np.arange(self.R)[:, None] * F + md.ac_fleet[None, :]) * S + pos
        counts = np.bincount(code[pos >= 0], minlength=self.R * F * S).reshape(self.R, F * S)
        demand = waiting - self.pair_load[None, :] * counts[:, self.pair_fs]
        # only aircraft of a fleet that people wait for somewhere
        wanted = np.zeros((self.R, F), dtype=bool)
        wanted[:, self.pair_fleets] = np.logical_or.reduceat(demand > EPS, self.fleet_starts, 1)
        idx = np.flatnonzero(idle & wanted[rows, f])
        if idx.size == 0:
            return m
        r, fi, li = rows[idx], f[idx], loc[idx]
        am = md.fleet_all[fi]  # (n, K)
        amm = np.maximum(am, 0)
        p = self.pair_of[fi[:, None], md.move_to[amm]]
        ok = (am >= 0) & (md.move_from[amm] == li[:, None]) & md.move_open[t, amm] & (p >= 0)
        d = np.where(ok, demand[r[:, None], np.maximum(p, 0)], -np.inf)
        kb = np.argmax(d, axis=1)
        jj = np.arange(idx.size)
        best = d[jj, kb]
        mv = am[jj, kb]
        go = best > EPS
        if not go.any():
            return m
        g = np.flatnonzero(go)
        target = md.move_to[mv[g]]
        rank = _rank(r[g], p[jj[g], kb[g]], cols[idx[g]])
        there = self._on_ground() + self._inbound_aircraft()
        mog_left = md.mog_eff[target, t] - there[r[g], target]
        rank2 = _rank(r[g], target, cols[idx[g]])
        fine = (rank * load[idx[g]] < best[g] - EPS) & (rank2 < mog_left)
        m = m.copy()
        m[idx[g[fine]]] = mv[g[fine]]
        return m

    def _count(self, site: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """(R, S) aircraft counts by site, of those in ``mask``."""
        S = self.md.S
        code = (np.arange(self.R)[:, None] * S + site)[mask]
        return np.bincount(code, minlength=self.R * S).reshape(self.R, S)

    def _inbound_aircraft(self) -> np.ndarray:
        return self._count(self.dest, (self.loc < 0) & (self.dest >= 0))

    def _on_ground(self) -> np.ndarray:
        return self._count(self.loc, self.loc >= 0)

    # ---- aircraft: landings ----------------------------------------------------------------
    def _landings(self, t: int):
        """Aircraft due land within arrival slots and MOG, first due first; the others hold in
        the air. An aircraft whose ground time ends within the period it lands (it may leave
        again at once) is not counted against the MOG now: if it does not leave, it goes round
        (:meth:`_go_around`). People step off where they land."""
        md = self.md
        rows, cols = np.nonzero((self.loc < 0) & (self.eta <= t))
        landed = (rows[:0], cols[:0])
        quick = landed
        if rows.size:
            d = self.dest[rows, cols]
            key = np.minimum(self.eta[rows, cols], md.T) * md.N + cols
            ok = md.open_[d, t]
            if np.isfinite(md.arr_rhs[d]).any():
                used = np.zeros((self.R, md.S), dtype=np.int64)
                for k in range(self.W):
                    used += np.where((k < md.arr_w)[None, :], self.arr_ring[(t - k) % self.W], 0)
                left = np.floor(md.arr_rhs[None, :] - used + 1e-9)
                sel = np.flatnonzero(ok)
                ok[sel] = _rank(rows[sel], d[sel], key[sel]) < left[rows[sel], d[sel]]
            turn = self.gnd_off[rows, cols] == 0
            mog_left = np.floor(md.mog_eff[:, t][None, :] - self._on_ground() + 1e-9)
            sel = np.flatnonzero(ok & ~turn)
            ok[sel] = _rank(rows[sel], d[sel], key[sel]) < mog_left[rows[sel], d[sel]]
            hold = ~ok
            if hold.any():  # held in the air: try again next period
                hr, hc = rows[hold], cols[hold]
                self.rec["air_hold_periods"] += np.bincount(hr, minlength=self.R)
                pp = self.ob_tot[hr, hc]
                np.add.at(self.land_sched, (self.eta[hr, hc] % self.LB, hr, d[hold]), -pp)
                np.add.at(self.land_sched, ((t + 1) % self.LB, hr, d[hold]), pp)
                self.eta[hr, hc] = t + 1
            lr, lc, ld = rows[ok], cols[ok], d[ok]
            if lr.size:
                np.add.at(
                    self.land_sched, (self.eta[lr, lc] % self.LB, lr, ld), -self.ob_tot[lr, lc]
                )
                np.add.at(self.arr_ring[t % self.W], (lr, ld), 1)
                self.loc[lr, lc] = ld
                self.ready[lr, lc] = t + self.gnd_off[lr, lc]
                self.eta[lr, lc] = t
                self.dest[lr, lc] = -1
            landed = (lr, lc)
            quick = (lr[turn[ok]], lc[turn[ok]])
        # people step off: aircraft that landed, and those held at the ramp with people aboard
        rr, rc = np.nonzero((self.loc >= 0) & (self.ob_tot > EPS))
        if rr.size:
            amount = self.onboard[rr, rc]
            site = self.loc[rr, rc]
            np.add.at(self.A, (rr, site), amount)
            self.onboard[rr, rc] = 0.0
            self.ob_tot[rr, rc] = 0.0
            self.off.append((rr, rc, site, amount))
        return landed, quick

    def _go_around(self, t: int, quick: tuple[np.ndarray, np.ndarray]) -> None:
        """Aircraft that landed this period to turn round at once but did not leave go round
        (back in the air with their people, landing next period) where the MOG is exceeded."""
        md = self.md
        qr, qc = quick
        still = self.loc[qr, qc] >= 0
        qr, qc = qr[still], qc[still]
        if qr.size == 0:
            return
        excess = self._on_ground() - np.floor(md.mog_eff[:, t][None, :] + 1e-9)
        site = self.loc[qr, qc]
        back = _rank(qr, site, md.N - qc) < excess[qr, site]
        if not back.any():
            return
        br, bc, bs = qr[back], qc[back], site[back]
        for i, (rr, rc, s, amount) in enumerate(self.off):  # take their people back aboard
            code = rr * self.md.N + rc
            hit = np.isin(code, br * self.md.N + bc)
            if hit.any():
                np.add.at(self.A, (rr[hit], s[hit]), -amount[hit])
                self.onboard[rr[hit], rc[hit]] += amount[hit]
                self.ob_tot[rr[hit], rc[hit]] = self.onboard[rr[hit], rc[hit]].sum(axis=1)
                keep = ~hit
                self.off[i] = (rr[keep], rc[keep], s[keep], amount[keep])
        np.add.at(self.land_sched, ((t + 1) % self.LB, br, bs), self.ob_tot[br, bc])
        np.add.at(self.arr_ring[t % self.W], (br, bs), -1)
        self.rec["air_hold_periods"] += np.bincount(br, minlength=self.R)
        self.dest[br, bc] = bs
        self.eta[br, bc] = t + 1
        self.loc[br, bc] = -1

    # ---- people ----------------------------------------------------------------------------
    def _people(self, t: int) -> None:
        md, R = self.md, self.R
        A_, C = md.A, md.C
        self.flow_t = np.zeros((R, A_, C))  # every flow this period
        self.out_t = np.zeros((R, C))  # people leaving the evacuation airport this period
        self.d0 = np.zeros((R, A_, C))  # delay-0 ground flows that followed the plan
        self.d0s = np.zeros((R, A_, C))  # and those that did not
        seats = np.zeros((R, A_))
        fa = self.fwd_arcs
        if fa.size:
            mv = md.arc_move[fa]
            seats[:, fa] = self.nd_move[:, mv] * md.fleet_load[md.move_fleet[mv]][None, :]
        room = np.where(md.arc_move[None, :] >= 0, seats, md.arc_cap[None, :])
        self.arc_room = np.where(
            md.arc_open[t][None, :] & self.site_open[:, md.arc_from], room, 0.0
        )
        self.site_room = self.rate_eff.copy()
        for li, layer in enumerate(md.layers):
            arcs = self.layer_arcs[li]
            if self.plan is not None and arcs.size:
                self._planned(t, arcs)
            self._surplus(t, layer)
        # loads of the aircraft that left this period
        if self.gone:
            rows = np.concatenate([g[0] for g in self.gone])
            cols = np.concatenate([g[1] for g in self.gone])
            m = np.concatenate([g[2] for g in self.gone])
            fwd = md.move_arc[m] >= 0
            rows, cols, m = rows[fwd], cols[fwd], m[fwd]
            if rows.size:
                share = self.flow_t[rows, md.move_arc[m]] / self.nd_move[rows, m][:, None]
                pp = share.sum(axis=1)
                self.onboard[rows, cols] = share
                self.ob_tot[rows, cols] = pp
                dest = self.dest[rows, cols]
                np.add.at(self.land_sched, (self.eta[rows, cols] % self.LB, rows, dest), pp)
                f = md.move_fleet[m]
                np.add.at(self.rec["people_flown"], (rows, f), pp)
                np.add.at(self.rec["seats_flown"], (rows, f), md.fleet_load[f])
                ev = md.move_from[m] == md.evac
                day = self.day_of[t]
                op = md.fleet_op[f]
                carried = ev & (pp > EPS)
                np.add.at(self.rec["flights_op_day"], (rows[carried], op[carried], day), 1)
                np.add.at(self.rec["out_op_day"], (rows[ev], op[ev], day), pp[ev])

    def _apply1(self, t: int, a: int, f: np.ndarray, planned: bool) -> None:
        """Send flows ``f`` (R, C) on arc ``a`` (see :meth:`_apply`)."""
        md = self.md
        src = int(md.arc_from[a])
        tot = f.sum(axis=1)
        if src == md.evac:
            self.out_t += f
        self.A[:, src] -= f
        self.site_room[:, src] -= tot
        self.flow_t[:, a] += f
        self.arc_room[:, a] -= tot
        if planned:
            self.X[:, a] += f
        if md.arc_move[a] >= 0:
            return
        d, dst = int(md.arc_delay[a]), int(md.arc_to[a])
        if d == 0:
            self.A[:, dst] += f
            (self.d0 if planned else self.d0s)[:, a] += f
        else:
            self.ring[(t + d) % self.D][:, dst] += f
            self.inbound[:, dst] += f

    def _apply(self, t: int, arcs: np.ndarray, f: np.ndarray, planned: bool) -> None:
        """Send flows ``f`` (R, arcs, C) on ``arcs``, arc by arc in their order (adding the
        zeros of arcs that carry no one in this batch would change nothing, so they are
        skipped); ``planned`` flows follow the plan."""
        for j in np.flatnonzero(f.any(axis=(0, 2))):
            self._apply1(t, int(arcs[j]), f[:, j], planned)

    def _dest_room(self, t: int, arcs: np.ndarray, planned: bool = False) -> np.ndarray:
        """(R, arcs) room at the far end of ground legs into a site with a holding capacity:
        its capacity when they arrive less people there and on the way; for the plan's own
        flows, plus the plan's departures from it until then (others: no one leaves meanwhile).
        For a leg crossed within the period, its capacity now less people there now. A site
        over its capacity at the end of a period takes back what came in over it."""
        md = self.md
        to = md.arc_to[arcs]
        ta = np.minimum(t + md.arc_delay[arcs], md.T - 1)
        cap = md.cap[to, ta]
        lim = (md.arc_move[arcs] < 0) & np.isfinite(cap) & (t + md.arc_delay[arcs] < md.T)
        if not lim.any():
            return np.full((self.R, arcs.size), np.inf)
        there = self.A[:, to].sum(axis=2) + self.inbound[:, to].sum(axis=2)
        if planned and self.plan is not None:
            later = md.arc_delay[arcs] > 0
            drain = self.plan_out_cum[ta, to] - (self.plan_out_cum[t - 1, to] if t > 0 else 0.0)
            there = there - np.where(later, drain, 0.0)[None, :]
        return np.where(lim[None, :], np.maximum(cap[None, :] - there, 0.0), np.inf)

    def _segs(self, arcs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(origin sites, segment starts, segment of each arc) of arcs sorted by origin."""
        key = arcs.tobytes()
        got = self._seg_cache.get(key)
        if got is None:
            sites, starts = _segments(self.md.arc_from[arcs])
            inv = np.cumsum(np.isin(np.arange(arcs.size), starts)) - 1
            got = self._seg_cache[key] = (sites, starts, inv)
        return got

    def _planned(self, t: int, arcs: np.ndarray) -> None:
        """What the plan has sent on each arc by now, less what has gone, within what is there
        and the capacities of this period."""
        md = self.md
        target = self.flow_cum[t, arcs][None] - self.X[:, arcs]  # (R, a, C)
        if not (target > EPS).any():
            return
        # every arc of the layer, whether or not it carries anyone in this batch: sums over
        # arcs then add the same terms in the same order whatever the batch holds
        target = np.where(target > EPS, target, 0.0)
        tot = target.sum(axis=2)
        room = self.arc_room[:, arcs]
        later = np.flatnonzero((md.arc_move[arcs] < 0) & (md.arc_delay[arcs] > 0))
        if later.size:
            room[:, later] = np.minimum(
                room[:, later], self._dest_room(t, arcs[later], planned=True)
            )
        target *= np.where(tot > room, np.maximum(room, 0.0) / np.where(tot > 0, tot, 1.0), 1.0)[
            :, :, None
        ]
        # site processing rates and the people at each site, cohort by cohort
        sites, starts, inv = self._segs(arcs)
        out = _segsum(target.sum(axis=2), starts, 1)
        lim = self.site_room[:, sites]
        sc = np.where(out > lim, np.maximum(lim, 0.0) / np.where(out > 0, out, 1.0), 1.0)
        target *= sc[:, inv][:, :, None]
        need = _segsum(target, starts, 1)
        have = np.maximum(self.A[:, sites], 0.0)
        sc2 = np.where(need > have, have / np.where(need > 0, need, 1.0), 1.0)
        target *= sc2[:, inv]
        self._apply(t, arcs, target, True)

    def _surplus(self, t: int, layer: np.ndarray) -> None:
        """Everyone above the plan's numbers (everyone, without a plan) moves on where there
        is room; at assembly points, the call-forward policy (without a plan) and surges."""
        md = self.md
        rnd = md.rnd
        for s in layer:
            out = self.site_arcs[s]
            if out.size == 0:
                continue
            if self.is_assembly[s]:
                if self.plan is None:
                    self._call_forward(t, s, out)
                if self.random and rnd.surge_p > 0 and rnd.surge_size_h > 0:
                    self._surges(t, s, out)
                continue
            surplus = (
                self.A[:, s] - self.hold_plan[t, s][None, :]
                if self.plan is not None
                else self.A[:, s]
            )
            surplus = np.where(surplus > EPS, surplus, 0.0)
            if not surplus.any():
                continue
            live = out[(self.arc_room[:, out] > EPS).any(axis=0)]
            if live.size == 0:
                continue
            droom = self._dest_room(t, live)
            for j, a in enumerate(live):
                room = np.minimum(self.arc_room[:, a], self.site_room[:, s])
                if np.isfinite(droom[:, j]).any():
                    room = np.minimum(room, droom[:, j] - self.flow_t[:, a].sum(axis=1))
                if self.plan is None and md.arc_move[a] >= 0:
                    room = np.minimum(room, self._air_room(t, int(a)))
                room = np.maximum(room, 0.0)
                if not (room > EPS).any():
                    continue
                avail = surplus * md.arc_allowed[a][None, :]
                if md.arc_to[a] == md.evac and md.arc_move[a] < 0:
                    # the airport admits a cohort up to loads for the aircraft that carry it
                    quota = md.lift_quota[t][None, :] - self.A[:, md.evac]
                    avail = np.minimum(avail, np.maximum(quota, 0.0))
                take = _take_by_priority(avail, room, md.prio_order)
                take = np.where(take > EPS, take, 0.0)
                if take.any():
                    surplus = surplus - take
                    self._apply1(t, int(a), take, False)

    def _air_room(self, t: int, a: int) -> np.ndarray:
        """(R,) room at the staging base an outbound air arc flies to, for the dispatch policy:
        its capacity less people there, on the way and loaded this period for it."""
        md = self.md
        to = int(md.arc_to[a])
        cap = md.cap[to, min(t + int(md.move_land[md.arc_move[a]]), md.T - 1)]
        if not np.isfinite(cap):
            return np.full(self.R, np.inf)
        loaded = _rsum(self.flow_t[:, self.bound_arcs[to]].sum(axis=2), 1)
        there = (
            self.A[:, to].sum(axis=1)
            + self.inbound[:, to].sum(axis=1)
            + _rsum(self.land_sched[:, :, to], 0)
            + loaded
        )
        return np.maximum(cap - there, 0.0)

    def _call_forward(self, t: int, s: int, out: np.ndarray) -> None:
        """Call people to the gates so that the crowd in front of each stays within its safe
        number (crowd area x safe density, or its holding capacity), allowing for the people
        it screens until they arrive; higher priority first, and no more of a cohort than the
        aircraft that may carry it can take soon."""
        md = self.md
        for a in out:
            g = int(md.arc_to[a])
            gp = self.gate_pos[g]
            delay = int(md.arc_delay[a])
            budget = np.full(self.R, np.inf)
            if gp >= 0:
                cap = self.gate_cap[gp, min(t + delay, md.T - 1)]
                if np.isfinite(cap):
                    screened = md.rate[g] * delay if np.isfinite(md.rate[g]) else 0.0
                    crowd = self.A[:, g].sum(axis=1) + self.inbound[:, g].sum(axis=1)
                    budget = np.where(self.site_open[:, g], cap + screened - crowd, 0.0)
            room = np.maximum(np.minimum(budget, self.arc_room[:, a]), 0.0)
            if not (room > EPS).any():
                continue
            avail = np.maximum(self.A[:, s], 0.0) * md.arc_allowed[a][None, :]
            gates = md.gates
            pipeline = (
                self.A[:, md.evac] + _rsum(self.A[:, gates], 1) + _rsum(self.inbound[:, gates], 1)
            )
            quota = md.lift_quota[min(t + delay, md.T - 1)][None, :] - pipeline
            avail = np.minimum(avail, np.maximum(quota, 0.0))
            take = _take_by_priority(avail, room, md.prio_order)
            take = np.where(take > EPS, take, 0.0)
            if take.any():
                self._apply1(t, int(a), take, False)

    def _surges(self, t: int, s: int, out: np.ndarray) -> None:
        """Uncalled people come to a gate from the assembly points that feed it, in proportion
        to who waits there; with a plan, they count as called (the plan calls fewer later)."""
        md = self.md
        hit = self._d("surge_u", t) < md.rnd.surge_p  # (R, G)
        if not hit.any():
            return
        calls = self.call_arcs
        if self._surge_t != t:  # who waits for each call arc, before anyone surges this period
            self._surge_t = t
            self._surge_waiting = (
                np.maximum(self.A[:, md.arc_from[calls]], 0.0) * md.arc_allowed[calls][None]
            ).sum(axis=2)  # (R, calls)
            # everyone waiting for a gate's call arcs, from every assembly point
            self._surge_all = np.zeros((self.R, md.G))
            for j, a in enumerate(calls):
                gp = self.gate_pos[md.arc_to[a]]
                if gp >= 0:
                    self._surge_all[:, gp] += self._surge_waiting[:, j]
        mine = out[self.gate_pos[md.arc_to[out]] >= 0]
        if mine.size == 0:
            return
        gp = self.gate_pos[md.arc_to[mine]]
        go = hit[:, gp]  # (R, arcs)
        if not go.any():
            return
        avail = np.maximum(self.A[:, s], 0.0)[:, None, :] * md.arc_allowed[mine][None]
        here = avail.sum(axis=2)  # (R, arcs)
        allf = self._surge_all[:, gp]
        share = np.where(allf > 0, here / np.where(allf > 0, allf, 1.0), 0.0)
        size = np.where(go, self._d("surge_n", t)[:, gp] * share, 0.0)
        size = np.maximum(np.minimum(size, self.arc_room[:, mine]), 0.0)
        frac = np.where(here > 0, np.minimum(size, here) / np.where(here > 0, here, 1.0), 0.0)
        take = avail * frac[:, :, None]  # (R, arcs, C)
        # the arcs draw on the same people: no more than are there, cohort by cohort
        tot = take.sum(axis=1)
        have = np.maximum(self.A[:, s], 0.0)
        cut = np.where(tot > have, have / np.where(tot > 0, tot, 1.0), 1.0)
        take = take * cut[:, None, :]
        take = np.where(take > EPS, take, 0.0)
        if take.any():
            self._apply(t, mine, take, self.plan is not None)

    # ---- holding capacity at the end of the period ------------------------------------------
    def _overflow(self, t: int) -> None:
        md = self.md
        if self.capped.size == 0:
            return
        cap = md.cap[self.capped, t]
        over = self.A[:, self.capped].sum(axis=2) - cap[None, :]
        tol = EPS * np.maximum(1.0, np.where(np.isfinite(cap), cap, 1.0))
        hit = (over > tol[None, :]).any(axis=0)
        if not hit.any():
            return
        for s in sorted(self.capped[hit], key=lambda x: -self.layer_of[x]):
            self._take_back(t, int(s))

    def _take_back(self, t: int, s: int) -> None:
        """People who came in this period over the capacity go back: to the gate (legs
        crossed within the period), aboard their aircraft (at the ramp), or wait at the
        entrance for the next period (legs that take time, and people who stepped off an
        aircraft that has left again)."""
        md = self.md
        end = self.A[:, s]  # (R, C)
        over = end.sum(axis=1) - md.cap[s, t]
        cap = md.cap[s, t]
        over = np.where(over > EPS * max(1.0, cap), over, 0.0)  # as in _overflow: exact no-op
        # for the runs of the batch that are within the capacity
        ground = np.flatnonzero((md.arc_to == s) & (md.arc_move < 0) & (md.arc_delay == 0))
        gin = self.d0[:, ground] + self.d0s[:, ground]  # (R, k, C)
        inflow = _rsum(gin, 1) + self.arrived[:, s]
        offs = []
        gone = np.zeros_like(end)  # stepped off from aircraft that have left again
        for rr, rc, site, amount in self.off:
            here = (site == s) & (self.loc[rr, rc] == s)
            if here.any():
                offs.append((rr[here], rc[here], amount[here]))
                np.add.at(inflow, rr[here], amount[here])
            away = (site == s) & (self.loc[rr, rc] != s)
            if away.any():
                np.add.at(gone, rr[away], amount[away])
        inflow = inflow + gone
        reducible = np.minimum(inflow, np.maximum(end, 0.0))
        rtot = reducible.sum(axis=1)
        amount_back = np.minimum(over, rtot)
        frac = np.where(rtot > 0, amount_back / np.where(rtot > 0, rtot, 1.0), 0.0)
        red = reducible * frac[:, None]
        share = np.where(inflow > 0, red / np.where(inflow > 0, inflow, 1.0), 0.0)  # (R, C)
        self.A[:, s] -= red
        if ground.size:
            back = gin * share[:, None, :]
            from_s = np.minimum(back, self.d0s[:, ground])
            from_p = back - from_s
            self.d0s[:, ground] -= from_s
            self.d0[:, ground] -= from_p
            self.X[:, ground] -= from_p
            self.flow_t[:, ground] -= back
            for j in np.flatnonzero(md.arc_from[ground] == md.evac):
                self.out_t -= back[:, j]
            np.add.at(self.A, (ALL, md.arc_from[ground]), back)  # type: ignore[arg-type]
        for rr, rc, amount in offs:
            back = amount * share[rr]
            self.onboard[rr, rc] += back
            self.ob_tot[rr, rc] = self.onboard[rr, rc].sum(axis=1)
        wait = (self.arrived[:, s] + gone) * share
        self.ring[(t + 1) % self.D][:, s] += wait
        self.inbound[:, s] += wait

    # ---- records ---------------------------------------------------------------------------
    def _record(self, t: int) -> None:
        md, rec = self.md, self.rec
        rec["out"][:, :, t] = self.out_t
        rec["delivered"][:, t] = _rsum(self.H[:, md.dest_sites].sum(axis=2), 1)
        if md.G:
            rec["gate_crowd"][:, :, t] = self.H[:, md.gates].sum(axis=2)
        if md.staging.size:
            hold = self.H[:, md.staging].sum(axis=2)
            rec["stage_hold"][:, :, t] = hold
            cap = md.cap_site[md.staging, t]
            rec["stage_full_periods"] += np.isfinite(cap)[None, :] & (hold >= cap[None, :] - 1.0)
        self.airborne += self.loc < 0
        for rows, _cols, m in self.gone:
            fwd = md.move_fwd[m]
            np.add.at(rec["sorties_out"], (rows[fwd], md.move_fleet[m[fwd]]), 1)
            np.add.at(rec["sorties_back"], (rows[~fwd], md.move_fleet[m[~fwd]]), 1)
        if self.audit:
            rec["in_system"][:, t] = (
                self.H.sum(axis=2).sum(axis=1)
                + self.inbound.sum(axis=2).sum(axis=1)
                + self.ob_tot.sum(axis=1)
            )
            rec["flows"][:, t] = self.flow_t
            rec["sorties"][:, t] = self.nd_move
            rec["hold"][:, t] = self.H.sum(axis=2)
            rec["on_ground"][:, t] = self._on_ground()
            rec["dep_count"][:, t] = self.dep_ring[t % self.W]
            rec["arr_count"][:, t] = self.arr_ring[t % self.W]
        # the rings keep a period's counts until they are cleared W periods on
        nxt = (t + 1) % self.W
        self.dep_ring[nxt] = 0
        self.arr_ring[nxt] = 0


def run_batch(
    model: SimModel,
    seeds: Sequence[np.random.SeedSequence],
    audit: bool = False,
    random: bool = True,
) -> dict[str, np.ndarray]:
    """Run ``len(seeds)`` replications (one seed sequence each); return their records, each an
    array whose first axis is the run."""
    return Batch(model, seeds, audit=audit, random=random).run()
