"""The call-forward schedule and the crowd at each gate.

A gate holds at most its crowd area times the scenario's safe density (``safe_density_per_m2``,
2 persons/m2 by default; see :func:`evacops.network.compile_network`), so the plan's flows
on the ground legs from assembly points to gates are a **call-forward schedule**: how many people
of each cohort each assembly point sends to which gate in each period, such that the crowd in
front of every gate stays within the safe density while the airlift is fed as fully as it can be.

For each gate, the crowd density of the plan is compared with a **counterfactual in which
everyone comes to the gates at once**: each person walks to a gate the moment they appear at
their assembly point (to the gates the plan uses for their cohort and assembly point, in the
same shares; those the plan never calls spread the same way), and the gates let people through
exactly as in the plan. The crowd is then everyone who has arrived less everyone let through.
Densities are graded by Fruin's levels of service for queuing areas: above 2 persons/m2 movement
is restricted, above 3.5 the crowd is dense, above 5 it becomes dangerous, and 7 is critical.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

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


def gate_crowds(plan: Plan) -> dict[str, dict[str, np.ndarray | float]]:
    """For each gate with a crowd area: people in front of it at the end of each period, in
    the plan and in the counterfactual where everyone comes at once (see the module docs)."""
    net = plan.network
    fin = plan.final
    T = net.T
    arcs = _call_arcs(plan)
    gates = [g for g in np.flatnonzero(net.site_kind == "gate") if np.isfinite(net.crowd_area[g])]
    cf_arr = np.zeros((len(net.sites), T))
    # everyone appearing at an assembly point heads for its gates at once, in the plan's shares
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
                    cf_arr[net.arc_to[a], d:] += sh * appear[: T - d]
    result: dict[str, dict[str, np.ndarray | float]] = {}
    for g in gates:
        leaving = np.flatnonzero(net.arc_from == g)
        through = fin.flow[:, leaving, :].sum(axis=(0, 1))  # let through, per period
        arrive_cf = cf_arr[g] + net.appear[:, g, :].sum(axis=0)
        cf = np.maximum(np.cumsum(arrive_cf) - np.cumsum(through), 0.0)
        result[net.sites[g]] = {
            "area_m2": float(net.crowd_area[g]),
            "plan": fin.hold[:, g, :].sum(axis=0),
            "counterfactual": cf,
        }
    return result


def _grade(density: np.ndarray, period_h: float) -> dict[str, float]:
    out: dict[str, float] = {"peak_density": round(float(density.max(initial=0.0)), 3)}
    for level in FRUIN_LEVELS:
        out[_level_key(level)] = float(period_h * (density >= level - 1e-9).sum())
    return out


def gate_densities(plan: Plan) -> list[dict[str, Any]]:
    """Per gate: area, peak density and hours at or above each Fruin level, for the plan and
    for the counterfactual where everyone comes to the gates at once."""
    dt = plan.network.period_h
    rows = []
    for name, g in gate_crowds(plan).items():
        area = float(g["area_m2"])
        plan_d = np.asarray(g["plan"]) / area
        cf_d = np.asarray(g["counterfactual"]) / area
        rows.append(
            {
                "name": name,
                "area_m2": area,
                **_grade(plan_d, dt),
                "counterfactual": _grade(cf_d, dt),
            }
        )
    return rows


def density_frame(plan: Plan) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(plan, counterfactual) crowd densities in persons/m2: periods x gates."""
    crowds = gate_crowds(plan)
    idx = plan.times
    plan_df = pd.DataFrame(
        {n: np.asarray(g["plan"]) / float(g["area_m2"]) for n, g in crowds.items()}, index=idx
    )
    cf_df = pd.DataFrame(
        {n: np.asarray(g["counterfactual"]) / float(g["area_m2"]) for n, g in crowds.items()},
        index=idx,
    )
    return plan_df, cf_df
