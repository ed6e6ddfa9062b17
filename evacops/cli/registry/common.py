"""``evacops registry``: the evacuee registry from the command line (thin: calls the service).

Who acts: ``--user`` (or ``EVACOPS_USER``), password from ``EVACOPS_PASSWORD`` or asked for.
Which operation: ``--operation`` (or ``EVACOPS_OPERATION``; default: the only one). Database and
key file: ``EVACOPS_DATABASE_URL`` and ``EVACOPS_KEY_FILE`` (docs/registry.md).
Personal data is never printed except by commands whose purpose is to show it to a role that may
see it (``person``), and never taken as a command-line argument (shell history, ``ps``).
"""

from __future__ import annotations

import getpass
import json
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from evacops.cli.output import fail, out

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


def open_as(user: str | None):
    from evacops.registry import open_registry

    settings = load_settings()
    user = user or settings.user
    if not user:
        fail("who are you? give --user NAME or set EVACOPS_USER")
    return open_registry(settings, user, password_for(settings))


def session(user: str | None, operation: str | None):
    """The registry as the acting user, and the operation the command acts on."""
    reg = open_as(user)
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


def emit(
    obj: Any, as_json: bool, table: Table | None = None, lines: list[str] | None = None
) -> None:
    if as_json:
        print(json.dumps(obj, default=str))
        return
    if table is not None:
        out.print(table)
    for line in lines or []:
        out.print(line, highlight=False, markup=False)


def kv_table(title: str, d: dict[str, Any]) -> Table:
    t = Table(title=title, show_header=False)
    t.add_column("", style="bold")
    t.add_column("", justify="right")
    for k, v in d.items():
        t.add_row(str(k), f"{v:,}" if isinstance(v, int) else str(v))
    return t


class quiet:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
