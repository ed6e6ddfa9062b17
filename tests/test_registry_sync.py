"""Offline sync of device scans: idempotent per (device, seq), never refused, conflicts queued
with the earlier scan winning the seat (SQLite, and PostgreSQL when EVACOPS_TEST_DATABASE_URL is
set). Generated people only."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from conftest import OPERATION, assert_projection_is_the_log
from sqlalchemy import func, select

from evacops.errors import AccessDenied
from evacops.registry import credentials as creds
from evacops.registry.accounts import Accounts
from evacops.registry.credentials import decode_unverified, encode, new_signing_key
from evacops.registry.files import read_records
from evacops.registry.generate import registrations_rows
from evacops.registry.store import crypto
from evacops.registry.store.tables import (
    device_scans,
    events,
    persons,
    scan_conflicts,
    seat_claims,
    utcnow,
)
from evacops.registry.store.tables import flights as flights_t


@pytest.fixture
def world(registry_env, admin):
    """People with credentials, two gate devices, one ramp device, and the accounts facade."""
    accounts = Accounts(admin.engine, crypto.load_master_key(registry_env.key_file),
                        registry_env.settings)  # fmt: skip
    rows = registrations_rows(30, 21, 0.0)
    ids = admin.register(OPERATION, read_records(rows, source="t"), source="t").person_ids
    payload = {c["person_id"]: c["payload"] for c in admin.issue_credentials(OPERATION)}
    devs = {}
    for name, site, role in (
        ("a", "Gate A", "gate"),
        ("b", "Gate B", "gate"),
        ("ramp", "HKIA", "manifest"),
        ("ramp2", "HKIA", "manifest"),
    ):
        device_id, token = admin.enrol_device(OPERATION, site, role, f"device {name}")
        devs[name] = (device_id, accounts.registry(accounts.device_actor(token)))
    with admin.engine.connect() as conn:
        adults = set(conn.execute(
            select(persons.c.id).where(persons.c.age_group == "adult")
        ).scalars())  # fmt: skip
    return {"admin": admin, "ids": ids, "adults": [p for p in ids if p in adults],
            "payload": payload, "devs": devs, "accounts": accounts}  # fmt: skip


def at_once(*calls) -> list[Exception]:
    """Run each of ``calls`` in a thread of its own, all at once; the exceptions they raised."""
    errors: list[Exception] = []

    def run(call):
        try:
            call()
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def sync(world, name, scans):
    device_id, reg = world["devs"][name]
    return reg.sync_scans(OPERATION, device_id, scans)


def n_events(engine):
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(events)).scalar_one()


def projection_ok(engine):
    with engine.connect() as conn:
        assert_projection_is_the_log(conn, OPERATION)


def test_sync_is_idempotent_under_retry_and_refuses_another_body_under_a_used_seq(world):
    engine, ids, pay = world["admin"].engine, world["ids"], world["payload"]
    at = utcnow() - timedelta(minutes=30)
    batch = [
        {"seq": i + 1, "payload": pay[p], "action": "gate-in", "at": (at + timedelta(seconds=i))
         .isoformat()} for i, p in enumerate(ids[:5])
    ]  # fmt: skip
    before = n_events(engine)
    first = sync(world, "a", batch)
    assert [a["outcome"] for a in first] == ["recorded"] * 5
    assert [a["duplicate"] for a in first] == [False] * 5
    assert n_events(engine) == before + 5
    again = sync(world, "a", batch)  # the link dropped before the device saw the answers
    assert [a["duplicate"] for a in again] == [True] * 5
    assert [a["event"] for a in again] == [a["event"] for a in first]
    assert n_events(engine) == before + 5
    # a different scan under a number already used is refused, and records nothing
    other = {**batch[0], "payload": pay[ids[6]]}
    [answer] = sync(world, "a", [other])
    assert answer["outcome"] == "refused" and "different scan" in answer["problem"]
    assert n_events(engine) == before + 5
    # the same numbers from another device are that device's own
    assert [a["outcome"] for a in sync(world, "b", batch[:1])] == ["conflict"]
    with engine.connect() as conn:
        P = persons.c
        sites = dict(conn.execute(select(P.id, P.site).where(P.id.in_(ids[:5]))).all())
        kept = conn.execute(select(func.count()).select_from(device_scans)).scalar_one()
    assert sites[ids[0]] == "Gate B" and {sites[p] for p in ids[1:5]} == {"Gate A"}
    assert kept == 6
    projection_ok(engine)


def test_concurrent_retries_of_one_batch_make_each_scan_once(world):
    engine, ids, pay = world["admin"].engine, world["ids"], world["payload"]
    at = utcnow() - timedelta(minutes=5)
    batch = [{"seq": i + 1, "payload": pay[p], "action": "gate-in", "at": at.isoformat()}
             for i, p in enumerate(ids[:12])]  # fmt: skip
    before = n_events(engine)
    answers: list = []
    assert at_once(*[lambda: answers.append(sync(world, "a", batch))] * 3) == []
    assert n_events(engine) == before + 12
    for seq in range(12):  # every copy was told the same event
        assert len({a[seq]["event"] for a in answers}) == 1
    assert sum(not a[s]["duplicate"] for a in answers for s in range(12)) == 12
    # the three threads share one registry (one context), each with its own transaction: each
    # batch's audit entries went with it, none straight to a lane another batch had locked
    assert world["admin"].audit_verify().ok


def test_a_context_shared_by_threads_gathers_each_connections_entries_apart(world, monkeypatch):
    """Two batches under one context (threads sharing a registry), the second begun while the
    first is open: each one's audit entries are gathered for its own connection and appended at
    its own end, none straight away (a straight append could take the lane the first batch
    locked with its look-ups, ahead of it)."""
    from evacops.registry.store import audit as audit_log

    admin = world["admin"]
    ctx = admin.ctx
    calls: list = []

    def append_many(conn, *, key, entries, lane=None, also=None):
        calls.append((conn, [e.subject for e in entries]))
        return ""

    monkeypatch.setattr(audit_log, "append_many", append_many)
    with admin.engine.connect() as c1, admin.engine.connect() as c2:
        with ctx.audit_together(c1):
            with ctx.audit_together(c2):  # another thread's batch, begun meanwhile
                ctx.audit(c1, "probe", OPERATION, "one")
                ctx.audit(c2, "probe", OPERATION, "two")
            ctx.audit(c1, "probe", OPERATION, "three")
        ctx.audit(c1, "probe", OPERATION, "four")  # no batch open on c1: appended at once
    assert calls == [(c2, ["two"]), (c1, ["one", "three"]), (c1, ["four"])]


def test_one_seq_twice_in_a_batch_is_one_scan(world):
    """A batch is one transaction with its device_scans rows written together at its end: a seq
    sent twice in it is caught there, and the batch recorded again one scan at a time."""
    engine, ids, pay = world["admin"].engine, world["ids"], world["payload"]
    at = (utcnow() - timedelta(minutes=5)).isoformat()
    batch = [{"seq": i + 1, "payload": pay[p], "action": "gate-in", "at": at}
             for i, p in enumerate(ids[:3])]  # fmt: skip
    before = n_events(engine)
    answers = sync(world, "a", [*batch, batch[1]])
    assert [a["outcome"] for a in answers] == ["recorded"] * 4
    assert [a["duplicate"] for a in answers] == [False, False, False, True]
    assert answers[3]["event"] == answers[1]["event"]
    assert n_events(engine) == before + 3
    assert world["admin"].audit_verify().ok
    projection_ok(engine)


def test_a_batch_of_nothing_but_bad_payloads_is_kept_for_its_retry(world):
    """No credential found, so no audit lane read with the look-ups and no audit entry: the
    batch's device_scans rows are written on their own, and a retry is told the same."""
    engine = world["admin"].engine
    at = (utcnow() - timedelta(minutes=5)).isoformat()
    bad = [{"seq": 1, "payload": "EVC1:NOT-A-CREDENTIAL", "action": "gate-in", "at": at},
           {"seq": 2, "payload": "hello", "action": "gate-in", "at": at}]  # fmt: skip
    before = n_events(engine)
    first = sync(world, "a", bad)
    assert [a["outcome"] for a in first] == ["invalid", "invalid"]
    again = sync(world, "a", bad)
    assert [a["duplicate"] for a in again] == [True, True]
    assert [a["outcome"] for a in again] == ["invalid", "invalid"]
    assert n_events(engine) == before
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(device_scans)).scalar_one() == 2
    assert world["admin"].audit_verify().ok


