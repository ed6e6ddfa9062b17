"""The security review's findings (issue 10, section 5), each as an attack or a check that failed
before its fix: SQLite, and PostgreSQL when EVACOPS_TEST_DATABASE_URL is set. Generated people
only."""

from __future__ import annotations

import hashlib
import json
import os
import stat

import pytest
from conftest import CATEGORIES, OPERATION
from sqlalchemy import select, text, update

from evacops.errors import CredentialError, RegistryError
from evacops.registry.credentials import decode_unverified
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


def test_entries_chained_to_a_lane_that_moved_since_it_was_read_are_refused(
    registry_env, backend, admin
):
    """A batch of scans reads its audit lane with its first statement (audit.LANE_CTE) and
    appends at its end. Were another entry appended to that lane in between, on the same
    transaction (which its own lock does not hold back), the batch's entries would fork the
    chain: the append refuses instead, and the transaction rolls back whole."""
    if backend == "sqlite":
        pytest.skip("the lane read with a batch's look-ups is PostgreSQL's (FOR UPDATE)")
    from datetime import UTC, datetime

    from evacops.registry.store import audit as audit_log

    key = admin.ctx.audit_key()
    entry = audit_log.Entry(datetime.now(UTC), "test", "probe", OPERATION, "x", {})
    before = admin.audit_verify().entries
    with pytest.raises(RuntimeError, match="moved"), admin.engine.begin() as conn:
        lane = tuple(conn.execute(text(f"WITH {audit_log.LANE_CTE} SELECT id, hash FROM lane"))
                     .one())  # fmt: skip
        assert lane[0] != 1  # lane 1 is only ever taken last (audit.LANE_CTE)
        audit_log.append_many(conn, key=key, entries=[entry], lane=lane)  # the other path
        audit_log.append_many(conn, key=key, entries=[entry], lane=lane)  # chained to the old head
    v = admin.audit_verify()
    assert v.ok and v.entries == before, v
    with admin.engine.begin() as conn:  # the lane as read, nothing in between: appended
        lane = tuple(conn.execute(text(f"WITH {audit_log.LANE_CTE} SELECT id, hash FROM lane"))
                     .one())  # fmt: skip
        audit_log.append_many(conn, key=key, entries=[entry, entry], lane=lane)
    v = admin.audit_verify()
    assert v.ok and v.entries == before + 2, v


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


# ---------------------------------------------------------------------------------- sealing
def _everything_stored(engine) -> str:
    """Every row of every table, as text: what a database holder reads without the keys."""
    from evacops.registry.store.tables import metadata

    out = []
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            out.extend(repr(tuple(r)) for r in conn.execute(select(table)))
    return "\n".join(out)


