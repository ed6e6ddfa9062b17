"""The registry's service layer: every action on the registry goes through :class:`Registry`.

A method checks the acting user's role (:mod:`evacops.registry.security`), validates the request,
then in **one transaction** appends the event(s), changes the projection (:mod:`.events`) and
appends the audit entry (:mod:`.audit`). Either all of it is written or none of it is.
Personal fields are sealed before they reach the database and opened only for roles that may read
them, each read leaving an audit entry (never the value).
"""

from __future__ import annotations

import base64
import gc
import hashlib
import json
import re
import secrets
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, insert, select, update

from evacops.errors import AccessDenied, CredentialError, RegistrationFileError, RegistryError
from evacops.registry import audit as audit_log
from evacops.registry import credentials as creds
from evacops.registry import events as ev
from evacops.registry.crypto import FieldCipher, new_data_key, unwrap_key, wrap_key
from evacops.registry.db import (
    INTEGRITY_ERRORS,
    bulk_insert,
    raw,
    reserve_sequence,
    writer_turn,
)
from evacops.registry.models import (
    credentials,
    dedup_candidates,
    events,
    flights,
    households,
    manifest_entries,
    manifests,
    operations,
    person_keys,
    persons,
    seat_claims,
    sites,
    users,
    utcnow,
)
from evacops.registry.security import Actor, Perm, Role, check_password, hash_password, require

OPERATION_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
SITE_KINDS = ("assembly", "gate", "airport", "staging", "destination")
SCAN_ACTIONS = (
    ev.GATE_IN,
    ev.BOARD,
    ev.DEPLANE,
    ev.ROLL_CALL,
    ev.MISSING,
    ev.FOUND,
    ev.DEPARTED_INDEPENDENTLY,
    ev.CALL_FORWARD,
)


def _token(prefix: str, nbytes: int = 10) -> str:
    return prefix + base64.b32encode(secrets.token_bytes(nbytes)).decode().rstrip("=").lower()


def age_group(birth: date | None, precision: str, on: date) -> str:
    """infant (< 2 years: travels on a lap), child (< 18), adult, or unknown."""
    if birth is None or precision == "unknown":
        return "unknown"
    years = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
    if precision == "year":
        years = on.year - birth.year  # the year only: judge by it, leaning older
    if years < 2:
        return "infant"
    return "child" if years < 18 else "adult"


def initials(given: str, family: str) -> str:
    parts = [p for p in (given.strip(), family.strip()) if p]
    return "".join(p[0].upper() + "." for p in parts)


@dataclass(frozen=True)
class ImportResult:
    imported: int
    households: int
    person_ids: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"imported": self.imported, "rejected": 0, "households": self.households}


# the sealed fields that identify a person (compared by dedup, rewritten by a correction)
_IDENTITY_FIELDS = ("given_name", "family_name", "birth_date", "document")
# what a scan's answer repeats from its event's data (the same for a repeated scan)
_SCAN_ANSWER = ("seat", "lap", "override", "expected_site")
_CRED_COLUMNS = ("id", "operation_id", "person_id", "revoked_at", "boarded_at")
_PERSON_COLUMNS = (
    "id", "operation_id", "household_id", "status", "site", "flight_id", "merged_into",
    "age_group",
)  # fmt: skip
_SCAN_LOOKUP = (
    "SELECT "
    + ", ".join(f"c.{c}" for c in _CRED_COLUMNS)
    + ", "
    + ", ".join(f"p.{c}" for c in _PERSON_COLUMNS)
    + ", (SELECT seq FROM events WHERE idempotency_key = {key}) "
    "FROM credentials c JOIN persons p ON p.id = c.person_id WHERE c.id = {cid}"
)


def _scan_lookup(conn: Connection, cid: str, key: str) -> dict[str, Any] | None:
    """One round trip: the credential, its person, and a previous copy of this scan."""
    cur = raw(conn).run(conn, _SCAN_LOOKUP, {"cid": cid, "key": key})
    row = cur.fetchone()
    cur.close()
    if row is None:
        return None
    nc = len(_CRED_COLUMNS)
    out = {"c_" + c: v for c, v in zip(_CRED_COLUMNS, row[:nc], strict=True)}
    out.update({"p_" + c: v for c, v in zip(_PERSON_COLUMNS, row[nc:-1], strict=True)})
    out["dup_seq"] = row[-1]
    return out


