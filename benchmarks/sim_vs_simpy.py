"""Benchmark: the vectorised simulator against a SimPy model of the same process, side by side.

Both follow the Kabul plan under the scenario's uncertainty. The SimPy model (below, in this
file) has one process per aircraft and moves people with Python loops
per site, arc and cohort; evacops steps every run of a batch at once with numpy. Printed: time
per run on each side (evacops in one process, and on the local engine with every core), the
speed-up (goal: evacops at least 20x faster), and the P50 of people out and left behind, to show
the two model the same operation.

    .venv/bin/python benchmarks/sim_vs_simpy.py [--plan DIR] [--simpy-runs 10] [--runs 500]
                                                [--json]

Without --plan the Kabul plan is solved first (minutes) into out/bench/kabul-plan, or read from
there if it is the plan of the current scenario file. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import simpy  # noqa: E402
from sim_kabul import KABUL, kabul_plan  # noqa: E402

from evacops.scenario import load  # noqa: E402
from evacops.sim import prepare, simulate  # noqa: E402
from evacops.sim.model import SimModel  # noqa: E402

EPS = 1e-6

# ---- the SimPy model -------------------------------------------------------------------------
# One run is one simpy.Environment. Each aircraft is a SimPy process that follows its planned
# sorties (waiting for its planned time and its ground time, a departure slot, a staging base with
# room; aborts; random block and ground times; holding in the air for an arrival slot and MOG). A
# `periods` process moves people, as counts by cohort in Python lists, once a period, half a
# period after the aircraft: arrivals by ground, gate incidents and random screening, the plan's
# flows with catch-up, everyone above the plan's numbers where there is room, loads of the
# aircraft that left. Same inputs (the compiled arrays of evacops.sim.model) and rules, written
# the usual discrete-event way: an object per aircraft, Python loops per site, arc and cohort.
# Its random numbers are drawn in another order, so its runs agree with evacops in distribution,
# not number for number.


def _lognormal(rng: np.random.Generator, cv: float) -> float:
    if cv <= 0:
        return 1.0
    s2 = math.log1p(cv * cv)
    return math.exp(math.sqrt(s2) * rng.standard_normal() - s2 / 2)


class SimpyRun:
    def __init__(self, md: SimModel, seed: np.random.SeedSequence):
        assert md.plan is not None, "the SimPy model follows a plan"
        self.md = md
        self.rng = np.random.default_rng(seed)
        self.env = simpy.Environment()
        S, C, A = md.S, md.C, md.A
        self.H = [[0.0] * C for _ in range(S)]
        self.X = [[0.0] * C for _ in range(A)]
        self.pipe: dict[int, list[tuple[int, list[float]]]] = {}
        self.flow_cum = md.plan.flow_cum.tolist()  # [t][a][c]
        self.hold_plan = md.plan.hold.tolist()  # [t][s][c]
        self.on_ground = [0] * S
        for i in range(md.N):
            self.on_ground[int(md.ac_home[i])] += 1
        self.deps: dict[int, list[int]] = {}  # departures per site per period
        self.arrs: dict[int, list[int]] = {}
        self.leaving: list[tuple[int, int]] = []  # (aircraft, move) that left this period
        self.aboard: dict[int, list[float]] = {}
        self.incident = [0] * md.G
        self.out = [0.0] * md.T
        self.rate = list(md.net.rate)
        # the airfields' own slot rates over their windows (this model leaves out the changes
        # over time, runway movements, crews, maintenance, stays and screening refusals that
        # evacops.sim enforces since issue 11: see docs/simulation.md, "Measured performance")
        self.dep_w, self.dep_rhs = md.net.slot_windows(md.net.dep_slots)
        self.arr_w, self.arr_rhs = md.net.slot_windows(md.net.arr_slots)
        for i in range(md.N):
            self.env.process(self.aircraft(i))
        self.env.process(self.periods())

    # ---- aircraft ----------------------------------------------------------------------------
    def _slot(self, counts: dict[int, list[int]], w, rhs, s: int, t: int) -> bool:
        if not math.isfinite(rhs[s]):
            return True
        c = counts.setdefault(s, [0] * (self.md.T + 64))
        return sum(c[max(0, t - int(w[s]) + 1) : t + 1]) < rhs[s] - 1e-9

    def _full(self, m: int, t: int) -> bool:
        md = self.md
        to = int(md.net.move_to[m])
        L = min(t + int(md.net.move_land[m]), md.T - 1)
        cap = md.hold_cap[to, L]
        if not md.net.move_forward[m] or not math.isfinite(cap):
            return False
        there = sum(self.H[to])
        for i, loads in self.aboard.items():
            if self.dest_of.get(i) == to:
                there += sum(loads)
        return there > cap + 1e-6 * max(1.0, cap)

    def aircraft(self, i: int):
        md, env, rng, rnd = self.md, self.env, self.rng, self.md.rnd
        plan = md.plan
        self.dest_of: dict[int, int] = getattr(self, "dest_of", {})
        loc = int(md.ac_home[i])
        ready = 0
        for k in range(int(plan.n_sched[i])):
            m, tp = int(plan.sched_move[i, k]), int(plan.sched_dep[i, k])
            if md.net.move_from[m] != loc:
                m = int(md.sub[m, loc])
                if m < 0:
                    continue
            while True:
                t = math.ceil(env.now)
                wait = max(tp, ready, t) - env.now
                if wait > 0:
                    yield env.timeout(wait)
                t = round(env.now)
                if t >= md.T:
                    return
                if (
                    md.move_open_tm[t, m]
                    and md.net.fleet_avail[md.ac_fleet[i], t] > 0
                    and self._slot(self.deps, self.dep_w, self.dep_rhs, loc, t)
                    and not self._full(m, t)
                ):
                    self.deps.setdefault(loc, [0] * (md.T + 64))[t] += (
                        1 if math.isfinite(self.dep_rhs[loc]) else 0
                    )
                    if rng.random() < rnd.abort_p:
                        ready = t + int(md.ground_origin_periods[m])
                        continue
                    break
                yield env.timeout(1)
            # fly
            self.on_ground[loc] -= 1
            self.leaving.append((i, m))
            bv = md.block_h[m] * _lognormal(rng, rnd.block_cv)
            gv = md.ground_dest_h[m] * _lognormal(rng, rnd.ground_cv)
            land = max(1, math.ceil(bv / md.period_h - 1e-9))
            gnd = max(land, math.ceil((bv + gv) / md.period_h - 1e-9)) - land
            dest = int(md.net.move_to[m])
            self.dest_of[i] = dest
            yield env.timeout(land)
            while True:  # hold in the air for an arrival slot and the MOG
                t = round(env.now)
                if t >= md.T:
                    return
                if (
                    md.net.open_[dest, t]
                    and self._slot(self.arrs, self.arr_w, self.arr_rhs, dest, t)
                    and self.on_ground[dest] < md.mog_eff[dest, t] - 1e-9
                ):
                    break
                yield env.timeout(1)
            if math.isfinite(self.arr_rhs[dest]):
                self.arrs.setdefault(dest, [0] * (md.T + 64))[t] += 1
            self.on_ground[dest] += 1
            loads = self.aboard.pop(i, None)
            self.dest_of.pop(i, None)
            if loads:
                row = self.H[dest]
                for c, x in enumerate(loads):
                    row[c] += x
            loc, ready = dest, t + gnd

    # ---- people ------------------------------------------------------------------------------
    def periods(self):
        md, env, rng, rnd = self.md, self.env, self.rng, self.md.rnd
        yield env.timeout(0.5)
        C = md.C
        order = [int(c) for c in md.prio_order]
        for t in range(md.T):
            H = self.H
            for c in range(C):  # appearing
                for s in range(md.S):
                    x = md.appear_tsc[t, s, c]
                    if x:
                        H[s][c] += x
            for s, people in self.pipe.pop(t, []):
                for c in range(C):
                    H[s][c] += people[c]
            open_ = [bool(md.net.open_[s, t]) for s in range(md.S)]
            rate = list(md.net.rate)
            for g, s in enumerate(md.gates):  # incidents and screening
                self.incident[g] = max(0, self.incident[g] - 1)
                if self.incident[g] == 0 and rng.random() < rnd.incident_p:
                    hours = rng.exponential(rnd.incident_mean_h) if rnd.incident_mean_h else 0
                    self.incident[g] = max(1, math.ceil(hours / md.period_h - 1e-9))
                if self.incident[g] > 0:
                    open_[s] = False
                rate[s] = rate[s] * _lognormal(rng, rnd.screening_cv)
            self._surges(t, rate)
            seats = [0.0] * md.A
            n_leaving = [0] * md.M
            for _i, m in self.leaving:
                n_leaving[m] += 1
                a = int(md.move_arc[m])
                if a >= 0:
                    seats[a] += md.net.fleet_load[md.net.move_fleet[m]]
            room_site = [r if open_[s] else 0.0 for s, r in enumerate(rate)]
            flow = [[0.0] * C for _ in range(md.A)]
            for layer in md.layers:
                for s in layer:
                    self._site(t, int(s), open_, seats, room_site, flow, order)
            for i, m in self.leaving:  # loads of the aircraft that left
                a = int(md.move_arc[m])
                if a >= 0 and n_leaving[m]:
                    self.aboard[i] = [x / n_leaving[m] for x in flow[a]]
            self.leaving = []
            self.out[t] = sum(
                sum(flow[a]) for a in range(md.A) if md.net.arc_from[a] == md.net.evac
            )
            yield env.timeout(1)

    def _surges(self, t: int, rate: list[float]) -> None:
        """Uncalled people come to a gate from the assembly points that feed it."""
        md, rng, rnd = self.md, self.rng, self.md.rnd
        if rnd.surge_p <= 0 or rnd.surge_size_h <= 0:
            return
        for g, gate in enumerate(md.gates):
            if rng.random() >= rnd.surge_p or not math.isfinite(md.gate_rate_h[g]):
                continue
            size = rng.exponential(rnd.surge_size_h * md.gate_rate_h[g])
            feeds = [
                a
                for a in range(md.A)
                if md.net.arc_to[a] == gate and md.net.site_kind[md.net.arc_from[a]] == "assembly"
            ]
            waiting = [
                sum(self.H[md.net.arc_from[a]][c] for c in range(md.C) if md.arc_allowed_ac[a, c])
                for a in feeds
            ]
            total = sum(waiting)
            for a, w in zip(feeds, waiting, strict=True):
                if total <= 0 or w <= 0:
                    continue
                part = min(size * w / total, w)
                s = int(md.net.arc_from[a])
                take = [
                    self.H[s][c] * part / w if md.arc_allowed_ac[a, c] else 0.0 for c in range(md.C)
                ]
                self._send(t, a, take, [[0.0] * md.C for _ in range(md.A)], True)

    def _send(self, t: int, a: int, take: list[float], flow, planned: bool) -> None:
        md = self.md
        src, dst, d = int(md.net.arc_from[a]), int(md.net.arc_to[a]), int(md.net.arc_delay[a])
        for c, x in enumerate(take):
            if x <= 0:
                continue
            self.H[src][c] -= x
            flow[a][c] += x
            if planned:
                self.X[a][c] += x
            if md.net.arc_move[a] >= 0:
                continue
            if d == 0:
                self.H[dst][c] += x
        if md.net.arc_move[a] < 0 and d > 0:
            self.pipe.setdefault(t + d, []).append((dst, list(take)))

    def _site(self, t, s, open_, seats, room_site, flow, order) -> None:
        md = self.md
        arcs = [a for a in range(md.A) if md.net.arc_from[a] == s]
        if not arcs:
            return
        # the plan's flows, caught up
        for a in arcs:
            if md.net.arc_move[a] < 0:
                room = md.net.arc_cap[a] if (md.arc_open_ta[t, a] and open_[s]) else 0.0
            else:
                room = seats[a]
            room = min(room, room_site[s]) - sum(flow[a])
            want = [max(0.0, self.flow_cum[t][a][c] - self.X[a][c]) for c in range(md.C)]
            tot = sum(want)
            if tot <= EPS or room <= EPS:
                continue
            k = min(1.0, room / tot)
            take = [min(w * k, max(self.H[s][c], 0.0)) for c, w in enumerate(want)]
            room_site[s] -= sum(take)
            self._send(t, a, take, flow, True)
        if md.net.site_kind[s] == "assembly":
            return
        # everyone above the plan's numbers, where there is room, higher priority first
        surplus = [max(0.0, self.H[s][c] - self.hold_plan[t][s][c]) for c in range(md.C)]
        for a in arcs:
            if sum(surplus) <= EPS:
                break
            if md.net.arc_move[a] < 0:
                room = md.net.arc_cap[a] if (md.arc_open_ta[t, a] and open_[s]) else 0.0
                dst = int(md.net.arc_to[a])
                cap = md.hold_cap[dst, t]
                if math.isfinite(cap):
                    room = min(room, max(0.0, cap - sum(self.H[dst])))
            else:
                room = seats[a]
            room = min(room - sum(flow[a]), room_site[s])
            take = [0.0] * md.C
            for c in order:
                if room <= EPS:
                    break
                if md.arc_allowed_ac[a, c] and surplus[c] > EPS:
                    x = min(surplus[c], room)
                    take[c] = x
                    surplus[c] -= x
                    room -= x
            room_site[s] -= sum(take)
            self._send(t, a, take, flow, False)

    def run(self) -> dict[str, float]:
        self.env.run(until=self.md.T + 1)
        md = self.md
        cum = np.cumsum(self.out)
        dl = md.deadline_period
        out_dl = cum[dl - 1] if dl > 0 else 0.0
        return {"evacuated": float(cum[-1]), "left_behind": md.total_people - float(out_dl)}


# ---- the benchmark ---------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--plan", type=Path, default=None)
    ap.add_argument("--simpy-runs", type=int, default=10)
    ap.add_argument("--runs", type=int, default=500, help="evacops runs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    plan = a.plan or kabul_plan()
    md = prepare(load(KABUL), plan, KABUL)
    seeds = np.random.SeedSequence(a.seed).spawn(a.simpy_runs)

    t0 = time.perf_counter()
    simpy_res = [SimpyRun(md, s).run() for s in seeds]
    simpy_s = (time.perf_counter() - t0) / a.simpy_runs

    t0 = time.perf_counter()
    one = simulate(md, runs=a.runs, seed=a.seed, workers=1)
    one_s = (time.perf_counter() - t0) / a.runs
    cores = os.cpu_count() or 1
    t0 = time.perf_counter()
    simulate(md, runs=a.runs, seed=a.seed, workers=cores)
    all_s = (time.perf_counter() - t0) / a.runs

    s = one.summary()
    row = {
        "scenario": "kabul-2021 (following the plan)",
        "simpy_runs": a.simpy_runs,
        "evacops_runs": a.runs,
        "cores": cores,
        "simpy_s_per_run": round(simpy_s, 4),
        "evacops_1_process_s_per_run": round(one_s, 5),
        f"evacops_{cores}_workers_s_per_run": round(all_s, 5),
        "speedup_1_process": round(simpy_s / one_s, 1),
        f"speedup_{cores}_workers": round(simpy_s / all_s, 1),
        "simpy_evacuated_p50": round(float(np.median([r["evacuated"] for r in simpy_res]))),
        "evacops_evacuated_p50": s["evacuated_p50"],
        "simpy_left_behind_p50": round(float(np.median([r["left_behind"] for r in simpy_res]))),
        "evacops_left_behind_p50": s["left_behind_p50"],
    }
    if a.json:
        print(json.dumps(row, indent=2))
        return
    print("Simulation: evacops (numpy, runs vectorised) vs SimPy (a process per aircraft)")
    for k, v in row.items():
        print(f"  {k:36s} {v}")
    print("  goal: evacops >= 20x faster per run")


if __name__ == "__main__":
    main()
