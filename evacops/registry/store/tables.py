"""The registry's tables (SQLAlchemy Core), created by the Alembic migrations in ``migrations/``.

Two kinds of table:

- **the truth**, append-only: ``events`` (what happened to whom, where, by whom), ``audit`` (the
  hash chain of reads, exports, merges and scans), ``manifests``/``manifest_entries`` (a new version
  is new rows), ``seat_claims`` (one row per seat taken on a flight; its unique keys are what
  stop two gates giving away the same last seat). Database triggers refuse UPDATE and DELETE
  on them.
- **projections**, rebuilt from the events by :func:`evacops.registry.events.rebuild`: ``persons``
  (status, site, flight and the sealed personal fields as of the last event), ``credentials``
  (revoked/used), ``flights`` (status), ``person_keys`` (blind indexes), ``dedup_candidates``.

Personal fields are stored only sealed (``*_enc``, :mod:`evacops.registry.store.crypto`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator

from evacops.registry.limits import TEXT_LIMITS


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone: stored as naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the registry; use a timezone-aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _text(field: str) -> String:
    """A column for text from outside: as long as its limit in
    :data:`evacops.registry.limits.TEXT_LIMITS` (the services check it before they write)."""
    return String(TEXT_LIMITS[field])


metadata = MetaData()
_BigId = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrement needs INTEGER

operations = Table(
    "operations",
    metadata,
    Column("id", _text("operation"), primary_key=True),
    Column("name", _text("operation_name"), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("wrapped_data_key", LargeBinary, nullable=True),  # NULL once shredded
    Column("wrapped_signing_key", LargeBinary, nullable=True),
    Column("public_key", LargeBinary, nullable=False),
    Column("category_map", JSON, nullable=False),  # category -> {"cohort":..., "priority":...}
    Column("rule_version", _text("rule_version"), nullable=False),
    Column("origin_site", _text("site"), nullable=True),
    Column("shredded_at", UTCDateTime(), nullable=True),
)

users = Table(
    "users",
    metadata,
    Column("name", _text("user"), primary_key=True),
    Column("role", _text("role"), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

sites = Table(
    "sites",
    metadata,
    Column("operation_id", _text("operation"), ForeignKey("operations.id"), primary_key=True),
    Column("code", _text("site"), primary_key=True),
    Column("kind", String(30), nullable=False),  # assembly, gate, airfield, staging, destination
)

flights = Table(
    "flights",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("operation_id", _text("operation"), ForeignKey("operations.id"), nullable=False),
    Column("code", _text("flight"), nullable=False),
    Column("origin", _text("site"), nullable=False),
    Column("destination", _text("site"), nullable=False),
    Column("seats", Integer, nullable=False),
    Column("departs_at", UTCDateTime(), nullable=True),
    Column("status", String(20), nullable=False),  # projection: scheduled, departed, arrived
    UniqueConstraint("operation_id", "code", name="uq_flight_code"),
)

households = Table(
    "households",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("operation_id", _text("operation"), ForeignKey("operations.id"), nullable=False),
    Column("external_id", String(100), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("operation_id", "external_id", name="uq_household_ext"),
)

persons = Table(
    "persons",
    metadata,
    Column("id", String(40), primary_key=True),  # opaque
    Column("operation_id", _text("operation"), ForeignKey("operations.id"), nullable=False),
    Column("household_id", String(40), ForeignKey("households.id"), nullable=True),
    Column("relationship", _text("relationship"), nullable=False, default=""),
    Column("sex", String(1), nullable=False),
    Column("nationality", String(3), nullable=False),
    Column("birth_precision", String(10), nullable=False),
    Column("age_group", String(10), nullable=False),  # infant (<2), child (2-17), adult, unknown
    Column("unaccompanied", Boolean, nullable=False, default=False),
    Column("escort_id", String(40), nullable=True),
    Column("category", _text("category"), nullable=False),
    Column("cohort", _text("cohort"), nullable=False),
    Column("priority", Float, nullable=False),
    # projection of the events
    Column("status", String(30), nullable=False),
    Column("site", _text("site"), nullable=True),
    Column("flight_id", BigInteger, nullable=True),
    Column("merged_into", String(40), nullable=True),
    Column("registered_at", UTCDateTime(), nullable=False),
    Column("first_departed_at", UTCDateTime(), nullable=True),
    Column("last_seen_at", UTCDateTime(), nullable=True),
    Column("last_event", BigInteger, nullable=False),
    # sealed personal fields (AES-GCM under the operation's data key)
    Column("given_name_enc", LargeBinary, nullable=True),
    Column("family_name_enc", LargeBinary, nullable=True),
    Column("native_name_enc", LargeBinary, nullable=True),
    Column("variants_enc", LargeBinary, nullable=True),
    Column("initials_enc", LargeBinary, nullable=True),
    Column("birth_date_enc", LargeBinary, nullable=True),
    Column("document_enc", LargeBinary, nullable=True),
    Column("extra_enc", LargeBinary, nullable=True),
    Column("document_bidx", LargeBinary, nullable=True),
    Index("ix_persons_op_status", "operation_id", "status"),
    # migration 0005: a household's size counted from the index alone (the gate's view)
    Index("ix_persons_household", "household_id", "operation_id", "status"),
    Index("ix_persons_flight", "flight_id"),
    Index("ix_persons_doc", "operation_id", "document_bidx"),
    # migration 0004: the picture's counts answered from the indexes alone
    Index(
        "ix_persons_picture",
        "operation_id",
        "status",
        "site",
        "cohort",
        "nationality",
        "category",
        "first_departed_at",
        "registered_at",
        "household_id",
        "flight_id",
    ),
    Index(
        "ix_persons_unaccompanied",
        "operation_id",
        sqlite_where=text("unaccompanied = 1"),
        postgresql_where=text("unaccompanied"),
    ),
)

person_keys = Table(
    "person_keys",
    metadata,
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False),
    Column("operation_id", _text("operation"), nullable=False),
    Column("bidx", LargeBinary, nullable=False),
    Index("ix_person_keys_bidx", "operation_id", "bidx"),
    Index("ix_person_keys_person", "person_id"),
)

credentials = Table(
    "credentials",
    metadata,
    Column("id", String(40), primary_key=True),  # opaque, printed in the QR payload
    Column("operation_id", _text("operation"), ForeignKey("operations.id"), nullable=False),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False),
    Column("issued_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),  # projection
    Column("boarded_at", UTCDateTime(), nullable=True),  # projection: single use
    Index("ix_credentials_person", "person_id"),
)

events = Table(
    "events",
    metadata,
    Column("seq", _BigId, primary_key=True, autoincrement=True),
    Column("operation_id", _text("operation"), nullable=False),
    Column("type", String(30), nullable=False),
    Column("person_id", String(40), nullable=True),
    Column("household_id", String(40), nullable=True),
    Column("flight_id", BigInteger, nullable=True),
    Column("site", _text("site"), nullable=True),
    Column("credential_id", String(40), nullable=True),
    Column("idempotency_key", String(100), nullable=True, unique=True),
    Column("occurred_at", UTCDateTime(), nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
    Column("actor", _text("user"), nullable=False),
    Column("data", JSON, nullable=False),  # never personal data
    Column("sealed", LargeBinary, nullable=True),  # personal fields, sealed
    Index("ix_events_op_seq", "operation_id", "seq"),
    Index("ix_events_person", "person_id"),
    Index("ix_events_flight", "flight_id"),
    Index("ix_events_firsts", "operation_id", "type", "person_id", "occurred_at"),  # 0004
)

manifests = Table(
    "manifests",
    metadata,
    Column("flight_id", BigInteger, ForeignKey("flights.id"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("actor", _text("user"), nullable=False),
    Column("persons", Integer, nullable=False),
    Column("seats", Integer, nullable=False),
    Column("lap_infants", Integer, nullable=False),
    Column("households", Integer, nullable=False),
    Column("split_households", Integer, nullable=False),
    Column("allow_split", Boolean, nullable=False),
)

manifest_entries = Table(
    "manifest_entries",
    metadata,
    Column("flight_id", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),
    Column("position", Integer, nullable=False),
    Column("person_id", String(40), nullable=False),
    Column("lap_infant", Boolean, nullable=False),
    UniqueConstraint("flight_id", "version", "person_id", name="uq_manifest_person"),
)

seat_claims = Table(
    "seat_claims",
    metadata,
    Column("flight_id", BigInteger, nullable=False),
    Column("seat_no", Integer, nullable=True),  # 1..seats for a seated passenger
    Column("lap_no", Integer, nullable=True),  # 1..seats for a lap infant (one per seat)
    Column("person_id", String(40), nullable=False),
    Column("event_seq", BigInteger, nullable=False),
    UniqueConstraint("flight_id", "person_id", name="uq_claim_person"),
    UniqueConstraint("flight_id", "seat_no", name="uq_claim_seat"),
    UniqueConstraint("flight_id", "lap_no", name="uq_claim_lap"),
)

dedup_candidates = Table(
    "dedup_candidates",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("operation_id", _text("operation"), nullable=False),
    Column("person_a", String(40), nullable=False),
    Column("person_b", String(40), nullable=False),
    Column("score", Float, nullable=False),
    Column("reasons", String(200), nullable=False),
    Column("found_at", UTCDateTime(), nullable=False),
    Column("decision", String(20), nullable=True),  # projection: merged, distinct
    UniqueConstraint("operation_id", "person_a", "person_b", name="uq_candidate_pair"),
)

audit = Table(
    "audit",
    metadata,
    Column("seq", _BigId, primary_key=True, autoincrement=True),
    Column("lane", Integer, nullable=False),  # which of the chains (audit_head rows) it is on
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", _text("user"), nullable=False),
    Column("action", String(40), nullable=False),
    Column("operation_id", _text("operation"), nullable=True),
    Column("subject", String(200), nullable=False),  # opaque ids only
    Column("detail", JSON, nullable=False),  # never personal values
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

audit_head = Table(  # one row per lane: its last hash; locked while an entry is appended
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)


# ---------------------------------------------------------------------- accounts (migration 0002)
memberships = Table(  # the role a user holds in one operation (admins hold every operation)
    "memberships",
    metadata,
    Column("user_name", _text("user"), ForeignKey("users.name"), primary_key=True),
    Column("operation_id", _text("operation"), ForeignKey("operations.id"), primary_key=True),
    Column("role", _text("role"), nullable=False),
    Column("granted_at", UTCDateTime(), nullable=False),
    Column("granted_by", _text("user"), nullable=False),
)

web_sessions = Table(  # a log-in; the id is the SHA-256 of the session token (never the token)
    "web_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_name", _text("user"), ForeignKey("users.name"), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("last_seen_at", UTCDateTime(), nullable=False),
    Column("csrf_hash", String(64), nullable=False),
    Column("ended_at", UTCDateTime(), nullable=True),
    # minutes unused before it ends, for a lifetime chosen at log-in (NULL: the server's)
    Column("idle_min", Integer, nullable=True),
    Index("ix_web_sessions_user", "user_name"),
)

login_attempts = Table(  # the name only as an HMAC under a key derived from the master key
    "login_attempts",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("name_mac", String(64), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("ok", Boolean, nullable=False),
    Index("ix_login_attempts_name", "name_mac", "at"),
)

devices = Table(  # a gate or ramp device: bound to one operation, site and role
    "devices",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("operation_id", _text("operation"), ForeignKey("operations.id"), nullable=False),
    Column("site", _text("site"), nullable=False),
    Column("role", _text("role"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("label", _text("label"), nullable=False),
    Column("enrolled_by", _text("user"), nullable=False),
    Column("enrolled_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
)

device_scans = Table(  # append-only: each (device, seq) a device synced, and what it became
    "device_scans",
    metadata,
    Column("device_id", String(40), ForeignKey("devices.id"), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("body_hash", String(64), nullable=False),
    Column("event_seq", BigInteger, nullable=True),
    Column("outcome", String(30), nullable=False),
    Column("answer", JSON, nullable=False),  # what the device is told (the same on a retry)
    Column("received_at", UTCDateTime(), nullable=False),
)

scan_conflicts = Table(  # offline scans that disagree: kept, queued for review
    "scan_conflicts",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("operation_id", _text("operation"), ForeignKey("operations.id"), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("person_id", String(40), nullable=True),
    Column("flight_id", BigInteger, nullable=True),
    Column("events", JSON, nullable=False),  # event seqs involved, earliest device time first
    Column("detail", JSON, nullable=False),  # winner/loser, devices, sites (never personal data)
    Column("status", String(10), nullable=False),  # open, resolved
    Column("resolution", String(30), nullable=True),
    Column("reason_enc", LargeBinary, nullable=True),  # sealed under the operation's data key
    Column("created_at", UTCDateTime(), nullable=False),
    Column("resolved_at", UTCDateTime(), nullable=True),
    Column("resolved_by", _text("user"), nullable=True),
    Index("ix_scan_conflicts_op", "operation_id", "status"),
)

idempotency_keys = Table(  # the web API's Idempotency-Key answers (evacops/web/idempotency.py)
    "idempotency_keys",
    metadata,
    Column("caller", String(150), primary_key=True),  # "u:<user>" or "d:<device>"
    Column("key", String(100), primary_key=True),
    Column("route", String(60), nullable=False),
    Column("operation_id", String(64), nullable=True),
    Column("request_hash", String(64), nullable=False),  # method, path, query and body
    Column("status", Integer, nullable=True),  # None: the first request is still running
    Column("response_enc", LargeBinary, nullable=True),  # sealed (operation's data key)
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Index("ix_idempotency_keys_expires", "expires_at"),
)
