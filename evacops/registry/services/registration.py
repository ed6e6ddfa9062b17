"""Registration: people enter the registry, one by one or a whole file at once.

A registration is one ``registered`` event per person, written in bulk (driver ``executemany``
or ``COPY``) with the same ``persons`` and ``person_keys`` rows :mod:`evacops.registry.events`
would project, all in one transaction: every row of a file or none. Each person's personal
fields are sealed one by one; their dedup blocking keys and document number are kept only as
blind indexes. Households are reused by their external id; unaccompanied minors get their
household's escort.
"""

from __future__ import annotations

import gc
import hashlib
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select

from evacops.errors import RegistrationFileError, RegistryError
from evacops.registry import events as ev
from evacops.registry.limits import check_text, row_problems
from evacops.registry.security import Perm, require
from evacops.registry.services.context import Context, chunks, token
from evacops.registry.store.crypto import FieldCipher
from evacops.registry.store.db import bulk_insert, integrity_errors, raw, reserve_sequence
from evacops.registry.store.tables import households, persons


@dataclass(frozen=True)
class ImportResult:
    imported: int
    households: int
    person_ids: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"imported": self.imported, "rejected": 0, "households": self.households}


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


def blind_keys(cipher: FieldCipher, record: Any) -> list[str]:
    """The blind indexes (hex) of a person's dedup blocking keys (``record``: a
    :class:`evacops.registry.dedup.PersonRecord`)."""
    from evacops.registry.dedup import blocking_keys

    return sorted({cipher.blind("dedup", k).hex() for k in blocking_keys(record)})