class Registry:
    """The registry as one acting user sees it (``actor``)."""

    def __init__(self, engine: Engine, master_key: bytes | None, actor: Actor, *, clock=utcnow):
        self.engine = engine
        self._master = master_key
        self.actor = actor
        self.clock = clock
        self._ciphers: dict[str, tuple[bytes, FieldCipher]] = {}
        self._public: dict[str, bytes] = {}
        self._sites: dict[str, dict[str, str]] = {}
        self._pg = engine.dialect.name == "postgresql"

    # ------------------------------------------------------------------ plumbing
    @contextmanager
    def _write(self):
        with writer_turn(self.engine), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def _read(self):
        with self.engine.connect() as conn:
            conn.execution_options(evacops_read=True)
            with conn.begin():
                yield conn

    def _audit(
        self,
        conn: Connection,
        action: str,
        operation: str | None,
        subject: str,
        detail: dict | None = None,
    ) -> None:
        audit_log.append(
            conn,
            at=self.clock(),
            actor=self.actor.name,
            action=action,
            operation=operation,
            subject=subject,
            detail=detail,
        )

    def _event(
        self,
        conn: Connection,
        operation: str,
        type_: str,
        *,
        person_id=None,
        household_id=None,
        flight_id=None,
        site=None,
        credential_id=None,
        idempotency_key=None,
        data=None,
        sealed=None,
        at=None,
    ) -> dict[str, Any]:
        now = self.clock()
        row = {
            "operation_id": operation,
            "type": type_,
            "person_id": person_id,
            "household_id": household_id,
            "flight_id": flight_id,
            "site": site,
            "credential_id": credential_id,
            "idempotency_key": idempotency_key,
            "occurred_at": at or now,
            "recorded_at": now,
            "actor": self.actor.name,
            "data": data or {},
            "sealed": sealed,
        }
        row["seq"] = ev.append(conn, row)
        ev.apply(conn, row)
        return row

    def _operation(self, conn: Connection, op: str) -> Any:
        row = conn.execute(select(operations).where(operations.c.id == op)).mappings().first()
        if row is None:
            raise RegistryError(
                f"operation {op}: not in this registry; see 'evacops registry init --operation'"
            )
        return row

    def _cipher(self, conn: Connection, op: str) -> FieldCipher:
        """The operation's field cipher. The wrapped key is looked up every time (a primary-key
        read), so a shred done by anyone, in any process, stops this process reading at once."""
        row = self._operation(conn, op)
        if row["wrapped_data_key"] is None:
            self._ciphers.pop(op, None)
            raise RegistryError(f"operation {op}: shredded; its personal fields no longer exist")
        cached = self._ciphers.get(op)
        if cached is not None and cached[0] == row["wrapped_data_key"]:
            return cached[1]
        if self._master is None:
            raise RegistryError("no master key loaded; set EVACOPS_KEY_FILE")
        cipher = FieldCipher(unwrap_key(self._master, row["wrapped_data_key"], op), op)
        self._ciphers[op] = (row["wrapped_data_key"], cipher)
        return cipher

    def _signing_key(self, conn: Connection, op: str) -> bytes:
        row = self._operation(conn, op)
        if row["wrapped_signing_key"] is None:
            raise RegistryError(f"operation {op}: shredded; no credentials can be issued")
        if self._master is None:
            raise RegistryError("no master key loaded; set EVACOPS_KEY_FILE")
        return unwrap_key(self._master, row["wrapped_signing_key"], op, "signing")

    def public_key(self, op: str) -> bytes:
        if op not in self._public:
            with self._read() as conn:
                self._public[op] = self._operation(conn, op)["public_key"]
        return self._public[op]

    def _site_kinds(self, conn: Connection, op: str) -> dict[str, str]:
        if op not in self._sites:
            rows = conn.execute(
                select(sites.c.code, sites.c.kind).where(sites.c.operation_id == op)
            )
            self._sites[op] = {r.code: r.kind for r in rows}
        return self._sites[op]

    def _check_site(self, conn: Connection, op: str, site: str) -> str:
        kinds = self._site_kinds(conn, op)
        if site not in kinds:
            self._sites.pop(op, None)
            kinds = self._site_kinds(conn, op)
            if site not in kinds:
                raise RegistryError(
                    f"site {site!r}: not a site of operation {op}; "
                    "add it with 'evacops registry site'"
                )
        return kinds[site]

    def _flight(self, conn: Connection, op: str, code: str, *, lock: bool = False):
        q = select(flights).where(flights.c.operation_id == op, flights.c.code == code)
        if lock and self._pg:
            q = q.with_for_update()
        row = conn.execute(q).mappings().first()
        if row is None:
            raise RegistryError(
                f"flight {code}: not scheduled in operation {op}; "
                "add it with 'evacops registry flight'"
            )
        return row

    def _person(self, conn: Connection, op: str, person_id: str) -> Any:
        row = (
            conn.execute(
                select(persons).where(persons.c.id == person_id, persons.c.operation_id == op)
            )
            .mappings()
            .first()
        )
        if row is None:
            raise RegistryError(f"person {person_id}: not registered in operation {op}")
        return row

    # ------------------------------------------------------------------ users and set-up
    @staticmethod
    def authenticate(engine: Engine, name: str, password: str) -> Actor:
        with engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.name == name)).mappings().first()
        if row is None or not check_password(row["password_hash"], password):
            raise AccessDenied(f"user {name}: unknown user or wrong password")
        return Actor(name, Role(row["role"]))

    @staticmethod
    def bootstrap_admin(engine: Engine, name: str, password: str) -> bool:
        """Create the first admin if the registry has no user yet; True if created."""
        with engine.begin() as conn:
            audit_log.ensure_head(conn)
            if conn.execute(select(func.count()).select_from(users)).scalar_one():
                return False
            _add_user(conn, name, Role.admin, password)
            audit_log.append(
                conn,
                at=utcnow(),
                actor=name,
                action="user-added",
                operation=None,
                subject=name,
                detail={"role": "admin"},
            )
            return True

    def add_user(self, name: str, role: str, password: str) -> None:
        require(self.actor, Perm.manage)
        try:
            role_ = Role(role)
        except ValueError:
            raise RegistryError(
                f"--role: {role!r} is not a role; use one of {', '.join(Role)}"
            ) from None
        with self._write() as conn:
            if conn.execute(select(users.c.name).where(users.c.name == name)).first():
                raise RegistryError(f"user {name}: exists already")
            _add_user(conn, name, role_, password)
            self._audit(conn, "user-added", None, name, {"role": role_.value})

    def create_operation(
        self,
        op: str,
        *,
        name: str | None = None,
        categories: Mapping[str, tuple[str, float]] | None = None,
        sites_: Mapping[str, str] | None = None,
        origin_site: str | None = None,
        rule_version: str = "1",
    ) -> None:
        """A new operation with its own data key and signing key.

        ``categories`` maps an eligibility category to (scenario cohort, priority)."""
        require(self.actor, Perm.manage)
        if not OPERATION_ID.match(op):
            raise RegistryError(
                f"--operation: {op!r} is not an id; use lower-case letters, digits and '-'"
            )
        if self._master is None:
            raise RegistryError("no master key loaded; set EVACOPS_KEY_FILE")
        priv, pub = creds.new_signing_key()
        catmap = {
            k: {"cohort": c, "priority": float(p)} for k, (c, p) in (categories or {}).items()
        }
        with self._write() as conn:
            if conn.execute(select(operations.c.id).where(operations.c.id == op)).first():
                raise RegistryError(f"operation {op}: exists already")
            conn.execute(
                insert(operations).values(
                    id=op,
                    name=name or op,
                    created_at=self.clock(),
                    wrapped_data_key=wrap_key(self._master, new_data_key(), op),
                    wrapped_signing_key=wrap_key(self._master, priv, op, "signing"),
                    public_key=pub,
                    category_map=catmap,
                    rule_version=rule_version,
                    origin_site=origin_site,
                )
            )
            for code, kind in (sites_ or {}).items():
                _check_kind(kind)
                conn.execute(insert(sites).values(operation_id=op, code=code, kind=kind))
            self._audit(
                conn,
                "operation-created",
                op,
                op,
                {"sites": len(sites_ or {}), "categories": sorted(catmap)},
            )

    def operations(self) -> list[dict[str, Any]]:
        with self._read() as conn:
            return [
                dict(id=r.id, name=r.name, shredded=r.shredded_at is not None)
                for r in conn.execute(
                    select(operations.c.id, operations.c.name, operations.c.shredded_at)
                )
            ]

    def add_site(self, op: str, code: str, kind: str) -> None:
        require(self.actor, Perm.manage)
        _check_kind(kind)
        with self._write() as conn:
            self._operation(conn, op)
            if conn.execute(
                select(sites.c.code).where(sites.c.operation_id == op, sites.c.code == code)
            ).first():
                raise RegistryError(f"site {code}: exists already in operation {op}")
            conn.execute(insert(sites).values(operation_id=op, code=code, kind=kind))
            self._audit(conn, "site-added", op, code, {"kind": kind})
        self._sites.pop(op, None)

    def add_flight(
        self,
        op: str,
        code: str,
        *,
        origin: str,
        destination: str,
        seats: int,
        departs_at: datetime | None = None,
    ) -> int:
        if not (self.actor.can(Perm.manage) or self.actor.can(Perm.manifest)):
            require(self.actor, Perm.manifest)
        if seats <= 0:
            raise RegistryError(f"--seats: must be > 0, got {seats}")
        with self._write() as conn:
            self._operation(conn, op)
            self._check_site(conn, op, origin)
            self._check_site(conn, op, destination)
            if conn.execute(
                select(flights.c.id).where(flights.c.operation_id == op, flights.c.code == code)
            ).first():
                raise RegistryError(f"flight {code}: exists already in operation {op}")
            fid = conn.execute(
                insert(flights).values(
                    operation_id=op,
                    code=code,
                    origin=origin,
                    destination=destination,
                    seats=seats,
                    departs_at=departs_at,
                    status="scheduled",
                )
            ).inserted_primary_key[0]
            self._event(
                conn,
                op,
                ev.FLIGHT_SCHEDULED,
                flight_id=fid,
                site=origin,
                data={"code": code, "destination": destination, "seats": seats},
            )
            return fid

    # ------------------------------------------------------------------ registration
    def register(
        self,
        op: str,
        rows: Sequence[Any],
        *,
        source: str = "register",
        source_digest: str | None = None,
    ) -> ImportResult:
        """Register people (rows shaped like :class:`evacops.registry.files.RegistrationRow`)
        in one transaction: all or nothing. ``source_digest`` (a file's SHA-256) makes importing
        the same file twice a clear error instead of a second copy of everyone."""
        # Hundreds of thousands of short-lived objects: the cyclic collector would scan them
        # again and again (it made a 100,000-row import grow faster than linearly).
        enabled = gc.isenabled()
        gc.disable()
        try:
            return self._register(op, rows, source=source, source_digest=source_digest)
        finally:
            if enabled:
                gc.enable()

    def _register(self, op, rows, *, source, source_digest) -> ImportResult:
        from evacops.registry.dedup import PersonRecord, blocking_keys

        require(self.actor, Perm.register)
        now = self.clock()
        with self._write() as conn:
            oprow = self._operation(conn, op)
            cipher = self._cipher(conn, op)
            catmap = oprow["category_map"]
            problems = []
            for r in rows:
                if catmap and r.category not in catmap:
                    problems.append(
                        f"{source}:{r.line}: category: {r.category!r} is not a category of "
                        f"operation {op}; use one of {', '.join(sorted(catmap))}"
                    )
            if problems:
                raise RegistrationFileError(problems)
            # households: reuse those already registered under the same external id
            ext_ids = sorted({r.household_id for r in rows})
            hh: dict[str, str] = {}
            for chunk in _chunks(ext_ids, 500):
                for h in conn.execute(
                    select(households.c.id, households.c.external_id).where(
                        households.c.operation_id == op, households.c.external_id.in_(chunk)
                    )
                ):
                    hh[h.external_id] = h.id
            new_hh = [
                {"id": _token("h", 8), "operation_id": op, "external_id": e, "created_at": now}
                for e in ext_ids
                if e not in hh
            ]
            if new_hh:
                conn.execute(insert(households), new_hh)
                hh.update({h["external_id"]: h["id"] for h in new_hh})
            groups = _household_roles(rows, now.date())
            ev_rows: list[dict[str, Any]] = []
            for r in rows:
                pid = _token("p")
                ag, unaccompanied = groups[id(r)]
                cat = catmap.get(r.category) or {"cohort": r.category, "priority": 1.0}
                native = " ".join(p for p in (r.given_name_native, r.family_name_native) if p)
                plain = {
                    "given_name": r.given_name,
                    "family_name": r.family_name,
                    "native_name": native or None,
                    "variants": json.dumps(list(r.name_variants)) if r.name_variants else None,
                    "initials": initials(r.given_name, r.family_name),
                    "birth_date": r.birth_date.isoformat() if r.birth_date else None,
                    "document": json.dumps({"number": r.document_number, "type": r.document_type})
                    if r.document_number
                    else None,
                    "extra": json.dumps(dict(r.extra)) if r.extra else None,
                }
                sealed = {f: cipher.seal(v, f"persons|{pid}|{f}") for f, v in plain.items()}
                rec = PersonRecord(
                    pid,
                    r.given_name,
                    r.family_name,
                    r.birth_date,
                    r.birth_precision,
                    r.sex,
                    r.nationality,
                    r.document_number,
                    hh[r.household_id],
                )
                keys = sorted({cipher.blind("dedup", k).hex() for k in blocking_keys(rec)})
                data = {
                    "sex": r.sex,
                    "nationality": r.nationality,
                    "birth_precision": r.birth_precision,
                    "age_group": ag,
                    "relationship": r.relationship,
                    "unaccompanied": unaccompanied,
                    "category": r.category,
                    "cohort": cat["cohort"],
                    "priority": cat["priority"],
                    "rule_version": oprow["rule_version"],
                    "decided_by": self.actor.name,
                    "reason": f"category {r.category} -> cohort {cat['cohort']} "
                    f"(rule {oprow['rule_version']})",
                    "source": source,
                    "line": r.line,
                    "_keys": keys,
                    "_document_bidx": cipher.blind("document", r.document_number).hex()
                    if r.document_number
                    else None,
                }
                ev_rows.append(
                    {
                        "operation_id": op,
                        "type": ev.REGISTERED,
                        "person_id": pid,
                        "household_id": hh[r.household_id],
                        "flight_id": None,
                        "site": None,
                        "credential_id": None,
                        "idempotency_key": f"import:{source_digest[:40]}:{r.line}"
                        if source_digest
                        else None,
                        "occurred_at": now,
                        "recorded_at": now,
                        "actor": self.actor.name,
                        "data": data,
                        "sealed": ev.pack(sealed),
                    }
                )
            # bulk path (driver executemany / COPY): the same rows events.apply would write
            r = raw(conn)
            seqs = reserve_sequence(conn, "events", "seq", len(ev_rows))
            person_rows, key_rows = [], []
            for row, seq in zip(ev_rows, seqs, strict=True):
                row["seq"] = seq
                person_rows.append(ev.person_row(row, ev.sealed_fields(row)))
                key_rows.extend(ev.key_rows(row))
            ev_cols = ("seq", *ev.EVENT_COLUMNS)
            ev_tuples = [
                tuple(
                    r.dt(row[c]) if c in ("occurred_at", "recorded_at")
                    else json.dumps(row[c]) if c == "data" else row[c]
                    for c in ev_cols
                )
                for row in ev_rows
            ]  # fmt: skip
            try:
                bulk_insert(conn, "events", ev_cols, ev_tuples)
            except INTEGRITY_ERRORS:
                raise RegistryError(
                    f"{source}: this file was imported already; nothing imported again"
                ) from None
            p_cols = tuple(person_rows[0]) if person_rows else ()
            bulk_insert(
                conn, "persons", p_cols,
                [tuple(r.dt(v) if c in ev.PERSON_DATETIMES else v for c, v in pr.items())
                 for pr in person_rows],
            )  # fmt: skip
            k_cols = ("person_id", "operation_id", "bidx")
            bulk_insert(
                conn, "person_keys", k_cols, [tuple(k[c] for c in k_cols) for k in key_rows]
            )
            self._assign_escorts(
                conn,
                op,
                [
                    (r["person_id"], r["household_id"])
                    for r in ev_rows
                    if r["data"]["unaccompanied"]
                ],
            )
            self._audit(
                conn,
                "import" if source_digest else "register",
                op,
                source,
                {"persons": len(ev_rows), "households": len(new_hh)},
            )
        return ImportResult(len(ev_rows), len(new_hh), [r["person_id"] for r in ev_rows])

    def _assign_escorts(self, conn: Connection, op: str, minors: list[tuple[str, str]]) -> None:
        """Newly registered unaccompanied minors (person id, household id) travel with their
        household's escort, if it names one (a ``correction`` event, so the projection stays a
        replay of the events)."""
        P = persons.c
        escorts: dict[str, str] = {}
        for chunk in _chunks(sorted({h for _, h in minors}), 500):
            for r in conn.execute(
                select(P.id, P.household_id)
                .where(P.household_id.in_(chunk), P.relationship == "escort")
                .order_by(P.id)
            ):
                escorts.setdefault(r.household_id, r.id)
        for pid, household in minors:
            if household in escorts:
                self._event(
                    conn,
                    op,
                    ev.CORRECTION,
                    person_id=pid,
                    household_id=household,
                    data={"escort_id": escorts[household], "reason": "escort named in household"},
                )

    def import_file(self, op: str, path) -> ImportResult:
        from pathlib import Path

        from evacops.registry.files import read_registrations

        require(self.actor, Perm.register)
        path = Path(path)
        rows = read_registrations(path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return self.register(op, rows, source=path.name, source_digest=digest)

    def correct(self, op: str, person_id: str, *, reason: str, **fields: Any) -> None:
        """Correct a person's record: a ``correction`` event (the old values stay in the log)."""
        require(self.actor, Perm.register)
        personal = {"given_name", "family_name", "birth_date", "document"}
        plain_ok = set(ev.CORRECTABLE) - {"household_id", "escort_id", "cohort", "priority"}
        unknown = set(fields) - personal - plain_ok
        if unknown:
            raise RegistryError(f"correction: cannot correct {', '.join(sorted(unknown))}")
        with self._write() as conn:
            p = self._person(conn, op, person_id)
            cipher = self._cipher(conn, op)
            data: dict[str, Any] = {"reason": reason, "fields": sorted(fields)}
            for k in plain_ok & set(fields):
                data[k] = fields[k]
            if "category" in fields:
                catmap = self._operation(conn, op)["category_map"]
                if catmap and fields["category"] not in catmap:
                    raise RegistryError(
                        f"category: {fields['category']!r} is not a category of operation {op}"
                    )
                cat = catmap.get(fields["category"]) or {
                    "cohort": fields["category"],
                    "priority": 1.0,
                }
                data["cohort"], data["priority"] = cat["cohort"], cat["priority"]
            sealed = None
            if personal & set(fields):
                current = self._open_person(cipher, p, _IDENTITY_FIELDS)
                current.update({k: v for k, v in fields.items() if k in personal})
                new = {
                    "given_name": current["given_name"],
                    "family_name": current["family_name"],
                    "initials": initials(current["given_name"] or "", current["family_name"] or ""),
                    "birth_date": current["birth_date"],
                    "document": json.dumps(
                        {"number": current["document"], "type": current.get("document_type")}
                    )
                    if current["document"]
                    else None,
                }
                sealed = ev.pack(
                    {f: cipher.seal(v, f"persons|{person_id}|{f}") for f, v in new.items()}
                )
                from evacops.registry.dedup import PersonRecord, blocking_keys

                bd = date.fromisoformat(current["birth_date"]) if current["birth_date"] else None
                rec = PersonRecord(
                    person_id,
                    current["given_name"] or "",
                    current["family_name"] or "",
                    bd,
                    p["birth_precision"] if bd else "unknown",
                    p["sex"],
                    p["nationality"],
                    current["document"],
                    p["household_id"],
                )
                data["_keys"] = sorted({cipher.blind("dedup", k).hex() for k in blocking_keys(rec)})
                if "document" in fields:
                    data["_document_bidx"] = (
                        cipher.blind("document", current["document"]).hex()
                        if current["document"]
                        else None
                    )
            self._event(
                conn,
                op,
                ev.CORRECTION,
                person_id=person_id,
                household_id=p["household_id"],
                data=data,
                sealed=sealed,
            )
            self._audit(conn, "correction", op, person_id, {"fields": sorted(fields)})

    # ------------------------------------------------------------------ reading people
    def _open_person(
        self, cipher: FieldCipher, p: Any, fields: Sequence[str] = ev.SEALED_FIELDS
    ) -> dict[str, Any]:
        """Open a person's sealed ``fields`` (all by default); the document comes out as
        ``document`` (its number) and ``document_type``."""
        out: dict[str, Any] = {
            f: cipher.open(p[f"{f}_enc"], f"persons|{p['id']}|{f}") for f in fields
        }
        if "document" in out:
            doc = json.loads(out["document"]) if out["document"] else None
            out["document"] = doc["number"] if doc else None
            out["document_type"] = doc["type"] if doc else None
        if "variants" in out:
            out["variants"] = json.loads(out["variants"]) if out["variants"] else []
        if "extra" in out:
            out["extra"] = json.loads(out["extra"]) if out["extra"] else {}
        return out

    def person(self, op: str, person_id: str) -> dict[str, Any]:
        """One person as the acting role may see them (gate: credential, initials and
        eligibility; registrar/manifest: names and birth date; documents only to roles that may
        read documents). Every read of a protected field is audited."""
        if not (self.actor.can(Perm.read_gate_view) or self.actor.can(Perm.read_personal)):
            require(self.actor, Perm.read_personal)
        with self._write() as conn:
            p = self._person(conn, op, person_id)
            cipher = self._cipher(conn, op)
            cred = conn.execute(
                select(credentials.c.id)
                .where(credentials.c.person_id == person_id, credentials.c.revoked_at.is_(None))
                .order_by(credentials.c.issued_at.desc())
            ).scalar()
            out: dict[str, Any] = {
                "person_id": person_id,
                "household_id": p["household_id"],
                "credential": creds.short_code(cred) if cred else None,
                "category": p["category"],
                "cohort": p["cohort"],
                "status": p["status"],
                "site": p["site"],
                "age_group": p["age_group"],
                "initials": cipher.open(p["initials_enc"], f"persons|{person_id}|initials"),
            }
            fields = ["initials"]
            if self.actor.can(Perm.read_personal):
                opened = self._open_person(cipher, p)
                out.update(
                    {
                        k: opened[k]
                        for k in (
                            "given_name",
                            "family_name",
                            "native_name",
                            "variants",
                            "birth_date",
                        )
                    }
                )
                out.update(
                    sex=p["sex"], nationality=p["nationality"], birth_precision=p["birth_precision"]
                )
                fields += ["given_name", "family_name", "native_name", "variants", "birth_date"]
                if self.actor.can(Perm.read_documents):
                    out["document"] = opened["document"]
                    out["document_type"] = opened["document_type"]
                    fields.append("document")
            self._audit(conn, "read", op, person_id, {"fields": fields})
        return out

    def find_by_document(self, op: str, number: str) -> list[str]:
        """Opaque ids of people registered with this document number (blind index lookup)."""
        require(self.actor, Perm.read_documents)
        from evacops.registry.files import normalise_document

        with self._write() as conn:
            cipher = self._cipher(conn, op)
            b = cipher.blind("document", normalise_document(number))
            ids = list(
                conn.execute(
                    select(persons.c.id).where(
                        persons.c.operation_id == op, persons.c.document_bidx == b
                    )
                ).scalars()
            )
            self._audit(conn, "lookup-document", op, ",".join(ids) or "-", {"found": len(ids)})
        return ids

    # ------------------------------------------------------------------ credentials
    def issue_credentials(
        self, op: str, person_ids: Iterable[str] | None = None, *, days: int = 30
    ) -> list[dict[str, Any]]:
        """Issue a credential to each person (default: every active person without a valid
        one). Returns payloads for printing; they hold an opaque id, the operation and the
        expiry."""
        require(self.actor, Perm.register)
        now = self.clock()
        expires = now + timedelta(days=days)
        out = []
        with self._write() as conn:
            key = self._signing_key(conn, op)
            P = persons.c
            if person_ids is None:
                valid = select(credentials.c.person_id).where(
                    credentials.c.operation_id == op,
                    credentials.c.revoked_at.is_(None),
                    credentials.c.expires_at > now,
                )
                ids = list(
                    conn.execute(
                        select(P.id)
                        .where(P.operation_id == op, P.status.in_(ev.ACTIVE), P.id.not_in(valid))
                        .order_by(P.household_id, P.id)
                    ).scalars()
                )
            else:
                ids = list(person_ids)
                for pid in ids:
                    self._person(conn, op, pid)
            hh = dict(conn.execute(select(P.id, P.household_id).where(P.operation_id == op)).all())
            for pid in ids:
                cid = creds.new_credential_id()
                self._event(
                    conn,
                    op,
                    ev.CREDENTIAL_ISSUED,
                    person_id=pid,
                    credential_id=cid,
                    data={"expires_at": expires.isoformat()},
                )
                out.append(
                    {
                        "person_id": pid,
                        "credential_id": cid,
                        "household_id": hh.get(pid),
                        "code": creds.short_code(cid),
                        "expires_at": expires.isoformat(),
                        "payload": creds.encode(cid, op, expires, key),
                    }
                )
            self._audit(conn, "credentials-issued", op, f"{len(ids)} persons", {"count": len(ids)})
        return out

    def credential_payloads(
        self, op: str, person_ids: Iterable[str] | None = None
    ) -> list[dict[str, Any]]:
        """The payloads of valid credentials again (Ed25519 signatures are deterministic), for
        reprinting labels."""
        require(self.actor, Perm.register)
        now = self.clock()
        with self._read() as conn:
            key = self._signing_key(conn, op)
            C = credentials.c
            q = (
                select(
                    C.id,
                    C.person_id,
                    C.expires_at,
                    persons.c.household_id,
                    persons.c.cohort,
                    persons.c.category,
                )
                .join(persons, persons.c.id == C.person_id)
                .where(C.operation_id == op, C.revoked_at.is_(None), C.expires_at > now)
                .order_by(persons.c.household_id, C.person_id)
            )
            rows = conn.execute(q).all()
        wanted = set(person_ids) if person_ids is not None else None
        return [
            {
                "person_id": r.person_id,
                "credential_id": r.id,
                "household_id": r.household_id,
                "cohort": r.cohort,
                "category": r.category,
                "code": creds.short_code(r.id),
                "payload": creds.encode(r.id, op, r.expires_at, key),
            }
            for r in rows
            if wanted is None or r.person_id in wanted
        ]

    def revoke(self, op: str, credential: str, *, reason: str) -> None:
        require(self.actor, Perm.register)
        with self._write() as conn:
            row = self._credential_row(conn, op, credential)
            if row["revoked_at"] is not None:
                raise RegistryError(f"credential {creds.short_code(row['id'])}: revoked already")
            self._event(
                conn,
                op,
                ev.CREDENTIAL_REVOKED,
                person_id=row["person_id"],
                credential_id=row["id"],
                data={"reason": reason},
            )
            self._audit(conn, "credential-revoked", op, row["person_id"], {"credential": row["id"]})

    def _credential_row(self, conn: Connection, op: str, credential: str) -> Any:
        """By full id, or by the short code printed under the QR code."""
        C = credentials.c
        row = (
            conn.execute(select(credentials).where(C.id == credential, C.operation_id == op))
            .mappings()
            .first()
        )
        if row is None:
            code = creds.normalize_short_code(credential) if len(credential) < 12 else None
            if code:
                matches = [
                    r
                    for r in conn.execute(
                        select(credentials).where(
                            C.operation_id == op, C.id.like(f"%{code.replace('-', '')}")
                        )
                    ).mappings()
                ]
                if len(matches) > 1:
                    raise CredentialError(
                        f"credential {credential}: code matches {len(matches)} credentials; "
                        "scan the QR code"
                    )
                row = matches[0] if matches else None
        if row is None:
            raise CredentialError(f"credential {credential}: not issued in operation {op}")
        return row

    def revoked(self, op: str) -> list[str]:
        """Revoked credential ids (for an offline verifier's list)."""
        require(self.actor, Perm.scan)
        with self._read() as conn:
            return list(
                conn.execute(
                    select(credentials.c.id).where(
                        credentials.c.operation_id == op, credentials.c.revoked_at.is_not(None)
                    )
                ).scalars()
            )

    # ------------------------------------------------------------------ scans and movements
    def scan(
        self,
        op: str,
        payload: str,
        action: str,
        *,
        site: str | None = None,
        flight: str | None = None,
        scan_id: str | None = None,
        override: str | None = None,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """Record a scanned credential: gate-in, board, deplane, roll-call, missing, found,
        departed-independently or call-forward. The same scan received twice (same ``scan_id``,
        or the same payload, action, site and flight) is one event: the second returns the first
        with ``duplicate: true``."""
        if action not in SCAN_ACTIONS:
            raise RegistryError(
                f"--action: {action!r} is not a scan; use one of {', '.join(SCAN_ACTIONS)}"
            )
        require(self.actor, Perm.scan)
        if override is not None:
            require(self.actor, Perm.manifest)
        if action == ev.CALL_FORWARD:
            require(self.actor, Perm.register)
        claim = creds.verify(payload, self.public_key(op), operation=op, now=self.clock())
        key = "scan:" + (
            scan_id
            if scan_id
            else hashlib.sha256(f"{payload}|{action}|{site}|{flight}".encode()).hexdigest()[:48]
        )
        try:
            with self._write() as conn:
                if action == ev.BOARD and flight and self._pg:  # lock first: later reads are fresh
                    self._flight(conn, op, flight, lock=True)
                found = _scan_lookup(conn, claim.credential_id, key)
                if found is not None and found["dup_seq"] is not None:
                    dup = self._replayed(conn, key)
                    if dup is not None:
                        return dup
                return self._scan(conn, op, claim, action, site, flight, key, override, at, found)
        except INTEGRITY_ERRORS:
            # a concurrent copy of the same scan won the race: report it
            with self._read() as conn:
                dup = self._replayed(conn, key)
            if dup is None:
                # a unique key (seat, lap place, person on a flight) refused a concurrent claim
                raise RegistryError(
                    "scan: another gate changed this flight at the same moment; scan again"
                ) from None
            return dup

    def _replayed(self, conn: Connection, key: str) -> dict[str, Any] | None:
        row = conn.execute(
            select(
                events.c.seq,
                events.c.type,
                events.c.person_id,
                events.c.site,
                events.c.flight_id,
                events.c.data,
            ).where(events.c.idempotency_key == key)
        ).first()
        if row is None:
            return None
        return {
            "event": row.seq,
            "action": row.type,
            "person_id": row.person_id,
            "site": row.site,
            "duplicate": True,
            **{k: v for k, v in row.data.items() if k in _SCAN_ANSWER},
        }

    def _scan(self, conn, op, claim, action, site, flight_code, key, override, at, found):
        cred = found and {k[2:]: found[k] for k in found if k.startswith("c_")}
        if cred is None or cred["operation_id"] != op:
            raise CredentialError(
                f"credential {creds.short_code(claim.credential_id)}: not issued by this registry"
            )
        if cred["revoked_at"] is not None:
            raise CredentialError(
                f"credential {creds.short_code(cred['id'])}: revoked; see a registrar"
            )
        p = {k[2:]: found[k] for k in found if k.startswith("p_")}
        pid = p["id"]
        if p["operation_id"] != op:
            raise CredentialError(
                f"credential {creds.short_code(cred['id'])}: for another operation"
            )
        if p["status"] == "merged":
            raise CredentialError(
                f"credential {creds.short_code(cred['id'])}: its person was merged into "
                f"{p['merged_into']}"
            )
        data: dict[str, Any] = {}
        fid = None
        if action == ev.BOARD:
            if not flight_code:
                raise RegistryError("board: name the flight (--flight)")
            f = self._flight(conn, op, flight_code, lock=True)
            fid = f["id"]
            site = site or f["origin"]
            data = self._board(conn, op, f, p, cred, override)
        elif action == ev.DEPLANE:
            if not flight_code:
                raise RegistryError("deplane: name the flight (--flight)")
            f = self._flight(conn, op, flight_code)
            fid = f["id"]
            site = site or f["destination"]
            if f["status"] == "scheduled":
                raise RegistryError(
                    f"flight {flight_code}: has not departed; record its departure first"
                )
            if p["flight_id"] != fid or p["status"] not in ("in-flight", "boarded"):
                raise RegistryError(
                    f"person {pid}: was not on flight {flight_code} ({p['status']}); "
                    "report it at reconciliation"
                )
        else:
            if site is None:
                raise RegistryError(f"{action}: name the site (--site)")
            if p["status"] in ("boarded", "in-flight") and action != ev.MISSING:
                raise RegistryError(f"person {pid}: is {p['status']} on a flight; deplane first")
            if action == ev.FOUND:
                if p["status"] != "missing":
                    raise RegistryError(f"person {pid}: is not missing ({p['status']})")
                kind = self._check_site(conn, op, site)
                data["status"] = "arrived" if kind in ("staging", "destination") else "checked-in"
            if action == ev.ROLL_CALL:
                data["expected_site"] = p["site"]
            if p["status"] == "departed-independently" and action != ev.FOUND:
                raise RegistryError(f"person {pid}: left on their own; record 'found' first")
        if site is not None:
            self._check_site(conn, op, site)
        row = self._event(
            conn,
            op,
            action,
            person_id=pid,
            household_id=p["household_id"],
            flight_id=fid,
            site=site,
            credential_id=cred["id"],
            idempotency_key=key,
            data=data,
            at=at,
        )
        if action == ev.BOARD:
            conn.execute(
                insert(seat_claims).values(
                    flight_id=fid,
                    seat_no=data.get("seat"),
                    lap_no=data.get("lap"),
                    person_id=pid,
                    event_seq=row["seq"],
                )
            )
        self._audit(
            conn,
            "scan",
            op,
            pid,
            {
                "action": action,
                "credential": cred["id"],
                "site": site,
                "flight": flight_code,
                **({"override": True} if override else {}),
            },
        )
        return {
            "event": row["seq"],
            "action": action,
            "person_id": pid,
            "site": site,
            "duplicate": False,
            **{k: v for k, v in data.items() if k in _SCAN_ANSWER},
        }

    def _board(self, conn, op, f, p, cred, override) -> dict[str, Any]:
        pid = p["id"]
        if f["status"] != "scheduled":
            raise RegistryError(f"flight {f['code']}: has {f['status']}; no more boarding")
        if cred["boarded_at"] is not None:
            raise CredentialError(
                f"credential {creds.short_code(cred['id'])}: used for boarding already (single use)"
            )
        if p["status"] not in ("checked-in", "arrived") or (
            p["status"] == "arrived" and p["site"] != f["origin"]
        ):
            raise RegistryError(
                f"person {pid}: is {p['status']} at {p['site']}; check in at {f['origin']} first"
            )
        version = conn.execute(
            select(func.max(manifests.c.version)).where(manifests.c.flight_id == f["id"])
        ).scalar()
        entry = None
        if version is not None:
            entry = conn.execute(
                select(manifest_entries.c.lap_infant).where(
                    manifest_entries.c.flight_id == f["id"],
                    manifest_entries.c.version == version,
                    manifest_entries.c.person_id == pid,
                )
            ).first()
        data: dict[str, Any] = {"flight": f["code"]}
        if entry is None:
            if not override:
                raise RegistryError(
                    f"person {pid}: not on the manifest of {f['code']}; "
                    "board with --override REASON (logged)"
                )
            data.update(override=True, reason=override)
        lap = p["age_group"] == "infant"
        C = seat_claims.c
        col = C.lap_no if lap else C.seat_no
        taken = conn.execute(select(func.count(col)).where(C.flight_id == f["id"])).scalar_one()
        if taken >= f["seats"]:
            what = "lap places" if lap else "seats"
            raise RegistryError(f"flight {f['code']}: all {f['seats']} {what} are taken")
        data["lap" if lap else "seat"] = taken + 1
        return data

    def call_forward(self, op: str, person_ids: Iterable[str], site: str) -> int:
        """Tell people to come to ``site`` (the planner's call-forward, per household)."""
        require(self.actor, Perm.register)
        n = 0
        with self._write() as conn:
            self._check_site(conn, op, site)
            for pid in person_ids:
                p = self._person(conn, op, pid)
                if p["status"] not in ("registered", "called-forward"):
                    continue
                self._event(
                    conn,
                    op,
                    ev.CALL_FORWARD,
                    person_id=pid,
                    household_id=p["household_id"],
                    site=site,
                )
                n += 1
            self._audit(conn, "call-forward", op, site, {"persons": n})
        return n

    def depart(self, op: str, flight: str) -> dict[str, Any]:
        require(self.actor, Perm.manifest)
        with self._write() as conn:
            f = self._flight(conn, op, flight, lock=True)
            if f["status"] != "scheduled":
                raise RegistryError(f"flight {flight}: has {f['status']} already")
            boarded = conn.execute(
                select(func.count())
                .select_from(seat_claims)
                .where(seat_claims.c.flight_id == f["id"])
            ).scalar_one()
            self._event(
                conn,
                op,
                ev.DEPART,
                flight_id=f["id"],
                site=f["origin"],
                data={"boarded": boarded},
                idempotency_key=f"depart:{f['id']}",
            )
            self._audit(conn, "depart", op, flight, {"boarded": boarded})
        return {"flight": flight, "boarded": boarded}

    def arrive(self, op: str, flight: str) -> dict[str, Any]:
        """Record the landing (once) and reconcile: boarded must equal deplaned."""
        require(self.actor, Perm.manifest)
        with self._write() as conn:
            f = self._flight(conn, op, flight, lock=True)
            if f["status"] == "scheduled":
                raise RegistryError(
                    f"flight {flight}: has not departed; "
                    f"record its departure first ('evacops registry flight {flight} --depart')"
                )
            if f["status"] == "departed":
                self._event(
                    conn,
                    op,
                    ev.ARRIVE,
                    flight_id=f["id"],
                    site=f["destination"],
                    idempotency_key=f"arrive:{f['id']}",
                )
                self._audit(conn, "arrive", op, flight, {})
        return self.reconcile(op, flight)

    def reconcile(self, op: str, flight: str) -> dict[str, Any]:
        """Manifest, boarded and deplaned for one flight, and every discrepancy between them."""
        require(self.actor, Perm.report)
        with self._read() as conn:
            f = self._flight(conn, op, flight)
            version = conn.execute(
                select(func.max(manifests.c.version)).where(manifests.c.flight_id == f["id"])
            ).scalar()
            manifested = (
                set()
                if version is None
                else set(
                    conn.execute(
                        select(manifest_entries.c.person_id).where(
                            manifest_entries.c.flight_id == f["id"],
                            manifest_entries.c.version == version,
                        )
                    ).scalars()
                )
            )
            claims = conn.execute(
                select(seat_claims.c.person_id, seat_claims.c.lap_no).where(
                    seat_claims.c.flight_id == f["id"]
                )
            ).all()
            boarded = {c.person_id for c in claims}
            deplaned = set(
                conn.execute(
                    select(events.c.person_id).where(
                        events.c.flight_id == f["id"], events.c.type == ev.DEPLANE
                    )
                ).scalars()
            )
        disc = (
            [{"kind": "boarded-not-deplaned", "person_id": x} for x in sorted(boarded - deplaned)]
            + [{"kind": "deplaned-not-boarded", "person_id": x} for x in sorted(deplaned - boarded)]
            + [
                {"kind": "manifested-not-boarded", "person_id": x}
                for x in sorted(manifested - boarded)
            ]
            + [
                {"kind": "boarded-not-manifested", "person_id": x}
                for x in sorted(boarded - manifested)
            ]
        )
        return {
            "flight": flight,
            "status": f["status"],
            "manifest_version": version,
            "manifested": len(manifested),
            "boarded": len(boarded),
            "lap_infants": sum(1 for c in claims if c.lap_no is not None),
            "deplaned": len(deplaned),
            "reconciled": boarded == deplaned,
            "discrepancies": disc,
        }

    # ------------------------------------------------------------------ manifests
    def build_manifest(self, op: str, flight: str, *, allow_split: bool = False) -> dict[str, Any]:
        """A new manifest version for ``flight`` from checked-in people, by priority, whole
        households only (unless ``allow_split``), within the seats (lap infants take none: one per
        seated adult of their household)."""
        require(self.actor, Perm.manifest)
        P = persons.c
        with self._write() as conn:
            f = self._flight(conn, op, flight, lock=True)
            if f["status"] != "scheduled":
                raise RegistryError(f"flight {flight}: has {f['status']}; its manifest is closed")
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
            kinds = self._site_kinds(conn, op)
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
            hh_ids = {r.household_id for r in ready}
            pending: dict[str, int] = defaultdict(int)
            ready_ids = {r.id for r in ready}
            for chunk in _chunks(sorted(hh_ids), 500):
                for r in conn.execute(
                    select(P.id, P.household_id).where(
                        P.household_id.in_(chunk),
                        P.status.in_(("registered", "called-forward", "checked-in", "missing")),
                    )
                ):
                    if r.id not in ready_ids:
                        pending[r.household_id] += 1
            units = defaultdict(list)
            for r in ready:
                units[r.household_id].append(r)
            order = sorted(
                units,
                key=lambda h: (
                    -max(m.priority for m in units[h]),
                    min(m.last_seen_at for m in units[h]),
                    h,
                ),
            )
            seats_left = f["seats"]
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
                    created_at=self.clock(),
                    actor=self.actor.name,
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
            self._event(
                conn,
                op,
                ev.MANIFEST,
                flight_id=f["id"],
                site=f["origin"],
                data={"version": version, **totals, "allow_split": allow_split},
            )
            self._audit(conn, "manifest", op, flight, {"version": version, **totals})
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

    def manifest(self, op: str, flight: str, version: int | None = None) -> dict[str, Any]:
        require(self.actor, Perm.report)
        with self._read() as conn:
            f = self._flight(conn, op, flight)
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
            k: head[k]
            for k in ("persons", "seats", "lap_infants", "households", "split_households")
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

    def export_manifest(self, op: str, flight: str, path) -> int:
        """The passenger manifest as CSV (personal data: role-checked, audited)."""
        from evacops.registry.files import write_manifest_csv

        require(self.actor, Perm.export_manifest)
        m = self.manifest(op, flight)
        with self._write() as conn:
            f = self._flight(conn, op, flight)
            cipher = self._cipher(conn, op)
            rows = []
            for e in m["entries"]:
                p = self._person(conn, op, e["person_id"])
                o = self._open_person(cipher, p)
                cred = conn.execute(
                    select(credentials.c.id).where(
                        credentials.c.person_id == p["id"], credentials.c.revoked_at.is_(None)
                    )
                ).scalar()
                rows.append(
                    {
                        "flight": flight,
                        "flight_date": f["departs_at"].date().isoformat()
                        if f["departs_at"]
                        else "",
                        "origin": f["origin"],
                        "destination": f["destination"],
                        "seq": e["position"],
                        "family_name": o["family_name"],
                        "given_name": o["given_name"],
                        "sex": p["sex"],
                        "birth_date": o["birth_date"] or "",
                        "birth_precision": p["birth_precision"],
                        "nationality": p["nationality"],
                        "document_type": o["document_type"] or "",
                        "document_number": o["document"] or "",
                        "household_id": p["household_id"],
                        "lap_infant": e["lap_infant"],
                        "seat_required": not e["lap_infant"],
                        "unaccompanied_minor": p["unaccompanied"],
                        "document_country": "",
                        "category": p["category"],
                        "credential_code": creds.short_code(cred) if cred else "",
                    }
                )
            n = write_manifest_csv(rows, path)
            self._audit(conn, "export-manifest", op, flight, {"rows": n, "version": m["version"]})
        return n

    # ------------------------------------------------------------------ roll-call
    def rollcall(
        self,
        op: str,
        site: str,
        payloads: Sequence[str] = (),
        *,
        rollcall_id: str | None = None,
        mark_missing: bool = False,
    ) -> dict[str, Any]:
        """Who should be at ``site`` and is not. Each credential in ``payloads`` records a
        roll-call event there; ``mark_missing`` records everyone expected and not seen as
        missing."""
        require(self.actor, Perm.scan)
        rid = rollcall_id or self.clock().strftime("%Y%m%dT%H%M")
        P = persons.c
        with self._read() as conn:  # who should be here, before anyone is scanned
            self._check_site(conn, op, site)
            expected = set(
                conn.execute(
                    select(P.id).where(
                        P.operation_id == op,
                        P.site == site,
                        P.status.in_(("checked-in", "arrived")),
                    )
                ).scalars()
            )
        seen: list[str] = []
        moved: list[str] = []
        for payload in payloads:
            r = self.scan(
                op, payload, ev.ROLL_CALL, site=site, scan_id=f"rollcall:{rid}:{payload[-24:]}"
            )
            seen.append(r["person_id"])
            if r.get("expected_site") not in (site, None):
                moved.append(r["person_id"])
        with self._write() as conn:
            absent = sorted(expected - set(seen)) if payloads else sorted(expected)
            if mark_missing and payloads:
                for pid in absent:
                    p = self._person(conn, op, pid)
                    self._event(
                        conn,
                        op,
                        ev.MISSING,
                        person_id=pid,
                        household_id=p["household_id"],
                        site=site,
                        data={"status_before": p["status"], "rollcall": rid},
                        idempotency_key=f"missing:{rid}:{pid}",
                    )
            self._audit(conn, "rollcall", op, site, {"expected": len(expected), "seen": len(seen)})
        return {
            "site": site,
            "rollcall": rid,
            "expected": len(expected),
            "present": len(set(seen)),
            "absent": absent,
            "arrived_from_elsewhere": sorted(set(moved)),
            "marked_missing": len(absent) if (mark_missing and payloads) else 0,
        }

    # ------------------------------------------------------------------ dedup
    def run_dedup(self, op: str, *, threshold: float = 0.8) -> dict[str, Any]:
        """Find likely duplicates among the operation's people (not merged): records are
        blocked on their blind indexes (``person_keys``: HMACs of the blocking keys, so blocking
        sees only equality) and scored on the opened fields (an audited read); pairs at or above
        ``threshold`` that are not yet queued or decided join the review queue."""
        from evacops.registry.dedup import PersonRecord, find_duplicates

        require(self.actor, Perm.dedup)
        P = persons.c
        with self._write() as conn:
            cipher = self._cipher(conn, op)
            keys: dict[str, list[str]] = defaultdict(list)
            active = select(P.id).where(P.operation_id == op, P.status != "merged")
            for r in conn.execute(
                select(person_keys.c.person_id, person_keys.c.bidx).where(
                    person_keys.c.operation_id == op, person_keys.c.person_id.in_(active)
                )
            ):
                keys[r.person_id].append(r.bidx.hex())
            records: list[PersonRecord] = []
            for p in conn.execute(
                select(persons).where(P.operation_id == op, P.status != "merged").order_by(P.id)
            ).mappings():
                o = self._open_person(cipher, p, _IDENTITY_FIELDS)
                bd = date.fromisoformat(o["birth_date"]) if o["birth_date"] else None
                records.append(
                    PersonRecord(
                        p["id"],
                        o["given_name"] or "",
                        o["family_name"] or "",
                        bd,
                        p["birth_precision"] if bd else "unknown",
                        p["sex"],
                        p["nationality"],
                        o["document"],
                        p["household_id"],
                    )
                )
            found = find_duplicates(
                records, threshold, keys=[keys.get(r.person_id, []) for r in records]
            )
            D = dedup_candidates.c
            known = {
                (r.person_a, r.person_b)
                for r in conn.execute(select(D.person_a, D.person_b).where(D.operation_id == op))
            }
            now = self.clock()
            new = [
                {
                    "operation_id": op,
                    "person_a": a,
                    "person_b": b,
                    "score": float(s),
                    "reasons": reasons[:200],
                    "found_at": now,
                }
                for a, b, s, reasons in found.itertuples(index=False, name=None)
                if (a, b) not in known
            ]
            for chunk in _chunks(new, 5000):
                conn.execute(insert(dedup_candidates), chunk)
            self._audit(
                conn,
                "dedup",
                op,
                f"{len(records)} persons opened",
                {"pairs_found": len(found), "new_candidates": len(new)},
            )
        return {
            "persons": len(records),
            "pairs_found": len(found),
            "new_candidates": len(new),
            "open_candidates": len(self.review_queue(op)),
        }

    def review_queue(self, op: str) -> list[dict[str, Any]]:
        require(self.actor, Perm.dedup)
        D = dedup_candidates.c
        with self._read() as conn:
            rows = (
                conn.execute(
                    select(dedup_candidates)
                    .where(D.operation_id == op, D.decision.is_(None))
                    .order_by(D.score.desc(), D.id)
                )
                .mappings()
                .all()
            )
        return [
            {
                "candidate": r["id"],
                "person_a": r["person_a"],
                "person_b": r["person_b"],
                "score": round(r["score"], 3),
                "reasons": r["reasons"],
            }
            for r in rows
        ]

    def merge(self, op: str, keep: str, duplicate: str, *, reason: str = "") -> int:
        """``duplicate`` is the same person as ``keep``: a ``merge`` event (undo with
        :meth:`unmerge`); the duplicate's credentials are revoked."""
        require(self.actor, Perm.dedup)
        if keep == duplicate:
            raise RegistryError("merge: a person cannot be merged into themself")
        with self._write() as conn:
            k = self._person(conn, op, keep)
            d = self._person(conn, op, duplicate)
            if "merged" in (k["status"], d["status"]):
                raise RegistryError(
                    f"merge: person {keep if k['status'] == 'merged' else duplicate} is merged "
                    "already; undo that first"
                )
            row = self._event(
                conn,
                op,
                ev.MERGE,
                person_id=duplicate,
                household_id=d["household_id"],
                data={
                    "into": keep,
                    "other": keep,
                    "status": d["status"],
                    "site": d["site"],
                    "reason": reason,
                },
            )
            for cid in (
                conn.execute(
                    select(credentials.c.id).where(
                        credentials.c.person_id == duplicate, credentials.c.revoked_at.is_(None)
                    )
                )
                .scalars()
                .all()
            ):
                self._event(
                    conn,
                    op,
                    ev.CREDENTIAL_REVOKED,
                    person_id=duplicate,
                    credential_id=cid,
                    data={"reason": f"merged into {keep}"},
                )
            self._audit(conn, "merge", op, f"{duplicate}->{keep}", {"event": row["seq"]})
            return row["seq"]

    def unmerge(self, op: str, duplicate: str, *, reason: str = "") -> int:
        require(self.actor, Perm.dedup)
        with self._write() as conn:
            d = self._person(conn, op, duplicate)
            if d["status"] != "merged":
                raise RegistryError(f"unmerge: person {duplicate} is not merged")
            m = conn.execute(
                select(events.c.seq, events.c.data)
                .where(events.c.person_id == duplicate, events.c.type == ev.MERGE)
                .order_by(events.c.seq.desc())
            ).first()
            row = self._event(
                conn,
                op,
                ev.UNMERGE,
                person_id=duplicate,
                household_id=d["household_id"],
                data={
                    "status": m.data["status"],
                    "site": m.data["site"],
                    "other": m.data["into"],
                    "merge_event": m.seq,
                    "reason": reason,
                },
            )
            self._audit(
                conn, "unmerge", op, f"{duplicate}->{m.data['into']}", {"event": row["seq"]}
            )
            return row["seq"]

    def not_duplicate(self, op: str, a: str, b: str, *, reason: str = "") -> int:
        require(self.actor, Perm.dedup)
        with self._write() as conn:
            self._person(conn, op, a)
            self._person(conn, op, b)
            row = self._event(
                conn, op, ev.NOT_DUPLICATE, person_id=a, data={"other": b, "reason": reason}
            )
            self._audit(conn, "not-duplicate", op, f"{a}|{b}", {"event": row["seq"]})
            return row["seq"]

    # ------------------------------------------------------------------ reports
    def report(self, op: str, *, since: datetime | None = None) -> dict[str, Any]:
        """Counts by status, site, cohort, nationality and category; people out (first departure)
        since ``since``, by nationality and category, per day; per day, how many were first
        registered, checked in, boarded and deplaned (``per_day``); households split across
        places; unaccompanied minors."""
        require(self.actor, Perm.report)
        P = persons.c
        with self._read() as conn:
            self._operation(conn, op)
            rows = conn.execute(
                select(
                    P.id,
                    P.household_id,
                    P.status,
                    P.site,
                    P.flight_id,
                    P.cohort,
                    P.category,
                    P.nationality,
                    P.first_departed_at,
                    P.age_group,
                    P.unaccompanied,
                    P.escort_id,
                    P.registered_at,
                ).where(P.operation_id == op)
            ).all()
            # over time: people reaching each step per day (first time each), from the events
            firsts: dict[tuple[str, str], datetime] = {}
            for t, pid, at in conn.execute(
                select(events.c.type, events.c.person_id, events.c.occurred_at).where(
                    events.c.operation_id == op,
                    events.c.type.in_((ev.REGISTERED, ev.GATE_IN, ev.BOARD, ev.DEPLANE)),
                )
            ):
                if (t, pid) not in firsts:
                    firsts[(t, pid)] = at
        merged_ids = {r.id for r in rows if r.status == "merged"}
        steps = {ev.REGISTERED: "registered", ev.GATE_IN: "checked_in", ev.BOARD: "boarded",
                 ev.DEPLANE: "deplaned"}  # fmt: skip
        timeline: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(steps.values(), 0))
        for (t, pid), at in firsts.items():
            if pid not in merged_ids:
                timeline[at.date().isoformat()][steps[t]] += 1
        live = [r for r in rows if r.status != "merged"]

        def count(attr, items=live):
            c: dict[str, int] = defaultdict(int)
            for r in items:
                c[str(getattr(r, attr) if getattr(r, attr) is not None else "-")] += 1
            return dict(sorted(c.items()))

        out = [
            r
            for r in live
            if r.first_departed_at is not None and (since is None or r.first_departed_at >= since)
        ]
        per_day: dict[str, int] = defaultdict(int)
        for r in out:
            per_day[r.first_departed_at.date().isoformat()] += 1
        places = defaultdict(set)
        for r in live:
            if r.status in ev.ACTIVE or r.status == "missing":
                places[r.household_id].add(
                    ("flight", r.flight_id)
                    if r.status in ("boarded", "in-flight")
                    else (r.status == "missing" and ("missing",)) or ("site", r.site)
                )
        split = sorted(h for h, s in places.items() if len(s) > 1)
        minors = [r for r in live if r.unaccompanied]
        return {
            "operation": op,
            "registered": len(live),
            "merged": len(rows) - len(live),
            "by_status": {
                s: sum(1 for r in live if r.status == s) for s in ev.STATUSES if s != "merged"
            },
            "by_site": count("site"),
            "by_cohort": count("cohort"),
            "by_nationality": count("nationality"),
            "by_category": count("category"),
            "out": len(out),
            "out_since": since.isoformat() if since else None,
            "out_by_nationality": count("nationality", out),
            "out_by_category": count("category", out),
            "out_per_day": dict(sorted(per_day.items())),
            "per_day": {d: timeline[d] for d in sorted(timeline)},
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

    def counts_frame(self, op: str):
        """Tidy counts (site, status, cohort, nationality, count) for the HXL export."""
        import pandas as pd

        require(self.actor, Perm.report)
        P = persons.c
        with self._read() as conn:
            rows = conn.execute(
                select(P.site, P.status, P.cohort, P.nationality, func.count().label("count"))
                .where(P.operation_id == op, P.status != "merged")
                .group_by(P.site, P.status, P.cohort, P.nationality)
            ).all()
        df = pd.DataFrame(rows, columns=["site", "status", "cohort", "nationality", "count"])
        df["site"] = df["site"].fillna("")
        df.insert(0, "date", self.clock().date().isoformat())
        return df

    def export_counts(self, op: str, path, *, min_cell: int = 5) -> int:
        from evacops.registry.files import write_counts_hxl

        require(self.actor, Perm.export_counts)
        df = self.counts_frame(op)
        n = write_counts_hxl(df, path, min_cell=min_cell)
        with self._write() as conn:
            self._audit(
                conn,
                "export-counts",
                op,
                str(getattr(path, "name", path)),
                {"rows": n, "min_cell": min_cell},
            )
        return n

    # ------------------------------------------------------------------ shred and audit
    def shred(self, op: str) -> dict[str, Any]:
        """Destroy the operation's data and signing keys: every personal field (and blind index)
        of the operation becomes unreadable at once; counts and movements remain."""
        require(self.actor, Perm.manage)
        with self._write() as conn:
            row = self._operation(conn, op)
            if row["wrapped_data_key"] is None:
                raise RegistryError(f"operation {op}: shredded already")
            if self.engine.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA secure_delete=ON")
            conn.execute(
                update(operations)
                .where(operations.c.id == op)
                .values(wrapped_data_key=None, wrapped_signing_key=None, shredded_at=self.clock())
            )
            self._event(conn, op, ev.SHRED, data={})
            self._audit(conn, "shred", op, op, {})
        self._ciphers.pop(op, None)
        # overwrite what the storage engine may still hold of the old row
        if self.engine.dialect.name == "sqlite":
            dbapi_conn = self.engine.raw_connection()
            try:
                dbapi_conn.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                dbapi_conn.close()
        else:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM operations")
        return {"operation": op, "shredded": True}

    def audit_verify(self) -> audit_log.Verification:
        require(self.actor, Perm.audit)
        with self._read() as conn:
            return audit_log.verify(conn)

    def audit_entries(self, limit: int = 50) -> list[dict[str, Any]]:
        from evacops.registry.models import audit

        require(self.actor, Perm.audit)
        with self._read() as conn:
            rows = (
                conn.execute(select(audit).order_by(audit.c.seq.desc()).limit(limit))
                .mappings()
                .all()
            )
        return [
            {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()}
            for r in rows
        ][::-1]


def _add_user(conn: Connection, name: str, role: Role, password: str) -> None:
    if not name or len(name) > 100:
        raise RegistryError("user: give a name of 1 to 100 characters")
    if len(password) < 8:
        raise RegistryError(f"user {name}: password too short; use at least 8 characters")
    conn.execute(
        insert(users).values(
            name=name, role=role.value, password_hash=hash_password(password), created_at=utcnow()
        )
    )


def _check_kind(kind: str) -> None:
    if kind not in SITE_KINDS:
        raise RegistryError(f"site kind {kind!r}: use one of {', '.join(SITE_KINDS)}")


def _chunks(items: Sequence[Any], n: int):
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _household_roles(rows: Sequence[Any], on: date) -> dict[int, tuple[str, bool]]:
    """Age group of each row and whether it is an unaccompanied minor (marked so in the file, or a
    child/infant in a household with no adult)."""
    by_hh: dict[str, list[Any]] = defaultdict(list)
    for r in rows:
        by_hh[r.household_id].append(r)
    out: dict[int, tuple[str, bool]] = {}
    for members in by_hh.values():
        groups = [age_group(r.birth_date, r.birth_precision, on) for r in members]
        has_adult = any(g == "adult" for g in groups)
        for r, g in zip(members, groups, strict=True):
            minor = g in ("infant", "child")
            out[id(r)] = (g, minor and (r.minor_unaccompanied or not has_adult))
    return out


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


def as_utc(value: str) -> datetime:
    """An ISO date or datetime from the command line, as an aware UTC datetime."""
    try:
        d = datetime.fromisoformat(value)
    except ValueError:
        raise RegistryError(
            f"{value!r}: not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM+HH:MM"
        ) from None
    return (d if d.tzinfo else d.replace(tzinfo=UTC)).astimezone(UTC)