def test_batches_of_several_devices_at_once_keep_the_audit_chain_whole(world):
    """Devices syncing at the same moment: each batch takes an audit lane with its look-ups and
    writes its device_scans rows with its audit entries; every scan is kept once, with its
    event, and the audit chain verifies."""
    engine, ids, pay = world["admin"].engine, world["ids"], world["payload"]
    at = utcnow() - timedelta(minutes=5)
    mine = {"a": ids[:10], "b": ids[10:20]}
    before = n_events(engine)

    def device(name):
        for k in range(0, 10, 2):  # five batches of two
            batch = [{"seq": k + j + 1, "payload": pay[p], "action": "gate-in",
                      "at": (at + timedelta(seconds=k + j)).isoformat()}
                     for j, p in enumerate(mine[name][k : k + 2])]  # fmt: skip
            assert [a["outcome"] for a in sync(world, name, batch)] == ["recorded"] * 2

    assert at_once(lambda: device("a"), lambda: device("b")) == []
    assert n_events(engine) == before + 20
    with engine.connect() as conn:
        kept = conn.execute(
            select(device_scans.c.event_seq).where(device_scans.c.event_seq.is_not(None))
        ).scalars()  # fmt: skip
        assert len(set(kept)) == 20
    assert world["admin"].audit_verify().ok
    projection_ok(engine)


