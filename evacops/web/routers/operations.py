"""Operations the caller may act in, their report, their picture and their latest plan."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel, Field

from evacops.registry.service import Registry
from evacops.web import views
from evacops.web.deps import registry
from evacops.web.routers.common import API, OP, Page

router = APIRouter(tags=["operations"])


@router.get(API + "/operations", name="api_operations")
def api_operations(reg: Registry = Depends(registry)) -> list[dict[str, Any]]:
    """The operations the caller has a role in (an admin: every one)."""
    return reg.operations()


@router.get(OP + "/report", name="api_report")
def api_report(
    op: str, since: AwareDatetime | None = None, reg: Registry = Depends(registry)
) -> dict[str, Any]:
    """Counts by status, site, cohort, nationality and category; people out per day; with
    ``since`` (an ISO date and time with its zone), the people out since then."""
    return reg.report(op, since=since)


@router.get(OP + "/people-by-place", name="api_people_by_place")
def api_people_by_place(op: str, reg: Registry = Depends(registry)) -> list[dict[str, Any]]:
    """People still to move by cohort, status, site and flight destination (counts only):
    what ``evacops replan --operation`` starts from."""
    return reg.people_by_place(op)


@router.get(OP + "/counts", name="api_counts_export")
def api_counts_export(
    op: str, min_cell: int = Query(5, ge=1, le=1000), page: Page = Depends(),
    reg: Registry = Depends(registry),
) -> dict[str, Any]:  # fmt: skip
    """The aggregate counts as ``registry export counts`` writes them (HXL; counts under
    ``min_cell`` suppressed as ``<5``), a page at a time: ``columns`` and rows as lists. Each
    page is counted when asked for and audited."""
    got = reg.counts_page(op, min_cell=min_cell, offset=page.offset, limit=page.limit)
    return {**page.window(got["rows"], got["total"]), "columns": got["columns"],
            "min_cell": got["min_cell"]}  # fmt: skip


@router.get(OP + "/picture", name="api_picture")
def api_picture(op: str, request: Request, reg: Registry = Depends(registry)) -> dict[str, Any]:
    """The operation picture: the numbers the picture page shows."""
    return views.picture(reg, op, request.app.state.scenario, views.scenario_sha256(request))


class PlanOccupancy(BaseModel):
    """The plan's people at each staging base at the end of each period."""

    start: datetime = Field(description="the start of the plan's first period, with its zone")
    period_h: float = Field(gt=0, le=24)
    sites: dict[str, list[int]] = Field(description="base: people at the end of each period")


class PlanOutline(BaseModel):
    """A plan's people out per day, as ``evacops.planfolder.plan_outline`` reads it from a plan
    folder (``daily_out.csv``'s total and ``summary.json``'s ``scenario_sha256``)."""

    name: str = Field("plan", max_length=200)
    scenario_sha256: str | None = Field(None, min_length=64, max_length=64)
    daily_out: dict[str, int] = Field(
        description="YYYY-MM-DD: people out that day (the plan's own days: its scenario's zone)"
    )
    daily_out_utc: dict[str, int] | None = Field(
        None,
        description="YYYY-MM-DD: people out that UTC day (the same people; the picture compares "
        "them with the days the registry counts, which are UTC days)",
    )
    period_h: float | None = Field(
        None, gt=0, le=24, description="the plan's period in hours (a re-plan here uses it)"
    )
    out_by_deadline: dict[str, int] | None = Field(
        None, description="cohort: people out by the scenario's deadline in the plan"
    )
    first_day: date | None = Field(None, description="the operation's date of the plan's day 1")
    call_forward: list[list[str | int]] | None = Field(
        None,
        max_length=50_000,
        description="[time with its zone, gate, assembly point, cohort, people]: the plan's "
        "call-forward, shown on the gate pages for the next hours",
    )
    drift_pct: float | None = Field(
        None,
        gt=0,
        le=1000,
        description="flag a re-plan on the picture when people out so far are this many percent "
        "off the plan's so far (default 10)",
    )
    departures: list[list[str | int]] | None = Field(
        None,
        max_length=50_000,
        description="[time with its zone, origin, destination, aircraft, people]: the plan's "
        "sorties, shown on the ramp pages for the next hours",
    )
    occupancy: PlanOccupancy | None = Field(
        None,
        description="the plan's people at each staging base per period, shown on the picture "
        "beside the people there now",
    )


@router.post(OP + "/plans", name="api_plan_attach", status_code=201)
def api_plan_attach(
    op: str, body: PlanOutline, reg: Registry = Depends(registry)
) -> dict[str, Any]:
    """Attach the operation's latest plan (planner, admin): shown next to what happened."""
    outline = body.model_dump(exclude={"first_day"})
    return reg.attach_plan(op, outline, first_day=body.first_day)
