"""The security review's findings (issue 10, section 5), each as an attack or a check that failed
before its fix: SQLite, and PostgreSQL when EVACOPS_TEST_DATABASE_URL is set. Generated people
only."""

from __future__ import annotations

import hashlib
import json
import stat

import pytest
from conftest import OPERATION
from sqlalchemy import select, text, update

from evacops.errors import RegistryError
from evacops.registry.files import read_records
from evacops.registry.generate import registrations_rows
from evacops.registry.store.crypto import load_master_key, unwrap_key
from evacops.registry.store.tables import audit, audit_head, operations


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


# ---------------------------------------------------------------------------------- shred
def test_a_database_copy_taken_before_the_shred_cannot_be_opened_after_it(registry_env, admin):
    """The copy: the operation's row as it was before the shred (its wrapped keys), written back
    after it, as someone restoring a backup or reading an old WAL page would have it."""
    reg = registry_env.as_role("registrar")
    ids = register(reg, 4)
    assert reg.person(OPERATION, ids[0])["family_name"]
    with admin.engine.connect() as conn:
        copy = dict(conn.execute(select(operations).where(operations.c.id == OPERATION))
                    .mappings().one())  # fmt: skip
    admin.shred(OPERATION)
    with admin.engine.begin() as conn:
        conn.execute(
            update(operations).where(operations.c.id == OPERATION).values(
                wrapped_data_key=copy["wrapped_data_key"],
                wrapped_signing_key=copy["wrapped_signing_key"], shredded_at=None,
            )
        )  # fmt: skip
    for who in (registry_env.as_role("registrar", fresh=True), admin):
        who.ctx.ciphers.clear()
        with pytest.raises(RegistryError, match="key-encryption key"):
            who.person(OPERATION, ids[0])
    # and the master key alone does not unwrap the copy's data key
    master = load_master_key(registry_env.key_file)
    with pytest.raises(RegistryError):
        unwrap_key(master, copy["wrapped_data_key"], OPERATION)


def test_the_key_folder_and_its_files_are_private(registry_env):
    folder = registry_env.settings.operation_keys_dir
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = list(folder.iterdir())
    assert [f.name for f in files] == [f"{OPERATION}.kek"]
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600


def test_the_shred_reports_whether_the_sqlite_wal_was_cleared(registry_env, backend, admin):
    if backend != "sqlite":
        pytest.skip("SQLite's write-ahead log; PostgreSQL's is documented in docs/registry.md")
    register(registry_env.as_role("registrar"), 3)
    admin.create_operation("second-op", categories={}, sites_={"HKIA": "airport"})
    # a reader holding an old snapshot keeps the WAL from being checkpointed
    reader = admin.engine.connect().execution_options(evacops_read=True)
    reader.exec_driver_sql("SELECT count(*) FROM persons").all()
    try:
        done = admin.shred(OPERATION)
    finally:
        reader.rollback()
        reader.close()
    assert done["wal_cleared"] is False
    assert admin.shred("second-op")["wal_cleared"] is True
