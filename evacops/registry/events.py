"""Events are the truth: their types, how one is appended, and the projection they rebuild.

An event is one row of ``events`` (append-only). Where a person is and their status is the
projection in ``persons``/``credentials``/``flights``/``dedup_candidates``, changed only by
:func:`apply` (in the same transaction as the append) and rebuilt from nothing by :func:`rebuild`;
the property tests check that the two agree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from evacops.registry.db import raw
from evacops.registry.models import (
    credentials,
    dedup_candidates,
    events,
    flights,
    person_keys,
    persons,
)

# Person-level movement and accountability events
REGISTERED = "registered"
CALL_FORWARD = "call-forward"
GATE_IN = "gate-in"
BOARD = "board"
DEPLANE = "deplane"
ROLL_CALL = "roll-call"
MISSING = "missing"
FOUND = "found"
DEPARTED_INDEPENDENTLY = "departed-independently"
MERGE = "merge"
UNMERGE = "unmerge"
NOT_DUPLICATE = "not-duplicate"
CORRECTION = "correction"
CREDENTIAL_ISSUED = "credential-issued"
CREDENTIAL_REVOKED = "credential-revoked"
# Flight-level events
FLIGHT_SCHEDULED = "flight-scheduled"
MANIFEST = "manifest"
DEPART = "depart"
ARRIVE = "arrive"
# Operation-level
SHRED = "shred"


# Statuses of a person in the projection
STATUSES = (
    "registered",
    "called-forward",
    "checked-in",
    "boarded",
    "in-flight",
    "arrived",
    "missing",
    "departed-independently",
    "merged",
)
ACTIVE = ("registered", "called-forward", "checked-in", "boarded", "in-flight", "arrived")

# Personal fields: sealed in the registered/correction event and, one by one, in persons.*_enc
SEALED_FIELDS = (
    "given_name",
    "family_name",
    "native_name",
    "variants",
    "initials",
    "birth_date",
    "document",
    "extra",
)


# A scan's statements go straight to the driver (evacops.registry.db.Raw): building them with
# SQLAlchemy cost more than the database's own work (benchmarks/registry_scans.py).
EVENT_COLUMNS = (
    "operation_id", "type", "person_id", "household_id", "flight_id", "site", "credential_id",
    "idempotency_key", "occurred_at", "recorded_at", "actor", "data", "sealed",
)  # fmt: skip
_INSERT_EVENT = (
    f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) "
    f"VALUES ({', '.join('{' + c + '}' for c in EVENT_COLUMNS)}) RETURNING seq"
)
PERSON_DATETIMES = frozenset({"registered_at", "first_departed_at", "last_seen_at"})


def append(conn: Connection, row: Mapping[str, Any]) -> int:
    """Append one event (no projection); return its sequence number."""
    r = raw(conn)
    params = {c: row.get(c) for c in EVENT_COLUMNS}
    params["occurred_at"] = r.dt(params["occurred_at"])
    params["recorded_at"] = r.dt(params["recorded_at"])
    params["data"] = r.json(params["data"] or {})
    cur = r.run(conn, _INSERT_EVENT, params)
    seq = cur.fetchone()[0]
    cur.close()
    return seq


def _set_person(conn: Connection, pid: str, values: Mapping[str, Any]) -> None:
    r = raw(conn)
    cols = sorted(values)
    template = (
        f"UPDATE persons SET {', '.join(c + ' = {' + c + '}' for c in cols)} WHERE id = {{_pid}}"
    )
    params = {c: (r.dt(values[c]) if c in PERSON_DATETIMES else values[c]) for c in cols}
    params["_pid"] = pid
    r.run(conn, template, params).close()


def _credential_boarded(conn: Connection, cid: str, at: datetime) -> None:
    r = raw(conn)
    r.run(conn, "UPDATE credentials SET boarded_at = {at} WHERE id = {cid}",
          {"at": r.dt(at), "cid": cid}).close()  # fmt: skip


def apply(conn: Connection, ev: Any) -> None:
    """Change the projection for one event (``ev`` is an ``events`` row with ``seq``)."""
    t = ev["type"]
    pid = ev["person_id"]
    data = ev["data"] or {}
    seq = ev["seq"]
    at = ev["occurred_at"]
    P = persons.c
    if t == REGISTERED:
        conn.execute(insert(persons).values(**person_row(ev, sealed_fields(ev))))
        rows = key_rows(ev)
        if rows:
            conn.execute(insert(person_keys), rows)
        return
    if t == CORRECTION:
        values: dict[str, Any] = {k: data[k] for k in CORRECTABLE if k in data}
        values.update(sealed_fields(ev))
        if "_document_bidx" in data:
            values["document_bidx"] = _hex(data["_document_bidx"])
        values["last_event"] = seq
        _set_person(conn, pid, values)
        if "_keys" in data:
            conn.execute(delete(person_keys).where(person_keys.c.person_id == pid))
            rows = key_rows(ev)
            if rows:
                conn.execute(insert(person_keys), rows)
        return
    if t in (CALL_FORWARD, GATE_IN, ROLL_CALL, MISSING, FOUND, DEPARTED_INDEPENDENTLY, DEPLANE):
        status = {
            CALL_FORWARD: "called-forward",
            GATE_IN: "checked-in",
            DEPLANE: "arrived",
            MISSING: "missing",
            DEPARTED_INDEPENDENTLY: "departed-independently",
        }.get(t)
        values = {"last_event": seq, "last_seen_at": at}
        if t != MISSING:
            values["site"] = ev["site"]
        if t == FOUND:
            status = data.get("status")
        if t == DEPLANE:
            values["flight_id"] = None
        if t == MISSING:
            values.pop("last_seen_at")
        if status:
            values["status"] = status
        _set_person(conn, pid, values)
        return
    if t == BOARD:
        _set_person(
            conn,
            pid,
            {
                "status": "boarded",
                "flight_id": ev["flight_id"],
                "site": ev["site"],
                "last_event": seq,
                "last_seen_at": at,
            },
        )
        if ev["credential_id"]:
            _credential_boarded(conn, ev["credential_id"], at)
        return
    if t == DEPART:
        fid = ev["flight_id"]
        conn.execute(update(flights).where(flights.c.id == fid).values(status="departed"))
        conn.execute(
            update(persons)
            .where(P.flight_id == fid, P.status == "boarded")
            .values(status="in-flight", last_event=seq, site=None)
        )
        conn.execute(
            update(persons)
            .where(P.flight_id == fid, P.first_departed_at.is_(None))
            .values(first_departed_at=at)
        )
        return
    if t == ARRIVE:
        conn.execute(
            update(flights).where(flights.c.id == ev["flight_id"]).values(status="arrived")
        )
        return
    if t == MERGE:
        conn.execute(
            update(persons)
            .where(P.id == pid)
            .values(status="merged", merged_into=data["into"], last_event=seq)
        )
        _decide(conn, ev, "merged")
        return
    if t == UNMERGE:
        conn.execute(
            update(persons)
            .where(P.id == pid)
            .values(status=data["status"], site=data.get("site"), merged_into=None, last_event=seq)
        )
        _decide(conn, ev, None)
        return
    if t == NOT_DUPLICATE:
        _decide(conn, ev, "distinct")
        return
    if t == CREDENTIAL_ISSUED:
        conn.execute(
            insert(credentials).values(
                id=ev["credential_id"],
                operation_id=ev["operation_id"],
                person_id=pid,
                issued_at=at,
                expires_at=datetime.fromisoformat(data["expires_at"]),
            )
        )
        return
    if t == CREDENTIAL_REVOKED:
        conn.execute(
            update(credentials).where(credentials.c.id == ev["credential_id"]).values(revoked_at=at)
        )
        return
    if t in (FLIGHT_SCHEDULED, MANIFEST, SHRED):
        return  # flights and manifests rows are written beside these events
    raise ValueError(f"unknown event type {t}")


CORRECTABLE = (
    "category",
    "cohort",
    "priority",
    "sex",
    "nationality",
    "birth_precision",
    "age_group",
    "household_id",
    "relationship",
    "unaccompanied",
    "escort_id",
)


def _hex(v: str | None) -> bytes | None:
    return bytes.fromhex(v) if v else None


def sealed_fields(ev: Mapping[str, Any]) -> dict[str, bytes | None]:
    """The per-field sealed values an event carries (``events.sealed``), as persons columns."""
    if ev.get("sealed") is None:
        return {}
    return {f"{k}_enc": _hex(v) for k, v in json.loads(ev["sealed"]).items()}


def key_rows(ev: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Blind-index rows (dedup blocking keys) an event carries."""
    return [
        {"person_id": ev["person_id"], "operation_id": ev["operation_id"], "bidx": bytes.fromhex(k)}
        for k in ev["data"].get("_keys") or ()
    ]


