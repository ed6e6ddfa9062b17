"""The gate and ramp pages on a phone-size screen (390 x 844) in Chromium, over the demo
operation (tests/browser/conftest.py): the short code typed in at the gate, online with the
session and offline through an enrolled device's outbox (resolved by the server at sync, each
scan once); the gate page's inline script runs under its Content-Security-Policy; the ramp's
Depart asks a second time before it departs the flight; a refusal from the server is shown in the
page's language (Dari, Arabic). Screenshots go to out/screenshots/."""

from __future__ import annotations

from sqlalchemy import select

from evacops.demo import ORIGIN
from evacops.web import i18n, refusals
from tests.browser.conftest import go_offline, go_online
from tests.browser.test_browser_pages import (
    OP,
    _answer,
    _enrol,
    _gate_in_count,
    _gate_in_sites,
    _waiting,
)

PHONE = {"width": 390, "height": 844}


def _gate_phone(browser, demo_server, lang: str = "en", console: list[str] | None = None):
    """A phone-size Chromium context signed in as the gate, on the gate page in ``lang``, its
    script ready; Content-Security-Policy complaints go to ``console``. (context, page)"""
    ctx = browser.new_context(viewport=PHONE)
    page = ctx.new_page()
    if console is not None:
        page.on(
            "console", lambda m: console.append(m.text) if "Content Security" in m.text else None
        )
    demo_server.login(page, "gate")
    page.goto(f"{demo_server.url}/o/{OP}/gate?lang={lang}")
    page.wait_for_selector("#gate[data-ready='1']")  # the inline script ran: CSP allowed it
    return ctx, page


def test_gate_short_code_typed_online_then_offline_syncs_once(browser, demo_server, shot):
    demo = demo_server.demo
    online, offline = demo.fresh_payloads[30], demo.fresh_payloads[31]
    ids = [online["credential_id"], offline["credential_id"]]
    phone = demo.devices[1]  # a gate phone no other test enrols (each context numbers from 1)
    assert phone["role"] == "gate"
    refused: list[str] = []
    ctx, page = _gate_phone(browser, demo_server, console=refused)
    shot(page, "gate-phone-en")

    # online, with the session: typed as a person would, lower case, without the dash
    page.fill("#code", online["code"].replace("-", "").lower())
    page.press("#code", "Enter")
    kind, text = _answer(page)
    assert kind == "go", text
    shot(page, "gate-phone-code-let-in")
    assert _gate_in_count(demo_server, ids[:1]) == {ids[0]: 1}

    # a short code typed into the scanner's field is taken as a short code too
    typed = demo.fresh_payloads[33]
    page.fill("#payload", typed["code"])
    page.evaluate("() => document.getElementById('answer').className = 'answer idle'")
    page.press("#payload", "Enter")
    assert _answer(page)[0] == "go"
    assert _gate_in_count(demo_server, [typed["credential_id"]]) == {typed["credential_id"]: 1}

    # not a short code: said on the page, nothing sent
    page.fill("#code", "UU")
    page.press("#code", "Enter")
    assert "short code" in page.inner_text("#answer").lower()

    # offline, through the device's outbox: saved, kept over a reload, sent once at sync
    _enrol(page, phone["token"])
    page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
    page.reload()
    assert page.evaluate("() => !!navigator.serviceWorker.controller")
    go_offline(ctx)
    page.fill("#code", offline["code"])
    page.press("#code", "Enter")
    assert _answer(page)[0] == "saved"
    page.wait_for_function("() => document.getElementById('waiting').textContent.trim() === '1'")
    shot(page, "gate-phone-offline-code-saved")
    page.reload()
    page.wait_for_selector("#gate[data-ready='1']")
    assert _waiting(page) == 1
    outbox = page.evaluate("() => window.evacopsGate.waiting()")
    assert [(s["seq"], s.get("code"), s.get("payload")) for s in outbox] == [
        (1, offline["code"], None)
    ]
    shot(page, "gate-phone-offline-code-waiting")
    assert _gate_in_count(demo_server, ids[1:]) == {ids[1]: 0}
    go_online(ctx)
    page.evaluate("() => window.dispatchEvent(new Event('online'))")
    page.wait_for_function(
        "() => document.getElementById('waiting').textContent.trim() === '0'", timeout=30_000
    )
    assert _gate_in_count(demo_server, ids) == {ids[0]: 1, ids[1]: 1}
    assert refused == []
    ctx.close()