def test_free_text_reasons_household_ids_and_file_names_are_sealed(registry_env, admin, tmp_path):
    import csv

    from evacops.registry.generate import IMPORT_COLUMNS

    rows = registrations_rows(12, 4, 0.0)
    for r in rows:
        r["household_id"] = f"HHZQ-{r['household_id']}-QZ"
    path = tmp_path / "kandahar-FILENAMEZQ-list.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=IMPORT_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    reg = registry_env.as_role("registrar")
    ids = reg.import_file(OPERATION, path).person_ids
    payload = {c["person_id"]: c["payload"] for c in reg.issue_credentials(OPERATION)}
    reg.correct(OPERATION, ids[0], reason="REASONZQ-correction", sex="F")
    reg.merge(OPERATION, ids[1], ids[2], reason="REASONZQ-merge")
    reg.unmerge(OPERATION, ids[2], reason="REASONZQ-unmerge")
    reg.not_duplicate(OPERATION, ids[3], ids[4], reason="REASONZQ-distinct")
    reg.revoke(OPERATION, decode_unverified(payload[ids[5]]).credential_id,
               reason="REASONZQ-revoke")  # fmt: skip
    admin.add_flight(OPERATION, "F1", origin="HKIA", destination="Al Udeid", seats=5)
    reg.scan(OPERATION, payload[ids[6]], "gate-in", site="Gate A")
    admin.scan(OPERATION, payload[ids[6]], "board", flight="F1", override="REASONZQ-override")
    stored = _everything_stored(admin.engine)
    assert "FILENAMEZQ" not in stored
    assert "HHZQ-" not in stored
    assert "REASONZQ" not in stored
    # the household link still works: a second import of the same household joins it
    again = [dict(rows[0], given_name="Zed")]
    with (tmp_path / "second.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=IMPORT_COLUMNS)
        w.writeheader()
        w.writerows(again)
    [new] = reg.import_file(OPERATION, tmp_path / "second.csv").person_ids
    assert (
        reg.person(OPERATION, new)["household_id"] == reg.person(OPERATION, ids[0])["household_id"]
    )


# ---------------------------------------------------------------------------------- credentials
def test_wristband_labels_show_no_eligibility_category(registry_env):
    reg = registry_env.as_role("registrar")
    ids = register(reg, 12, 6)
    reg.issue_credentials(OPERATION)
    labels = reg.credential_labels(OPERATION)
    assert len(labels) == len(ids)
    words = {c for c in CATEGORIES} | {cohort for cohort, _ in CATEGORIES.values()}
    for label in labels:
        shown = f"{label.line1} {label.line2}".lower()
        assert not any(w.lower() in shown for w in words), shown
        assert label.line1.startswith("HH ")
        assert label.line2.endswith("in household")


def test_reissue_revokes_the_old_credential_validity_is_capped_reprints_audited(
    registry_env, admin
):
    reg = registry_env.as_role("registrar")
    ids = register(reg, 3, 2)
    first = {c["person_id"]: c["payload"] for c in reg.issue_credentials(OPERATION)}
    second = {c["person_id"]: c["payload"] for c in reg.issue_credentials(OPERATION, [ids[0]])}
    with pytest.raises(CredentialError, match="revoked"):
        reg.scan(OPERATION, first[ids[0]], "gate-in", site="Gate A")
    assert reg.scan(OPERATION, second[ids[0]], "gate-in", site="Gate A")["person_id"] == ids[0]
    assert set(reg.revoked(OPERATION)) == {decode_unverified(first[ids[0]]).credential_id}
    with pytest.raises(RegistryError) as e:
        reg.issue_credentials(OPERATION, [ids[1]], days=400)
    assert e.value.field == "days"
    with pytest.raises(RegistryError):
        reg.issue_credentials(OPERATION, [ids[1]], days=0)
    reg.credential_payloads(OPERATION)
    reg.credential_labels(OPERATION, [ids[1]])
    with admin.engine.connect() as conn:
        reprints = (
            conn.execute(select(audit.c.detail).where(audit.c.action == "credentials-reprinted"))
            .scalars()
            .all()
        )
    assert [d["count"] for d in reprints] == [3, 1]


# ---------------------------------------------------------------------------------- scans
def test_scan_idempotency_is_keyed_on_credential_action_and_time_and_compared(registry_env):
    from datetime import timedelta

    from evacops.registry.store.tables import events, utcnow

    reg = registry_env.as_role("registrar")
    ids = register(reg, 4, 9)
    pay = {c["person_id"]: c["payload"] for c in reg.issue_credentials(OPERATION)}
    gate = registry_env.as_role("gate")
    first = gate.scan(OPERATION, pay[ids[0]], "gate-in", site="Gate A", scan_id="dev1-0001")
    # the same scan id sent again for the same scan: the first answer
    again = gate.scan(OPERATION, pay[ids[0]], "gate-in", site="Gate A", scan_id="dev1-0001")
    assert again["duplicate"] and again["event"] == first["event"]
    # the same scan id for another person's credential is not that scan: refused
    with pytest.raises(RegistryError) as e:
        gate.scan(OPERATION, pay[ids[1]], "gate-in", site="Gate A", scan_id="dev1-0001")
    assert e.value.field == "scan_id"
    with pytest.raises(RegistryError):
        gate.scan(OPERATION, pay[ids[0]], "roll-call", site="Gate A", scan_id="dev1-0001")
    # a roll-call the next day is a new roll-call, not a repeat of yesterday's
    t = utcnow() - timedelta(days=1)
    a = gate.scan(OPERATION, pay[ids[0]], "roll-call", site="Gate A", at=t)
    b = gate.scan(OPERATION, pay[ids[0]], "roll-call", site="Gate A", at=t + timedelta(days=1))
    assert not b["duplicate"] and a["event"] != b["event"]
    # and the same one sent twice is one
    c = gate.scan(OPERATION, pay[ids[0]], "roll-call", site="Gate A", at=t + timedelta(days=1))
    assert c["duplicate"] and c["event"] == b["event"]
    with reg.engine.connect() as conn:
        n = conn.execute(
            select(events.c.seq).where(events.c.type == "roll-call", events.c.person_id == ids[0])
        ).all()
    assert len(n) == 2


def test_rollcall_rechecks_each_person_inside_the_write(registry_env, monkeypatch):
    from evacops.registry.services import rollcall as rc

    reg = registry_env.as_role("registrar")
    ids = register(reg, 3, 12)
    pay = {c["person_id"]: c["payload"] for c in reg.issue_credentials(OPERATION)}
    gate = registry_env.as_role("gate")
    for p in ids:
        gate.scan(OPERATION, pay[p], "gate-in", site="Gate A")
    other_gate = registry_env.as_role("gate", fresh=True)
    real_scan = rc.scan

    def scan_while_someone_moves(ctx, op, payload, action, **kw):
        # while the roll-call runs, person 1 is checked in at another gate
        other_gate.scan(OPERATION, pay[ids[1]], "gate-in", site="Gate B")
        return real_scan(ctx, op, payload, action, **kw)

    monkeypatch.setattr(rc, "scan", scan_while_someone_moves)
    done = gate.rollcall(OPERATION, "Gate A", [pay[ids[0]]], mark_missing=True)
    seen = {p: reg.person(OPERATION, p)["status"] for p in ids}
    assert seen == {ids[0]: "checked-in", ids[1]: "checked-in", ids[2]: "missing"}
    assert done["absent"] == [ids[2]] and done["marked_missing"] == 1


# ---------------------------------------------------------------------------------- imports
def _workbook(path, rows):
    from openpyxl import Workbook

    from evacops.registry.generate import IMPORT_COLUMNS

    wb = Workbook()
    ws = wb.active
    ws.append(list(IMPORT_COLUMNS))
    for r in rows:
        ws.append([r[c] for c in IMPORT_COLUMNS])
    wb.save(path)
    return path


def test_an_xlsx_zip_bomb_is_refused_before_it_is_parsed(tmp_path, monkeypatch):
    import zipfile

    from evacops.errors import RegistrationFileError
    from evacops.registry.files import read_registrations

    small = _workbook(tmp_path / "small.xlsx", registrations_rows(3, 2, 0.0))
    bomb = tmp_path / "bomb.xlsx"
    pad = b" " * (1 << 20)
    with zipfile.ZipFile(small) as src, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename != "xl/worksheets/sheet1.xml":
                dst.writestr(item, data)
                continue
            head, tail = data.rsplit(b"</worksheet>", 1)
            with dst.open(item.filename, "w", force_zip64=True) as out:
                out.write(head)
                for _ in range(210):  # 210 MB of whitespace: valid XML, ~200 KB compressed
                    out.write(pad)
                out.write(b"</worksheet>" + tail)
    assert bomb.stat().st_size < 2 * 1024 * 1024
    parsed = []
    monkeypatch.setattr("openpyxl.load_workbook", lambda *a, **k: parsed.append(1) or 1 / 0)
    with pytest.raises(RegistrationFileError, match="uncompressed"):
        read_registrations(bomb)
    assert parsed == []  # refused from the zip's directory, before the parser opened it


def test_oversized_and_overlong_files_are_refused_before_parsing(tmp_path, monkeypatch):
    from evacops.errors import RegistrationFileError
    from evacops.registry import limits
    from evacops.registry.files import read_registrations
    from evacops.registry.generate import write_registrations_csv

    path = write_registrations_csv(tmp_path / "people.csv", 30, 3, 0.0)
    assert len(read_registrations(path)) == 30
    monkeypatch.setattr(limits, "MAX_ROWS", 20)
    with pytest.raises(RegistrationFileError, match="more than 20 rows"):
        read_registrations(path)
    monkeypatch.setattr(limits, "MAX_FILE_BYTES", 1000)
    with pytest.raises(RegistrationFileError, match="over the"):
        read_registrations(path)


# ---------------------------------------------------------------------------------- storage
def test_errors_from_the_database_hold_no_parameter_values(registry_env, admin):
    with pytest.raises(Exception) as e, admin.engine.begin() as conn:
        conn.execute(text("INSERT INTO users (name) VALUES (:n)"), {"n": "SECRETZQ-name"})
    assert "SECRETZQ" not in str(e.value)


def test_database_and_written_files_are_private(registry_env, tmp_path):
    from evacops.registry.credentials import write_label_sheet

    if registry_env.url.startswith("sqlite:///"):
        db = registry_env.url.removeprefix("sqlite:///")
        for p in (db, db + "-wal", db + "-shm"):
            if os.path.exists(p):
                assert stat.S_IMODE(os.stat(p).st_mode) == 0o600, p
    assert stat.S_IMODE(registry_env.key_file.stat().st_mode) == 0o600
    reg = registry_env.as_role("registrar")
    register(reg, 3, 5)
    reg.issue_credentials(OPERATION)
    for name in ("labels.pdf", "labels.png"):
        write_label_sheet(reg.credential_labels(OPERATION), tmp_path / name)
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name


def test_each_blind_index_purpose_has_a_key_of_its_own():
    import hmac as hmac_

    from evacops.registry.store.crypto import FieldCipher

    cipher = FieldCipher(b"k" * 32, "op")
    doc, household = cipher.purpose_key("document"), cipher.purpose_key("household")
    assert doc != household and len(doc) == 32
    assert cipher.blind("document", "X1") == hmac_.digest(doc, b"X1", "sha256")[:16]
    assert cipher.blind("household", "X1") != cipher.blind("document", "X1")


def test_strings_longer_than_their_column_are_refused_by_name(registry_env, admin):
    long = "x" * 150
    calls = {
        "code": lambda: admin.add_site(OPERATION, long, "gate"),
        "name": lambda: admin.create_operation("long-name", name="n" * 250, sites_={}),
        "flight": lambda: admin.add_flight(
            OPERATION, "F" * 50, origin="HKIA", destination="Al Udeid", seats=3
        ),
        "site": lambda: admin.create_operation("long-site", sites_={long: "gate"}),
        "rollcall": lambda: admin.rollcall(OPERATION, "Gate A", rollcall_id=long),
    }
    for field, call in calls.items():
        with pytest.raises(RegistryError) as e:
            call()
        assert e.value.field == field, (field, str(e.value))
    assert "long-name" not in {o["id"] for o in admin.operations()}
