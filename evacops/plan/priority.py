"""What the objective promises about priorities, checked on a plan.

**The guarantee** (docs/planner.md, "Priority", gives the proof). Take two cohorts H and L, H of
higher priority, that may travel the same way out: the same fleets, staging bases and
destinations from the evacuation airport on (:func:`shared_way_out`). Then in the plan, no L
person sets off from the evacuation airport in a period at the end of which an H person is still
waiting there: no lower-priority person takes a seat out that a higher-priority person waiting
beside them could have had. More generally, wherever H and L people wait at the same site at the
same time, the L people do not leave the evacuation airport before the H people.

It holds for every optimal solution of the plan's LP (and of the re-flow LP after the repair,
the sorties fixed), because swapping such an L person's journey from there on with such an H
person's keeps every constraint (each one but a cohort's own balance counts the cohorts
together) and strictly lowers the objective (only the evacuation term depends on the cohort).
A MIP stopped at a gap may break it by up to that gap, hence :func:`seats_out_of_order`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from evacops.network import Network

if TYPE_CHECKING:
    from evacops.plan.result import Plan

TOL = 1e-6


def beyond_evacuation_airport(net: Network) -> np.ndarray:
    """(A,) arcs that set off from the evacuation airport or from a site people reach from it."""
    reach = np.zeros(len(net.sites), dtype=bool)
    reach[net.evac] = True
    while True:
        more = reach.copy()
        more[net.arc_to[reach[net.arc_from]]] = True
        if (more == reach).all():
            return reach[net.arc_from]
        reach = more


def shared_way_out(net: Network) -> np.ndarray:
    """(C, C) whether two cohorts may use exactly the same arcs from the evacuation airport on
    (fleets, hence operators, staging bases and destinations): either may take the other's seat
    and travel on as the other would."""
    beyond = beyond_evacuation_airport(net)
    allowed = net.arc_allowed[:, beyond]
    return (allowed[:, None, :] == allowed[None, :, :]).all(axis=2)


def priority_pairs(net: Network) -> list[tuple[int, int]]:
    """(higher, lower) cohorts of different priorities that share the way out: the pairs the
    guarantee speaks of."""
    shared = shared_way_out(net)
    p = net.priority
    C = len(net.cohorts)
    return [(h, lo) for h in range(C) for lo in range(C) if p[h] > p[lo] and shared[h, lo]]


def seats_out_of_order(net: Network, flow: np.ndarray, hold: np.ndarray) -> list[dict[str, Any]]:
    """For each pair of :func:`priority_pairs`: the people of the lower-priority cohort who set
    off from the evacuation airport in a period at the end of which as many of the higher one
    still waited there (their smaller count, summed over the periods), and in how many periods.
    Zero for every pair in an optimal plan."""
    out = net.out_arcs
    rows = []
    for h, lo in priority_pairs(net):
        taken = flow[lo][out].sum(axis=0)  # (T,)
        waiting = hold[h, net.evac]
        both = np.minimum(taken, waiting)
        bad = both > TOL
        rows.append(
            {
                "higher": net.cohorts[h],
                "lower": net.cohorts[lo],
                "people": float(both[bad].sum()),
                "periods": int(bad.sum()),
            }
        )
    return rows


def priority_summary(plan: Plan) -> dict[str, Any]:
    """The guarantee as the plan's summary reports it: the pairs checked and the seats out of
    order (people, 0 in an optimal plan)."""
    rows = seats_out_of_order(plan.network, plan.final.flow, plan.final.hold)
    return {
        "pairs": [f"{r['higher']} > {r['lower']}" for r in rows],
        "seats_out_of_order_people": round(sum(r["people"] for r in rows), 3),
        "out_of_order": [r for r in rows if r["people"] > TOL],
    }


def priority_sentence(summary: dict[str, Any]) -> str:
    """The guarantee as checked on a plan (``summary``: :func:`priority_summary`), in one
    sentence."""
    if not summary["pairs"]:
        return "Priority: no two cohorts of different priorities may fly the same way out."
    n = len(summary["pairs"])
    pairs = f"{n} pair{'s' * (n != 1)} of cohorts of different priorities that may fly the same way"
    if not summary["out_of_order"]:
        return (
            f"Priority: over {pairs} ({'; '.join(summary['pairs'])}), no seat out of the "
            "evacuation airport went to a lower-priority person while a higher-priority one "
            "waited there. People not yet at the airport, and cohorts that may not fly the same "
            "way (another nation's aircraft), are not in this order: the plan trades them by "
            "their priorities as weights."
        )
    bad = "; ".join(
        f"{r['lower']} before {r['higher']}: {r['people']:,.0f} people in {r['periods']} periods"
        for r in summary["out_of_order"]
    )
    return (
        f"Priority: seats out of order ({bad}): the plan is not optimal (a MIP stopped at its "
        "gap?)."
    )
