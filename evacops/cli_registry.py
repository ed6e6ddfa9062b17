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
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from evacops.cli_output import err, fail, out
from evacops.errors import RegistrationFileError, UserError

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


def _settings():
    from pydantic import ValidationError

    from evacops.registry.settings import RegistrySettings

    try:
        return RegistrySettings()
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"EVACOPS_{str(first['loc'][0]).upper()}: {first['msg']}")


def _password(settings, prompt: str = "Password: ") -> str:
    if settings.password:
        return settings.password
    if not sys.stdin.isatty():
        fail("no password: set EVACOPS_PASSWORD or run in a terminal to be asked")
    return getpass.getpass(prompt)


def _open(user: str | None):
    from evacops.registry import open_registry

    settings = _settings()
    user = user or settings.user
    if not user:
        fail("who are you? give --user NAME or set EVACOPS_USER")
    return open_registry(settings, user, _password(settings))


def _session(user: str | None, operation: str | None):
    """The registry as the acting user, and the operation the command acts on."""
    reg = _open(user)
    return reg, _op(reg, operation)


def _op(reg, operation: str | None) -> str:
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


def _emit(
    obj: Any, as_json: bool, table: Table | None = None, lines: list[str] | None = None
) -> None:
    if as_json:
        print(json.dumps(obj, default=str))
        return
    if table is not None:
        out.print(table)
    for line in lines or []:
        out.print(line, highlight=False, markup=False)


def _kv_table(title: str, d: dict[str, Any]) -> Table:
    t = Table(title=title, show_header=False)
    t.add_column("", style="bold")
    t.add_column("", justify="right")
    for k, v in d.items():
        t.add_row(str(k), f"{v:,}" if isinstance(v, int) else str(v))
    return t


