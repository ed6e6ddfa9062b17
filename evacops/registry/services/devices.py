"""Enrolled devices: gate and ramp phones or tablets, each bound to one operation, site and role.

An admin enrols a device (:func:`enrol_device`) and is shown its token once; only the token's
SHA-256 is stored. :func:`device_actor` turns a token into an :class:`Actor` that holds the
device's role in its operation only and scans only at its site
(:func:`evacops.registry.services.movements.scan` checks the site). A revoked device's token is
refused at once by the process that revoked it, and by every other process within
:data:`RECHECK_S` (a live token's row is kept that long, :func:`device_actor`).
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any

from sqlalchemy import Engine, insert, select, update

from evacops.errors import AccessDenied, RegistryError
from evacops.registry.security import Actor, Perm, Role, require, token_hash
from evacops.registry.services.context import Context, token
from evacops.registry.store.db import raw
from evacops.registry.store.tables import devices

#: the roles a device may hold
DEVICE_ROLES = (Role.gate, Role.manifest)
LABEL_MAX = 100
#: seconds a live device token's row is used without reading it again: a gate sends many small
#: requests, and the read was a tenth of a scan request's work on the server (docs/service.md,
#: Measured); a revocation reaches the other server processes within this time
RECHECK_S = 0.5
# token digest -> (read at, time.monotonic(); the device's row): live tokens only, this process
_LIVE: dict[str, tuple[float, tuple]] = {}
_LIVE_MAX = 10_000
_LIVE_LOCK = threading.Lock()


def enrol_device(ctx: Context, op: str, site: str, role: str, label: str) -> tuple[str, str]:
    """A new device of ``op`` at ``site`` with ``role``; returns (device id, token). The token
    is shown this once: only its hash is kept."""
    require(ctx.actor, Perm.manage, op)
    if role not in DEVICE_ROLES:
        raise RegistryError(
            f"not a device role; use one of {', '.join(DEVICE_ROLES)}",
            field="role",
            value=role,
            code="not-a-device-role",
        )
    label = (label or "").strip()
    if not label or len(label) > LABEL_MAX:
        raise RegistryError(
            f"give a label of 1 to {LABEL_MAX} characters", field="label", code="label-needed"
        )
    device_id = token("dev", 10)
    secret = "evd_" + secrets.token_urlsafe(32)
    with ctx.write() as conn:
        ctx.operation(conn, op)
        ctx.check_site(conn, op, site)
        conn.execute(
            insert(devices).values(
                id=device_id, operation_id=op, site=site, role=role,
                token_hash=token_hash(secret), label=label, enrolled_by=ctx.actor.name,
                enrolled_at=ctx.clock(),
            )
        )  # fmt: skip
        ctx.audit(conn, "device-enrolled", op, device_id, {"site": site, "role": role})
    return device_id, secret


# a device's every request looks its token up: sent straight to the driver, outside any
# transaction (one statement reads one row; SQLAlchemy's connection, BEGIN and ROLLBACK around
# it cost more than the read)
_BY_TOKEN = "SELECT id, operation_id, site, role, revoked_at FROM devices WHERE token_hash = {h}"


def device_actor(engine: Engine, secret: str) -> Actor:
    """The device whose token is ``secret``, as an actor bound to its operation, site and role;
    :class:`AccessDenied` for an unknown or revoked token."""
    if not secret or len(secret) > 200:
        raise AccessDenied("not a device token")
    digest = token_hash(secret)
    now = time.monotonic()
    seen = _LIVE.get(digest)
    fresh = seen is None or now - seen[0] >= RECHECK_S
    row = seen[1] if seen is not None and not fresh else _token_row(engine, digest)
    if row is None:
        raise AccessDenied("not a device token")
    device, operation, site, role_name, revoked_at = row
    if revoked_at is not None:
        raise AccessDenied(f"device {device}: revoked; ask an admin to enrol it again")
    if fresh:
        with _LIVE_LOCK:
            if len(_LIVE) >= _LIVE_MAX:
                _LIVE.clear()
            _LIVE[digest] = (now, row)
    role = Role(role_name)
    return Actor(f"device:{device}", role, roles={operation: role}, device=device, site=site)


def _token_row(engine: Engine, digest: str) -> tuple | None:
    """The device row of a token's digest, read in autocommit on a pooled connection (SQLite's
    connections are in autocommit between our BEGINs; a PostgreSQL one is put in autocommit
    for the read, so no BEGIN and no ROLLBACK go to the server)."""
    r = raw(engine)
    pooled = engine.raw_connection()
    try:
        dbapi: Any = pooled.dbapi_connection  # the driver's, or SQLAlchemy's asyncio adapter
        if not r.sqlite:
            dbapi.autocommit = True
        try:
            cur = dbapi.cursor()
            try:
                cur.execute(r.sql(_BY_TOKEN), {"h": digest})
                return cur.fetchone()
            finally:
                cur.close()
        finally:
            if not r.sqlite:
                dbapi.autocommit = False
    finally:
        pooled.close()


def revoke_device(ctx: Context, op: str, device_id: str) -> bool:
    """Revoke a device: its token is refused from now on. True if it was live."""
    require(ctx.actor, Perm.manage, op)
    with ctx.write() as conn:
        n = conn.execute(
            update(devices)
            .where(
                devices.c.id == device_id,
                devices.c.operation_id == op,
                devices.c.revoked_at.is_(None),
            )
            .values(revoked_at=ctx.clock())
        ).rowcount
        if n:
            ctx.audit(conn, "device-revoked", op, device_id, {})
    with _LIVE_LOCK:  # refused at once in this process (the others within RECHECK_S)
        _LIVE.clear()
    return bool(n)


def list_devices(ctx: Context, op: str) -> list[dict[str, Any]]:
    """The devices of ``op`` (never their tokens)."""
    require(ctx.actor, Perm.manage, op)
    D = devices.c
    with ctx.read() as conn:
        rows = conn.execute(
            select(D.id, D.site, D.role, D.label, D.enrolled_by, D.enrolled_at, D.revoked_at)
            .where(D.operation_id == op)
            .order_by(D.enrolled_at)
        ).mappings()
        return [dict(r) for r in rows]
