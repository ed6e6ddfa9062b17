"""``evacops registry plan``: attach the operation's latest plan (a folder written by ``evacops
plan --out``) and show it next to what happened (people out per day, planned and actual)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from evacops.cli.output import fail, guard
from evacops.cli.registry.common import JsonOpt, OpOpt, UserOpt, app, emit, session

plan_app = typer.Typer(
    help="The operation's latest plan: attach one, show it next to what happened.",
    no_args_is_help=True,
)
app.add_typer(plan_app, name="plan")


def _day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"--first-day {value!r}: not a date; use YYYY-MM-DD")
    return None  # not reached


def _more(r: dict) -> list[str]:
    """What else the plan carries to the picture, if it does."""
    more = []
    if r.get("planned_flights") is not None:
        more.append(f"{sum(r['planned_flights'].values()):,} flights with people planned")
    if r.get("occupancy_bases"):
        more.append(f"its people at {r['occupancy_bases']} staging bases per period")
    return [f"  With {' and '.join(more)}."] if more else []


@plan_app.command("attach")
@guard
def attach(
    folder: Annotated[Path, typer.Argument(help="a plan folder (evacops plan SCENARIO --out DIR)")],
    first_day: Annotated[
        str | None,
        typer.Option(help="the operation's date of the plan's day 1 (default: the plan's own)"),
    ] = None,
    drift: Annotated[
        float | None,
        typer.Option(
            help="flag a re-plan on the operation picture when people out so far are this many "
            "percent off the plan's so far (default 10)"
        ),
    ] = None,
    user: UserOpt = None,
    operation: OpOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Attach a plan as the operation's latest (planner or admin): its people out and flights
    per day and its people at each staging base are kept in the registry, to be shown beside
    what actually happened; its call-forward and sorties go to the gate and ramp pages."""
    from evacops.planfolder import plan_outline

    start = _day(first_day)
    outline = plan_outline(folder)
    if drift is not None:
        outline["drift_pct"] = drift
    reg, op = session(user, operation)
    r = reg.attach_plan(op, outline, first_day=start)
    emit(
        r,
        as_json,
        lines=[
            f"Operation {op}: plan {r['name']} attached ({len(r['planned_out'])} days, "
            f"{sum(r['planned_out']):,} people out planned, day 1 = {r['first_day']}).",
            *_more(r),
        ],
    )


@plan_app.command("show")
@guard
def show(user: UserOpt = None, operation: OpOpt = None, as_json: JsonOpt = False) -> None:
    """The latest plan next to what happened: people out per day, planned and actual; flights
    with people per day, planned and flown; the plan's people at each staging base now."""
    reg, op = session(user, operation)
    r = reg.plan_vs_actual(op)
    if r is None:
        fail(f"operation {op}: no plan attached; attach one with 'evacops registry plan attach'")
        return
    t = Table(title=f"Operation {op}: plan {r['name']} (day 1 = {r['first_day']})")
    # a plan attached before the UTC days has its people out on its own days
    day = "date (UTC)" if r["utc_days"] else "date"
    cols = [day, "day", "planned out", "actual out", "planned total", "actual total"]
    flights = r["has_flights"]
    for c in cols + (["flights planned", "flights flown"] if flights else []):
        t.add_column(c, justify="right")
    for d in r["days"]:
        row = [d["date"], str(d["day"]), f"{d['planned']:,}", f"{d['actual']:,}",
               f"{d['planned_total']:,}", f"{d['actual_total']:,}"]  # fmt: skip
        if flights:
            row += [f"{d['planned_flights']:,}", f"{d['actual_flights']:,}"]
        t.add_row(*row)
    bases = r.get("bases")
    caption = None
    if bases:
        at = bases["at"][:16].replace("T", " ")
        people = ", ".join(f"{s} {n:,}" for s, n in bases["sites"].items())
        caption = f"the plan's people at each staging base at {at} UTC: {people}"
    t.caption = caption
    emit(r, as_json, table=t)
