"""``evacops registry`` movements: scans, boarding, manifests, arrivals, roll-call and the
offline scans' conflicts."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from evacops.cli.output import describe, err, fail, guard
from evacops.cli.registry.common import (
    JsonOpt,
    OpOpt,
    UserOpt,
    app,
    emit,
    kv_table,
    session,
    text,
)
from evacops.errors import UserError


def _payloads(args: list[str]) -> list[str]:
    if args == ["-"] or not args:
        return [ln.strip() for ln in sys.stdin if ln.strip()]
    return args


def _who(res: dict) -> str:
    """Who was scanned: the person's id here; through the service, what a gate sees (initials
    and household size)."""
    if res.get("person_id"):
        return str(res["person_id"])
    return f"{res.get('initials', '?')} (household of {res.get('household_size', '?')})"


@app.command()
@guard
def scan(
    payload: Annotated[
        list[str] | None,
        typer.Argument(
            help="scanned QR payload(s); '-' (default) reads one per line from standard input"
        ),
    ] = None,
    action: Annotated[
        str,
        typer.Option(
            help="gate-in, board, deplane, roll-call, missing, found, departed-independently, "
            "call-forward"
        ),
    ] = "gate-in",
    site_: Annotated[str | None, typer.Option("--site", help="where the scan happens")] = None,
    flight_: Annotated[
        str | None, typer.Option("--flight", help="flight, for board and deplane")
    ] = None,
    scan_id: Annotated[
        str | None, typer.Option(help="the scanner's id of this scan (a repeat is one event)")
    ] = None,
    override: Annotated[
        str | None,
        typer.Option(
            help="board someone not on the manifest, with this reason (logged; manifest role)"
        ),
    ] = None,
    user: UserOpt = None,
    operation: OpOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record scans. Each scan is acknowledged (a line, or a JSON line with --json) only after it
    is committed; a scan that is refused prints its reason and the stream goes on (exit 2 at the
    end if any was refused)."""
    reg, op = session(user, operation)
    refused = 0
    stream = payload in (None, ["-"])
    items = _payloads(payload or [])
    for i, p in enumerate(items):
        try:
            res = reg.scan(
                op,
                p,
                action,
                site=site_,
                flight=flight_,
                scan_id=(f"{scan_id}:{i}" if scan_id and len(items) > 1 else scan_id),
                override=override,
            )
        except UserError as exc:
            if not stream and len(items) == 1:
                raise
            refused += 1
            res = {"error": describe(exc)}
            err.print(f"error: {describe(exc)}", markup=False, highlight=False, soft_wrap=True)
            if as_json:
                print(json.dumps(res), flush=True)
            continue
        if as_json:
            print(json.dumps(res), flush=True)
        else:
            extra = (
                f" seat {res['seat']}"
                if "seat" in res
                else (f" lap {res['lap']}" if "lap" in res else "")
            )
            dup = " (repeat: already recorded)" if res["duplicate"] else ""
            print(f"{res['action']} {_who(res)} event {res['event']}{extra}{dup}", flush=True)
    if refused:
        raise typer.Exit(2)


