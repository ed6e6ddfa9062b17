"""Re-plans of an operation, kept: who asked, when, from what state, with what changes, and
what came of it; and a re-plan adopted as the operation's plan.

A planner asks (:func:`request_replan`): a ``replan-requested`` event records the moment (the
operation's clock and the plan's own calendar), the what-if changes, the plan it starts from
and the people the registry counts. The service runs the re-plan beside it
(:mod:`evacops.plan.replan_job`, in a worker process) and records what came of it in a
``replan-finished`` event (:func:`finish_replan`): people out by the deadline per cohort, the
whole-sortie gap, and the outline an operation keeps of a plan, or the one-line reason it
failed. :func:`adopt_replan` makes a finished re-plan the operation's plan (a
``plan-attached`` event, :mod:`evacops.registry.services.plans`): the gate pages then show its
call-forward, the ramp its departures, the picture its days. Its people out per day are what
happened before the moment (the registry's) and the re-plan's from then on, so the picture's
drift starts again from zero.

No personal data: counts only.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from evacops.errors import RegistryError
from evacops.plan.replan_job import MAX_WINDOW_H
from evacops.registry import events as ev
from evacops.registry.security import Perm, require
from evacops.registry.services import plans, reports
from evacops.registry.services.context import Context, check_length
from evacops.registry.store.tables import events

MAX_NAMES = 50


def _names(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_NAMES:
        raise RegistryError(f"give a list of at most {MAX_NAMES} names", field=field)
    out = [str(v) for v in value]
    for v in out:
        check_length(field, v, 200)
    return out


#: the largest number a what-if may give each change (a fleet of more aircraft than exist, or
#: a capacity past any camp's, is a typing error; the worker would build arrays of that size)
LIMITS = {"capacity": 10_000_000, "aircraft": 1_000, "departure_slots": 1_000}


def _numbers(value: Any, field: str, cast: type) -> dict[str, Any]:
    if value is None:
        return {}
    top = LIMITS[field]
    try:
        if not isinstance(value, dict) or len(value) > MAX_NAMES:
            raise ValueError
        out = {str(k): cast(v) for k, v in value.items()}
        if any(not 0 <= v <= top for v in out.values()):  # (NaN fails both)
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise RegistryError(
            f"give {{name: number from 0 to {top:,}}} (at most {MAX_NAMES} names)", field=field
        ) from None
    for k in out:
        check_length(field, k, 200)
    return out


def check_what_if(what_if: dict[str, Any] | None) -> dict[str, Any]:
    """The what-if changes of a request: ``close`` [site], ``capacity`` {site: people},
    ``aircraft`` {fleet: count}, ``departure_slots`` {airfield: per hour}; one-line errors."""
    w = what_if or {}
    unknown = set(w) - {"close", "capacity", "aircraft", "departure_slots"}
    if unknown:
        raise RegistryError(
            "what-if takes close, capacity, aircraft and departure_slots",
            field=sorted(unknown)[0],
        )
    return {
        "close": _names(w.get("close"), "close"),
        "capacity": _numbers(w.get("capacity"), "capacity", float),
        "aircraft": _numbers(w.get("aircraft"), "aircraft", int),
        "departure_slots": _numbers(w.get("departure_slots"), "departure_slots", float),
    }


def _shift(plan: dict[str, Any]) -> timedelta:
    """The operation's calendar minus the plan's own (days)."""
    return date.fromisoformat(plan["first_day"]) - date.fromisoformat(plan["plan_first_day"])


def request_replan(
    ctx: Context,
    op: str,
    *,
    at: datetime | None = None,
    what_if: dict[str, Any] | None = None,
    scenario_sha256: str | None = None,
    runner: str | None = None,
    keep_schedule: bool = False,
    window_h: float | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Record a planner's request to re-plan from ``at`` (default: now) with ``what_if``
    changes, from the operation's latest plan and the registry's people. Returns the record and
    the job's inputs (:func:`evacops.plan.replan_job.run`, without the scenario's text).
    Refused, with the fix, when there is no plan, it was made for another scenario than
    ``scenario_sha256`` (the one served), or was attached without its period or departures.
    ``runner``: the process that will run it (:func:`replans`); ``keep_schedule``: the people
    alone, on the plan's sorties (:func:`evacops.plan.replan.replan_people`); ``window_h``:
    the aircraft re-planned in the next hours only, the plan's sorties kept after them."""
    require(ctx.actor, Perm.plan, op)
    changes = check_what_if(what_if)
    window_h = check_window(window_h, keep_schedule)
    moment = (at or ctx.clock()).astimezone(UTC)
    with ctx.read() as conn:
        ctx.operation(conn, op)
        plan = plans.latest_plan(conn, op)
    if plan is None:
        raise RegistryError(
            "no plan is attached; attach one first (evacops registry plan attach DIR)",
            field="plan",
            code="no-plan",
        )
    made_for = plan.get("scenario_sha256")
    if scenario_sha256 is not None and made_for is not None and made_for != scenario_sha256:
        raise RegistryError(
            "the latest plan was made for another scenario than the one served; attach a plan "
            "made for it",
            field="plan",
            code="plan-other-scenario",
        )
    if not plan.get("period_h") or not plan.get("departures"):
        raise RegistryError(
            "the latest plan was attached without its period or departures; attach its folder "
            "again (evacops registry plan attach DIR)",
            field="plan",
            code="plan-without-sorties",
        )
    people = reports.people_by_place(ctx, op)
    plan_at = moment - _shift(plan)
    data = {
        "at": moment.isoformat(),
        "plan_at": plan_at.isoformat(),
        "plan": plan["name"],
        "plan_event": plan["event"],
        "plan_out_by_deadline": plan.get("out_by_deadline") or {},
        "what_if": changes,
        "keep_schedule": bool(keep_schedule),
        "window_h": window_h,
        "people": sum(int(r["n"]) for r in people),
        "runner": runner,
    }
    with ctx.write() as conn:
        row = ctx.event(conn, op, ev.REPLAN_REQUESTED, data=data)
        ctx.audit(conn, "replan-requested", op, plan["name"], {"event": row["seq"]})
    record = _record(row["seq"], row["actor"], row["occurred_at"], data)
    job = {
        "period_h": plan["period_h"],
        "departures": plan["departures"],
        "people": people,
        "at": plan_at.isoformat(),
        "what_if": changes,
        "keep_schedule": bool(keep_schedule),
        "window_h": window_h,
    }
    return record, job


