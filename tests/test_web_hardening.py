"""The service's edges against the real app (SQLite, and PostgreSQL when
EVACOPS_TEST_DATABASE_URL is set): uploads refused while they are read once over their limit,
per-address rate limits (429 with Retry-After, authenticated traffic never throttled), and
Idempotency-Key on every write of the API. Generated people only."""

from __future__ import annotations

import asyncio
import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import OPERATION, PASSWORD
from fastapi.testclient import TestClient
from test_web_support import OTHER_OP, World

from evacops.registry.generate import registrations_rows
from evacops.web.app import create_app
from evacops.web.ratelimit import Buckets, address_of

OP = f"/api/v1/operations/{OPERATION}"
LIMIT = 100_000  # max_upload_bytes in these tests
CHUNK = 64 * 1024


@pytest.fixture
def world(registry_env, admin) -> World:
    return World(registry_env, admin)


def app_with(world: World, **settings):
    return create_app(world.settings.model_copy(update=settings), accounts=world.accounts)


def client(app, address: str = "10.0.0.1") -> TestClient:
    return TestClient(app, base_url="http://testserver", client=(address, 50000))


# ------------------------------------------------------------------------------ uploads
class EndlessUpload:
    """A client sending a multipart file upload that never ends (up to ``chunks`` chunks, far
    more than the test lets the server keep): counts what the server read."""

    def __init__(self, chunks: int = 20_000):  # 20,000 x 64 KiB: 1.3 GB, never built
        self.head = (
            b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
            b"Content-Type: text/csv\r\n\r\ngiven_name,family_name\r\n"
        )
        self.chunks, self.sent, self.read = chunks, 0, 0
        self.messages: list[dict] = []

    async def receive(self) -> dict:
        if self.sent >= self.chunks:
            raise AssertionError(f"the server read all {self.read:,} bytes")
        body = self.head if self.sent == 0 else b"a,b\r\n" * (CHUNK // 5)
        self.sent += 1
        self.read += len(body)
        return {"type": "http.request", "body": body, "more_body": True}

    async def send(self, message: dict) -> None:
        self.messages.append(message)

    def run(self, app, path: str, headers: dict[str, str]) -> tuple[int, dict, bytes]:
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
            "query_string": b"", "root_path": "", "client": ("10.0.0.1", 50000),
            "server": ("testserver", 80),
            "headers": [(b"host", b"testserver"),
                        (b"content-type", b"multipart/form-data; boundary=xyz"),
                        *((k.lower().encode(), v.encode()) for k, v in headers.items())],
        }  # fmt: skip
        # a loop of its own in a thread: the session may already run one in this thread
        # (Playwright's sync API does, for the browser tests)
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, app(scope, self.receive, self.send)).result()
        start = next(m for m in self.messages if m["type"] == "http.response.start")
        body = b"".join(
            m.get("body", b"") for m in self.messages if m["type"] != "http.response.start"
        )
        return start["status"], dict((k.decode(), v.decode()) for k, v in start["headers"]), body


def _most_read() -> int:
    """What the server may read of a body before it refuses it: the limit, the multipart
    allowance, and the chunk that crossed it."""
    from evacops.registry.limits import MULTIPART_OVERHEAD_BYTES

    return LIMIT + MULTIPART_OVERHEAD_BYTES + 2 * CHUNK


def test_api_upload_over_the_limit_is_413_and_never_read_whole(world: World):
    app = app_with(world, max_upload_bytes=LIMIT)
    upload = EndlessUpload()
    status, headers, body = upload.run(
        app, f"{OP}/registrations/file", {"authorization": f"Bearer {world.token('registrar')}"}
    )
    assert status == 413, body
    assert headers["content-type"] == "application/problem+json"
    assert upload.read <= _most_read(), f"{upload.read:,} bytes read"
    assert upload.sent < upload.chunks
    report = world.admin.report(OPERATION)
    assert sum(report["by_status"].values()) == len(world.ids)  # nobody registered


