"""``Idempotency-Key`` on every write of the API: a request sent again with the same key gets
the first one's answer, and is not done twice.

Every POST, PUT, PATCH and DELETE under ``/api/v1`` by a signed-in caller (user or device) may
carry ``Idempotency-Key`` (1 to 100 characters, chosen by the client: a UUID). Routes whose
service takes the key as the id of its own event answer retries themselves and are left out
(:data:`OWN_KEY`: a scan, a roll-call, a registration). For the others, the first request with a
key (per caller: a user or a device) is kept in ``idempotency_keys`` with a digest of the request
(method, path, query, body):

- the same key and the same request again: the stored answer, status and body, with the header
  ``Idempotent-Replayed: true``; nothing is done again;
- the same key with another request: 422 problem+json (a key names one request);
- the same key while the first request is still running, or after it was cut short between the
  service's commit and the storing of its answer (a crash): 409 problem+json. The key then
  stays unusable until it expires: the request may or may not have been done, so it is not done
  again; the client looks (a GET) and sends it under a new key if it must;
- an answer other than 2xx is not kept (the service's transaction was rolled back): the key
  is free again.

Answers are kept ``EVACOPS_IDEMPOTENCY_HOURS`` (24 by default), then deleted. **No personal data
in clear**: a stored body is sealed with AES-GCM under the operation's data key (the registry's
:class:`~evacops.registry.store.crypto.FieldCipher`, bound to the caller and key), so a shred of
the operation makes its stored answers unreadable with everything else (a replay after a shred
is 409); an answer outside any operation (log-out) is sealed under a key derived from the master
key. Only the route, the digest and the status are in clear, and a shred of the operation takes
the digest and the sealed answer away (:mod:`evacops.registry.services.shred`): the key stays
used and answers 409.

Two parts: :func:`check` (an application dependency, after the caller is known) looks the key up
and either replays (raising :class:`Replay`) or marks the key as running; :class:`Idempotency`
(ASGI middleware) stores the answer of a marked request before it is sent.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import delete, insert, select, update
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from evacops.errors import RegistryError, UserError
from evacops.registry.services.context import Context
from evacops.registry.services.shred import SHREDDED
from evacops.registry.store.crypto import derive_key
from evacops.registry.store.db import integrity_errors
from evacops.registry.store.tables import idempotency_keys as K
from evacops.web import problems
from evacops.web.deps import Caller, authorize
from evacops.web.security import UNSAFE_METHODS

HEADER = "idempotency-key"
KEY_MAX = 100
#: routes whose service takes the key as the id of its own event (retries answered there)
OWN_KEY = frozenset({"api_scan", "api_rollcall", "api_register"})
PURGE_EVERY_S = 600.0
_NONCE = 12


@dataclass
class Pending:
    """A request marked as running under its key (in ``request.state.idempotency``)."""

    ctx: Context
    caller: str
    key: str
    op: str | None


class Replay(Exception):
    """The stored answer of a request already done under the same key."""

    def __init__(self, status: int, body: bytes):
        self.status, self.body = status, body


class KeyInUse(Exception):
    """The key's first request is running, or was cut short."""


def caller_id(c: Caller) -> str:
    return f"d:{c.actor.device}" if c.actor.device else f"u:{c.actor.name}"


async def _digest(request: Request) -> str:
    """The request as sent: method, path, query and body (a form: its fields and files)."""
    h = hashlib.sha256(f"{request.method}\n{request.url.path}?{request.url.query}\n".encode())
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form()  # already parsed for the route: cached
        for name, value in sorted(form.multi_items(), key=lambda kv: kv[0]):
            h.update(f"{name}\n".encode())
            if isinstance(value, UploadFile):
                h.update(f"{value.filename}\n".encode())
                h.update(await run_in_threadpool(_file_digest, value))
            else:
                h.update(value.encode())
    else:
        h.update(await request.body())
    return h.hexdigest()


def _file_digest(f: UploadFile) -> bytes:
    d = hashlib.sha256()
    f.file.seek(0)
    while chunk := f.file.read(1024 * 1024):
        d.update(chunk)
    f.file.seek(0)
    return d.digest()


async def check(request: Request, c: Caller | None = Depends(authorize)) -> None:
    """The dependency: replay, refuse, or mark the request as running under its key."""
    key = request.headers.get(HEADER)
    if key is None or c is None or request.method not in UNSAFE_METHODS:
        return
    route = request.scope["route"].name
    if route in OWN_KEY or not request.url.path.startswith("/api/v1/"):
        return
    if not 0 < len(key) <= KEY_MAX:
        raise UserError(f"Idempotency-Key: 1 to {KEY_MAX} characters", field="Idempotency-Key")
    digest = await _digest(request)
    op = request.path_params.get("op")
    hours = request.app.state.settings.idempotency_hours
    pending = Pending(c.registry.ctx, caller_id(c), key, op)
    await run_in_threadpool(_begin, pending, route, digest, hours)
    request.state.idempotency = pending


