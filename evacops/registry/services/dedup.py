"""Dedup as a service: find likely duplicates among an operation's people and keep the review
queue. The matching itself (blocking, scoring) is :mod:`evacops.registry.dedup`; the decisions on
a pair (merge, undo, not a duplicate) are events, in :mod:`.people`.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import insert, select

from evacops.registry.security import Perm, require
from evacops.registry.services.context import IDENTITY_FIELDS, Context, chunks
from evacops.registry.store.tables import dedup_candidates, person_keys, persons


def run_dedup(ctx: Context, op: str, *, threshold: float = 0.8) -> dict[str, Any]:
    """Find likely duplicates among the operation's people (not merged): records are
    blocked on their blind indexes (``person_keys``: HMACs of the blocking keys, so blocking
    sees only equality) and scored on the opened fields (an audited read); pairs at or above
    ``threshold`` that are not yet queued or decided join the review queue."""
    from evacops.registry.dedup import find_duplicates

    require(ctx.actor, Perm.dedup, op)
    with ctx.write() as conn:
        records, keys = _records(ctx, conn, op)
        found = find_duplicates(
            records, threshold, keys=[keys.get(r.person_id, []) for r in records]
        )
        D = dedup_candidates.c
        known = {
            (r.person_a, r.person_b)
            for r in conn.execute(select(D.person_a, D.person_b).where(D.operation_id == op))
        }
        now = ctx.clock()
        new = [
            {
                "operation_id": op,
                "person_a": a,
                "person_b": b,
                "score": float(s),
                "reasons": reasons[:200],
                "found_at": now,
            }
            for a, b, s, reasons in found.itertuples(index=False, name=None)
            if (a, b) not in known
        ]
        for chunk in chunks(new, 5000):
            conn.execute(insert(dedup_candidates), chunk)
        ctx.audit(
            conn,
            "dedup",
            op,
            f"{len(records)} persons opened",
            {"pairs_found": len(found), "new_candidates": len(new)},
        )
    return {
        "persons": len(records),
        "pairs_found": len(found),
        "new_candidates": len(new),
        "open_candidates": len(review_queue(ctx, op)),
    }


def _records(ctx: Context, conn, op: str) -> tuple[list[Any], dict[str, list[str]]]:
    """Every person not merged, opened for matching, and their blind blocking keys (hex)."""
    from evacops.registry.dedup import PersonRecord

    P = persons.c
    cipher = ctx.cipher(conn, op)
    keys: dict[str, list[str]] = defaultdict(list)
    active = select(P.id).where(P.operation_id == op, P.status != "merged")
    for r in conn.execute(
        select(person_keys.c.person_id, person_keys.c.bidx).where(
            person_keys.c.operation_id == op, person_keys.c.person_id.in_(active)
        )
    ):
        keys[r.person_id].append(r.bidx.hex())
    records: list[PersonRecord] = []
    for p in conn.execute(
        select(persons).where(P.operation_id == op, P.status != "merged").order_by(P.id)
    ).mappings():
        o = ctx.open_person(cipher, p, IDENTITY_FIELDS)
        bd = date.fromisoformat(o["birth_date"]) if o["birth_date"] else None
        records.append(
            PersonRecord(
                p["id"],
                o["given_name"] or "",
                o["family_name"] or "",
                bd,
                p["birth_precision"] if bd else "unknown",
                p["sex"],
                p["nationality"],
                o["document"],
                p["household_id"],
            )
        )
    return records, keys


def review_queue(ctx: Context, op: str, candidate: int | None = None) -> list[dict[str, Any]]:
    """The open candidate pairs, best score first (only ``candidate``, if given and open)."""
    require(ctx.actor, Perm.dedup, op)
    D = dedup_candidates.c
    query = select(dedup_candidates).where(D.operation_id == op, D.decision.is_(None))
    if candidate is not None:
        query = query.where(D.id == candidate)
    with ctx.read() as conn:
        rows = conn.execute(query.order_by(D.score.desc(), D.id)).mappings().all()
    return [
        {
            "candidate": r["id"],
            "person_a": r["person_a"],
            "person_b": r["person_b"],
            "score": round(r["score"], 3),
            "reasons": r["reasons"],
        }
        for r in rows
    ]