def test_gate_phone_in_dari_and_arabic(browser, demo_server, shot):
    ctx = browser.new_context(viewport=PHONE)
    page = ctx.new_page()
    demo_server.login(page, "gate")
    for lang in ("fa", "ar"):
        page.goto(f"{demo_server.url}/o/{OP}/gate?lang={lang}")
        page.wait_for_selector("#gate[data-ready='1']")
        assert page.evaluate("() => getComputedStyle(document.body).direction") == "rtl"
        # nothing wider than the phone: no sideways scrolling
        assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
        page.fill("#code", "U")
        page.press("#code", "Enter")
        assert any("\u0600" <= ch <= "\u06ff" for ch in page.inner_text("#answer"))
        shot(page, f"gate-phone-{lang}")
        # the server's refusal (by its code) in the page's language, not its English detail
        page.evaluate("() => document.getElementById('answer').className = 'answer idle'")
        page.fill("#payload", "EVC1:NOTACREDENTIAL")
        page.press("#payload", "Enter")
        page.wait_for_selector("#answer.stop")
        words = i18n.translations(lang).gettext(refusals.MESSAGES["credential-malformed"])
        assert page.inner_text("#answer .who") == words
        shot(page, f"gate-phone-{lang}-refused")
    # Dari offline with a scan waiting (the page the service worker keeps is in Dari)
    cred = demo_server.demo.fresh_payloads[32]
    phone = demo_server.demo.devices[2]
    page.goto(f"{demo_server.url}/lang/fa")
    page.goto(f"{demo_server.url}/o/{OP}/gate")
    _enrol(page, phone["token"])
    page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
    page.reload()
    go_offline(ctx)
    page.reload()
    page.wait_for_selector("#gate[data-ready='1']")
    assert page.get_attribute("html", "lang") == "fa"
    page.fill("#code", cred["code"])
    page.press("#code", "Enter")
    assert _answer(page)[0] == "saved"
    page.wait_for_function("() => document.getElementById('waiting').textContent.trim() === '1'")
    # the device's id and site (Latin, in a right-to-left line) move to a new line whole,
    # never split across two
    label = page.eval_on_selector(
        "#device-label", "e => [e.textContent, e.getClientRects().length]"
    )
    assert phone["site"] in label[0] and label[1] == 1, label
    shot(page, "gate-phone-fa-offline-waiting")
    go_online(ctx)
    page.evaluate("() => window.dispatchEvent(new Event('online'))")
    page.wait_for_function(
        "() => document.getElementById('waiting').textContent.trim() === '0'", timeout=30_000
    )
    cid = cred["credential_id"]
    assert _gate_in_count(demo_server, [cid]) == {cid: 1}
    ctx.close()


def test_ramp_depart_asks_a_second_time(browser, demo_server, shot):
    from evacops.registry import open_registry
    from evacops.registry.store.tables import flights

    demo = demo_server.demo
    mf = open_registry(demo.settings, *demo.logins["manifest"])
    try:
        mf.add_flight(OP, "TST901", origin=ORIGIN, destination="Al Udeid", seats=50)
    finally:
        mf.engine.dispose()
    ctx = browser.new_context(viewport=PHONE)
    page = ctx.new_page()
    demo_server.login(page, "manifest")
    page.goto(f"{demo_server.url}/o/{OP}/ramp?flight=TST901")
    confirm = page.locator("#depart button[value=depart]")
    assert not confirm.is_visible()  # one tap is not enough
    shot(page, "ramp-phone")
    page.click("#depart summary")
    assert confirm.is_visible()
    assert "TST901" in page.inner_text("#depart")
    shot(page, "ramp-phone-depart-asked")
    with page.expect_navigation():
        confirm.click()
    shot(page, "ramp-phone-departed")
    from evacops.registry.store.db import make_engine

    engine = make_engine(demo.settings.database_url)
    try:
        with engine.connect() as conn:
            status = conn.execute(
                select(flights.c.status).where(flights.c.code == "TST901")
            ).scalar_one()
    finally:
        engine.dispose()
    assert status == "departed"
    ctx.close()


