"""The operation's latest plan, and the plan next to what happened: people out per day, planned
and actual.

A planner (or an admin) attaches a plan made by ``evacops plan SCENARIO --out DIR``: the edge
(the CLI, the API, the demo) reads the folder's per-day figures (:func:`evacops.planfolder.
plan_outline`) and this service records them in a ``plan-attached`` event, with the digest of
the scenario the plan was made for. The event is the record: the latest one is the operation's
plan, the folder is not needed again, and an earlier plan stays in the log. The plan's days are
laid onto the operation's calendar from ``first_day`` (a plan made for Kabul 2021 can be
compared with an operation run now; by default its own dates).

No personal data: a plan is counts per day.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, select

from evacops.errors import RegistryError
from evacops.registry import events as ev
from evacops.registry.security import Perm, require
from evacops.registry.services import reports
from evacops.registry.services.context import Context, check_length
from evacops.registry.store.tables import events

MAX_PLAN_DAYS = 366


def _check_outline(outline: dict[str, Any]) -> tuple[list[int], date]:
    """The plan's people out per day (in order) and its own first day; one-line errors."""
    daily = outline.get("daily_out")
    if not isinstance(daily, dict) or not daily:
        raise RegistryError(
            "give the plan's people out per day ({date: people})", field="daily_out"
        )
    try:
        days = sorted((date.fromisoformat(str(d)), int(n)) for d, n in daily.items())
    except (TypeError, ValueError):
        raise RegistryError(
            "days as YYYY-MM-DD, people as whole numbers", field="daily_out"
        ) from None
    if any(n < 0 for _, n in days):
        raise RegistryError("people out must be >= 0", field="daily_out")
    first = days[0][0]
    if (days[-1][0] - first).days >= MAX_PLAN_DAYS:
        raise RegistryError(f"a plan of at most {MAX_PLAN_DAYS} days", field="daily_out")
    per_day = [0] * ((days[-1][0] - first).days + 1)
    for d, n in days:
        per_day[(d - first).days] = n
    return per_day, first


def attach_plan(
    ctx: Context, op: str, outline: dict[str, Any], *, first_day: date | None = None
) -> dict[str, Any]:
    """Record ``outline`` (``name``, ``scenario_sha256``, ``daily_out`` {date: people}) as the
    operation's latest plan, its day 1 laid on ``first_day`` (default: the plan's own first
    date). Returns what was recorded."""
    require(ctx.actor, Perm.plan, op)  # planners; admins hold every permission
    per_day, own_first = _check_outline(outline)
    name = str(outline.get("name") or "plan")
    digest = outline.get("scenario_sha256")
    check_length("name", name, 200)
    if digest is not None and (not isinstance(digest, str) or len(digest) != 64):
        raise RegistryError("a SHA-256 as 64 hex digits", field="scenario_sha256")
    data = {
        "name": name,
        "scenario_sha256": digest,
        "plan_first_day": own_first.isoformat(),
        "first_day": (first_day or own_first).isoformat(),
        "planned_out": per_day,
    }
    with ctx.write() as conn:
        ctx.operation(conn, op)
        row = ctx.event(conn, op, ev.PLAN_ATTACHED, data=data)
        ctx.audit(conn, "plan-attached", op, name, {"days": len(per_day), "event": row["seq"]})
    return {**data, "event": row["seq"], "attached_at": row["occurred_at"].isoformat()}


def latest_plan(conn: Connection, op: str) -> dict[str, Any] | None:
    """The last ``plan-attached`` event's record (in the caller's read), or None."""
    E = events.c
    # the few plan events, found by the (operation, type) index; the last by sequence
    seqs = conn.execute(
        select(E.seq).where(E.operation_id == op, E.type == ev.PLAN_ATTACHED)
    ).scalars()
    last = max(seqs, default=None)
    if last is None:
        return None
    row = conn.execute(select(E.data, E.occurred_at).where(E.seq == last)).one()
    return {**row.data, "event": last, "attached_at": row.occurred_at.isoformat()}


def plan_vs_actual(ctx: Context, op: str) -> dict[str, Any] | None:
    """The latest plan next to what happened: people out per UTC day, planned and actual (first
    departures, as the report counts them), one row per day from the first day of either to
    the last, with running totals. None when no plan is attached."""
    require(ctx.actor, Perm.report, op)
    with ctx.read() as conn:
        ctx.operation(conn, op)
        plan = latest_plan(conn, op)
        if plan is None:
            return None
        out_per_day = reports.out_per_day(conn, op)
    first = date.fromisoformat(plan["first_day"])
    planned = plan["planned_out"]
    last = first + timedelta(days=len(planned) - 1)
    actual_days = [date.fromisoformat(d) for d in out_per_day]
    start = min([first, *actual_days])
    end = max([last, *actual_days])
    rows, cum_p, cum_a = [], 0, 0
    for i in range((end - start).days + 1):
        d = start + timedelta(days=i)
        k = (d - first).days
        p = planned[k] if 0 <= k < len(planned) else 0
        a = out_per_day.get(d.isoformat(), 0)
        cum_p, cum_a = cum_p + p, cum_a + a
        rows.append(
            {"date": d.isoformat(), "day": k + 1, "planned": p, "actual": a,
             "planned_total": cum_p, "actual_total": cum_a}
        )  # fmt: skip
    return {
        "name": plan["name"],
        "scenario_sha256": plan["scenario_sha256"],
        "first_day": plan["first_day"],
        "plan_first_day": plan["plan_first_day"],
        "attached_at": plan["attached_at"],
        "planned": sum(planned),
        "days": rows,
    }
