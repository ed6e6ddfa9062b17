"""``evacops registry``: the evacuee registry from the command line (thin: calls the service).

Who acts: ``--user`` (or ``EVACOPS_USER``), password from ``EVACOPS_PASSWORD`` or asked for.
Which operation: ``--operation`` (or ``EVACOPS_OPERATION``; default: the only one). Database and
key file: ``EVACOPS_DATABASE_URL`` and ``EVACOPS_KEY_FILE`` (docs/registry.md).

**Here or through the service** (:func:`open_for`, the one place that chooses): with ``--url`` or
``EVACOPS_URL`` the commands the operation's roles use call the service's API as the user of
``evacops login`` (:mod:`evacops.client`); without them, on the server host (the key file
readable), they open the registry here; elsewhere, with a saved log-in, they call the service
it was made at; otherwise they say in one line what to do. The admin's commands (init, user,
site, shred, audit) always run here, on the server host. Log-in here goes through the same
lockout and audit as the web's (:meth:`evacops.registry.accounts.Accounts.login`).
Personal data is never printed except by commands whose purpose is to show it to a role that may
see it (``person``), and never taken as a command-line argument (shell history, ``ps``).
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from evacops.cli.output import fail, out
from evacops.errors import RegistryError

app = typer.Typer(
    help="Track every evacuee: registrations, credentials, scans, manifests, reports, audit.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)

UserOpt = Annotated[
    str | None, typer.Option("--user", envvar="EVACOPS_USER", help="who acts (or EVACOPS_USER)")
]
OpOpt = Annotated[
    str | None,
    typer.Option(
        "--operation",
        envvar="EVACOPS_OPERATION",
        help="operation id (or EVACOPS_OPERATION; default: the only one)",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON object")]

#: the service's address from ``evacops registry --url`` or ``EVACOPS_URL`` (None: not given)
_service: dict[str, str | None] = {"url": None}


@app.callback()
def _registry(
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            envvar="EVACOPS_URL",
            help="the service (https://HOST:PORT) to act through, as the user of "
            "'evacops login' (or EVACOPS_URL); admin commands always run here",
        ),
    ] = None,
) -> None:
    _service["url"] = url


def load_settings():
    from pydantic import ValidationError

    from evacops.registry.settings import RegistrySettings

    try:
        return RegistrySettings()
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"EVACOPS_{str(first['loc'][0]).upper()}: {first['msg']}")


def password_for(settings, prompt: str = "Password: ") -> str:
    if settings.password:
        return settings.password
    if not sys.stdin.isatty():
        fail("no password: set EVACOPS_PASSWORD or run in a terminal to be asked")
    return getpass.getpass(prompt)


def open_as(user: str | None, settings=None):
    """The registry here, on the server host, as ``user``: the log-in is the web's (lockout
    after repeated failures, every attempt in the audit log), then the master key is used."""
    from evacops.registry.accounts import Accounts

    settings = settings or load_settings()
    user = user or settings.user
    if not user:
        fail("who are you? give --user NAME or set EVACOPS_USER")
    accounts = Accounts.from_settings(settings)
    actor = accounts.login(user, password_for(settings))
    return accounts.registry(actor)


def key_readable(path) -> bool:
    p = Path(path).expanduser()
    return p.is_file() and os.access(p, os.R_OK)


def open_for(user: str | None):
    """The registry for a command the operation's roles use: through the service (``--url``,
    ``EVACOPS_URL``, or the saved log-in when there is no key file here) or here (the key file
    readable: the server host). The one place that chooses."""
    from evacops.client import RemoteRegistry, read_token

    url = _service["url"]
    settings = load_settings()
    if url is None and not key_readable(settings.key_file):
        saved = read_token()
        if saved is None:
            fail(
                f"{settings.key_file}: no master key here; on the server host run 'evacops "
                "registry init' or set EVACOPS_KEY_FILE; from elsewhere set "
                "EVACOPS_URL=https://SERVER:PORT and run 'evacops login'"
            )
        url = saved["url"]
    if url is not None:
        return RemoteRegistry.open(url, user or settings.user)
    return open_as(user, settings)


def session(user: str | None, operation: str | None):
    """The registry as the acting user (here or through the service: :func:`open_for`), and the
    operation the command acts on."""
    reg = open_for(user)
    return reg, pick_operation(reg, operation)


def pick_operation(reg, operation: str | None) -> str:
    if operation:
        return operation
    ops = [o["id"] for o in reg.operations()]
    if len(ops) == 1:
        return ops[0]
    if not ops:
        fail("no operation yet; create one with 'evacops registry init --operation ID'")
    fail(
        f"{len(ops)} operations ({', '.join(ops)}); "
        "choose one with --operation or EVACOPS_OPERATION"
    )
    return ""


def text(value: Any) -> str:
    """A value as the commands print it: dates and times in ISO 8601 (as the service's JSON
    gives them, so a command prints the same here and through the service)."""
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def emit(
    obj: Any, as_json: bool, table: Table | None = None, lines: list[str] | None = None
) -> None:
    if as_json:
        print(json.dumps(obj, default=text))
        return
    if table is not None:
        out.print(table)
    for line in lines or []:  # never broken by the console: paths and URLs stay whole
        out.print(line, highlight=False, markup=False, soft_wrap=True)


def kv_table(title: str, d: dict[str, Any]) -> Table:
    t = Table(title=title, show_header=False)
    t.add_column("", style="bold")
    t.add_column("", justify="right")
    for k, v in d.items():
        t.add_row(str(k), f"{v:,}" if isinstance(v, int) else text(v))
    return t


class quiet:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def as_utc(value: str) -> datetime:
    """An ISO date or datetime from the command line, as an aware UTC datetime (kept here: a
    command through the service never loads the database layer)."""
    try:
        d = datetime.fromisoformat(value)
    except ValueError:
        raise RegistryError(
            f"{value!r}: not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM+HH:MM"
        ) from None
    return (d if d.tzinfo else d.replace(tzinfo=UTC)).astimezone(UTC)
