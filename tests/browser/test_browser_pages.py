"""The service's pages in Chromium over a demo operation (tests/browser/conftest.py serves it):
each role sees only its pages; a gate scans a real credential QR through the fake camera; a gate
phone goes offline, scans, reloads and syncs each scan exactly once; Dari is right to left; the
operation picture shows the numbers the API gives.

Which pages a role may open comes from the service's own tables (evacops.web.pages.NAV: page
and permission; evacops.registry.security.ROLE_PERMS: role and permissions), so the test checks
the pages against the permission matrix, not against a copy of it.
"""

from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest

from evacops.demo import KABUL_CATEGORIES, OPERATION
from evacops.registry.security import ROLE_PERMS, Role
from tests.browser.conftest import fake_camera_args, go_offline, go_online
from tests.browser.qrvideo import write_qr_y4m

OP = OPERATION
ROLES = [str(r) for r in Role]


def _pages() -> dict[str, tuple[str, set[str]]]:
    """page -> (path, roles that may open it)."""
    from evacops.web.pages import NAV

    return {
        key: (f"/o/{OP}/{path}", {str(r) for r, perms in ROLE_PERMS.items() if perm in perms})
        for key, path, perm, _label in NAV
    }


def _gate_in_sites(server, credential_ids: list[str]) -> dict[str, list[str]]:
    """The site of each gate-in event on the server per credential, straight from the event
    log."""
    from sqlalchemy import select

    from evacops.registry.store.db import make_engine
    from evacops.registry.store.tables import events

    engine = make_engine(server.demo.settings.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(events.c.credential_id, events.c.site).where(
                    events.c.operation_id == OP,
                    events.c.type == "gate-in",
                    events.c.credential_id.in_(credential_ids),
                )
            ).all()
    finally:
        engine.dispose()
    found: dict[str, list[str]] = {c: [] for c in credential_ids}
    for cid, site in rows:
        found[cid].append(site)
    return found


def _gate_in_count(server, credential_ids: list[str]) -> dict[str, int]:
    """gate-in events on the server per credential."""
    return {c: len(sites) for c, sites in _gate_in_sites(server, credential_ids).items()}


@pytest.mark.parametrize("role", ROLES)
def test_each_role_sees_only_its_pages(role, browser, demo_server, shot):
    pages = _pages()
    mine = {name for name, (_, roles) in pages.items() if role in roles}
    ctx = browser.new_context()
    page = ctx.new_page()
    demo_server.login(page, role)
    shot(page, f"landing-{role}")
    for name, (path, roles) in pages.items():
        resp = page.goto(demo_server.url + path)
        if role in roles:
            assert resp.status == 200, (role, name, resp.status)
            shot(page, f"page-{name}-as-{role}")
            # the navigation offers exactly this role's pages
            hrefs = page.eval_on_selector_all("nav a[href]", "els => els.map(e => e.pathname)")
            assert {n for n, (p, _) in pages.items() if p in hrefs} == mine
        else:
            assert resp.status == 403, (role, name, resp.status)
            shot(page, f"refused-{name}-as-{role}")
    ctx.close()


def test_logged_out_visitor_is_sent_to_log_in(browser, demo_server):
    page = browser.new_page()
    for path, _ in _pages().values():
        page.goto(demo_server.url + path)
        assert urlparse(page.url).path == "/login", path
    page.close()


def test_wrong_password_is_refused_on_the_page(browser, demo_server, shot):
    page = browser.new_page()
    page.goto(demo_server.url + "/login")
    page.fill("input[name=name]", "gate")
    page.fill("input[name=password]", "not-the-password")
    page.click("form[action='/login'] button")
    page.locator("p.error[role=alert]").wait_for()
    assert urlparse(page.url).path == "/login"
    shot(page, "login-refused")
    page.close()


def _answer(page) -> tuple[str, str]:
    """The gate's answer box: its kind (go, stop, saved) and its text, once it is not idle."""
    page.wait_for_function(
        "() => !document.getElementById('answer').classList.contains('idle')", timeout=20_000
    )
    cls = page.get_attribute("#answer", "class").split()
    return next(c for c in cls if c != "answer"), page.inner_text("#answer")


