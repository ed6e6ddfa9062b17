"""Events are the truth: their types, how one is appended, and the projection they rebuild.

An event is one row of ``events`` (append-only). Each type of event is a small frozen class
(:class:`Registered`, :class:`GateIn`, :class:`Board`, ...) built from its row, whose
:meth:`~Event.project` is the one place that says how it changes the projection
(``persons``/``credentials``/``flights``/``person_keys``/``dedup_candidates``). The services
append an event and apply it in the same transaction (:func:`record`: :func:`append`, then
:func:`apply`, or on PostgreSQL one statement for both where the event only updates its person);
:func:`rebuild` throws the projection away and replays the log through the same classes. The
tests compare the live projection with an independent reference written for them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, cast

from sqlalchemy import Connection, delete, insert, select, update

from evacops.registry.store.db import raw
from evacops.registry.store.tables import (
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
CATEGORY_ADDED = "category-added"
CATEGORY_RETIRED = "category-retired"
CATEGORY_RESTORED = "category-restored"
PLAN_ATTACHED = "plan-attached"  # the operation's latest plan (services/plans.py)
REPLAN_REQUESTED = "replan-requested"  # a planner's re-plan (services/replans.py)
REPLAN_FINISHED = "replan-finished"  # what came of it


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

# What a correction may change without sealing (the sealed fields come in ``events.sealed``)
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


# A scan's statements go straight to the driver (evacops.registry.store.db.Raw): building them
# with SQLAlchemy cost more than the database's own work (benchmarks/registry_scans.py).
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


def record(conn: Connection, row: dict[str, Any]) -> int:
    """Append one event and apply it to the projection (:func:`append`, then :func:`apply`);
    return its sequence number. On PostgreSQL an event whose projection is one update of its
    person (a :class:`Seen`: a gate-in, a roll-call, a deplaning, ...) is written with that
    update in one statement: the scan's hot path, where the driver's work per statement costs
    more than the database's (benchmarks/web_scans.py)."""
    kind = EVENT_TYPES.get(row["type"])
    r = raw(conn)
    if (r.sqlite or kind is None or not issubclass(kind, Seen) or kind.project is not Seen.project
            or row.get("person_id") is None):  # fmt: skip
        seq = append(conn, row)
        apply(conn, {**row, "seq": seq})
        return seq
    values = cast(Seen, kind.from_row({**row, "seq": None})).values()  # a Seen: checked above
    values.pop("last_event")  # the new event's seq, set in the statement
    cols = sorted(values)
    template = _SEEN_TEMPLATES.get(tuple(cols))
    if template is None:
        sets = ", ".join(f"{c} = {{p_{c}}}" for c in cols)
        template = _SEEN_TEMPLATES[tuple(cols)] = (
            f"WITH e AS ({_INSERT_EVENT}), u AS (UPDATE persons SET last_event = "
            f"(SELECT seq FROM e), {sets} WHERE id = {{p__id}}) SELECT seq FROM e"
        )
    params = {c: row.get(c) for c in EVENT_COLUMNS}
    params["data"] = r.json(params["data"] or {})
    params.update({f"p_{c}": values[c] for c in cols})
    params["p__id"] = row["person_id"]
    cur = r.run(conn, template, params)
    seq = cur.fetchone()[0]
    cur.close()
    return seq


#: :func:`record`'s statements, by the person columns a Seen event sets
_SEEN_TEMPLATES: dict[tuple[str, ...], str] = {}


def apply(conn: Connection, row: Mapping[Any, Any]) -> None:
    """Change the projection for one event (``row`` is an ``events`` row with ``seq``)."""
    kind = EVENT_TYPES.get(row["type"])
    if kind is None:
        raise ValueError(f"unknown event type {row['type']}")
    kind.from_row(row).project(conn)


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
    for row in conn.execute(q).mappings():
        apply(conn, row)
        n += 1
    return n


def snapshot(conn: Connection, operation: str | None = None) -> dict[str, dict[str, Any]]:
    """The persons projection as plain dicts (sealed bytes compared as they are)."""
    q = select(persons).order_by(persons.c.id)
    if operation:
        q = q.where(persons.c.operation_id == operation)
    return {r["id"]: dict(r) for r in conn.execute(q).mappings()}


