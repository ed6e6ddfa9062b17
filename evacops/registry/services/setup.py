"""Setting up: users (log-in, the first admin, new users), operations, sites and flights.

An operation gets its own data key and signing key (wrapped under the master key) at creation.
Site kinds are the scenario's (:data:`evacops.scenario.model.SiteKind`): a registry site is
a place of the plan.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, get_args

from sqlalchemy import Connection, Engine, func, insert, select

from evacops.errors import AccessDenied, RegistryError
from evacops.registry import credentials as creds
from evacops.registry import events as ev
from evacops.registry.security import Actor, Perm, Role, check_password, hash_password, require
from evacops.registry.services.context import Context
from evacops.registry.store import audit as audit_log
from evacops.registry.store.crypto import new_data_key, wrap_key
from evacops.registry.store.tables import flights, operations, sites, users, utcnow
from evacops.scenario.model import SiteKind

OPERATION_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
#: the kinds a site may be: the scenario's
SITE_KINDS: tuple[str, ...] = get_args(SiteKind)


def authenticate(engine: Engine, name: str, password: str) -> Actor:
    """The user ``name`` if ``password`` is theirs."""
    with engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.name == name)).mappings().first()
    if row is None or not check_password(row["password_hash"], password):
        raise AccessDenied(f"user {name}: unknown user or wrong password")
    return Actor(name, Role(row["role"]))


def bootstrap_admin(engine: Engine, name: str, password: str) -> bool:
    """Create the first admin if the registry has no user yet; True if created."""
    with engine.begin() as conn:
        audit_log.ensure_head(conn)
        if conn.execute(select(func.count()).select_from(users)).scalar_one():
            return False
        _add_user(conn, name, Role.admin, password)
        audit_log.append(
            conn,
            at=utcnow(),
            actor=name,
            action="user-added",
            operation=None,
            subject=name,
            detail={"role": "admin"},
        )
        return True


def add_user(ctx: Context, name: str, role: str, password: str) -> None:
    require(ctx.actor, Perm.manage)
    try:
        role_ = Role(role)
    except ValueError:
        raise RegistryError(
            f"not a role; use one of {', '.join(Role)}", field="role", value=role
        ) from None
    with ctx.write() as conn:
        if conn.execute(select(users.c.name).where(users.c.name == name)).first():
            raise RegistryError(f"user {name}: exists already")
        _add_user(conn, name, role_, password)
        ctx.audit(conn, "user-added", None, name, {"role": role_.value})


def create_operation(
    ctx: Context,
    op: str,
    *,
    name: str | None = None,
    categories: Mapping[str, tuple[str, float]] | None = None,
    sites_: Mapping[str, str] | None = None,
    origin_site: str | None = None,
    rule_version: str = "1",
) -> None:
    """A new operation with its own data key and signing key.

    ``categories`` maps an eligibility category to (scenario cohort, priority)."""
    require(ctx.actor, Perm.manage)
    if not OPERATION_ID.match(op):
        raise RegistryError(
            "not an id; use lower-case letters, digits and '-'", field="operation", value=op
        )
    master = ctx.need_master()
    priv, pub = creds.new_signing_key()
    catmap = {k: {"cohort": c, "priority": float(p)} for k, (c, p) in (categories or {}).items()}
    with ctx.write() as conn:
        if conn.execute(select(operations.c.id).where(operations.c.id == op)).first():
            raise RegistryError(f"operation {op}: exists already")
        conn.execute(
            insert(operations).values(
                id=op,
                name=name or op,
                created_at=ctx.clock(),
                wrapped_data_key=wrap_key(master, new_data_key(), op),
                wrapped_signing_key=wrap_key(master, priv, op, "signing"),
                public_key=pub,
                category_map=catmap,
                rule_version=rule_version,
                origin_site=origin_site,
            )
        )
        for code, kind in (sites_ or {}).items():
            check_kind(kind)
            conn.execute(insert(sites).values(operation_id=op, code=code, kind=kind))
        ctx.audit(
            conn,
            "operation-created",
            op,
            op,
            {"sites": len(sites_ or {}), "categories": sorted(catmap)},
        )


def list_operations(ctx: Context) -> list[dict[str, Any]]:
    """Every operation: id, name, and whether it is shredded."""
    with ctx.read() as conn:
        return [
            dict(id=r.id, name=r.name, shredded=r.shredded_at is not None)
            for r in conn.execute(
                select(operations.c.id, operations.c.name, operations.c.shredded_at)
            )
        ]


def add_site(ctx: Context, op: str, code: str, kind: str) -> None:
    require(ctx.actor, Perm.manage)
    check_kind(kind)
    with ctx.write() as conn:
        ctx.operation(conn, op)
        if conn.execute(
            select(sites.c.code).where(sites.c.operation_id == op, sites.c.code == code)
        ).first():
            raise RegistryError(f"site {code}: exists already in operation {op}")
        conn.execute(insert(sites).values(operation_id=op, code=code, kind=kind))
        ctx.audit(conn, "site-added", op, code, {"kind": kind})
    ctx.sites.pop(op, None)


def add_flight(
    ctx: Context,
    op: str,
    code: str,
    *,
    origin: str,
    destination: str,
    seats: int,
    departs_at: datetime | None = None,
) -> int:
    """Schedule a flight (a ``flight-scheduled`` event beside its ``flights`` row)."""
    if not (ctx.actor.can(Perm.manage) or ctx.actor.can(Perm.manifest)):
        require(ctx.actor, Perm.manifest)
    if seats <= 0:
        raise RegistryError("must be > 0", field="seats", value=seats)
    with ctx.write() as conn:
        ctx.operation(conn, op)
        ctx.check_site(conn, op, origin)
        ctx.check_site(conn, op, destination)
        if conn.execute(
            select(flights.c.id).where(flights.c.operation_id == op, flights.c.code == code)
        ).first():
            raise RegistryError(f"flight {code}: exists already in operation {op}")
        inserted = conn.execute(
            insert(flights).values(
                operation_id=op,
                code=code,
                origin=origin,
                destination=destination,
                seats=seats,
                departs_at=departs_at,
                status="scheduled",
            )
        ).inserted_primary_key
        assert inserted is not None
        fid = inserted[0]
        ctx.event(
            conn,
            op,
            ev.FLIGHT_SCHEDULED,
            flight_id=fid,
            site=origin,
            data={"code": code, "destination": destination, "seats": seats},
        )
        return fid


def _add_user(conn: Connection, name: str, role: Role, password: str) -> None:
    if not name or len(name) > 100:
        raise RegistryError("user: give a name of 1 to 100 characters")
    if len(password) < 8:
        raise RegistryError(f"user {name}: password too short; use at least 8 characters")
    conn.execute(
        insert(users).values(
            name=name, role=role.value, password_hash=hash_password(password), created_at=utcnow()
        )
    )


def check_kind(kind: str) -> None:
    """Refuse a site kind the scenario does not know."""
    if kind not in SITE_KINDS:
        raise RegistryError(f"site kind {kind!r}: use one of {', '.join(SITE_KINDS)}")
