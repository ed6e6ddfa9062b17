"""Request bodies within their limit, refused while they are read: :class:`BodyLimit` (ASGI
middleware) and :func:`save_upload` (an uploaded file to a private temporary file, in chunks).

A request declaring a ``Content-Length`` over its limit is answered 413 before a byte of its body
is read. One without (chunked) or one that lies is counted as it arrives: at the first chunk past
the limit the reading stops, whatever the application was doing with the body is dropped, and
the answer is 413. So an upload costs the server at most its limit, never the whole body sent.

Limits: a ``multipart/form-data`` body (a file upload) may take ``max_upload_bytes`` plus
:data:`evacops.registry.limits.MULTIPART_OVERHEAD_BYTES` for the form's other fields and the
part headers; any other body ``max_body_bytes``. The file itself is checked again against
``max_upload_bytes`` once received (:func:`save_upload`), and the import's own limits
(:mod:`evacops.registry.limits`) apply before it is parsed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.datastructures import UploadFile
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from evacops.errors import UserError
from evacops.registry.limits import MULTIPART_OVERHEAD_BYTES
from evacops.web.problems import problem

CHUNK_BYTES = 1024 * 1024


class BodyTooLarge(Exception):
    """Raised into the application when the body passes its limit (it stops the parser)."""


class UploadTooLarge(UserError):
    """An uploaded file over ``max_upload_bytes`` (answered 413)."""


class BodyLimit:
    """Refuse a request body over its limit with 413, while it is read (see the module)."""

    def __init__(self, app: ASGIApp, *, max_upload_bytes: int, max_body_bytes: int):
        self.app = app
        self.max_upload_bytes = max_upload_bytes
        self.max_body_bytes = max_body_bytes

    def limit_of(self, scope: Scope) -> int:
        ctype = _header(scope, b"content-type") or ""
        if ctype.startswith("multipart/form-data"):
            return self.max_upload_bytes + MULTIPART_OVERHEAD_BYTES
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit_of(scope)
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _refuse(scope, send, limit)
            return
        state = {"seen": 0, "over": False, "started": False}

        async def counted() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                state["seen"] += len(message.get("body", b""))
                if state["seen"] > limit:
                    state["over"] = True
                    raise BodyTooLarge()
            return message

        async def guarded(message: Message) -> None:
            if state["over"]:
                return  # the application's answer to a body cut short is replaced
            state["started"] = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except BodyTooLarge:
            pass
        except Exception:
            if not state["over"]:
                raise
        if state["over"] and not state["started"]:
            await _refuse(scope, send, limit)


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", ()):
        if k == name:
            return v.decode("latin-1")
    return None


async def _refuse(scope: Scope, send: Send, limit: int) -> None:
    response = problem(
        413,
        "Content Too Large",
        f"the request body is larger than the {limit:,} bytes this server accepts",
        limit=limit,
    )
    response.headers["Connection"] = "close"

    async def _receive() -> Message:  # the body is not read any further
        return {"type": "http.disconnect"}

    await response(scope, _receive, send)


def save_upload(file: UploadFile, folder: Path, suffix: str, limit: int) -> Path:
    """Copy the uploaded ``file`` (already spooled by the parser, within the body's limit) to a
    private file in ``folder``, in chunks; :class:`UploadTooLarge` if it is over ``limit`` bytes."""
    path = folder / ("upload" + suffix)
    written = 0
    with path.open("wb") as out:
        path.chmod(0o600)
        src: Any = file.file
        src.seek(0)
        while chunk := src.read(CHUNK_BYTES):
            written += len(chunk)
            if written > limit:
                raise UploadTooLarge(f"the file is larger than {limit:,} bytes", field="file")
            out.write(chunk)
    return path
