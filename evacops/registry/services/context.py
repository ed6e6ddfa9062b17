"""The one context every registry service works over: who acts, the database, the keys.

A :class:`Context` holds the engine, the acting user (``actor``), the clock, the master key and
the caches that go with them (opened data keys, public keys, site kinds). It is the ONE place
where transactions begin (:meth:`Context.write`, :meth:`Context.read`), where an event is
appended and applied to the projection (:meth:`Context.event`, :mod:`evacops.registry.events`)
and where an audit entry is written (:meth:`Context.audit`), so a service's writes, events and
audit entry commit together or not at all. It also holds the look-ups every service shares
(operation, person, flight, site) and opens sealed fields.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, Engine, select

from evacops.errors import CredentialError, RegistryError
from evacops.registry import credentials as creds
from evacops.registry import events as ev
from evacops.registry.limits import check_text
from evacops.registry.security import Actor
from evacops.registry.store import audit as audit_log
from evacops.registry.store.crypto import FieldCipher, KeyFolder, unwrap_key
from evacops.registry.store.db import writer_turn
from evacops.registry.store.tables import flights, operations, persons, sites, utcnow


@dataclass
class Together:
    """What a block of :meth:`Context.audit_together` hands over for the append at its end:
    ``lane``, a lane ``(id, head)`` the block read and locked
    (:data:`evacops.registry.store.audit.LANE_CTE`); ``also``, called when the block has ended:
    on PostgreSQL a statement to send with the entries (:data:`evacops.registry.store.audit.Also`),
    or None (it wrote what it had itself)."""

    lane: tuple[int, str] | None = None
    also: Callable[[], audit_log.Also | None] | None = None


# the sealed fields that identify a person (compared by dedup, rewritten by a correction)
IDENTITY_FIELDS = ("given_name", "family_name", "birth_date", "document")


def token(prefix: str, nbytes: int = 10) -> str:
    """A new opaque id: ``prefix`` and random base32."""
    return prefix + base64.b32encode(secrets.token_bytes(nbytes)).decode().rstrip("=").lower()


def check_length(field: str, value: str | None, limit: int | None = None) -> None:
    """Refuse text longer than its column (SQLite would keep it, PostgreSQL fail obscurely):
    ``field``'s limit in :data:`evacops.registry.limits.TEXT_LIMITS` unless ``limit`` is given.
    The error names the field and the maximum, never the value."""
    if limit is None:
        check_text(field, value)
    elif value is not None and len(value) > limit:
        raise RegistryError(f"at most {limit:,} characters; shorten it", field=field)


def chunks(items: Sequence[Any], n: int) -> Iterator[Sequence[Any]]:
    """``items`` in slices of at most ``n`` (for ``IN (...)`` lists and batched inserts)."""
    for i in range(0, len(items), n):
        yield items[i : i + n]


class Caches:
    """What the contexts of one process may share between requests (the server makes one
    context per request): opened data keys (each checked against the operation's stored wrapped
    key on every use, so a shred anywhere still stops them at once), public keys, site kinds
    (reloaded on a miss), the audit key and the operations' signing keys for checking scanned
    credentials (:meth:`Context.own_signer`). None of it is a permission or a person's data."""

    __slots__ = ("audit_keys", "ciphers", "public", "signers", "sites")

    def __init__(self) -> None:
        self.ciphers: dict[str, tuple[bytes, FieldCipher]] = {}
        self.public: dict[str, bytes] = {}
        self.signers: dict[str, Ed25519PrivateKey | None] = {}
        self.sites: dict[str, dict[str, str]] = {}
        self.audit_keys: dict[bytes, bytes] = {}


