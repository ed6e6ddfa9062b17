"""``evacops validate``: check a scenario file and list every problem with its place and fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from evacops.cli.output import err, out
from evacops.errors import ScenarioError


def validate(
    scenario: Annotated[Path, typer.Argument(help="scenario file (YAML or JSON)")],
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Check a scenario file; list every problem with its place in the file and the fix."""
    from evacops.scenario import load

    try:
        sc = load(scenario)
    except ScenarioError as exc:
        if as_json:
            print(json.dumps({"valid": False, "problems": exc.problems}))
        else:
            for line in exc.problems:
                err.print(f"error: {line}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    people = sum(c.size for c in sc.cohorts)
    aircraft = sum(f.count for f in sc.fleets)
    if as_json:
        print(
            json.dumps(
                {
                    "valid": True,
                    "name": sc.name,
                    "sites": len(sc.sites),
                    "legs": len(sc.legs),
                    "fleets": len(sc.fleets),
                    "aircraft": aircraft,
                    "cohorts": len(sc.cohorts),
                    "people": people,
                    "events": len(sc.events),
                }
            )
        )
        return
    out.print(
        f"[green]ok[/] {scenario}: {sc.name}: {len(sc.sites)} sites, {len(sc.legs)} legs, "
        f"{len(sc.fleets)} fleets ({aircraft} aircraft), {len(sc.cohorts)} cohorts "
        f"({people:,} people), {len(sc.events)} events",
        highlight=False,
        soft_wrap=True,
    )
