"""The application: :func:`create_app` builds the FastAPI app of ``evacops serve``.

This is the one process that opens the master key (through
:class:`evacops.registry.accounts.Accounts`); no other role needs the key file. Routes are
thin (routers/), every one checked against :data:`evacops.web.security.PERMISSIONS`. Around
them, outermost first: security headers, gzip, per-address rate limits
(:mod:`evacops.web.ratelimit`), request bodies within their limit (:mod:`evacops.web.uploads`),
the answers kept under an ``Idempotency-Key`` (:mod:`evacops.web.idempotency`).
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from evacops.errors import EvacopsError
from evacops.registry.accounts import Accounts
from evacops.web import idempotency, problems, refusals
from evacops.web import security as sec
from evacops.web.config import WebSettings
from evacops.web.deps import authorize
from evacops.web.ratelimit import RateLimit
from evacops.web.replans import Replanner
from evacops.web.uploads import BodyLimit

HERE = Path(__file__).parent


def create_app(settings: WebSettings | None = None, *, accounts: Accounts | None = None) -> FastAPI:
    """The service over the registry of ``settings`` (``accounts``: an open one, for tests)."""
    from evacops.web.routers import ROUTERS, api_routes

    settings = settings or WebSettings()
    app = FastAPI(
        lifespan=_lifespan,
        title="evacops",
        version="1",
        summary="Run an evacuation operation: registry, gates, ramps, arrivals, picture.",
        docs_url="/docs",
        openapi_url="/api/v1/openapi.json",
        dependencies=[Depends(authorize), Depends(idempotency.check)],
    )
    app.state.settings = settings
    app.state.accounts = accounts or Accounts.from_settings(settings.registry_settings())
    app.state.scenario = _scenario(settings)
    app.state.replanner = Replanner(settings.scenario)
    app.state.templates = templates()
    idempotency.install(app)  # innermost: it sees the answer as the route gave it
    app.add_middleware(
        BodyLimit,
        max_upload_bytes=settings.max_upload_bytes,
        max_body_bytes=settings.max_body_bytes,
    )
    app.add_middleware(
        RateLimit,
        login_per_min=settings.rate_login_per_min,
        auth_failures_per_min=settings.rate_auth_failures_per_min,
        api_per_min=settings.rate_api_per_min,
    )
    app.add_middleware(GZipMiddleware, minimum_size=500)
    app.add_middleware(SecurityHeaders)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    problems.install(app)
    _install_page_errors(app)
    undeclared = [r.name for r in api_routes() if r.name not in sec.PERMISSIONS]
    if undeclared:
        raise RuntimeError(f"routes missing from the permission matrix: {undeclared}")
    return app


#: pages load scripts, styles and images from this server only (the API docs at /docs use the
#: CDN FastAPI's Swagger UI comes from, so they are left out)
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


class SecurityHeaders:
    """The security headers of every answer (kept where a route set its own). A plain ASGI
    middleware: ``app.middleware("http")`` (Starlette's BaseHTTPMiddleware) spawned a task
    group per request and per body read, the largest cost of a gate's scan (see
    benchmarks/web_scans.py)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        extra = [("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "same-origin")]
        if not path.startswith("/docs"):
            extra.append(("Content-Security-Policy", CSP))
        if path.startswith(("/api/", "/o/", "/login")):
            extra.append(("Cache-Control", "no-store"))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                h = MutableHeaders(scope=message)
                for k, v in extra:
                    h.setdefault(k, v)
            await send(message)

        await self.app(scope, receive, with_headers)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    frozen = app.state.settings.gc_freeze
    if frozen:
        settle_garbage_collector()
    yield
    if frozen:
        gc.unfreeze()
    app.state.replanner.shutdown()  # re-plans still running are listed as interrupted
    await app.state.accounts.close_loop()  # the scans' pool: closed with the server


def settle_garbage_collector() -> None:
    """Before serving: collect once, then move every object the start-up made (the app, its
    routes, models, templates, the registry's engines and caches, the imported modules) out of
    the collector's sight (``gc.freeze``). A full collection then looks only at what requests
    made since: on this project's 2-core machine a full one took 89-104 ms over the whole heap,
    a pause every scan in flight waited out (the p99 of benchmarks/web_scans.py); frozen, at most
    10 ms (docs/service.md, Measured). Reference counting still frees these objects when they go;
    only cycles among them would be kept, and they live as long as the server anyway."""
    gc.collect()
    gc.freeze()


def _scenario(settings: WebSettings) -> Any:
    if settings.scenario is None:
        return None
    from evacops.scenario import load

    return load(settings.scenario)


def templates() -> Jinja2Templates:
    t = Jinja2Templates(directory=HERE / "templates")
    t.env.autoescape = True
    # ``x|isolate``: a value put into a translated sentence keeps its own order right to left
    t.env.filters["isolate"] = refusals.isolate
    return t


def _install_page_errors(app: FastAPI) -> None:
    @app.exception_handler(problems.NotSignedIn)
    async def _not_signed_in(request: Request, exc: problems.NotSignedIn):
        if request.url.path.startswith("/api/"):
            return problems.problem(401, "Unauthorized", "log in first (POST /api/v1/login)")
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(EvacopsError)
    async def _error(request: Request, exc: EvacopsError):
        if request.url.path.startswith("/api/"):
            return problems.from_error(exc)
        from evacops.web.pages import render_error

        return render_error(request, problems.status_of(exc), exc.problem or str(exc))


def page_response(html: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(html, status_code=status)
