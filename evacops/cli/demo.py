"""``evacops demo``: build a demo operation from the Kabul scenario (generated people, one login
per role, flights flown) and serve it (:mod:`evacops.demo`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from evacops.cli.output import guard, out


@guard
def demo(
    people: Annotated[int, typer.Option(min=10, help="generated people to register")] = 2000,
    seed: Annotated[int, typer.Option(help="the generator's seed")] = 7,
    folder: Annotated[
        Path, typer.Option(help="where the demo's database and key file go (replaced)")
    ] = Path("out/demo"),
    serve: Annotated[bool, typer.Option(help="serve it when built (Ctrl-C stops)")] = True,
    host: Annotated[str, typer.Option(help="address to serve on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to serve on")] = 8000,
    plan: Annotated[
        Path | None,
        typer.Option(help="a plan folder (evacops plan --out) attached as the latest plan"),
    ] = None,
) -> None:
    """Build a demo operation from the Kabul scenario and serve it; prints the URL and one
    login per role. With --plan, the planner attaches that plan (shown beside what happened)."""
    from evacops.demo import run_demo

    run_demo(
        people=people,
        seed=seed,
        folder=folder,
        serve_on=(host, port) if serve else None,
        plan=plan,
        echo=lambda line: out.print(line, markup=False, highlight=False, soft_wrap=True),
    )
