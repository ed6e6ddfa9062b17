"""The evacops command line: one module per command, thin; each calls the same services the web
service will.

- validate.py, plan.py, replan.py, route.py, simulate.py: the planning commands;
- registry/: ``evacops registry ...``, one module per group of commands;
- login.py: ``evacops login`` / ``logout``, the log-in at the service that lets the registry
  commands act through it away from the server host (evacops/client.py);
- output.py: the consoles, the one-line error and :func:`~evacops.cli.output.guard`, the one
  error wrapper of every command (a user's mistake: one line, exit 2; a traceback is a bug).
"""

from __future__ import annotations

import sys

import typer

from evacops.cli import (
    demo,
    login,
    plan,
    replan,
    route,
    sensitivity,
    serve,
    simulate,
    validate,
)
from evacops.cli.output import err
from evacops.cli.registry import app as registry_app

app = typer.Typer(
    help="Plan, simulate and track mass evacuations by air.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
app.command()(validate.validate)
app.command()(plan.plan)
app.command()(replan.replan)
app.command()(sensitivity.sensitivity)
app.command()(route.route)
app.command()(simulate.simulate)
app.command()(serve.serve)
app.command()(demo.demo)
app.command()(login.login)
app.command()(login.logout)
app.add_typer(registry_app, name="registry")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
