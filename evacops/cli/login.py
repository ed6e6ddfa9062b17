"""``evacops login`` and ``evacops logout``: the command line's log-in at the service.

``evacops login --url https://SERVER:PORT`` asks for the name and password (or takes
``EVACOPS_USER`` / ``EVACOPS_PASSWORD``), logs in through ``POST /api/v1/login`` (the service's
lockout and audit apply) and keeps the token in ``$XDG_CONFIG_HOME/evacops/token`` (mode 0600).
The token is a session like the pages' (it ends after ``EVACOPS_SESSION_IDLE_MIN`` minutes
unused), or, with ``--ttl 8h``, lasts that long whether used or not (for a shift of scripted
work; the service refuses more than its ``EVACOPS_TOKEN_MAX_HOURS``).
From then on ``evacops registry ...`` acts through the service (:mod:`evacops.client`).
``evacops logout`` ends the session on the service and deletes the file.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import sys
from datetime import datetime
from typing import Annotated

import typer

from evacops.cli.output import err, fail, guard, out
from evacops.errors import RegistryError

UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url", envvar="EVACOPS_URL", help="the service, https://HOST:PORT (or EVACOPS_URL)"
    ),
]


def _ask(prompt: str, env: str, secret: bool) -> str:
    value = os.environ.get(env)
    if value:
        return value
    if not sys.stdin.isatty():
        fail(f"no {prompt.lower()}: set {env} or run in a terminal to be asked")
    if secret:
        return getpass.getpass(f"{prompt}: ")
    return input(f"{prompt}: ").strip()


def _in_clear(url: str) -> bool:
    """Plain HTTP to another host than this one."""
    from urllib.parse import urlsplit

    parts = urlsplit(url.strip())
    return parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1")


def ttl_minutes(text: str) -> int:
    """``--ttl``: minutes or hours as ``90m``, ``8h`` (a plain number: hours)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([mh]?)\s*", text.lower())
    minutes = float(m.group(1)) * (1 if m.group(2) == "m" else 60) if m else 0
    if minutes < 1 or minutes != int(minutes):
        fail(f"--ttl {text}: give whole minutes or hours, e.g. 90m or 8h")
    return int(minutes)


@guard
def login(
    url: UrlOpt = None,
    user: Annotated[
        str | None, typer.Option("--user", help="your name at the service (or asked for)")
    ] = None,
    ttl: Annotated[
        str | None,
        typer.Option(
            "--ttl",
            help="keep the token this long, used or not (90m, 8h; the service caps it); "
            "default: it ends after the service's idle time unused",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Log in at the service; the registry commands then act through it, as you."""
    from evacops import client

    if not url:
        fail("which service? give --url https://SERVER:PORT or set EVACOPS_URL")
    ttl_min = ttl_minutes(ttl) if ttl is not None else None
    name = user or _ask("Name", "EVACOPS_USER", secret=False)
    password = _ask("Password", "EVACOPS_PASSWORD", secret=True)
    try:
        done = client.login(url, name, password, ttl_min=ttl_min)
    except RegistryError as exc:
        if exc.field != "ttl_min":
            raise
        fail(f"--ttl {ttl}: {exc.problem}")
    path = done["token_file"]
    if _in_clear(url):
        err.print(
            f"warning: {url} is not HTTPS: the password and the token crossed the network in "
            "clear; use the service's https address (docs/service.md, TLS)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    where = client.normal_url(url)
    if as_json:
        shown = {"url": where, "user": name, "token_file": str(path)}
        print(json.dumps({**shown, "expires_at": done["expires_at"], "idle_min": done["idle_min"]}))
        return
    ends = _ends(done, ttl_min)
    out.print(f"Logged in at {where} as {name} (token in {path}; {ends}).", highlight=False,
              soft_wrap=True)  # fmt: skip


def _ends(done: dict, ttl_min: int | None) -> str:
    """When the token ends, in words."""
    at = done.get("expires_at")
    until = datetime.fromisoformat(at).strftime("%Y-%m-%d %H:%M UTC") if at else "?"
    if ttl_min is not None:
        return f"valid until {until}, or 'evacops logout'"
    return f"ends after {done.get('idle_min'):g} minutes unused, at {until} at the latest"


@guard
def logout(
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """End your session at the service and forget its token."""
    from evacops import client

    done = client.logout()
    if as_json:
        print(json.dumps(done))
    elif not done["logged_out"]:
        out.print("Not logged in.", highlight=False)
    else:
        where = (
            "" if done["ended_on_server"] else " (the service did not answer: it ends by itself)"
        )
        out.print(f"Logged out of {done['url']}{where}.", highlight=False)
