"""The gate's view (initials, household size) read in the scan's own transaction, audited with
it, never kept in ``device_scans``; the audit chain after concurrent scans from several devices
(SQLite, and PostgreSQL when EVACOPS_TEST_DATABASE_URL is set). Generated people only."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from conftest import OPERATION, assert_projection_is_the_log
from sqlalchemy import event, func, select

from evacops.registry.accounts import Accounts
from evacops.registry.files import read_records
from evacops.registry.generate import registrations_rows
from evacops.registry.store import crypto
from evacops.registry.store.tables import audit, device_scans, persons, utcnow


@pytest.fixture
def world(registry_env, admin):
    accounts = Accounts(admin.engine, crypto.load_master_key(registry_env.key_file),
                        registry_env.settings)  # fmt: skip
    rows = registrations_rows(40, 5, 0.0)
    ids = admin.register(OPERATION, read_records(rows, source="t"), source="t").person_ids
    payload = {c["person_id"]: c["payload"] for c in admin.issue_credentials(OPERATION)}
    return {"admin": admin, "ids": ids, "payload": payload, "accounts": accounts,
            "env": registry_env}  # fmt: skip


def device(world, site: str, label: str):
    device_id, token = world["admin"].enrol_device(OPERATION, site, "gate", label)
    acc = world["accounts"]
    return device_id, acc.registry(acc.device_actor(token))


def household_sizes(engine) -> dict[str, int]:
    """Each person's household size, counted here from the table (merged people left out)."""
    P = persons.c
    with engine.connect() as conn:
        rows = conn.execute(select(P.id, P.household_id, P.status)).all()
    size: dict[str, int] = {}
    for r in rows:
        if r.status != "merged" and r.household_id is not None:
            size[r.household_id] = size.get(r.household_id, 0) + 1
    return {r.id: size.get(r.household_id, 1) if r.household_id else 1 for r in rows}


class Transactions:
    """Counts the transactions begun on an engine (reading or writing)."""

    def __init__(self, engine):
        self.begun = 0
        self.engine = engine

    def __enter__(self):
        event.listen(self.engine, "begin", self._begin)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "begin", self._begin)

    def _begin(self, _conn):
        self.begun += 1


def test_scan_answer_and_state_come_from_one_transaction(world):
    admin, ids, pay = world["admin"], world["ids"], world["payload"]
    gate = world["env"].as_role("gate")
    gate.scan(OPERATION, pay[ids[0]], "gate-in", site="Gate A", view=True)  # warm the caches
    sizes = household_sizes(admin.engine)
    for pid in ids[1:6]:
        with Transactions(gate.engine) as tx:
            answer = gate.scan(OPERATION, pay[pid], "gate-in", site="Gate A", view=True)
        # one transaction: the scan, its event, its audit entry and the view it shows
        assert tx.begun == 1
        assert answer["person_id"] == pid and not answer["duplicate"]
        seen = admin.person(OPERATION, pid)
        assert answer["view"] == {"initials": seen["initials"], "household_size": sizes[pid]}
        assert set(answer["view"]) == {"initials", "household_size"}  # no document, no category
    with admin.engine.connect() as conn:
        entries = conn.execute(
            select(audit.c.action, audit.c.detail).where(audit.c.subject == ids[3])
        ).all()
    scans = [e for e in entries if e.action == "scan"]
    assert len(scans) == 1 and scans[0].detail["shown"] == ["initials"]
    # a scan without the view shows and audits none
    plain = gate.scan(OPERATION, pay[ids[7]], "gate-in", site="Gate A")
    assert "view" not in plain
    with admin.engine.connect() as conn:
        detail = conn.execute(
            select(audit.c.detail).where(audit.c.subject == ids[7], audit.c.action == "scan")
        ).scalar_one()
    assert "shown" not in detail


def test_a_repeated_scan_shows_the_view_again_and_audits_it_as_a_read(world):
    ids, pay = world["ids"], world["payload"]
    gate = world["env"].as_role("gate")
    first = gate.scan(OPERATION, pay[ids[0]], "gate-in", site="Gate A", view=True)
    again = gate.scan(OPERATION, pay[ids[0]], "gate-in", site="Gate A", view=True)
    assert again["duplicate"] and again["event"] == first["event"]
    assert again["view"] == first["view"]
    with gate.engine.connect() as conn:
        actions = conn.execute(
            select(audit.c.action).where(audit.c.subject == ids[0]).order_by(audit.c.seq)
        ).scalars()
        assert [a for a in actions if a in ("scan", "read")][-2:] == ["scan", "read"]


