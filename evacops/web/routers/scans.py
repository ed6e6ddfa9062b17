"""Scans: one online scan (``Idempotency-Key`` is its scan id: a retry is the same event), a
device's offline batch (idempotent per ``(device, seq)``, never refused), the conflicts those
bring, and roll-call."""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import APIRouter, Depends, Header, Request
from pydantic import BaseModel, Field

from evacops.errors import CredentialError, RegistryError
from evacops.registry.service import Registry
from evacops.web import views
from evacops.web.deps import Caller, caller, registry, scanning
from evacops.web.routers.common import OP, Page

router = APIRouter(prefix=OP, tags=["scans"])


class Scan(BaseModel):
    """One scan: the QR code's text in ``payload``, or the short code typed in (``"K7Q-2MX"``)
    in ``code`` instead."""

    payload: str | None = Field(default=None, min_length=1, max_length=400)
    code: str | None = Field(default=None, min_length=1, max_length=20)
    action: str = Field(default="gate-in", max_length=40)
    site: str | None = Field(default=None, max_length=100)
    flight: str | None = Field(default=None, max_length=40)
    override: str | None = Field(default=None, max_length=500)


class Batch(BaseModel):
    """A device's scans: each ``{seq, payload, action, at, site?, flight?}`` (seq 1, 2, ... per
    device; ``at`` the device's time with its zone); a short code typed in goes in ``code``
    instead of ``payload`` and is resolved at sync."""

    scans: list[dict[str, Any]] = Field(max_length=500)


class Rollcall(BaseModel):
    site: str = Field(max_length=100)
    payloads: list[str] = Field(default_factory=list, max_length=5000)
    mark_missing: bool = False


@router.post("/scans", name="api_scan")
async def api_scan(
    request: Request,
    op: str,
    body: Scan,
    c: Caller = Depends(caller),
    idempotency_key: str | None = Header(default=None, max_length=100),
) -> dict[str, Any]:
    """Record a scan; the answer a gate sees (let in, initials, household size). A refused
    scan is a 409 problem saying why (revoked, used, another operation). The short code typed
    in goes in ``code`` instead of ``payload``: a code more than one credential has is a 409
    ("ask for the full code or scan"); past the lookup limit a 429."""
    return await scanning(request, c.actor, lambda reg: _scan(op, body, reg, idempotency_key))


def _scan(op: str, body: Scan, reg: Registry, idempotency_key: str | None) -> dict[str, Any]:
    options: dict[str, Any] = {"site": body.site, "flight": body.flight,
                               "scan_id": idempotency_key, "override": body.override,
                               "view": True}  # fmt: skip
    if (body.payload is None) == (body.code is None):
        raise RegistryError("give either payload (the QR code's text) or code (the short code)",
                            field="payload")  # fmt: skip
    if body.payload is not None:
        answer = reg.scan(op, body.payload, body.action, **options)
    else:
        answer = reg.scan_short_code(op, str(body.code), body.action, **options)
    return {**views.gate_answer(reg, op, answer), "event": answer.get("event")}


@router.post("/devices/{device}/scans", name="api_device_sync")
async def api_device_sync(
    request: Request, op: str, device: str, body: Batch, c: Caller = Depends(caller)
) -> dict[str, Any]:
    """A device's offline scans, one answer per scan in order. Retries are harmless: a
    ``(device, seq)`` seen before answers as it did (``duplicate: true``)."""
    return await scanning(request, c.actor, lambda reg: _device_sync(op, device, body, reg))


def _device_sync(op: str, device: str, body: Batch, reg: Registry) -> dict[str, Any]:
    answers = reg.sync_scans(op, device, body.scans, view=True)
    shown = []
    for a in answers:
        item = {
            k: a.get(k)
            for k in ("seq", "outcome", "problem", "code", "params", "duplicate", "conflict")
            if a.get(k) is not None
        }
        if a.get("person_id") and a.get("outcome") == "recorded":
            with contextlib.suppress(CredentialError):
                item.update(views.gate_answer(reg, op, a))
        shown.append(item)
    return {"device": device, "answers": shown}


@router.get("/conflicts", name="api_conflicts")
def api_conflicts(
    op: str, status: str | None = "open", page: Page = Depends(), reg: Registry = Depends(registry)
) -> dict[str, Any]:
    """The review queue of offline conflicts (two gates, revoked while stale, over seats)."""
    return page.of(reg.conflicts(op, status=status))


class Resolution(BaseModel):
    resolution: str = Field(max_length=20)
    reason: str = Field(min_length=1, max_length=500)


@router.post("/conflicts/{conflict}", name="api_conflict_resolve")
def api_conflict_resolve(
    op: str, conflict: int, body: Resolution, reg: Registry = Depends(registry)
) -> dict[str, Any]:
    """Close a conflict: confirmed, offloaded, corrected or dismissed, with the reason (kept
    sealed)."""
    reg.resolve_conflict(op, conflict, body.resolution, body.reason)
    return {"conflict": conflict, "resolution": body.resolution}


@router.post("/rollcalls", name="api_rollcall")
def api_rollcall(
    op: str,
    body: Rollcall,
    reg: Registry = Depends(registry),
    idempotency_key: str | None = Header(default=None, max_length=100),
) -> dict[str, Any]:
    return reg.rollcall(
        op, body.site, body.payloads, rollcall_id=idempotency_key, mark_missing=body.mark_missing
    )
