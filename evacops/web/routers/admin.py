"""Administration: users, roles per operation, devices (the token shown once), the audit log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from evacops.registry.service import Registry
from evacops.web.deps import registry
from evacops.web.routers.common import API, OP, Page

router = APIRouter(tags=["admin"])


class Grant(BaseModel):
    user: str = Field(min_length=1, max_length=100)
    role: str = Field(max_length=20)


class NewUser(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: str = Field(max_length=20)
    password: str = Field(min_length=12, max_length=1000)


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
