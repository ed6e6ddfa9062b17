"""What every evacops command shares: the consoles, the one-line error and the error wrapper.

A user's mistake prints ``error: ...`` on one line of stderr and exits with status 2; anything
else escaping a command is a bug and keeps its traceback. Services raise plain errors (an error
about one input names the service's parameter in ``field``); :func:`describe` words it with the
command's flag, and :func:`guard` does that for every command body.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console

from evacops.errors import EvacopsError, RegistrationFileError, UserError

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


F = TypeVar("F", bound=Callable[..., Any])


def guard(fn: F) -> F:
    """Run a command body; a user's mistake becomes one line on stderr and exit 2.

    A registration file's bad rows are each printed on their own line (``file:line: column:
    problem; fix``), or as ``{"imported": 0, "rejected": N, "errors": [...]}`` under ``--json``.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RegistrationFileError as exc:
            if kwargs.get("as_json"):
                summary = {"imported": 0, "rejected": len(exc.problems), "errors": exc.problems}
                print(json.dumps(summary))
            else:
                for line in exc.problems:
                    err.print(f"error: {line}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except UserError as exc:
            fail_on(exc)

    return wrapper  # type: ignore[return-value]


@contextmanager
def progress_bar(description: str, total: int) -> Iterator[Callable[[int, int], None]]:
    """A progress callback ``(done, total)`` that draws a bar on a terminal, nothing elsewhere."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    task = bar.add_task(description, total=total)

    def progress(done: int, total: int) -> None:
        if not err.is_terminal:  # a bar only where someone watches it
            return
        if not bar.live.is_started:
            bar.start()
        bar.update(task, completed=done, total=total)

    try:
        yield progress
    finally:
        if bar.live.is_started:
            bar.stop()
