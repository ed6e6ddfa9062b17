"""Errors as ``application/problem+json`` (RFC 9457), never holding personal data.

An :class:`evacops.errors.EvacopsError` is worded from its parts: ``detail`` is the problem,
``field`` names the input (a JSON member or form field) and ``value`` is repeated only when it is
not personal (a role, an action, a number: never free text a person typed about a person).
Validation errors name the member and the rule, never the value sent. A refusal a person at a
gate, the ramp or arrival may be shown adds ``code`` (its stable machine name) and ``params``
(the values its words need, none personal): a client shows its own words for the code, in its
user's language (the pages do: :mod:`evacops.web.refusals`); ``detail`` stays in English.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from evacops.errors import (
    AccessDenied,
    CredentialError,
    EvacopsError,
    RateLimited,
    RegistrationFileError,
    UserError,
)

PROBLEM = "application/problem+json"
#: fields whose value may be echoed back (not personal)
_ECHO = frozenset(
    {
        "role",
        "action",
        "kind",
        "status",
        "seq",
        "limit",
        "site",
        "flight",
        "operation",
        "resolution",
        "device",
        "threshold",
    }
)


class NotSignedIn(Exception):
    """No live session or token: a page sends the browser to log in, the API answers 401."""


def problem(status: int, title: str, detail: str = "", **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def status_of(exc: EvacopsError) -> int:
    if isinstance(exc, AccessDenied):
        return 403
    if isinstance(exc, RateLimited):
        return 429
    if isinstance(exc, CredentialError):
        return 409
    if isinstance(exc, UserError):
        return 422
    return 500


def from_error(exc: EvacopsError) -> JSONResponse:
    status = status_of(exc)
    extra: dict[str, Any] = {"field": exc.field}
    if exc.field in _ECHO and isinstance(exc.value, str | int | float):
        extra["value"] = exc.value
    if isinstance(exc, RegistrationFileError):
        extra["problems"] = exc.problems
    if exc.code is not None:
        extra["code"] = exc.code
        if exc.params:
            extra["params"] = exc.params
    titles = {403: "Forbidden", 409: "Conflict", 422: "Unprocessable", 429: "Too Many Requests"}
    title = titles.get(status, "Error")
    return problem(status, title, exc.problem or str(exc), **extra)


def install(app: FastAPI) -> None:
    """The exception handlers of the API (pages render their own errors)."""

    @app.exception_handler(EvacopsError)
    async def _evacops(request: Request, exc: EvacopsError):
        return from_error(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        errors = [
            {
                "field": ".".join(str(p) for p in e["loc"][1:]) or str(e["loc"][0]),
                "problem": e["msg"],
            }
            for e in exc.errors()
        ]
        return problem(422, "Unprocessable", "the request is not valid", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return problem(exc.status_code, _TITLES.get(exc.status_code, "Error"), str(exc.detail))


_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
    429: "Too Many Requests",
}
