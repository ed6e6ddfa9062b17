"""Where a cohort may go: the sites it may be at, the fleets it may fly, the destinations it can
reach on the static network (ground legs, and air legs flown by fleets it may fly)."""

from __future__ import annotations

from collections import deque

from evacops.scenario.model import Scenario


def allowed_sites(sc: Scenario, cohort: str) -> set[str]:
    """Sites a cohort's people may be at: everything but the staging bases and destinations the
    cohort is not allowed."""
    c = next(c for c in sc.cohorts if c.name == cohort)
    out = set()
    for s in sc.sites:
        if s.kind == "staging" and c.staging is not None and s.name not in c.staging:
            continue
        if s.kind == "destination" and c.destinations is not None and s.name not in c.destinations:
            continue
        out.add(s.name)
    return out


def cohort_may_fly(sc: Scenario, cohort: str, fleet: str) -> bool:
    c = next(c for c in sc.cohorts if c.name == cohort)
    f = next(f for f in sc.fleets if f.name == fleet)
    return c.operators is None or f.operator in c.operators


def reachable_destinations(sc: Scenario, cohort: str) -> set[str]:
    """Destinations the cohort can reach from its origin by ground legs and by air legs that a
    fleet it may fly flies (breadth-first over the static network)."""
    c = next(c for c in sc.cohorts if c.name == cohort)
    allowed = allowed_sites(sc, cohort)
    kinds = {s.name: s.kind for s in sc.sites}
    flown = {
        leg
        for f in sc.fleets
        if cohort_may_fly(sc, cohort, f.name) and f.count > 0
        for leg in f.legs
    }
    adj: dict[str, list[str]] = {}
    for leg in sc.legs:
        if leg.kind == "ground" or leg.name in flown:
            adj.setdefault(leg.origin, []).append(leg.destination)
    seen, queue = {c.origin}, deque([c.origin])
    while queue:
        s = queue.popleft()
        for nxt in adj.get(s, []):
            if nxt in allowed and nxt not in seen and kinds.get(nxt) is not None:
                seen.add(nxt)
                queue.append(nxt)
    return {s for s in seen if kinds[s] == "destination"}
