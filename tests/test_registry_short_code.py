"""The short code typed in at a gate: resolved within the operation (one live credential, or
"ask for the full code or scan" when several share it, never whom), role-checked, rate limited
and audited; the online scan API's ``code`` field; a code typed offline resolved at sync (an
ambiguous one kept in the conflict queue). SQLite, and PostgreSQL when
EVACOPS_TEST_DATABASE_URL is set. Generated people only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import OPERATION
from sqlalchemy import func, select
from test_web_support import World

from evacops.errors import AccessDenied, CredentialError, RateLimited
from evacops.registry import credentials as creds
from evacops.registry.accounts import Accounts
from evacops.registry.files import read_records
from evacops.registry.generate import registrations_rows
from evacops.registry.services import credentials as cred_service
from evacops.registry.store import crypto
from evacops.registry.store.tables import audit, events, scan_conflicts, utcnow

SHARED = "K7Q2MX"  # the tail two generated credentials are made to share
OP = f"/api/v1/operations/{OPERATION}"


@pytest.fixture(autouse=True)
def fresh_limiter():
    """The lookup limiter is per server process: each test starts with none used."""
    cred_service._limiter.seen.clear()
    yield
    cred_service._limiter.seen.clear()


def issue_sharing(admin, person_ids, monkeypatch, tail=SHARED):
    """Issue credentials to ``person_ids`` whose ids all end in ``tail`` (a short-code clash,
    which happens by chance about once in 10,000 credentials)."""
    original = creds.new_credential_id
    keep = creds.ID_CHARS - len(tail)
    monkeypatch.setattr(creds, "new_credential_id", lambda: original()[:keep] + tail)
    try:
        return admin.issue_credentials(OPERATION, person_ids)
    finally:
        monkeypatch.setattr(creds, "new_credential_id", original)


@pytest.fixture
def people(registry_env, admin):
    rows = registrations_rows(10, 17, 0.0)
    ids = admin.register(OPERATION, read_records(rows, source="t"), source="t").person_ids
    issued = {c["person_id"]: c for c in admin.issue_credentials(OPERATION)}
    return ids, issued


def lookups(engine, kind="short-code-lookup"):
    with engine.connect() as conn:
        return [
            (r.actor, r.subject, r.detail)
            for r in conn.execute(
                select(audit.c.actor, audit.c.subject, audit.c.detail)
                .where(audit.c.action == kind)
                .order_by(audit.c.seq)
            )
        ]


def n_events(engine):
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(events)).scalar_one()


def test_a_gate_resolves_a_typed_code_to_the_credential_however_it_is_typed(
    registry_env, admin, people
):
    ids, issued = people
    gate = registry_env.as_role("gate")
    c = issued[ids[3]]
    typed = c["code"].replace("-", " ").lower().replace("0", "o").replace("1", "l")
    got = gate.resolve_short_code(OPERATION, typed)
    assert got["credential_id"] == c["credential_id"]
    assert got["payload"] == c["payload"]  # Ed25519 is deterministic: the printed QR's text
    [(actor, subject, detail)] = lookups(admin.engine)
    assert (actor, subject, detail) == ("gate", ids[3], {"code": c["code"], "outcome": "one"})


def test_scan_by_short_code_is_the_same_scan_as_the_qr_codes(registry_env, admin, people):
    ids, issued = people
    gate = registry_env.as_role("gate")
    before = n_events(admin.engine)
    a = gate.scan_short_code(OPERATION, issued[ids[0]]["code"], "gate-in", site="Gate A")
    assert a["person_id"] == ids[0] and a["duplicate"] is False
    assert admin.person(OPERATION, ids[0])["status"] == "checked-in"
    # the QR code of the same credential that day is the same scan, not a second event
    b = gate.scan(OPERATION, issued[ids[0]]["payload"], "gate-in", site="Gate A")
    assert b["duplicate"] is True and b["event"] == a["event"]
    assert n_events(admin.engine) == before + 1


def test_a_shared_code_asks_for_the_full_code_and_never_says_whom(
    registry_env, admin, people, monkeypatch
):
    ids, _ = people
    two = issue_sharing(admin, ids[:2], monkeypatch)
    assert {c["code"] for c in two} == {"K7Q-2MX"}
    gate = registry_env.as_role("gate")
    before = n_events(admin.engine)
    with pytest.raises(CredentialError) as err:
        gate.scan_short_code(OPERATION, "k7q-2mx", "gate-in", site="Gate A")
    message = str(err.value)
    assert "ask for the full code or scan" in message
    assert not any(x in message for x in ids[:2] + [c["credential_id"] for c in two])
    assert n_events(admin.engine) == before
    assert lookups(admin.engine)[-1][1:] == ("-", {"code": "K7Q-2MX", "outcome": "ambiguous"})
    # one of the two revoked: the code is the other's again
    admin.revoke(OPERATION, two[0]["credential_id"], reason="lost")
    assert gate.resolve_short_code(OPERATION, "K7Q2MX")["credential_id"] == two[1]["credential_id"]


def test_unknown_malformed_and_revoked_codes(registry_env, admin, people):
    ids, issued = people
    gate = registry_env.as_role("gate")
    taken = {c["code"] for c in issued.values()}
    unknown = next(f"ZZZ-{i:03d}" for i in range(1000) if f"ZZZ-{i:03d}" not in taken)
    with pytest.raises(CredentialError, match="no credential of this operation"):
        gate.resolve_short_code(OPERATION, unknown)
    with pytest.raises(CredentialError, match="type it as printed"):
        gate.resolve_short_code(OPERATION, "UUU-123")  # U is not in the alphabet
    c = issued[ids[5]]
    admin.revoke(OPERATION, c["credential_id"], reason="lost")
    with pytest.raises(CredentialError, match="revoked"):  # the scan says why: not "unknown"
        gate.scan_short_code(OPERATION, c["code"], "gate-in", site="Gate A")


def test_roles_without_scan_may_not_look_codes_up(registry_env, people):
    ids, issued = people
    for role in ("planner", "reporter"):
        with pytest.raises(AccessDenied):
            registry_env.as_role(role).resolve_short_code(OPERATION, issued[ids[0]]["code"])


def test_lookups_are_rate_limited_per_user_and_the_refusals_audited(
    registry_env, admin, people, monkeypatch
):
    ids, issued = people
    monkeypatch.setattr(cred_service, "SHORT_CODE_LOOKUPS_PER_MIN", 3)
    gate = registry_env.as_role("gate")
    for pid in ids[:3]:
        gate.resolve_short_code(OPERATION, issued[pid]["code"])
    with pytest.raises(RateLimited, match="scan the QR code or wait"):
        gate.resolve_short_code(OPERATION, issued[ids[3]]["code"])
    assert [d["outcome"] for _, _, d in lookups(admin.engine)] == ["one"] * 3 + ["limited"]
    # another user has their own allowance
    assert registry_env.as_role("manifest").resolve_short_code(OPERATION, issued[ids[3]]["code"])


# ------------------------------------------------------------------------------- offline sync
@pytest.fixture
def device(registry_env, admin):
    accounts = Accounts(admin.engine, crypto.load_master_key(registry_env.key_file),
                        registry_env.settings)  # fmt: skip
    device_id, token = admin.enrol_device(OPERATION, "Gate B", "gate", "tablet")
    return device_id, accounts.registry(accounts.device_actor(token))


def test_codes_typed_offline_resolve_at_sync_and_an_ambiguous_one_is_queued(
    admin, people, device, monkeypatch
):
    ids, issued = people
    two = issue_sharing(admin, ids[:2], monkeypatch)
    device_id, reg = device
    at = (utcnow() - timedelta(minutes=20)).isoformat()
    taken = {c["code"] for c in issued.values()} | {"K7Q-2MX"}
    unknown = next(f"ZZZ-{i:03d}" for i in range(1000) if f"ZZZ-{i:03d}" not in taken)
    batch = [
        {"seq": 1, "code": issued[ids[4]]["code"].lower(), "action": "gate-in", "at": at},
        {"seq": 2, "code": "K7Q 2MX", "action": "gate-in", "at": at},
        {"seq": 3, "code": unknown, "action": "gate-in", "at": at},
        {"seq": 4, "code": "not a code", "action": "gate-in", "at": at},
    ]
    before = n_events(admin.engine)
    answers = reg.sync_scans(OPERATION, device_id, batch)
    assert [a["outcome"] for a in answers] == ["recorded", "conflict", "invalid", "refused"]
    assert answers[0]["person_id"] == ids[4]
    assert answers[1]["conflict"] == "ambiguous-code" and "person_id" not in answers[1]
    assert n_events(admin.engine) == before + 1  # only the resolved code made an event
    assert admin.person(OPERATION, ids[4])["site"] == "Gate B"
    [conflict] = [k for k in admin.conflicts(OPERATION) if k["kind"] == "ambiguous-code"]
    assert conflict["person_id"] is None and conflict["events"] == []
    assert sorted(conflict["detail"]["candidates"]) == sorted(c["person_id"] for c in two)
    # a retry is harmless: the same answers, no new event, no second conflict
    again = reg.sync_scans(OPERATION, device_id, batch[:3])
    assert [a["duplicate"] for a in again] == [True] * 3
    assert n_events(admin.engine) == before + 1
    with admin.engine.connect() as conn:
        kinds = conn.execute(select(scan_conflicts.c.kind)).scalars().all()
    assert kinds.count("ambiguous-code") == 1
    audited = [d["outcome"] for _, _, d in lookups(admin.engine, "short-code-sync")]
    assert audited == ["one", "ambiguous", "none"]


def test_a_code_typed_offline_before_its_revocation_is_that_credential(
    admin, people, device, monkeypatch
):
    """Resolved at the scan's device time: a credential revoked after the scan was the live
    one then (and its scan is recorded, no conflict); one revoked before is a stale-list
    conflict."""
    ids, issued = people
    device_id, reg = device
    c = issued[ids[6]]
    admin.revoke(OPERATION, c["credential_id"], reason="lost")
    early = (utcnow() - timedelta(hours=1)).isoformat()
    late = utcnow().isoformat()
    a, b = reg.sync_scans(OPERATION, device_id, [
        {"seq": 1, "code": c["code"], "action": "gate-in", "at": early},
        {"seq": 2, "code": c["code"], "action": "roll-call", "at": late},
    ])  # fmt: skip
    assert a["outcome"] == "recorded" and a["person_id"] == ids[6]
    assert b["outcome"] == "conflict" and b["conflict"] == "revoked-while-stale"


# ------------------------------------------------------------------------------------- the API
@pytest.fixture
def world(registry_env, admin) -> World:
    return World(registry_env, admin)


def test_api_scan_takes_code_in_place_of_payload(world: World, monkeypatch):
    c = world.client()
    pid = world.ids[2]
    code = world.admin.person(OPERATION, pid)["credential"]  # the printed short code
    r = c.post(f"{OP}/scans", headers=world.auth("gate"),
               json={"code": code.lower(), "action": "gate-in", "site": "Gate A"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["let_in"] is True and r.json()["initials"]
    both = c.post(f"{OP}/scans", headers=world.auth("gate"),
                  json={"code": code, "payload": world.payload[pid]})  # fmt: skip
    assert both.status_code == 422 and "either payload" in both.json()["detail"]
    neither = c.post(f"{OP}/scans", headers=world.auth("gate"), json={"action": "gate-in"})
    assert neither.status_code == 422
    monkeypatch.setattr(cred_service, "SHORT_CODE_LOOKUPS_PER_MIN", 1)
    limited = c.post(f"{OP}/scans", headers=world.auth("gate"), json={"code": code})
    assert limited.status_code == 429
    assert limited.headers["content-type"] == "application/problem+json"
    assert "wait" in limited.json()["detail"]


def test_api_ambiguous_code_is_a_409_that_names_nobody(world: World, monkeypatch):
    two = issue_sharing(world.admin, world.ids[:2], monkeypatch)
    r = world.client().post(f"{OP}/scans", headers=world.auth("gate"),
                            json={"code": "K7Q-2MX", "site": "Gate A"})  # fmt: skip
    assert r.status_code == 409
    assert "ask for the full code or scan" in r.json()["detail"]
    for x in world.ids[:2] + [c["credential_id"] for c in two]:
        assert x not in r.text
