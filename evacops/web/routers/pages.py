"""The pages of an operation (``/o/{op}/...``): the picture (refreshed by htmx), the gate
(offline with its service worker), admin. Thin: each calls the same services as the API."""

from __future__ import annotations

import functools
import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from evacops.errors import EvacopsError, UserError
from evacops.registry.security import Perm
from evacops.registry.services.accounts import OPERATION_ROLES
from evacops.registry.services.setup import PASSWORD_MIN
from evacops.web import views
from evacops.web.deps import Caller, caller
from evacops.web.inline import gate as gate_inline
from evacops.web.pages import render

router = APIRouter(prefix="/o/{op}", include_in_schema=False)
STATIC = Path(__file__).parent.parent / "static"


def _now() -> str:
    return datetime.now(UTC).strftime("%H:%M:%S UTC")


def _picture(request: Request, c: Caller, op: str) -> dict:
    scenario = request.app.state.scenario
    pic = views.picture(c.registry, op, scenario, views.scenario_sha256(request))
    pic["replans"] = request.app.state.replanner.replans(c.registry, op)[:REPLANS]
    return pic


REPLANS = 5  # the picture lists the latest re-plans


def picture_page(
    request: Request, c: Caller, op: str, status: int = 200, problem: object = None
) -> HTMLResponse:
    """The picture page (with the what-if form for a planner); ``problem``: a refused re-plan."""
    pic = _picture(request, c, op)
    can_plan = c.actor.can(Perm.plan, op)  # (adopting a re-plan needs no scenario served)
    what_if = views.what_if_options(request.app.state.scenario) if can_plan else None
    return render(request, "picture.html", c, op, status=status, page="picture", pic=pic,
                  now=_now(), what_if=what_if, can_plan=can_plan, problem=problem,
                  replan_note=request.query_params.get("replan"))  # fmt: skip


@router.get("/picture", name="page_picture")
def page_picture(op: str, request: Request, c: Caller = Depends(caller)):
    return picture_page(request, c, op)


@router.get("/picture/live", name="page_picture_live")
def page_picture_live(op: str, request: Request, c: Caller = Depends(caller)):
    pic = _picture(request, c, op)
    can_plan = c.actor.can(Perm.plan, op)
    return render(request, "_picture_live.html", c, op, pic=pic, now=_now(),
                  can_plan=can_plan)  # fmt: skip


@router.get("/gate", name="page_gate")
def page_gate(op: str, request: Request, c: Caller = Depends(caller)):
    sites = views.page_sites(c, op, ("gate", "assembly", "airport"))
    inline = gate_inline()
    with c.registry.ctx.read() as conn:
        kinds = c.registry.ctx.site_kinds(conn, op)
    # the plan's call-forward to every gate of the operation (counts only); the page shows the
    # chosen site's: a gate's calls, an assembly point's people called from it, at the airport
    # every call (a user bound to an assembly point or the airport sees theirs too)
    gates = [s for s, k in kinds.items() if k == "gate"]
    calls = c.registry.plan_rows_now(op, "call_forward", gates, c.registry.clock())
    page = render(request, "gate.html", c, op, page="gate", sites=sites, inline=inline,
                  calls=calls, kinds=kinds)  # fmt: skip
    page.headers["Content-Security-Policy"] = inline.csp
    return page


def admin_page(request: Request, c: Caller, op: str, status: int = 200, **extra: Any):
    reg = c.registry
    return render(
        request,
        "admin.html",
        c,
        op,
        status=status,
        page="admin",
        members=reg.members(op),
        devices=reg.devices(op),
        categories=reg.categories(op),
        roles=[str(r) for r in OPERATION_ROLES],
        password_min=PASSWORD_MIN,
        **extra,
    )


_admin = admin_page


@router.get("/admin", name="page_admin")
def page_admin(op: str, request: Request, c: Caller = Depends(caller)):
    return _admin(request, c, op)


@router.post("/admin", name="page_admin_post")
async def page_admin_post(op: str, request: Request, c: Caller = Depends(caller)):
    form = await request.form()
    f = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    try:
        extra = await run_in_threadpool(_admin_action, c, op, f)
    except EvacopsError as exc:
        # the page words it in its language (refusal(error): the code's words, else English)
        return await run_in_threadpool(_admin, request, c, op, status=422, error=exc)
    return await run_in_threadpool(_admin, request, c, op, 200, **extra)


def _admin_action(c: Caller, op: str, f: dict[str, str]) -> dict[str, Any]:
    """Do what the form asks (its ``do``); the page words what was done (``admin_done``) in its
    language."""
    reg, do = c.registry, f.get("do")
    if do == "enrol":
        device_id, token = reg.enrol_device(
            op, f.get("site", ""), f.get("role", "gate"), f.get("label", "")
        )
        return {"admin_done": do, "device": device_id, "new_token": token}
    if do == "revoke-device":
        revoked = reg.revoke_device(op, f.get("device", ""))
        return {"admin_done": do if revoked else "revoke-device-none"}
    if do == "add-user":
        reg.add_user(f.get("user", ""), f.get("role", ""), f.get("password", ""), operations=[op])
        return {"admin_done": do}
    if do == "grant":
        reg.grant(op, f.get("user", ""), f.get("role", ""))
        return {"admin_done": do}
    if do == "revoke-role":
        removed = reg.revoke_role(op, f.get("user", ""))
        return {"admin_done": do if removed else "revoke-role-none"}
    if do == "shred":
        if f.get("confirm") != op:
            raise UserError(
                "type the operation's id exactly to confirm", field="confirm", code="confirm-shred"
            )
        reg.shred(op)
        return {"admin_done": do}
    raise UserError("unknown action", field="do", code="unknown-action")


sw = APIRouter(include_in_schema=False)


@sw.get("/sw.js", name="service_worker")
def service_worker():
    """The gate's service worker, served from the root so that it may control every page. Its
    cache is named after a digest of the files it keeps (``__ASSETS__`` in sw.js): a server
    with other static files serves a changed worker, which phones install, dropping the old
    cache (a fixed name kept the first stylesheet a phone fetched for ever)."""
    return Response(
        _worker(STATIC),
        media_type="text/javascript",
        headers={"Service-Worker-Allowed": "/", "Cache-Control": "no-cache"},
    )


@functools.lru_cache(maxsize=4)
def _worker(static: Path) -> str:
    """sw.js with its cache's name (read once: static files ship with a release)."""
    text = (static / "sw.js").read_text(encoding="utf-8")
    assets = re.search(r"const ASSETS = \[(.*?)\];", text)
    digest = hashlib.sha256()
    for name in re.findall(r'"/static/([^"]+)"', assets.group(1) if assets else ""):
        digest.update((static / name).read_bytes())
    return text.replace("__ASSETS__", digest.hexdigest()[:12])
