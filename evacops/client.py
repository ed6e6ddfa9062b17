"""The command line as a client of the service: ``evacops registry ...`` with ``EVACOPS_URL``.

Away from the server host nobody holds the master key or the database, so the registry commands
the operation's roles use (register, import, credentials, scan, board, manifest, flight
--depart, arrive, roll-call, person, dedup, report, conflicts; an admin's categories) talk to
``evacops serve`` over its API instead. The commands do not fork: :class:`RemoteRegistry`
offers the same methods as the :class:`~evacops.registry.service.Registry` facade they call,
each one request to ``/api/v1``, and answers in the same shapes, so the commands print the same
lines and the same ``--json``.
``evacops/cli/registry/common.py`` (``open_for``) is the one place that chooses which.

- **The log-in** (:func:`login`, :func:`logout`): ``POST /api/v1/login`` gives a session token
  (the web log-in's lockout and audit apply); it is kept in :func:`token_path`
  (``$XDG_CONFIG_HOME/evacops/token`` or ``EVACOPS_TOKEN_FILE``, mode 0600) with the service's
  URL, the user's name and when it ends. The token is a session: it ends at log-out, after
  ``EVACOPS_SESSION_IDLE_MIN`` minutes unused or ``EVACOPS_SESSION_HOURS`` hours; or, with a
  lifetime chosen at log-in (``ttl_min``: ``evacops login --ttl 8h``), after that long whether
  used or not, at most the service's ``EVACOPS_TOKEN_MAX_HOURS``.
- **Errors**: a problem+json answer becomes the registry's own error class (403
  :class:`AccessDenied`, 409 :class:`CredentialError`, 422 :class:`RegistryError`, a bad file
  :class:`RegistrationFileError` with its rows), so the command prints the same one line as it
  would on the server host; no link, no log-in or a stale one: one line saying what to do.
- **TLS**: a self-signed certificate is trusted with ``EVACOPS_CA_CERT=cert.pem``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

import httpx

from evacops.errors import (
    AccessDenied,
    CredentialError,
    RegistrationFileError,
    RegistryError,
    UserError,
)

API = "/api/v1"
TIMEOUT_S = 30.0
#: what a command that needs the master key is called, for the refusal (method -> words)
LOCAL_ONLY = {
    "add_site": "adding a site",
    "add_user": "adding a user",
    "revoke": "revoking a credential",
    "revoked": "the revocation list",
    "public_key": "the public key file",
    "credential_labels": "printing labels",
    "shred": "shred",
    "audit_verify": "audit",
    "audit_entries": "audit",
    "correct": "a correction",
    "create_operation": "creating an operation",
}


# ---------------------------------------------------------------------------- the token file
def token_path() -> Path:
    """Where ``evacops login`` keeps the token: ``EVACOPS_TOKEN_FILE``, else
    ``$XDG_CONFIG_HOME/evacops/token`` (``~/.config/evacops/token``)."""
    if os.environ.get("EVACOPS_TOKEN_FILE"):
        return Path(os.environ["EVACOPS_TOKEN_FILE"]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "evacops" / "token"


def read_token() -> dict[str, str] | None:
    """The saved log-in ``{"url", "user", "token"}``, or None when there is none."""
    path = token_path()
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        raise UserError(f"{path}: not a saved log-in; run 'evacops login' again") from None
    if not isinstance(saved, dict) or not {"url", "user", "token"} <= saved.keys():
        raise UserError(f"{path}: not a saved log-in; run 'evacops login' again")
    return saved


def write_token(url: str, user: str, token: str, **about: Any) -> Path:
    """Keep the log-in in :func:`token_path`, readable by its owner only (0600, folder 0700);
    ``about``: what the service said of the token (``expires_at``, ``idle_min``)."""
    path = token_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"url": url, "user": user, "token": token, **about}, fh)
    path.chmod(0o600)
    return path


def normal_url(url: str) -> str:
    """``url`` without its trailing slash; an address that is not http(s) is refused."""
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")) or len(url) < 10:
        raise UserError(
            "not the service's address; give it as https://HOST:PORT", field="url", value=url
        )
    return url


# ---------------------------------------------------------------------------- HTTP and problems
def _verify() -> Any:
    ca = os.environ.get("EVACOPS_CA_CERT")
    if not ca:
        return True
    import ssl

    if not Path(ca).is_file():
        raise UserError("no such certificate file; give the service's cert.pem",
                        field="EVACOPS_CA_CERT", value=ca)  # fmt: skip
    return ssl.create_default_context(cafile=ca)


class Api:
    """One service at ``url``, as the holder of ``token`` (None: before log-in)."""

    def __init__(self, url: str, token: str | None = None):
        self.url = normal_url(url)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(
            base_url=self.url + API, headers=headers, timeout=TIMEOUT_S, verify=_verify()
        )

    def call(self, method: str, path: str, **kw: Any) -> Any:
        """The JSON answer of one request; a refusal is raised as the registry's error."""
        try:
            r = self.http.request(method, path, **kw)
        except httpx.TransportError as exc:
            raise UserError(
                f"{self.url}: cannot reach the service ({type(exc).__name__}); "
                "check EVACOPS_URL and the link"
            ) from None
        if r.is_error:
            raise_problem(r, self.url)
        try:
            return r.json()
        except ValueError:
            raise UserError(f"{self.url}: not an evacops service; check EVACOPS_URL") from None


