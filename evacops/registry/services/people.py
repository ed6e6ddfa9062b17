"""People: one person as the acting role may see them, a look-up by document, corrections, and
the merge decisions of dedup (merge, undo, not a duplicate).

Every read of a protected field leaves an audit entry naming the fields (never the values). A
correction or a merge is a new event: the old values stay in the log.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from sqlalchemy import select

from evacops.errors import RegistryError
from evacops.registry import credentials as creds
from evacops.registry import events as ev
from evacops.registry.limits import check_text
from evacops.registry.security import Perm, require
from evacops.registry.services.context import IDENTITY_FIELDS, Context
from evacops.registry.services.registration import active_categories, blind_keys, initials
from evacops.registry.store.crypto import FieldCipher
from evacops.registry.store.tables import credentials, events, persons

_PERSONAL = frozenset({"given_name", "family_name", "birth_date", "document"})
_PLAIN_OK = frozenset(ev.CORRECTABLE) - {"household_id", "escort_id", "cohort", "priority"}
_NAMES = ("given_name", "family_name", "native_name", "variants", "birth_date")


def person(ctx: Context, op: str, person_id: str) -> dict[str, Any]:
    """One person as the acting role may see them (gate: credential, initials and
    eligibility; registrar/manifest: names and birth date; documents only to roles that may
    read documents). Every read of a protected field is audited."""
    actor = ctx.actor
    if not (actor.can(Perm.read_gate_view, op) or actor.can(Perm.read_personal, op)):
        require(actor, Perm.read_personal, op)
    with ctx.write() as conn:
        p = ctx.person(conn, op, person_id)
        cipher = ctx.cipher(conn, op)
        cred = conn.execute(
            select(credentials.c.id)
            .where(credentials.c.person_id == person_id, credentials.c.revoked_at.is_(None))
            .order_by(credentials.c.issued_at.desc())
        ).scalar()
        out: dict[str, Any] = {
            "person_id": person_id,
            "household_id": p["household_id"],
            "credential": creds.short_code(cred) if cred else None,
            "category": p["category"],
            "cohort": p["cohort"],
            "status": p["status"],
            "site": p["site"],
            "age_group": p["age_group"],
            "initials": cipher.open(p["initials_enc"], f"persons|{person_id}|initials"),
        }
        fields = ["initials"]
        if actor.can(Perm.read_personal, op):
            opened = ctx.open_person(cipher, p)
            out.update({k: opened[k] for k in _NAMES})
            out.update(
                sex=p["sex"], nationality=p["nationality"], birth_precision=p["birth_precision"]
            )
            fields += list(_NAMES)
            if actor.can(Perm.read_documents, op):
                out["document"] = opened["document"]
                out["document_type"] = opened["document_type"]
                fields.append("document")
        ctx.audit(conn, "read", op, person_id, {"fields": fields})
    return out


def find_by_document(ctx: Context, op: str, number: str) -> list[str]:
    """Opaque ids of people registered with this document number (blind index lookup)."""
    from evacops.registry.files import normalise_document

    require(ctx.actor, Perm.read_documents, op)
    with ctx.write() as conn:
        cipher = ctx.cipher(conn, op)
        b = cipher.blind("document", normalise_document(number))
        ids = list(
            conn.execute(
                select(persons.c.id).where(
                    persons.c.operation_id == op, persons.c.document_bidx == b
                )
            ).scalars()
        )
        shown = ",".join(ids[:8]) + (
            f",+{len(ids) - 8}" if len(ids) > 8 else ""
        )  # fits audit.subject
        ctx.audit(conn, "lookup-document", op, shown or "-", {"found": len(ids), "persons": ids})
    return ids


# ---------------------------------------------------------------------------- corrections
def correct(ctx: Context, op: str, person_id: str, *, reason: str, **fields: Any) -> None:
    """Correct a person's record: a ``correction`` event (the old values stay in the log)."""
    require(ctx.actor, Perm.register, op)
    unknown = set(fields) - _PERSONAL - _PLAIN_OK
    if unknown:
        raise RegistryError(f"correction: cannot correct {', '.join(sorted(unknown))}")
    check_text("reason", reason)
    for k in ("relationship", "category", "given_name", "family_name", "document"):
        check_text("document_number" if k == "document" else k, fields.get(k), name=k)
    if fields.get("birth_date") is not None:
        try:
            date.fromisoformat(str(fields["birth_date"]))
        except ValueError:
            raise RegistryError("not a date; use YYYY-MM-DD", field="birth_date") from None
    with ctx.write() as conn:
        p = ctx.person(conn, op, person_id)
        cipher = ctx.cipher(conn, op)
        data: dict[str, Any] = {
            "reason_sealed": ctx.seal_text(conn, op, reason, f"correction|{person_id}"),
            "fields": sorted(fields),
        }
        for k in _PLAIN_OK & set(fields):
            data[k] = fields[k]
        if "category" in fields:
            catmap = ctx.operation(conn, op)["category_map"]
            if catmap and fields["category"] not in active_categories(catmap):
                word = "retired" if fields["category"] in catmap else "not a category"
                raise RegistryError(
                    f"{word} in operation {op}; use one of {', '.join(active_categories(catmap))}",
                    field="category",
                )
            cat = catmap.get(fields["category"]) or {"cohort": fields["category"], "priority": 1.0}
            data["cohort"], data["priority"] = cat["cohort"], cat["priority"]
        sealed = None
        if _PERSONAL & set(fields):
            sealed = _reseal(ctx, cipher, p, fields, data)
        ctx.event(
            conn,
            op,
            ev.CORRECTION,
            person_id=person_id,
            household_id=p["household_id"],
            data=data,
            sealed=sealed,
        )
        ctx.audit(conn, "correction", op, person_id, {"fields": sorted(fields)})


