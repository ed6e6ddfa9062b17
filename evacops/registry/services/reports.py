"""Reports: counts by status, site, cohort, nationality and category; people out; people through
each step per day; households split across places; unaccompanied minors. And the audit log as
an auditor reads it (its chain verified, its last entries).

No personal data: opaque ids and counts only (the plots of a report are
:func:`evacops.report.registry.write_registry_report`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from evacops.registry import events as ev
from evacops.registry.security import Perm, require
from evacops.registry.services.context import Context
from evacops.registry.store import audit as audit_log
from evacops.registry.store.tables import audit, events, flights, persons

_STEPS = {ev.REGISTERED: "registered", ev.GATE_IN: "checked_in", ev.BOARD: "boarded",
          ev.DEPLANE: "deplaned"}  # fmt: skip


def report(ctx: Context, op: str, *, since: datetime | None = None) -> dict[str, Any]:
    """Counts by status, site, cohort, nationality and category; people out (first departure)
    since ``since``, by nationality and category, per day; per day, how many were first
    registered, checked in, boarded and deplaned (``per_day``); households split across
    places; unaccompanied minors."""
    require(ctx.actor, Perm.report, op)
    P = persons.c
    with ctx.read() as conn:
        ctx.operation(conn, op)
        rows = conn.execute(
            select(
                P.id, P.household_id, P.status, P.site, P.flight_id, P.cohort, P.category,
                P.nationality, P.first_departed_at, P.age_group, P.unaccompanied, P.escort_id,
                P.registered_at,
            ).where(P.operation_id == op)
        ).all()  # fmt: skip
        # over time: people reaching each step per day (first time each), from the events
        firsts: dict[tuple[str, str], datetime] = {}
        for t, pid, at in conn.execute(
            select(events.c.type, events.c.person_id, events.c.occurred_at).where(
                events.c.operation_id == op, events.c.type.in_(tuple(_STEPS))
            )
        ):
            if (t, pid) not in firsts:
                firsts[(t, pid)] = at
    live = [r for r in rows if r.status != "merged"]
    out = [
        r
        for r in live
        if r.first_departed_at is not None and (since is None or r.first_departed_at >= since)
    ]
    per_day: dict[str, int] = defaultdict(int)
    for r in out:
        per_day[r.first_departed_at.date().isoformat()] += 1
    split = _split_households(live)
    minors = [r for r in live if r.unaccompanied]
    return {
        "operation": op,
        "registered": len(live),
        "merged": len(rows) - len(live),
        "by_status": {
            s: sum(1 for r in live if r.status == s) for s in ev.STATUSES if s != "merged"
        },
        "by_site": _count(live, "site"),
        "by_cohort": _count(live, "cohort"),
        "by_nationality": _count(live, "nationality"),
        "by_category": _count(live, "category"),
        "out": len(out),
        "out_since": since.isoformat() if since else None,
        "out_by_nationality": _count(out, "nationality"),
        "out_by_category": _count(out, "category"),
        "out_per_day": dict(sorted(per_day.items())),
        "per_day": _timeline(firsts, {r.id for r in rows if r.status == "merged"}),
        "households_split": len(split),
        "split_households": split,
        "unaccompanied_minors": len(minors),
        "unaccompanied_without_escort": sum(1 for r in minors if r.escort_id is None),
        "unaccompanied": [
            {
                "person_id": r.id,
                "household_id": r.household_id,
                "status": r.status,
                "site": r.site,
                "escort_id": r.escort_id,
            }
            for r in minors
        ],
    }


def household_size(ctx: Context, op: str, household_id: str | None) -> int:
    """People in a household (merged duplicates not counted); 1 for someone alone. What a gate
    shows beside the initials, so a gate view may read it."""
    require(ctx.actor, Perm.read_gate_view, op)
    if household_id is None:
        return 1
    P = persons.c
    with ctx.read() as conn:
        return int(
            conn.execute(
                select(func.count()).where(
                    P.operation_id == op, P.household_id == household_id, P.status != "merged"
                )
            ).scalar_one()
        )


def flight_summary(ctx: Context, op: str) -> dict[str, Any]:
    """Flights by status, and those in the air (code, origin, destination)."""
    require(ctx.actor, Perm.report, op)
    F = flights.c
    with ctx.read() as conn:
        by_status = {
            str(status): int(n)
            for status, n in conn.execute(
                select(F.status, func.count()).where(F.operation_id == op).group_by(F.status)
            )
        }
        in_air = [
            {"code": r.code, "origin": r.origin, "destination": r.destination}
            for r in conn.execute(
                select(F.code, F.origin, F.destination)
                .where(F.operation_id == op, F.status == "departed")
                .order_by(F.code)
            )
        ]
    return {"by_status": by_status, "in_air": in_air}


def _count(items: Sequence[Any], attr: str) -> dict[str, int]:
    """People by the value of ``attr`` (``-`` for none), sorted by value."""
    c: dict[str, int] = defaultdict(int)
    for r in items:
        c[str(getattr(r, attr) if getattr(r, attr) is not None else "-")] += 1
    return dict(sorted(c.items()))


def _timeline(
    firsts: dict[tuple[str, str], datetime], merged_ids: set[str]
) -> dict[str, dict[str, int]]:
    """Per day, people reaching each step for the first time (merged duplicates left out)."""
    timeline: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_STEPS.values(), 0))
    for (t, pid), at in firsts.items():
        if pid not in merged_ids:
            timeline[at.date().isoformat()][_STEPS[t]] += 1
    return {d: timeline[d] for d in sorted(timeline)}


def _split_households(live: Sequence[Any]) -> list[str]:
    """Households whose active members are in more than one place (site, flight, missing)."""
    places = defaultdict(set)
    for r in live:
        if r.status in ev.ACTIVE or r.status == "missing":
            places[r.household_id].add(
                ("flight", r.flight_id)
                if r.status in ("boarded", "in-flight")
                else (r.status == "missing" and ("missing",)) or ("site", r.site)
            )
    return sorted(h for h, s in places.items() if len(s) > 1)


# ---------------------------------------------------------------------------- the audit log
def audit_verify(ctx: Context) -> audit_log.Verification:
    """Walk the audit chain: is every entry as it was written?"""
    require(ctx.actor, Perm.audit)
    with ctx.read() as conn:
        return audit_log.verify(conn, ctx.audit_key())


def audit_entries(ctx: Context, limit: int = 50) -> list[dict[str, Any]]:
    """The last ``limit`` audit entries, oldest first."""
    require(ctx.actor, Perm.audit)
    with ctx.read() as conn:
        rows = (
            conn.execute(select(audit).order_by(audit.c.seq.desc()).limit(limit)).mappings().all()
        )
    return [
        {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()} for r in rows
    ][::-1]
