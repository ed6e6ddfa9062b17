"""Credentials as the registry issues them: issue (a signed QR payload per person), print again,
revoke, and the revocation list for offline verifiers.

The payload's format and its signature are :mod:`evacops.registry.credentials`; here the
``credential-issued``/``credential-revoked`` events and who may do what.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from evacops.errors import CredentialError, RegistryError
from evacops.registry import credentials as creds
from evacops.registry import events as ev
from evacops.registry.security import Perm, require
from evacops.registry.services.context import Context, chunks
from evacops.registry.store.tables import credentials, persons

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
