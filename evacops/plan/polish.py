"""Polishing a plan's whole sorties window by window (``evacops plan --polish N``).

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
"""

from __future__ import annotations

import dataclasses
import gc
import time
from typing import Any

import numpy as np

from evacops.plan.replan import window_end
from evacops.plan.result import Plan
from evacops.plan.solve import Progress, plan_network

#: hours of a window and hours between two windows' starts (they overlap by the difference)
WINDOW_H, STEP_H = 48.0, 24.0


def polish(
    plan: Plan,
    sweeps: int = 1,
    window_h: float = WINDOW_H,
    step_h: float = STEP_H,
    progress: Progress | None = None,
) -> Plan:
    """``plan`` with its whole sorties improved window by window (``sweeps`` passes over the
    horizon, windows of ``window_h`` hours every ``step_h`` hours); its LP (the bound) kept.
    The summary's ``repair.polish`` says what it did."""
    say = progress or (lambda _msg: None)
    net = plan.network
    if sweeps <= 0 or plan.repair is None:  # nothing to polish (an LP already whole, a MIP)
        return plan
    t0 = time.perf_counter()
    step = max(1, round(step_h / net.period_h))
    best, y = plan.final, plan.sortie_counts.astype(float)
    before = best.objective
    kept = 0
    for sweep in range(sweeps):
        for start in range(0, net.T, step):
            say(f"polishing the whole sorties: pass {sweep + 1}, from {start * net.period_h:g} h")
            mask = np.ones(y.shape, dtype=bool)
            mask[:, start : window_end(net, start, window_h)] = False
            q = plan_network(net, check_binding=-1, fixed=(mask, y), candidate=y, simplex=True)
            if q.final.objective < best.objective - 1e-9 * abs(best.objective):
                best, y = q.final, q.sortie_counts.astype(float)
                kept += 1
            del q
            gc.collect()  # (a window's model holds reference cycles: free it before the next)
    info: dict[str, Any] = {
        "sweeps": sweeps,
        "window_h": window_h,
        "step_h": step_h,
        "windows_kept": kept,
        "objective_before": before,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    out = dataclasses.replace(plan, final=best, repair={**plan.repair, "polish": info})
    out.wall_s = plan.wall_s + info["seconds"]
    return out