def register(
    ctx: Context,
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
        return _register(ctx, op, rows, source=source, source_digest=source_digest)
    finally:
        if enabled:
            gc.enable()


def import_file(ctx: Context, op: str, path: str | Path) -> ImportResult:
    """Register everyone in a registration file (CSV/XLSX); the same file twice is refused."""
    from evacops.registry.files import read_registrations

    require(ctx.actor, Perm.register, op)
    path = Path(path)
    check_text("file_name", path.name)
    rows = read_registrations(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return register(ctx, op, rows, source=path.name, source_digest=digest)


def _register(ctx: Context, op, rows, *, source, source_digest) -> ImportResult:
    require(ctx.actor, Perm.register, op)
    check_rows(rows, source)
    now = ctx.clock()
    with ctx.write() as conn:
        oprow = ctx.operation(conn, op)
        cipher = ctx.cipher(conn, op)
        _check_categories(rows, oprow["category_map"], op, source)
        hh, new_hh = _households(conn, op, cipher, rows, now)
        source_sealed = ctx.seal_text(conn, op, source, f"source|{op}", field="file_name")
        groups = _household_roles(rows, now.date())
        ev_rows = [
            _registered_event(
                ctx,
                oprow,
                cipher,
                r,
                hh[r.household_id],
                groups[id(r)],
                now=now,
                source=source_sealed,
                key=f"import:{source_digest[:40]}:{r.line}" if source_digest else None,
            )
            for r in rows
        ]
        _write_registered(conn, ev_rows, source)
        _assign_escorts(
            ctx,
            conn,
            op,
            [(r["person_id"], r["household_id"]) for r in ev_rows if r["data"]["unaccompanied"]],
        )
        ctx.audit(
            conn,
            "import" if source_digest else "register",
            op,
            f"file:{source_digest[:16]}" if source_digest else "rows",
            {"persons": len(ev_rows), "households": len(new_hh)},
        )
    return ImportResult(len(ev_rows), len(new_hh), [r["person_id"] for r in ev_rows])


def check_rows(rows: Sequence[Any], source: str) -> None:
    """Refuse rows with a text longer than its limit (:func:`evacops.registry.limits.
    row_problems`): one problem per field and row, naming the row, the field and the maximum,
    never the value. The file reader reports the same problems with the rest of a file's;
    this is the guard for every other way rows arrive."""
    check_text("file_name", source)
    problems = [
        f"{source}:{r.line}: {field}: longer than {limit:,} characters; shorten it"
        for r in rows
        for field, limit in row_problems(r)
    ]
    if problems:
        raise RegistrationFileError(problems)


def _check_categories(rows: Sequence[Any], catmap: Mapping, op: str, source: str) -> None:
    """Every row's category is one of the operation's, not retired (an operation without
    categories takes any)."""
    if not catmap:
        return
    usable = ", ".join(active_categories(catmap))
    problems = [
        f"{source}:{r.line}: category: {r.category!r} is "
        + ("retired" if r.category in catmap else "not a category")
        + f" in operation {op}; use one of {usable}"
        for r in rows
        if r.category not in catmap or catmap[r.category].get("retired")
    ]
    if problems:
        raise RegistrationFileError(problems)


def active_categories(catmap: Mapping[str, Any]) -> list[str]:
    """The categories of an operation's ``category_map`` a new registration may use."""
    return sorted(c for c, v in catmap.items() if not v.get("retired"))


def _households(
    conn: Connection, op: str, cipher: FieldCipher, rows: Sequence[Any], now: datetime
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Household id by the import file's household id (those already registered under it
    reused) and the new households' rows (inserted). The file's id is kept only as a blind
    index (``households.external_id``): it links later imports, and names nobody."""
    blind = {r.household_id: cipher.blind("household", r.household_id).hex() for r in rows}
    ext_ids = sorted(set(blind.values()))
    hh: dict[str, str] = {}
    for chunk in chunks(ext_ids, 500):
        for h in conn.execute(
            select(households.c.id, households.c.external_id).where(
                households.c.operation_id == op, households.c.external_id.in_(chunk)
            )
        ):
            hh[h.external_id] = h.id
    new_hh: list[dict[str, Any]] = [
        {"id": token("h", 8), "operation_id": op, "external_id": e, "created_at": now}
        for e in ext_ids
        if e not in hh
    ]
    if new_hh:
        conn.execute(insert(households), new_hh)
        hh.update({h["external_id"]: h["id"] for h in new_hh})
    return {ext: hh[b] for ext, b in blind.items()}, new_hh


def _sealed_fields(cipher: FieldCipher, pid: str, r: Any) -> dict[str, bytes | None]:
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
    return {f: cipher.seal(v, f"persons|{pid}|{f}") for f, v in plain.items()}


def _registered_event(
    ctx: Context,
    oprow: Any,
    cipher: FieldCipher,
    r: Any,
    household: str,
    roles: tuple[str, bool],
    *,
    now: datetime,
    source: str | None,
    key: str | None,
) -> dict[str, Any]:
    """The ``registered`` event row of one registration row ``r`` (idempotency key ``key``)."""
    from evacops.registry.dedup import PersonRecord

    pid = token("p")
    ag, unaccompanied = roles
    cat = oprow["category_map"].get(r.category) or {"cohort": r.category, "priority": 1.0}
    rec = PersonRecord(
        pid,
        r.given_name,
        r.family_name,
        r.birth_date,
        r.birth_precision,
        r.sex,
        r.nationality,
        r.document_number,
        household,
    )
    rule = oprow["rule_version"]
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
        "rule_version": rule,
        "decided_by": ctx.actor.name,
        "reason": f"category {r.category} -> cohort {cat['cohort']} (rule {rule})",
        "source_sealed": source,
        "line": r.line,
        "_keys": blind_keys(cipher, rec),
        "_document_bidx": cipher.blind("document", r.document_number).hex()
        if r.document_number
        else None,
    }
    return {
        "operation_id": oprow["id"],
        "type": ev.REGISTERED,
        "person_id": pid,
        "household_id": household,
        "flight_id": None,
        "site": None,
        "credential_id": None,
        "idempotency_key": key,
        "occurred_at": now,
        "recorded_at": now,
        "actor": ctx.actor.name,
        "data": data,
        "sealed": ev.pack(_sealed_fields(cipher, pid, r)),
    }


def _write_registered(conn: Connection, ev_rows: list[dict[str, Any]], source: str) -> None:
    """The bulk path (driver executemany / COPY): the events, and the same ``persons`` and
    ``person_keys`` rows :func:`evacops.registry.events.apply` would write."""
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
    except integrity_errors():
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
    bulk_insert(conn, "person_keys", k_cols, [tuple(k[c] for c in k_cols) for k in key_rows])


def _assign_escorts(ctx: Context, conn: Connection, op: str, minors: list[tuple[str, str]]) -> None:
    """Newly registered unaccompanied minors (person id, household id) travel with their
    household's escort, if it names one (a ``correction`` event, so the projection stays a
    replay of the events)."""
    P = persons.c
    escorts: dict[str, str] = {}
    for chunk in chunks(sorted({h for _, h in minors}), 500):
        for r in conn.execute(
            select(P.id, P.household_id)
            .where(P.household_id.in_(chunk), P.relationship == "escort")
            .order_by(P.id)
        ):
            escorts.setdefault(r.household_id, r.id)
    for pid, household in minors:
        if household in escorts:
            ctx.event(
                conn,
                op,
                ev.CORRECTION,
                person_id=pid,
                household_id=household,
                data={"escort_id": escorts[household], "reason": "escort named in household"},
            )


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
