"""The operation's latest plan, and the plan next to what happened: people out and flights per
day, planned and actual, and the plan's people at each staging base now.

A planner (or an admin) attaches a plan made by ``evacops plan SCENARIO --out DIR``: the edge
(the CLI, the API, the demo) reads the folder's per-day figures (:func:`evacops.planfolder.
plan_outline`) and this service records them in a ``plan-attached`` event, with the digest of
the scenario the plan was made for. The event is the record: the latest one is the operation's
plan, the folder is not needed again, and an earlier plan stays in the log. The plan's days are
laid onto the operation's calendar from ``first_day`` (a plan made for Kabul 2021 can be
compared with an operation run now; by default its own dates).

No personal data: a plan is counts (per day, per period, per site).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from evacops.errors import RegistryError
from evacops.registry import events as ev
from evacops.registry.security import Perm, require
from evacops.registry.services import reports
from evacops.registry.services.context import Context, check_length
from evacops.registry.store.tables import events

MAX_PLAN_DAYS = 366


def _days_of(daily: Any, field: str) -> list[tuple[date, int]]:
    """A plan's people out per day ({YYYY-MM-DD: people}), in order; one-line errors."""
    if not isinstance(daily, dict) or not daily:
        raise RegistryError("give the plan's people out per day ({date: people})", field=field)
    try:
        days = sorted((date.fromisoformat(str(d)), _people(n)) for d, n in daily.items())
    except (TypeError, ValueError):
        raise RegistryError(
            "days as YYYY-MM-DD, people as whole numbers >= 0", field=field
        ) from None
    if (days[-1][0] - days[0][0]).days >= MAX_PLAN_DAYS:
        raise RegistryError(f"a plan of at most {MAX_PLAN_DAYS} days", field=field)
    return days


def _check_outline(outline: dict[str, Any]) -> tuple[list[int], date]:
    """The plan's people out per day (in order) and its own first day; one-line errors."""
    days = _days_of(outline.get("daily_out"), "daily_out")
    first = days[0][0]
    per_day = [0] * ((days[-1][0] - first).days + 1)
    for d, n in days:
        per_day[(d - first).days] = n
    return per_day, first


def _check_utc_days(outline: dict[str, Any], per_day: list[int]) -> dict[str, int] | None:
    """The plan's people out per UTC day of its own calendar (``daily_out_utc``: the days the
    registry counts in), where the outline has them: the same people as its own days."""
    if outline.get("daily_out_utc") is None:
        return None
    days = _days_of(outline["daily_out_utc"], "daily_out_utc")
    if sum(n for _, n in days) != sum(per_day):
        raise RegistryError(
            f"the same people as daily_out ({sum(per_day)}), counted by UTC day",
            field="daily_out_utc",
        )
    return {d.isoformat(): n for d, n in days}


MAX_CALL_ROWS = 50_000
DRIFT_PCT = 10.0  # the default threshold: people out so far this far off the plan's, re-plan
CALL_HOURS = 3  # the gate page shows the plan's call-forward for this many hours from now


#: the plan's timed rows an operation keeps with it, each [time, site, ...]: what the pages
#: that act on the plan show for the next hours (counts only)
TIMED = {
    "call_forward": "[time with its zone, gate, assembly point, cohort, people >= 0]",
    "departures": "[time with its zone, origin, destination, aircraft, people >= 0]",
}


def _check_timed(rows: Any, field: str) -> list[list[Any]]:
    """A plan's timed rows (:data:`TIMED`), times in UTC; one-line errors naming the field."""
    if rows is None:
        return []
    if not isinstance(rows, list) or len(rows) > MAX_CALL_ROWS:
        raise RegistryError(f"give a list of at most {MAX_CALL_ROWS} rows", field=field)
    out = []
    for i, r in enumerate(rows):
        try:
            t, site, other, who, n = r
            when = datetime.fromisoformat(str(t))
            n = int(n)
            if when.tzinfo is None or n < 0:
                raise ValueError
            names = [str(site), str(other), str(who)]
        except (TypeError, ValueError):
            raise RegistryError(f"row {i + 1}: give {TIMED[field]}", field=field) from None
        for name in names:
            check_length(field, name, 200)
        out.append([when.astimezone(UTC).isoformat(), *names, n])
    return out


def _check_period(value: Any) -> float | None:
    """The plan's period in hours (a re-plan on the server compiles the scenario at it)."""
    if value is None:
        return None
    try:
        h = float(value)
        if not 0 < h <= 24:
            raise ValueError
    except (TypeError, ValueError):
        raise RegistryError("give the plan's period in hours (0 to 24)", field="period_h") from None
    return h


