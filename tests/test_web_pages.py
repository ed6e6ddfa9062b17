"""The pages and their security: log-in through the form, a new session id at log-in (no
fixation), CSRF refused without the token, cookie flags, the navigation built from the role,
the languages (right to left for Dari, Pashto, Arabic), the picture showing the API's numbers,
the gate page and its service worker, gzip. Generated people only."""

from __future__ import annotations

import re

import pytest
from conftest import OPERATION, PASSWORD
from test_web_support import World, csrf_of

from evacops.web import i18n

OPAGE = f"/o/{OPERATION}"


@pytest.fixture
def world(registry_env, admin) -> World:
    return World(registry_env, admin)


def test_login_form_sets_strict_httponly_cookies_and_redirects_by_role(world: World):
    c = world.client()
    r = c.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)
    r = c.post(
        "/login", data={"name": "gate", "password": PASSWORD, "csrf": csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    cookies = r.headers.get_list("set-cookie")
    session = next(h for h in cookies if h.startswith("evacops_session="))
    assert "HttpOnly" in session and "SameSite=strict" in session.replace("Strict", "strict")
    home = c.get("/", follow_redirects=False)
    assert home.headers["location"] == f"{OPAGE}/gate"  # a gate's only page


def test_secure_cookie_under_tls_setting(world: World):
    from fastapi.testclient import TestClient

    world.app.state.settings.cookie_secure = True
    c = TestClient(world.app, base_url="https://testserver")
    r = c.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)
    r = c.post(
        "/login", data={"name": "gate", "password": PASSWORD, "csrf": csrf}, follow_redirects=False
    )
    session = next(h for h in r.headers.get_list("set-cookie") if h.startswith("evacops_session="))
    assert "Secure" in session


def test_login_form_without_its_token_is_refused(world: World):
    c = world.client()
    c.get("/login")
    r = c.post(
        "/login",
        data={"name": "gate", "password": PASSWORD, "csrf": "forged"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    assert "evacops_session" not in r.headers.get("set-cookie", "")


def test_session_id_changes_at_login_and_a_planted_session_is_ended(world: World):
    first = world.page_login("admin")
    planted = first.cookies.get("evacops_session")
    # the victim's browser carries the planted cookie, then logs in
    victim = world.client()
    victim.cookies.set("evacops_session", planted)
    r = victim.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)
    r = victim.post(
        "/login",
        data={"name": "registrar", "password": PASSWORD, "csrf": csrf},
        follow_redirects=False,
    )
    new = re.search(r"evacops_session=([^;]+)", r.headers["set-cookie"]).group(1)
    assert new != planted
    # the planted session is over: whoever held it is logged out
    assert first.get(f"{OPAGE}/admin", follow_redirects=False).status_code == 303


def test_csrf_is_required_on_every_unsafe_request_by_cookie(world: World):
    c = world.page_login("admin")
    form = {"do": "enrol", "label": "t", "site": "Gate A", "role": "gate"}
    r = c.post(f"{OPAGE}/admin", data=form)
    assert r.status_code == 403 and "CSRF" in r.text
    r = c.post(f"{OPAGE}/admin", data={**form, "csrf": "not-the-token"})
    assert r.status_code == 403
    r = c.post(f"/api/v1/operations/{OPERATION}/devices", json=form)
    assert r.status_code == 403 and r.json()["field"] == "csrf"
    assert world.admin.devices(OPERATION) == []
    r = c.post(f"{OPAGE}/admin", data={**form, "csrf": csrf_of(c)})
    assert r.status_code == 200 and 'id="new-token"' in r.text
    assert len(world.admin.devices(OPERATION)) == 1


def test_an_admin_action_refused_is_shown_as_an_error(world: World):
    c = world.page_login("admin")
    r = c.post(f"{OPAGE}/admin", data={"do": "shred", "confirm": "wrong", "csrf": csrf_of(c)})
    assert r.status_code == 422
    assert re.search(r'<p class="error" role="alert">[^<]*exactly to confirm', r.text)
    assert 'class="ok"' not in r.text  # not worded as a success


def test_logout_ends_the_session(world: World):
    c = world.page_login("planner")
    assert c.get(f"{OPAGE}/picture").status_code == 200
    kept = c.cookies.get("evacops_session")
    c.post("/logout", data={"csrf": csrf_of(c)})
    again = world.client()
    again.cookies.set("evacops_session", kept)
    assert again.get(f"{OPAGE}/picture", follow_redirects=False).status_code == 303


@pytest.mark.parametrize(
    "role, pages",
    [
        ("gate", ["Gate", "Arrival"]),
        ("planner", ["Operation picture"]),
        ("reporter", ["Operation picture"]),
        ("registrar", ["Operation picture", "Registration", "Duplicates", "Gate", "Arrival"]),
        ("manifest", ["Operation picture", "Gate", "Ramp", "Arrival"]),
        (
            "admin",
            ["Operation picture", "Registration", "Duplicates", "Gate", "Ramp", "Arrival", "Admin"],
        ),
    ],
)
def test_navigation_shows_only_the_roles_pages(world: World, role, pages):
    c = world.page_login(role)
    path = {"Gate": "gate", "Operation picture": "picture"}[pages[0]]
    first = c.get(f"{OPAGE}/{path}").text
    nav = re.search(r"<nav>(.*?)</nav>", first, re.S).group(1)
    assert re.findall(r">([^<]+)</a>", nav) == pages


@pytest.mark.parametrize("lang", ["fa", "ps", "ar"])
def test_gate_page_in_a_right_to_left_language(world: World, lang):
    c = world.page_login("gate")
    r = c.get(f"{OPAGE}/gate?lang={lang}")
    assert f'<html lang="{lang}" dir="rtl">' in r.text
    tr = i18n.translations(lang)
    assert tr.gettext("LET IN") != "LET IN"
    assert tr.gettext("LET IN") in r.text


def test_language_from_accept_language_and_cookie(world: World):
    c = world.page_login("gate")
    r = c.get(f"{OPAGE}/gate", headers={"Accept-Language": "ps-AF, en;q=0.5"})
    assert '<html lang="ps" dir="rtl">' in r.text
    c.get("/lang/ar", follow_redirects=False)
    c.cookies.set("evacops_lang", "ar")
    assert '<html lang="ar" dir="rtl">' in c.get(f"{OPAGE}/gate").text
    assert '<html lang="en" dir="ltr">' in c.get(f"{OPAGE}/gate?lang=en").text


def test_a_language_asked_in_the_link_stays_after_a_form(world: World):
    """A link sent to a phone with ``?lang=fa``: the log-in form posts without the query and
    redirects, and the page after it is still in Dari (the link's choice is kept in the
    cookie); a page without ``?lang=`` sets nothing."""
    from tests.test_web_support import PASSWORD

    c = world.client()
    r = c.get("/login?lang=fa")
    assert '<html lang="fa" dir="rtl">' in r.text
    assert "private" in r.headers["cache-control"] or "no-store" in r.headers["cache-control"]
    csrf = re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)
    r = c.post("/login", data={"name": "gate", "password": PASSWORD, "csrf": csrf})
    assert r.status_code == 200 and '<html lang="fa" dir="rtl">' in r.text
    assert '<html lang="fa" dir="rtl">' in c.get(f"{OPAGE}/gate").text
    # an unknown language in the link is ignored, and the cookie kept
    assert '<html lang="fa" dir="rtl">' in c.get(f"{OPAGE}/gate?lang=xx").text
    other = world.client()
    assert "evacops_lang" not in other.get("/login").cookies


def test_every_gate_registration_arrival_message_is_translated(world: World):
    """The gate page's catalog entries are complete in the three other languages."""
    from babel.messages.pofile import read_po

    for lang in ("fa", "ps", "ar"):
        with (i18n.LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as f:
            catalog = read_po(f)
        missing = [m.id for m in catalog if m.id and not m.string]
        assert missing == [], (lang, missing)
        assert len(catalog) > 30


def test_picture_shows_the_apis_numbers(world: World):
    pid = world.ids[0]
    world.as_scan = world.client().post(
        f"/api/v1/operations/{OPERATION}/scans",
        headers=world.auth("gate"),
        json={"payload": world.payload[pid], "site": "Gate A"},
    )
    c = world.page_login("reporter")
    api = (
        world.client()
        .get(f"/api/v1/operations/{OPERATION}/picture", headers=world.auth("reporter"))
        .json()
    )
    page = c.get(f"{OPAGE}/picture").text
    assert re.search(r'data-k="registered">(\d+)<', page).group(1) == str(api["registered"])
    for status, n in api["by_status"].items():
        assert f'<td data-status="{status}">{n}</td>' in page
    assert api["by_status"]["checked-in"] == 1
    today = max(api["per_day"])
    assert api["per_day"][today]["checked_in"] == 1
    row = re.search(rf'<tr data-day="{today}">(.*?)</tr>', page).group(1)
    assert re.findall(r"<td>(\d+)</td>", row)[1] == "1"
    live = c.get(f"{OPAGE}/picture/live")
    assert live.status_code == 200 and "<html" not in live.text and "hx-get" not in live.text


def test_gate_page_is_small_gzipped_and_registers_its_service_worker(world: World):
    c = world.page_login("gate")
    r = c.get(f"{OPAGE}/gate", headers={"Accept-Encoding": "gzip"})
    assert r.headers.get("content-encoding") == "gzip"
    # gate.js is inline (tests/test_web_gate_page.py): the page registers the service worker
    assert 'serviceWorker.register("/sw.js"' in r.text
    sw = c.get("/sw.js")
    assert sw.status_code == 200 and sw.headers["service-worker-allowed"] == "/"
    js = c.get("/static/gate.js").text
    assert "indexedDB" in js and "/devices/" in js and "BarcodeDetector" in js
    total = sum(
        len(c.get(u, headers={"Accept-Encoding": "gzip"}).content)
        for u in (f"{OPAGE}/gate", "/sw.js")
    )
    assert total < 150_000


def test_service_worker_cache_is_named_after_the_files_it_keeps(world: World, tmp_path):
    """Phones drop a cached stylesheet when the server's changes: the worker's cache name is a
    digest of its assets, so other files give another worker (which browsers install)."""
    import re
    import shutil

    from evacops.web.routers import pages

    served = world.client().get("/sw.js").text
    assert "__ASSETS__" not in served
    names = []
    for i, css in enumerate(["body{color:red}", "body{color:red}", "body{color:blue}"]):
        static = tmp_path / f"static{i}"
        shutil.copytree(pages.STATIC, static)
        (static / "style.css").write_text(css, encoding="utf-8")
        names.append(re.search(r'const CACHE = "([^"]+)"', pages._worker(static)).group(1))
    assert names[0] == names[1] != names[2]
    ours = re.search(r'const CACHE = "([^"]+)"', served).group(1)
    assert ours.startswith("evacops-") and ours not in names  # the shipped style.css differs


def test_picture_against_the_scenario_draws_every_site_and_leg(world: World):
    from pathlib import Path

    from evacops.scenario import load

    sc = load(Path(__file__).resolve().parent.parent / "scenarios" / "kabul-2021.yaml")
    world.app.state.scenario = sc
    api = (
        world.client()
        .get(f"/api/v1/operations/{OPERATION}/picture", headers=world.auth("planner"))
        .json()
    )
    assert {n["name"] for n in api["map"]["nodes"]} == {s.name for s in sc.sites}
    assert len(api["map"]["edges"]) == len(sc.legs)
    assert {g["site"] for g in api["gates"]} == {s.name for s in sc.sites if s.kind == "gate"}
    safe = {g["site"]: g["safe"] for g in api["gates"]}
    for s in sc.sites:
        if s.kind == "gate" and s.crowd_area_m2:
            assert safe[s.name] == int(s.crowd_area_m2 * sc.safe_density_per_m2)
    page = world.page_login("planner").get(f"{OPAGE}/picture").text
    # drawn twice: wide for a desktop, in bands for a phone (CSS shows one)
    for layout in ("wide", "narrow"):
        svg = re.search(rf'<div class="map {layout}">(.*?)</svg>', page, re.S).group(1)
        assert svg.count("<circle") == len(sc.sites) and svg.count("<line") == len(sc.legs)
    assert {n["name"] for n in api["map_narrow"]["nodes"]} == {s.name for s in sc.sites}