def test_a_batch_partly_synced_before_replays_those_and_records_the_rest(world, monkeypatch):
    """A batch is first recorded on the hope that none of it was synced before; one that was
    (the outbox sent again after a lost answer, with scans made since) is recorded again with
    the answers kept: the old ones replayed, the new ones recorded once, nothing kept from the
    first try. The credentials the server issued are recognised without a verification."""
    engine, ids, pay = world["admin"].engine, world["ids"], world["payload"]
    at = (utcnow() - timedelta(minutes=5)).isoformat()
    scans = [{"seq": i + 1, "payload": pay[p], "action": "gate-in", "at": at}
             for i, p in enumerate(ids[:8])]  # fmt: skip
    calls: list = []
    real = creds._verifier
    monkeypatch.setattr(creds, "_verifier", lambda pub: calls.append(pub) or real(pub))
    first = sync(world, "a", scans[:3])
    before, kept_before = n_events(engine), _kept(engine)
    again = sync(world, "a", [scans[5], scans[1], *scans[3:5], scans[0], scans[2], *scans[6:]])
    assert [a["seq"] for a in again] == [6, 2, 4, 5, 1, 3, 7, 8]
    assert [a["duplicate"] for a in again] == [False, True, False, False, True, True, False, False]
    old = {a["seq"]: a["event"] for a in first}
    assert {a["seq"]: a["event"] for a in again if a["duplicate"]} == old
    assert all(a["outcome"] == "recorded" for a in again)
    assert n_events(engine) == before + 5 and _kept(engine) == kept_before + 5
    assert calls == []  # signed again and compared: no Ed25519 verification
    forged = encode(decode_unverified(pay[ids[9]]).credential_id, OPERATION,
                    decode_unverified(pay[ids[9]]).expires_at, new_signing_key()[0])  # fmt: skip
    [bad] = sync(world, "a", [{"seq": 20, "payload": forged, "action": "gate-in", "at": at}])
    assert bad["outcome"] == "invalid" and bad["problem"] == "signature" and len(calls) == 1
    assert world["admin"].audit_verify().ok
    projection_ok(engine)


def _kept(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(device_scans)).scalar_one()


def test_a_batch_answers_as_its_scans_sent_one_at_a_time(world):
    """A batch is one transaction: each of its scans sees what the earlier ones did to the
    person (also through another credential of theirs), so the batch gives the answers and the
    log its scans give sent one per request."""
    engine, ids, pay = world["admin"].engine, world["ids"], world["payload"]
    at = (utcnow() - timedelta(minutes=5)).isoformat()
    # each one's outcome depends on what the ones before it did
    ACTIONS = ("gate-in", "found", "missing", "found", "departed-independently", "roll-call")

    def scans(p, first):
        return [{"seq": first + i, "payload": pay[p], "action": a, "at": at}
                for i, a in enumerate(ACTIONS)]  # fmt: skip

    one_by_one = [sync(world, "a", [s])[0] for s in scans(ids[0], 1)]
    batch = sync(world, "a", [*scans(ids[1], 10), *scans(ids[2], 20)])

    def shape(answers):
        return [(a["outcome"], a.get("conflict"), a.get("code")) for a in answers]

    assert shape(batch) == shape(one_by_one) * 2
    assert [a["outcome"] for a in one_by_one] == [
        "recorded", "conflict", "recorded", "recorded", "recorded", "conflict"
    ]  # fmt: skip
    with engine.connect() as conn:
        kinds = {p: conn.execute(select(events.c.type).where(events.c.person_id == p)
                                 .order_by(events.c.seq)).scalars().all()
                 for p in ids[:3]}  # fmt: skip
    assert kinds[ids[1]] == kinds[ids[0]] == kinds[ids[2]]
    # a person with a second credential: a scan of either one sees what the other's did
    old = pay[ids[3]]
    [new] = [c["payload"] for c in world["admin"].issue_credentials(OPERATION, [ids[3]])]
    assert new != old
    both = [{"seq": 30 + i, "payload": p, "action": a, "at": at}
            for i, (p, a) in enumerate(((new, "gate-in"), (new, "missing"), (old, "found"),
                                        (old, "found")))]  # fmt: skip
    assert [a["outcome"] for a in sync(world, "a", both)] == [
        "recorded", "recorded", "recorded", "conflict"
    ]  # fmt: skip
    assert world["admin"].audit_verify().ok
    projection_ok(engine)