def _check_cohort_counts(value: Any) -> dict[str, int]:
    """The plan's people out by the deadline per cohort ({cohort: people >= 0})."""
    if value is None:
        return {}
    try:
        if not isinstance(value, dict) or len(value) > 1000:
            raise ValueError
        got = {str(k): int(n) for k, n in value.items()}
        if any(n < 0 for n in got.values()):
            raise ValueError
    except (TypeError, ValueError):
        raise RegistryError(
            "give people out by the deadline as {cohort: people >= 0}", field="out_by_deadline"
        ) from None
    for k in got:
        check_length("out_by_deadline", k, 200)
    return got


def _check_replan(value: Any) -> int | None:
    """The re-plan a plan was adopted from (services/replans.py), if it was."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RegistryError("the re-plan's id, a whole number", field="replan")
    return value


def _flights_per_day(departures: list[list[Any]]) -> dict[str, int] | None:
    """The plan's flights with people per UTC day of its own calendar (its sorties with a
    load, from its departures: [UTC time, origin, destination, aircraft, people]), as the
    flights that left are counted; None for a plan without departures."""
    if not departures:
        return None
    out: dict[str, int] = {}
    for t, *_rest, n in departures:
        if n > 0:
            out[t[:10]] = out.get(t[:10], 0) + 1
    return dict(sorted(out.items()))


MAX_OCCUPANCY_CELLS = 400_000  # staging bases x periods (Kabul at 15 min: 15 x 1,632)
MAX_BASES = 1000


def _people(n: Any) -> int:
    """A whole number of people >= 0 (not a bool, not 2.9, not infinite)."""
    if isinstance(n, bool) or not isinstance(n, int | float) or n != n or n < 0 or n != int(n):
        raise ValueError
    return int(n)


def _check_occupancy(value: Any) -> dict[str, Any] | None:
    """The plan's people at each staging base per period: {start (a time with its zone),
    period_h, sites: {base: [people >= 0, one per period, the same periods for every base]}},
    the start kept in UTC."""
    if value is None:
        return None
    field = "occupancy"
    try:
        start = datetime.fromisoformat(str(value["start"]))
        period_h = float(value["period_h"])
        sites = value["sites"]
        if start.tzinfo is None or not 0 < period_h <= 24 or not isinstance(sites, dict):
            raise ValueError
        if not 0 < len(sites) <= MAX_BASES:
            raise ValueError
        out: dict[str, list[int]] = {}
        for name, people in sites.items():
            if not isinstance(people, list) or not people:
                raise ValueError
            out[str(name)] = [_people(n) for n in people]
        if len({len(v) for v in out.values()}) != 1:
            raise ValueError
        if sum(len(v) for v in out.values()) > MAX_OCCUPANCY_CELLS:
            raise ValueError
    except (TypeError, ValueError, KeyError, OverflowError):
        raise RegistryError(
            "give {start: a time with its zone, period_h: 0 to 24, sites: {base: [whole people "
            f">= 0 per period]}}}}, the same periods for every base, at most {MAX_BASES} bases "
            f"and {MAX_OCCUPANCY_CELLS} numbers",
            field=field,
        ) from None
    for name in out:
        check_length(field, name, 200)
    return {"start": start.astimezone(UTC).isoformat(), "period_h": period_h, "sites": out}


def attach_plan(
    ctx: Context, op: str, outline: dict[str, Any], *, first_day: date | None = None
) -> dict[str, Any]:
    """Record ``outline`` (``name``, ``scenario_sha256``, ``daily_out`` {date: people}) as the
    operation's latest plan, its day 1 laid on ``first_day`` (default: the plan's own first
    date). Returns what was recorded."""
    require(ctx.actor, Perm.plan, op)  # planners; admins hold every permission
    per_day, own_first = _check_outline(outline)
    per_utc_day = _check_utc_days(outline, per_day)
    name = str(outline.get("name") or "plan")
    digest = outline.get("scenario_sha256")
    check_length("name", name, 200)
    if digest is not None and (not isinstance(digest, str) or len(digest) != 64):
        raise RegistryError("a SHA-256 as 64 hex digits", field="scenario_sha256")
    timed = {f: _check_timed(outline.get(f), f) for f in TIMED}
    drift = outline.get("drift_pct")
    if drift is not None:
        try:
            drift = float(drift)
            if not 0 < drift <= 1000:
                raise ValueError
        except (TypeError, ValueError):
            raise RegistryError(
                "give the re-plan threshold as a percent above 0 (e.g. 10)", field="drift_pct"
            ) from None
    occupancy = _check_occupancy(outline.get("occupancy"))
    data = {
        "name": name,
        "scenario_sha256": digest,
        "period_h": _check_period(outline.get("period_h")),
        "out_by_deadline": _check_cohort_counts(outline.get("out_by_deadline")),
        "plan_first_day": own_first.isoformat(),
        "first_day": (first_day or own_first).isoformat(),
        "planned_out": per_day,
        "planned_out_utc": per_utc_day,
        "planned_flights": _flights_per_day(timed["departures"]),
        "occupancy": occupancy,
        "drift_pct": drift,
        "replan": _check_replan(outline.get("replan")),
        **timed,
    }
    with ctx.write() as conn:
        ctx.operation(conn, op)
        row = ctx.event(conn, op, ev.PLAN_ATTACHED, data=data)
        ctx.audit(conn, "plan-attached", op, name, {"days": len(per_day), "event": row["seq"]})
    got = {k: v for k, v in data.items() if k not in TIMED and k != "occupancy"}
    counts = {f"{f}_rows": len(rows) for f, rows in timed.items()}
    counts["occupancy_bases"] = len(occupancy["sites"]) if occupancy else 0
    return {**got, **counts, "event": row["seq"],
            "attached_at": row["occurred_at"].isoformat()}  # fmt: skip


def plan_rows_now(
    ctx: Context, op: str, field: str, sites: list[str], now: datetime, hours: int = CALL_HOURS
) -> dict[str, Any] | None:
    """The latest plan's timed rows ``field`` (:data:`TIMED`: ``call_forward`` to gates, or
    ``departures`` from airfields) at ``sites``, from the hour ``now`` is in to ``hours`` later,
    laid on the operation's calendar (shifted by the days between the plan's own first day and
    the operation's), in time order: {plan, from, to, rows: [{time, site, other, who, n}]}. None
    when no plan is attached or it has no such rows. For the gate and ramp pages (counts only:
    anyone who scans may see them)."""
    require(ctx.actor, Perm.scan, op)
    with ctx.read() as conn:
        ctx.operation(conn, op)
        plan = latest_plan(conn, op, ("name", "first_day", "plan_first_day", field))
    if plan is None or not plan.get(field):
        return None
    shift = date.fromisoformat(plan["first_day"]) - date.fromisoformat(plan["plan_first_day"])
    start = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    end = start + timedelta(hours=hours)
    wanted = set(sites)
    rows = []
    for t, site, other, who, n in plan[field]:
        when = datetime.fromisoformat(t) + shift
        if site in wanted and start <= when < end:
            rows.append({"time": when, "site": site, "other": other, "who": who, "n": n})
    rows.sort(key=lambda r: (r["time"], r["site"], r["other"], r["who"]))
    return {"plan": plan["name"], "from": start, "to": end, "rows": rows}


#: what most readers of the latest plan need of it: all but its timed rows (:data:`TIMED`, up to
#: thousands of rows each, read only by the page that shows them)
HEAD = ("name", "scenario_sha256", "period_h", "out_by_deadline", "plan_first_day", "first_day",
        "planned_out", "planned_out_utc", "planned_flights", "drift_pct",
        "replan")  # fmt: skip


def latest_plan(
    conn: Connection, op: str, keys: tuple[str, ...] | None = None
) -> dict[str, Any] | None:
    """The last ``plan-attached`` event's record (in the caller's read), or None; with ``keys``,
    only those of its data (selected by the database: a picture refresh does not read the
    plan's call-forward and departures)."""
    E = events.c
    # the few plan events, found by the (operation, type) index; the last by sequence
    seqs = conn.execute(
        select(E.seq).where(E.operation_id == op, E.type == ev.PLAN_ATTACHED)
    ).scalars()
    last = max(seqs, default=None)
    if last is None:
        return None
    return _plan_event(conn, last, keys)


def plan_of_event(
    conn: Connection, op: str, seq: int, keys: tuple[str, ...] | None = None
) -> dict[str, Any] | None:
    """The ``plan-attached`` event ``seq`` of operation ``op`` (as :func:`latest_plan` gives
    it), or None if there is no such plan event."""
    E = events.c
    found = conn.execute(
        select(E.seq).where(E.operation_id == op, E.seq == seq, E.type == ev.PLAN_ATTACHED)
    ).scalar_one_or_none()
    return None if found is None else _plan_event(conn, seq, keys)


def _plan_event(conn: Connection, last: int, keys: tuple[str, ...] | None) -> dict[str, Any]:
    E = events.c
    if keys is None:
        row = conn.execute(select(E.data, E.occurred_at).where(E.seq == last)).one()
        data = row.data
    else:
        cols = [E.data[k].label(f"k{i}") for i, k in enumerate(keys)]
        row = conn.execute(select(E.occurred_at, *cols).where(E.seq == last)).one()
        data = {k: row[i + 1] for i, k in enumerate(keys)}
    return {**data, "event": last, "attached_at": row.occurred_at.isoformat()}


def plan_vs_actual(ctx: Context, op: str) -> dict[str, Any] | None:
    """The latest plan next to what happened: people out per UTC day, planned and actual (first
    departures, as the report counts them; ``utc_days`` false for a plan attached with its own
    days only, which are then laid as they are), one row per day from the first day of either to
    the last, with running totals; flights with people per day, planned and actual (their
    departures), where the plan has them; and the plan's people at each staging base now
    (``bases``, :func:`_bases_now`). None when no plan is attached."""
    require(ctx.actor, Perm.report, op)
    with ctx.read() as conn:
        ctx.operation(conn, op)
        plan = latest_plan(conn, op, (*HEAD, "occupancy"))
        if plan is None:
            return None
        out_per_day = reports.out_per_day(conn, op)
        flown = reports.flights_per_day(conn, op)
    first = date.fromisoformat(plan["first_day"])
    shift = first - date.fromisoformat(plan["plan_first_day"])
    flights = plan.get("planned_flights")  # {UTC day of the plan's own calendar: flights}
    # people out planned per UTC day of the operation's calendar; a plan attached before the
    # UTC days has only its own days, laid from day 1
    own = plan.get("planned_out_utc") or {
        (date.fromisoformat(plan["plan_first_day"]) + timedelta(days=k)).isoformat(): n
        for k, n in enumerate(plan["planned_out"])
    }
    planned = {(date.fromisoformat(d) + shift).isoformat(): n for d, n in own.items()}
    days = [date.fromisoformat(d) for d in (*planned, *out_per_day, *flown)]
    days += [date.fromisoformat(d) + shift for d in flights or {}]
    start, end = min([first, *days]), max([first, *days])
    rows, cum_p, cum_a = [], 0, 0
    for i in range((end - start).days + 1):
        d = start + timedelta(days=i)
        k = (d - first).days
        p = planned.get(d.isoformat(), 0)
        a = out_per_day.get(d.isoformat(), 0)
        cum_p, cum_a = cum_p + p, cum_a + a
        rows.append(
            {"date": d.isoformat(), "day": k + 1, "planned": p, "actual": a,
             "planned_total": cum_p, "actual_total": cum_a,
             "planned_flights": None if flights is None else flights.get(
                 (d - shift).isoformat(), 0),
             "actual_flights": flown.get(d.isoformat(), 0)}
        )  # fmt: skip
    return {
        "name": plan["name"],
        "scenario_sha256": plan["scenario_sha256"],
        "first_day": plan["first_day"],
        "plan_first_day": plan["plan_first_day"],
        "attached_at": plan["attached_at"],
        "planned": sum(planned.values()),
        "utc_days": bool(plan.get("planned_out_utc")),
        "days": rows,
        "drift": _drift(rows, ctx.clock().astimezone(UTC).date(), plan.get("drift_pct")),
        "has_flights": flights is not None,
        "bases": _bases_now(plan["occupancy"], shift, ctx.clock()),
    }


def _bases_now(
    occupancy: dict[str, Any] | None, shift: timedelta, now: datetime
) -> dict[str, Any] | None:
    """The plan's people at each staging base at the end of the last period that ended by
    ``now`` (the plan's times laid on the operation's calendar by ``shift``): {at, sites:
    {base: people}}; None without the plan's occupancy, before its first period ends or after
    its last."""
    if not occupancy:
        return None
    start = datetime.fromisoformat(occupancy["start"]) + shift
    step = timedelta(hours=float(occupancy["period_h"]))
    ended = int((now.astimezone(UTC) - start) // step)  # periods ended by now
    periods = len(next(iter(occupancy["sites"].values())))  # (the same for every base)
    if not 1 <= ended <= periods:
        return None
    at = start + ended * step
    sites = {s: v[ended - 1] for s, v in occupancy["sites"].items()}
    return {"at": at.isoformat(), "sites": sites}


def _drift(rows: list[dict[str, Any]], today: date, threshold: float | None) -> dict[str, Any]:
    """People out so far (through ``today``, UTC) against the plan's so far, and whether they
    have drifted apart by more than the cell's threshold (percent of the plan's so far): a
    re-plan is due."""
    threshold = DRIFT_PCT if threshold is None else float(threshold)
    so_far = [r for r in rows if date.fromisoformat(r["date"]) <= today]
    planned = so_far[-1]["planned_total"] if so_far else 0
    actual = so_far[-1]["actual_total"] if so_far else 0
    pct = 100.0 * (actual - planned) / planned if planned else None
    return {
        "as_of": today.isoformat(),
        "planned": planned,
        "actual": actual,
        "pct": None if pct is None else round(pct, 1),
        "threshold_pct": threshold,
        "replan": pct is not None and abs(pct) > threshold,
    }
