"""The service's pages in Chromium over a demo operation (tests/browser/conftest.py serves it):
each role sees only its pages; a gate scans a real credential QR through the fake camera; a gate
goes offline, scans, reloads and syncs each scan exactly once; Dari is right to left; the
operation picture shows the numbers the API gives.

What the tests rely on in the pages (evacops/web), in one place:
- ``/login``: ``input[name=username]``, ``input[name=password]``, a submit button;
- PAGES below: where each page is and which roles may open it (another role gets 403);
- the gate page: ``input[name=code]`` takes a short code (Enter scans), ``[data-scan-result]``
  shows the answer with ``data-outcome``; ``[data-outbox-waiting]`` holds the number of scans
  waiting to sync; a service worker keeps the page for offline use;
- ``?lang=fa`` gives the page in Dari;
- the operation picture marks each count with ``data-count="status:<status>"``; the API's
  ``/api/v1/operations/{op}/report`` gives ``Registry.report``.
"""

from __future__ import annotations

import re

import pytest

from evacops.demo import KABUL_CATEGORIES, OPERATION
from tests.browser.conftest import fake_camera_args, go_offline, go_online
from tests.browser.qrvideo import write_qr_y4m

OP = OPERATION
PAGES = {
    "picture": (f"/ops/{OP}/picture", {"admin", "planner", "reporter"}),
    "registration": (f"/ops/{OP}/registration", {"admin", "registrar"}),
    "gate": (f"/ops/{OP}/gate", {"admin", "gate"}),
    "ramp": (f"/ops/{OP}/ramp", {"admin", "manifest"}),
    "arrival": (f"/ops/{OP}/arrival", {"admin", "manifest"}),
    "admin": (f"/ops/{OP}/admin", {"admin"}),
}
ROLES = ["admin", "registrar", "gate", "manifest", "planner", "reporter"]
CODE_INPUT = "input[name=code]"
RESULT = "[data-scan-result]"
WAITING = "[data-outbox-waiting]"


def _report(page, server) -> dict:
    r = page.request.get(f"{server.url}/api/v1/operations/{OP}/report")
    assert r.ok, r.status
    return r.json()


def _gate_in_count(server, payloads: list[str]) -> dict[str, int]:
    """gate-in events on the server per credential (straight from the event log)."""
    from sqlalchemy import select

    from evacops.registry import credentials as creds
    from evacops.registry.store.db import make_engine
    from evacops.registry.store.tables import events

    ids = {creds.decode_unverified(p).credential_id: p for p in payloads}
    engine = make_engine(server.demo.settings.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(events.c.credential_id).where(
                    events.c.operation_id == OP,
                    events.c.type == "gate-in",
                    events.c.credential_id.in_(list(ids)),
                )
            ).all()
    finally:
        engine.dispose()
    counts = dict.fromkeys(ids, 0)
    for (cid,) in rows:
        counts[cid] += 1
    return counts


@pytest.mark.parametrize("role", ROLES)
def test_each_role_sees_only_its_pages(role, browser, demo_server, shot):
    ctx = browser.new_context()
    page = ctx.new_page()
    demo_server.login(page, role)
    shot(page, f"home-{role}")
    for name, (path, roles) in PAGES.items():
        resp = page.goto(demo_server.url + path)
        if role in roles:
            assert resp.status == 200, (role, name, resp.status)
            shot(page, f"{name}-as-{role}")
        else:
            assert resp.status == 403, (role, name, resp.status)
    # the navigation offers exactly the pages the role may open
    page.goto(demo_server.url + "/")
    hrefs = set(page.eval_on_selector_all("nav a[href]", "els => els.map(e => e.pathname)"))
    offered = {name for name, (path, _) in PAGES.items() if path in hrefs}
    assert offered == {name for name, (_, roles) in PAGES.items() if role in roles}
    ctx.close()


def test_logged_out_visitor_is_sent_to_log_in(browser, demo_server):
    page = browser.new_page()
    for path, _ in PAGES.values():
        page.goto(demo_server.url + path)
        assert urlparse_path(page.url) == "/login", path
    page.close()


def urlparse_path(url: str) -> str:
    from urllib.parse import urlparse

    return urlparse(url).path


