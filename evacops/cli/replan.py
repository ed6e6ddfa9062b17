"""``evacops replan``: re-plan the rest of the horizon from a plan's state at a moment (or the
registry's people), with what-if changes; the answer beside the plan, cohort by cohort."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from evacops.cli.output import err, fail, guard, out
from evacops.plan.replan_job import MAX_WINDOW_H


def _pairs(values: list[str], flag: str, cast: type) -> dict[str, Any]:
    """``NAME=VALUE`` options as a dict; a one-line error naming the flag otherwise."""
    got: dict[str, Any] = {}
    for v in values:
        name, sep, value = v.rpartition("=")
        try:
            if not sep or not name:
                raise ValueError
            got[name] = cast(value)
        except ValueError:
            fail(f"{flag} {v}: give NAME=NUMBER, e.g. {flag} 'Al Udeid=12000'")
        if got[name] < 0:
            fail(f"{flag} {v}: must be >= 0")
    return got


def _comparison(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """People out by the deadline per cohort: the plan's, the re-plan's (before the moment and
    after), and the difference."""
    # (a re-plan's folder: its people out before its own moment too)
    old = {
        c["name"]: c.get("out_by_deadline_total", c["out_by_deadline"])
        for c in before.get("cohorts", [])
    }
    rows = []
    for c in after["cohorts"]:
        was = old.get(c["name"])
        now = c["out_by_deadline_total"]
        rows.append(
            {
                "cohort": c["name"],
                "plan": was,
                "replan": now,
                "difference": None if was is None else now - was,
            }
        )
    return rows


def _table(rows: list[dict[str, Any]], deadline: str) -> Table:
    t = Table(title=f"People out by the deadline ({deadline}): the plan and the re-plan")
    for col in ("cohort", "plan", "re-plan", "difference"):
        t.add_column(col, justify="left" if col == "cohort" else "right")
    total = {"plan": 0, "replan": 0}
    for r in rows:
        d = r["difference"]
        t.add_row(r["cohort"], f"{r['plan']:,}", f"{r['replan']:,}", f"{d:+,}" if d else "0")
        total["plan"] += r["plan"] or 0
        total["replan"] += r["replan"]
    diff = total["replan"] - total["plan"]
    t.add_row("[bold]total[/]", f"{total['plan']:,}", f"{total['replan']:,}", f"{diff:+,}")
    return t


KEPT_NOTE = (
    "  people re-planned on the plan's schedule (every aircraft flies as planned); no LP bound: "
    "without --keep-schedule the aircraft are re-planned too"
)
"""What the terminal says under a re-plan that kept the plan's schedule (here and through the
service, :mod:`evacops.cli.replan_live`)."""


def window_note(until: str) -> str:
    """What the terminal says under a re-plan of the aircraft in a window (--window)."""
    return (
        f"  aircraft re-planned until {until[:16]} only, the plan's sorties kept after it; the "
        "LP bound holds for schedules that keep them (without --window the whole horizon is "
        "re-planned, in minutes)"
    )


def _print_replan(summary: dict[str, Any], moment: datetime, deadline: str) -> None:
    """The terminal view: the moment and the state, people out per cohort beside the plan,
    the crews aircraft by aircraft."""
    from evacops.cli.plan import print_crews

    rp = summary["replan"]
    out.print(
        f"Re-plan from {moment:%Y-%m-%d %H:%M} UTC ({rp['source']}): "
        f"{rp['people_waiting']:,} people waiting, {rp['people_on_their_way']:,} on their way, "
        f"{rp['out_before']:,} out before; solved in {summary['wall_s']:.1f} s",
        highlight=False,
        soft_wrap=True,
    )
    out.print(_table(summary["comparison"], deadline))
    gap = summary.get("repair", {}).get("objective_gap")
    if gap is not None:
        out.print(f"  whole sorties: {gap * 100:.2f} % under the LP bound", style="dim")
    if summary["mode"] == "schedule-kept":
        out.print(KEPT_NOTE, style="dim", soft_wrap=True)
    if summary.get("window_until"):
        out.print(window_note(summary["window_until"]), style="dim", soft_wrap=True)
    print_crews(summary.get("crews"))
    out.print(
        "  not carried over the moment: " + "; ".join(rp["not_carried_over"]),
        style="dim",
        soft_wrap=True,
    )


def _state(
    sc: Any,
    pf: Any,
    at: str,
    close: list[str],
    changes: dict[str, dict[str, Any]],
    operation: str | None,
    user: str | None,
) -> tuple[Any, Any, datetime, Any]:
    """The network (with the what-if changes), the state at the moment (the plan's, with the
    registry's people when ``operation`` is given) and the plan's whole sorties (M, T)."""
    from evacops.network import compile_network
    from evacops.plan.replan import (
        check_moment,
        registry_counts,
        registry_out,
        state_from_folder,
        what_if,
        with_counts,
    )
    from evacops.planfolder import read_plan

    base = compile_network(sc, pf.period)
    try:
        at_period = base.timeline.period_ceil(at)
    except (ValueError, TypeError):  # not a time, or one without its zone
        fail(f"--at {at}: give an ISO date and time with its zone, or +HOURSh from the start")
    check_moment(base, at_period)
    moment = base.timeline.time_of(at_period)
    arrays = read_plan(pf, base)
    net = base
    if close or any(changes.values()):
        net = compile_network(what_if(sc, moment, close=close, **changes), pf.period)
    state = state_from_folder(net, arrays, at_period, pf.summary)
    if operation is not None:
        from evacops.cli.registry.common import session

        reg, op = session(user, operation)
        rows = reg.people_by_place(op)
        state = with_counts(net, state, registry_counts(net, rows), registry_out(rows))
    return net, state, moment, arrays.sorties.T


KeepSchedule = Annotated[
    bool,
    typer.Option(
        help="re-plan the people alone, on the plan's whole sorties (every aircraft flies as "
        "planned): seconds where re-planning the aircraft too takes minutes; refused with the "
        "sortie at fault when a what-if rules the schedule out"
    ),
]


Window = Annotated[
    float | None,
    typer.Option(
        help="re-plan the aircraft only in the next HOURS from the moment, keeping the plan's "
        "sorties after them (none to a closed site): a rolling horizon, seconds where the "
        "whole re-plan takes minutes; its LP bound holds for schedules that keep them",
        metavar="HOURS",
    ),
]


TimeLimit = Annotated[
    float | None, typer.Option(help="seconds allowed for each solve (default: none)")
]


@guard
def replan(
    scenario: Annotated[Path, typer.Argument(help="scenario file the plan was made for")],
    plan_dir: Annotated[
        Path | None,
        typer.Option(
            "--plan",
            help="the plan's folder (evacops plan --out); without it, --operation re-plans from "
            "the operation's latest plan and the registry's people, and keeps the re-plan there",
        ),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            help="the moment to re-plan from: an ISO date and time with its zone, or (with "
            "--plan) hours from the scenario's start (+72h); the re-plan starts at the first "
            "period from then. Without --plan: default now"
        ),
    ] = None,
    operation: Annotated[
        str | None,
        typer.Option(
            help="take the people waiting from this operation's registry (as the logged-in "
            "user; a planner or reporter) instead of the plan"
        ),
    ] = None,
    user: Annotated[str | None, typer.Option(help="registry user (with --operation)")] = None,
    close: Annotated[
        list[str] | None, typer.Option(help="what-if: close this site from the moment (repeat)")
    ] = None,
    capacity: Annotated[
        list[str] | None, typer.Option(help="what-if: SITE=N holding capacity from the moment")
    ] = None,
    aircraft: Annotated[
        list[str] | None, typer.Option(help="what-if: FLEET=N aircraft from the moment")
    ] = None,
    slots: Annotated[
        list[str] | None,
        typer.Option(help="what-if: AIRFIELD=N departure slots per hour from the moment"),
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="folder for the re-plan's tables and report")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table format: csv or parquet")] = "csv",
    time_limit: TimeLimit = None,
    keep_schedule: KeepSchedule = False,
    window: Window = None,
    adopt: Annotated[
        bool,
        typer.Option(
            help="without --plan: make the re-plan the operation's plan when it is done (the "
            "gate and ramp pages follow it)"
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Re-plan the rest of the horizon from a moment: where the plan (or the registry) says
    people are, the sorties already flown fixed, with what-if changes (close a gate or a base,
    change a capacity, the aircraft of a fleet, an airfield's departure slots). Prints people
    out by the deadline per cohort, the plan's and the re-plan's; the plan's folder is never
    changed (write the re-plan with --out). With --operation and no --plan: from the registry's
    people and the operation's latest plan, kept in the registry (through the service, it runs
    there); --adopt makes it the operation's plan."""
    _check_options(fmt, time_limit, window, keep_schedule)
    changes = {"capacity": _pairs(capacity or [], "--capacity", float),
               "aircraft": _pairs(aircraft or [], "--aircraft", int),
               "departure_slots": _pairs(slots or [], "--slots", float)}  # fmt: skip
    if plan_dir is None:
        _check_live(operation, out_dir, time_limit)
        from evacops.cli.replan_live import replan_operation

        what_if = {"close": close or [], **changes}
        replan_operation(scenario, str(operation), user, at, what_if, adopt, as_json,
                         keep_schedule, window)  # fmt: skip
        return
    if at is None or adopt:
        fail("--at: give the moment to re-plan the plan from (e.g. --at +72h)" if at is None
             else "--adopt goes with --operation and no --plan")  # fmt: skip
    _from_plan(scenario, plan_dir, at, close or [], changes, operation, user, out_dir, fmt,
               time_limit, as_json, keep_schedule, window)  # fmt: skip


def _check_options(
    fmt: str, time_limit: float | None, window: float | None = None, keep: bool = False
) -> None:
    if window is not None and (keep or not 0 < window <= MAX_WINDOW_H):
        fail(f"--window {window:g}: give hours above 0 and at most {MAX_WINDOW_H}"
             if not keep else "--window and --keep-schedule: choose one (a kept "
             "schedule re-plans no aircraft; a window re-plans them for its hours)")  # fmt: skip
    if fmt not in ("csv", "parquet"):
        fail(f"--format {fmt}: must be csv or parquet")
    if time_limit is not None and time_limit <= 0:
        fail(f"--time-limit {time_limit:g}: must be > 0 seconds")


def _check_live(operation: str | None, out_dir: Path | None, time_limit: float | None) -> None:
    """Without --plan: an operation, and none of the options of a plan's folder."""
    if operation is None:
        fail("give --plan DIR, or --operation OP to re-plan from the registry's latest plan")
    if out_dir is not None or time_limit is not None:
        fail("--out and --time-limit go with --plan; the registry keeps an operation's re-plan")


def _from_plan(
    scenario: Path,
    plan_dir: Path,
    at: str,
    close: list[str],
    changes: dict[str, dict[str, Any]],
    operation: str | None,
    user: str | None,
    out_dir: Path | None,
    fmt: str,
    time_limit: float | None,
    as_json: bool,
    keep_schedule: bool = False,
    window: float | None = None,
) -> None:
    """Re-plan a plan's folder from ``at`` (its state, or the registry's people)."""
    from evacops.plan.crew_use import crew_use
    from evacops.plan.replan import replan as run_replan
    from evacops.plan.replan import replan_people
    from evacops.planfolder import open_plan, write_plan
    from evacops.scenario import load

    sc = load(scenario)
    pf = open_plan(plan_dir, scenario)
    net, state, moment, plan_sorties = _state(sc, pf, at, close, changes, operation, user)
    with err.status("re-planning", spinner="dots") as status:
        say = lambda m: status.update(m)  # noqa: E731
        if keep_schedule:
            r = replan_people(net, state, plan_sorties, progress=say)
        else:
            r = run_replan(net, state, time_limit, progress=say, plan_sorties=plan_sorties,
                           window_h=window)  # fmt: skip
        summary = r.summary()
        summary["crews"] = crew_use(r.plan)
        summary["replan"]["what_if"] = {"close": close, **changes}
        summary["replan"]["plan"] = str(plan_dir)
        summary["comparison"] = _comparison(pf.summary, summary)
        if out_dir is not None:
            status.update(f"writing the re-plan to {out_dir}")
            summary["files"] = write_plan(
                r.plan, out_dir, fmt=fmt, scenario_path=scenario, summary=summary
            )
            (Path(out_dir) / "replan.json").write_text(json.dumps(summary, default=str) + "\n")
    if as_json:
        print(json.dumps(summary, default=str))
        return
    _print_replan(summary, moment, str(sc.deadline) if sc.deadline else "end of horizon")
    if out_dir is not None:
        out.print(f"Re-plan written to {out_dir}", highlight=False)
