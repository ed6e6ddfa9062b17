"""Where whole sorties cost people against the LP: per cohort and per fleet.

The plan's LP flies fractions of sorties; the repair (:mod:`evacops.plan.solve`) makes them
whole and the people are re-planned on them. The summary's ``repair.evacuated_cost`` says how
many fewer people leave the evacuation airport within the horizon on whole sorties. That figure
alone tells a planner nothing to act on; split by cohort and by fleet it does: on Kabul at
3-hour periods most of it is national lists whose onward airliners fly fewer whole sorties than
the LP's fractions, so their hubs pass fewer people on and their Kabul seats go out part empty
(docs/planner.md, "What whole sorties cost, and where").

``by_cohort`` sums exactly to ``evacuated_cost`` (the LP's people per cohort are whole numbers
by the largest remainder of its total); ``by_fleet`` counts the sorties that carry people
(outbound legs) and the people on them, LP against whole sorties, for each fleet that flies any.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from evacops.plan.result import Plan


def by_cohort(plan: Plan, lp_total: int, out: Sequence[int]) -> list[dict[str, Any]]:
    """Per cohort: people off the evacuation airport within the horizon in the LP (whole
    numbers summing to ``lp_total``) and on whole sorties (``out``, the plan's own per-cohort
    count, :meth:`~evacops.plan.result.Plan.completion`), and the difference (``cost``)."""
    from evacops.plan.result import largest_remainder

    net = plan.network
    lp = plan.lp.flow[:, net.out_arcs, :].sum(axis=(1, 2))
    lp_whole = [int(x) for x in largest_remainder(lp, lp_total)]
    return [
        {
            "cohort": name,
            "lp_out": lp_whole[c],
            "out": int(out[c]),
            "cost": lp_whole[c] - int(out[c]),
        }
        for c, name in enumerate(net.cohorts)
    ]


def by_fleet(plan: Plan) -> list[dict[str, Any]]:
    """Per fleet that flies people in the LP or on whole sorties: its outbound sorties and the
    people on them, LP against whole sorties, the largest shortfall of people first."""
    net = plan.network
    air = np.flatnonzero(net.arc_move >= 0)
    fleet_of_arc = net.move_fleet[net.arc_move[air]]
    lp_people = plan.lp.flow[:, air, :].sum(axis=(0, 2))
    people = plan.final.flow[:, air, :].sum(axis=(0, 2))
    fwd = net.move_forward
    rows: list[dict[str, Any]] = []
    for f, name in enumerate(net.fleets):
        moves = fwd & (net.move_fleet == f)
        on = fleet_of_arc == f
        lp_s, s = float(plan.lp.sorties[moves].sum()), int(plan.sortie_counts[moves].sum())
        lp_p, p = float(lp_people[on].sum()), float(people[on].sum())
        if lp_s < 1e-6 and s == 0:
            continue
        rows.append(
            {
                "fleet": name,
                "lp_sorties": round(lp_s, 1),
                "sorties": s,
                "lp_people": round(lp_p),
                "people": round(p),
                "cost": round(lp_p) - round(p),
            }
        )
    rows.sort(key=lambda r: (-r["cost"], r["fleet"]))
    return rows


#: the fleets shown in the terminal and the report (all are in the summary)
SHOWN_FLEETS = 6


_COHORT_COLUMNS = {
    "cohort": "cohort",
    "lp_out": "LP",
    "out": "whole sorties",
    "cost": "fewer people",
}
_FLEET_COLUMNS = {
    "fleet": "fleet",
    "lp_sorties": "sorties, LP",
    "sorties": "sorties, whole",
    "lp_people": "people, LP",
    "people": "people, whole",
    "cost": "fewer people",
}


def _frame(rows: list[dict[str, Any]], columns: dict[str, str]) -> pd.DataFrame:
    first = next(iter(columns))
    return pd.DataFrame(rows, columns=list(columns)).rename(columns=columns).set_index(first)


def frames(repair: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The summary's ``repair`` as two tables for people to read: the cohorts whose people out
    differ, and the fleets (at most :data:`SHOWN_FLEETS`) whose whole sorties carry fewer
    people than the LP's, the most first. Both empty when whole sorties cost no one."""
    cohorts = [r for r in repair.get("by_cohort", []) if r["cost"]]
    fleets = [r for r in repair.get("by_fleet", []) if r["cost"] > 0][:SHOWN_FLEETS]
    return (
        _frame(cohorts, _COHORT_COLUMNS),
        _frame(fleets, _FLEET_COLUMNS),
    )


def heading(repair: dict[str, Any]) -> str:
    """The line above the cohorts' table."""
    return (
        f"Whole sorties get {repair['evacuated_cost']:,} fewer people off the evacuation "
        "airport within the horizon than the LP. By cohort:"
    )


#: the line above the fleets' table
FLEET_HEADING = (
    "Fleets whose whole sorties carry fewer people than the LP's (sorties with people aboard; "
    "people carried, every leg):"
)
