"""The scan's look-ups: a credential, its person, what the gate's view of them needs, and a
previous copy of the scan, read in one round trip (:func:`scan_lookup`; several credentials at
once for a device's batch, :func:`scan_lookups`, with the batch's audit lane on PostgreSQL,
:func:`scan_lookups_and_lane`)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from evacops.registry.services import gate_view
from evacops.registry.services.context import Context
from evacops.registry.store import audit as audit_log
from evacops.registry.store.db import raw

_CRED_COLUMNS = ("id", "operation_id", "person_id", "revoked_at", "boarded_at")
_PERSON_COLUMNS = (
    "id", "operation_id", "household_id", "status", "site", "flight_id", "merged_into",
    "age_group",
)  # fmt: skip


def _lookup_sql(previous: str, where: str, lead: str = "") -> str:
    """The look-up of a scan's credential and person (``where``), with ``previous``: the seq of
    an earlier copy of the scan, or NULL; ``lead``: ``WITH ... SELECT`` and columns before the
    look-up's own."""
    return (
        (lead or "SELECT ")
        + ", ".join(f"c.{c}" for c in _CRED_COLUMNS)
        + ", "
        + ", ".join(f"p.{c}" for c in _PERSON_COLUMNS)
        + f", {previous}, "
        + ", ".join(gate_view.LOOKUP_COLUMNS)
        + f" FROM credentials c JOIN persons p ON p.id = c.person_id WHERE {where}"
    )


@functools.lru_cache(maxsize=128)
def _lookups_sql(n: int, lane: bool = False) -> str:
    """:func:`_lookup_sql` of ``n`` credentials, without a previous copy; with ``lane``, also a
    free audit lane read and locked (PostgreSQL), its id and head the first two columns."""
    lead = ("WITH " + audit_log.LANE_CTE + " SELECT (SELECT id FROM lane), "
            "(SELECT hash FROM lane), ") if lane else ""  # fmt: skip
    where = "c.id IN (" + ", ".join(f"{{c{i}}}" for i in range(n)) + ")"
    return _lookup_sql("NULL", where, lead)


SCAN_LOOKUP = _lookup_sql("(SELECT seq FROM events WHERE idempotency_key = {key})", "c.id = {cid}")
_NV = len(gate_view.LOOKUP_COLUMNS)


def scan_lookup(conn: Connection, cid: str, key: str) -> dict[str, Any] | None:
    """One round trip: the credential, its person, a previous copy of this scan, and what the
    gate's view needs (``view_row``: :data:`gate_view.LOOKUP_COLUMNS`)."""
    cur = raw(conn).run(conn, SCAN_LOOKUP, {"cid": cid, "key": key})
    row = cur.fetchone()
    cur.close()
    return None if row is None else _found(row)


def _fetch(conn: Connection, cids: Sequence[str], lane: bool) -> list[Sequence[Any]]:
    """The rows of :func:`_lookups_sql` for ``cids`` (not empty)."""
    cur = raw(conn).run(
        conn, _lookups_sql(len(cids), lane), {f"c{i}": c for i, c in enumerate(cids)}
    )
    rows = cur.fetchall()
    cur.close()
    return rows


def scan_lookups(conn: Connection, cids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """:func:`scan_lookup` of several credentials in one round trip, by credential id, without
    the previous copy (a device's scans are kept by ``(device, seq)`` instead)."""
    return {row[0]: _found(row) for row in _fetch(conn, cids, lane=False)} if cids else {}


def scan_lookups_and_lane(
    conn: Connection, cids: Sequence[str]
) -> tuple[dict[str, dict[str, Any]], tuple[int, str] | None]:
    """:func:`scan_lookups`, and on PostgreSQL in the same round trip a free audit lane read and
    locked for the transaction's entries (``(lane, head)``; None when none was free, no
    credential was found, or on SQLite): :meth:`Context.audit_together`'s ``lane``."""
    if raw(conn).sqlite or not cids:
        return scan_lookups(conn, cids), None
    rows = _fetch(conn, cids, lane=True)
    lane = (rows[0][0], rows[0][1]) if rows and rows[0][0] is not None else None
    return {row[2]: _found(row[2:]) for row in rows}, lane


def _found(row: Sequence[Any]) -> dict[str, Any]:
    nc, np_ = len(_CRED_COLUMNS), len(_PERSON_COLUMNS)
    out = {"c_" + c: v for c, v in zip(_CRED_COLUMNS, row[:nc], strict=True)}
    out.update({"p_" + c: v for c, v in zip(_PERSON_COLUMNS, row[nc : nc + np_], strict=True)})
    out["dup_seq"] = row[nc + np_]
    out["view_row"] = tuple(row[-_NV:])
    return out


def lookup_view(ctx: Context, op: str, found: dict[str, Any]) -> dict[str, Any] | None:
    """The gate's view of the person :func:`scan_lookup` found (None: the actor may not see
    it); the caller audits it with the scan."""
    if not gate_view.may_see(ctx, op):
        return None
    pid, household = found["p_id"], found["p_household_id"]
    return gate_view.view(ctx, op, pid, household, found["view_row"])
