"""``evacops login`` and ``evacops logout``: the command line's log-in at the service.

``evacops login --url https://SERVER:PORT`` asks for the name and password (or takes
``EVACOPS_USER`` / ``EVACOPS_PASSWORD``), logs in through ``POST /api/v1/login`` (the service's
lockout and audit apply) and keeps the token in ``$XDG_CONFIG_HOME/evacops/token`` (mode 0600).
From then on ``evacops registry ...`` acts through the service (:mod:`evacops.client`).
``evacops logout`` ends the session on the service and deletes the file.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from typing import Annotated

import typer

from evacops.cli.output import err, fail, guard, out

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


@guard
def login(
    url: UrlOpt = None,
    user: Annotated[
        str | None, typer.Option("--user", help="your name at the service (or asked for)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Log in at the service; the registry commands then act through it, as you."""
    from evacops import client

    if not url:
        fail("which service? give --url https://SERVER:PORT or set EVACOPS_URL")
    name = user or _ask("Name", "EVACOPS_USER", secret=False)
    password = _ask("Password", "EVACOPS_PASSWORD", secret=True)
    path = client.login(url, name, password)
    if _in_clear(url):
        err.print(
            f"warning: {url} is not HTTPS: the password and the token crossed the network in "
            "clear; use the service's https address (docs/service.md, TLS)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    if as_json:
        print(json.dumps({"url": client.normal_url(url), "user": name, "token_file": str(path)}))
        return
    out.print(
        f"Logged in at {client.normal_url(url)} as {name} (token in {path}).", highlight=False
    )


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
