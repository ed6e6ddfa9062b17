"""The audit chain: an append-only, hash-chained log of every read of protected fields, export,
merge, scan and key destruction. It records who, what, when and which opaque ids, never a value.

The log is :data:`LANES` interleaved chains ("lanes"), created with the database. Each entry's
hash is HMAC-SHA256 over the previous hash in its lane and the entry's own content (canonical
JSON, lane included), under the **audit key**: a key derived from the master key
(:func:`audit_key`), which is never in the database. Someone holding only the database file can
therefore not rewrite an entry and recompute the hashes after it: ``verify`` (which needs the
key) finds the first entry they touched. ``audit_head`` holds each lane's last hash and sequence
number and is locked while an entry is appended to it. On PostgreSQL a writer takes the first
lane no other transaction holds (``FOR UPDATE SKIP LOCKED``), so gates committing at the same
moment do not queue behind one lock; SQLite has one writer at a time and uses lane 1.
:func:`verify` walks every lane and finds any entry that was changed, removed, inserted or
moved, an entry on a lane that does not exist, a missing lane head, and a head that no longer
matches its lane's last entry (entries removed at the end).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from evacops.registry.store.crypto import derive_key
from evacops.registry.store.db import raw
from evacops.registry.store.tables import audit, audit_head

GENESIS = "0" * 64
LANES = 8


def audit_key(master: bytes) -> bytes:
    """The key the chain's entries are keyed with (derived from the master key)."""
    return derive_key(master, "audit chain")


def _digest(
    key: bytes,
    prev: str,
    lane: int,
    at: datetime,
    actor: str,
    action: str,
    operation: str | None,
    subject: str,
    detail: dict,
) -> str:
    body = json.dumps(
        [
            prev,
            lane,
            at.isoformat(timespec="microseconds"),
            actor,
            action,
            operation,
            subject,
            detail,
        ],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        default=str,
    )
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


def ensure_head(conn: Connection) -> None:
    if conn.execute(select(audit_head.c.id)).first() is None:
        conn.execute(
            insert(audit_head), [{"id": k, "seq": 0, "hash": GENESIS} for k in range(1, LANES + 1)]
        )


def append(
    conn: Connection,
    *,
    key: bytes,
    at: datetime,
    actor: str,
    action: str,
    operation: str | None,
    subject: str,
    detail: dict | None = None,
) -> str:
    """Append one entry inside the caller's transaction; return its hash."""
    entry = Entry(at, actor, action, operation, subject, detail or {})
    return append_many(conn, key=key, entries=[entry])


@dataclass(frozen=True)
class Entry:
    """An entry to append (:func:`append_many`)."""

    at: datetime
    actor: str
    action: str
    operation: str | None
    subject: str
    detail: dict


#: PostgreSQL: a data-modifying statement to send with the entries, as ``name AS (INSERT ...)``
#: and its parameters (named apart from the entries' own): one round trip for both
Also = tuple[str, dict]


def send_also(conn: Connection, also: Also) -> None:
    """``also`` on its own (PostgreSQL), when there are no entries to send it with."""
    cte, params = also
    raw(conn).run(conn, "WITH " + cte + " SELECT 1", params).close()


def append_many(
    conn: Connection, *, key: bytes, entries: list[Entry], lane: tuple[int, str] | None = None,
    also: Also | None = None,
) -> str:  # fmt: skip
    """Append ``entries``, in order, to one lane inside the caller's transaction: the lane's
    head is read and locked once, the entries chained one after the other and written with the
    lane's new head in one statement on PostgreSQL (two on SQLite). Return the last hash.

    ``lane``: ``(lane, head)`` read and locked earlier in this transaction (:data:`LANE_CTE`);
    ``also`` (PostgreSQL): a statement of the caller's, sent in the same statement as the
    entries."""
    r = raw(conn)
    if lane is None:
        cur = r.run(conn, _LANE_PG if not r.sqlite else _LANE_ONE, {})
        lane = cur.fetchone()
        if lane is None:  # every lane busy: wait for lane 1
            cur = r.run(conn, _LANE_ONE + " FOR UPDATE", {})
            lane = cur.fetchone()
    lane_id, head = lane
    rows = []
    for e in entries:
        at = e.at.astimezone(UTC)
        digest = _digest(
            key, head, lane_id, at, e.actor, e.action, e.operation, e.subject, e.detail
        )
        rows.append((r.dt(at), e.actor, e.action, e.operation, e.subject, e.detail, head, digest))
        head = digest
    if not r.sqlite:  # the entries and their lane's new head in one statement (one round trip)
        cols = dict(zip(_COLUMNS[1:], zip(*rows, strict=True), strict=True))
        cols["detail"] = tuple(json.dumps(d) for d in cols["detail"])  # as text, cast to json
        arrays: dict[str, Any] = {c: list(v) for c, v in cols.items()}
        arrays |= {"lane": lane_id, "head": head, "prev": rows[0][6]}
        if also is None:
            cur = r.run(conn, _APPEND_PG, arrays)
        else:
            cte, extra = also
            cur = r.run(conn, "WITH " + cte + ", " + _APPEND_PG[len("WITH ") :], arrays | extra)
        moved = cur.fetchone() is None
        cur.close()
        if moved:  # the transaction rolls back: nothing of it is kept
            raise RuntimeError(f"audit lane {lane_id} moved since it was read in this transaction")
        return head
    params: dict = {"lane": lane_id}
    for i, row in enumerate(rows):
        params.update({f"{c}{i}": v for c, v in zip(_COLUMNS[1:], row, strict=True)})
        params[f"detail{i}"] = r.json(row[5])
    cur = r.run(conn, _insert(len(rows)), params)
    seq = max(s for (s,) in cur.fetchall())
    r.run(conn, _SET_HEAD, {"lane": lane_id, "seq": seq, "hash": head}).close()
    return head