def _reseal(
    ctx: Context, cipher: FieldCipher, p: Any, fields: dict[str, Any], data: dict[str, Any]
) -> bytes:
    """The corrected identity fields sealed again; their new blind indexes go into ``data``."""
    from evacops.registry.dedup import PersonRecord

    person_id = p["id"]
    current = ctx.open_person(cipher, p, IDENTITY_FIELDS)
    current.update({k: v for k, v in fields.items() if k in _PERSONAL})
    new = {
        "given_name": current["given_name"],
        "family_name": current["family_name"],
        "initials": initials(current["given_name"] or "", current["family_name"] or ""),
        "birth_date": current["birth_date"],
        "document": json.dumps(
            {"number": current["document"], "type": current.get("document_type")}
        )
        if current["document"]
        else None,
    }
    sealed = ev.pack({f: cipher.seal(v, f"persons|{person_id}|{f}") for f, v in new.items()})
    bd = date.fromisoformat(current["birth_date"]) if current["birth_date"] else None
    rec = PersonRecord(
        person_id,
        current["given_name"] or "",
        current["family_name"] or "",
        bd,
        p["birth_precision"] if bd else "unknown",
        p["sex"],
        p["nationality"],
        current["document"],
        p["household_id"],
    )
    data["_keys"] = blind_keys(cipher, rec)
    if "document" in fields:
        data["_document_bidx"] = (
            cipher.blind("document", current["document"]).hex() if current["document"] else None
        )
    return sealed


# ---------------------------------------------------------------------------- dedup decisions
def merge(ctx: Context, op: str, keep: str, duplicate: str, *, reason: str = "") -> int:
    """``duplicate`` is the same person as ``keep``: a ``merge`` event (undo with
    :func:`unmerge`); the duplicate's credentials are revoked."""
    require(ctx.actor, Perm.dedup, op)
    if keep == duplicate:
        raise RegistryError("merge: a person cannot be merged into themself")
    with ctx.write() as conn:
        k = ctx.person(conn, op, keep)
        d = ctx.person(conn, op, duplicate)
        if "merged" in (k["status"], d["status"]):
            raise RegistryError(
                f"merge: person {keep if k['status'] == 'merged' else duplicate} is merged "
                "already; undo that first"
            )
        row = ctx.event(
            conn,
            op,
            ev.MERGE,
            person_id=duplicate,
            household_id=d["household_id"],
            data={
                "into": keep,
                "other": keep,
                "status": d["status"],
                "site": d["site"],
                "reason_sealed": ctx.seal_text(conn, op, reason, f"merge|{duplicate}"),
            },
        )
        for cid in (
            conn.execute(
                select(credentials.c.id).where(
                    credentials.c.person_id == duplicate, credentials.c.revoked_at.is_(None)
                )
            )
            .scalars()
            .all()
        ):
            ctx.event(
                conn,
                op,
                ev.CREDENTIAL_REVOKED,
                person_id=duplicate,
                credential_id=cid,
                data={"reason": f"merged into {keep}"},
            )
        ctx.audit(conn, "merge", op, f"{duplicate}->{keep}", {"event": row["seq"]})
        return row["seq"]


def unmerge(ctx: Context, op: str, duplicate: str, *, reason: str = "") -> int:
    """Undo the last merge of ``duplicate``: status and site as before it."""
    require(ctx.actor, Perm.dedup, op)
    with ctx.write() as conn:
        d = ctx.person(conn, op, duplicate)
        if d["status"] != "merged":
            raise RegistryError(f"unmerge: person {duplicate} is not merged")
        m = conn.execute(
            select(events.c.seq, events.c.data)
            .where(events.c.person_id == duplicate, events.c.type == ev.MERGE)
            .order_by(events.c.seq.desc())
        ).first()
        assert m is not None  # a merged person has a merge event
        row = ctx.event(
            conn,
            op,
            ev.UNMERGE,
            person_id=duplicate,
            household_id=d["household_id"],
            data={
                "status": m.data["status"],
                "site": m.data["site"],
                "other": m.data["into"],
                "merge_event": m.seq,
                "reason_sealed": ctx.seal_text(conn, op, reason, f"unmerge|{duplicate}"),
            },
        )
        ctx.audit(conn, "unmerge", op, f"{duplicate}->{m.data['into']}", {"event": row["seq"]})
        return row["seq"]


def not_duplicate(ctx: Context, op: str, a: str, b: str, *, reason: str = "") -> int:
    """``a`` and ``b`` are different people: their candidate pair is closed."""
    require(ctx.actor, Perm.dedup, op)
    with ctx.write() as conn:
        ctx.person(conn, op, a)
        ctx.person(conn, op, b)
        note = ctx.seal_text(conn, op, reason, f"not-duplicate|{a}|{b}")
        row = ctx.event(
            conn, op, ev.NOT_DUPLICATE, person_id=a, data={"other": b, "reason_sealed": note}
        )
        ctx.audit(conn, "not-duplicate", op, f"{a}|{b}", {"event": row["seq"]})
        return row["seq"]
