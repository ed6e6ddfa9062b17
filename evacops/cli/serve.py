"""``evacops serve``: the web service and API (FastAPI on uvicorn); see docs/service.md.

The server is the one process that opens the master key (``EVACOPS_KEY_FILE``); the database is
``EVACOPS_DATABASE_URL`` (SQLite by default; PostgreSQL for several hosts).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from evacops.cli.output import fail, out
from evacops.errors import EvacopsError


def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="worker processes (each its own caches and rate limits; with SQLite they write "
            "in turn, on this host only)",
        ),
    ] = 1,
    tls_cert: Annotated[Path | None, typer.Option(help="TLS certificate (PEM)")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="TLS private key (PEM)")] = None,
    access_log: Annotated[
        bool,
        typer.Option(
            "--access-log/--no-access-log",
            help="log a line per request (method, path, status; off by default: at hundreds of "
            "scans a second it costs the server time and fills the disk)",
        ),
    ] = False,
) -> None:
    """Serve the operation: pages for every role and the API at /api/v1 (OpenAPI at /docs)."""
    import os

    import uvicorn

    from evacops.web.config import WebSettings

    if (tls_cert is None) != (tls_key is None):
        fail("--tls-cert and --tls-key go together")
    for flag, f in (("--tls-cert", tls_cert), ("--tls-key", tls_key)):
        if f is not None and not f.is_file():
            fail(f"{flag} {f}: no such file")
    settings = WebSettings()
    if tls_cert is not None:
        os.environ.setdefault("EVACOPS_COOKIE_SECURE", "true")
    os.environ.setdefault("EVACOPS_GC_FREEZE", "true")  # every worker: docs/service.md
    from evacops.registry.store.db import check_schema, make_engine

    try:
        check_schema(make_engine(settings.database_url))
    except EvacopsError as exc:  # the registry words its own errors
        fail(f"EVACOPS_DATABASE_URL: {exc}")
    scheme = "https" if tls_cert else "http"
    out.print(f"evacops: serving on {scheme}://{host}:{port}  (API docs: /docs)", highlight=False)
    uvicorn.run(
        "evacops.web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        proxy_headers=True,
        log_level="info",
        access_log=access_log,
    )