def _begin(p: Pending, route: str, digest: str, hours: float) -> None:
    ctx = p.ctx
    now = ctx.clock()
    where = (K.c.caller == p.caller, K.c.key == p.key)
    try:
        with ctx.write() as conn:
            row = conn.execute(select(K).where(*where)).mappings().first()
            if row is not None and row["expires_at"] <= now:
                conn.execute(delete(K).where(*where))
                row = None
            if row is None:
                conn.execute(
                    insert(K).values(
                        caller=p.caller, key=p.key, route=route, operation_id=p.op,
                        request_hash=digest, created_at=now,
                        expires_at=now + timedelta(hours=hours),
                    )
                )  # fmt: skip
                return
    except integrity_errors():  # the same key sent twice at once: the other one runs
        raise KeyInUse() from None
    if row["request_hash"] == SHREDDED:  # its operation was shredded: the answer is gone
        raise KeyInUse()
    if row["request_hash"] != digest:
        raise UserError(
            "Idempotency-Key: this key was used for another request; send a new key",
            field="Idempotency-Key",
        )
    if row["status"] is None or row["response_enc"] is None:
        raise KeyInUse()
    body = _open(ctx, p, row["response_enc"])
    raise Replay(row["status"], body)


def _where(p: Pending) -> str:
    return f"idempotency_keys|{p.caller}|{p.key}|response"


def _seal(ctx: Context, conn: Any, p: Pending, body: bytes) -> bytes:
    if p.op is not None:
        sealed = ctx.cipher(conn, p.op).seal(body.decode(), _where(p))
        assert sealed is not None
        return sealed
    nonce = os.urandom(_NONCE)
    aead = AESGCM(derive_key(ctx.need_master(), "idempotency"))
    return nonce + aead.encrypt(nonce, body, _where(p).encode())


def _open(ctx: Context, p: Pending, sealed: bytes) -> bytes:
    try:
        if p.op is not None:
            with ctx.read() as conn:
                return (ctx.cipher(conn, p.op).open(sealed, _where(p)) or "").encode()
        aead = AESGCM(derive_key(ctx.need_master(), "idempotency"))
        return aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], _where(p).encode())
    except RegistryError:  # shredded (or altered): the answer is gone
        raise KeyInUse() from None


_last_purge = [0.0]


def finish(p: Pending, status: int, body: bytes | None) -> None:
    """Keep a 2xx answer under its key; free the key of any other (nothing was done)."""
    ctx = p.ctx
    where = (K.c.caller == p.caller, K.c.key == p.key)
    with ctx.write() as conn:
        if body is not None and 200 <= status < 300:
            sealed = _seal(ctx, conn, p, body)
            conn.execute(update(K).where(*where).values(status=status, response_enc=sealed))
        else:
            conn.execute(delete(K).where(*where))
        if time.monotonic() - _last_purge[0] > PURGE_EVERY_S:
            _last_purge[0] = time.monotonic()
            conn.execute(delete(K).where(K.c.expires_at <= ctx.clock()))


class Idempotency:
    """Store the answer of a request :func:`check` marked, before it is sent (see the module)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in UNSAFE_METHODS
            or not any(k == b"idempotency-key" for k, _v in scope.get("headers", ()))
        ):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        held: list[Message] = []

        async def hold(message: Message) -> None:
            if "idempotency" in state:
                held.append(message)
            else:
                await send(message)

        try:
            await self.app(scope, receive, hold)
        except BaseException:
            if "idempotency" in state:
                await run_in_threadpool(finish, state["idempotency"], 500, None)
            raise
        if "idempotency" not in state:
            return
        start = next((m for m in held if m["type"] == "http.response.start"), None)
        status = start["status"] if start else 500
        body = b"".join(m.get("body", b"") for m in held if m["type"] == "http.response.body")
        await run_in_threadpool(finish, state["idempotency"], status, body)
        for m in held:
            await send(m)


def install(app: FastAPI) -> None:
    """The middleware and the answers of :class:`Replay` and :class:`KeyInUse`."""
    app.add_middleware(Idempotency)

    @app.exception_handler(Replay)
    async def _replay(request: Request, exc: Replay):
        headers = {"Idempotent-Replayed": "true"}
        return Response(exc.body, exc.status, headers=headers, media_type="application/json")

    @app.exception_handler(KeyInUse)
    async def _in_use(request: Request, exc: KeyInUse):
        return problems.problem(
            409,
            "Conflict",
            "Idempotency-Key: the first request with this key is running, or was cut short "
            "and may or may not have been done; look before sending it again under a new key",
            field="Idempotency-Key",
        )
