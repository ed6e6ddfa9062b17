"""Setting up: users (log-in, the first admin, new users), operations, sites and flights.

An operation gets its own data key and signing key (wrapped under the master key) at creation.
Site kinds are the scenario's (:data:`evacops.scenario.model.SiteKind`): a registry site is
a place of the plan.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select

from evacops.errors import AccessDenied, RegistryError
from evacops.registry import credentials as creds
from evacops.registry import events as ev
from evacops.registry.limits import check_text
from evacops.registry.security import (
    Actor,
    Perm,
    Role,
    check_password,
    dummy_hash,
    hash_password,
    require,
)
from evacops.registry.services.context import Context
from evacops.registry.store import audit as audit_log
from evacops.registry.store.crypto import new_data_key, wrap_key
from evacops.registry.store.tables import flights, operations, sites, users, utcnow

#: the fewest characters a password may have: the command line, the API and the admin page's
#: form alike (the form shows it and asks for it)
PASSWORD_MIN = 12
OPERATION_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
#: the kinds a site may be: the scenario's (:data:`evacops.scenario.model.SiteKind`, equal by
#: tests/test_registry_service.py; not imported here, so that a registry command line does not
#: load the scenario model)
SITE_KINDS: tuple[str, ...] = ("assembly", "gate", "airport", "staging", "destination")


def authenticate(engine: Engine, name: str, password: str) -> Actor:
    """The user ``name`` (with their roles per operation) if ``password`` is theirs. No lockout
    and no audit: :func:`evacops.registry.services.accounts.login` is the log-in of a person;
    this is for a process that holds the master key already."""
    from evacops.registry.services.accounts import load_actor

    with engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.name == name)).mappings().first()
        ok = check_password(row["password_hash"] if row else dummy_hash(), password)
        if row is None or not ok:
            raise AccessDenied(f"user {name}: unknown user or wrong password")
        actor = load_actor(conn, name, row)
    assert actor is not None
    return actor


def bootstrap_admin(engine: Engine, master: bytes, name: str, password: str) -> bool:
    """Create the first admin if the registry has no user yet; True if created."""
    with engine.begin() as conn:
        audit_log.ensure_head(conn)
        if conn.execute(select(func.count()).select_from(users)).scalar_one():
            return False
        _add_user(conn, name, Role.admin, password)
        audit_log.append(
            conn,
            key=audit_log.audit_key(master),
            at=utcnow(),
            actor=name,
            action="user-added",
            operation=None,
            subject=name,
            detail={"role": "admin"},
        )
        return True


def add_user(
    ctx: Context, name: str, role: str, password: str, *, operations: list[str] | None = None
) -> None:
    """A new user. ``admin`` is global; any other role is held in ``operations`` (default: every
    operation that exists now, as migration 0002 did for the users before it; later
    operations are granted with :func:`evacops.registry.services.accounts.grant`)."""
    from evacops.registry.services.accounts import all_operations, grant_in

    require(ctx.actor, Perm.manage)
    try:
        role_ = Role(role)
    except ValueError:
        raise RegistryError(
            f"not a role; use one of {', '.join(Role)}", field="role", value=role, code="not-a-role"
        ) from None
    with ctx.write() as conn:
        if conn.execute(select(users.c.name).where(users.c.name == name)).first():
            raise RegistryError(f"user {name}: exists already", code="user-exists")
        _add_user(conn, name, role_, password)
        ops: list[str] = []
        if role_ != Role.admin:
            ops = all_operations(conn) if operations is None else list(operations)
            for o in ops:
                ctx.operation(conn, o)
            grant_in(conn, ops, name, role_, ctx.actor.name, ctx.clock())
        ctx.audit(conn, "user-added", None, name, {"role": role_.value, "operations": ops})


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
    _check_operation_text(name, categories, sites_, origin_site, rule_version)
    master = ctx.need_master()
    priv, pub = creds.new_signing_key()
    catmap = {k: {"cohort": c, "priority": float(p)} for k, (c, p) in (categories or {}).items()}
    if ctx.keys is None:
        raise RegistryError("no key folder for the operation's key-encryption key; give one")
    with ctx.write() as conn:
        if conn.execute(select(operations.c.id).where(operations.c.id == op)).first():
            raise RegistryError(f"operation {op}: exists already")
        kek = ctx.keys.create(op)
        row = dict(
            id=op,
            name=name or op,
            created_at=ctx.clock(),
            wrapped_data_key=wrap_key(master, new_data_key(), op, kek=kek),
            wrapped_signing_key=wrap_key(master, priv, op, "signing", kek=kek),
            public_key=pub,
            category_map=catmap,
            rule_version=rule_version,
            origin_site=origin_site,
        )
        try:
            _insert_operation(ctx, conn, row, sites_ or {})
        except BaseException:
            ctx.keys.destroy(op)  # no operation, no key
            raise


def _insert_operation(ctx: Context, conn: Connection, row: dict, sites_: Mapping[str, str]):
    op = row["id"]
    conn.execute(insert(operations).values(**row))
    for code, kind in sites_.items():
        check_kind(kind)
        conn.execute(insert(sites).values(operation_id=op, code=code, kind=kind))
    details = {"sites": len(sites_), "categories": sorted(row["category_map"])}
    ctx.audit(conn, "operation-created", op, op, details)


def _check_operation_text(name, categories, sites_, origin_site, rule_version) -> None:
    check_text("operation_name", name, name="name")
    check_text("site", origin_site, name="origin_site")
    check_text("rule_version", rule_version)
    for code in sites_ or {}:
        check_text("site", code)
    for cat, (cohort, _priority) in (categories or {}).items():
        check_text("category", cat)
        check_text("cohort", cohort)


def list_operations(ctx: Context) -> list[dict[str, Any]]:
    """The operations the acting user has a role in (an admin: every one): id, name, and
    whether it is shredded."""
    mine = ctx.actor.operations()
    with ctx.read() as conn:
        return [
            dict(id=r.id, name=r.name, shredded=r.shredded_at is not None)
            for r in conn.execute(
                select(operations.c.id, operations.c.name, operations.c.shredded_at)
            )
            if mine is None or r.id in mine
        ]


def add_site(ctx: Context, op: str, code: str, kind: str) -> None:
    require(ctx.actor, Perm.manage, op)
    check_text("site", code, name="code")
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
    if not (ctx.actor.can(Perm.manage, op) or ctx.actor.can(Perm.manifest, op)):
        require(ctx.actor, Perm.manifest, op)
    if seats <= 0:
        raise RegistryError("must be > 0", field="seats", value=seats)
    check_text("flight", code)
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
    if not name:
        raise RegistryError("give a name of 1 to 100 characters", field="name")
    check_text("user", name, name="name")
    check_text("password", password)
    if len(password) < PASSWORD_MIN:
        raise RegistryError(
            f"user {name}: password too short; use at least {PASSWORD_MIN} characters",
            code="password-short",
            params={"min": PASSWORD_MIN},
        )
    conn.execute(
        insert(users).values(
            name=name, role=role.value, password_hash=hash_password(password), created_at=utcnow()
        )
    )


def check_kind(kind: str) -> None:
    """Refuse a site kind the scenario does not know."""
    if kind not in SITE_KINDS:
        raise RegistryError(f"site kind {kind!r}: use one of {', '.join(SITE_KINDS)}")
