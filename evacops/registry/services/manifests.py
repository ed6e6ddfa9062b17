"""Manifests: who flies on a flight, built from the people checked in, shown, and exported.

A manifest is a new version each time it is built (rows in ``manifests``/``manifest_entries``
beside a ``manifest`` event): by priority, whole households only unless splitting is allowed,
within the seats; an infant rides on the lap of a seated adult of their household. People on the
newest manifest of another scheduled flight are taken. (The CSV export is in :mod:`.exports`.)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select

from evacops.errors import RegistryError
from evacops.registry import events as ev
from evacops.registry.security import Perm, require
from evacops.registry.services.context import Context, chunks
from evacops.registry.store.tables import (
    flights,
    manifest_entries,
    manifests,
    persons,
)

_WAITING = ("registered", "called-forward", "checked-in", "missing")


def build_manifest(
    ctx: Context, op: str, flight: str, *, allow_split: bool = False
) -> dict[str, Any]:
    """A new manifest version for ``flight`` from checked-in people, by priority, whole
    households only (unless ``allow_split``), within the seats (lap infants take none: one per
    seated adult of their household)."""
    require(ctx.actor, Perm.manifest, op)
    with ctx.write() as conn:
        f = ctx.flight(conn, op, flight, lock=True)
        if f["status"] != "scheduled":
            raise RegistryError(f"flight {flight}: has {f['status']}; its manifest is closed")
        units, pending = _ready_households(ctx, conn, op, f)
        chosen, split, skipped_incomplete = _choose(units, pending, f["seats"], allow_split)
        version, totals = _write_manifest(ctx, conn, op, f, chosen, split, allow_split)
    return {
        "flight": flight,
        "version": version,
        "seat_limit": f["seats"],
        **totals,
        "households_waiting_for_members": skipped_incomplete,
        "entries": [
            {
                "position": i + 1,
                "person_id": m.id,
                "household_id": m.household_id,
                "lap_infant": lap,
            }
            for i, (m, lap) in enumerate(chosen)
        ],
    }


def _ready_households(
    ctx: Context, conn: Connection, op: str, f: Any
) -> tuple[dict[str, list[Any]], dict[str, int]]:
    """The people ready to board ``f`` by household, and per household how many of its other
    members are still on their way."""
    P = persons.c
    # people on the newest manifest of another scheduled flight are taken
    latest = (
        select(manifests.c.flight_id, func.max(manifests.c.version).label("v"))
        .group_by(manifests.c.flight_id)
        .subquery()
    )
    taken = set(
        conn.execute(
            select(manifest_entries.c.person_id)
            .join(
                latest,
                and_(
                    latest.c.flight_id == manifest_entries.c.flight_id,
                    latest.c.v == manifest_entries.c.version,
                ),
            )
            .join(flights, flights.c.id == manifest_entries.c.flight_id)
            .where(
                flights.c.status == "scheduled",
                flights.c.id != f["id"],
                flights.c.operation_id == op,
            )
        ).scalars()
    )
    kinds = ctx.site_kinds(conn, op)
    ready_q = select(
        P.id, P.household_id, P.age_group, P.priority, P.status, P.site, P.last_seen_at
    ).where(
        P.operation_id == op,
        ((P.status == "checked-in") | ((P.status == "arrived") & (P.site == f["origin"]))),
    )
    ready = [
        r
        for r in conn.execute(ready_q).all()
        if r.id not in taken
        and (r.status == "arrived" or kinds.get(r.site) in ("gate", "airport", None))
    ]
    pending: dict[str, int] = defaultdict(int)
    ready_ids = {r.id for r in ready}
    for chunk in chunks(sorted({r.household_id for r in ready}), 500):
        for w in conn.execute(
            select(P.id, P.household_id).where(P.household_id.in_(chunk), P.status.in_(_WAITING))
        ):
            if w.id not in ready_ids:
                pending[w.household_id] += 1
    units: dict[str, list[Any]] = defaultdict(list)
    for r in ready:
        units[r.household_id].append(r)
    return units, pending


def _choose(
    units: dict[str, list[Any]], pending: dict[str, int], seats: int, allow_split: bool
) -> tuple[list[tuple[Any, bool]], int, int]:
    """(member, lap infant) in manifest order, households split, households skipped because
    members are missing: highest priority first, then longest waiting."""
    order = sorted(
        units,
        key=lambda h: (
            -max(m.priority for m in units[h]),
            min(m.last_seen_at for m in units[h]),
            h,
        ),
    )
    seats_left = seats
    chosen: list[tuple[Any, bool]] = []
    split = 0
    skipped_incomplete = 0
    for h in order:
        members = units[h]
        if pending[h] and not allow_split:
            skipped_incomplete += 1
            continue
        need, laps = _seats_needed(members)
        if need <= seats_left:
            chosen.extend(laps)
            seats_left -= need
            if pending[h]:
                split += 1
        elif allow_split and seats_left > 0:
            part = _fit_part(members, seats_left)
            if part:
                need, laps = _seats_needed(part)
                chosen.extend(laps)
                seats_left -= need
                split += 1
    return chosen, split, skipped_incomplete


def _write_manifest(
    ctx: Context,
    conn: Connection,
    op: str,
    f: Any,
    chosen: list[tuple[Any, bool]],
    split: int,
    allow_split: bool,
) -> tuple[int, dict[str, int]]:
    """The new version's rows, its ``manifest`` event and audit entry; (version, totals)."""
    version = (
        conn.execute(
            select(func.max(manifests.c.version)).where(manifests.c.flight_id == f["id"])
        ).scalar()
        or 0
    ) + 1
    lap_n = sum(1 for _, lap in chosen if lap)
    totals = {
        "persons": len(chosen),
        "seats": len(chosen) - lap_n,
        "lap_infants": lap_n,
        "households": len({m.household_id for m, _ in chosen}),
        "split_households": split,
    }
    conn.execute(
        insert(manifests).values(
            flight_id=f["id"],
            version=version,
            created_at=ctx.clock(),
            actor=ctx.actor.name,
            allow_split=allow_split,
            **totals,
        )
    )
    if chosen:
        conn.execute(
            insert(manifest_entries),
            [
                {
                    "flight_id": f["id"],
                    "version": version,
                    "position": i + 1,
                    "person_id": m.id,
                    "lap_infant": lap,
                }
                for i, (m, lap) in enumerate(chosen)
            ],
        )
    ctx.event(
        conn,
        op,
        ev.MANIFEST,
        flight_id=f["id"],
        site=f["origin"],
        data={"version": version, **totals, "allow_split": allow_split},
    )
    ctx.audit(conn, "manifest", op, f["code"], {"version": version, **totals})
    return version, totals