def raise_problem(r: httpx.Response, url: str) -> NoReturn:
    """Raise the error a problem+json answer stands for, worded as the registry words it."""
    try:
        body = r.json() if "json" in r.headers.get("content-type", "") else {}
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    status = r.status_code
    detail = str(body.get("detail") or body.get("title") or f"HTTP {status}")
    field, value = body.get("field"), body.get("value")
    if status == 401:
        raise UserError(
            f"{url}: not logged in, or the log-in has ended; run 'evacops login --url {url}'"
        )
    if body.get("problems"):
        raise RegistrationFileError([str(p) for p in body["problems"]])
    if body.get("errors"):
        first = body["errors"][0]
        raise UserError(str(first.get("problem")), field=str(first.get("field")))
    if status == 403:
        if field in ("role", "csrf"):  # not a flag of the command: say it in words
            raise AccessDenied(
                detail + (f" (your role: {value})" if value else "") + "; ask an admin"
            )
        raise AccessDenied(detail, field=field, value=value)
    if status == 409:
        raise CredentialError(detail, field=field, value=value)
    if status == 422:
        raise RegistryError(detail, field=field, value=value)
    if status == 404:
        raise UserError(f"{url}: {detail}; is EVACOPS_URL an evacops service of this version?")
    raise UserError(f"{url}: the service answered {status} ({detail}); see the service's log")


# ---------------------------------------------------------------------------- log-in and log-out
def login(url: str, name: str, password: str, *, ttl_min: int | None = None) -> dict[str, Any]:
    """Log in at ``url`` (the service's lockout and audit apply) and keep the token; returns
    where it is kept (``token_file``), when it ends (``expires_at``) and after how many minutes
    unused (``idle_min``). ``ttl_min``: the token's lifetime, used or not (the service caps it:
    ``EVACOPS_TOKEN_MAX_HOURS``)."""
    api = Api(url)
    body: dict[str, Any] = {"name": name, "password": password}
    if ttl_min is not None:
        body["ttl_min"] = ttl_min
    answer = api.call("POST", "/login", json=body)
    before = None
    with contextlib.suppress(UserError):
        before = read_token()
    about = {k: answer.get(k) for k in ("expires_at", "idle_min")}
    path = write_token(api.url, name, answer["token"], **about)
    if before is not None:  # the session it replaces ends too (best effort)
        with contextlib.suppress(UserError):
            Api(before["url"], before["token"]).call("POST", "/logout")
    return {"token_file": path, **about}


def logout() -> dict[str, Any]:
    """End the saved session on the service and forget the token (the file goes even when the
    service cannot be reached: the token then ends by itself, see the module's docstring)."""
    try:
        saved = read_token()
    except UserError:  # not a log-in of ours: nothing to end, the file goes
        token_path().unlink(missing_ok=True)
        saved = None
    if saved is None:
        return {"logged_out": False, "url": None}
    ended = False
    try:
        ended = bool(Api(saved["url"], saved["token"]).call("POST", "/logout").get("ended"))
    except UserError:
        ended = False
    finally:
        token_path().unlink(missing_ok=True)
    return {"logged_out": True, "ended_on_server": ended, "url": saved["url"]}


