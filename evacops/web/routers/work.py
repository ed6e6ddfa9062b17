"""The working pages of an operation: registration (a household, a file upload with its per-row
errors), the duplicates queue (merge, not a duplicate, undo), the ramp (manifest, board by scan
with the seat count and a logged override, depart) and arrival (deplane by scan,
reconciliation, roll-call). Server-rendered forms; each action one call to a registry service.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from evacops.errors import EvacopsError, RegistrationFileError, UserError
from evacops.registry.files import read_records
from evacops.web import views
from evacops.web.deps import Caller, caller
from evacops.web.pages import render
from evacops.web.uploads import UploadTooLarge, save_upload

router = APIRouter(prefix="/o/{op}", include_in_schema=False)
MEMBER_FIELDS = ("given_name", "family_name", "sex", "birth_date", "nationality",
                 "document_number", "category")  # fmt: skip
MEMBERS = 6


async def _form(request: Request) -> dict[str, Any]:
    form = await request.form()
    return dict(form.items())


def _outcome(fn, *args) -> dict[str, Any]:
    """Run one action; its result or its problem (words without personal data; an error, which
    the page words in its language: :mod:`evacops.web.refusals`)."""
    try:
        return {"result": fn(*args)}
    except RegistrationFileError as exc:
        return {"problem": exc.problem or str(exc), "problems": exc.problems}
    except UploadTooLarge as exc:
        return {"problem": str(exc), "too_large": True}
    except EvacopsError as exc:
        return {"problem": exc}


# ------------------------------------------------------------------------------ registration
@router.get("/register", name="page_register")
def page_register(op: str, request: Request, c: Caller = Depends(caller)):
    return render(request, "register.html", c, op, page="register", fields=MEMBER_FIELDS,
                  members=range(MEMBERS))  # fmt: skip


def _household(c: Caller, op: str, f: dict[str, Any]) -> dict[str, Any]:
    hid = str(f.get("household_id", "")).strip()
    rows = []
    for i in range(MEMBERS):
        row = {k: str(f.get(f"{k}_{i}", "")).strip() for k in MEMBER_FIELDS}
        if any(row.values()):
            rows.append({"household_id": hid, **row})
    if not rows:
        raise UserError("fill in at least one person", field="given_name_0")
    res = c.registry.register(op, read_records(rows, source="form"), source="form")
    return {"registered": res.imported, "households": res.households}


@router.post("/register", name="page_register_post")
async def page_register_post(op: str, request: Request, c: Caller = Depends(caller)):
    f = await _form(request)
    out = await run_in_threadpool(_outcome, _household, c, op, f)
    return render(request, "register.html", c, op, status=422 if "problem" in out else 200,
                  page="register", fields=MEMBER_FIELDS, members=range(MEMBERS), **out)  # fmt: skip


def _upload(c: Caller, op: str, file: UploadFile, limit: int) -> dict[str, Any]:
    suffix = Path(file.filename or "").suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise UserError("send a .csv or .xlsx file", field="file")
    with tempfile.TemporaryDirectory() as tmp:
        path = save_upload(file, Path(tmp), suffix, limit)
        res = c.registry.import_file(op, path)
    return {"registered": res.imported, "households": res.households}


@router.post("/register/upload", name="page_upload_post")
async def page_upload_post(op: str, request: Request, c: Caller = Depends(caller)):
    """The file, received within ``max_upload_bytes`` (a larger body is refused with 413 while
    it arrives: evacops.web.uploads), copied in chunks to a private file and imported."""
    form = await request.form()
    file = form.get("file")
    limit = request.app.state.settings.max_upload_bytes
    if not isinstance(file, UploadFile):
        out: dict[str, Any] = {"problem": "file: choose a .csv or .xlsx file"}
    else:
        out = await run_in_threadpool(_outcome, _upload, c, op, file, limit)
    status = 413 if out.pop("too_large", False) else 422 if "problem" in out else 200
    return render(request, "register.html", c, op, status=status, page="register",
                  fields=MEMBER_FIELDS, members=range(MEMBERS), **out)  # fmt: skip


# ------------------------------------------------------------------------------ duplicates
@router.get("/dedup", name="page_dedup")
def page_dedup(op: str, request: Request, c: Caller = Depends(caller)):
    return render(request, "dedup.html", c, op, page="dedup",
                  **_queue(c.registry.review_queue(op)))  # fmt: skip


#: the most pairs the duplicates page lists at once (best score first; the count says how many
#: wait in all)
QUEUE_SHOWN = 100


def _queue(queue: list[dict[str, Any]]) -> dict[str, Any]:
    return {"queue": queue[:QUEUE_SHOWN], "queued": len(queue)}


#: what the comparison of a queued pair shows, in this order (what each role may see of a person:
#: :func:`evacops.registry.services.people.person`, every read audited)
PAIR_FIELDS = ("household_id", "given_name", "family_name", "native_name", "birth_date", "sex",
               "nationality", "document", "category", "cohort", "status", "credential")  # fmt: skip


def _pair(c: Caller, op: str, candidate: int) -> dict[str, Any]:
    """A queued pair and its two records side by side, or no pair (decided, or no such one)."""
    reg = c.registry
    found = reg.review_queue(op, candidate)
    if not found:
        return {"pair": None, "rows": []}
    pair = found[0]
    a, b = reg.person(op, pair["person_a"]), reg.person(op, pair["person_b"])
    for p in (a, b):  # a date known only by its year shows as the year
        if p.get("birth_precision") == "year" and p.get("birth_date"):
            p["birth_date"] = str(p["birth_date"])[:4]
    rows = [(k, a.get(k), b.get(k)) for k in PAIR_FIELDS if k in a or k in b]
    return {"pair": pair, "rows": rows}


@router.get("/dedup/{candidate}", name="page_dedup_pair")
def page_dedup_pair(op: str, candidate: int, request: Request, c: Caller = Depends(caller)):
    """One queued pair's two records side by side, with the reasons and the two answers."""
    got = _pair(c, op, candidate)
    return render(request, "dedup_pair.html", c, op, status=200 if got["pair"] else 404,
                  page="dedup", **got)  # fmt: skip


