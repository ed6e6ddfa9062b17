"""The audit chain: an append-only, hash-chained log of every read of protected fields, export,
merge, scan and key destruction. It records who, what, when and which opaque ids, never a value.

Each entry's hash is SHA-256 over the previous entry's hash and the entry's own content (canonical
JSON); ``audit_head`` holds the last hash and is locked while an entry is appended, so entries form
one chain even with several writers. :func:`verify` recomputes the chain and finds any entry that
was changed, removed, inserted or reordered, and a head that no longer matches the last entry.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from evacops.registry.models import audit, audit_head

GENESIS = "0" * 64


def _digest(
    prev: str,
    at: datetime,
    actor: str,
    action: str,
    operation: str | None,
    subject: str,
    detail: dict,
) -> str:
    body = json.dumps(
        [prev, at.isoformat(timespec="microseconds"), actor, action, operation, subject, detail],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def ensure_head(conn: Connection) -> None:
    if conn.execute(select(audit_head.c.id)).first() is None:
        conn.execute(insert(audit_head).values(id=1, seq=0, hash=GENESIS))


def append(
    conn: Connection,
    *,
    at: datetime,
    actor: str,
    action: str,
    operation: str | None,
    subject: str,
    detail: dict | None = None,
) -> str:
    """Append one entry inside the caller's transaction; return its hash."""
    detail = detail or {}
    head = conn.execute(
        select(audit_head.c.hash).where(audit_head.c.id == 1).with_for_update()
    ).scalar_one()
    at = at.replace(microsecond=at.microsecond)  # stored as given, to the microsecond
    digest = _digest(head, at, actor, action, operation, subject, detail)
    seq = conn.execute(
        insert(audit).values(
            at=at,
            actor=actor,
            action=action,
            operation_id=operation,
            subject=subject,
            detail=detail,
            prev_hash=head,
            hash=digest,
        )
    ).inserted_primary_key[0]
    conn.execute(update(audit_head).where(audit_head.c.id == 1).values(seq=seq, hash=digest))
    return digest


@dataclass(frozen=True)
class Verification:
    ok: bool
    entries: int
    first_bad: int | None  # seq of the first entry that does not verify
    problem: str

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "first_bad": self.first_bad,
            "problem": self.problem,
        }


def verify(conn: Connection) -> Verification:
    prev = GENESIS
    n = 0
    last_seq = 0
    for row in conn.execute(select(audit).order_by(audit.c.seq)).mappings():
        n += 1
        if row["prev_hash"] != prev:
            return Verification(
                False,
                n,
                row["seq"],
                f"entry {row['seq']}: does not follow the entry before it (removed or reordered)",
            )
        digest = _digest(
            prev,
            row["at"],
            row["actor"],
            row["action"],
            row["operation_id"],
            row["subject"],
            row["detail"],
        )
        if digest != row["hash"]:
            return Verification(
                False, n, row["seq"], f"entry {row['seq']}: content changed after it was written"
            )
        prev = row["hash"]
        last_seq = row["seq"]
    head = conn.execute(select(audit_head.c.seq, audit_head.c.hash)).first()
    if head is None or head.hash != prev or head.seq != last_seq:
        return Verification(
            False, n, None, "the chain's end does not match its head (entries removed at the end?)"
        )
    return Verification(True, n, None, "")
