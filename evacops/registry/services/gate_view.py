"""The gate's view of a scanned person: initials and household size, never a document or a
category (they mark the wearer).

It is read in the scan's own transaction: the scan's one look-up
(:func:`evacops.registry.services.lookups.scan_lookup`) brings the sealed initials, the size
of the household and the operation's wrapped data key along with the credential and its person
(:data:`LOOKUP_COLUMNS`), so the answer a gate sees and the state the scan changed come from the
same snapshot and cost no second round trip. A scan sent again reads them by person
(:func:`by_person`). Showing the initials is a read of a protected field and is audited in that
transaction: in the scan's own audit entry (``shown``), or as a ``read`` entry for a repeat.
Only an actor that may read the gate view (:attr:`Perm.read_gate_view`) is shown anything.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from evacops.registry.security import Perm
from evacops.registry.services.context import Context
from evacops.registry.store.db import raw

#: the fields a gate is shown, as the audit entry names them
SHOWN = ["initials"]

_HOUSEHOLD = (
    "(SELECT count(*) FROM persons h WHERE h.household_id = p.household_id "
    "AND h.operation_id = p.operation_id AND h.status <> 'merged')"
)
_WRAPPED = "(SELECT o.wrapped_data_key FROM operations o WHERE o.id = p.operation_id)"
#: what the scan's look-up adds for the view (``p`` is the scanned person)
LOOKUP_COLUMNS = ("p.initials_enc", _HOUSEHOLD, _WRAPPED)
_BY_PERSON = (
    "SELECT p.household_id, " + ", ".join(LOOKUP_COLUMNS) + " FROM persons p "
    "WHERE p.id = {pid} AND p.operation_id = {op}"
)


def may_see(ctx: Context, op: str) -> bool:
    return ctx.actor.can(Perm.read_gate_view, op)


def view(
    ctx: Context,
    op: str,
    person_id: str,
    household_id: str | None,
    looked_up: tuple[Any, Any, Any],
) -> dict[str, Any]:
    """The view from the look-up's :data:`LOOKUP_COLUMNS` values (initials sealed, household
    count, wrapped data key); a shredded operation's cipher refuses as everywhere."""
    initials_enc, household_n, wrapped = looked_up
    cipher = ctx.cipher_for(op, bytes(wrapped) if wrapped is not None else None)
    return {
        "initials": cipher.open(initials_enc, f"persons|{person_id}|initials"),
        "household_size": int(household_n or 1) if household_id is not None else 1,
    }


def by_person(ctx: Context, conn: Connection, op: str, person_id: str) -> dict[str, Any] | None:
    """The view of ``person_id`` read in ``conn``'s transaction and audited there as a read
    (a repeated scan's answer); None if the caller may not see it or the person is not in
    ``op``."""
    if not may_see(ctx, op):
        return None
    r = raw(conn)
    cur = r.run(conn, _BY_PERSON, {"pid": person_id, "op": op})
    row = cur.fetchone()
    cur.close()
    if row is None:
        return None
    shown = view(ctx, op, person_id, row[0], (row[1], row[2], row[3]))
    ctx.audit(conn, "read", op, person_id, {"fields": SHOWN})
    return shown
