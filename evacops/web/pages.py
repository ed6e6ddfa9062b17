"""Rendering a page: the template's context (language, direction, gettext, the CSRF token, the
navigation built from the caller's role in the operation, refusals in the page's language).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from evacops.registry.security import Perm
from evacops.web import i18n, refusals
from evacops.web import security as sec
from evacops.web.deps import Caller

#: the pages of an operation: (key, path under /o/{op}, permission, label)
NAV: tuple[tuple[str, str, Perm, str], ...] = (
    ("picture", "picture", Perm.report, "Operation picture"),
    ("register", "register", Perm.register, "Registration"),
    ("dedup", "dedup", Perm.dedup, "Duplicates"),
    ("gate", "gate", Perm.scan, "Gate"),
    ("ramp", "ramp", Perm.manifest, "Ramp"),
    ("arrival", "arrival", Perm.scan, "Arrival"),
    ("admin", "admin", Perm.manage, "Admin"),
)


def nav(caller: Caller | None, op: str | None) -> list[dict[str, str]]:
    """The pages the caller may open in ``op`` (none without a caller or an operation)."""
    if caller is None or op is None:
        return []
    return [
        {"key": key, "href": f"/o/{op}/{path}", "label": label}
        for key, path, perm, label in NAV
        if caller.actor.can(perm, op)
    ]


def csrf_of(request: Request) -> str:
    return request.cookies.get(sec.CSRF_COOKIE, "")


def render(
    request: Request,
    name: str,
    caller: Caller | None = None,
    op: str | None = None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    lang = i18n.language(request)
    tr = i18n.translations(lang)
    ctx = {
        "request": request,
        "lang": lang,
        "dir": i18n.direction(lang),
        "languages": i18n.LANGUAGES,
        "_": i18n.gettext_of(tr),
        "ngettext": tr.ngettext,
        "refusal": lambda problem: _refusal(tr.gettext, problem),
        "refusal_words": lambda: refusals.translated(tr.gettext),
        "refusal_text": lambda code, params, fallback: refusals.text(
            tr.gettext, code, refusals.isolated(params), fallback
        ),
        "csrf": csrf_of(request),
        "caller": caller,
        "op": op,
        "nav": nav(caller, op),
        **context,
    }
    templates = request.app.state.templates
    resp = templates.TemplateResponse(request, name, ctx, status_code=status)
    keep_language(request, resp)
    return resp


def keep_language(request: Request, resp: Any) -> None:
    """A page opened with ``?lang=`` (a link sent to a gate's phone) keeps its language on the
    pages after it: forms post without the query and redirect, so the choice goes in the
    cookie, as the language menu's ``/lang/{code}`` does."""
    asked = request.query_params.get("lang")
    if asked in i18n.LANGUAGES and asked != request.cookies.get(sec.LANG_COOKIE):
        resp.set_cookie(sec.LANG_COOKIE, asked, max_age=365 * 86400, samesite="strict")
        if "cache-control" not in resp.headers:  # (a shared cache must not keep a Set-Cookie)
            resp.headers["Cache-Control"] = "private"


def _refusal(gettext: Any, problem: Any) -> str:
    """What a page shows of a problem: an error's refusal in the page's language
    (:mod:`evacops.web.refusals`), or the text given."""
    if isinstance(problem, BaseException):
        return refusals.of_error(gettext, problem)
    return str(problem)


def render_error(request: Request, status: int, message: str) -> HTMLResponse:
    return render(request, "error.html", status=status, message=message)
