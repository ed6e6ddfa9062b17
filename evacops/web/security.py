"""Cookies, CSRF and the one permission matrix of the service.

**Who may call what** is declared once, in :data:`PERMISSIONS`: each route's name (its endpoint
function) maps to the registry permission it needs in the operation named by the path's ``{op}``
(:class:`evacops.registry.security.Perm`), or to :data:`PUBLIC` (no log-in) or :data:`SIGNED_IN`
(any logged-in user or device). :func:`evacops.web.deps.authorize` enforces it on every route;
:func:`evacops.web.app.create_app` refuses to start with a route the matrix does not name. The
services check the same permissions again (the web layer is not the only guard).

**Sessions**: the cookie ``evacops_session`` holds the session token (HttpOnly, SameSite=Strict,
Secure under TLS, path /); a new token at every log-in (no fixation). **CSRF**: every POST, PUT,
PATCH and DELETE authenticated by the cookie carries the session's CSRF token, in the form field
``csrf`` or the header ``X-CSRF-Token``; a bearer token (API clients, devices) is not sent by a
browser on its own, so needs none. The log-in form, before any session, uses a double-submit
token (cookie ``evacops_prelogin`` equal to the form's ``csrf`` field).
"""

from __future__ import annotations

import secrets

from fastapi import Response

from evacops.registry.security import ROLE_PERMS, Perm, Role, same_secret

SESSION_COOKIE = "evacops_session"
PRELOGIN_COOKIE = "evacops_prelogin"
LANG_COOKIE = "evacops_lang"
#: the session's CSRF token, for the server to put in its forms (HttpOnly: scripts read it from
#: the page's <meta name="csrf">)
CSRF_COOKIE = "evacops_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

PUBLIC = "public"
SIGNED_IN = "signed-in"

#: route name -> what it needs (a Perm in the path's operation, PUBLIC or SIGNED_IN)
PERMISSIONS: dict[str, Perm | str] = {
    # pages
    "page_login": PUBLIC,
    "page_login_post": PUBLIC,
    "page_logout": SIGNED_IN,
    "page_home": SIGNED_IN,
    "page_language": PUBLIC,
    "page_picture": Perm.report,
    "page_picture_live": Perm.report,
    "page_replan_post": Perm.plan,
    "page_replan_adopt_post": Perm.plan,
    "page_gate": Perm.scan,
    "page_register": Perm.register,
    "page_register_post": Perm.register,
    "page_upload_post": Perm.register,
    "page_dedup": Perm.dedup,
    "page_dedup_post": Perm.dedup,
    "page_dedup_pair": Perm.dedup,
    "page_ramp": Perm.manifest,
    "page_ramp_post": Perm.manifest,
    "page_arrival": Perm.scan,
    "page_arrival_post": Perm.scan,
    "page_admin": Perm.manage,
    "page_admin_post": Perm.manage,
    "page_categories_post": Perm.manage,
    "service_worker": PUBLIC,
    # API
    "api_login": PUBLIC,
    "api_logout": SIGNED_IN,
    "api_me": SIGNED_IN,
    "api_health": PUBLIC,
    "api_operations": SIGNED_IN,
    "api_report": Perm.report,
    "api_people_by_place": Perm.report,
    "api_counts_export": Perm.export_counts,
    "api_picture": Perm.report,
    "api_plan_attach": Perm.plan,
    "api_replan": Perm.plan,
    "api_replans": Perm.report,
    "api_replan_show": Perm.report,
    "api_replan_adopt": Perm.plan,
    "api_person": Perm.read_gate_view,
    "api_register": Perm.register,
    "api_register_file": Perm.register,
    "api_credentials_issue": Perm.register,
    "api_scan": Perm.scan,
    "api_device_sync": Perm.scan,
    "api_conflicts": Perm.manifest,
    "api_conflict_resolve": Perm.manifest,
    "api_flight_add": Perm.manage,
    "api_manifest_build": Perm.manifest,
    "api_manifest": Perm.manifest,
    "api_manifest_export": Perm.export_manifest,
    "api_depart": Perm.manifest,
    "api_arrive": Perm.manifest,
    "api_reconcile": Perm.report,
    "api_rollcall": Perm.scan,
    "api_dedup_run": Perm.dedup,
    "api_dedup_queue": Perm.dedup,
    "api_dedup_decide": Perm.dedup,
    "api_members": Perm.manage,
    "api_grant": Perm.manage,
    "api_revoke_role": Perm.manage,
    "api_user_add": Perm.manage,
    "api_devices": Perm.manage,
    "api_device_enrol": Perm.manage,
    "api_device_revoke": Perm.manage,
    "api_categories": Perm.manage,
    "api_category_add": Perm.manage,
    "api_category_change": Perm.manage,
    "api_audit": Perm.audit,
}


def role_may(role: Role | None, need: Perm | str) -> bool:
    """Whether a caller holding ``role`` in the route's operation (None: signed in with no role
    there; not signed in is the caller's business) may call a route that needs ``need``."""
    if need in (PUBLIC, SIGNED_IN):
        return True
    return role is not None and need in ROLE_PERMS[role]


def set_session_cookie(response: Response, token: str, *, secure: bool, max_age_s: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age_s,
        path="/",
        httponly=True,
        samesite="strict",
        secure=secure,
    )


def set_csrf_cookie(response: Response, csrf: str, *, secure: bool, max_age_s: int) -> None:
    response.set_cookie(
        CSRF_COOKIE,
        csrf,
        max_age=max_age_s,
        path="/",
        httponly=True,
        samesite="strict",
        secure=secure,
    )


def clear_session_cookie(response: Response, *, secure: bool) -> None:
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", httponly=True, samesite="strict", secure=secure)


def new_prelogin_token() -> str:
    return secrets.token_urlsafe(24)


def prelogin_ok(cookie: str | None, field: str | None) -> bool:
    """The log-in form's double-submit check."""
    return bool(cookie and field) and same_secret(cookie or "", field or "")
