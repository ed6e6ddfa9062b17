"""``evacops registry`` set-up: init, users, sites, flights and eligibility categories."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from evacops.cli.output import fail, fail_on, guard, out
from evacops.cli.registry.common import (
    JsonOpt,
    OpOpt,
    UserOpt,
    app,
    as_utc,
    emit,
    load_settings,
    open_as,
    password_for,
    session,
)
from evacops.errors import UserError


@app.command()
@guard
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

    settings = load_settings()
    pw = None
    if admin:
        pw = password_for(settings, f"Password for new admin {admin}: ")
    done = init_registry(settings, admin=admin, password=pw)
    if operation:
        reg = open_as(user or admin)
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
    emit(done, as_json, lines=lines)


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
@guard
def user_add(
    name: Annotated[str, typer.Argument(help="new user's name")],
    role: Annotated[
        str, typer.Option(help="admin, registrar, gate, manifest, planner or reporter")
    ],
    user: UserOpt = None,
) -> None:
    """Add a user (admin only). The new user's password (12 characters or more) is asked for
    (or EVACOPS_NEW_PASSWORD)."""
    import os

    reg = open_as(user)
    pw = os.environ.get("EVACOPS_NEW_PASSWORD") or (
        getpass.getpass(f"Password for {name}: ") if sys.stdin.isatty() else None
    )
    if not pw:
        fail("no password for the new user: set EVACOPS_NEW_PASSWORD or run in a terminal")
    reg.add_user(name, role, pw)
    out.print(f"User {name} ({role}) added.", highlight=False)


@app.command()
@guard
def site(
    code: Annotated[str, typer.Argument(help="site name, as scans will give it")],
    kind: Annotated[str, typer.Option(help="assembly, gate, airport, staging or destination")],
    user: UserOpt = None,
    operation: OpOpt = None,
) -> None:
    """Add a site to the operation."""
    reg, op = session(user, operation)
    reg.add_site(op, code, kind)
    out.print(f"Site {code} ({kind}) added to {op}.", highlight=False)


@app.command()
@guard
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
    reg, op = session(user, operation)
    if depart:
        res = reg.depart(op, code)
        emit(res, as_json, lines=[f"Flight {code} departed with {res['boarded']} on board."])
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
    emit(
        {"flight": code, "seats": seats},
        as_json,
        lines=[f"Flight {code} scheduled: {origin} -> {destination}, {seats} seats."],
    )


@app.command()
@guard
def categories(
    action: Annotated[
        str, typer.Argument(help="list, add, retire (no new registration may use it) or restore")
    ] = "list",
    name: Annotated[str | None, typer.Argument(help="the category, for add/retire/restore")] = None,
    cohort: Annotated[
        str | None, typer.Option(help="with add: the scenario cohort its people go in")
    ] = None,
    priority: Annotated[float, typer.Option(help="with add: the cohort's priority (>= 0)")] = 1.0,
    user: UserOpt = None,
    operation: OpOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The operation's eligibility categories (admin): list them with how many people have
    each, add one, retire one (the people who have it keep it) or restore it. Here on the server
    host, or through the service (EVACOPS_URL) as the same API the admin page uses."""
    if action not in ("list", "add", "retire", "restore"):
        fail(f"categories {action!r}: use list, add, retire or restore")
    if action != "list" and not name:
        fail(f"categories {action}: name the category")
    if action == "add" and not cohort:
        fail("categories add: give the cohort its people go in (--cohort)")
    reg, op = session(user, operation)
    if action != "list":
        try:
            if action == "add":
                reg.add_category(op, name, cohort, priority)
            else:
                getattr(reg, f"{action}_category")(op, name)
        except UserError as exc:  # the category is an argument here, not a flag
            fail_on(exc, {"category": f"category {name}"})
        done = {"retire": "retired", "restore": "restored", "add": "added"}[action]
        emit({"category": name, "done": done}, as_json, lines=[f"Category {name} {done} in {op}."])
        return
    rows = reg.categories(op)
    t = Table(title=f"Eligibility categories of {op}")
    for c in ("category", "cohort", "priority", "retired", "people"):
        t.add_column(c, justify="right" if c in ("priority", "people") else "left")
    for r in rows:
        t.add_row(r["category"], r["cohort"], f"{r['priority']:g}",
                  "retired" if r["retired"] else "", f"{r['people']:,}")  # fmt: skip
    emit(rows, as_json, table=t)