def check_window(window_h: float | None, keep_schedule: bool) -> float | None:
    """A re-plan window in hours (or None), refused with the fix when it is not above 0 and at
    most :data:`MAX_WINDOW_H`, or asked with a kept schedule (which re-plans no aircraft)."""
    if window_h is None:
        return None
    w = float(window_h)
    if not 0 < w <= MAX_WINDOW_H:  # (not a number: nan)
        raise RegistryError(
            f"window_h {window_h}: give hours above 0 and at most {MAX_WINDOW_H}",
            field="window_h",
            code="window-hours",
            params={"max": str(MAX_WINDOW_H)},
        )
    if keep_schedule:
        raise RegistryError(
            "window_h and keep_schedule: choose one (a kept schedule re-plans no aircraft; a "
            "window re-plans them for its hours)",
            field="window_h",
            code="window-and-kept",
        )
    return w


def finish_replan(ctx: Context, op: str, request: int, got: dict[str, Any]) -> None:
    """Record what came of re-plan ``request``: ``got`` is the job's answer, {result, outline}
    or {error} (:func:`evacops.plan.replan_job.run`)."""
    require(ctx.actor, Perm.plan, op)
    if "error" in got:
        data = {"request": request, "error": str(got["error"])[:500]}
        if got.get("error_code"):
            # the refusal's code and values, for a page to word it in its language
            data["error_code"] = str(got["error_code"])[:50]
            data["error_params"] = {
                str(k)[:20]: str(v)[:100] for k, v in dict(got.get("error_params") or {}).items()
            }
    else:
        data = {"request": request, "result": got["result"], "outline": got["outline"]}
    with ctx.write() as conn:
        ctx.event(conn, op, ev.REPLAN_FINISHED, data=data)
        ctx.audit(conn, "replan-finished", op, str(request), {"failed": "error" in got})


def _record(seq: int, actor: str, at: datetime, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": seq,
        "requested_by": actor,
        "requested_at": at.isoformat(),
        "at": data["at"],
        "plan": data["plan"],
        "what_if": data["what_if"],
        "keep_schedule": bool(data.get("keep_schedule")),
        "window_h": data.get("window_h"),
        "people": data["people"],
        "status": "running",
    }