# ---------------------------------------------------------------------------- the facade
def row_record(row: Any) -> dict[str, str]:
    """A validated :class:`~evacops.registry.files.RegistrationRow` back as the import columns
    (the service validates it again by the same rules)."""
    birth = "" if row.birth_date is None or row.birth_precision == "unknown" else (
        str(row.birth_date.year) if row.birth_precision == "year" else row.birth_date.isoformat()
    )  # fmt: skip
    rec = {
        "household_id": row.household_id,
        "given_name": row.given_name,
        "family_name": row.family_name,
        "sex": row.sex,
        "birth_date": birth,
        "nationality": row.nationality,
        "document_number": row.document_number or "",
        "document_type": row.document_type or "",
        "category": row.category,
        "given_name_native": row.given_name_native,
        "family_name_native": row.family_name_native,
        "name_variants": "; ".join(row.name_variants),
        "relationship": row.relationship,
        "minor_unaccompanied": "yes" if row.minor_unaccompanied else "no",
    }
    return {**dict(row.extra), **rec}


def _import_result(answer: dict[str, Any]) -> Any:
    from evacops.registry.services.registration import ImportResult

    return ImportResult(answer["registered"], answer["households"], list(answer["person_ids"]))


class RemoteRegistry:
    """The :class:`~evacops.registry.service.Registry` methods the operation's roles use, over
    the API of the service at ``url`` as the user of the saved log-in."""

    def __init__(self, url: str, token: str, user: str):
        self.api = Api(url, token)
        self.url = self.api.url
        self.user = user

    @classmethod
    def open(cls, url: str | None, user: str | None = None) -> RemoteRegistry:
        """The service at ``url`` (None: the saved log-in's) as the saved log-in's user."""
        saved = read_token()
        want = normal_url(url) if url else None
        if saved is None:
            where = want or "https://SERVER:PORT"
            raise UserError(f"not logged in; run 'evacops login --url {where}' first")
        if want and normal_url(saved["url"]) != want:
            raise UserError(
                f"the saved log-in ({token_path()}) is for {saved['url']}; "
                f"run 'evacops login --url {want}'"
            )
        if user and user != saved["user"]:
            raise UserError(
                f"you are logged in at {saved['url']} as {saved['user']}; "
                "run 'evacops login' as this user",
                field="user",
                value=user,
            )
        return cls(saved["url"], saved["token"], saved["user"])

    def __getattr__(self, name: str) -> Any:
        if name in LOCAL_ONLY:

            def refuse(*args: Any, **kwargs: Any) -> NoReturn:
                raise UserError(
                    f"{LOCAL_ONLY[name]}: not offered through the service ({self.url}); "
                    "an admin runs it on the server host"
                )

            return refuse
        raise AttributeError(name)

    def _op(self, op: str) -> str:
        return f"/operations/{op}"

    def _pages(self, path: str, **params: Any) -> list[Any]:
        return self._paged(path, **params)[0]

    def _paged(self, path: str, **params: Any) -> tuple[list[Any], dict[str, Any]]:
        """Every item of a paginated list, and its first page (what else it answered). A
        ``version`` in the first answer is asked for again with the next pages."""
        items: list[Any] = []
        cursor, first = None, None
        while True:
            q = {**params, "limit": 500, **({"cursor": cursor} if cursor else {})}
            page = self.api.call("GET", path, params=q)
            first = first or page
            if page.get("version") is not None:
                params["version"] = page["version"]
            items.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return items, first

    # ---------------------------------------------------------------- operations and reports
    def operations(self) -> list[dict[str, Any]]:
        return self.api.call("GET", "/operations")

    def report(self, op: str, *, since: datetime | None = None) -> dict[str, Any]:
        params = {"since": since.isoformat()} if since is not None else {}
        return self.api.call("GET", self._op(op) + "/report", params=params)

    def people_by_place(self, op: str) -> list[dict[str, Any]]:
        return self.api.call("GET", self._op(op) + "/people-by-place")

    def attach_plan(
        self, op: str, outline: dict[str, Any], *, first_day: date | None = None
    ) -> dict[str, Any]:
        body = {**outline, **({"first_day": first_day.isoformat()} if first_day else {})}
        return self.api.call("POST", self._op(op) + "/plans", json=body)

    def ask_replan(
        self,
        op: str,
        *,
        at: datetime | None = None,
        what_if: dict[str, Any] | None = None,
        scenario_sha256: str | None = None,
        keep_schedule: bool = False,
        window_h: float | None = None,
    ) -> dict[str, Any]:
        """Ask the service to re-plan (it runs there, beside the server): the re-plan's record.
        With ``scenario_sha256``, refused if the server draws another scenario;
        ``keep_schedule``: the people alone, on the plan's sorties; ``window_h``: the aircraft
        for the next hours only."""
        body = {**(what_if or {}), **({"at": at.isoformat()} if at else {})}
        if keep_schedule:
            body["keep_schedule"] = True
        if window_h is not None:
            body["window_h"] = window_h
        if scenario_sha256 is not None:
            body["scenario_sha256"] = scenario_sha256
        return self.api.call("POST", self._op(op) + "/replan", json=body)

    def replans(self, op: str, running: frozenset[int] = frozenset()) -> list[dict[str, Any]]:
        return self.api.call("GET", self._op(op) + "/replans")

    def adopt_replan(self, op: str, request: int) -> dict[str, Any]:
        return self.api.call("POST", self._op(op) + f"/replans/{request}/adopt")

    def plan_vs_actual(self, op: str) -> dict[str, Any] | None:
        """The picture's plan (the same record, with the chart the page draws)."""
        return self.api.call("GET", self._op(op) + "/picture").get("plan")

    def export_manifest(self, op: str, flight: str, path: str | Path) -> int:
        """The passenger manifest's rows from the service (every page of one version, each
        audited there), written here as the server host writes the file."""
        from evacops.registry.writers import write_manifest_csv

        rows, _ = self._paged(self._flight(op, flight) + "/manifest/export")
        return write_manifest_csv(rows, Path(path))

    def export_counts(self, op: str, path: str | Path, *, min_cell: int = 5) -> int:
        """The suppressed counts from the service, written here as the HXL file."""
        from evacops.registry.writers import write_counts_table

        rows, first = self._paged(self._op(op) + "/counts", min_cell=min_cell)
        return write_counts_table(first["columns"], rows, Path(path))

    # ---------------------------------------------------------------- eligibility categories
    def _category(self, op: str, category: str) -> str:
        return self._op(op) + "/categories/" + quote(category, safe="")

    def categories(self, op: str) -> list[dict[str, Any]]:
        return self.api.call("GET", self._op(op) + "/categories")

    def add_category(self, op: str, category: str, cohort: str, priority: float) -> None:
        body = {"category": category, "cohort": cohort, "priority": priority}
        self.api.call("POST", self._op(op) + "/categories", json=body)

    def retire_category(self, op: str, category: str) -> None:
        self.api.call("PATCH", self._category(op, category), json={"retired": True})

    def restore_category(self, op: str, category: str) -> None:
        self.api.call("PATCH", self._category(op, category), json={"retired": False})

    # ---------------------------------------------------------------- registration and people
    def register(
        self, op: str, rows: Sequence[Any], *, source: str = "register",
        source_digest: str | None = None,
    ) -> Any:  # fmt: skip
        body = {"rows": [row_record(r) for r in rows]}
        headers = {"Idempotency-Key": source_digest[:100]} if source_digest else {}
        return _import_result(
            self.api.call("POST", self._op(op) + "/registrations", json=body, headers=headers)
        )

    def import_file(self, op: str, path: str | Path) -> Any:
        p = Path(path)
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise UserError(f"{p}: cannot read it ({exc.strerror})") from None
        files = {"file": (p.name, data, "application/octet-stream")}
        return _import_result(
            self.api.call("POST", self._op(op) + "/registrations/file", files=files)
        )

    def person(self, op: str, person_id: str) -> dict[str, Any]:
        return self.api.call("GET", self._op(op) + f"/people/{person_id}")

    def issue_credentials(
        self, op: str, person_ids: Iterable[str] | None = None, *, days: int = 30
    ) -> list[dict[str, Any]]:
        """The service answers how many were issued (the payloads stay on the server: labels
        are printed there)."""
        body = {"days": days, "person_ids": list(person_ids) if person_ids is not None else None}
        n = self.api.call("POST", self._op(op) + "/credentials", json=body)["issued"]
        return [{} for _ in range(n)]

    # ---------------------------------------------------------------- scans and flights
    def scan(
        self, op: str, payload: str, action: str, *, site: str | None = None,
        flight: str | None = None, scan_id: str | None = None, override: str | None = None,
        at: datetime | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        if at is not None:
            raise UserError("a scan's time is the server's when sent online", field="at")
        body = {"payload": payload, "action": action, "site": site, "flight": flight,
                "override": override}  # fmt: skip
        headers = {"Idempotency-Key": scan_id} if scan_id else {}
        a = self.api.call("POST", self._op(op) + "/scans", json=body, headers=headers)
        # the service answers as at a gate: initials and household size, not the person's id
        keep = ("initials", "household_size", "seat", "lap")
        answer = {"event": a.get("event"), "action": a.get("action"), "site": site,
                  "duplicate": bool(a.get("duplicate"))}  # fmt: skip
        return {**answer, **{k: a[k] for k in keep if k in a}}

    def rollcall(
        self, op: str, site: str, payloads: Sequence[str] = (), *,
        rollcall_id: str | None = None, mark_missing: bool = False,
    ) -> dict[str, Any]:  # fmt: skip
        body = {"site": site, "payloads": list(payloads), "mark_missing": mark_missing}
        headers = {"Idempotency-Key": rollcall_id} if rollcall_id else {}
        return self.api.call("POST", self._op(op) + "/rollcalls", json=body, headers=headers)

    def add_flight(
        self, op: str, code: str, *, origin: str, destination: str, seats: int,
        departs_at: datetime | None = None,
    ) -> int:  # fmt: skip
        body = {"code": code, "origin": origin, "destination": destination, "seats": seats,
                "departs_at": departs_at.isoformat() if departs_at else None}  # fmt: skip
        return self.api.call("POST", self._op(op) + "/flights", json=body)["id"]

    def _flight(self, op: str, flight: str) -> str:
        return self._op(op) + f"/flights/{flight}"

    def build_manifest(self, op: str, flight: str, *, allow_split: bool = False) -> dict[str, Any]:
        params = {"allow_split": str(allow_split).lower()}
        return self.api.call("POST", self._flight(op, flight) + "/manifest", params=params)

    def manifest(self, op: str, flight: str, version: int | None = None) -> dict[str, Any]:
        params = {"version": version} if version is not None else {}
        return self.api.call("GET", self._flight(op, flight) + "/manifest", params=params)

    def depart(self, op: str, flight: str) -> dict[str, Any]:
        return self.api.call("POST", self._flight(op, flight) + "/depart")

    def arrive(self, op: str, flight: str) -> dict[str, Any]:
        return self.api.call("POST", self._flight(op, flight) + "/arrive")

    def reconcile(self, op: str, flight: str) -> dict[str, Any]:
        return self.api.call("GET", self._flight(op, flight) + "/reconciliation")

    # ---------------------------------------------------------------- conflicts and dedup
    def conflicts(self, op: str, *, status: str | None = "open") -> list[dict[str, Any]]:
        path = self._op(op) + "/conflicts"
        if status is not None:
            return self._pages(path, status=status)
        both = self._pages(path, status="open") + self._pages(path, status="resolved")
        return sorted(both, key=lambda c: c["id"])

    def resolve_conflict(self, op: str, conflict_id: int, resolution: str, reason: str) -> None:
        body = {"resolution": resolution, "reason": reason}
        self.api.call("POST", self._op(op) + f"/conflicts/{conflict_id}", json=body)

    def run_dedup(self, op: str, *, threshold: float = 0.8) -> dict[str, Any]:
        return self.api.call("POST", self._op(op) + "/dedup/run", params={"threshold": threshold})

    def review_queue(self, op: str) -> list[dict[str, Any]]:
        return self._pages(self._op(op) + "/dedup/queue")

    def _decide(self, op: str, decision: str, keep: str, duplicate: str, reason: str) -> int:
        body = {"decision": decision, "keep": keep, "duplicate": duplicate, "reason": reason}
        return self.api.call("POST", self._op(op) + "/dedup/decisions", json=body)["event"]

    def merge(self, op: str, keep: str, duplicate: str, *, reason: str = "") -> int:
        return self._decide(op, "merge", keep, duplicate, reason)

    def not_duplicate(self, op: str, a: str, b: str, *, reason: str = "") -> int:
        return self._decide(op, "not-duplicate", a, b, reason)

    def unmerge(self, op: str, duplicate: str, *, reason: str = "") -> int:
        return self._decide(op, "unmerge", duplicate, duplicate, reason)