def test_gate_scans_a_credential_qr_through_the_camera(
    launch_chromium, demo_server, tmp_path, shot
):
    cred = demo_server.demo.fresh_payloads[0]
    video = write_qr_y4m(tmp_path / "credential.y4m", cred["payload"])
    browser = launch_chromium(fake_camera_args(video))
    ctx = browser.new_context()
    page = ctx.new_page()
    demo_server.login(page, "gate")
    page.goto(f"{demo_server.url}/o/{OP}/gate")
    page.click("#camera")
    page.wait_for_function("() => document.querySelector('#answer.go') !== null", timeout=30_000)
    kind, text = _answer(page)
    shot(page, "gate-camera-let-in")
    assert kind == "go"
    # a gate sees initials and the household's size, never a document or a category
    # (one initial for a person registered with a single name, two with a family name)
    assert re.search(r"\b[A-Z]\.(\s?[A-Z]\.)?", text), text
    # isolated left to right, so that "Z.S." does not read ".Z.S" on a right-to-left page
    assert re.search(r"\u2066[A-Z]\.(\s?[A-Z]\.)?\u2069", page.text_content("#answer .who"))
    # the page's text without the operation's site names (the site picker's options: "SIV
    # pick-up points" is a place, not the person's category)
    body = page.evaluate(
        """() => { const b = document.body.cloneNode(true);
                   b.querySelectorAll('#site option').forEach((o) => o.remove());
                   return b.innerText; }"""
    )
    sites = page.eval_on_selector_all("#site option", "os => os.map((o) => o.textContent)")
    assert "SIV pick-up points" in sites  # the page does show the site that holds "SIV"
    assert not [c for c in KABUL_CATEGORIES if re.search(rf"\b{re.escape(c)}\b", body, re.I)]
    assert not re.search(r"\bZZ\d{7}\b", body)  # generated document numbers
    page.click("#camera")  # camera off: the same QR is not scanned again and again
    assert _gate_in_count(demo_server, [cred["credential_id"]]) == {cred["credential_id"]: 1}
    ctx.close()


def _enrol(page, token: str) -> None:
    page.click("#device-setup summary")
    page.fill("#device-token", token)
    page.click("#device-form button[type=submit]")
    page.wait_for_function("() => window.evacopsGate && window.evacopsGate.device() !== null")


def _waiting(page) -> int:
    return int(page.inner_text("#waiting").strip())


def test_gate_offline_scans_reload_and_sync_exactly_once(browser, demo_server, shot):
    creds = demo_server.demo.fresh_payloads[5:8]
    ids = [c["credential_id"] for c in creds]
    phone = demo_server.demo.devices[0]  # the Abbey Gate phone
    ctx = browser.new_context()
    page = ctx.new_page()
    demo_server.login(page, "gate")
    gate = f"{demo_server.url}/o/{OP}/gate"
    page.goto(gate)
    _enrol(page, phone["token"])
    page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
    page.reload()  # now under the service worker's control, which keeps the page
    assert page.evaluate("() => !!navigator.serviceWorker.controller")

    go_offline(ctx)
    for c in creds:  # as a keyboard-wedge scanner types the QR's text
        page.fill("#payload", c["payload"])
        page.press("#payload", "Enter")
        assert _answer(page)[0] == "saved"
    page.wait_for_function("() => document.getElementById('waiting').textContent.trim() === '3'")
    shot(page, "gate-offline-3-waiting")
    page.reload()  # offline: the service worker serves the page; the outbox is in IndexedDB
    page.locator("#payload").wait_for(state="visible")
    page.wait_for_function("() => document.getElementById('waiting').textContent.trim() === '3'")
    assert "offline" in page.inner_text("#net").lower()
    shot(page, "gate-offline-reloaded")
    assert _gate_in_count(demo_server, ids) == dict.fromkeys(ids, 0)
    outbox = page.evaluate(
        "() => window.evacopsGate.waiting().then(all => all.map("
        "s => ({seq: s.seq, payload: s.payload, action: s.action, at: s.at})))"
    )
    assert sorted(s["seq"] for s in outbox) == [1, 2, 3]

    go_online(ctx)
    page.evaluate("() => window.dispatchEvent(new Event('online'))")
    page.wait_for_function(
        "() => document.getElementById('waiting').textContent.trim() === '0'", timeout=30_000
    )
    shot(page, "gate-synced")
    assert _gate_in_count(demo_server, ids) == dict.fromkeys(ids, 1)
    # the same outbox sent again (a retry after a lost answer): the same answers, no new event
    again = page.evaluate(
        """async ([op, dev, token, scans]) => {
             const r = await fetch(`/api/v1/operations/${op}/devices/${dev}/scans`, {
               method: 'POST', body: JSON.stringify({scans}),
               headers: {'Content-Type': 'application/json', Authorization: 'Bearer ' + token}});
             return (await r.json()).answers; }""",
        [OP, phone["id"], phone["token"], outbox],
    )
    assert [(a["seq"], a["outcome"], a["duplicate"]) for a in again] == [
        (s["seq"], "recorded", True) for s in outbox
    ]
    assert _gate_in_count(demo_server, ids) == dict.fromkeys(ids, 1)
    ctx.close()


