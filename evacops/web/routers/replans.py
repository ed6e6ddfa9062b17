"""Re-plans: asked for (API, picture page), listed, adopted as the operation's plan
(:mod:`evacops.web.replans`, :mod:`evacops.registry.services.replans`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from evacops.errors import EvacopsError, UserError
from evacops.plan.replan_job import MAX_WINDOW_H
from evacops.registry.service import Registry
from evacops.registry.services.replans import check_window
from evacops.web import i18n
from evacops.web.deps import Caller, caller, registry
from evacops.web.routers.common import OP

router = APIRouter(tags=["re-plans"])
pages = APIRouter(prefix="/o/{op}", include_in_schema=False)


class ReplanRequest(BaseModel):
    """A re-plan from a moment of the operation, with what-if changes from then on."""

    model_config = ConfigDict(extra="forbid")  # a misspelt change is refused, not ignored

    at: AwareDatetime | None = Field(
        None, description="the moment to re-plan from, with its zone (default: now)"
    )
    close: list[str] = Field([], max_length=50, description="sites to close (gates, bases)")
    capacity: dict[str, float] = Field({}, description="site: holding capacity from the moment")
    aircraft: dict[str, int] = Field({}, description="fleet: aircraft from the moment")
    departure_slots: dict[str, float] = Field({}, description="airfield: departures per hour")
    keep_schedule: bool = Field(
        False,
        description="re-plan the people alone, on the plan's whole sorties (every aircraft "
        "flies as planned): seconds, where re-planning the aircraft too takes minutes; fails "
        "with the sortie at fault when a what-if rules the schedule out",
    )
    window_h: float | None = Field(
        None,
        gt=0,
        le=MAX_WINDOW_H,
        description="re-plan the aircraft only in the next hours, keeping the plan's sorties "
        "after them (a rolling horizon: seconds where the whole re-plan takes minutes; its "
        "bound holds for schedules that keep them); not with keep_schedule",
    )
    scenario_sha256: str | None = Field(
        None,
        pattern="^[0-9a-f]{64}$",
        description="the SHA-256 of the scenario file meant; refused if the server draws another",
    )


def _submit(request: Request, reg: Registry, op: str, body: ReplanRequest) -> dict[str, Any]:
    what_if = body.model_dump(exclude={"at", "scenario_sha256", "keep_schedule", "window_h"})
    return request.app.state.replanner.submit(
        reg,
        op,
        body.at,
        what_if,
        body.scenario_sha256,
        keep_schedule=body.keep_schedule,
        window_h=body.window_h,
    )


@router.post(OP + "/replan", name="api_replan", status_code=202)
def api_replan(
    op: str, body: ReplanRequest, request: Request, reg: Registry = Depends(registry)
) -> dict[str, Any]:
    """Re-plan the rest of the horizon from the registry's people at a moment (planner, admin):
    the latest plan's sorties before it flown, what-if changes from then on. Runs beside the
    server; the answer is the re-plan's record (``status`` running): follow it at
    ``GET .../replans/{id}``."""
    return _submit(request, reg, op, body)


@router.get(OP + "/replans", name="api_replans")
def api_replans(op: str, request: Request, reg: Registry = Depends(registry)) -> list[dict]:
    """The operation's re-plans, newest first: who asked, when, from what, the status, people
    out by the deadline per cohort beside the plan they started from."""
    return request.app.state.replanner.replans(reg, op)


@router.get(OP + "/replans/{rid}", name="api_replan_show")
def api_replan_show(
    op: str, rid: int, request: Request, reg: Registry = Depends(registry)
) -> dict[str, Any]:
    """One re-plan (as listed)."""
    for r in request.app.state.replanner.replans(reg, op):
        if r["id"] == rid:
            return r
    raise UserError(f"no re-plan {rid} in operation {op}", field="replan")


@router.post(OP + "/replans/{rid}/adopt", name="api_replan_adopt")
def api_replan_adopt(op: str, rid: int, reg: Registry = Depends(registry)) -> dict[str, Any]:
    """Make a finished re-plan the operation's plan (planner, admin): the gates get its
    call-forward, the ramp its departures, the picture its days."""
    return reg.adopt_replan(op, rid)


def _back(request: Request, op: str, status: str) -> RedirectResponse:
    """Back to the picture, in the page's language (the form's ``?lang=``)."""
    lang = i18n.language(request)
    return RedirectResponse(f"/o/{op}/picture?lang={lang}&replan={status}", status_code=303)


def _page_request(form: dict[str, Any]) -> ReplanRequest:
    """The picture's what-if form: a site to close, a fleet's aircraft, an airfield's slots
    (each optional)."""
    body: dict[str, Any] = {}
    close = str(form.get("close") or "").strip()
    if close:
        body["close"] = [close]
    for key, field, cast in (
        ("fleet", "aircraft", int),
        ("airfield", "departure_slots", float),
        ("site", "capacity", float),
    ):
        name, value = str(form.get(key) or "").strip(), str(form.get(f"{key}_n") or "").strip()
        if name and value:
            try:
                body[field] = {name: cast(value)}
            except ValueError:
                raise UserError("give a number", field=f"{key}_n") from None
    body["keep_schedule"] = bool(form.get("keep_schedule"))
    window = str(form.get("window_h") or "").strip()
    if window:
        try:
            body["window_h"] = check_window(float(window), body["keep_schedule"])
        except ValueError:
            raise UserError("give a number", field="window_h") from None
    return ReplanRequest(**body)


@pages.post("/picture/replan", name="page_replan_post")
async def page_replan_post(op: str, request: Request, c: Caller = Depends(caller)):
    form = dict((await request.form()).items())
    try:
        body = _page_request(form)
        await run_in_threadpool(_submit, request, c.registry, op, body)
    except EvacopsError as exc:
        from evacops.web.routers.pages import picture_page

        return await run_in_threadpool(picture_page, request, c, op, status=422, problem=exc)
    return _back(request, op, "asked")


@pages.post("/picture/replans/{rid}/adopt", name="page_replan_adopt_post")
async def page_replan_adopt_post(op: str, rid: int, request: Request, c: Caller = Depends(caller)):
    try:
        await run_in_threadpool(c.registry.adopt_replan, op, rid)
    except EvacopsError as exc:
        from evacops.web.routers.pages import picture_page

        return await run_in_threadpool(picture_page, request, c, op, status=422, problem=exc)
    return _back(request, op, "adopted")
