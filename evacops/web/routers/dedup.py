"""Duplicates: run the search, the review queue, and the decisions (merge, not a duplicate,
undo a merge)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from evacops.registry.service import Registry
from evacops.web.deps import registry
from evacops.web.routers.common import OP, Page

router = APIRouter(prefix=OP + "/dedup", tags=["dedup"])


class Decision(BaseModel):
    decision: Literal["merge", "not-duplicate", "unmerge"]
    keep: str = Field(max_length=40)
    duplicate: str = Field(max_length=40)
    reason: str = Field(default="", max_length=500)


@router.post("/run", name="api_dedup_run")
def api_dedup_run(op: str, threshold: float = 0.8, reg: Registry = Depends(registry)) -> dict:
    return reg.run_dedup(op, threshold=threshold)


@router.get("/queue", name="api_dedup_queue")
def api_dedup_queue(
    op: str, page: Page = Depends(), reg: Registry = Depends(registry)
) -> dict[str, Any]:
    return page.of(reg.review_queue(op))


@router.post("/decisions", name="api_dedup_decide")
def api_dedup_decide(op: str, body: Decision, reg: Registry = Depends(registry)) -> dict:
    if body.decision == "merge":
        seq = reg.merge(op, body.keep, body.duplicate, reason=body.reason)
    elif body.decision == "not-duplicate":
        seq = reg.not_duplicate(op, body.keep, body.duplicate, reason=body.reason)
    else:
        seq = reg.unmerge(op, body.duplicate, reason=body.reason)
    return {"event": seq, "decision": body.decision}
