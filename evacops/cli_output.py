"""What every evacops command shares: the consoles and the one-line error.

A user's mistake prints ``error: ...`` on one line of stderr and exits with status 2.
"""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

out = Console()
err = Console(stderr=True)


def fail(message: str) -> NoReturn:
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(2)
