"""Operations the caller may act in, their report and their picture."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from evacops.registry.service import Registry
from evacops.web import views
from evacops.web.deps import registry
from evacops.web.routers.common import API, OP

router = APIRouter(tags=["operations"])


@router.get(API + "/operations", name="api_operations")
def api_operations(reg: Registry = Depends(registry)) -> list[dict[str, Any]]:
    """The operations the caller has a role in (an admin: every one)."""
    return reg.operations()


@router.get(OP + "/report", name="api_report")
def api_report(op: str, reg: Registry = Depends(registry)) -> dict[str, Any]:
    """Counts by status, site, cohort, nationality and category; people out per day."""
    return reg.report(op)


@router.get(OP + "/picture", name="api_picture")
def api_picture(op: str, request: Request, reg: Registry = Depends(registry)) -> dict[str, Any]:
    """The operation picture: the numbers the picture page shows."""
    return views.picture(reg, op, request.app.state.scenario)
