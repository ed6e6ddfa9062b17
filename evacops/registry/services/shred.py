"""Shred: the end of an operation's personal data. Its data and signing keys are destroyed, so
every sealed field and blind index of the operation becomes unreadable at once, in every
process; counts and movements remain."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from evacops.errors import RegistryError
from evacops.registry import events as ev
from evacops.registry.security import Perm, require
from evacops.registry.services.context import Context
from evacops.registry.store.tables import operations


def shred(ctx: Context, op: str) -> dict[str, Any]:
    """Destroy the operation's data and signing keys: every personal field (and blind index)
    of the operation becomes unreadable at once; counts and movements remain."""
    require(ctx.actor, Perm.manage, op)
    engine = ctx.engine
    with ctx.write() as conn:
        row = ctx.operation(conn, op)
        if row["wrapped_data_key"] is None:
            raise RegistryError(f"operation {op}: shredded already")
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA secure_delete=ON")
        conn.execute(
            update(operations)
            .where(operations.c.id == op)
            .values(wrapped_data_key=None, wrapped_signing_key=None, shredded_at=ctx.clock())
        )
        ctx.event(conn, op, ev.SHRED, data={})
        ctx.audit(conn, "shred", op, op, {})
    ctx.ciphers.pop(op, None)
    # overwrite what the storage engine may still hold of the old row
    if engine.dialect.name == "sqlite":
        dbapi_conn = engine.raw_connection()
        try:
            dbapi_conn.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            dbapi_conn.close()
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM operations")
    return {"operation": op, "shredded": True}
