"""The call-forward schedule and the crowd at each gate.

A gate holds at most its crowd area times the scenario's safe density (``safe_density_per_m2``,
2 persons/m2 by default; see :func:`evacops.network.compile_network`), so the plan's flows
on the ground legs from assembly points to gates are a **call-forward schedule**: how many people
of each cohort each assembly point sends to which gate in each period, such that the crowd in
front of every gate stays within the safe density while the airlift is fed as fully as it can be.

For each gate, the crowd density of the plan is compared with a **counterfactual in which
everyone comes to the gates at once**: each person walks to a gate the moment they appear at
their assembly point (to the gates the plan uses for their cohort and assembly point, in the
same shares; those the plan never calls spread the same way), and the gates screen at their
rate, slowed down as the crowd presses on them (faster is slower), letting in no more in total
than the plan moves on from them by then. The crowd is then
everyone who has arrived less everyone let through. A crowd is a queue with a physical maximum
density (evacops/network/crowd.py): the gate's crowd area holds people up to that density and the
rest stand further back along the approach, so what is reported is the queue's length in metres
and the wait in hours, never an impossible density. Densities are graded by Fruin's levels of
service for queuing areas: above 2 persons/m2 movement is restricted, above 3.5 the crowd is
dense, above 5 it becomes dangerous, and 7 is critical.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from evacops.network.crowd import CrowdPhysics, approach_widths
from evacops.report.levels import FRUIN_LEVELS

if TYPE_CHECKING:
    from evacops.plan.result import Plan


def _level_key(level: float) -> str:
    return f"hours_ge_{level:g}".replace(".", "_")  # 3.5 -> hours_ge_3_5


def _call_arcs(plan: Plan) -> np.ndarray:
    """Ground arcs from an assembly point to a gate."""
    net = plan.network
    kind = net.site_kind
    return np.flatnonzero(
        (net.arc_kind == "ground")
        & (kind[net.arc_from] == "assembly")
        & (kind[net.arc_to] == "gate")
    )


def whole_people(x: np.ndarray) -> np.ndarray:
    """Whole people per period along the last axis that add up like the flows: the rounded
    running total, differenced (so no one is created or lost by rounding)."""
    cum = np.rint(np.cumsum(x, axis=-1))
    return np.diff(cum, axis=-1, prepend=0.0).astype(int)


def call_forward(plan: Plan) -> pd.DataFrame:
    """People to call from each assembly point to each gate, by cohort and period (whole
    people; rows with nobody called are left out)."""
    net = plan.network
    arcs = _call_arcs(plan)
    cols = ["time", "period", "assembly", "gate", "leg", "cohort", "people", "arrival"]
    if arcs.size == 0:
        return pd.DataFrame(columns=cols)
    called = whole_people(plan.final.flow[:, arcs, :])  # (C, K, T)
    c, k, t = np.nonzero(called > 0)
    a = arcs[k]
    return pd.DataFrame(
        {
            "time": plan.times[t],
            "period": t,
            "assembly": np.array(net.sites)[net.arc_from[a]],
            "gate": np.array(net.sites)[net.arc_to[a]],
            "leg": np.array(net.arc_leg)[a],
            "cohort": np.array(net.cohorts)[c],
            "people": called[c, k, t],
            "arrival": [net.timeline.time_of(int(x)) for x in t + net.arc_delay[a]],
        },
        columns=cols,
    )


def call_forward_daily(plan: Plan, by: str = "route") -> pd.DataFrame:
    """People called per day (rows) from each assembly point to each gate (columns), or to
    each gate from all assembly points together (``by="gate"``)."""
    cf = call_forward(plan)
    if cf.empty:
        return pd.DataFrame()
    cf = cf.assign(
        date=pd.DatetimeIndex(cf["time"]).date, route=cf["assembly"] + " -> " + cf["gate"]
    )
    return cf.pivot_table(
        index="date", columns=by, values="people", aggfunc="sum", fill_value=0
    ).astype(int)


def _arrivals_at_once(plan: Plan) -> np.ndarray:
    """(S, T) people reaching each gate per period when everyone walks to the gates the moment
    they appear at their assembly point (in the plan's shares; see the module docs)."""
    net = plan.network
    fin = plan.final
    T = net.T
    arcs = _call_arcs(plan)
    arrive = np.zeros((len(net.sites), T))
    for i in np.flatnonzero(net.site_kind == "assembly"):
        out = arcs[net.arc_from[arcs] == i]
        if out.size == 0:
            continue
        for c in range(len(net.cohorts)):
            appear = net.appear[c, i]
            if appear.sum() <= 0:
                continue
            used = fin.flow[c, out, :].sum(axis=1)
            if used.sum() <= 1e-9:  # never called: the cohort's gates from here, evenly
                used = net.arc_allowed[c, out].astype(float)
            if used.sum() <= 0:
                continue
            share = used / used.sum()
            for a, sh in zip(out, share, strict=True):
                d = int(net.arc_delay[a])
                if d < T:
                    arrive[net.arc_to[a], d:] += sh * appear[: T - d]
    return arrive + net.appear.sum(axis=0)


def _crowd_at_once(
    arrive: np.ndarray, through: np.ndarray, rate: np.ndarray, area: float, physics: CrowdPhysics
) -> tuple[np.ndarray, np.ndarray]:
    """(crowd at the end of each period, let through in each period) when everyone comes at
    once: the gate screens at its rate (per period, 0 when closed) slowed by the crowd pressing
    on it (faster is slower: its share at the density at the start of the period), and lets in
    no more in total than the plan moves on from it by then (the airport takes no more)."""
    crowd = np.zeros_like(arrive)
    passed = np.zeros_like(arrive)
    allowed = np.cumsum(through)
    n = done = 0.0
    for t in range(arrive.size):
        share = float(physics.throughput_share(physics.density(n, area)))
        n += arrive[t]
        passed[t] = max(min(n, rate[t] * share, allowed[t] - done), 0.0)
        done += passed[t]
        n -= passed[t]
        crowd[t] = n
    return crowd, passed


def gate_crowds(plan: Plan) -> dict[str, dict[str, Any]]:
    """For each gate with a crowd area: people in front of it at the end of each period and the
    people let through per period, in the plan and in the counterfactual where everyone comes at
    once (see the module docs), with the gate's area and approach width."""
    net = plan.network
    fin = plan.final
    physics = CrowdPhysics.of(net.scenario)
    widths = approach_widths(net.scenario)
    gates = [g for g in np.flatnonzero(net.site_kind == "gate") if np.isfinite(net.crowd_area[g])]
    arrive = _arrivals_at_once(plan) if gates else None
    result: dict[str, dict[str, Any]] = {}
    for g in gates:
        assert arrive is not None
        leaving = np.flatnonzero(net.arc_from == g)
        through = fin.flow[:, leaving, :].sum(axis=(0, 1))  # let through, per period
        area = float(net.crowd_area[g])
        rate = np.where(net.open_[g], net.rate[g], 0.0)
        rate = np.where(np.isfinite(rate), rate, np.inf)
        cf, cf_through = _crowd_at_once(arrive[g], through, rate, area, physics)
        result[net.sites[g]] = {
            "area_m2": area,
            "approach_width_m": widths[net.sites[g]],
            "plan": fin.hold[:, g, :].sum(axis=0),
            "plan_through": through,
            "counterfactual": cf,
            "counterfactual_through": cf_through,
        }
    return result


def _grade(
    people: np.ndarray, through: np.ndarray, g: dict[str, Any], physics: CrowdPhysics, dt: float
) -> dict[str, float]:
    """Peak density (never above the physical maximum), the longest queue in metres, the
    longest wait in hours, and hours at or above each Fruin level."""
    area, width = float(g["area_m2"]), float(g["approach_width_m"])
    density = physics.density(people, area)
    queue = physics.queue_length_m(people, area, width)
    # the wait of the last in the crowd at the rate the gate managed this period (or, if it let
    # nobody through, at its best rate over the horizon)
    best = float(np.max(through, initial=0.0)) / dt
    rate = np.where(through > 1e-9, through / dt, best)
    wait = physics.wait_h(people, rate)
    out: dict[str, float] = {
        "peak_people": round(float(np.max(people, initial=0.0)), 1),
        "peak_density": round(float(density.max(initial=0.0)), 3),
        "peak_queue_m": round(float(queue.max(initial=0.0)), 1),
        "peak_wait_h": round(float(wait.max(initial=0.0)), 2),
    }
    for level in FRUIN_LEVELS:
        out[_level_key(level)] = float(dt * (density >= level - 1e-9).sum())
    return out


def gate_densities(plan: Plan) -> list[dict[str, Any]]:
    """Per gate: area, approach width, and for the plan and for the counterfactual where
    everyone comes to the gates at once: peak people, peak density (at most the physical
    maximum), the longest queue in metres, the longest wait in hours, hours at or above each
    Fruin level."""
    dt = plan.network.period_h
    physics = CrowdPhysics.of(plan.network.scenario)
    rows = []
    for name, g in gate_crowds(plan).items():
        rows.append(
            {
                "name": name,
                "area_m2": float(g["area_m2"]),
                "approach_width_m": round(float(g["approach_width_m"]), 1),
                **_grade(np.asarray(g["plan"]), np.asarray(g["plan_through"]), g, physics, dt),
                "counterfactual": _grade(
                    np.asarray(g["counterfactual"]),
                    np.asarray(g["counterfactual_through"]),
                    g,
                    physics,
                    dt,
                ),
            }
        )
    return rows


def density_frame(plan: Plan) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(plan, counterfactual) crowd densities in the gates' crowd areas in persons/m2 (never
    above the physical maximum): periods x gates."""
    physics = CrowdPhysics.of(plan.network.scenario)
    crowds = gate_crowds(plan)
    idx = plan.times

    def frame(key: str) -> pd.DataFrame:
        return pd.DataFrame(
            {n: physics.density(g[key], float(g["area_m2"])) for n, g in crowds.items()},
            index=idx,
        )

    return frame("plan"), frame("counterfactual")


def queue_frame(plan: Plan) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(plan, counterfactual) length of the queue before each gate in metres: periods x
    gates."""
    physics = CrowdPhysics.of(plan.network.scenario)
    crowds = gate_crowds(plan)

    def frame(key: str) -> pd.DataFrame:
        return pd.DataFrame(
            {
                n: physics.queue_length_m(g[key], float(g["area_m2"]), float(g["approach_width_m"]))
                for n, g in crowds.items()
            },
            index=plan.times,
        )

    return frame("plan"), frame("counterfactual")
