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

    Counted by the database (GROUP BY over the ``persons`` projection and the ``events`` log,
    answered from the indexes of migration 0004), never by loading every person or event.
    Days are UTC calendar days."""
    require(ctx.actor, Perm.report, op)
    with ctx.read() as conn:
        ctx.operation(conn, op)
        groups = _person_groups(conn, op, since, _KEYS)
        counts = _counts(groups, conn, op, since)
        split = _split_households(conn, op)
        minors = _unaccompanied(conn, op)
    live = [g for g in groups if g["status"] != "merged"]
    return {
        "operation": op,
        "registered": counts["registered"],
        "merged": sum(g["n"] for g in groups) - counts["registered"],
        "by_status": counts["by_status"],
        "by_site": counts["by_site"],
        "by_cohort": counts["by_cohort"],
        "by_nationality": _count(live, "nationality"),
        "by_category": _count(live, "category"),
        "out": counts["out"],
        "out_since": since.isoformat() if since else None,
        "out_by_nationality": _count(live, "nationality", "out"),
        "out_by_category": _count(live, "category", "out"),
        "out_per_day": counts["out_per_day"],
        "per_day": counts["per_day"],
        "households_split": len(split),
        "split_households": split,
        "unaccompanied_minors": len(minors),
        "unaccompanied_without_escort": sum(1 for r in minors if r["escort_id"] is None),
        "unaccompanied": minors,
    }


def picture_counts(ctx: Context, op: str) -> dict[str, Any]:
    """What the operation picture shows of the report, and no more: registered, out, by status,
    site and cohort, people out per day and each step per day (the same numbers as
    :func:`report`, by fewer queries: the picture asks every few seconds)."""
    require(ctx.actor, Perm.report, op)
    with ctx.read() as conn:
        ctx.operation(conn, op)
        counts = _counts(_person_groups(conn, op, None, _KEYS[:3]), conn, op, None)
    return {"operation": op, **counts}


def _counts(
    groups: list[dict[str, Any]], conn: Connection, op: str, since: datetime | None
) -> dict[str, Any]:
    live = [g for g in groups if g["status"] != "merged"]
    by_status = _count(live, "status")
    return {
        "registered": sum(g["n"] for g in live),
        "out": sum(g["out"] for g in live),
        "by_status": {s: by_status.get(s, 0) for s in ev.STATUSES if s != "merged"},
        "by_site": _count(live, "site"),
        "by_cohort": _count(live, "cohort"),
        "out_per_day": out_per_day(conn, op, since),
        "per_day": _timeline(conn, op),
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


_KEYS = ("status", "site", "cohort", "nationality", "category")  # ix_persons_picture's order


def _person_groups(
    conn: Connection, op: str, since: datetime | None, keys: tuple[str, ...]
) -> list[dict[str, Any]]:
    """People (``n``) and people out since ``since`` (``out``) by ``keys``: one GROUP BY in the
    order of the covering index (so the database streams it, no sort), whose few hundred rows
    the report's counts are summed from."""
    P = persons.c
    cols = [P[k] for k in keys]
    out = func.sum(case((_is_out(since), 1), else_=0))
    rows = conn.execute(
        select(*cols, func.count(), out).where(P.operation_id == op).group_by(*cols)
    ).all()
    return [
        {**dict(zip(keys, r[:-2], strict=True)), "n": int(r[-2]), "out": int(r[-1] or 0)}
        for r in rows
    ]


def out_per_day(
    conn: Connection, op: str, since: datetime | None = None, until: datetime | None = None
) -> dict[str, int]:
    """People out (first departure, since ``since`` and before ``until``) per UTC day, in the
    caller's read."""
    P = persons.c
    day = _utc_day(conn, P.first_departed_at)
    query = select(day, func.count()).where(
        P.operation_id == op, P.status != "merged", _is_out(since)
    )
    if until is not None:
        query = query.where(P.first_departed_at < until)
    rows = conn.execute(query.group_by(day))
    return {str(d): int(n) for d, n in sorted(rows)}


def flights_per_day(conn: Connection, op: str) -> dict[str, int]:
    """Flights that left with people (their ``depart`` event, anyone boarded) per UTC day, in
    the caller's read: as a plan's flights are counted (its sorties with a load)."""
    E = events.c
    day = _utc_day(conn, E.occurred_at)
    boarded = E.data["boarded"].as_integer() > 0
    rows = conn.execute(
        select(day, func.count())
        .where(E.operation_id == op, E.type == ev.DEPART, boarded)
        .group_by(day)
    )
    return {str(d): int(n) for d, n in sorted(rows)}


def _timeline(conn: Connection, op: str) -> dict[str, dict[str, int]]:
    """Per day, people reaching each step for the first time (the earliest such event of
    each person; merged duplicates left out). Registration is each person's one ``registered``
    event, kept as ``persons.registered_at``: counted from the index of ``persons``."""
    E, P = events.c, persons.c
    reg_day = _utc_day(conn, P.registered_at)
    registered = conn.execute(
        select(reg_day, func.count())
        .where(P.operation_id == op, P.status != "merged")
        .group_by(reg_day)
    ).all()
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
    for d, n in registered:
        timeline[str(d)]["registered"] += int(n)
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


def _count(groups: Sequence[dict[str, Any]], key: str, n: str = "n") -> dict[str, int]:
    """People (``n``: all, ``out``: out) by the value of ``key`` (``-`` for none), sorted by
    value, from counted groups; values with nobody are left out."""
    c: dict[str, int] = defaultdict(int)
    for g in groups:
        if g[n]:
            c[str(g[key]) if g[key] is not None else "-"] += int(g[n])
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


def people_by_place(ctx: Context, op: str) -> list[dict[str, Any]]:
    """People still to move, by cohort, status, site and (for people on a flight) the flight's
    destination: what a re-plan starts from (:mod:`evacops.plan.replan`). Counts only, by one
    GROUP BY; people out of the operation's care (missing, departed independently, merged) are
    not counted. People registered and not yet scanned anywhere are at the operation's origin
    site (where registration takes place), if it has one."""
    require(ctx.actor, Perm.report, op)
    P, F = persons.c, flights.c
    keys = (P.cohort, P.status, P.site, F.destination)
    with ctx.read() as conn:
        origin = ctx.operation(conn, op)["origin_site"]
        rows = conn.execute(
            select(*keys, func.count())
            .select_from(persons.outerjoin(flights, P.flight_id == F.id))
            .where(P.operation_id == op, P.status.in_(ev.ACTIVE))
            .group_by(*keys)
        ).all()
    return [
        {"cohort": c, "status": s, "site": site or origin, "flight_destination": dest, "n": int(n)}
        for c, s, site, dest, n in rows
    ]
