"""People: one person as the role may see them, registration (JSON rows or a CSV/XLSX file,
with the per-row error report) and credentials."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, File, Header, Request, UploadFile
from pydantic import BaseModel, Field

from evacops.errors import UserError
from evacops.registry.files import read_records
from evacops.registry.service import Registry
from evacops.web import views
from evacops.web.deps import registry
from evacops.web.problems import problem
from evacops.web.routers.common import OP
from evacops.web.uploads import UploadTooLarge, save_upload

router = APIRouter(prefix=OP, tags=["people"])
SUFFIXES = (".csv", ".xlsx")


class Rows(BaseModel):
    """Rows with the columns of a registration file (docs/registry.md, Registration file)."""

    rows: list[dict[str, Any]] = Field(min_length=1, max_length=5000)


class Issue(BaseModel):
    person_ids: list[str] | None = Field(default=None, max_length=5000)
    days: int = Field(default=30, ge=1, le=365)


def _result(res: Any) -> dict[str, Any]:
    return {"registered": res.imported, "households": res.households, "person_ids": res.person_ids}


@router.get("/people/{person_id}", name="api_person")
def api_person(op: str, person_id: str, reg: Registry = Depends(registry)) -> dict[str, Any]:
    """One person as the caller's role may see them (a gate role: credential, initials and
    status, no category; every read of a protected field audited)."""
    return views.person_view(reg, op, person_id)


@router.post("/registrations", name="api_register")
def api_register(
    op: str,
    body: Rows,
    reg: Registry = Depends(registry),
    idempotency_key: str | None = Header(default=None, max_length=100),
) -> dict[str, Any]:
    """Register rows in one transaction (all or none; a bad row: 422 with one problem per row,
    never a cell's value). With an ``Idempotency-Key``, the same request sent again registers
    nobody twice: it is refused, saying it was done."""
    records = read_records(body.rows, source="api")
    digest = None
    if idempotency_key:
        digest = hashlib.sha256(f"api|{op}|{idempotency_key}".encode()).hexdigest()
    return _result(reg.register(op, records, source="api", source_digest=digest))


@router.post("/registrations/file", name="api_register_file")
def api_register_file(
    op: str, request: Request, file: UploadFile = File(...), reg: Registry = Depends(registry)
) -> Any:
    """Register a CSV or XLSX file (the same checks and limits as ``evacops registry import``).
    A file over the upload limit is 413, refused while it is received."""
    suffix = Path(file.filename or "").suffix.lower()
    if suffix not in SUFFIXES:
        raise UserError("send a .csv or .xlsx file", field="file")
    limit = request.app.state.settings.max_upload_bytes
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = save_upload(file, Path(tmp), suffix, limit)
        except UploadTooLarge as exc:
            return problem(413, "Content Too Large", str(exc), field="file", limit=limit)
        return _result(reg.import_file(op, path))


@router.post("/credentials", name="api_credentials_issue")
def api_credentials_issue(op: str, body: Issue, reg: Registry = Depends(registry)) -> dict:
    """Issue credentials (all registered people without one, or ``person_ids``)."""
    issued = reg.issue_credentials(op, body.person_ids, days=body.days)
    return {"issued": len(issued)}
