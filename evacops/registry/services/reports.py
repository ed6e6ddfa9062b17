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

from sqlalchemy import (
    Connection,
    Date,
    String,
    and_,
    case,
    cast,
    distinct,
    func,
    literal,
    select,
    true,
)

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
    places; unaccompanied minors.

    Counted by the database (GROUP BY over the ``persons`` projection and the ``events`` log),
    never by loading every person or event: the picture of 100,000 people asks for it every
    few seconds. Days are UTC calendar days."""
    require(ctx.actor, Perm.report, op)
    with ctx.read() as conn:
        ctx.operation(conn, op)
        groups = _person_groups(conn, op, since)
        out_days = out_per_day(conn, op, since)
        per_day = _timeline(conn, op, groups)
        split = _split_households(conn, op)
        minors = _unaccompanied(conn, op)
    live = [g for g in groups if g["status"] != "merged"]
    out = [g for g in live if g["out"]]
    by_status = _count(live, "status")
    return {
        "operation": op,
        "registered": sum(g["n"] for g in live),
        "merged": sum(g["n"] for g in groups) - sum(g["n"] for g in live),
        "by_status": {s: by_status.get(s, 0) for s in ev.STATUSES if s != "merged"},
        "by_site": _count(live, "site"),
        "by_cohort": _count(live, "cohort"),
        "by_nationality": _count(live, "nationality"),
        "by_category": _count(live, "category"),
        "out": sum(g["n"] for g in out),
        "out_since": since.isoformat() if since else None,
        "out_by_nationality": _count(out, "nationality"),
        "out_by_category": _count(out, "category"),
        "out_per_day": out_days,
        "per_day": per_day,
        "households_split": len(split),
        "split_households": split,
        "unaccompanied_minors": len(minors),
        "unaccompanied_without_escort": sum(1 for r in minors if r["escort_id"] is None),
        "unaccompanied": minors,
    }


def _utc_day(conn: Connection, col: Any) -> Any:
    """``col`` (a UTC datetime column) as its UTC calendar day, in SQL: a date on PostgreSQL,
    ``YYYY-MM-DD`` text on SQLite (``str()`` of either is the same)."""
    if conn.dialect.name == "postgresql":
        return cast(func.timezone("UTC", col), Date)
    return func.substr(col, 1, 10)  # SQLite keeps naive UTC as ISO text


def _is_out(since: datetime | None) -> Any:
    P = persons.c
    gone = P.first_departed_at.is_not(None)
    return gone if since is None else and_(gone, P.first_departed_at >= since)


def _person_groups(conn: Connection, op: str, since: datetime | None) -> list[dict[str, Any]]:
    """People counted by status, site, cohort, nationality, category, out-or-not and day of
    registration: one GROUP BY, whose few hundred rows every count of the report is summed
    from."""
    P = persons.c
    out = case((_is_out(since), 1), else_=0)
    keys = (P.status, P.site, P.cohort, P.nationality, P.category, out,
            _utc_day(conn, P.registered_at))  # fmt: skip
    rows = conn.execute(
        select(*keys, func.count()).where(P.operation_id == op).group_by(*keys)
    ).all()
    names = ("status", "site", "cohort", "nationality", "category", "out", "registered_on", "n")
    return [dict(zip(names, r, strict=True)) for r in rows]


def out_per_day(conn: Connection, op: str, since: datetime | None = None) -> dict[str, int]:
    """People out (first departure, since ``since``) per UTC day, in the caller's read."""
    P = persons.c
    day = _utc_day(conn, P.first_departed_at)
    rows = conn.execute(
        select(day, func.count())
        .where(P.operation_id == op, P.status != "merged", _is_out(since))
        .group_by(day)
    )
    return {str(d): int(n) for d, n in sorted(rows)}


def _timeline(
    conn: Connection, op: str, groups: Sequence[dict[str, Any]]
) -> dict[str, dict[str, int]]:
    """Per day, people reaching each step for the first time (the earliest such event of
    each person; merged duplicates left out). Registration is each person's one ``registered``
    event, kept as ``persons.registered_at``: counted in ``groups`` already."""
    E, P = events.c, persons.c
    firsts = (
        select(E.type, E.person_id, func.min(E.occurred_at).label("at"))
        .where(E.operation_id == op, E.type.in_(tuple(t for t in _STEPS if t != ev.REGISTERED)))
        .group_by(E.type, E.person_id)
        .subquery()
    )
    merged = select(P.id).where(P.operation_id == op, P.status == "merged")
    day = _utc_day(conn, firsts.c.at)
    rows = conn.execute(
        select(firsts.c.type, day, func.count())
        .where(firsts.c.person_id.not_in(merged))
        .group_by(firsts.c.type, day)
    )
    timeline: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_STEPS.values(), 0))
    for g in groups:
        if g["status"] != "merged":
            timeline[str(g["registered_on"])]["registered"] += int(g["n"])
    for t, d, n in rows:
        timeline[str(d)][_STEPS[t]] += int(n)
    return {d: timeline[d] for d in sorted(timeline)}


def _split_households(conn: Connection, op: str) -> list[str]:
    """Households whose active members are in more than one place (a site, a flight, missing;
    no site and no flight count as places of their own)."""
    P = persons.c
    on_board = P.status.in_(("boarded", "in-flight"))
    place = case(
        (on_board, func.coalesce(literal("f:") + cast(P.flight_id, String), literal("f-"))),
        (P.status == "missing", literal("m")),
        else_=func.coalesce(literal("s:") + P.site, literal("s-")),
    )
    rows = conn.execute(
        select(P.household_id)
        .where(P.operation_id == op, P.status.in_((*ev.ACTIVE, "missing")))
        .group_by(P.household_id)
        .having(func.count(distinct(place)) > 1)
    ).scalars()
    return sorted(rows, key=lambda h: (h is None, h or ""))


def _unaccompanied(conn: Connection, op: str) -> list[dict[str, Any]]:
    """Unaccompanied minors (opaque ids, status, site, escort), by id."""
    P = persons.c
    rows = conn.execute(
        select(P.id, P.household_id, P.status, P.site, P.escort_id)
        .where(P.operation_id == op, P.unaccompanied == true(), P.status != "merged")
        .order_by(P.id)
    )
    return [
        {
            "person_id": r.id,
            "household_id": r.household_id,
            "status": r.status,
            "site": r.site,
            "escort_id": r.escort_id,
        }
        for r in rows
    ]


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


def _count(groups: Sequence[dict[str, Any]], key: str) -> dict[str, int]:
    """People by the value of ``key`` (``-`` for none), sorted by value, from counted groups."""
    c: dict[str, int] = defaultdict(int)
    for g in groups:
        c[str(g[key]) if g[key] is not None else "-"] += int(g["n"])
    return dict(sorted(c.items()))


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