def _decide(conn: Connection, ev: Mapping[str, Any], decision: str | None) -> None:
    a, b = sorted((ev["person_id"], ev["data"]["other"]))
    conn.execute(
        update(dedup_candidates)
        .where(
            dedup_candidates.c.operation_id == ev["operation_id"],
            dedup_candidates.c.person_a == a,
            dedup_candidates.c.person_b == b,
        )
        .values(decision=decision)
    )


def person_row(ev: Mapping[str, Any], sealed: Mapping[str, bytes | None]) -> dict[str, Any]:
    """The ``persons`` row a ``registered`` event creates."""
    d = ev["data"]
    row = {
        "id": ev["person_id"],
        "operation_id": ev["operation_id"],
        "household_id": ev["household_id"],
        "relationship": d.get("relationship", ""),
        "sex": d["sex"],
        "nationality": d["nationality"],
        "birth_precision": d["birth_precision"],
        "age_group": d["age_group"],
        "unaccompanied": d.get("unaccompanied", False),
        "escort_id": d.get("escort_id"),
        "category": d["category"],
        "cohort": d["cohort"],
        "priority": d["priority"],
        "status": "registered",
        "site": ev["site"],
        "flight_id": None,
        "merged_into": None,
        "registered_at": ev["occurred_at"],
        "first_departed_at": None,
        "last_seen_at": ev["occurred_at"],
        "last_event": ev["seq"],
        "document_bidx": _hex(d.get("_document_bidx")),
    }
    for f in SEALED_FIELDS:
        row[f"{f}_enc"] = sealed.get(f"{f}_enc")
    return row


