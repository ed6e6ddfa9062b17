"""What every evacops command shares: the consoles and the one-line error.

A user's mistake prints ``error: ...`` on one line of stderr and exits with status 2.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NoReturn

import typer
from rich.console import Console

from evacops.errors import EvacopsError

out = Console()
err = Console(stderr=True)


def fail(message: str) -> NoReturn:
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def describe(exc: EvacopsError, flags: Mapping[str, str] | None = None) -> str:
    """The one line a command prints for ``exc``: an error about a service's parameter is worded
    with the command's flag for it (``flags`` maps parameter to flag; by default ``--`` and the
    parameter with dashes), e.g. ``--runs 0: must be 1 or more runs``."""
    if exc.field is None:
        return str(exc)
    flag = (flags or {}).get(exc.field, "--" + exc.field.replace("_", "-"))
    shown = "" if exc.value is None else f" {exc.value}"
    return f"{flag}{shown}: {exc.problem}"


def fail_on(exc: EvacopsError, flags: Mapping[str, str] | None = None) -> NoReturn:
    """Print ``exc`` as the command's one-line error and exit with status 2."""
    fail(describe(exc, flags))
