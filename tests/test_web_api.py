"""The HTTP API against the real app (SQLite, and PostgreSQL when EVACOPS_TEST_DATABASE_URL is
set): log-in per role, scans and the gate's answer, device sync, problem+json, pagination, one
operation's user kept out of another's people. Generated people only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import OPERATION, PASSWORD
from test_web_support import OTHER_OP, ROLES, World

OP = f"/api/v1/operations/{OPERATION}"


@pytest.fixture
def world(registry_env, admin) -> World:
    return World(registry_env, admin)


@pytest.mark.parametrize("role", ROLES)
def test_login_per_role_gives_a_token_that_names_the_role(world: World, role):
    me = world.client().get("/api/v1/me", headers=world.auth(role)).json()
    assert me["name"] == role
    if role == "admin":
        assert me["admin"] is True
    else:
        assert me["roles"] == {OPERATION: role}


def test_wrong_password_and_unknown_user_get_the_same_problem(world: World):
    c = world.client()
    a = c.post("/api/v1/login", json={"name": "gate", "password": "wrong-password"})
    b = c.post("/api/v1/login", json={"name": "nobody-here", "password": "wrong-password"})
    assert a.status_code == b.status_code == 403
    assert a.headers["content-type"] == "application/problem+json"
    assert a.json()["detail"] == b.json()["detail"]


def test_lockout_refuses_even_the_right_password(world: World):
    c = world.client()
    for _ in range(world.env.settings.login_max_failures):
        c.post("/api/v1/login", json={"name": "planner", "password": "not-the-password"})
    r = c.post("/api/v1/login", json={"name": "planner", "password": PASSWORD})
    assert r.status_code == 403
    assert "too many failed" in r.json()["detail"]


def test_an_api_login_may_choose_its_tokens_lifetime_within_the_servers_cap(world: World):
    c = world.client()
    login = {"name": "planner", "password": PASSWORD}
    plain = c.post("/api/v1/login", json=login).json()
    assert plain["idle_min"] == 60  # a session like the pages'
    before = len(world.admin.audit_entries(10_000))
    r = c.post("/api/v1/login", json={**login, "ttl_min": 12 * 60 + 1})
    assert r.status_code == 422 and r.json()["field"] == "ttl_min"
    assert "720 minutes" in r.json()["detail"]
    assert len(world.admin.audit_entries(10_000)) == before  # refused before any log-in
    shift = c.post("/api/v1/login", json={**login, "ttl_min": 8 * 60}).json()
    ends = datetime.fromisoformat(shift["expires_at"]) - datetime.now(UTC)
    assert timedelta(hours=7, minutes=55) < ends <= timedelta(hours=8)
    assert shift["idle_min"] == 8 * 60
    me = c.get("/api/v1/me", headers={"Authorization": f"Bearer {shift['token']}"})
    assert me.json()["name"] == "planner"


def test_no_token_is_401_problem_json(world: World):
    r = world.client().get(f"{OP}/report")
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == 401 and body["title"] == "Unauthorized"


def test_gate_scan_answers_initials_and_household_size_only(world: World):
    pid = world.ids[0]
    c = world.client()
    r = c.post(
        f"{OP}/scans",
        headers={**world.auth("gate"), "Idempotency-Key": "k-1"},
        json={"payload": world.payload[pid], "action": "gate-in", "site": "Gate A"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["let_in"] is True
    assert set(body) <= {"let_in", "duplicate", "action", "initials", "household_size", "event"}
    assert body["initials"] and body["household_size"] >= 1
    again = c.post(
        f"{OP}/scans",
        headers={**world.auth("gate"), "Idempotency-Key": "k-1"},
        json={"payload": world.payload[pid], "action": "gate-in", "site": "Gate A"},
    )
    assert again.json()["duplicate"] is True and again.json()["event"] == body["event"]


def test_revoked_credential_is_a_409_problem_without_personal_data(world: World):
    pid = world.ids[1]
    cred = world.admin.person(OPERATION, pid)["credential"]
    world.admin.revoke(OPERATION, cred, reason="lost")
    r = world.client().post(
        f"{OP}/scans",
        headers=world.auth("gate"),
        json={"payload": world.payload[pid], "site": "Gate A"},
    )
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    assert "revoked" in r.json()["detail"]


def test_device_sync_is_idempotent_and_a_stale_revocation_is_kept_as_a_conflict(world: World):
    enrol = world.client().post(
        f"{OP}/devices",
        headers=world.auth("admin"),
        json={"site": "Gate B", "role": "gate", "label": "tablet 1"},
    )
    assert enrol.status_code == 200, enrol.text
    device, token = enrol.json()["device"], enrol.json()["token"]
    head = {"Authorization": f"Bearer {token}"}
    at = datetime.now(UTC) - timedelta(minutes=10)
    scans = [
        {
            "seq": i + 1,
            "payload": world.payload[p],
            "action": "gate-in",
            "at": (at + timedelta(seconds=i)).isoformat(),
        }
        for i, p in enumerate(world.ids[2:6])
    ]
    url = f"{OP}/devices/{device}/scans"
    first = world.client().post(url, headers=head, json={"scans": scans})
    assert first.status_code == 200, first.text
    answers = first.json()["answers"]
    assert [a["outcome"] for a in answers] == ["recorded"] * 4
    assert all(a["let_in"] and a["initials"] for a in answers)
    retry = world.client().post(url, headers=head, json={"scans": scans}).json()["answers"]
    assert all(a["duplicate"] for a in retry)
    # another device may not sync under this device's id
    other = (
        world.client()
        .post(
            f"{OP}/devices",
            headers=world.auth("admin"),
            json={"site": "Gate A", "role": "gate", "label": "tablet 2"},
        )
        .json()
    )
    r = world.client().post(
        url, headers={"Authorization": f"Bearer {other['token']}"}, json={"scans": scans}
    )
    assert r.status_code == 403
    # a credential revoked after the device went offline, scanned before: recorded, no conflict;
    # one scanned after the revocation: recorded and queued as a conflict
    pid = world.ids[6]
    world.admin.revoke(OPERATION, world.admin.person(OPERATION, pid)["credential"], reason="x")
    late = [
        {
            "seq": 5,
            "payload": world.payload[pid],
            "action": "gate-in",
            "at": datetime.now(UTC).isoformat(),
        }
    ]
    a = world.client().post(url, headers=head, json={"scans": late}).json()["answers"][0]
    assert a["outcome"] != "refused"
    queue = world.client().get(f"{OP}/conflicts", headers=world.auth("manifest")).json()
    assert queue["total"] >= 1
    cid = queue["items"][0]["id"]
    r = world.client().post(
        f"{OP}/conflicts/{cid}",
        headers=world.auth("manifest"),
        json={"resolution": "confirmed", "reason": "seen by the team"},
    )
    assert r.status_code == 200, r.text
    still = world.client().get(f"{OP}/conflicts", headers=world.auth("manifest")).json()
    assert cid not in [c["id"] for c in still["items"]]


def test_revoked_device_token_is_refused(world: World):
    enrol = (
        world.client()
        .post(
            f"{OP}/devices",
            headers=world.auth("admin"),
            json={"site": "Gate B", "role": "gate", "label": "t"},
        )
        .json()
    )
    head = {"Authorization": f"Bearer {enrol['token']}"}
    assert world.client().get("/api/v1/me", headers=head).status_code == 200
    world.client().delete(f"{OP}/devices/{enrol['device']}", headers=world.auth("admin"))
    assert world.client().get("/api/v1/me", headers=head).status_code == 401


def test_one_operations_user_cannot_read_anothers_people(world: World):
    c = world.client()
    for role in ("registrar", "gate", "manifest"):
        r = c.get(
            f"/api/v1/operations/{OTHER_OP}/people/{world.other_ids[0]}", headers=world.auth(role)
        )
        assert r.status_code == 403, (role, r.text)
        # nor through its own operation's path
        r = c.get(f"{OP}/people/{world.other_ids[0]}", headers=world.auth(role))
        assert r.status_code in (403, 422), (role, r.text)
        assert "given_name" not in r.text
    ops = c.get("/api/v1/operations", headers=world.auth("gate")).json()
    assert [o["id"] for o in ops] == [OPERATION]


def test_validation_problem_names_the_member_never_the_value(world: World):
    secret = "X" * 500
    r = world.client().post(
        f"{OP}/scans", headers=world.auth("gate"), json={"payload": secret, "site": "Gate A"}
    )
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert secret not in r.text
    assert r.json()["errors"][0]["field"] == "payload"


def test_registration_json_and_file_with_per_row_errors(world: World):
    rows = [dict(r) for r in world.rows[:2]]
    for i, r in enumerate(rows):
        r["household_id"] = f"web-h{i}"
    ok = world.client().post(
        f"{OP}/registrations", headers=world.auth("registrar"), json={"rows": rows}
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["registered"] == 2
    csv = "given_name,family_name\nA,\n"
    bad = world.client().post(
        f"{OP}/registrations/file",
        headers=world.auth("registrar"),
        files={"file": ("people.csv", csv.encode(), "text/csv")},
    )
    assert bad.status_code == 422
    assert bad.json()["problems"], bad.text


def test_pagination_walks_the_audit_log_with_a_cursor(world: World):
    c, head = world.client(), world.auth("admin")
    first = c.get("/api/v1/audit?limit=3", headers=head).json()
    assert len(first["items"]) == 3 and first["next_cursor"]
    second = c.get(f"/api/v1/audit?limit=3&cursor={first['next_cursor']}", headers=head).json()
    assert second["items"] and second["items"][0] != first["items"][0]


def test_a_gate_reads_a_person_without_category_or_names(world: World):
    pid = world.ids[0]
    gate = world.client().get(f"{OP}/people/{pid}", headers=world.auth("gate")).json()
    assert gate["initials"] and "category" not in gate and "given_name" not in gate
    reg = world.client().get(f"{OP}/people/{pid}", headers=world.auth("registrar")).json()
    assert reg["category"] and reg["given_name"]


def test_security_headers_on_pages_and_api(world: World):
    r = world.client().get("/login")
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert world.client().get(f"{OP}/report").headers["cache-control"] == "no-store"


def test_registration_with_an_idempotency_key_registers_nobody_twice(world: World):
    from evacops.registry.generate import registrations_rows

    rows = registrations_rows(2, 31, 0.0)
    head = {**world.auth("registrar"), "Idempotency-Key": "reg-batch-1"}
    first = world.client().post(f"{OP}/registrations", headers=head, json={"rows": rows})
    assert first.status_code == 200, first.text
    after = world.admin.report(OPERATION)["registered"]
    again = world.client().post(f"{OP}/registrations", headers=head, json={"rows": rows})
    assert again.status_code in (409, 422), again.text
    assert again.headers["content-type"] == "application/problem+json"
    assert world.admin.report(OPERATION)["registered"] == after


def test_openapi_describes_every_api_route(world: World):
    from evacops.web.routers import api_routes

    spec = world.client().get("/api/v1/openapi.json").json()
    paths = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    wanted = {(m, r.path) for r in api_routes() if r.path.startswith("/api/") for m in r.methods}
    assert wanted <= paths
    assert world.client().get("/docs").status_code == 200


@pytest.mark.parametrize("turns", [1, 3])
def test_scans_are_recorded_at_most_scan_turns_at_once(world: World, monkeypatch, turns):
    """A server process records at most ``scan_tasks`` (PostgreSQL: on its event loop) or
    ``scan_threads`` (SQLite: in worker threads) scans at once, device batches and single scans
    alike; the others wait their turn and are all recorded. Inside, each scan waits for the
    database (PostgreSQL) or sleeps (SQLite) long enough for every other request to arrive."""
    import threading
    import time

    from sqlalchemy import text

    from evacops.registry.service import Registry
    from evacops.web.app import create_app

    inside, most, lock, where = [0], [0], threading.Lock(), set()
    pg = world.accounts.engine.dialect.name == "postgresql"

    def counted(real):
        def wrapper(reg, *args, **kwargs):
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
                where.add(threading.get_ident())
            try:
                if pg:  # on the loop's engine: the wait lets the event loop serve the others
                    with reg.ctx.read() as conn:
                        conn.execute(text("SELECT pg_sleep(0.4)"))
                else:
                    time.sleep(0.4)
                return real(reg, *args, **kwargs)
            finally:
                with lock:
                    inside[0] -= 1

        return wrapper

    monkeypatch.setattr(Registry, "sync_scans", counted(Registry.sync_scans))
    monkeypatch.setattr(Registry, "scan", counted(Registry.scan))
    # the setting of the other database's path differs: each path reads its own
    other = 4 - turns
    update = {
        "rate_login_per_min": 0,
        "rate_auth_failures_per_min": 0,
        "scan_threads": other if pg else turns,
        "scan_tasks": turns if pg else other,
    }
    app = create_app(world.settings.model_copy(update=update), accounts=world.accounts)
    devices = []
    for i in range(3):
        enrol = {"site": "Gate B", "role": "gate", "label": f"phone {i}"}
        r = world.client().post(f"{OP}/devices", headers=world.auth("admin"), json=enrol)
        devices.append((r.json()["device"], r.json()["token"]))
    at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    gate = world.auth("gate")
    answers: list = []

    def sync(i, client):
        device, token = devices[i]
        body = {"scans": [{"seq": 1, "payload": world.payload[world.ids[i]],
                           "action": "gate-in", "at": at}]}  # fmt: skip
        r = client.post(f"{OP}/devices/{device}/scans", json=body,
                        headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        answers.append(r.json()["answers"][0]["outcome"])

    def scan(i, client):
        body = {"payload": world.payload[world.ids[i]], "site": "Gate A"}
        r = client.post(f"{OP}/scans", headers={**gate, "Idempotency-Key": f"lim-{i}"}, json=body)
        answers.append("recorded" if r.status_code == 200 else r.text)

    from fastapi.testclient import TestClient

    with TestClient(app, base_url="http://testserver") as client:
        loop_thread = client.portal.call(threading.get_ident)  # type: ignore[union-attr]
        jobs = [threading.Thread(target=sync, args=(i, client)) for i in range(3)]
        jobs += [threading.Thread(target=scan, args=(i, client)) for i in range(3, 6)]
        for j in jobs:
            j.start()
        for j in jobs:
            j.join()
    assert answers == ["recorded"] * 6
    assert most[0] == turns
    # PostgreSQL: every scan on the event loop's own thread; SQLite: never on it
    assert (where == {loop_thread}) if pg else (loop_thread not in where)
