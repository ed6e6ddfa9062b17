"""Administration: users, roles per operation, devices (the token shown once), eligibility
categories (add, retire, restore), the audit log. The API here; the admin page's category
forms post to :func:`page_categories_post` (the rest of the page: :mod:`.pages`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from evacops.errors import EvacopsError, UserError
from evacops.registry.limits import TEXT_LIMITS
from evacops.registry.service import Registry
from evacops.registry.services.setup import PASSWORD_MIN
from evacops.web.deps import Caller, caller, registry
from evacops.web.pages import render
from evacops.web.routers.common import API, OP, Page

router = APIRouter(tags=["admin"])
pages = APIRouter(prefix="/o/{op}", include_in_schema=False)


class Grant(BaseModel):
    user: str = Field(min_length=1, max_length=100)
    role: str = Field(max_length=20)


class NewUser(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: str = Field(max_length=20)
    password: str = Field(min_length=PASSWORD_MIN, max_length=1000)


class Device(BaseModel):
    site: str = Field(max_length=100)
    role: str = Field(default="gate", max_length=20)
    label: str = Field(min_length=1, max_length=100)


@router.get(OP + "/members", name="api_members")
def api_members(op: str, reg: Registry = Depends(registry)) -> list[dict[str, Any]]:
    return reg.members(op)


@router.put(OP + "/members", name="api_grant")
def api_grant(op: str, body: Grant, reg: Registry = Depends(registry)) -> dict[str, Any]:
    reg.grant(op, body.user, body.role)
    return {"user": body.user, "role": body.role}


@router.delete(OP + "/members/{user}", name="api_revoke_role")
def api_revoke_role(op: str, user: str, reg: Registry = Depends(registry)) -> dict[str, Any]:
    return {"revoked": reg.revoke_role(op, user)}


@router.post(OP + "/users", name="api_user_add")
def api_user_add(op: str, body: NewUser, reg: Registry = Depends(registry)) -> dict[str, Any]:
    """A new user holding ``role`` in this operation."""
    reg.add_user(body.name, body.role, body.password, operations=[op])
    return {"user": body.name, "role": body.role}


@router.get(OP + "/devices", name="api_devices")
def api_devices(op: str, reg: Registry = Depends(registry)) -> list[dict[str, Any]]:
    return reg.devices(op)


@router.post(OP + "/devices", name="api_device_enrol")
def api_device_enrol(op: str, body: Device, reg: Registry = Depends(registry)) -> dict:
    """Enrol a device; its ``token`` is in this answer only (only its hash is kept)."""
    device_id, token = reg.enrol_device(op, body.site, body.role, body.label)
    return {"device": device_id, "token": token, "site": body.site, "role": body.role}


@router.delete(OP + "/devices/{device}", name="api_device_revoke")
def api_device_revoke(op: str, device: str, reg: Registry = Depends(registry)) -> dict:
    return {"revoked": reg.revoke_device(op, device)}


@router.get(API + "/audit", name="api_audit")
def api_audit(page: Page = Depends(), reg: Registry = Depends(registry)) -> dict[str, Any]:
    """The audit log's last entries (no personal data: opaque ids and HMACs)."""
    return page.of(reg.audit_entries(500))


# ---------------------------------------------------------------------------- categories
class NewCategory(BaseModel):
    category: str = Field(min_length=1, max_length=TEXT_LIMITS["category"])
    cohort: str = Field(min_length=1, max_length=TEXT_LIMITS["cohort"])
    priority: float = Field(default=1.0, ge=0, allow_inf_nan=False)


class CategoryChange(BaseModel):
    retired: bool


@router.get(OP + "/categories", name="api_categories")
def api_categories(op: str, reg: Registry = Depends(registry)) -> list[dict[str, Any]]:
    """The operation's eligibility categories, retired ones too, with how many people have
    each."""
    return reg.categories(op)


@router.post(OP + "/categories", name="api_category_add", status_code=201)
def api_category_add(op: str, body: NewCategory, reg: Registry = Depends(registry)) -> dict:
    """A new category; its people go in ``cohort`` with ``priority``."""
    reg.add_category(op, body.category, body.cohort, body.priority)
    return {"category": body.category, "cohort": body.cohort, "priority": body.priority}


@router.patch(OP + "/categories/{category}", name="api_category_change")
def api_category_change(
    op: str, category: str, body: CategoryChange, reg: Registry = Depends(registry)
) -> dict[str, Any]:
    """Retire a category (``{"retired": true}``: no new registration may use it; the people who
    have it keep it) or restore it (``false``)."""
    if body.retired:
        reg.retire_category(op, category)
    else:
        reg.restore_category(op, category)
    return {"category": category, "retired": body.retired}


@pages.post("/admin/categories", name="page_categories_post")
async def page_categories_post(op: str, request: Request, c: Caller = Depends(caller)):
    """The admin page's category forms: with htmx, the categories section alone comes back;
    without JavaScript, the whole admin page."""
    from evacops.web.routers.pages import admin_page

    form = await request.form()
    f = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    status, extra = 200, dict[str, Any]()
    try:
        extra["category_message"] = await run_in_threadpool(_category_action, c, op, f)
    except EvacopsError as exc:
        # worded by the page: its code's words in the page's language, else "field: English"
        status, extra["category_error"] = 422, exc
    if request.headers.get("hx-request") == "true":
        # 200 with the refusal in the section: htmx swaps no 4xx answer into the page
        cats = await run_in_threadpool(c.registry.categories, op)
        return render(request, "_categories.html", c, op, 200, categories=cats, **extra)
    return await run_in_threadpool(admin_page, request, c, op, status, **extra)


def _category_action(c: Caller, op: str, f: dict[str, str]) -> str:
    """Do what the form asks (its ``do``); return the ``do`` done (the page words it)."""
    reg, do, name = c.registry, f.get("do", ""), f.get("category", "")
    if do == "category-add":
        try:
            priority = float(f.get("priority") or "1")
        except ValueError:
            raise UserError(
                "must be a number such as 1 or 2.5", field="priority", code="priority-number"
            ) from None
        reg.add_category(op, name, f.get("cohort", ""), priority)
    elif do == "category-retire":
        reg.retire_category(op, name)
    elif do == "category-restore":
        reg.restore_category(op, name)
    else:
        raise UserError("unknown action", field="do", code="unknown-action")
    return do