# ---------------------------------------------------------------------------- the event types
@dataclass(frozen=True, slots=True)
class Event:
    """One event of the log as its projection needs it. A subclass per type sets ``kind`` (its
    name in ``events.type``) and :meth:`project`."""

    kind: ClassVar[str] = ""
    seq: int
    operation_id: str
    person_id: str | None
    household_id: str | None
    flight_id: int | None
    site: str | None
    credential_id: str | None
    occurred_at: datetime
    data: Mapping[str, Any]
    sealed: bytes | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Event:
        return cls(
            row["seq"],
            row["operation_id"],
            row["person_id"],
            row["household_id"],
            row["flight_id"],
            row["site"],
            row["credential_id"],
            row["occurred_at"],
            row["data"] or {},
            row.get("sealed"),
        )

    def as_row(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def project(self, conn: Connection) -> None:
        raise NotImplementedError


class Registered(Event):
    """A person enters the registry: their ``persons`` row and blind indexes."""

    kind = REGISTERED

    def project(self, conn: Connection) -> None:
        row = self.as_row()
        conn.execute(insert(persons).values(**person_row(row, sealed_fields(row))))
        keys = key_rows(row)
        if keys:
            conn.execute(insert(person_keys), keys)


class Correction(Event):
    """Fields of a person's record corrected (plain ones in ``data``, sealed ones in
    ``sealed``; new blind indexes when an identifying field changed)."""

    kind = CORRECTION

    def project(self, conn: Connection) -> None:
        row, data, pid = self.as_row(), self.data, self.person_id
        values: dict[str, Any] = {k: data[k] for k in CORRECTABLE if k in data}
        values.update(sealed_fields(row))
        if "_document_bidx" in data:
            values["document_bidx"] = _hex(data["_document_bidx"])
        values["last_event"] = self.seq
        _set_person(conn, pid, values)
        if "_keys" in data:
            conn.execute(delete(person_keys).where(person_keys.c.person_id == pid))
            keys = key_rows(row)
            if keys:
                conn.execute(insert(person_keys), keys)


class Seen(Event):
    """A person seen at a site: it becomes their site (and status, if ``becomes``); someone
    seen at a site is on no flight (a boarded person reported missing and then found at a
    gate, or an offline scan recorded at sync)."""

    becomes: ClassVar[str | None] = None

    def values(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "last_event": self.seq,
            "last_seen_at": self.occurred_at,
            "site": self.site,
            "flight_id": None,
        }
        if self.becomes:
            values["status"] = self.becomes
        return values

    def project(self, conn: Connection) -> None:
        _set_person(conn, self.person_id, self.values())


class CallForward(Seen):
    kind, becomes = CALL_FORWARD, "called-forward"


class GateIn(Seen):
    kind, becomes = GATE_IN, "checked-in"


class RollCall(Seen):
    """Seen at a roll-call: the site changes, not the status."""

    kind = ROLL_CALL


class DepartedIndependently(Seen):
    kind, becomes = DEPARTED_INDEPENDENTLY, "departed-independently"


class Found(Seen):
    """A missing person found: checked-in, or arrived at a staging base or destination (the
    service decides which and puts it in ``data["status"]``)."""

    kind = FOUND

    def values(self) -> dict[str, Any]:
        values = super().values()
        if self.data.get("status"):
            values["status"] = self.data["status"]
        return values


class Deplane(Seen):
    """Off the flight at its destination: arrived there."""

    kind, becomes = DEPLANE, "arrived"


class Missing(Event):
    """Not found at a roll-call (or reported missing): site and last sighting stay."""

    kind = MISSING

    def project(self, conn: Connection) -> None:
        _set_person(conn, self.person_id, {"last_event": self.seq, "status": "missing"})


class Board(Event):
    """On board a flight (before departure); the credential is used up."""

    kind = BOARD

    def project(self, conn: Connection) -> None:
        values = {
            "status": "boarded",
            "flight_id": self.flight_id,
            "site": self.site,
            "last_event": self.seq,
            "last_seen_at": self.occurred_at,
        }
        _set_person(conn, self.person_id, values)
        if self.credential_id:
            r = raw(conn)
            r.run(conn, "UPDATE credentials SET boarded_at = {at} WHERE id = {cid}",
                  {"at": r.dt(self.occurred_at), "cid": self.credential_id}).close()  # fmt: skip


class Depart(Event):
    """The flight leaves: who boarded is in flight (and out, the first time)."""

    kind = DEPART

    def project(self, conn: Connection) -> None:
        P, fid = persons.c, self.flight_id
        conn.execute(update(flights).where(flights.c.id == fid).values(status="departed"))
        conn.execute(
            update(persons)
            .where(P.flight_id == fid, P.status == "boarded")
            .values(status="in-flight", last_event=self.seq, site=None)
        )
        conn.execute(
            update(persons)
            .where(P.flight_id == fid, P.first_departed_at.is_(None))
            .values(first_departed_at=self.occurred_at)
        )


class Arrive(Event):
    kind = ARRIVE

    def project(self, conn: Connection) -> None:
        conn.execute(update(flights).where(flights.c.id == self.flight_id).values(status="arrived"))


class Merge(Event):
    """The person is a duplicate of ``data["into"]``; their candidate pair is decided."""

    kind = MERGE

    def project(self, conn: Connection) -> None:
        conn.execute(
            update(persons)
            .where(persons.c.id == self.person_id)
            .values(status="merged", merged_into=self.data["into"], last_event=self.seq)
        )
        _decide(conn, self, "merged")


class Unmerge(Event):
    """A merge undone: status and site as before it; the pair is open again."""

    kind = UNMERGE

    def project(self, conn: Connection) -> None:
        conn.execute(
            update(persons)
            .where(persons.c.id == self.person_id)
            .values(
                status=self.data["status"],
                site=self.data.get("site"),
                merged_into=None,
                last_event=self.seq,
            )
        )
        _decide(conn, self, None)


class NotDuplicate(Event):
    kind = NOT_DUPLICATE

    def project(self, conn: Connection) -> None:
        _decide(conn, self, "distinct")


class CredentialIssued(Event):
    kind = CREDENTIAL_ISSUED

    def project(self, conn: Connection) -> None:
        conn.execute(
            insert(credentials).values(
                id=self.credential_id,
                operation_id=self.operation_id,
                person_id=self.person_id,
                issued_at=self.occurred_at,
                expires_at=datetime.fromisoformat(self.data["expires_at"]),
            )
        )


class CredentialRevoked(Event):
    kind = CREDENTIAL_REVOKED

    def project(self, conn: Connection) -> None:
        conn.execute(
            update(credentials)
            .where(credentials.c.id == self.credential_id)
            .values(revoked_at=self.occurred_at)
        )


class Recorded(Event):
    """Events whose rows (flights, manifests, the shredded keys) are written beside them: no
    projection to change."""

    def project(self, conn: Connection) -> None:
        return None


class FlightScheduled(Recorded):
    kind = FLIGHT_SCHEDULED


class Manifest(Recorded):
    kind = MANIFEST


class Shred(Recorded):
    kind = SHRED


class CategoryAdded(Recorded):  # operations.category_map is written beside it
    kind = CATEGORY_ADDED


class CategoryRetired(Recorded):
    kind = CATEGORY_RETIRED


class CategoryRestored(Recorded):
    kind = CATEGORY_RESTORED


class PlanAttached(Recorded):
    kind = PLAN_ATTACHED


class ReplanRequested(Recorded):
    kind = REPLAN_REQUESTED


class ReplanFinished(Recorded):
    kind = REPLAN_FINISHED


#: every event type by its name in the log
EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        Registered, Correction, CallForward, GateIn, RollCall, DepartedIndependently, Found,
        Deplane, Missing, Board, Depart, Arrive, Merge, Unmerge, NotDuplicate, CredentialIssued,
        CredentialRevoked, FlightScheduled, Manifest, Shred, CategoryAdded, CategoryRetired,
        CategoryRestored, PlanAttached, ReplanRequested, ReplanFinished,
    )
}  # fmt: skip


# ---------------------------------------------------------------------------- projection rows
def _set_person(conn: Connection, pid: str | None, values: Mapping[str, Any]) -> None:
    r = raw(conn)
    cols = sorted(values)
    template = (
        f"UPDATE persons SET {', '.join(c + ' = {' + c + '}' for c in cols)} WHERE id = {{_pid}}"
    )
    params = {c: (r.dt(values[c]) if c in PERSON_DATETIMES else values[c]) for c in cols}
    params["_pid"] = pid
    r.run(conn, template, params).close()


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


def _decide(conn: Connection, ev: Event, decision: str | None) -> None:
    a, b = sorted((ev.person_id or "", ev.data["other"]))
    conn.execute(
        update(dedup_candidates)
        .where(
            dedup_candidates.c.operation_id == ev.operation_id,
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


def pack(fields: Mapping[str, bytes | None]) -> bytes:
    """The sealed per-field values of a registration/correction, kept in ``events.sealed`` (each
    value is already AES-GCM sealed; this only bundles them)."""
    return json.dumps({k: (v.hex() if v is not None else None) for k, v in fields.items()}).encode()