@app.command()
@guard
def board(
    payload: Annotated[
        list[str] | None, typer.Argument(help="scanned QR payload(s); '-' reads standard input")
    ] = None,
    flight_: Annotated[str | None, typer.Option("--flight", help="the flight boarding")] = None,
    override: Annotated[
        str | None,
        typer.Option(help="board someone not on the manifest, with this reason (logged)"),
    ] = None,
    scan_id: Annotated[str | None, typer.Option(help="the scanner's id of this scan")] = None,
    user: UserOpt = None,
    operation: OpOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Board people on a flight against its manifest (same as scan --action board)."""
    scan(
        payload=payload,
        action="board",
        site_=None,
        flight_=flight_,
        scan_id=scan_id,
        override=override,
        user=user,
        operation=operation,
        as_json=as_json,
    )


@app.command()
@guard
def manifest(
    flight_: Annotated[str, typer.Option("--flight", help="the flight")],
    allow_split: Annotated[
        bool, typer.Option(help="allow a household to be split when it does not fit")
    ] = False,
    show: Annotated[
        bool, typer.Option(help="show the newest manifest instead of building a new version")
    ] = False,
    user: UserOpt = None,
    operation: OpOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Build a new manifest version from checked-in people, by priority, whole households,
    within the seats (lap infants counted, no seat). Prints the control totals."""
    reg, op = session(user, operation)
    m = (
        reg.manifest(op, flight_)
        if show
        else reg.build_manifest(op, flight_, allow_split=allow_split)
    )
    totals = {
        k: m[k]
        for k in (
            "version",
            "seat_limit",
            "persons",
            "seats",
            "lap_infants",
            "households",
            "split_households",
        )
        if k in m
    }
    if "households_waiting_for_members" in m:
        totals["households waiting for members"] = m["households_waiting_for_members"]
    emit(m, as_json, table=kv_table(f"Manifest {flight_}", totals))


@app.command()
@guard
def arrive(
    flight_: Annotated[str, typer.Option("--flight", help="the flight that landed")],
    user: UserOpt = None,
    operation: OpOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a landing and reconcile: boarded must equal deplaned; every discrepancy is listed.
    Run it again after the deplaning scans."""
    reg, op = session(user, operation)
    r = reg.arrive(op, flight_)
    lines = [f"{d['kind']}: {d['person_id']}" for d in r["discrepancies"]]
    lines.append(
        "Reconciled: boarded = deplaned."
        if r["reconciled"]
        else f"NOT reconciled: {r['boarded']} boarded, {r['deplaned']} deplaned."
    )
    emit(
        r,
        as_json,
        table=kv_table(
            f"Flight {flight_}",
            {k: r[k] for k in ("status", "manifested", "boarded", "lap_infants", "deplaned")},
        ),
        lines=lines,
    )
    if not as_json and not r["reconciled"]:
        raise typer.Exit(1)


@app.command()
@guard
def rollcall(
    site_: Annotated[str, typer.Option("--site", help="the staging base or site")],
    present: Annotated[
        Path | None,
        typer.Option(help="file of scanned payloads, one per line ('-': standard input)"),
    ] = None,
    mark_missing: Annotated[
        bool, typer.Option(help="record everyone expected and not seen as missing")
    ] = False,
    rollcall_id: Annotated[
        str | None, typer.Option(help="name of this roll-call (default: the time)")
    ] = None,
    user: UserOpt = None,
    operation: OpOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Accountability check at a site: who should be here and is not."""
    reg, op = session(user, operation)
    payloads: list[str] = []
    if present is not None:
        src = sys.stdin if str(present) == "-" else present.open(encoding="utf-8")
        payloads = [ln.strip() for ln in src if ln.strip()]
    r = reg.rollcall(op, site_, payloads, rollcall_id=rollcall_id, mark_missing=mark_missing)
    lines = [f"absent: {p}" for p in r["absent"][:200]]
    if len(r["absent"]) > 200:
        lines.append(f"... and {len(r['absent']) - 200} more (use --json)")
    emit(
        r,
        as_json,
        table=kv_table(
            f"Roll-call at {site_}",
            {
                k: r[k] if not isinstance(r[k], list) else len(r[k])
                for k in (
                    "expected",
                    "present",
                    "absent",
                    "arrived_from_elsewhere",
                    "marked_missing",
                )
            },
        ),
        lines=lines,
    )


@app.command()
@guard
def conflicts(
    status: Annotated[str, typer.Option(help="open, resolved or all")] = "open",
    resolve: Annotated[
        int | None, typer.Option(help="close this conflict (give --resolution and --reason)")
    ] = None,
    resolution: Annotated[
        str | None, typer.Option(help="confirmed, offloaded, corrected or dismissed")
    ] = None,
    reason: Annotated[str, typer.Option(help="why (kept sealed)")] = "",
    user: UserOpt = None,
    operation: OpOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The review queue of offline scans' conflicts (two gates, revoked while stale, over
    seats: docs/service.md), or close one with --resolve ID --resolution R --reason TEXT."""
    if status not in ("open", "resolved", "all"):
        fail(f"--status {status}: use open, resolved or all")
    reg, op = session(user, operation)
    if resolve is not None:
        if not resolution:
            fail("--resolve: give --resolution confirmed|offloaded|corrected|dismissed")
        reg.resolve_conflict(op, resolve, resolution, reason)
        emit(
            {"conflict": resolve, "resolution": resolution},
            as_json,
            lines=[f"Conflict {resolve}: {resolution}."],
        )
        return
    rows = reg.conflicts(op, status=None if status == "all" else status)
    t = Table(title=f"Conflicts ({status}: {len(rows)})")
    cols = ("id", "kind", "person_id", "flight_id", "status", "resolution", "created_at")
    for c in cols:
        t.add_column(c)
    for r in rows[:200]:
        t.add_row(*("" if r.get(c) is None else text(r[c]) for c in cols))
    emit(rows, as_json, table=t)
