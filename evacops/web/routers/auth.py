"""Log-in and log-out: ``POST /api/v1/login`` (a bearer token for API clients) and the log-in
page (a session cookie; a new session at every log-in), the home page and the language choice."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from evacops.errors import AccessDenied
from evacops.web import i18n
from evacops.web import security as sec
from evacops.web.deps import Caller, accounts, authorize, caller
from evacops.web.pages import nav, render
from evacops.web.routers.common import API

router = APIRouter(prefix=API, tags=["accounts"])
pages = APIRouter(include_in_schema=False)


class Login(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)
    #: the token's lifetime in minutes, used or not (at most EVACOPS_TOKEN_MAX_HOURS); without
    #: it, a session as the pages' (EVACOPS_SESSION_HOURS, EVACOPS_SESSION_IDLE_MIN unused)
    ttl_min: int | None = Field(default=None, ge=1, le=7 * 24 * 60)


def _who(c: Caller) -> dict[str, Any]:
    a = c.actor
    roles = None if a.roles is None else {k: str(v) for k, v in a.roles.items()}
    return {"name": a.name, "admin": a.admin, "roles": roles, "device": a.device, "site": a.site}


@router.post("/login", name="api_login")
def api_login(body: Login, request: Request) -> dict[str, Any]:
    """A session for an API client: ``token`` goes in ``Authorization: Bearer``. With
    ``ttl_min`` the token lasts that long whether used or not (the command line's ``evacops
    login --ttl``; at most ``EVACOPS_TOKEN_MAX_HOURS``); the answer says when it ends
    (``expires_at``) and after how many minutes unused (``idle_min``)."""
    acc = accounts(request)
    acc.check_ttl(body.ttl_min)  # before the password is tried: a refusal costs no log-in
    actor = acc.login(body.name, body.password)
    token, _csrf = acc.start_session(actor, ttl_min=body.ttl_min)
    ends = acc.session_expiry(token)
    assert ends is not None
    return {"token": token, "token_type": "bearer", "user": body.name,
            "expires_at": ends[0].isoformat(), "idle_min": ends[1]}  # fmt: skip


@router.post("/logout", name="api_logout")
def api_logout(request: Request, c: Caller = Depends(caller)) -> dict[str, Any]:
    ended = bool(c.session) and accounts(request).end_session(c.session or "")
    return {"ended": ended}


@router.get("/me", name="api_me")
def api_me(c: Caller = Depends(caller)) -> dict[str, Any]:
    return _who(c)


@router.get("/health", name="api_health")
def api_health() -> dict[str, str]:
    return {"status": "ok"}


# ------------------------------------------------------------------------------ pages
def _with_prelogin(request: Request, response: Response, token: str) -> Response:
    """``response`` with the pre-login CSRF cookie (the login form's token) set on it."""
    response.set_cookie(
        sec.PRELOGIN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.app.state.settings.cookie_secure,
        max_age=3600,
    )
    return response


@pages.get("/login", name="page_login")
def page_login(request: Request):
    token = sec.new_prelogin_token()
    response = render(request, "login.html", prelogin=token)
    return _with_prelogin(request, response, token)


@pages.post("/login", name="page_login_post")
async def page_login_post(
    request: Request,
    name: str = Form(max_length=100),
    password: str = Form(max_length=1000),
    csrf: str = Form(""),
):
    if not sec.prelogin_ok(request.cookies.get(sec.PRELOGIN_COOKIE), csrf):
        return render(
            request,
            "login.html",
            status=403,
            prelogin="",
            error="The form expired; reload the page and log in again.",
        )
    acc = accounts(request)
    try:
        actor = await run_in_threadpool(acc.login, name, password)
    except AccessDenied as exc:
        token = sec.new_prelogin_token()
        resp = render(request, "login.html", status=401, prelogin=token, error=exc.problem)
        return _with_prelogin(request, resp, token)
    old = request.cookies.get(sec.SESSION_COOKIE)
    if old:  # no fixation: whatever session came in ends; the new one has a new token
        await run_in_threadpool(acc.end_session, old)
    token, csrf_token = await run_in_threadpool(acc.start_session, actor)
    settings = request.app.state.settings
    age = int(settings.session_hours * 3600)
    done = RedirectResponse("/", status_code=303)
    sec.set_session_cookie(done, token, secure=settings.cookie_secure, max_age_s=age)
    sec.set_csrf_cookie(done, csrf_token, secure=settings.cookie_secure, max_age_s=age)
    done.delete_cookie(sec.PRELOGIN_COOKIE)
    return done


@pages.post("/logout", name="page_logout")
def page_logout(request: Request, c: Caller = Depends(caller)):
    if c.session:
        accounts(request).end_session(c.session)
    resp = RedirectResponse("/login", status_code=303)
    sec.clear_session_cookie(resp, secure=request.app.state.settings.cookie_secure)
    return resp


@pages.get("/", name="page_home")
def page_home(request: Request, c: Caller = Depends(caller)):
    ops = c.registry.operations()
    if len(ops) == 1:
        items = nav(c, ops[0]["id"])
        if items:
            return RedirectResponse(items[0]["href"], status_code=303)
    navs = {o["id"]: nav(c, o["id"]) for o in ops}
    return render(request, "home.html", c, operations=ops, navs=navs)


@pages.get("/lang/{code}", name="page_language")
def page_language(code: str, request: Request, c: Caller | None = Depends(authorize)):
    code = code if code in i18n.LANGUAGES else i18n.DEFAULT
    back = request.headers.get("referer") or "/"
    resp = RedirectResponse(back if back.startswith(str(request.base_url)) else "/", 303)
    resp.set_cookie(sec.LANG_COOKIE, code, max_age=365 * 86400, samesite="strict")
    return resp