# the link, in the page: the first sync's request waits 2 s before it leaves; each sync's device
# and seqs are noted (``sent``), each answer it gets (``got``), and every answer the box shows,
# in order (``shown``: [kind, who])
_SLOW_LINK = """() => {
  window.sent = []; window.got = []; window.shown = [];
  const send = window.fetch.bind(window);
  window.fetch = async (url, opts) => {
    if (!String(url).endsWith('/scans')) return send(url, opts);
    window.sent.push([String(url).split('/devices/')[1].split('/')[0],
                      JSON.parse(opts.body).scans.map((s) => s.seq)]);
    if (window.sent.length === 1) await new Promise((ok) => setTimeout(ok, 2000));
    const res = await send(url, opts);
    res.clone().json().then((j) => window.got.push(...j.answers));
    return res;
  };
  const box = document.getElementById('answer');
  new MutationObserver(() => window.shown.push(
    [box.className.replace('answer ', ''), box.querySelector('.who').textContent]))
    .observe(box, { attributes: true, childList: true, subtree: true, characterData: true });
}"""


def _scan(page, payload: str) -> None:
    page.fill("#payload", payload)
    page.press("#payload", "Enter")


def _shown_go(page, n: int) -> list[str]:
    """The who-lines of the first ``n`` let-in answers shown, once there are ``n``."""
    page.wait_for_function(
        f"() => window.shown.filter(([k]) => k === 'go').length >= {n}", timeout=8_000
    )
    return [who for kind, who in page.evaluate("() => window.shown") if kind == "go"][:n]


def _says(who: str, answer: dict) -> bool:
    """A let-in who-line names the answer's person: initials and household size."""
    return answer["initials"] in who and str(answer["household_size"]) in who


def test_gate_scan_made_while_a_sync_is_in_flight_gets_its_own_answer(browser, demo_server, shot):
    """On a slow link a second scan is made before the first one's sync is answered: it goes in
    the next sync, sent as soon as the first is answered, and its own answer reaches the screen
    after the first's. (Before, a sync asked for while one was in flight was skipped: the screen
    ended on the first scan's answer, and the second waited for the 15 s timer.) In Dari."""
    demo = demo_server.demo
    first, second = demo.fresh_payloads[34], demo.fresh_payloads[35]
    ids = [first["credential_id"], second["credential_id"]]
    phone = demo.devices[3]  # a gate phone no other test enrols (each context numbers from 1)
    assert phone["role"] == "gate"
    ctx, page = _gate_phone(browser, demo_server, lang="fa")
    _enrol(page, phone["token"])
    page.evaluate(_SLOW_LINK)
    _scan(page, first["payload"])
    page.wait_for_function("() => window.sent.length === 1")
    _scan(page, second["payload"])
    # the second sync follows the first at once (well before the 15 s timer)
    page.wait_for_function("() => window.sent.length === 2", timeout=8_000)
    go = _shown_go(page, 2)
    shot(page, "gate-phone-fa-second-scan-during-sync")
    assert page.evaluate("() => window.sent") == [[phone["id"], [1]], [phone["id"], [2]]]
    got = {a["seq"]: a for a in page.evaluate("() => window.got")}
    # each scan's own answer, in order, naming its own person: the screen ends on the second's
    assert _says(go[0], got[1]) and _says(go[1], got[2]), (go, got)
    shown = page.evaluate("() => window.shown")
    assert shown[-1][0] == "go" and [k for k, _ in shown].count("saved") == 2, shown
    assert _waiting(page) == 0
    assert _gate_in_count(demo_server, ids) == {ids[0]: 1, ids[1]: 1}
    ctx.close()


