"""Polishing a plan's whole sorties window by window and fleet by fleet (``--polish N``).

The repair (:func:`evacops.plan.solve.repair_sorties`) rounds the LP's sorties on a model of
seats, not of people, and stops on a budget; on Kabul its schedule ends 5-8 % under the LP
bound. Polishing takes that schedule and re-plans it one window of hours at a time, the rest
of the schedule kept: in each window the sorties are free, outside it fixed at the schedule's,
and the people flows are re-planned over the whole horizon (the same model as a re-plan of the
aircraft in a window, :func:`evacops.plan.replan.replan` with ``window_h``: the LP by the dual
simplex, the repair in the window, the people re-flowed warm). A window's schedule is kept only
if it lowers the plan's objective, so the plan never gets worse, and its bound stays the plan's
LP (the same model). A fix-and-optimise search: it finds no schedule better than any window's
own optimum can reach, so it stops short of the bound.

Each pass then takes the fleets whose whole sorties still carry fewer people than the LP's
(:func:`evacops.plan.whole_cost.by_fleet`, the largest shortfall first, at most
:data:`FLEETS` of them) one at a time: the fleet's sorties free over the whole horizon, every
other fleet's kept (the same model, another mask). A fleet's neighbourhood is cheap (its few
sorties) and reaches across every window. On Kabul at 3-hour periods the windows take the plan
from 8.07 % to 3.98 % under the bound, the fleets after them to 3.52 % in 23 s more; fleets
before the windows did worse (4.63 %): they leave the windows a worse place to start from.
"""

from __future__ import annotations

import dataclasses
import gc
import time
from collections.abc import Hashable
from typing import Any

import numpy as np

from evacops.network import Network
from evacops.plan import whole_cost
from evacops.plan.replan import window_end
from evacops.plan.result import Plan
from evacops.plan.solve import Progress, plan_network

#: hours of a window and hours between two windows' starts (they overlap by the difference)
WINDOW_H, STEP_H = 48.0, 24.0
#: the most fleets re-planned one at a time in a pass (those whose whole sorties carry the most
#: fewer people than the LP's)
FLEETS = 8


def polish(
    plan: Plan,
    sweeps: int = 1,
    window_h: float = WINDOW_H,
    step_h: float = STEP_H,
    progress: Progress | None = None,
    fleets: int = FLEETS,
) -> Plan:
    """``plan`` with its whole sorties improved window by window and fleet by fleet (``sweeps``
    passes: windows of ``window_h`` hours every ``step_h`` hours over the horizon, then up to
    ``fleets`` fleets); its LP (the bound) kept. The summary's ``repair.polish`` says what it
    did."""
    say = progress or (lambda _msg: None)
    net = plan.network
    if sweeps <= 0 or plan.repair is None:  # nothing to polish (an LP already whole, a MIP)
        return plan
    t0 = time.perf_counter()
    step = max(1, round(step_h / net.period_h))
    state = _Best(plan.final, plan.sortie_counts.astype(float), plan.crews_held is not None)
    before = state.best.objective
    fleets_kept = windows_kept = 0
    for sweep in range(sweeps):
        for start in range(0, net.T, step):
            say(f"polishing the whole sorties: pass {sweep + 1}, from {start * net.period_h:g} h")
            free = np.zeros(state.y.shape, dtype=bool)
            free[:, start : window_end(net, start, window_h)] = True
            windows_kept += state.try_free(net, free, ("window", start))
        current = dataclasses.replace(plan, final=state.best)
        short = [r["fleet"] for r in whole_cost.by_fleet(current) if r["cost"] > 0][:fleets]
        for name in short:
            say(f"polishing the whole sorties: pass {sweep + 1}, the fleet {name}")
            mine = np.asarray(net.move_fleet) == net.fleets.index(name)
            fleets_kept += state.try_free(net, np.repeat(mine[:, None], net.T, axis=1), name)
    info: dict[str, Any] = {
        "sweeps": sweeps,
        "window_h": window_h,
        "step_h": step_h,
        "windows_kept": windows_kept,
        "fleets": fleets,
        "fleets_kept": fleets_kept,
        "tries": state.tries,
        "tries_skipped": state.skipped,
        "objective_before": before,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    held = plan.crews_held
    if held is not None:  # what holding cost was counted before polishing
        held = {**held, "before_polish": True}
    out = dataclasses.replace(
        plan, final=state.best, repair={**plan.repair, "polish": info}, crews_held=held
    )
    out.wall_s = plan.wall_s + info["seconds"]
    return out


class _Best:
    """The best schedule so far (its solution and whole sorties, move x period), and which
    neighbourhoods were tried from it."""

    def __init__(self, best: Any, y: np.ndarray, hold_crews: bool):
        self.best, self.y = best, y
        self.hold_crews = hold_crews  # each aircraft held to its crew, as the plan's were
        self.tried: set[Hashable] = set()  # neighbourhoods tried since the schedule last changed
        self.tries = self.skipped = 0

    def try_free(self, net: Network, free: np.ndarray, key: Hashable) -> int:
        """Re-plan the sorties where ``free`` (move x period), the rest kept; keep the result
        if it lowers the objective. 1 if kept, else 0. A neighbourhood (``key``) already tried
        from the same schedule is not tried again: its search would start where the last one
        did (a pass that keeps nothing leaves the next nothing to do)."""
        self.tries += 1
        if key in self.tried:
            self.skipped += 1
            return 0
        self.tried.add(key)
        q = plan_network(
            net,
            check_binding=-1,
            fixed=(~free, self.y),
            candidate=self.y,
            simplex=True,
            hold_crews=self.hold_crews,
        )
        # (a window whose own sorties could not be held to the crews keeps the best schedule so
        # far instead, held: evacops.plan.tails.held_or_own, so it is never kept for that)
        kept = q.final.objective < self.best.objective - 1e-9 * abs(self.best.objective)
        if kept:
            self.best, self.y = q.final, q.sortie_counts.astype(float)
            self.tried = set()
        del q
        gc.collect()  # (a model holds reference cycles: free it before the next)
        return int(kept)
