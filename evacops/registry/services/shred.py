"""Shred: the end of an operation's personal data. Its key-encryption key (a file in the key
folder, outside the database) and its wrapped data and signing keys are destroyed, so every
sealed field and blind index of the operation becomes unreadable at once, in every process, and
in every copy of the database taken before (the wrapped keys there open only with the destroyed
key-encryption key); counts and movements remain.

The web API's kept ``Idempotency-Key`` answers of the operation (``idempotency_keys``: sealed
under the same data key, so unreadable after the shred anyway) are neutralised in the same
transaction: the sealed answer is deleted and the request's digest (a SHA-256 of a body that may
have named people, which a guess could be checked against) replaced by :data:`SHREDDED`. The
keys stay used: a request sent again under one is answered 409, never done twice."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Connection, Engine, update

from evacops.errors import RegistryError
from evacops.registry import events as ev
from evacops.registry.security import Perm, require
from evacops.registry.services.context import Context
from evacops.registry.store.tables import idempotency_keys, operations

#: what a shred leaves of a kept Idempotency-Key answer's request digest
SHREDDED = "shredded"


def shred(ctx: Context, op: str) -> dict[str, Any]:
    """Destroy the operation's data and signing keys: every personal field (and blind index)
    of the operation becomes unreadable at once; counts and movements remain."""
    require(ctx.actor, Perm.manage, op)
    engine = ctx.engine
    with ctx.write() as conn:
        row = ctx.operation(conn, op)
        if row["wrapped_data_key"] is None:
            raise RegistryError(f"operation {op}: shredded already", code="shredded")
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA secure_delete=ON")
        conn.execute(
            update(operations)
            .where(operations.c.id == op)
            .values(wrapped_data_key=None, wrapped_signing_key=None, shredded_at=ctx.clock())
        )
        ctx.event(conn, op, ev.SHRED, data={})
        answers = _neutralise_answers(conn, op)
        kek = ctx.keys.destroy(op) if ctx.keys is not None else False
        ctx.audit(conn, "shred", op, op, {"kek_destroyed": kek, "idempotency_answers": answers})
    ctx.ciphers.pop(op, None)
    # overwrite what the storage engine may still hold of the old row
    wal_cleared = _checkpoint(engine) if engine.dialect.name == "sqlite" else None
    if engine.dialect.name != "sqlite":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM operations")
            conn.exec_driver_sql("VACUUM idempotency_keys")
    return {"operation": op, "shredded": True, "kek_destroyed": kek, "wal_cleared": wal_cleared}


def _neutralise_answers(conn: Connection, op: str) -> int:
    """The operation's kept Idempotency-Key answers without their sealed body and with the
    request's digest replaced (see the module); how many there were."""
    K = idempotency_keys.c
    n = conn.execute(
        update(idempotency_keys)
        .where(K.operation_id == op)
        .values(request_hash=SHREDDED, response_enc=None)
    ).rowcount
    return int(n or 0)


def _checkpoint(engine: Engine, tries: int = 3) -> bool:
    """Copy the WAL into the database file and truncate it, so the old page with the wrapped
    keys leaves the WAL; True when SQLite says it did (``busy`` 0). A reader holding an old
    snapshot stops it: the shred reports it (and the key-encryption key is gone anyway)."""
    dbapi_conn = engine.raw_connection()
    try:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=1000")
        for _ in range(tries):
            busy, _log, _done = cur.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if busy == 0:
                return True
            time.sleep(0.2)
        return False
    finally:
        dbapi_conn.cursor().execute("PRAGMA busy_timeout=30000")
        dbapi_conn.close()