def test_dari_page_is_right_to_left(browser, demo_server, shot):
    ctx = browser.new_context()
    page = ctx.new_page()
    demo_server.login(page, "gate")
    page.goto(f"{demo_server.url}/o/{OP}/gate?lang=fa")
    assert page.get_attribute("html", "dir") == "rtl"
    assert page.get_attribute("html", "lang") == "fa"
    assert page.evaluate("() => getComputedStyle(document.body).direction") == "rtl"
    assert page.evaluate("() => getComputedStyle(document.querySelector('main')).direction") == (
        "rtl"
    )
    # the page's words are Dari: Arabic-script letters in its visible text
    assert len(re.findall("[\u0600-\u06ff]", page.inner_text("main"))) > 20
    shot(page, "gate-dari")
    ctx.close()


def test_operation_picture_shows_the_api_numbers(browser, demo_server, shot):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    demo_server.login(page, "planner")
    page.goto(f"{demo_server.url}/o/{OP}/picture")
    page.wait_for_load_state("networkidle")
    shot(page, "picture-planner")
    r = page.request.get(f"{demo_server.url}/api/v1/operations/{OP}/report")
    assert r.ok, r.status
    report = r.json()
    shown = page.eval_on_selector_all(
        "[data-status]",
        "els => Object.fromEntries(els.map(e => [e.dataset.status, e.textContent]))",
    )
    assert shown
    by_status = {k: v for k, v in report["by_status"].items()}
    assert {k: int(re.sub(r"\D", "", v)) for k, v in shown.items()} == by_status
    cards = page.eval_on_selector_all(
        "[data-k]", "els => Object.fromEntries(els.map(e => [e.dataset.k, e.textContent]))"
    )
    assert int(re.sub(r"\D", "", cards["registered"])) == report["registered"]
    assert int(re.sub(r"\D", "", cards["out"])) == report["out"]
    assert report["registered"] == demo_server.demo.people
    ctx.close()


def test_ramp_boards_by_scan_against_the_manifest(browser, demo_server, shot):
    from evacops.registry import open_registry

    demo = demo_server.demo
    flight = next(f for f in demo.flights if f.status == "manifested")
    mf = open_registry(demo.settings, *demo.logins["manifest"])
    reg = open_registry(demo.settings, *demo.logins["registrar"], engine=mf.engine)
    try:
        on = {e["person_id"] for e in mf.manifest(OP, flight.code)["entries"]}
        creds = reg.credential_payloads(OP)
    finally:
        mf.engine.dispose()
    aboard = next(c for c in creds if c["person_id"] in on)
    fresh = demo.fresh_payloads[20]  # registered only: on no manifest
    ctx = browser.new_context()
    page = ctx.new_page()
    demo_server.login(page, "manifest")
    page.goto(f"{demo_server.url}/o/{OP}/ramp?flight={flight.code}")
    assert re.search(rf"\b0\s*/\s*{flight.seats}\b", page.inner_text("#seats"))
    for cred, kind in ((fresh, "stop"), (aboard, "go")):
        page.fill("input[name=payload]", cred["payload"])
        with page.expect_navigation():
            page.press("input[name=payload]", "Enter")
        assert page.locator(f".answer.{kind}").count() == 1, page.inner_text("main")
    shot(page, "ramp-boarded-one")
    assert re.search(rf"\b1\s*/\s*{flight.seats}\b", page.inner_text("#seats"))
    r = page.request.get(
        f"{demo_server.url}/api/v1/operations/{OP}/flights/{flight.code}/reconciliation"
    )
    assert r.ok and r.json()["boarded"] == 1
    ctx.close()


def test_planner_what_if_form_in_dari_refuses_without_a_plan(browser, demo_server, shot):
    """The picture's what-if form, right to left, through a real browser: submitted (CSRF and
    all) and refused in Dari, since the browser tests' demo operation has no plan attached."""
    ctx = browser.new_context(viewport={"width": 390, "height": 844})
    page = ctx.new_page()
    demo_server.login(page, "planner")
    page.goto(f"{demo_server.url}/o/{OP}/picture?lang=fa")
    assert page.get_attribute("html", "dir") == "rtl"
    page.click("#what-if summary")
    page.select_option("select[name=close]", index=1)
    keep = page.locator("label.check", has=page.locator("input[name=keep_schedule]"))
    assert "هواپیما" in keep.inner_text()  # "keep the aircraft schedule", in Dari
    page.check("input[name=keep_schedule]")
    with page.expect_navigation():
        page.click("form.what-if button")
    problem = page.inner_text("#replan-problem")
    assert "برنامه" in problem and "EVACOPS" not in problem, problem
    assert page.is_visible("form.what-if")  # opened again beside the refusal
    shot(page, "picture-what-if-dari")
    # a reporter's picture has no form
    other = browser.new_context().new_page()
    demo_server.login(other, "reporter")
    other.goto(f"{demo_server.url}/o/{OP}/picture")
    assert other.locator("form.what-if").count() == 0
    other.context.close()
    ctx.close()