def test_gate_enrolled_as_another_device_during_a_sync_loses_no_scan(browser, demo_server, shot):
    """The page is enrolled as another phone while a sync of the first is in flight, and a scan
    is made under the new one: the sync ends for the device it started with (its scan leaves
    that device's outbox), and the new device's scan is sent under its own id. (Before, the
    sync forgot the new device's seq, deleting its scan from the outbox: never sent.)"""
    from evacops.registry import open_registry

    demo = demo_server.demo
    admin = open_registry(demo.settings, *demo.logins["admin"])
    try:
        old, new = (admin.enrol_device(OP, "East Gate", "gate", f"re-enrol {i}") for i in (1, 2))
    finally:
        admin.engine.dispose()
    first, second = demo.fresh_payloads[36], demo.fresh_payloads[37]
    ids = [first["credential_id"], second["credential_id"]]
    ctx, page = _gate_phone(browser, demo_server, lang="fa")
    _enrol(page, old[1])
    page.evaluate(_SLOW_LINK)
    _scan(page, first["payload"])
    page.wait_for_function("() => window.sent.length === 1")
    # enrolled again, as the other phone, while that sync waits
    page.fill("#device-token", new[1])
    page.click("#device-form button[type=submit]")
    page.wait_for_function(f"() => window.evacopsGate.device().id === {new[0]!r}")
    _scan(page, second["payload"])
    page.wait_for_function("() => window.sent.length === 2", timeout=8_000)
    _shown_go(page, 2)  # both answers shown
    shot(page, "gate-phone-fa-re-enrolled-during-sync")
    assert page.evaluate("() => window.sent") == [[old[0], [1]], [new[0], [1]]]
    assert page.evaluate("() => window.evacopsGate.waiting(null)") == []  # no device's scan left
    assert _gate_in_count(demo_server, ids) == {ids[0]: 1, ids[1]: 1}
    ctx.close()


def test_gate_site_shown_is_where_the_scan_is_recorded(browser, demo_server, shot):
    """The site a scan is recorded at is on the screen, not in the folded device set-up: chosen
    for scans with the session, and an enrolled device's own (locked) once it is enrolled.
    The choice is kept over a reload. (Before, the site picker sat folded away in "This device"
    and showed the first gate, Abbey Gate, for a phone enrolled at another.)"""
    from evacops.registry import open_registry

    demo = demo_server.demo
    admin = open_registry(demo.settings, *demo.logins["admin"])
    try:
        device, token = admin.enrol_device(OP, "South Gate", "gate", "site shown")
    finally:
        admin.engine.dispose()
    first, second = demo.fresh_payloads[38], demo.fresh_payloads[39]
    ids = [first["credential_id"], second["credential_id"]]
    ctx, page = _gate_phone(browser, demo_server)
    assert page.is_visible("#site") and page.is_enabled("#site")
    page.select_option("#site", "North Gate")
    page.reload()  # the choice is kept over a reload
    page.wait_for_selector("#gate[data-ready='1']")
    assert page.eval_on_selector("#site", "s => s.value") == "North Gate"
    _scan(page, first["payload"])
    page.wait_for_function("() => document.getElementById('answer').classList.contains('go')")
    assert _gate_in_sites(demo_server, ids[:1]) == {ids[0]: ["North Gate"]}

    _enrol(page, token)
    assert page.evaluate("() => window.evacopsGate.device().id") == device
    page.wait_for_function("() => document.getElementById('site').disabled")
    assert page.eval_on_selector("#site", "s => s.value") == "South Gate"
    page.evaluate("() => document.getElementById('answer').className = 'answer idle'")
    _scan(page, second["payload"])
    page.wait_for_function("() => document.getElementById('answer').classList.contains('go')")
    shot(page, "gate-phone-site-of-enrolled-device")
    assert _gate_in_sites(demo_server, ids) == {ids[0]: ["North Gate"], ids[1]: ["South Gate"]}
    page.reload()
    page.wait_for_selector("#gate[data-ready='1']")
    page.wait_for_function("() => document.getElementById('site').disabled")
    assert page.eval_on_selector("#site", "s => s.value") == "South Gate"
    ctx.close()