def test_device_sync_view_is_told_and_never_kept(world):
    ids, pay, admin = world["ids"], world["payload"], world["admin"]
    device_id, reg = device(world, "Gate A", "phone")
    at = (utcnow() - timedelta(minutes=2)).isoformat()
    batch = [{"seq": i + 1, "payload": pay[p], "action": "gate-in", "at": at}
             for i, p in enumerate(ids[:4])]  # fmt: skip
    answers = reg.sync_scans(OPERATION, device_id, batch[:1], view=True)  # warms the caches
    with Transactions(reg.engine) as tx:
        answers += reg.sync_scans(OPERATION, device_id, batch[1:], view=True)
    # one transaction for the three (the device's own row came with its token)
    assert tx.begun == 1
    for a, p in zip(answers, ids[:4], strict=True):
        assert a["outcome"] == "recorded"
        assert a["view"]["initials"] == admin.person(OPERATION, p)["initials"]
    retry = reg.sync_scans(OPERATION, device_id, batch, view=True)
    assert [a["view"] for a in retry] == [a["view"] for a in answers]
    assert all(a["duplicate"] for a in retry)
    with admin.engine.connect() as conn:
        kept = [r.answer for r in conn.execute(select(device_scans.c.answer))]
    assert len(kept) == 4
    assert all("view" not in k and "initials" not in str(k) for k in kept)


@pytest.mark.parametrize("per_request", [1, 5])
def test_audit_chain_verifies_after_concurrent_scans_from_several_devices(world, per_request):
    """One scan a request (each its own transaction and audit entry), or five (one
    transaction, their audit entries chained together at its end: Context.audit_together)."""
    ids, pay, admin = world["ids"], world["payload"], world["admin"]
    devices = [device(world, site, f"phone {i}")
               for i, site in enumerate(("Gate A", "Gate B", "Gate A", "Gate B"))]  # fmt: skip
    at = (utcnow() - timedelta(minutes=1)).isoformat()
    per = len(ids) // len(devices)
    errors: list[Exception] = []
    answers: list[list[dict]] = [[] for _ in devices]

    def run(k: int) -> None:
        device_id, reg = devices[k]
        mine = ids[k * per : (k + 1) * per]
        scans = [{"seq": i + 1, "payload": pay[p], "action": "gate-in", "at": at}
                 for i, p in enumerate(mine)]  # fmt: skip
        try:  # one scan a request, as a phone online sends them, or its outbox's batches
            for i in range(0, len(scans), per_request):
                batch = scans[i : i + per_request]
                answers[k] += reg.sync_scans(OPERATION, device_id, batch, view=True)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(devices))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    n = per * len(devices)
    assert sum(a["outcome"] == "recorded" for got in answers for a in got) == n
    assert all(a["view"]["initials"] for got in answers for a in got)
    check = admin.audit_verify()
    assert check.ok, check.problem
    with admin.engine.connect() as conn:
        scans = conn.execute(
            select(audit.c.subject).where(audit.c.action == "scan").order_by(audit.c.seq)
        ).scalars()
        assert sorted(scans) == sorted(ids[:n])  # one entry a scan, each naming its person
        kept = conn.execute(select(func.count()).select_from(device_scans)).scalar_one()
        assert kept == n
        assert_projection_is_the_log(conn, OPERATION)


def test_household_count_reads_the_household_index_not_the_whole_operation(world):
    """The household count of the scan's look-up (and of ``household_size``) is answered from
    ``ix_persons_household`` with both its equalities. Before migration 0005, SQLite took the
    picture's index (operation first) and walked every person of the operation on every scan
    (benchmarks/web_scans.py fell from 190 to 87 scans/s at 20,000 people)."""

    engine = world["admin"].engine
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's query plan (PostgreSQL plans by its statistics)")
    from evacops.registry.services import lookups

    lookup = lookups.SCAN_LOOKUP.format(cid=":cid", key=":key")
    with engine.connect() as conn:
        dbapi = conn.connection.dbapi_connection
        plan = [
            r[3] for r in dbapi.execute("EXPLAIN QUERY PLAN " + lookup, {"cid": "c", "key": "k"})
        ]
    household = [step for step in plan if "h USING" in step]
    assert household, plan
    assert "ix_persons_household (household_id=? AND operation_id=?)" in household[0], plan