class Context:
    """The registry as one acting user sees it: engine, actor, clock, keys and caches."""

    def __init__(
        self,
        engine: Engine,
        master_key: bytes | None,
        actor: Actor,
        *,
        clock: Callable[[], datetime] = utcnow,
        keys: KeyFolder | None = None,
        caches: Caches | None = None,
    ):
        self.engine = engine
        self.keys = keys
        self.master = master_key
        self.actor = actor
        self.clock = clock
        self.pg = engine.dialect.name == "postgresql"
        self.share(caches or Caches())
        # id(connection) -> (connection, its entries) while :meth:`audit_together` gathers them:
        # by connection, so threads sharing this context (each with its own transaction) never
        # see one another's (a tuple slot was overwritten across threads, and an entry meant
        # for a batch went straight to the lane that batch had locked, ahead of it)
        self._gathering: dict[int, tuple[Connection, list[audit_log.Entry]]] = {}

    def share(self, caches: Caches) -> None:
        """Keep the caches in ``caches`` (shared with the process's other contexts)."""
        self.caches = caches
        self.ciphers = caches.ciphers
        self.public = caches.public
        self.sites = caches.sites

    # ------------------------------------------------------------------ transactions
    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A writing transaction (on SQLite, after this process's turn to write)."""
        with writer_turn(self.engine), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (does not block writers)."""
        with self.engine.connect() as conn:
            conn.execution_options(evacops_read=True)
            with conn.begin():
                yield conn

    def audit(
        self,
        conn: Connection,
        action: str,
        operation: str | None,
        subject: str,
        detail: dict | None = None,
    ) -> None:
        """Append an audit entry by the acting user (in ``conn``'s transaction; inside
        :meth:`audit_together`, when its block ends)."""
        entry = audit_log.Entry(self.clock(), self.actor.name, action, operation, subject,
                                detail or {})  # fmt: skip
        gathering = self._gathering.get(id(conn))
        if gathering is not None and gathering[0] is conn:
            gathering[1].append(entry)
            return
        audit_log.append_many(conn, key=self.audit_key(), entries=[entry])

    @contextmanager
    def audit_together(self, conn: Connection) -> Iterator[Together]:
        """The audit entries made on ``conn`` inside the block are appended, in order, when it
        ends (still in ``conn``'s transaction): one lane taken once and one statement for all of
        them, instead of two or three per entry (a batch of scans). The block may set the
        :class:`Together` it is given: a lane it locked already, a write of its own to go in
        the entries' statement. If the block raises, none is written (the transaction it is in
        rolls back)."""
        entries: list[audit_log.Entry] = []
        together = Together()
        outer = self._gathering.get(id(conn))
        self._gathering[id(conn)] = (conn, entries)
        try:
            yield together
        finally:
            if outer is None:
                self._gathering.pop(id(conn), None)
            else:
                self._gathering[id(conn)] = outer
        also = together.also() if together.also is not None else None
        if entries:
            audit_log.append_many(conn, key=self.audit_key(), entries=entries,
                                  lane=together.lane, also=also)  # fmt: skip
        elif also is not None:
            audit_log.send_also(conn, also)

    def event(
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
        """Append an event and apply it to the projection; return its row (with ``seq``)."""
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
        row["seq"] = ev.record(conn, row)
        return row

    # ------------------------------------------------------------------ keys
    def audit_key(self) -> bytes:
        master = self.need_master()
        key = self.caches.audit_keys.get(master)
        if key is None:
            key = self.caches.audit_keys[master] = audit_log.audit_key(master)
        return key

    def need_master(self) -> bytes:
        if self.master is None:
            raise RegistryError("no master key loaded; set EVACOPS_KEY_FILE")
        return self.master

    def cipher(self, conn: Connection, op: str) -> FieldCipher:
        """The operation's field cipher. The wrapped key is looked up every time (a primary-key
        read), so a shred done by anyone, in any process, stops this process reading at once."""
        return self.cipher_for(op, self.operation(conn, op)["wrapped_data_key"])

    def cipher_for(self, op: str, wrapped: bytes | None) -> FieldCipher:
        """The field cipher of ``op`` whose wrapped data key, read in the caller's transaction
        (e.g. joined into a scan's one look-up), is ``wrapped``."""
        if wrapped is None:
            self.ciphers.pop(op, None)
            raise RegistryError(
                f"operation {op}: shredded; its personal fields no longer exist", code="shredded"
            )
        cached = self.ciphers.get(op)
        if cached is not None and cached[0] == wrapped:
            return cached[1]
        data_key = unwrap_key(self.need_master(), wrapped, op, kek=self.kek(op))
        cipher = FieldCipher(data_key, op)
        self.ciphers[op] = (wrapped, cipher)
        return cipher

    def signing_key(self, conn: Connection, op: str) -> bytes:
        row = self.operation(conn, op)
        if row["wrapped_signing_key"] is None:
            raise RegistryError(
                f"operation {op}: shredded; no credentials can be issued", code="shredded"
            )
        return unwrap_key(
            self.need_master(), row["wrapped_signing_key"], op, "signing", kek=self.kek(op)
        )

    def kek(self, op: str) -> bytes | None:
        """The operation's key-encryption key from the key folder (None: none there)."""
        return self.keys.load(op) if self.keys is not None else None

    def public_key(self, op: str) -> bytes:
        if op not in self.public:
            with self.read() as conn:
                self.public[op] = self.operation(conn, op)["public_key"]
        return self.public[op]

    def own_signer(self, op: str) -> Ed25519PrivateKey | None:
        """The operation's signing key, for checking a scanned credential by signing its body
        again (``own`` of :func:`evacops.registry.credentials.verify`): read once a process and
        kept with the caches; None without the master key or for a shredded operation (then
        the public key verifies, as a device does). Only the scan checks use it: issuing
        credentials reads the key from the operation's row each time, so a shred stops it."""
        signers = self.caches.signers
        if op not in signers:
            try:
                with self.read() as conn:
                    private = self.signing_key(conn, op)
                signers[op] = creds.signer(private, self.public_key(op))
            except (RegistryError, CredentialError):
                signers[op] = None
        return signers[op]

    def seal_text(
        self, conn: Connection, op: str, text: str | None, where: str, *, field: str = "reason"
    ) -> str | None:
        """Free text (a reason, a file name) sealed under the operation's data key, as hex for an
        event's ``data``; ``where`` binds it to its place (opened with :meth:`open_text`). Text
        longer than ``field``'s limit (:data:`evacops.registry.limits.TEXT_LIMITS`) is refused
        before it is sealed."""
        check_text(field, text)
        if not text:
            return None
        sealed = self.cipher(conn, op).seal(text, where)
        return sealed.hex() if sealed is not None else None

    def open_text(
        self, conn: Connection, op: str, sealed_hex: str | None, where: str
    ) -> str | None:
        if not sealed_hex:
            return None
        return self.cipher(conn, op).open(bytes.fromhex(sealed_hex), where)

    def open_person(
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

    # ------------------------------------------------------------------ look-ups
    def operation(self, conn: Connection, op: str) -> Any:
        row = conn.execute(select(operations).where(operations.c.id == op)).mappings().first()
        if row is None:
            raise RegistryError(
                f"operation {op}: not in this registry; see 'evacops registry init --operation'"
            )
        return row

    def site_kinds(self, conn: Connection, op: str) -> dict[str, str]:
        if op not in self.sites:
            rows = conn.execute(
                select(sites.c.code, sites.c.kind).where(sites.c.operation_id == op)
            )
            self.sites[op] = {r.code: r.kind for r in rows}
        return self.sites[op]

    def check_site(self, conn: Connection, op: str, site: str) -> str:
        """The kind of ``site``; an error if the operation has no such site."""
        kinds = self.site_kinds(conn, op)
        if site not in kinds:
            self.sites.pop(op, None)
            kinds = self.site_kinds(conn, op)
            if site not in kinds:
                raise RegistryError(
                    f"site {site!r}: not a site of operation {op}; "
                    "add it with 'evacops registry site'",
                    code="unknown-site",
                    params={"site": site},
                )
        return kinds[site]

    def flight(self, conn: Connection, op: str, code: str, *, lock: bool = False) -> Any:
        """The flight's row; ``lock`` holds it until the transaction ends (PostgreSQL)."""
        q = select(flights).where(flights.c.operation_id == op, flights.c.code == code)
        if lock and self.pg:
            q = q.with_for_update()
        row = conn.execute(q).mappings().first()
        if row is None:
            raise RegistryError(
                f"flight {code}: not scheduled in operation {op}; "
                "add it with 'evacops registry flight'",
                code="unknown-flight",
                params={"flight": code},
            )
        return row

    def person(self, conn: Connection, op: str, person_id: str) -> Any:
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