def test_one_credential_at_two_gates_is_recorded_twice_and_queued(world):
    admin, ids, pay = world["admin"], world["ids"], world["payload"]
    at = utcnow() - timedelta(minutes=20)
    [a] = sync(world, "a", [{"seq": 1, "payload": pay[ids[0]], "action": "gate-in",
                             "at": at.isoformat()}])  # fmt: skip
    [b] = sync(world, "b", [{"seq": 1, "payload": pay[ids[0]], "action": "gate-in",
                             "at": (at + timedelta(minutes=2)).isoformat()}])  # fmt: skip
    assert a["outcome"] == "recorded" and b["outcome"] == "conflict"
    assert b["conflict"] == "two-gates" and b["event"] > a["event"]
    [c] = admin.conflicts(OPERATION)
    assert (c["kind"], c["person_id"], c["events"]) == ("two-gates", ids[0], [b["event"]])
    assert c["detail"]["sites"] == ["Gate A", "Gate B"]
    # a gate device cannot read the queue; the ramp role resolves it, the reason sealed
    with pytest.raises(AccessDenied):
        world["devs"]["a"][1].conflicts(OPERATION)
    admin.resolve_conflict(OPERATION, c["id"], "confirmed", "seen at both gates, same person")
    assert admin.conflicts(OPERATION) == []
    [done] = admin.conflicts(OPERATION, status="resolved")
    assert done["resolution"] == "confirmed" and done["resolved_by"] == "admin"
    with admin.engine.connect() as conn:
        sealed = conn.execute(select(scan_conflicts.c.reason_enc)).scalar_one()
    assert b"both gates" not in sealed
    with pytest.raises(Exception, match="resolved already"):
        admin.resolve_conflict(OPERATION, c["id"], "dismissed", "again")


def test_a_pass_revoked_while_the_device_list_was_stale(world):
    admin, ids, pay = world["admin"], world["ids"], world["payload"]
    revoked_at = utcnow()
    for p in ids[:2]:
        admin.revoke(OPERATION, decode_unverified(pay[p]).credential_id, reason="lost")
    before = revoked_at - timedelta(minutes=10)  # scanned before the revocation: no conflict
    after = revoked_at + timedelta(minutes=10)  # after: the device's list was stale
    answers = sync(world, "a", [
        {"seq": 1, "payload": pay[ids[0]], "action": "gate-in", "at": before.isoformat()},
        {"seq": 2, "payload": pay[ids[1]], "action": "gate-in", "at": after.isoformat()},
        {"seq": 3, "payload": "EVC1:not-a-credential", "action": "gate-in",
         "at": after.isoformat()},
    ])  # fmt: skip
    # revoked now, but not when it was scanned: recorded, no conflict
    assert [a["outcome"] for a in answers] == ["recorded", "conflict", "invalid"]
    assert answers[1]["conflict"] == "revoked-while-stale"
    assert "event" not in answers[2]
    with admin.engine.connect() as conn:
        P = persons.c
        status = dict(conn.execute(select(P.id, P.status).where(P.id.in_(ids[:2]))).all())
    assert status == {ids[0]: "checked-in", ids[1]: "checked-in"}  # what happened is recorded
    [c] = admin.conflicts(OPERATION)
    assert (c["kind"], c["person_id"]) == ("revoked-while-stale", ids[1])
    projection_ok(admin.engine)