def test_page_upload_over_the_limit_is_413_and_never_read_whole(world: World):
    app = app_with(world, max_upload_bytes=LIMIT)
    browser = world.page_login("registrar")
    cookies = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    upload = EndlessUpload()
    status, _headers, _body = upload.run(
        app,
        f"/o/{OPERATION}/register/upload",
        {"cookie": cookies, "x-csrf-token": browser.cookies.get("evacops_csrf")},
    )
    assert status == 413
    assert upload.read <= _most_read(), f"{upload.read:,} bytes read"


def test_a_declared_length_over_the_limit_is_refused_before_reading(world: World):
    app = app_with(world, max_upload_bytes=LIMIT)
    upload = EndlessUpload()
    status, _h, _b = upload.run(
        app,
        f"{OP}/registrations/file",
        {"authorization": f"Bearer {world.token('registrar')}", "content-length": "10000000"},
    )
    assert status == 413
    assert upload.read == 0


def test_a_file_just_over_the_limit_is_413_and_one_under_it_is_imported(world: World):
    import csv

    app = app_with(world, max_upload_bytes=LIMIT)
    c = client(app)
    head = {"Authorization": f"Bearer {world.token('registrar')}"}
    rows = registrations_rows(40, 3, 0.0)
    text = io.StringIO()
    w = csv.DictWriter(text, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    small = text.getvalue().encode()
    assert len(small) < LIMIT
    big = small + b"\r\n" * ((LIMIT - len(small)) // 2 + 1)  # blank lines past the limit
    r = c.post(f"{OP}/registrations/file", headers=head, files={"file": ("p.csv", big)})
    assert r.status_code == 413, r.text
    assert r.headers["content-type"] == "application/problem+json"
    r = c.post(f"{OP}/registrations/file", headers=head, files={"file": ("p.csv", small)})
    assert r.status_code == 200, r.text
    assert r.json()["registered"] == len(rows)


def test_a_json_body_over_its_limit_is_413(world: World):
    app = app_with(world, max_body_bytes=4096)
    r = client(app).post(
        f"{OP}/registrations",
        headers=world.auth("registrar"),
        json={"rows": [{"given_name": "x" * 100}] * 100},
    )
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/problem+json"


# ------------------------------------------------------------------------------ rate limits
def test_buckets_refill_at_their_rate():
    now = [0.0]
    b = Buckets(6, clock=lambda: now[0])  # one token every 10 s
    assert [b.take("a") for _ in range(6)] == [0.0] * 6
    assert b.take("a") == pytest.approx(10.0)
    assert b.take("b") == 0.0  # another address has its own bucket
    now[0] = 5.0
    assert b.wait("a") == pytest.approx(5.0)
    now[0] = 10.0
    assert b.take("a") == 0.0 and b.take("a") > 0


def test_an_ipv6_client_counts_by_its_64():
    a = address_of({"client": ("2001:db8:1:2:aaaa::1", 1)})
    b = address_of({"client": ("2001:db8:1:2:bbbb::9", 1)})
    assert a == b == "2001:db8:1:2::/64"
    assert address_of({"client": ("::ffff:10.1.2.3", 1)}) == "10.1.2.3"


def test_login_attempts_per_address_are_limited_with_retry_after(world: World):
    app = app_with(world, rate_login_per_min=3, rate_auth_failures_per_min=0)
    c = client(app, "10.0.0.7")
    login = {"name": "planner", "password": PASSWORD}
    assert [c.post("/api/v1/login", json=login).status_code for _ in range(3)] == [200] * 3
    r = c.post("/api/v1/login", json=login)
    assert r.status_code == 429
    assert r.headers["content-type"] == "application/problem+json"
    assert 1 <= int(r.headers["retry-after"]) <= 20
    page = c.post("/login", data={"name": "planner", "password": PASSWORD, "csrf": "x"})
    assert page.status_code == 429  # the log-in page shares the address's budget
    other = client(app, "10.0.0.8").post("/api/v1/login", json=login)
    assert other.status_code == 200


def test_failed_authentications_block_an_address_but_not_good_tokens(world: World):
    app = app_with(world, rate_auth_failures_per_min=3)
    c = client(app, "10.0.0.9")
    good = world.auth("reporter")
    bad = {"Authorization": "Bearer not-a-token"}
    codes = [c.get(f"{OP}/report", headers=bad).status_code for _ in range(4)]
    assert codes[:2] == [401, 401] and codes[2:] == [429, 429]
    assert c.get(f"{OP}/report", headers=bad).headers["retry-after"]
    assert c.get(f"{OP}/report", headers=good).status_code == 200  # a good token still works
    r = c.post("/api/v1/login", json={"name": "planner", "password": PASSWORD})
    assert r.status_code == 429  # log-ins from the address wait
    assert client(app, "10.0.0.10").get(f"{OP}/report", headers=bad).status_code == 401


def test_failed_logins_count_as_failed_authentications(world: World):
    app = app_with(world, rate_auth_failures_per_min=2, rate_login_per_min=100)
    c = client(app, "10.0.0.11")
    wrong = {"name": "gate", "password": "wrong-password"}
    assert [c.post("/api/v1/login", json=wrong).status_code for _ in range(2)] == [403, 403]
    assert c.post("/api/v1/login", json=wrong).status_code == 429


def test_defaults_do_not_throttle_a_gate_or_anonymous_page_loads(world: World):
    app = create_app(world.settings, accounts=world.accounts)
    admin = client(app, "10.0.0.12")
    enrol = admin.post(
        f"{OP}/devices",
        headers=world.auth("admin"),
        json={"site": "Gate A", "role": "gate", "label": "phone"},
    ).json()
    head = {"Authorization": f"Bearer {enrol['token']}"}
    url = f"{OP}/devices/{enrol['device']}/scans"
    pid = world.ids[0]
    scan = {"seq": 1, "payload": world.payload[pid], "action": "gate-in",
            "at": "2026-01-01T10:00:00+00:00"}  # fmt: skip
    codes = {admin.post(url, headers=head, json={"scans": [scan]}).status_code for _ in range(200)}
    assert codes == {200}
    # requests without credentials (a browser before log-in) are not failed authentications
    codes = {admin.get(f"{OP}/report").status_code for _ in range(100)}
    assert codes == {401}


# ------------------------------------------------------------------------------ idempotency
def _rows(world: World, **where) -> list[dict]:
    from sqlalchemy import select

    from evacops.registry.store.tables import idempotency_keys as K

    with world.admin.engine.connect() as conn:
        q = select(K).where(*(K.c[k] == v for k, v in where.items()))
        return [dict(r) for r in conn.execute(q).mappings()]


def test_a_write_sent_again_with_its_key_is_answered_not_done_again(world: World):
    c = world.client()
    head = {**world.auth("admin"), "Idempotency-Key": "flight-1"}
    body = {"code": "RCH801", "origin": "HKIA", "destination": "Al Udeid", "seats": 300}
    first = c.post(f"{OP}/flights", headers=head, json=body)
    assert first.status_code == 200, first.text
    again = c.post(f"{OP}/flights", headers=head, json=body)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    # without the key the same request is done again, and refused: the flight exists once
    fresh = c.post(f"{OP}/flights", headers=world.auth("admin"), json=body)
    assert fresh.status_code == 422
    (row,) = _rows(world, key="flight-1")
    assert row["caller"] == "u:admin" and row["status"] == 200 and row["route"] == "api_flight_add"


def test_the_same_key_with_another_request_is_422(world: World):
    c = world.client()
    head = {**world.auth("admin"), "Idempotency-Key": "k-2"}
    body = {"code": "RCH802", "origin": "HKIA", "destination": "Al Udeid", "seats": 300}
    assert c.post(f"{OP}/flights", headers=head, json=body).status_code == 200
    r = c.post(f"{OP}/flights", headers=head, json={**body, "seats": 301})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["field"] == "Idempotency-Key"
    # another caller's key of the same name is its own
    other = {**world.auth("manifest"), "Idempotency-Key": "k-2"}
    r = c.post(f"{OP}/flights/RCH802/manifest", headers=other)
    assert r.status_code == 200, r.text


def test_a_refused_write_frees_its_key(world: World):
    c = world.client()
    head = {**world.auth("admin"), "Idempotency-Key": "k-3"}
    bad = {"code": "RCH803", "origin": "Nowhere", "destination": "Al Udeid", "seats": 300}
    assert c.post(f"{OP}/flights", headers=head, json=bad).status_code == 422
    assert _rows(world, key="k-3") == []
    good = {**bad, "origin": "HKIA"}
    assert c.post(f"{OP}/flights", headers=head, json=good).status_code == 200


def test_a_key_whose_first_request_was_cut_short_is_409(world: World):
    import hashlib
    import json

    from evacops.web.idempotency import Pending, _begin

    path = f"{OP}/flights/RCH899/depart"
    digest = hashlib.sha256(f"POST\n{path}?\n".encode()).hexdigest()
    # the first request was marked running, then the server died before storing its answer
    _begin(Pending(world.admin.ctx, "u:admin", "k-4", OPERATION), "api_depart", digest, 1)
    r = world.client().post(path, headers={**world.auth("admin"), "Idempotency-Key": "k-4"})
    assert r.status_code == 409, r.text
    assert json.loads(r.text)["field"] == "Idempotency-Key"


def test_stored_answers_are_sealed(world: World):
    c = world.client()
    head = {**world.auth("admin"), "Idempotency-Key": "enrol-1"}
    body = {"site": "Gate C", "role": "gate", "label": "phone"}
    first = c.post(f"{OP}/devices", headers=head, json=body).json()
    again = c.post(f"{OP}/devices", headers=head, json=body).json()
    assert again["token"] == first["token"]  # the token, shown again to the same caller
    (row,) = _rows(world, key="enrol-1")
    assert first["token"].encode() not in row["response_enc"]
    assert b"token" not in row["response_enc"]
    # a device's batch: its answer holds initials; kept sealed, replayed whole
    dev = {"Authorization": f"Bearer {first['token']}", "Idempotency-Key": "sync-1"}
    scans = [{"seq": 1, "payload": world.payload[world.ids[3]], "action": "gate-in",
              "at": "2026-01-01T10:00:00+00:00"}]  # fmt: skip
    url = f"{OP}/devices/{first['device']}/scans"
    a = c.post(url, headers=dev, json={"scans": scans})
    b = c.post(url, headers=dev, json={"scans": scans})
    assert a.json()["answers"][0]["initials"]
    assert b.json() == a.json() and b.headers["idempotent-replayed"] == "true"
    (row,) = _rows(world, key="sync-1")
    assert row["caller"] == f"d:{first['device']}"
    assert a.json()["answers"][0]["initials"].encode() not in row["response_enc"]
    assert b"initials" not in row["response_enc"]


def test_a_shred_leaves_no_stored_answer_that_reveals_anything(world: World):
    """The operation's kept answers (a device token, a sync answer with initials, a dedup
    decision whose reason and request name people) lose their sealed body and their request's
    digest in the shred; another operation's stay; a retry under a used key is 409, never done
    again. On SQLite, the database file keeps no byte of either."""
    from evacops.registry.services.shred import SHREDDED

    c = world.client()
    admin = world.auth("admin")
    enrol = {"site": "Gate C", "role": "gate", "label": "phone"}
    dev = c.post(f"{OP}/devices", headers={**admin, "Idempotency-Key": "sh-1"}, json=enrol).json()
    scans = [{"seq": 1, "payload": world.payload[world.ids[4]], "action": "gate-in",
              "at": "2026-01-01T10:00:00+00:00"}]  # fmt: skip
    sync_head = {"Authorization": f"Bearer {dev['token']}", "Idempotency-Key": "sh-2"}
    url = f"{OP}/devices/{dev['device']}/scans"
    synced = c.post(url, headers=sync_head, json={"scans": scans})
    assert synced.json()["answers"][0]["initials"]
    decide = {"decision": "not-duplicate", "keep": world.ids[0], "duplicate": world.ids[1],
              "reason": "Mother of Testgiven Testfamily, seen at the gate"}  # fmt: skip
    r = c.post(f"{OP}/dedup/decisions", headers={**admin, "Idempotency-Key": "sh-3"}, json=decide)
    assert r.status_code == 200, r.text
    other = f"/api/v1/operations/{OTHER_OP}/devices"
    kept = c.post(other, headers={**admin, "Idempotency-Key": "sh-4"}, json=enrol)
    assert kept.status_code == 200
    before = {r["key"]: r for r in _rows(world, operation_id=OPERATION)}
    assert set(before) == {"sh-1", "sh-2", "sh-3"}
    assert all(r["response_enc"] and len(r["request_hash"]) == 64 for r in before.values())

    world.admin.shred(OPERATION)
    after = _rows(world, operation_id=OPERATION)
    assert {r["key"] for r in after} == set(before)  # the keys stay used
    assert all(r["request_hash"] == SHREDDED and r["response_enc"] is None for r in after)
    (other_row,) = _rows(world, key="sh-4")
    assert other_row["response_enc"] and len(other_row["request_hash"]) == 64
    again = c.post(url, headers=sync_head, json={"scans": scans})
    assert again.status_code == 409 and again.json()["field"] == "Idempotency-Key"
    r = c.post(f"{OP}/devices", headers={**admin, "Idempotency-Key": "sh-1"}, json=enrol)
    assert r.status_code == 409 and "token" not in r.text
    assert len(world.admin.devices(OPERATION)) == 1  # not enrolled again
    if world.env.url.startswith("sqlite"):
        data = Path(world.env.url.removeprefix("sqlite:///")).read_bytes()
        for row in before.values():
            assert row["request_hash"].encode() not in data
            assert row["response_enc"] not in data


def test_every_write_of_the_api_takes_an_idempotency_key(world: World):
    """From the route table: each POST, PUT or DELETE under /api/v1 (a signed-in caller's) with
    a key already answered is answered from the store, not by its service; only the routes whose
    service takes the key itself are left to it."""
    import hashlib
    import re

    from evacops.web import idempotency as idem
    from evacops.web import security as sec
    from evacops.web.routers import api_routes

    values = {"op": OPERATION, "flight": "RCH900", "device": "dev-x", "user": "nobody",
              "conflict": "1", "rid": "1"}  # fmt: skip
    c = world.client()
    checked = []
    for route in api_routes():
        methods = route.methods & {"POST", "PUT", "DELETE"}
        if not methods or sec.PERMISSIONS[route.name] == sec.PUBLIC:
            continue
        if route.name in idem.OWN_KEY or not route.path.startswith("/api/v1/"):
            continue
        (method,) = methods
        path = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], route.path)
        key = f"route-{route.name}"
        digest = hashlib.sha256(f"{method}\n{path}?\n{{}}".encode()).hexdigest()
        p = idem.Pending(
            world.admin.ctx, "u:admin", key, OPERATION if "{op}" in route.path else None
        )
        idem._begin(p, route.name, digest, 1)
        idem.finish(p, 201, f'{{"replayed": "{route.name}"}}'.encode())
        head = {**world.auth("admin"), "Idempotency-Key": key, "content-type": "application/json"}
        r = c.request(method, path, headers=head, content=b"{}")
        assert (r.status_code, r.json()) == (201, {"replayed": route.name}), route.name
        checked.append(route.name)
    assert {"api_flight_add", "api_grant", "api_device_revoke", "api_device_sync"} <= set(checked)
    assert len(checked) >= 15
