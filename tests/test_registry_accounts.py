"""Accounts, sessions, roles per operation and device tokens (SQLite, and PostgreSQL when
EVACOPS_TEST_DATABASE_URL is set). Generated people only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import CATEGORIES, OPERATION, PASSWORD, SITES
from sqlalchemy import select

from evacops.errors import AccessDenied, RegistryError
from evacops.registry.accounts import Accounts
from evacops.registry.files import read_records
from evacops.registry.generate import registrations_rows
from evacops.registry.services import accounts as acc
from evacops.registry.store import crypto
from evacops.registry.store.tables import audit, login_attempts, web_sessions

T0 = datetime(2026, 8, 20, 6, 0, tzinfo=UTC)


@pytest.fixture
def accounts(registry_env, admin):
    admin.add_user("ramp1", "manifest", PASSWORD)
    return Accounts(admin.engine, crypto.load_master_key(registry_env.key_file),
                    registry_env.settings)  # fmt: skip


def _audit(engine, action):
    with engine.connect() as conn:
        return conn.execute(select(audit).where(audit.c.action == action)).mappings().all()


# ---------------------------------------------------------------------------------- log-in
def test_login_gives_the_user_with_their_roles_per_operation(accounts):
    actor = accounts.login("ramp1", PASSWORD, now=T0)
    assert actor.name == "ramp1" and actor.roles == {OPERATION: "manifest"}
    assert actor.role_in(OPERATION) == "manifest" and actor.role_in("other-op") is None
    assert accounts.login("admin", PASSWORD, now=T0).admin
    ok = _audit(accounts.engine, "login")
    assert [e["subject"] for e in ok] == ["ramp1", "admin"]


def test_lockout_after_five_failures_in_the_window_and_it_ends(accounts):
    for i in range(5):
        with pytest.raises(AccessDenied, match="unknown user or wrong password"):
            accounts.login("ramp1", "wrong-password", now=T0 + timedelta(minutes=i))
    # locked now: even the right password is refused, without checking it
    with pytest.raises(AccessDenied, match="too many failed log-ins"):
        accounts.login("ramp1", PASSWORD, now=T0 + timedelta(minutes=5))
    # the lock lasts 15 minutes from the last failure
    with pytest.raises(AccessDenied, match="too many failed log-ins"):
        accounts.login("ramp1", PASSWORD, now=T0 + timedelta(minutes=18))
    assert accounts.login("ramp1", PASSWORD, now=T0 + timedelta(minutes=19, seconds=1))
    # failures outside the window do not add up
    for i in range(4):
        with pytest.raises(AccessDenied):
            accounts.login("ramp1", "nope-nope", now=T0 + timedelta(hours=1, minutes=i * 5))
    assert accounts.login("ramp1", PASSWORD, now=T0 + timedelta(hours=1, minutes=16))
    failed = _audit(accounts.engine, "login-failed")
    locked = _audit(accounts.engine, "login-locked-out")
    assert len(failed) == 9 and len(locked) == 2
    assert [e["detail"]["locked"] for e in failed[:5]] == [False] * 4 + [True]
    # neither the name nor the password is in the audit log or the attempts table
    mac = acc.name_mac(accounts.master, "ramp1")
    assert {e["subject"] for e in failed} == {"name-mac:" + mac[:32]}
    assert all("ramp1" not in str(dict(e)) and "wrong" not in str(dict(e)) for e in failed)
    with accounts.engine.connect() as conn:
        macs = set(conn.execute(select(login_attempts.c.name_mac)).scalars())
    assert "ramp1" not in macs and mac in macs


def test_unknown_user_does_the_same_argon2_work_and_gets_the_same_answer(accounts, monkeypatch):
    seen = []
    real = acc.check_password

    def spy(stored, password):
        seen.append(stored)
        return real(stored, password)

    monkeypatch.setattr(acc, "check_password", spy)
    with pytest.raises(AccessDenied) as unknown:
        accounts.login("nobody-here", PASSWORD, now=T0)
    with pytest.raises(AccessDenied) as wrong:
        accounts.login("ramp1", "wrong-password", now=T0)
    assert str(unknown.value) == str(wrong.value)
    assert seen[0] == acc.dummy_hash() and seen[1] != acc.dummy_hash()
    assert seen[0].startswith("$argon2id$") and seen[1].startswith("$argon2id$")
    # the same cost: memory, passes and lanes (whatever they are here: tests/conftest.py)
    assert seen[0].split("$")[3] == seen[1].split("$")[3]
    # an unknown name is locked out like a known one (the lock says nothing about existence)
    for i in range(4):
        with pytest.raises(AccessDenied):
            accounts.login("nobody-here", "x" * 10, now=T0 + timedelta(seconds=i + 1))
    with pytest.raises(AccessDenied, match="too many"):
        accounts.login("nobody-here", PASSWORD, now=T0 + timedelta(seconds=10))


# ---------------------------------------------------------------------------------- sessions
def test_session_start_expiry_idle_and_end(accounts):
    actor = accounts.login("ramp1", PASSWORD, now=T0)
    token, csrf = accounts.start_session(actor, now=T0)
    again, _ = accounts.start_session(actor, now=T0)
    assert token != again  # a new token at every log-in: no session fixation
    assert accounts.session_actor(token, now=T0 + timedelta(minutes=30)).name == "ramp1"
    # idle: 60 minutes without use ends it (the use at +30 min moved last_seen)
    assert accounts.session_actor(token, now=T0 + timedelta(minutes=89)) is not None
    assert accounts.session_actor(token, now=T0 + timedelta(minutes=150)) is None
    # absolute expiry after 12 hours even when used
    live, _ = accounts.start_session(actor, now=T0)
    for m in range(45, 12 * 60, 45):  # used every 45 minutes
        assert accounts.session_actor(live, now=T0 + timedelta(minutes=m)) is not None
    assert accounts.session_actor(live, now=T0 + timedelta(hours=12)) is None
    # log-out
    assert accounts.end_session(again, now=T0 + timedelta(minutes=1))
    assert accounts.session_actor(again, now=T0 + timedelta(minutes=2)) is None
    assert not accounts.end_session(again)
    assert accounts.session_actor("not-a-token") is None
    # only hashes are stored
    with accounts.engine.connect() as conn:
        rows = conn.execute(select(web_sessions)).mappings().all()
    stored = {v for r in rows for v in r.values() if isinstance(v, str)}
    assert token not in stored and csrf not in stored


def test_a_session_with_a_chosen_lifetime_lasts_it_used_or_not_within_the_cap(accounts):
    """An API client's token (``evacops login --ttl``): no idle end, its own lifetime, at most
    ``token_max_hours`` (12 by default); audited with the lifetime."""
    actor = accounts.login("ramp1", PASSWORD, now=T0)
    shift, _ = accounts.start_session(actor, now=T0, ttl_min=8 * 60)
    # unused for 7 hours (a page session ends after 60 minutes unused): still live
    assert accounts.session_actor(shift, now=T0 + timedelta(hours=7)).name == "ramp1"
    assert accounts.session_actor(shift, now=T0 + timedelta(hours=8)) is None
    expires, idle = accounts.session_expiry(shift)
    assert expires == T0 + timedelta(hours=8) and idle == 8 * 60
    short, _ = accounts.start_session(actor, now=T0, ttl_min=30)
    assert accounts.session_actor(short, now=T0 + timedelta(minutes=29)) is not None
    assert accounts.session_actor(short, now=T0 + timedelta(minutes=30)) is None  # used or not
    for too_long in (12 * 60 + 1, 0):
        with pytest.raises(RegistryError) as refused:
            accounts.start_session(actor, now=T0, ttl_min=too_long)
        assert refused.value.field == "ttl_min" and "720 minutes" in str(refused.value)
    started = [e["detail"] for e in _audit(accounts.engine, "session-started")]
    assert [d.get("ttl_min") for d in started[-2:]] == [480, 30]
    # a page session is unchanged: it ends after the server's idle minutes
    page, _ = accounts.start_session(actor, now=T0)
    assert accounts.session_expiry(page)[1] == 60
    assert accounts.session_actor(page, now=T0 + timedelta(minutes=61)) is None


def test_csrf_token_belongs_to_its_session(accounts):
    actor = accounts.login("ramp1", PASSWORD, now=T0)
    token, csrf = accounts.start_session(actor, now=T0)
    other, other_csrf = accounts.start_session(actor, now=T0)
    now = T0 + timedelta(minutes=1)
    assert accounts.check_csrf(token, csrf, now=now)
    assert not accounts.check_csrf(token, other_csrf, now=now)
    assert not accounts.check_csrf(token, "", now=now)
    assert not accounts.check_csrf(token, None, now=now)
    assert not accounts.check_csrf(token, csrf[:-1] + ("A" if csrf[-1] != "A" else "B"), now=now)
    accounts.end_session(token, now=now)
    assert not accounts.check_csrf(token, csrf, now=now)
    assert accounts.check_csrf(other, other_csrf, now=now)


def test_role_change_reaches_a_live_session(accounts, admin):
    token, _ = accounts.start_session(accounts.login("ramp1", PASSWORD, now=T0), now=T0)
    assert accounts.session_actor(token, now=T0).role_in(OPERATION) == "manifest"
    admin.grant(OPERATION, "ramp1", "gate")
    assert accounts.session_actor(token, now=T0).role_in(OPERATION) == "gate"
    assert admin.revoke_role(OPERATION, "ramp1")
    actor = accounts.session_actor(token, now=T0)
    assert actor.role_in(OPERATION) is None
    with pytest.raises(AccessDenied, match="no role in operation test-op"):
        accounts.registry(actor).report(OPERATION)


# ---------------------------------------------------------------------------------- roles
def test_a_user_of_one_operation_cannot_read_another(registry_env, admin, accounts):
    reporter = registry_env.as_role("reporter")  # made while test-op is the only operation
    admin.create_operation("other-op", categories=CATEGORIES, sites_=SITES, origin_site="HKIA")
    admin.add_user("reg-b", "registrar", PASSWORD, operations=["other-op"])
    rows = registrations_rows(5, 3, 0.0)
    a = accounts.registry(accounts.login("ramp1", PASSWORD))  # manifest in test-op only
    b = accounts.registry(accounts.login("reg-b", PASSWORD))  # registrar in other-op only
    pid_b = b.register("other-op", read_records(rows, source="t"), source="t").person_ids[0]
    assert a.report(OPERATION)["registered"] == 0
    for call in (
        lambda: a.report("other-op"),
        lambda: a.person("other-op", pid_b),
        lambda: a.manifest("other-op", "F1"),
        lambda: a.counts_frame("other-op"),
    ):
        with pytest.raises(AccessDenied, match="no role in operation other-op"):
            call()
    with pytest.raises(AccessDenied, match="no role in operation test-op"):
        b.report(OPERATION)
    assert [o["id"] for o in a.operations()] == [OPERATION]
    assert [o["id"] for o in b.operations()] == ["other-op"]
    assert {o["id"] for o in admin.operations()} == {OPERATION, "other-op"}
    # a user made before an operation exists does not get it: granted explicitly
    assert reporter.report(OPERATION)["registered"] == 0
    with pytest.raises(AccessDenied, match="no role in operation other-op"):
        registry_env.as_role("reporter", fresh=True).report("other-op")
    admin.grant("other-op", "ramp1", "reporter")
    a = accounts.registry(accounts.login("ramp1", PASSWORD))
    assert a.report("other-op")["registered"] == 5
    assert {m["user"]: m["role"] for m in admin.members("other-op")} == {
        "reg-b": "registrar", "ramp1": "reporter"
    }  # fmt: skip


def test_only_an_admin_grants_and_admin_is_not_a_role_in_an_operation(admin, registry_env):
    reg = registry_env.as_role("registrar")
    with pytest.raises(AccessDenied):
        reg.grant(OPERATION, "gate", "registrar")
    registry_env.as_role("gate")
    with pytest.raises(RegistryError) as e:
        admin.grant(OPERATION, "gate", "admin")
    assert e.value.field == "role" and e.value.value == "admin"
    with pytest.raises(RegistryError) as e:
        admin.grant(OPERATION, "no-such-user", "gate")
    assert e.value.field == "user"
    grants = _audit(admin.engine, "role-granted")
    assert grants == []


# ---------------------------------------------------------------------------------- devices
def test_device_token_is_bound_to_operation_site_and_role_and_revocable(accounts, admin):
    rows = registrations_rows(3, 8, 0.0)
    reg = admin
    ids = reg.register(OPERATION, read_records(rows, source="t"), source="t").person_ids
    payload = {c["person_id"]: c["payload"] for c in reg.issue_credentials(OPERATION)}
    device_id, token = admin.enrol_device(OPERATION, "Gate B", "gate", "tablet 4")
    assert token.startswith("evd_") and len(token) > 40
    listed = admin.devices(OPERATION)
    assert [d["id"] for d in listed] == [device_id] and "token_hash" not in listed[0]
    assert token not in str(listed)
    dev = accounts.device_actor(token)
    assert (dev.device, dev.site, dev.role_in(OPERATION), dev.role_in("other")) == (
        device_id, "Gate B", "gate", None
    )  # fmt: skip
    g = accounts.registry(dev)
    done = g.scan(OPERATION, payload[ids[0]], "gate-in")  # the device's site by default
    assert done["site"] == "Gate B"
    with pytest.raises(AccessDenied, match="enrolled at Gate B, not Gate A"):
        g.scan(OPERATION, payload[ids[1]], "gate-in", site="Gate A")
    with pytest.raises(AccessDenied):
        g.report(OPERATION)  # a gate device has no report permission
    with pytest.raises(AccessDenied):
        accounts.registry(accounts.login("ramp1", PASSWORD)).enrol_device(
            OPERATION, "Gate A", "gate", "x"
        )
    with pytest.raises(RegistryError) as e:
        admin.enrol_device(OPERATION, "Gate A", "registrar", "x")
    assert e.value.field == "role"
    assert admin.revoke_device(OPERATION, device_id)
    with pytest.raises(AccessDenied, match="revoked"):
        accounts.device_actor(token)
    with pytest.raises(AccessDenied, match="not a device token"):
        accounts.device_actor("evd_" + "x" * 43)
    assert [e["subject"] for e in _audit(admin.engine, "device-revoked")] == [device_id]


def test_a_device_token_revoked_by_another_process_is_refused_within_the_recheck(
    accounts, admin, monkeypatch
):
    """A live token's row is read again after devices.RECHECK_S, not on every request; a
    revocation this process did not make (another server worker, the CLI) is refused once that
    time has passed. One this process made is refused at once (the test above)."""
    from sqlalchemy import update

    from evacops.registry.services import devices as dev_service
    from evacops.registry.store.tables import devices

    clock = [1000.0]
    monkeypatch.setattr(dev_service.time, "monotonic", lambda: clock[0])
    reads: list[str] = []
    real = dev_service._token_row

    def counted(engine, digest):
        reads.append(digest)
        return real(engine, digest)

    monkeypatch.setattr(dev_service, "_token_row", counted)
    device_id, token = admin.enrol_device(OPERATION, "Gate A", "gate", "phone 9")
    assert accounts.device_actor(token).device == device_id
    assert accounts.device_actor(token).device == device_id
    assert len(reads) == 1  # the second request used the row read by the first
    with admin.engine.begin() as conn:  # revoked elsewhere: this process's rows not told
        conn.execute(update(devices).where(devices.c.id == device_id)
                     .values(revoked_at=datetime.now(UTC)))  # fmt: skip
    clock[0] += dev_service.RECHECK_S
    with pytest.raises(AccessDenied, match="revoked"):
        accounts.device_actor(token)
    assert len(reads) == 2
