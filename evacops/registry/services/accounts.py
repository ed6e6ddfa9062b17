"""Accounts: log-in with lockout, web sessions with their CSRF token, roles per operation.

- **Log-in** (:func:`login`): Argon2 verify; an unknown name is verified against a dummy hash so
  it costs the same as a wrong password. Every attempt is kept in ``login_attempts`` under an
  HMAC of the name (a key derived from the master key, so the table names nobody); after
  ``login_max_failures`` failures within ``login_window_min`` minutes the name is locked for
  ``login_lock_min`` minutes, whether or not the user exists. Failures, lock-outs and
  successes go to the audit log (the name as its HMAC, never the password).
- **Sessions** (:func:`start_session`): a random token (256 bits) whose SHA-256 is the session's
  id, and a CSRF token whose hash is kept beside it. :func:`session_actor` gives the session's
  user with the roles they hold *now* (expired, idle or ended: None). A session lasts
  ``session_hours`` and ends after ``session_idle_min`` minutes unused, unless its lifetime was
  chosen at log-in (``ttl_min``, an API client's token: the command line's ``evacops login
  --ttl``): then it lasts that long whether used or not, at most ``token_max_hours``.
- **Roles per operation** (:func:`grant`, :func:`revoke_role`): ``memberships``; ``admin`` is the
  global role kept in ``users``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from evacops.errors import AccessDenied, RegistryError
from evacops.registry.security import (
    Actor,
    Perm,
    Role,
    check_password,
    dummy_hash,
    require,
    same_secret,
    token_hash,
)
from evacops.registry.services.context import Context
from evacops.registry.settings import RegistrySettings
from evacops.registry.store import audit as audit_log
from evacops.registry.store.crypto import derive_key
from evacops.registry.store.tables import (
    login_attempts,
    memberships,
    operations,
    users,
    utcnow,
    web_sessions,
)

#: roles that are held per operation (admin is global)
OPERATION_ROLES = tuple(r for r in Role if r != Role.admin)
_TOUCH_EVERY = timedelta(seconds=60)  # last_seen_at is written at most this often


def name_mac(master: bytes, name: str) -> str:
    """The HMAC under which a log-in name is kept and audited (never the name itself)."""
    key = derive_key(master, "login-name")
    return hmac.new(key, name.strip().casefold().encode(), hashlib.sha256).hexdigest()


def load_actor(conn: Connection, name: str, row: Any = None) -> Actor | None:
    """The user ``name`` with the role they hold in each operation now (None: no such user)."""
    if row is None:
        row = conn.execute(select(users).where(users.c.name == name)).mappings().first()
        if row is None:
            return None
    roles = {
        r.operation_id: Role(r.role)
        for r in conn.execute(
            select(memberships.c.operation_id, memberships.c.role).where(
                memberships.c.user_name == name
            )
        )
    }
    return Actor(name, Role(row["role"]), roles=roles)


def login(
    engine: Engine,
    master: bytes,
    name: str,
    password: str,
    *,
    settings: RegistrySettings,
    now: datetime | None = None,
) -> Actor:
    """The user ``name`` if ``password`` is theirs and the name is not locked out; otherwise
    :class:`AccessDenied` (the same words for an unknown user and a wrong password)."""
    now = now or utcnow()
    mac = name_mac(master, name)
    subject = "name-mac:" + mac[:32]
    with engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.name == name)).mappings().first()
        locked_until = _locked_until(conn, mac, now, settings)
    if locked_until is not None:
        with engine.begin() as conn:
            _audit(conn, master, now, "-", "login-locked-out", subject, {})
        minutes = max(1, int((locked_until - now).total_seconds() // 60) + 1)
        raise AccessDenied(f"too many failed log-ins for this name; try again in {minutes} minutes")
    # the same Argon2 work whether or not the user exists
    ok = check_password(row["password_hash"] if row else dummy_hash(), password) and row is not None
    with engine.begin() as conn:
        conn.execute(insert(login_attempts).values(name_mac=mac, at=now, ok=ok))
        if ok:
            _audit(conn, master, now, name, "login", name, {})
            actor = load_actor(conn, name, row)
        else:
            locks = _locked_until(conn, mac, now, settings) is not None
            _audit(conn, master, now, "-", "login-failed", subject, {"locked": locks})
    if not ok:
        raise AccessDenied("unknown user or wrong password")
    assert actor is not None
    return actor


def _audit(
    conn: Connection, master: bytes, now: datetime, actor: str, action: str, subject: str,
    detail: dict,
) -> None:  # fmt: skip
    audit_log.append(conn, key=audit_log.audit_key(master), at=now, actor=actor, action=action,
                     operation=None, subject=subject, detail=detail)  # fmt: skip


def _locked_until(
    conn: Connection, mac: str, now: datetime, settings: RegistrySettings
) -> datetime | None:
    """When the lock on ``mac`` ends, if it is locked at ``now``: the last failure (after the
    last success) was less than ``login_lock_min`` minutes ago and it made
    ``login_max_failures`` failures within ``login_window_min`` minutes. (Attempts while locked
    are not counted, so the failure that locked is the last one.)"""
    A = login_attempts.c
    window = timedelta(minutes=settings.login_window_min)
    lock = timedelta(minutes=settings.login_lock_min)
    last_ok = conn.execute(select(func.max(A.at)).where(A.name_mac == mac, A.ok.is_(True))).scalar()
    since = now - window - lock
    if last_ok is not None and last_ok > since:
        since = last_ok
    fails = (
        conn.execute(
            select(A.at).where(A.name_mac == mac, A.ok.is_(False), A.at > since).order_by(A.at)
        )
        .scalars()
        .all()
    )
    if not fails or fails[-1] + lock <= now:
        return None
    last = fails[-1]
    if sum(1 for f in fails if f > last - window) < settings.login_max_failures:
        return None
    return last + lock


# ---------------------------------------------------------------------------- sessions
def check_ttl(ttl_min: int | None, settings: RegistrySettings) -> None:
    """Refuse a token lifetime (minutes) outside 1 .. ``token_max_hours``."""
    if ttl_min is None:
        return
    most = int(settings.token_max_hours * 60)
    if isinstance(ttl_min, bool) or not isinstance(ttl_min, int) or not 1 <= ttl_min <= most:
        raise RegistryError(
            f"from 1 to {most} minutes on this service (EVACOPS_TOKEN_MAX_HOURS); ask for less",
            field="ttl_min",
            value=ttl_min,
        )


def start_session(
    engine: Engine,
    master: bytes,
    actor: Actor,
    *,
    settings: RegistrySettings,
    now: datetime | None = None,
    ttl_min: int | None = None,
) -> tuple[str, str]:
    """A new session for ``actor`` (always a new token: no session fixation); returns the
    session token and its CSRF token. Only their hashes are stored. ``ttl_min``: a lifetime
    chosen at log-in (see the module), checked by :func:`check_ttl`."""
    if actor.device is not None:
        raise RegistryError("a device uses its device token, not a session")
    check_ttl(ttl_min, settings)
    now = now or utcnow()
    life = timedelta(minutes=ttl_min) if ttl_min else timedelta(hours=settings.session_hours)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    sid = token_hash(token)
    with engine.begin() as conn:
        conn.execute(
            insert(web_sessions).values(
                id=sid,
                user_name=actor.name,
                created_at=now,
                expires_at=now + life,
                last_seen_at=now,
                csrf_hash=token_hash(csrf),
                idle_min=ttl_min,
            )
        )
        detail = {"session": sid[:12], **({"ttl_min": ttl_min} if ttl_min else {})}
        _audit(conn, master, now, actor.name, "session-started", actor.name, detail)
    return token, csrf


def _live_session(conn: Connection, token: str, now: datetime, settings: RegistrySettings):
    if not token or len(token) > 200:
        return None
    row = (
        conn.execute(select(web_sessions).where(web_sessions.c.id == token_hash(token)))
        .mappings()
        .first()
    )
    if row is None or row["ended_at"] is not None or row["expires_at"] <= now:
        return None
    idle = row["idle_min"] or settings.session_idle_min
    if row["last_seen_at"] + timedelta(minutes=idle) <= now:
        return None
    return row


def session_expiry(
    engine: Engine, token: str, *, settings: RegistrySettings
) -> tuple[datetime, float] | None:
    """When the session ``token`` ends at the latest and the minutes unused that end it sooner
    (None: no such session)."""
    with engine.connect() as conn:
        row = conn.execute(
            select(web_sessions.c.expires_at, web_sessions.c.idle_min).where(
                web_sessions.c.id == token_hash(token)
            )
        ).first()
    if row is None:
        return None
    return row.expires_at, row.idle_min or settings.session_idle_min


def session_actor(
    engine: Engine, token: str, *, settings: RegistrySettings, now: datetime | None = None
) -> Actor | None:
    """The user of a live session, with their roles as they are now; None when the session is
    unknown, ended, expired or idle too long."""
    now = now or utcnow()
    with engine.connect() as conn:
        row = _live_session(conn, token, now, settings)
        if row is None:
            return None
        actor = load_actor(conn, row["user_name"])
    if actor is not None and now - row["last_seen_at"] >= _TOUCH_EVERY:
        with engine.begin() as conn:
            conn.execute(
                update(web_sessions).where(web_sessions.c.id == row["id"]).values(last_seen_at=now)
            )
    return actor


def end_session(engine: Engine, master: bytes, token: str, *, now: datetime | None = None) -> bool:
    """End a session (log-out); True if it was live."""
    now = now or utcnow()
    sid = token_hash(token)
    with engine.begin() as conn:
        row = conn.execute(
            select(web_sessions.c.user_name).where(
                web_sessions.c.id == sid, web_sessions.c.ended_at.is_(None)
            )
        ).first()
        if row is None:
            return False
        conn.execute(update(web_sessions).where(web_sessions.c.id == sid).values(ended_at=now))
        who = row.user_name
        _audit(conn, master, now, who, "session-ended", who, {"session": sid[:12]})
    return True


def check_csrf(
    engine: Engine,
    session_token: str,
    csrf: str | None,
    *,
    settings: RegistrySettings,
    now: datetime | None = None,
) -> bool:
    """True if ``csrf`` is the CSRF token of the live session ``session_token`` (compared in
    constant time)."""
    if not csrf or len(csrf) > 200:
        return False
    with engine.connect() as conn:
        row = _live_session(conn, session_token, now or utcnow(), settings)
    return row is not None and same_secret(row["csrf_hash"], token_hash(csrf))


# ---------------------------------------------------------------------------- roles per operation
def _role(role: str) -> Role:
    try:
        r = Role(role)
    except ValueError:
        r = None
    if r is None or r == Role.admin:
        raise RegistryError(
            f"not a role in an operation; use one of {', '.join(OPERATION_ROLES)} "
            "(admin is global: 'evacops registry user add --role admin')",
            field="role",
            value=role,
            code="not-an-operation-role",
        )
    return r


def grant(ctx: Context, op: str, user: str, role: str) -> None:
    """Give ``user`` the role ``role`` in operation ``op`` (replacing the role they had)."""
    require(ctx.actor, Perm.manage, op)
    r = _role(role)
    with ctx.write() as conn:
        ctx.operation(conn, op)
        _user(conn, user)
        M = memberships.c
        conn.execute(delete(memberships).where(M.user_name == user, M.operation_id == op))
        conn.execute(
            insert(memberships).values(
                user_name=user, operation_id=op, role=r.value, granted_at=ctx.clock(),
                granted_by=ctx.actor.name,
            )
        )  # fmt: skip
        ctx.audit(conn, "role-granted", op, user, {"role": r.value})


def grant_in(conn: Connection, ops: list[str], user: str, role: Role, by: str, at: datetime):
    """``user`` gets ``role`` in each of ``ops`` (inside the caller's transaction)."""
    if ops:
        conn.execute(
            insert(memberships),
            [dict(user_name=user, operation_id=o, role=role.value, granted_at=at, granted_by=by)
             for o in ops],
        )  # fmt: skip


def all_operations(conn: Connection) -> list[str]:
    return list(conn.execute(select(operations.c.id).order_by(operations.c.id)).scalars())


def revoke_role(ctx: Context, op: str, user: str) -> bool:
    """Take away ``user``'s role in ``op`` (their live sessions lose it at once); True if they
    had one."""
    require(ctx.actor, Perm.manage, op)
    with ctx.write() as conn:
        M = memberships.c
        n = conn.execute(
            delete(memberships).where(M.user_name == user, M.operation_id == op)
        ).rowcount
        if n:
            ctx.audit(conn, "role-revoked", op, user, {})
    return bool(n)


def members(ctx: Context, op: str) -> list[dict[str, Any]]:
    """Who holds which role in ``op`` (admins hold every operation and are not listed)."""
    require(ctx.actor, Perm.manage, op)
    M = memberships.c
    with ctx.read() as conn:
        return [
            {"user": r.user_name, "role": r.role, "granted_at": r.granted_at,
             "granted_by": r.granted_by}
            for r in conn.execute(
                select(M.user_name, M.role, M.granted_at, M.granted_by)
                .where(M.operation_id == op)
                .order_by(M.user_name)
            )
        ]  # fmt: skip


def _user(conn: Connection, name: str) -> Any:
    row = conn.execute(select(users.c.name, users.c.role).where(users.c.name == name)).first()
    if row is None:
        raise RegistryError("no such user", field="user", value=name, code="no-such-user")
    if row.role == Role.admin:
        raise RegistryError(
            "is an admin (every operation already)", field="user", value=name, code="user-is-admin"
        )
    return row