def _comparison(before: dict[str, int], res: dict[str, Any]) -> list[dict[str, Any]]:
    """People out by the deadline per cohort: the plan's, the re-plan's and the difference; for a
    what-if, also the re-plan without its changes (``baseline``) and the difference is the
    change's effect (what-if less baseline), on whole sorties and in the LP (``lp_difference``:
    the same for two re-plans of the same state; the whole sorties' repair stops on a budget)."""
    after = res["out_by_deadline"]
    baseline = res.get("baseline_out_by_deadline")
    lp, lp_base = res.get("lp_out_by_deadline"), res.get("baseline_lp_out_by_deadline")
    rows = []
    for c in sorted(set(before) | set(after)):
        was, now = before.get(c), after.get(c, 0)
        row: dict[str, Any] = {"cohort": c, "plan": was, "replan": now}
        if baseline is not None:
            row["baseline"] = baseline.get(c, 0)
            row["difference"] = now - row["baseline"]
            if lp is not None and lp_base is not None:
                row["lp_difference"] = lp.get(c, 0) - lp_base.get(c, 0)
        else:
            row["difference"] = None if was is None else now - was
        rows.append(row)
    return rows


#: how long a re-plan another process runs is taken as running while unfinished (a Kabul what-if
#: at 1-hour periods takes 2-4 minutes; three may wait in turn); then as interrupted
RUNNING_ELSEWHERE = timedelta(hours=1)


def replans(
    ctx: Context, op: str, running: frozenset[int] = frozenset(), runner: str | None = None
) -> list[dict[str, Any]]:
    """The operation's re-plans, newest first: each request with its status, what came of it
    beside the plan it started from (people out by the deadline per cohort) and whether it is
    the operation's plan now. Status: ``done``, ``failed``; unfinished, ``running`` if its id
    is in ``running`` (the jobs of the caller's process, ``runner``), or if another process
    runs it and it was asked less than :data:`RUNNING_ELSEWHERE` ago (a server of several
    workers or hosts, or the CLI on the server host); else ``interrupted`` (the process that
    ran it stopped)."""
    require(ctx.actor, Perm.report, op)
    E = events.c
    with ctx.read() as conn:
        ctx.operation(conn, op)
        asked = conn.execute(
            select(E.seq, E.actor, E.occurred_at, E.data)
            .where(E.operation_id == op, E.type == ev.REPLAN_REQUESTED)
            .order_by(E.seq)
        ).all()
        # what came of each, without its outline (the re-plan's rows: only adopting needs them)
        finished = conn.execute(
            select(
                E.seq,
                E.occurred_at,
                E.data["request"].label("request"),
                E.data["error"].label("error"),
                E.data["error_code"].label("error_code"),
                E.data["error_params"].label("error_params"),
                E.data["result"].label("result"),
            )
            .where(E.operation_id == op, E.type == ev.REPLAN_FINISHED)
            .order_by(E.seq)
        ).all()
        plan = plans.latest_plan(conn, op, ("replan",))
    adopted = plan.get("replan") if plan else None
    records: dict[int, dict[str, Any]] = {}
    elsewhere = set()
    recent = ctx.clock().astimezone(UTC) - RUNNING_ELSEWHERE
    for r in asked:
        records[r.seq] = _record(r.seq, r.actor, r.occurred_at, r.data)
        records[r.seq]["_before"] = r.data.get("plan_out_by_deadline") or {}
        by = r.data.get("runner")
        if by is not None and by != runner and r.occurred_at.astimezone(UTC) > recent:
            elsewhere.add(r.seq)
    for f in finished:
        rec = records.get(int(f.request if f.request is not None else -1))
        if rec is None:
            continue
        rec["finished_at"] = f.occurred_at.isoformat()
        rec["took_s"] = round(
            (f.occurred_at - datetime.fromisoformat(rec["requested_at"])).total_seconds(), 1
        )
        if f.error is not None:
            rec.update(status="failed", error=f.error)
            if f.error_code is not None:
                rec.update(error_code=f.error_code, error_params=f.error_params or {})
        else:
            res = f.result
            rec.update(status="done", result=res)
            rec["comparison"] = _comparison(rec["_before"], res)
    out = []
    for seq in sorted(records, reverse=True):
        rec = records[seq]
        del rec["_before"]
        if rec["status"] == "running" and seq not in running and seq not in elsewhere:
            rec["status"] = "interrupted"
        rec["adopted"] = seq == adopted
        out.append(rec)
    return out