# sent straight to the driver (see events.append)
_FREE_LANE = "SELECT id, hash FROM audit_head {where}ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
_LANE_PG = _FREE_LANE.format(where="")
#: PostgreSQL: a free lane read and locked as part of a caller's first statement (``WITH`` this,
#: then ``(SELECT id FROM lane)`` and ``(SELECT hash FROM lane)`` among its columns), for
#: :func:`append_many`'s ``lane``: one round trip fewer. Never lane 1: a writer that finds every
#: lane busy waits for lane 1 at its end, holding its row locks, and a transaction that held
#: lane 1 from its start might be waiting for one of those rows (a deadlock); lane 1 is only
#: ever taken last.
LANE_CTE = "lane AS (" + _FREE_LANE.format(where="WHERE id > 1 ") + ")"
_LANE_ONE = "SELECT id, hash FROM audit_head WHERE id = 1"
_COLUMNS = ("lane", "at", "actor", "action", "operation_id", "subject", "detail", "prev_hash",
            "hash")  # fmt: skip
_SET_HEAD = "UPDATE audit_head SET seq = {seq}, hash = {hash} WHERE id = {lane}"
# PostgreSQL: the entries go as one array a column, the same eight parameters whatever their
# number, so psycopg prepares the statement once (a statement with more than 50 parameters is
# never prepared, and building it was a quarter of a scan's time on the server); WITH ORDINALITY
# keeps their order, so each entry's seq is after the one it follows. The head is moved only
# from the hash the entries were chained to (a lane read earlier in the transaction, LANE_CTE,
# and an entry appended to it since by another path would otherwise fork the chain).
_APPEND_PG = (
    "WITH entry AS (INSERT INTO audit (" + ", ".join(_COLUMNS) + ") "
    "SELECT {lane}, e.at, e.actor, e.action, e.operation_id, e.subject, e.detail::json, "
    "e.prev_hash, e.hash FROM unnest({at}::timestamptz[], {actor}::text[], {action}::text[], "
    "{operation_id}::text[], {subject}::text[], {detail}::text[], {prev_hash}::text[], "
    "{hash}::text[]) WITH ORDINALITY "
    "AS e(at, actor, action, operation_id, subject, detail, prev_hash, hash, n) "
    "ORDER BY e.n RETURNING seq) "
    "UPDATE audit_head SET seq = (SELECT max(seq) FROM entry), hash = {head} "
    "WHERE id = {lane} AND hash = {prev} RETURNING id"
)


def _insert(n: int) -> str:
    """INSERT of ``n`` entries of one lane, in order (each row's values numbered 0 .. n-1)."""
    rows = ", ".join(
        "({lane}, " + ", ".join(f"{{{c}{i}}}" for c in _COLUMNS[1:]) + ")" for i in range(n)
    )
    return f"INSERT INTO audit ({', '.join(_COLUMNS)}) VALUES {rows} RETURNING seq"


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


def verify(conn: Connection, key: bytes) -> Verification:
    """Walk every lane with the audit ``key`` (:func:`audit_key`)."""
    heads = {r.id: (r.seq, r.hash) for r in conn.execute(select(audit_head))}
    if sorted(heads) != list(range(1, LANES + 1)):
        return Verification(False, 0, None, "the lane heads were changed (a lane is missing)")
    prev = dict.fromkeys(heads, GENESIS)
    last = dict.fromkeys(heads, 0)
    n = 0
    for row in conn.execute(select(audit).order_by(audit.c.seq)).mappings():
        n += 1
        lane = row["lane"]
        if lane not in prev:
            return Verification(
                False, n, row["seq"], f"entry {row['seq']}: on lane {lane}, which does not exist"
            )
        if row["prev_hash"] != prev[lane]:
            return Verification(
                False, n, row["seq"],
                f"entry {row['seq']}: does not follow the entry before it on its lane "
                "(removed, inserted or reordered)",
            )  # fmt: skip
        digest = _digest(key, prev[lane], lane, row["at"], row["actor"], row["action"],
                         row["operation_id"], row["subject"], row["detail"])  # fmt: skip
        if digest != row["hash"]:
            return Verification(
                False, n, row["seq"], f"entry {row['seq']}: content changed after it was written"
            )
        prev[lane] = row["hash"]
        last[lane] = row["seq"]
    for lane, (seq, digest) in heads.items():
        if digest != prev[lane] or seq != last[lane]:
            return Verification(
                False, n, None,
                f"lane {lane}: its end does not match its head (entries removed at the end?)",
            )  # fmt: skip
    return Verification(True, n, None, "")