def manifest(ctx: Context, op: str, flight: str, version: int | None = None) -> dict[str, Any]:
    """A manifest version (default: the newest), with its control totals checked."""
    require(ctx.actor, Perm.report, op)
    with ctx.read() as conn:
        f = ctx.flight(conn, op, flight)
        M = manifests.c
        v = (
            version
            or conn.execute(select(func.max(M.version)).where(M.flight_id == f["id"])).scalar()
        )
        if v is None:
            raise RegistryError(
                f"flight {flight}: no manifest yet; "
                f"build one with 'evacops registry manifest --flight {flight}'"
            )
        head = (
            conn.execute(select(manifests).where(M.flight_id == f["id"], M.version == v))
            .mappings()
            .first()
        )
        if head is None:
            raise RegistryError(f"flight {flight}: no manifest version {v}")
        E = manifest_entries.c
        entries = conn.execute(
            select(E.position, E.person_id, E.lap_infant, persons.c.household_id)
            .join(persons, persons.c.id == E.person_id)
            .where(E.flight_id == f["id"], E.version == v)
            .order_by(E.position)
        ).all()
    control = {
        k: head[k] for k in ("persons", "seats", "lap_infants", "households", "split_households")
    }
    actual = {
        "persons": len(entries),
        "lap_infants": sum(e.lap_infant for e in entries),
        "seats": sum(not e.lap_infant for e in entries),
        "households": len({e.household_id for e in entries}),
    }
    return {
        "flight": flight,
        "version": v,
        "seat_limit": f["seats"],
        **control,
        "control_totals_match": all(actual[k] == control[k] for k in actual),
        "entries": [
            {
                "position": e.position,
                "person_id": e.person_id,
                "household_id": e.household_id,
                "lap_infant": e.lap_infant,
            }
            for e in entries
        ],
    }


def _seats_needed(members: Sequence[Any]) -> tuple[int, list[tuple[Any, bool]]]:
    """Seats a group needs and (member, lap_infant) pairs: an infant rides on the lap of a seated
    adult (or person of unknown age) of the group, one per lap; other infants need a seat."""
    laps = sum(1 for m in members if m.age_group in ("adult", "unknown"))
    out = []
    need = 0
    for m in sorted(members, key=lambda m: (m.age_group == "infant", m.id)):
        if m.age_group == "infant" and laps > 0:
            laps -= 1
            out.append((m, True))
        else:
            need += 1
            out.append((m, False))
    return need, out


def _fit_part(members: Sequence[Any], seats: int) -> list[Any]:
    """The largest part of a household that fits ``seats`` (adults first, each infant with a
    lap)."""
    order = sorted(
        members,
        key=lambda m: ({"adult": 0, "unknown": 1, "child": 2, "infant": 3}[m.age_group], m.id),
    )
    part: list[Any] = []
    for m in order:
        trial = [*part, m]
        if _seats_needed(trial)[0] <= seats:
            part = trial
    return part