def snapshot(conn: Connection, operation: str | None = None) -> dict[str, dict[str, Any]]:
    """The persons projection as plain dicts (sealed bytes compared as they are)."""
    q = select(persons).order_by(persons.c.id)
    if operation:
        q = q.where(persons.c.operation_id == operation)
    return {r["id"]: dict(r) for r in conn.execute(q).mappings()}


def rebuild(conn: Connection, operation: str | None = None) -> int:
    """Throw the projections away and replay every event in order; return events replayed."""

    def scoped(table):
        return table.c.operation_id == operation if operation else True

    conn.execute(delete(person_keys).where(scoped(person_keys)))
    conn.execute(update(dedup_candidates).where(scoped(dedup_candidates)).values(decision=None))
    conn.execute(delete(credentials).where(scoped(credentials)))
    conn.execute(delete(persons).where(scoped(persons)))
    conn.execute(update(flights).where(scoped(flights)).values(status="scheduled"))
    n = 0
    q = select(events).order_by(events.c.seq)
    if operation:
        q = q.where(events.c.operation_id == operation)
    for ev in conn.execute(q).mappings():
        apply(conn, ev)
        n += 1
    return n


def pack(fields: Mapping[str, bytes | None]) -> bytes:
    """The sealed per-field values of a registration/correction, kept in ``events.sealed`` (each
    value is already AES-GCM sealed; this only bundles them)."""
    return json.dumps({k: (v.hex() if v is not None else None) for k, v in fields.items()}).encode()