def _decide(c: Caller, op: str, f: dict[str, Any]) -> dict[str, Any]:
    reg, do = c.registry, f.get("do")
    keep, dup, reason = str(f.get("keep", "")), str(f.get("duplicate", "")), "review page"
    if do == "merge":
        return {"event": reg.merge(op, keep, dup, reason=reason), "decision": do}
    if do == "not-duplicate":
        return {"event": reg.not_duplicate(op, keep, dup, reason=reason), "decision": do}
    if do == "unmerge":
        return {"event": reg.unmerge(op, dup, reason=reason), "decision": do}
    if do == "run":
        return reg.run_dedup(op)
    raise UserError("unknown decision", field="do")


@router.post("/dedup", name="page_dedup_post")
async def page_dedup_post(op: str, request: Request, c: Caller = Depends(caller)):
    f = await _form(request)
    out = await run_in_threadpool(_outcome, _decide, c, op, f)
    queue = await run_in_threadpool(c.registry.review_queue, op)
    return render(request, "dedup.html", c, op, status=422 if "problem" in out else 200,
                  page="dedup", **_queue(queue), **out)  # fmt: skip


# ------------------------------------------------------------------------------ ramp
def _ramp_view(c: Caller, op: str, flight: str) -> dict[str, Any]:
    # the plan's departures from these airfields for the next hours, if a plan is attached
    sites = views.page_sites(c, op, ("airport", "staging"))
    plan = {"departures": c.registry.plan_rows_now(op, "departures", sites, c.registry.clock())}
    if not flight:
        return plan
    try:
        m = c.registry.manifest(op, flight)
    except EvacopsError as exc:
        return {**plan, "manifest_problem": exc}
    boarded = c.registry.reconcile(op, flight)
    return {**plan, "manifest": {k: v for k, v in m.items() if k != "entries"}, "recon": boarded}


def _ramp_action(c: Caller, op: str, f: dict[str, Any]) -> dict[str, Any]:
    reg, do, flight = c.registry, f.get("do"), str(f.get("flight", ""))
    if do == "build":
        m = reg.build_manifest(op, flight)
        return {k: v for k, v in m.items() if k != "entries"}
    if do == "board":
        override = str(f.get("override", "")).strip() or None
        answer = reg.scan(op, str(f.get("payload", "")).strip(), "board", flight=flight,
                          override=override, view=True)  # fmt: skip
        return views.gate_answer(reg, op, answer)
    if do == "depart":
        return reg.depart(op, flight)
    raise UserError("unknown action", field="do")


@router.get("/ramp", name="page_ramp")
def page_ramp(op: str, request: Request, flight: str = "", c: Caller = Depends(caller)):
    view = _ramp_view(c, op, flight)
    return render(request, "ramp.html", c, op, page="ramp", flight=flight, **view)


@router.post("/ramp", name="page_ramp_post")
async def page_ramp_post(op: str, request: Request, c: Caller = Depends(caller)):
    f = await _form(request)
    out = await run_in_threadpool(_outcome, _ramp_action, c, op, f)
    flight = str(f.get("flight", ""))
    view = await run_in_threadpool(_ramp_view, c, op, flight)
    return render(request, "ramp.html", c, op, status=422 if "problem" in out else 200,
                  page="ramp", flight=flight, action=f.get("do"), **view, **out)  # fmt: skip


# ------------------------------------------------------------------------------ arrival
def _arrival_action(c: Caller, op: str, f: dict[str, Any]) -> dict[str, Any]:
    reg, do, flight = c.registry, f.get("do"), str(f.get("flight", ""))
    if do == "deplane":
        answer = reg.scan(op, str(f.get("payload", "")).strip(), "deplane", flight=flight,
                          view=True)  # fmt: skip
        return views.gate_answer(reg, op, answer)
    if do == "arrive":
        return reg.arrive(op, flight)
    if do == "rollcall":
        payloads = [p.strip() for p in str(f.get("payloads", "")).splitlines() if p.strip()]
        res = reg.rollcall(op, str(f.get("site", "")), payloads,
                           mark_missing=f.get("mark_missing") == "on")  # fmt: skip
        return {k: (len(v) if isinstance(v, list) else v) for k, v in res.items()}
    raise UserError("unknown action", field="do")


def _recon(c: Caller, op: str, flight: str) -> dict[str, Any]:
    if not flight:
        return {}
    try:
        return {"recon": c.registry.reconcile(op, flight)}
    except EvacopsError as exc:
        return {"recon_problem": exc}


@router.get("/arrival", name="page_arrival")
def page_arrival(op: str, request: Request, flight: str = "", c: Caller = Depends(caller)):
    return render(request, "arrival.html", c, op, page="arrival", flight=flight,
                  **_recon(c, op, flight))  # fmt: skip


@router.post("/arrival", name="page_arrival_post")
async def page_arrival_post(op: str, request: Request, c: Caller = Depends(caller)):
    f = await _form(request)
    out = await run_in_threadpool(_outcome, _arrival_action, c, op, f)
    flight = str(f.get("flight", ""))
    recon = await run_in_threadpool(_recon, c, op, flight)
    return render(request, "arrival.html", c, op, status=422 if "problem" in out else 200,
                  page="arrival", flight=flight, action=f.get("do"), **recon, **out)  # fmt: skip
