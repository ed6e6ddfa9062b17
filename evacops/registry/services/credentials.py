"""Credentials as the registry issues them: issue (a signed QR payload per person), print again,
revoke, the revocation list for offline verifiers, and the short code typed in at a gate.

The payload's format and its signature are :mod:`evacops.registry.credentials`; here the
``credential-issued``/``credential-revoked`` events and who may do what.

**Short codes typed at a gate** (:func:`resolve_short_code`, :func:`scan_short_code`,
:func:`offline_code`). The six characters printed under the QR code are 30 bits: within an
operation they are looked up among the credentials whose id ends so. One live credential (not
revoked, not expired) is the answer; more than one gives "ask for the full code or scan",
never whom or how many. With no live one, a single dead match is the answer (the scan then
says revoked or expired); otherwise the code is unknown. Against enumeration by a gate account
each online lookup is **rate limited** (:data:`SHORT_CODE_LOOKUPS_PER_MIN` per acting user and
operation in any minute, counted in the server process) **and audited** (``short-code-lookup``:
the code, the outcome, the holder's person id when one matched; refused lookups too). A code
typed offline reaches the server at sync (``"code"`` in place of ``"payload"``); it is resolved
at the scan's device time, audited the same way, never refused: an ambiguous code goes to the
conflict queue (``ambiguous-code``, with the candidates' person ids for the reviewer).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, select

from evacops.errors import CredentialError, RateLimited, RegistryError
from evacops.registry import credentials as creds
from evacops.registry import events as ev
from evacops.registry.security import Perm, require
from evacops.registry.services.context import Context, chunks
from evacops.registry.store.tables import credentials, persons, scan_conflicts

#: the longest a credential may be valid (days): a lost wristband stops working by then
MAX_VALIDITY_DAYS = 90


def issue_credentials(
    ctx: Context, op: str, person_ids: Iterable[str] | None = None, *, days: int = 30
) -> list[dict[str, Any]]:
    """Issue a credential to each person (default: every active person without a valid
    one). A person who holds a valid credential already gets a new one and the old one is
    revoked (a re-issue: one valid credential per person). Returns payloads for printing;
    they hold an opaque id, the operation and the expiry (at most
    :data:`MAX_VALIDITY_DAYS` days)."""
    require(ctx.actor, Perm.register, op)
    if not isinstance(days, int) or not 1 <= days <= MAX_VALIDITY_DAYS:
        raise RegistryError(
            f"a credential is valid 1 to {MAX_VALIDITY_DAYS} days", field="days", value=days
        )
    now = ctx.clock()
    expires = now + timedelta(days=days)
    out = []
    with ctx.write() as conn:
        key = ctx.signing_key(conn, op)
        P = persons.c
        if person_ids is None:
            valid = select(credentials.c.person_id).where(
                credentials.c.operation_id == op,
                credentials.c.revoked_at.is_(None),
                credentials.c.expires_at > now,
            )
            ids = list(
                conn.execute(
                    select(P.id)
                    .where(P.operation_id == op, P.status.in_(ev.ACTIVE), P.id.not_in(valid))
                    .order_by(P.household_id, P.id)
                ).scalars()
            )
        else:
            ids = list(person_ids)
            for pid in ids:
                ctx.person(conn, op, pid)
        hh = dict(conn.execute(select(P.id, P.household_id).where(P.operation_id == op)).all())
        reissued = _revoke_valid(ctx, conn, op, ids, now) if person_ids is not None else 0
        for pid in ids:
            cid = creds.new_credential_id()
            ctx.event(
                conn,
                op,
                ev.CREDENTIAL_ISSUED,
                person_id=pid,
                credential_id=cid,
                data={"expires_at": expires.isoformat()},
            )
            out.append(
                {
                    "person_id": pid,
                    "credential_id": cid,
                    "household_id": hh.get(pid),
                    "code": creds.short_code(cid),
                    "expires_at": expires.isoformat(),
                    "payload": creds.encode(cid, op, expires, key),
                }
            )
        ctx.audit(
            conn,
            "credentials-issued",
            op,
            f"{len(ids)} persons",
            {"count": len(ids), "reissued": reissued},
        )
    return out


def _revoke_valid(ctx: Context, conn: Connection, op: str, person_ids: list[str], now: Any) -> int:
    """Revoke the valid credentials of ``person_ids`` (they are being issued new ones)."""
    C = credentials.c
    n = 0
    for chunk in chunks(person_ids, 500):
        rows = conn.execute(
            select(C.id, C.person_id).where(
                C.operation_id == op,
                C.person_id.in_(chunk),
                C.revoked_at.is_(None),
                C.expires_at > now,
            )
        ).all()
        for r in rows:
            ctx.event(
                conn,
                op,
                ev.CREDENTIAL_REVOKED,
                person_id=r.person_id,
                credential_id=r.id,
                data={"reason": "reissued"},
            )
            n += 1
    return n


def credential_labels(
    ctx: Context, op: str, person_ids: Iterable[str] | None = None
) -> list[creds.Label]:
    """Wristband labels of the valid credentials: the QR, its short code, the household's code
    and size. Never a name, and never the eligibility category or cohort (a wristband that
    says who is eligible marks its wearer as a target). Audited as a reprint."""
    items = credential_payloads(ctx, op, person_ids)
    size: dict[str, int] = {}
    with ctx.read() as conn:
        P = persons.c
        for h, n in conn.execute(
            select(P.household_id, func.count())
            .where(P.operation_id == op, P.status != "merged")
            .group_by(P.household_id)
        ):
            size[h] = n
    return [
        creds.Label(
            i["payload"],
            i["code"],
            f"HH {(i['household_id'] or '')[-6:].upper()}",
            f"{size.get(i['household_id'], 1)} in household",
        )
        for i in items
    ]


def credential_payloads(
    ctx: Context, op: str, person_ids: Iterable[str] | None = None
) -> list[dict[str, Any]]:
    """The payloads of valid credentials again (Ed25519 signatures are deterministic), for
    reprinting labels."""
    require(ctx.actor, Perm.register, op)
    now = ctx.clock()
    wanted = set(person_ids) if person_ids is not None else None
    with ctx.write() as conn:
        key = ctx.signing_key(conn, op)
        C = credentials.c
        q = (
            select(
                C.id,
                C.person_id,
                C.expires_at,
                persons.c.household_id,
                persons.c.cohort,
                persons.c.category,
            )
            .join(persons, persons.c.id == C.person_id)
            .where(C.operation_id == op, C.revoked_at.is_(None), C.expires_at > now)
            .order_by(persons.c.household_id, C.person_id)
        )
        rows = [r for r in conn.execute(q) if wanted is None or r.person_id in wanted]
        ctx.audit(conn, "credentials-reprinted", op, f"{len(rows)} persons", {"count": len(rows)})
    return [
        {
            "person_id": r.person_id,
            "credential_id": r.id,
            "household_id": r.household_id,
            "cohort": r.cohort,
            "category": r.category,
            "code": creds.short_code(r.id),
            "payload": creds.encode(r.id, op, r.expires_at, key),
        }
        for r in rows
    ]


def revoke(ctx: Context, op: str, credential: str, *, reason: str) -> None:
    """Revoke a credential (by id or printed short code): a ``credential-revoked`` event."""
    require(ctx.actor, Perm.register, op)
    with ctx.write() as conn:
        row = credential_row(conn, op, credential)
        if row["revoked_at"] is not None:
            raise RegistryError(f"credential {creds.short_code(row['id'])}: revoked already")
        ctx.event(
            conn,
            op,
            ev.CREDENTIAL_REVOKED,
            person_id=row["person_id"],
            credential_id=row["id"],
            data={"reason_sealed": ctx.seal_text(conn, op, reason, f"revoke|{row['id']}")},
        )
        ctx.audit(conn, "credential-revoked", op, row["person_id"], {"credential": row["id"]})


def credential_row(conn: Connection, op: str, credential: str) -> Any:
    """By full id, or by the short code printed under the QR code."""
    C = credentials.c
    row = (
        conn.execute(select(credentials).where(C.id == credential, C.operation_id == op))
        .mappings()
        .first()
    )
    if row is None:
        code = creds.normalize_short_code(credential) if len(credential) < 12 else None
        if code:
            matches = list(
                conn.execute(
                    select(credentials).where(
                        C.operation_id == op, C.id.like(f"%{code.replace('-', '')}")
                    )
                ).mappings()
            )
            if len(matches) > 1:
                raise CredentialError(
                    f"credential {credential}: code matches {len(matches)} credentials; "
                    "scan the QR code"
                )
            row = matches[0] if matches else None
    if row is None:
        raise CredentialError(f"credential {credential}: not issued in operation {op}")
    return row


def revoked(ctx: Context, op: str) -> list[str]:
    """Revoked credential ids (for an offline verifier's list)."""
    require(ctx.actor, Perm.scan, op)
    with ctx.read() as conn:
        return list(
            conn.execute(
                select(credentials.c.id).where(
                    credentials.c.operation_id == op, credentials.c.revoked_at.is_not(None)
                )
            ).scalars()
        )


# ---------------------------------------------------------------------------- short codes
#: online short-code lookups allowed per acting user and operation in any 60 seconds (a gate
#: types one every few seconds at most; an enumeration needs millions)
SHORT_CODE_LOOKUPS_PER_MIN = 30
#: how an offline scan typed as a short code travels in the device's outbox (``payload``)
CODE_PREFIX = "code:"
AMBIGUOUS = "more than one credential has this short code; ask for the full code or scan the QR"


class _Limiter:
    """A sliding one-minute window of lookups per key, for this server process."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], deque[float]] = {}
        self.lock = threading.Lock()

    def take(self, key: tuple[str, str], limit: int, now: float) -> float | None:
        """Count one lookup; None if allowed, else the seconds until one is."""
        with self.lock:
            q = self.seen.setdefault(key, deque())
            while q and q[0] <= now - 60:
                q.popleft()
            if len(q) >= limit:
                return 60 - (now - q[0])
            q.append(now)
            return None


_limiter = _Limiter()


def code_payload(text: Any) -> str:
    """A short code as a device sends it offline (``"code"``), as the outbox payload."""
    if not isinstance(text, str):
        raise CredentialError("a short code such as K7Q-2MX", field="code", code="code-malformed")
    return CODE_PREFIX + creds.normalize_short_code(text)


def _matches(conn: Connection, op: str, code: str, at: datetime) -> tuple[str, list[Any]]:
    """``("one", [row])``, ``("ambiguous", rows)`` or ``("none", [])`` for ``code``."""
    C = credentials.c
    rows = list(
        conn.execute(
            select(C.id, C.person_id, C.expires_at, C.revoked_at).where(
                C.operation_id == op, C.id.like("%" + code.replace("-", ""))
            )
        )
    )
    live = [r for r in rows if r.expires_at > at and (r.revoked_at is None or r.revoked_at > at)]
    found = live or rows
    if len(found) == 1:
        return "one", found
    return ("ambiguous", found) if found else ("none", [])


def resolve_short_code(ctx: Context, op: str, code: str) -> dict[str, Any]:
    """The credential a short code typed at a gate stands for: ``credential_id``, ``code`` and
    its signed ``payload`` (for :func:`evacops.registry.services.movements.scan`). Needs the
    scan permission; rate limited and audited (see the module). :class:`CredentialError` for
    an unknown or ambiguous code, :class:`RateLimited` past the limit."""
    require(ctx.actor, Perm.scan, op)
    code = creds.normalize_short_code(code)
    wait = _limiter.take((ctx.actor.name, op), SHORT_CODE_LOOKUPS_PER_MIN, time.monotonic())
    with ctx.write() as conn:
        if wait is not None:
            ctx.audit(conn, "short-code-lookup", op, "-", {"code": code, "outcome": "limited"})
        else:
            outcome, rows = _matches(conn, op, code, ctx.clock())
            subject = rows[0].person_id if outcome == "one" else "-"
            ctx.audit(conn, "short-code-lookup", op, subject, {"code": code, "outcome": outcome})
            if outcome == "one":
                r = rows[0]
                payload = creds.encode(r.id, op, r.expires_at, ctx.signing_key(conn, op))
    if wait is not None:
        raise RateLimited(
            f"too many short codes typed in a minute; scan the QR code or wait {int(wait) + 1} s",
            code="too-many-codes",
        )
    if outcome == "ambiguous":
        raise CredentialError(AMBIGUOUS, field="code", value=code, code="code-ambiguous")
    if outcome == "none":
        raise CredentialError(
            f"short code {code}: no credential of this operation has it", code="code-unknown"
        )
    return {"credential_id": rows[0].id, "code": code, "payload": payload}


def scan_short_code(ctx: Context, op: str, code: str, action: str, **scan: Any) -> dict[str, Any]:
    """A scan made by typing the short code: :func:`resolve_short_code`, then the same scan as
    the QR code's (``scan`` are :func:`evacops.registry.services.movements.scan`'s options)."""
    from evacops.registry.services import movements

    payload = resolve_short_code(ctx, op, code)["payload"]
    return movements.scan(ctx, op, payload, action, **scan)


def offline_code(
    ctx: Context, conn: Connection, op: str, payload: str, at: datetime, device: str
) -> dict[str, Any]:
    """A short code typed offline, at sync (in the sync's transaction): ``{"payload": ...}``
    of the credential it stood for at the scan's time ``at``, or the device's answer: unknown
    (``invalid``) or ambiguous (a conflict queued for review, no event: whom is not known)."""
    code = payload.removeprefix(CODE_PREFIX)
    outcome, rows = _matches(conn, op, code, at)
    subject = rows[0].person_id if outcome == "one" else "-"
    ctx.audit(conn, "short-code-sync", op, subject,
              {"code": code, "outcome": outcome, "device": device})  # fmt: skip
    if outcome == "one":
        r = rows[0]
        return {"payload": creds.encode(r.id, op, r.expires_at, ctx.signing_key(conn, op))}
    if outcome == "none":
        return {"outcome": "invalid", "problem": "unknown-code", "code": "code-unknown"}
    candidates = sorted(r.person_id for r in rows)
    cid = conn.execute(
        insert(scan_conflicts).values(
            operation_id=op, kind="ambiguous-code", person_id=None, flight_id=None, events=[],
            detail={"code": code, "device": device, "at": at.isoformat(),
                    "candidates": candidates, "problem": AMBIGUOUS},
            status="open", created_at=ctx.clock(),
        )
    ).inserted_primary_key  # fmt: skip
    assert cid is not None
    return {"outcome": "conflict", "conflict": "ambiguous-code", "conflict_id": cid[0]}
