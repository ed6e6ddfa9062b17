"""The security review's findings (issue 10, section 5), each as an attack or a check that failed
before its fix: SQLite, and PostgreSQL when EVACOPS_TEST_DATABASE_URL is set. Generated people
only."""

from __future__ import annotations

import hashlib
import json

from conftest import OPERATION
from sqlalchemy import select, text

from evacops.registry.files import read_records
from evacops.registry.generate import registrations_rows
from evacops.registry.store.tables import audit, audit_head


def register(reg, n=5, seed=1):
    rows = registrations_rows(n, seed, 0.0)
    return reg.register(OPERATION, read_records(rows, source="t"), source="t").person_ids


def _drop_guard(conn, backend, table):
    if backend == "sqlite":
        conn.execute(text(f"DROP TRIGGER {table}_no_update"))
    else:
        conn.execute(text(f"DROP TRIGGER {table}_append_only ON {table}"))


def _sha_chain(prev, lane, at, actor, action, operation, subject, detail) -> str:
    """The chain's digest as anyone can compute it from the database alone (the documented
    canonical JSON under SHA-256): what an attacker holding the database file would use."""
    body = json.dumps(
        [prev, lane, at.isoformat(timespec="microseconds"), actor, action, operation, subject,
         detail],
        sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str,
    )  # fmt: skip
    return hashlib.sha256(body.encode()).hexdigest()


# ---------------------------------------------------------------------------------- audit chain
def test_an_audit_rewrite_with_recomputed_hashes_is_detected(registry_env, backend, admin):
    reg = registry_env.as_role("registrar")
    for p in register(reg):
        reg.person(OPERATION, p)
    assert admin.audit_verify().ok
    # the database holder changes an entry and recomputes every hash after it, and the head
    with admin.engine.begin() as conn:
        _drop_guard(conn, backend, "audit")
        rows = conn.execute(select(audit).order_by(audit.c.seq)).mappings().all()
        target = rows[3]
        prev = {}
        for r in rows:
            lane = r["lane"]
            subject = "someone-else" if r["seq"] == target["seq"] else r["subject"]
            p = prev.get(lane, "0" * 64)
            if r["seq"] >= target["seq"] and lane == target["lane"]:
                h = _sha_chain(p, lane, r["at"], r["actor"], r["action"], r["operation_id"],
                               subject, r["detail"])  # fmt: skip
                conn.execute(
                    text("UPDATE audit SET subject = :s, prev_hash = :p, hash = :h "
                         "WHERE seq = :q"),
                    {"s": subject, "p": p, "h": h, "q": r["seq"]},
                )  # fmt: skip
                prev[lane] = h
            else:
                prev[lane] = r["hash"]
        conn.execute(
            text("UPDATE audit_head SET hash = :h WHERE id = :l"),
            {"h": prev[target["lane"]], "l": target["lane"]},
        )
    with admin.engine.connect() as conn:
        assert conn.execute(select(audit.c.subject).where(audit.c.seq == target["seq"])).scalar()
        assert conn.execute(select(audit_head.c.hash)).first()
    v = admin.audit_verify()
    assert not v.ok and v.first_bad == target["seq"], v
