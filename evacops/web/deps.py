"""Shared dependencies: who calls (a session cookie for pages, ``Authorization: Bearer`` for the
API: a device token ``evd_...`` or a session token from ``POST /api/v1/login``), the registry as
them, and the one check of :data:`evacops.web.security.PERMISSIONS` on every route.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio
import anyio.to_thread
from fastapi import Depends, Request
from sqlalchemy.util import greenlet_spawn
from starlette.concurrency import run_in_threadpool

from evacops.errors import AccessDenied
from evacops.registry.accounts import Accounts
from evacops.registry.security import Actor, Perm
from evacops.registry.service import Registry
from evacops.registry.services.context import Caches
from evacops.web import security as sec
from evacops.web.problems import NotSignedIn

T = TypeVar("T")


@dataclass
class Caller:
    """The acting user or device of one request."""

    actor: Actor
    registry: Registry
    via: str  # "cookie" or "bearer"
    session: str | None = None  # the session token (cookie or bearer), for log-out

    @property
    def is_device(self) -> bool:
        return self.actor.device is not None


def accounts(request: Request) -> Accounts:
    return request.app.state.accounts


def _bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def caches(request: Request) -> Caches:
    """The registry caches this server process shares between its requests (opened data keys,
    public keys, site kinds, the audit key: :class:`Caches`), made on first use."""
    state = request.app.state
    shared = getattr(state, "registry_caches", None)
    if shared is None:
        shared = state.registry_caches = Caches()
    return shared


async def scanning(request: Request, actor: Actor, work: Callable[[Registry], T]) -> T:
    """Run a scan's ``work`` (blocking: the database) with the registry as ``actor``.

    On PostgreSQL on the event loop (:attr:`Accounts.loop`): each statement's wait for the
    database lets the loop serve other requests; at most ``scan_tasks`` at once. On SQLite in
    a worker thread, at most ``scan_threads`` at once in this process (the rest wait for a
    turn, in order): a gate sends many small requests, each a few round trips to the database,
    and with one thread per request each round trip waited for the interpreter's lock behind
    the others (docs/service.md, Scans take turns)."""
    state = request.app.state
    acc = accounts(request)
    loop = acc.loop
    if loop is not None:
        turns = getattr(state, "scan_turns", None)
        if turns is None:
            turns = state.scan_turns = anyio.CapacityLimiter(state.settings.scan_tasks)
        async with turns:
            return await greenlet_spawn(work, _as(loop, actor, request))
    limiter = getattr(state, "scan_limiter", None)
    if limiter is None:
        limiter = state.scan_limiter = anyio.CapacityLimiter(state.settings.scan_threads)
    return await anyio.to_thread.run_sync(work, _as(acc, actor, request), limiter=limiter)


def _as(acc: Accounts, actor: Actor, request: Request) -> Registry:
    """The registry as ``actor`` for one request, over the process's shared caches."""
    reg = acc.registry(actor)
    reg.ctx.share(caches(request))
    return reg


async def _device(acc: Accounts, token: str, request: Request) -> Caller | None:
    """The device of a token ``evd_...``, or None. Checked against the database (one indexed
    read of its SHA-256, no slow hash, the token being 256 random bits), at most every
    :data:`evacops.registry.services.devices.RECHECK_S` for a live token (a revoked one is
    refused at once by the process that revoked it). On PostgreSQL the read waits on the event loop
    (:attr:`Accounts.loop`); on SQLite it is done on the event loop: a gate sends many small
    requests, and a hop to the thread pool and back cost more than the read itself."""
    loop = acc.loop
    try:
        if loop is None:
            device = acc.device_actor(token)
        else:
            device = await greenlet_spawn(loop.device_actor, token)
    except AccessDenied:
        return None
    return Caller(device, _as(acc, device, request), "bearer")


def _resolve(acc: Accounts, request: Request) -> Caller | None:
    """The caller of a session (a bearer token or the cookie), or None when no live session
    comes with the request."""
    token = _bearer(request)
    if token is not None:
        user = acc.session_actor(token)
        return Caller(user, _as(acc, user, request), "bearer", token) if user else None
    cookie = request.cookies.get(sec.SESSION_COOKIE)
    if cookie:
        user = acc.session_actor(cookie)
        if user is not None:
            return Caller(user, _as(acc, user, request), "cookie", cookie)
    return None


async def _csrf_token(request: Request) -> str | None:
    header = request.headers.get(sec.CSRF_HEADER)
    if header:
        return header
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(sec.CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def refused(c: Caller, op: str | None, route: str, why: str) -> None:
    """A refused request in the audit log: who, the route, what was missing (never a value
    from the request)."""
    ctx = c.registry.ctx
    with ctx.write() as conn:
        ctx.audit(conn, "refused", op if op and c.actor.role_in(op) else None, route, {"need": why})


async def authorize(request: Request) -> Caller | None:
    """Enforce the route's entry in :data:`~evacops.web.security.PERMISSIONS`: the caller (None
    on a public route without one), CSRF on unsafe methods sent with the cookie, and the
    permission in the path's operation."""
    route = request.scope["route"]
    need = sec.PERMISSIONS[route.name]
    acc = accounts(request)
    token = _bearer(request)
    if token is not None and token.startswith("evd_"):
        caller = await _device(acc, token, request)
    else:
        caller = await run_in_threadpool(_resolve, acc, request)
    if need == sec.PUBLIC:
        return caller
    if caller is None:
        raise NotSignedIn()
    if request.method in sec.UNSAFE_METHODS and caller.via == "cookie":
        token = await _csrf_token(request)
        ok = await run_in_threadpool(acc.check_csrf, caller.session or "", token)
        if not ok:
            op = request.path_params.get("op")
            await run_in_threadpool(refused, caller, op, route.name, "csrf")
            raise AccessDenied(
                "the form's CSRF token is missing or stale; reload the page", field="csrf"
            )
    if need != sec.SIGNED_IN:
        op = request.path_params.get("op")
        if not caller.actor.can(Perm(need), op):
            role = caller.actor.role_in(op)
            await run_in_threadpool(refused, caller, op, route.name, str(need))
            where = f"operation {op}" if op else "this server"
            raise AccessDenied(
                f"your role in {where} may not {need}", field="role", value=str(role or "none")
            )
    return caller


# ``async``: they only hand on what authorize found (a plain ``def`` dependency would cost a
# hop to the thread pool and back on every request)
async def caller(c: Caller | None = Depends(authorize)) -> Caller:
    """The signed-in caller of a non-public route (authorize has checked it)."""
    assert c is not None
    return c


async def registry(c: Caller = Depends(caller)) -> Registry:
    return c.registry