def adopt_replan(ctx: Context, op: str, request: int) -> dict[str, Any]:
    """Make finished re-plan ``request`` the operation's plan (:mod:`evacops.registry.services.
    plans`): its call-forward, departures and people out by the deadline; per day, the people
    actually out before the moment's day, on that day those out when it was asked plus the
    re-plan's, the re-plan's after; laid on the operation's calendar as the plan it started
    from was (even if another plan was attached since the request)."""
    require(ctx.actor, Perm.plan, op)
    E = events.c
    with ctx.read() as conn:
        ctx.operation(conn, op)
        row = conn.execute(
            select(E.data, E.occurred_at).where(
                E.operation_id == op, E.seq == request, E.type == ev.REPLAN_REQUESTED
            )
        ).one_or_none()
        if row is None:
            raise RegistryError(f"no re-plan {request} in operation {op}", field="replan")
        asked = row.data
        done = [
            d
            for d in conn.execute(
                select(E.data).where(E.operation_id == op, E.type == ev.REPLAN_FINISHED)
            ).scalars()
            if int(d.get("request", -1)) == request
        ]
        # the plan it started from (not the latest: another may have been attached since)
        plan = plans.plan_of_event(conn, op, int(asked["plan_event"]), (*plans.HEAD, "departures"))
        latest = plans.latest_plan(conn, op, ("drift_pct",))
        # people out when it was asked (its state: its ``out_before``); those flown since are
        # in the re-plan's own flows
        actual = reports.out_per_day(conn, op, until=row.occurred_at)
    if not done or "outline" not in done[-1]:
        raise RegistryError(
            f"re-plan {request} has not finished with a plan; wait for it or ask again",
            field="replan",
            code="replan-not-finished",
        )
    if plan is None:  # (a re-plan starts from a plan: only a shredded log has none)
        raise RegistryError(f"the plan re-plan {request} started from is gone", field="plan")
    outline = dict(done[-1]["outline"])
    # the sorties flown before the re-plan's moment (its outline has none: their loads are not
    # the re-plan's): the plan's, as the re-plan took them, so a later re-plan from this plan
    # starts every aircraft where those sorties left it
    moment = datetime.fromisoformat(done[-1]["result"]["at"])
    flown = [d for d in plan.get("departures") or [] if datetime.fromisoformat(d[0]) < moment]
    outline["departures"] = flown + list(outline.get("departures") or [])
    shift = _shift(plan)
    moment_day = (datetime.fromisoformat(asked["at"]) - shift).date()
    # the plan's first day of either kind (its UTC days may start the day before its own)
    plan_first = min(
        date.fromisoformat(d)
        for d in (plan["plan_first_day"], *(plan.get("planned_out_utc") or ()))
    )
    own_days = {date.fromisoformat(d) - shift: n for d, n in actual.items()}
    past = {d.isoformat(): n for d, n in own_days.items() if plan_first <= d <= moment_day}
    daily = _days_joined(past, outline["daily_out"])
    if outline.get("daily_out_utc") is not None:
        outline["daily_out_utc"] = _days_joined(past, outline["daily_out_utc"])
    first = min(date.fromisoformat(d) for d in daily)
    outline.update(
        name=f"re-plan {request}",
        scenario_sha256=plan.get("scenario_sha256"),
        daily_out=daily,
        drift_pct=(latest or plan).get("drift_pct"),
        replan=request,
    )
    return plans.attach_plan(ctx, op, outline, first_day=first + shift)


def _days_joined(past: dict[str, int], replan: dict[str, int]) -> dict[str, int]:
    """People out per day of an adopted re-plan: those actually out through the moment's day
    (``past``, on the plan's calendar), plus the re-plan's (nobody before its moment; every
    day of it kept, so none of its people is dropped where its days are not UTC days)."""
    daily = dict(past)
    for d, n in replan.items():
        daily[d] = daily.get(d, 0) + int(n)
    return daily