def test_gate_scans_a_credential_qr_through_the_camera(launch_chromium, demo_server, tmp_path,
                                                       shot):  # fmt: skip
    cred = demo_server.demo.fresh_payloads[0]
    video = write_qr_y4m(tmp_path / "credential.y4m", cred["payload"])
    browser = launch_chromium(fake_camera_args(video))
    ctx = browser.new_context()
    page = ctx.new_page()
    demo_server.login(page, "gate")
    page.goto(demo_server.url + PAGES["gate"][0])
    camera = page.locator("[data-camera-start]")
    if camera.count():
        camera.first.click()
    result = page.locator(RESULT)
    result.wait_for(state="visible", timeout=20_000)
    shot(page, "gate-camera-scan")
    assert result.get_attribute("data-outcome") == "let-in"
    # the gate sees initials and household size, never a document or a category
    text = page.inner_text("body")
    shown = [c for c in KABUL_CATEGORIES if re.search(rf"\b{re.escape(c)}\b", text, re.I)]
    assert not shown, shown
    page.wait_for_load_state("networkidle")
    assert _gate_in_count(demo_server, [cred["payload"]]) == {cred["credential_id"]: 1}
    ctx.close()


def test_gate_offline_scans_reload_and_sync_exactly_once(browser, demo_server, shot):
    creds_ = demo_server.demo.fresh_payloads[5:8]
    ctx = browser.new_context()
    page = ctx.new_page()
    demo_server.login(page, "gate")
    gate = demo_server.url + PAGES["gate"][0]
    page.goto(gate)
    page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
    page.reload()  # now under the service worker's control
    assert page.evaluate("() => !!navigator.serviceWorker.controller")
    go_offline(ctx)
    for c in creds_:
        page.fill(CODE_INPUT, c["code"])
        page.press(CODE_INPUT, "Enter")
        page.locator(RESULT).wait_for(state="visible")
    page.wait_for_function(
        f"() => document.querySelector('{WAITING}')?.textContent.trim().startsWith('3')"
    )
    shot(page, "gate-offline-3-waiting")
    page.reload()  # offline: the service worker serves the page, the outbox survives
    page.locator(CODE_INPUT).wait_for(state="visible")
    assert page.locator(WAITING).inner_text().strip().startswith("3")
    shot(page, "gate-offline-reloaded")
    assert _gate_in_count(demo_server, [c["payload"] for c in creds_]) == {
        c["credential_id"]: 0 for c in creds_
    }
    go_online(ctx)
    page.wait_for_function(
        f"() => document.querySelector('{WAITING}')?.textContent.trim().startsWith('0')",
        timeout=30_000,
    )
    shot(page, "gate-synced")
    # a second sync (reload online, the outbox sent again if anything lingered) adds nothing
    page.reload()
    page.wait_for_load_state("networkidle")
    assert _gate_in_count(demo_server, [c["payload"] for c in creds_]) == {
        c["credential_id"]: 1 for c in creds_
    }
    ctx.close()


def test_dari_page_is_right_to_left(browser, demo_server, shot):
    ctx = browser.new_context()
    page = ctx.new_page()
    demo_server.login(page, "gate")
    page.goto(demo_server.url + PAGES["gate"][0] + "?lang=fa")
    assert page.get_attribute("html", "dir") == "rtl"
    assert page.get_attribute("html", "lang") == "fa"
    assert page.evaluate("() => getComputedStyle(document.body).direction") == "rtl"
    # the text is Dari: Arabic-script letters in the page's visible text
    assert re.search("[\u0600-\u06ff]", page.inner_text("body"))
    shot(page, "gate-dari")
    ctx.close()


def test_operation_picture_shows_the_api_numbers(browser, demo_server, shot):
    ctx = browser.new_context()
    page = ctx.new_page()
    demo_server.login(page, "planner")
    page.goto(demo_server.url + PAGES["picture"][0])
    page.wait_for_load_state("networkidle")
    shot(page, "picture-planner")
    report = _report(page, demo_server)
    shown = page.eval_on_selector_all(
        "[data-count^='status:']",
        "els => Object.fromEntries(els.map(e => [e.dataset.count.slice(7),"
        " e.textContent.replace(/[^0-9]/g, '')]))",
    )
    assert shown, "no counts on the operation picture"
    for status, n in report["by_status"].items():
        assert int(shown[status]) == n, status
    assert report["registered"] == demo_server.demo.people
    ctx.close()