def test_over_seats_the_earlier_scan_wins_the_seat(world):
    admin, pay = world["admin"], world["payload"]
    p1, p2, p3, p4 = world["adults"][:4]
    admin.add_flight(OPERATION, "F9", origin="HKIA", destination="Al Udeid", seats=2)
    t = utcnow() - timedelta(hours=1)
    checkin = [{"seq": i + 1, "payload": pay[p], "action": "gate-in", "at": t.isoformat()}
               for i, p in enumerate((p1, p2, p3, p4))]  # fmt: skip
    assert {a["outcome"] for a in sync(world, "a", checkin)} == {"recorded"}

    def board(seq, p, minutes):
        return {"seq": seq, "payload": pay[p], "action": "board", "flight": "F9",
                "at": (t + timedelta(minutes=minutes)).isoformat()}  # fmt: skip

    # ramp 1 boards p1 (10 min) and p2 (20 min); nobody is on a manifest (refused online)
    r1 = sync(world, "ramp", [board(1, p1, 10), board(2, p2, 20)])
    assert [a["conflict"] for a in r1] == ["refused-online", "refused-online"]
    # ramp 2 was offline: it boarded p3 at 15 min, before p2; it syncs last
    [r3] = sync(world, "ramp2", [board(1, p3, 15)])
    assert r3["outcome"] == "conflict" and r3["conflict"] == "over-seats"
    # and p4 at 30 min, after everyone: p4 loses
    [r4] = sync(world, "ramp2", [board(2, p4, 30)])
    assert r4["conflict"] == "over-seats"
    over = [c for c in admin.conflicts(OPERATION) if c["kind"] == "over-seats"]
    by_event = {c["events"][0] if len(c["events"]) == 1 else None: c for c in over}
    c3 = next(c for c in over if r3["event"] in c["events"])
    c4 = next(c for c in over if r4["event"] in c["events"])
    assert c3["detail"]["winner_event"] == r3["event"]  # the earlier scan wins the seat
    assert c3["detail"]["loser_event"] == r1[1]["event"]  # p2, boarded at 20 min
    assert c3["detail"]["seat_moves"] is True
    assert c4["detail"]["loser_event"] == r4["event"] and c4["detail"]["seat_moves"] is False
    assert c3["events"] == sorted(c3["events"]) and by_event is not None
    with admin.engine.connect() as conn:
        fid = conn.execute(select(flights_t.c.id).where(flights_t.c.code == "F9")).scalar_one()
        claims = conn.execute(select(func.count()).select_from(seat_claims)
                              .where(seat_claims.c.flight_id == fid)).scalar_one()  # fmt: skip
        boarded = conn.execute(select(func.count()).select_from(persons)
                               .where(persons.c.flight_id == fid)).scalar_one()  # fmt: skip
    assert claims == 2 and boarded == 4  # every boarding recorded; no seat given twice
    assert admin.reconcile(OPERATION, "F9")["boarded"] == 2
    projection_ok(admin.engine)


def test_a_device_syncs_only_its_own_outbox_and_a_revoked_device_is_refused(world):
    admin, accounts = world["admin"], world["accounts"]
    dev_a, reg_a = world["devs"]["a"]
    dev_b, _ = world["devs"]["b"]
    with pytest.raises(AccessDenied, match=f"only device {dev_b}"):
        reg_a.sync_scans(OPERATION, dev_b, [])
    device_id, token = admin.enrol_device(OPERATION, "Gate C", "gate", "spare")
    assert accounts.device_actor(token).device == device_id
    admin.revoke_device(OPERATION, device_id)
    with pytest.raises(AccessDenied, match="revoked"):
        accounts.device_actor(token)
    # an admin may sync an outbox exported from a device (e.g. a revoked one's last scans)
    pay, ids = world["payload"], world["ids"]
    [a] = admin.sync_scans(OPERATION, device_id, [
        {"seq": 1, "payload": pay[ids[0]], "action": "gate-in", "at": utcnow().isoformat()}
    ])  # fmt: skip
    assert a["outcome"] == "recorded"
    bad = reg_a.sync_scans(
        OPERATION, dev_a, [{"seq": 0}, {"seq": 1, "payload": "x", "action": "fly", "at": "now"}]
    )
    assert [b["outcome"] for b in bad] == ["refused", "refused"]
    assert "seq" in bad[0]["problem"] and "action" in bad[1]["problem"]
