"""Why a scenario has no plan: the holding capacity that, relaxed, makes it feasible."""

from __future__ import annotations

import numpy as np

from evacops.errors import InfeasibleError
from evacops.network import Network


def explain_infeasible(net: Network) -> str:
    """Find which cohort and constraint make the scenario infeasible, by relaxing in turn the
    holding capacity of each site where people are made to appear."""
    from evacops.plan.solve import lp_run

    origins = np.flatnonzero(net.appear.sum(axis=(0, 2)) > 0)
    for s in origins:
        if not np.isfinite(net.cap[s]).any():
            continue
        saved = net.cap[s].copy()
        net.cap[s] = np.inf
        try:
            lp_run(net)
        except InfeasibleError:
            continue
        finally:
            net.cap[s] = saved
        cohorts = [net.cohorts[c] for c in np.flatnonzero(net.appear[:, s].sum(axis=1) > 0)]
        t = int(np.argmax(np.cumsum(net.appear[:, s].sum(axis=0)) > saved.min()))
        return (
            f"infeasible: cohort {', '.join(map(repr, cohorts))} appears at {net.sites[s]!r} "
            f"faster than it can leave, and its holding capacity ({saved.min():g}) is "
            f"exceeded from {net.timeline.time_of(t):%d %b %H:%M}; raise "
            f"sites[{net.sites[s]}].holding_capacity, spread the cohort's appear profile, or "
            "add an assembly point before it"
        )
    return (
        "infeasible: no plan satisfies every constraint, and no single holding capacity "
        "explains it; check capacity changes and fleet events"
    )
