"""Flights: schedule, manifest (build, read), departure, arrival and reconciliation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import AwareDatetime, BaseModel, Field

from evacops.registry.service import Registry
from evacops.web.deps import registry
from evacops.web.routers.common import OP, Page

router = APIRouter(prefix=OP + "/flights", tags=["flights"])


class Flight(BaseModel):
    code: str = Field(min_length=1, max_length=40)
    origin: str = Field(max_length=100)
    destination: str = Field(max_length=100)
    seats: int = Field(ge=1, le=2000)
    departs_at: AwareDatetime | None = None


@router.post("", name="api_flight_add")
def api_flight_add(op: str, body: Flight, reg: Registry = Depends(registry)) -> dict[str, Any]:
    departs: datetime | None = body.departs_at
    fid = reg.add_flight(
        op,
        body.code,
        origin=body.origin,
        destination=body.destination,
        seats=body.seats,
        departs_at=departs,
    )
    return {"id": fid, "code": body.code}


@router.post("/{flight}/manifest", name="api_manifest_build")
def api_manifest_build(
    op: str, flight: str, allow_split: bool = False, reg: Registry = Depends(registry)
) -> dict[str, Any]:
    return reg.build_manifest(op, flight, allow_split=allow_split)


@router.get("/{flight}/manifest", name="api_manifest")
def api_manifest(
    op: str, flight: str, version: int | None = None, reg: Registry = Depends(registry)
) -> dict[str, Any]:
    return reg.manifest(op, flight, version)


@router.get("/{flight}/manifest/export", name="api_manifest_export")
def api_manifest_export(
    op: str, flight: str, version: int | None = None, page: Page = Depends(),
    reg: Registry = Depends(registry),
) -> dict[str, Any]:  # fmt: skip
    """The passenger manifest's rows as ``registry export manifest`` writes them (personal data:
    the export-manifest permission; every page audited), a page at a time. Give the first
    page's ``version`` with the next pages so that they are all of one manifest."""
    got = reg.manifest_page(op, flight, version=version, offset=page.offset, limit=page.limit)
    return {**page.window(got["rows"], got["total"]), "flight": flight, "version": got["version"]}


@router.post("/{flight}/depart", name="api_depart")
def api_depart(op: str, flight: str, reg: Registry = Depends(registry)) -> dict[str, Any]:
    return reg.depart(op, flight)


@router.post("/{flight}/arrive", name="api_arrive")
def api_arrive(op: str, flight: str, reg: Registry = Depends(registry)) -> dict[str, Any]:
    return reg.arrive(op, flight)


@router.get("/{flight}/reconciliation", name="api_reconcile")
def api_reconcile(op: str, flight: str, reg: Registry = Depends(registry)) -> dict[str, Any]:
    return reg.reconcile(op, flight)