def _guard(fn):
    """Run a command body; a user's mistake becomes one line and exit 2."""
    import functools

    @functools.wraps(fn)
    def wrapper(*a, **kw):
        try:
            return fn(*a, **kw)
        except RegistrationFileError as exc:
            if kw.get("as_json"):
                print(
                    json.dumps(
                        {"imported": 0, "rejected": len(exc.problems), "errors": exc.problems}
                    )
                )
            else:
                for line in exc.problems:
                    err.print(f"error: {line}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except UserError as exc:
            fail(str(exc))

    return wrapper


# ---------------------------------------------------------------------------------- set-up
@app.command()
@_guard
def init(
    admin: Annotated[
        str | None,
        typer.Option(help="create this first admin user (password from EVACOPS_PASSWORD or asked)"),
    ] = None,
    operation: Annotated[
        str | None, typer.Option(help="also create this operation (lower-case id)")
    ] = None,
    name: Annotated[str | None, typer.Option(help="the operation's display name")] = None,
    scenario: Annotated[
        Path | None, typer.Option(help="take sites and cohorts from this scenario")
    ] = None,
    category: Annotated[
        list[str] | None,
        typer.Option(
            help="CATEGORY=COHORT[:PRIORITY], repeatable; default: one category per scenario cohort"
        ),
    ] = None,
    user: UserOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create (or upgrade) the registry database; create the master key file if there is none;
    optionally the first admin and an operation."""
    from evacops.registry import init_registry

    settings = _settings()
    pw = None
    if admin:
        pw = _password(settings, f"Password for new admin {admin}: ")
    done = init_registry(settings, admin=admin, password=pw)
    if operation:
        reg = _open(user or admin)
        sites, cats = _from_scenario(scenario) if scenario else ({}, {})
        cats = _parse_categories(category, cats)
        reg.create_operation(
            operation,
            name=name,
            categories=cats,
            sites_=sites,
            origin_site=next((s for s, k in sites.items() if k == "airport"), None),
        )
        done["operation"] = operation
        done["sites"] = len(sites)
        done["categories"] = sorted(cats)
    lines = [
        f"Registry ready: {done['database']} (schema {done['schema']})",
        (
            f"New master key written to {done['key_file']} (mode 0600). Keep it apart from the "
            "database and back it up: without it no personal field can be read."
            if done["key_created"]
            else f"Master key: {done['key_file']}"
        ),
    ]
    if done["admin_created"]:
        lines.append(f"Admin user {admin} created.")
    if operation:
        lines.append(
            f"Operation {operation}: {done['sites']} sites, "
            f"categories {', '.join(done['categories']) or '(any)'}"
        )
    _emit(done, as_json, lines=lines)


def _from_scenario(path: Path) -> tuple[dict[str, str], dict[str, tuple[str, float]]]:
    from evacops.scenario import load

    sc = load(path)
    sites = {s.name: str(s.kind) for s in sc.sites}
    cats = {c.name: (c.name, float(c.priority)) for c in sc.cohorts}
    return sites, cats


def _parse_categories(specs: list[str] | None, default: dict[str, tuple[str, float]]):
    if not specs:
        return default
    cohorts = {c: p for c, p in default.values()}
    out: dict[str, tuple[str, float]] = {}
    for spec in specs:
        cat, sep, rest = spec.partition("=")
        cohort, _, prio = rest.partition(":")
        if not sep or not cat.strip() or not cohort.strip():
            raise UserError(f"--category {spec!r}: use CATEGORY=COHORT or CATEGORY=COHORT:PRIORITY")
        if cohorts and cohort not in cohorts:
            raise UserError(
                f"--category {spec!r}: {cohort!r} is not a cohort of the scenario; "
                f"use one of {', '.join(cohorts)}"
            )
        try:
            p = float(prio) if prio else cohorts.get(cohort, 1.0)
        except ValueError:
            raise UserError(f"--category {spec!r}: priority must be a number") from None
        out[cat.strip()] = (cohort.strip(), p)
    return out


@app.command("user")
@_guard
def user_add(
    name: Annotated[str, typer.Argument(help="new user's name")],
    role: Annotated[
        str, typer.Option(help="admin, registrar, gate, manifest, planner or reporter")
    ],
    user: UserOpt = None,
) -> None:
    """Add a user (admin only). The new user's password is asked for (or EVACOPS_NEW_PASSWORD)."""
    import os

    reg = _open(user)
    pw = os.environ.get("EVACOPS_NEW_PASSWORD") or (
        getpass.getpass(f"Password for {name}: ") if sys.stdin.isatty() else None
    )
    if not pw:
        fail("no password for the new user: set EVACOPS_NEW_PASSWORD or run in a terminal")
    reg.add_user(name, role, pw)
    out.print(f"User {name} ({role}) added.", highlight=False)


@app.command()
@_guard
def site(
    code: Annotated[str, typer.Argument(help="site name, as scans will give it")],
    kind: Annotated[str, typer.Option(help="assembly, gate, airport, staging or destination")],
    user: UserOpt = None,
    operation: OpOpt = None,
) -> None:
    """Add a site to the operation."""
    reg, op = _session(user, operation)
    reg.add_site(op, code, kind)
    out.print(f"Site {code} ({kind}) added to {op}.", highlight=False)


@app.command()
@_guard
def flight(
    code: Annotated[str, typer.Argument(help="flight code, e.g. RCH871")],
    origin: Annotated[str | None, typer.Option("--from", help="origin site")] = None,
    destination: Annotated[str | None, typer.Option("--to", help="destination site")] = None,
    seats: Annotated[
        int | None, typer.Option(help="seats for passengers (lap infants take none)")
    ] = None,
    departs: Annotated[str | None, typer.Option(help="planned departure, ISO date-time")] = None,
    depart: Annotated[
        bool, typer.Option("--depart", help="record that the flight has left")
    ] = False,
    user: UserOpt = None,
    operation: OpOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Schedule a flight (--from, --to, --seats), or record its departure (--depart)."""
    from evacops.registry.service import as_utc

    reg, op = _session(user, operation)
    if depart:
        res = reg.depart(op, code)
        _emit(res, as_json, lines=[f"Flight {code} departed with {res['boarded']} on board."])
        return
    if not (origin and destination and seats):
        fail("flight: give --from SITE --to SITE --seats N to schedule it, or --depart")
    reg.add_flight(
        op,
        code,
        origin=origin,
        destination=destination,
        seats=seats,
        departs_at=as_utc(departs) if departs else None,
    )
    _emit(
        {"flight": code, "seats": seats},
        as_json,
        lines=[f"Flight {code} scheduled: {origin} -> {destination}, {seats} seats."],
    )


# ---------------------------------------------------------------------------------- people
@app.command("import")
@_guard
def import_(
    file: Annotated[Path, typer.Argument(help="registrations, .csv (UTF-8) or .xlsx")],
    user: UserOpt = None,
    operation: OpOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import registrations: all rows or none. Columns: household_id, given_name, family_name,
    sex, birth_date, nationality, document_number, category (docs/registry-files.md)."""
    reg, op = _session(user, operation)
    with err.status(f"importing {file.name} ...") if not as_json else _null():
        res = reg.import_file(op, file)
    _emit(
        res.to_dict(),
        as_json,
        lines=[f"Imported {res.imported:,} people in {res.households:,} new households."],
    )


@app.command()
@_guard
def generate(
    file: Annotated[Path, typer.Argument(help="CSV file to write (registration import format)")],
    n: Annotated[int, typer.Option("--n", help="registrations to generate")] = 1000,
    seed: Annotated[int, typer.Option(help="random seed (same seed, same people)")] = 0,
    duplicate_rate: Annotated[
        float, typer.Option(help="share that are re-registrations of someone")
    ] = 0.1,
    as_json: JsonOpt = False,
) -> None:
    """Write synthetic registrations (generated people, never real ones) for training, demos and
    benchmarks: households, transliteration variants, default birth dates, missing documents and
    re-registrations (docs/registry-dedup.md)."""
    from evacops.registry.generate import write_registrations_csv

    if n <= 0:
        fail(f"--n: must be > 0, got {n}")
    if not 0 <= duplicate_rate < 1:
        fail(f"--duplicate-rate: must be in [0, 1), got {duplicate_rate}")
    try:
        write_registrations_csv(file, n, seed, duplicate_rate)
    except OSError as exc:
        fail(f"{file}: cannot write it ({exc.strerror}); choose a writable path")
    _emit(
        {"file": str(file), "rows": n, "seed": seed},
        as_json,
        lines=[f"Wrote {n:,} generated registrations to {file} (seed {seed})."],
    )


@app.command()
@_guard
def register(
    file: Annotated[
        str,
        typer.Argument(
            help="JSON lines, one person per line with the import columns; '-' reads standard input"
        ),
    ] = "-",
    user: UserOpt = None,
    operation: OpOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register people one by one (JSON lines on standard input, so names never appear in the
    shell history). Prints the new opaque person ids."""
    from evacops.registry.files import read_records

    reg, op = _session(user, operation)
    text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    records = []
    for n, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                fail(f"{file}:{n}: not a JSON object; give one object per line")
            if not isinstance(obj, dict):
                fail(f"{file}:{n}: not a JSON object; give one object per line")
            records.append(obj)
    if not records:
        fail(f"{file}: nobody to register; give one JSON object per line")
    rows = read_records(records, source=file if file != "-" else "stdin")
    res = reg.register(op, rows, source="register")
    _emit(
        {"registered": res.imported, "person_ids": res.person_ids},
        as_json,
        lines=[f"Registered {res.imported}: {', '.join(res.person_ids)}"],
    )


@app.command()
@_guard
def person(
    person_id: Annotated[str, typer.Argument(help="opaque person id")],
    user: UserOpt = None,
    operation: OpOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one person as your role may see them (the read is audited)."""
    reg, op = _session(user, operation)
    p = reg.person(op, person_id)
    _emit(p, as_json, table=_kv_table(f"Person {person_id}", p))


# ---------------------------------------------------------------------------------- scans
def _payloads(args: list[str]) -> list[str]:
    if args == ["-"] or not args:
        return [ln.strip() for ln in sys.stdin if ln.strip()]
    return args


@app.command()
@_guard
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
    reg, op = _session(user, operation)
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
            res = {"error": str(exc)}
            err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
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
            print(
                f"{res['action']} {res['person_id']} event {res['event']}{extra}{dup}", flush=True
            )
    if refused:
        raise typer.Exit(2)


@app.command()
@_guard
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
@_guard
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
    reg, op = _session(user, operation)
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
    _emit(m, as_json, table=_kv_table(f"Manifest {flight_}", totals))


@app.command()
@_guard
def arrive(
    flight_: Annotated[str, typer.Option("--flight", help="the flight that landed")],
    user: UserOpt = None,
    operation: OpOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a landing and reconcile: boarded must equal deplaned; every discrepancy is listed.
    Run it again after the deplaning scans."""
    reg, op = _session(user, operation)
    r = reg.arrive(op, flight_)
    lines = [f"{d['kind']}: {d['person_id']}" for d in r["discrepancies"]]
    lines.append(
        "Reconciled: boarded = deplaned."
        if r["reconciled"]
        else f"NOT reconciled: {r['boarded']} boarded, {r['deplaned']} deplaned."
    )
    _emit(
        r,
        as_json,
        table=_kv_table(
            f"Flight {flight_}",
            {k: r[k] for k in ("status", "manifested", "boarded", "lap_infants", "deplaned")},
        ),
        lines=lines,
    )
    if not as_json and not r["reconciled"]:
        raise typer.Exit(1)


@app.command()
@_guard
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
    reg, op = _session(user, operation)
    payloads: list[str] = []
    if present is not None:
        src = sys.stdin if str(present) == "-" else present.open(encoding="utf-8")
        payloads = [ln.strip() for ln in src if ln.strip()]
    r = reg.rollcall(op, site_, payloads, rollcall_id=rollcall_id, mark_missing=mark_missing)
    lines = [f"absent: {p}" for p in r["absent"][:200]]
    if len(r["absent"]) > 200:
        lines.append(f"... and {len(r['absent']) - 200} more (use --json)")
    _emit(
        r,
        as_json,
        table=_kv_table(
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
@_guard
def dedup(
    run: Annotated[
        bool, typer.Option("--run/--no-run", help="look for new likely duplicates first")
    ] = True,
    merge: Annotated[
        tuple[str, str] | None,
        typer.Option(help="KEEP DUPLICATE: the second is the same person as the first"),
    ] = None,
    not_duplicate: Annotated[
        tuple[str, str] | None, typer.Option(help="A B: not the same person; off the queue")
    ] = None,
    undo: Annotated[str | None, typer.Option(help="undo the merge of this person")] = None,
    threshold: Annotated[float, typer.Option(help="score from which a pair is queued")] = 0.8,
    reason: Annotated[str, typer.Option(help="why (kept in the event)")] = "",
    user: UserOpt = None,
    operation: OpOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Find likely duplicate registrations and review them: the queue lists pairs by opaque id,
    score and reasons; --merge, --not-duplicate and --undo decide (each an event)."""
    reg, op = _session(user, operation)
    if merge or not_duplicate or undo:
        if merge:
            seq = reg.merge(op, merge[0], merge[1], reason=reason)
            msg = f"Merged {merge[1]} into {merge[0]} (event {seq})."
        elif not_duplicate:
            seq = reg.not_duplicate(op, not_duplicate[0], not_duplicate[1], reason=reason)
            msg = f"{not_duplicate[0]} and {not_duplicate[1]}: not duplicates (event {seq})."
        else:
            seq = reg.unmerge(op, undo, reason=reason)
            msg = f"Merge of {undo} undone (event {seq})."
        _emit({"event": seq}, as_json, lines=[msg])
        return
    res: dict[str, Any] = {}
    if run:
        with err.status("looking for duplicates ...") if not as_json else _null():
            res = reg.run_dedup(op, threshold=threshold)
    queue = reg.review_queue(op)
    res["queue"] = queue
    t = Table(title=f"Review queue ({len(queue)})")
    for c in ("candidate", "person_a", "person_b", "score", "reasons"):
        t.add_column(c)
    for q in queue[:100]:
        t.add_row(*(str(q[c]) for c in ("candidate", "person_a", "person_b", "score", "reasons")))
    _emit(
        res,
        as_json,
        table=t,
        lines=[
            f"{res.get('pairs_found', 0):,} likely duplicate pairs among "
            f"{res.get('persons', 0):,} people; {res.get('new_candidates', 0)} new in the queue."
        ]
        if run
        else [],
    )


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# ---------------------------------------------------------------------------------- reports
@app.command()
@_guard
def report(
    since: Annotated[
        str | None, typer.Option(help="count people out since this date (ISO)")
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="also write report.html, PNG plots and report.json here"),
    ] = None,
    user: UserOpt = None,
    operation: OpOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Counts by status, site, cohort and nationality; people out (since a date), per day;
    households split across places; unaccompanied minors."""
    from evacops.registry.service import as_utc

    reg, op = _session(user, operation)
    r = reg.report(op, since=as_utc(since) if since else None)
    if out_dir is not None:
        r["files"] = _write_report(r, out_dir)
    if as_json:
        _emit(r, True)
        return
    out.print(
        _kv_table(
            f"Operation {op}",
            {
                "registered": r["registered"],
                "out" + (f" since {since}" if since else ""): r["out"],
                "households split": r["households_split"],
                "unaccompanied minors": r["unaccompanied_minors"],
                "  without escort": r["unaccompanied_without_escort"],
            },
        )
    )
    for title, key in (
        ("By status", "by_status"),
        ("By site", "by_site"),
        ("By cohort", "by_cohort"),
        ("Out by nationality", "out_by_nationality"),
    ):
        out.print(_kv_table(title, r[key]))
    if out_dir is not None:
        out.print(f"Report: {r['files']['report']}", highlight=False)


def _write_report(r: dict[str, Any], folder: Path) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from evacops.report import HtmlReport, make_folder

    folder = make_folder(folder)
    files = {}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    st = pd.Series(r["by_status"])
    axes[0].barh(st.index, st.values, color="#4477aa")
    axes[0].set_title("People by status")
    timeline = pd.DataFrame.from_dict(r["per_day"], orient="index").sort_index()
    if len(timeline):
        cum = timeline.cumsum()
        for col, colour in zip(
            cum.columns, ("#4477aa", "#ccbb44", "#228833", "#aa3377"), strict=False
        ):
            axes[1].plot(pd.to_datetime(cum.index), cum[col].values, marker="o", color=colour,
                         label=col.replace("_", " "))  # fmt: skip
        axes[1].legend()
        axes[1].tick_params(axis="x", rotation=45)
    axes[1].set_title("People through each step, cumulative (first time)")
    fig.tight_layout()
    png = folder / "registry-counts.png"
    fig.savefig(png, dpi=100)
    plt.close(fig)
    files["counts_png"] = str(png)
    rep = HtmlReport(f"Registry: {r['operation']}")
    rep.figures(
        [
            ("registered", f"{r['registered']:,}"),
            ("out", f"{r['out']:,}"),
            ("households split", f"{r['households_split']:,}"),
            ("unaccompanied minors", f"{r['unaccompanied_minors']:,}"),
        ]
    )
    rep.image(png, "Status now, and people through each step over time")
    for title, key in (
        ("By site", "by_site"),
        ("By cohort", "by_cohort"),
        ("By nationality", "by_nationality"),
        ("Out by nationality", "out_by_nationality"),
    ):
        rep.heading(title)
        rep.table(pd.DataFrame({"people": pd.Series(r[key], dtype=int)}))
    path = rep.write(folder / "report.html")
    files["report"] = str(path)
    (folder / "report.json").write_text(json.dumps(r, default=str, indent=1))
    files["json"] = str(folder / "report.json")
    return files


@app.command()
@_guard
def export(
    kind: Annotated[
        str, typer.Argument(help="manifest (passenger manifest CSV) or counts (HXL CSV)")
    ],
    out_file: Annotated[Path, typer.Option("--out", help="file to write")],
    flight_: Annotated[str | None, typer.Option("--flight", help="flight, for a manifest")] = None,
    min_cell: Annotated[int, typer.Option(help="counts under this are suppressed")] = 5,
    user: UserOpt = None,
    operation: OpOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Export a flight's passenger manifest (personal data: manifest role, audited) or aggregate
    counts as HXL-tagged CSV with small cells suppressed (reporter role)."""
    reg, op = _session(user, operation)
    if kind == "manifest":
        if not flight_:
            fail("export manifest: name the flight (--flight)")
        n = reg.export_manifest(op, flight_, out_file)
    elif kind == "counts":
        if min_cell < 1:
            fail("--min-cell: must be >= 1")
        n = reg.export_counts(op, out_file, min_cell=min_cell)
    else:
        fail(f"export {kind!r}: use 'manifest' or 'counts'")
    _emit({"rows": n, "file": str(out_file)}, as_json, lines=[f"Wrote {n:,} rows to {out_file}."])


@app.command()
@_guard
def credentials(
    out_file: Annotated[
        Path | None, typer.Option("--out", help="write a sheet of wristband labels (.pdf or .png)")
    ] = None,
    issue: Annotated[
        bool, typer.Option(help="issue credentials to everyone active without a valid one first")
    ] = True,
    days: Annotated[int, typer.Option(help="days a new credential is valid")] = 30,
    public_key: Annotated[
        Path | None,
        typer.Option(help="write the operation's public key file (for offline verifiers)"),
    ] = None,
    revoke: Annotated[
        str | None, typer.Option(help="revoke this credential (id or printed code)")
    ] = None,
    reason: Annotated[str, typer.Option(help="why it is revoked")] = "",
    verify: Annotated[
        str | None, typer.Option(help="check a payload offline against --key (no database)")
    ] = None,
    key: Annotated[Path | None, typer.Option(help="public key file, for --verify")] = None,
    revoked: Annotated[
        Path | None,
        typer.Option(
            help="with --verify: the revocation list to check against; otherwise write the "
            "operation's revocation list there (one credential id per line)"
        ),
    ] = None,
    user: UserOpt = None,
    operation: OpOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Issue signed credentials (QR payloads: an opaque id, the operation and an expiry; no
    personal data), print wristband label sheets, export the public key, revoke, verify offline."""
    from evacops.registry import credentials as creds

    if verify is not None:
        if key is None:
            fail("--verify: give the operation's public key file with --key")
        try:
            text = key.read_text(encoding="utf-8")
        except OSError as exc:
            fail(f"--key {key}: cannot read it ({exc.strerror})")
        op_, pub = creds.read_public_key_text(text)
        revoked_ids: list[str] = []
        if revoked is not None:
            try:
                revoked_ids = revoked.read_text(encoding="utf-8").split()
            except OSError as exc:
                fail(f"--revoked {revoked}: cannot read it ({exc.strerror})")
        claim = creds.verify(verify, pub, operation=op_, revoked=revoked_ids)
        verified = {
            "valid": True,
            "credential": creds.short_code(claim.credential_id),
            "operation": claim.operation,
            "expires_at": claim.expires_at.isoformat(),
        }
        _emit(
            verified,
            as_json,
            lines=[
                f"Valid: {verified['credential']} for {op_}, until {verified['expires_at']}"
                + ("" if revoked is not None else " (give --revoked LIST to check revocation)")
            ],
        )
        return
    reg, op = _session(user, operation)
    if revoke:
        reg.revoke(op, revoke, reason=reason or "revoked")
        _emit({"revoked": revoke}, as_json, lines=[f"Credential {revoke} revoked."])
        return
    res: dict[str, Any] = {}
    if public_key is not None:
        public_key.write_text(creds.public_key_text(reg.public_key(op), op), encoding="utf-8")
        res["public_key"] = str(public_key)
    if revoked is not None:
        ids = reg.revoked(op)
        revoked.write_text("".join(i + "\n" for i in ids), encoding="utf-8")
        res.update(revoked=len(ids), revocation_list=str(revoked))
    if issue:
        res["issued"] = len(reg.issue_credentials(op, days=days))
    if out_file is not None:
        items = reg.credential_payloads(op)
        labels = [
            creds.Label(
                i["payload"], i["code"], f"HH {i['household_id'][-6:].upper()}", i["category"][:18]
            )
            for i in items
        ]
        if not labels:
            fail("no valid credentials to print; issue some first")
        with err.status(f"drawing {len(labels):,} labels ...") if not as_json else _null():
            pages = creds.write_label_sheet(labels, out_file)
        res.update(labels=len(labels), pages=pages, sheet=str(out_file))
    lines = []
    if "issued" in res:
        lines.append(f"Issued {res['issued']:,} credentials.")
    if "sheet" in res:
        lines.append(f"Wrote {res['labels']:,} labels on {res['pages']} page(s): {res['sheet']}")
    if "public_key" in res:
        lines.append(f"Public key: {res['public_key']}")
    if "revocation_list" in res:
        lines.append(f"Revocation list ({res['revoked']} ids): {res['revocation_list']}")
    _emit(res, as_json, lines=lines)


@app.command()
@_guard
def shred(
    operation: Annotated[
        str, typer.Option("--operation", help="the operation whose personal data is destroyed")
    ],
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
    user: UserOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Crypto-shred an operation: destroy its data key, so every personal field becomes
    unreadable at once; counts and movements remain. Cannot be undone."""
    reg = _open(user)
    if not yes:
        if not sys.stdin.isatty():
            fail("shred: add --yes to confirm (it cannot be undone)")
        typer.confirm(
            f"Destroy every personal field of operation {operation}? This cannot be undone",
            abort=True,
        )
    r = reg.shred(operation)
    _emit(
        r,
        as_json,
        lines=[f"Operation {operation}: data key destroyed; personal fields are unreadable."],
    )


@app.command()
@_guard
def audit(
    action: Annotated[
        str, typer.Argument(help="verify (check the hash chain) or list (newest entries)")
    ] = "verify",
    limit: Annotated[int, typer.Option(help="entries to list")] = 50,
    user: UserOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Verify the audit chain (exit 1 if it was altered) or list its newest entries."""
    reg = _open(user)
    if action == "verify":
        v = reg.audit_verify()
        _emit(
            v.to_dict(),
            as_json,
            lines=[
                f"Audit chain verified: {v.entries:,} entries."
                if v.ok
                else f"AUDIT CHAIN BROKEN: {v.problem}"
            ],
        )
        if not v.ok:
            raise typer.Exit(1)
    elif action == "list":
        rows = reg.audit_entries(limit)
        t = Table(title="Audit (newest last)")
        for c in ("seq", "at", "actor", "action", "subject"):
            t.add_column(c)
        for e in rows:
            t.add_row(*(str(e[c]) for c in ("seq", "at", "actor", "action", "subject")))
        _emit(rows, as_json, table=t)
    else:
        fail(f"audit {action!r}: use 'verify' or 'list'")
