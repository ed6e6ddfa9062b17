"""Refusals in every language: each refusal the registry gives a gate, the ramp or arrival has a
stable ``code`` (and the non-personal ``params`` its words need); the API sends them beside its
English ``detail``, and the pages word them in the page's language (Dari, Pashto, Arabic: right
to left). SQLite, and PostgreSQL when EVACOPS_TEST_DATABASE_URL is set. Generated people only."""

from __future__ import annotations

import ast
import json
import re
from html import unescape
from pathlib import Path

import pytest
from conftest import OPERATION
from test_web_support import World, csrf_of

from evacops.registry import credentials as creds
from evacops.registry.services import sync
from evacops.web import i18n, refusals

ROOT = Path(__file__).resolve().parents[1]
API = f"/api/v1/operations/{OPERATION}"
PAGE = f"/o/{OPERATION}"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _codes_raised(paths=None) -> set[str]:
    """Every literal code the registry gives an error (``code="..."``, ``"a" if x else "b"``) or
    a device's answer (``{"code": "..."}``), in ``paths`` (default: all of the registry)."""
    found: set[str] = set()
    for path in paths or (ROOT / "evacops" / "registry").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            values: list[ast.AST] = []
            if isinstance(node, ast.keyword) and node.arg == "code":
                values = [node.value]
            elif isinstance(node, ast.Dict):
                values = [v for k, v in zip(node.keys, node.values, strict=True)
                          if isinstance(k, ast.Constant) and k.value == "code"]  # fmt: skip
            for v in values:
                options = [v.body, v.orelse] if isinstance(v, ast.IfExp) else [v]
                found |= {o.value for o in options
                          if isinstance(o, ast.Constant) and isinstance(o.value, str)}  # fmt: skip
    return found


def test_every_refusal_code_has_words_in_every_language():
    raised = _codes_raised() | {f"credential-{r.value}" for r in creds.Reason}
    assert {"already-boarded", "not-on-manifest", "wrong-site", "shredded"} <= raised
    assert raised - set(refusals.MESSAGES) == set()
    conflicts = {"conflict-" + k for k in sync.CONFLICT_KINDS}
    assert conflicts - set(refusals.MESSAGES) == set()
    for lang in ("fa", "ps", "ar"):
        tr = i18n.translations(lang)
        for code, msgid in refusals.MESSAGES.items():
            words = tr.gettext(msgid)
            assert words != msgid, (lang, code)
            assert re.search("[\u0600-\u06ff]", words), (lang, code)
            # the same values go in, each once
            assert sorted(PLACEHOLDER.findall(words)) == sorted(PLACEHOLDER.findall(msgid))


def test_no_scan_gives_a_refusal_the_gate_page_does_not_carry():
    """The gate page leaves out the admin page's own refusals (refusals.ADMIN_CODES): no code
    a scan, a sync, a manifest, boarding, arrival or roll-call can give is one of them."""
    services = ROOT / "evacops" / "registry" / "services"
    scanning = ["movements", "sync", "manifests", "rollcall", "gate_view", "credentials",
                "context"]  # fmt: skip
    codes = _codes_raised([services / f"{name}.py" for name in scanning])
    assert {"already-boarded", "wrong-site", "code-ambiguous"} <= codes  # the walk finds them
    assert codes & refusals.ADMIN_CODES == set()


def test_words_fall_back_to_english_for_an_unknown_code_or_a_missing_value():
    ar = i18n.translations("ar").gettext
    assert refusals.text(ar, "no-such-code", {}, "english") == "english"
    assert refusals.text(ar, "flight-full", {"flight": "EV9"}, "english") == "english"
    full = refusals.text(ar, "flight-full", {"flight": "EV9", "seats": 50}, "english")
    assert "EV9" in full and "50" in full and re.search("[\u0600-\u06ff]", full)


@pytest.fixture
def world(registry_env, admin) -> World:
    return World(registry_env, admin)


def _problem(r) -> dict:
    assert r.headers["content-type"] == "application/problem+json", r.text
    return r.json()


def _flight(world: World, code: str, seats: int = 20) -> None:
    r = world.client().post(
        f"{API}/flights",
        headers=world.auth("admin"),
        json={"code": code, "origin": "HKIA", "destination": "Al Udeid", "seats": seats},
    )
    assert r.status_code == 200, r.text


def _who(html: str) -> str:
    """The words of the page's STOP answer."""
    m = re.search(r'<div class="answer stop"[^>]*>.*?<span class="who">(.*?)</span>', html, re.S)
    assert m, html[:2000]
    return unescape(m.group(1))


def test_api_refusals_carry_a_code_and_params_beside_the_english_detail(world: World):
    pid, other = world.ids[0], world.ids[1]
    world.admin.scan(OPERATION, world.payload[pid], "gate-in", site="HKIA")
    _flight(world, "EV1")
    world.admin.build_manifest(OPERATION, "EV1")
    mf = world.auth("manifest")
    board = {"payload": world.payload[other], "action": "board", "flight": "EV1"}
    # not checked in: the site to check in at
    body = _problem(world.client().post(f"{API}/scans", headers=mf, json=board))
    assert body["code"] == "not-checked-in" and body["params"] == {"site": "HKIA"}
    assert "check in at HKIA first" in body["detail"]
    # boarded, then the same credential again under another scan: single use
    board["payload"] = world.payload[pid]
    board["override"] = "escort"
    assert world.client().post(f"{API}/scans", headers=mf, json=board).status_code == 200
    again = world.client().post(
        f"{API}/scans", headers={**mf, "Idempotency-Key": "other"}, json=board
    )
    body = _problem(again)
    assert again.status_code == 409 and body["code"] == "already-boarded"
    assert "params" not in body  # its words need no value
    assert "used for boarding already" in body["detail"]
    # a gate device at another site than its own
    device, token = world.admin.enrol_device(OPERATION, "Gate A", "gate", "refusal tablet")
    r = world.client().post(
        f"{API}/scans",
        headers={"Authorization": f"Bearer {token}"},
        json={"payload": world.payload[world.ids[2]], "site": "Gate B"},
    )
    body = _problem(r)
    assert r.status_code == 403 and body["code"] == "wrong-site"
    assert body["params"] == {"enrolled": "Gate A", "site": "Gate B"}
    # a device's offline batch: a scan that is not a credential says why by code too
    r = world.client().post(
        f"{API}/devices/{device}/scans",
        headers={"Authorization": f"Bearer {token}"},
        json={"scans": [{"seq": 1, "payload": "EVC1:NOTACREDENTIAL", "action": "gate-in",
                         "at": "2026-01-01T00:00:00+00:00"}]},
    )  # fmt: skip
    [answer] = r.json()["answers"]
    assert answer["outcome"] == "invalid" and answer["code"] == "credential-malformed"


@pytest.mark.parametrize("lang", ["ar", "fa"])
def test_ramp_and_arrival_show_refusals_in_the_page_language_right_to_left(world: World, lang):
    tr = i18n.translations(lang).gettext
    pid, other = world.ids[3], world.ids[4]
    for p in (pid, other):
        world.admin.scan(OPERATION, world.payload[p], "gate-in", site="HKIA")
    _flight(world, "EV2")
    _flight(world, "EV3")
    c = world.page_login("manifest")
    c.cookies.set("evacops_lang", lang)
    # the ramp: a person not on the flight's manifest (none was built)
    form = {"csrf": csrf_of(c), "flight": "EV2", "do": "board", "payload": world.payload[pid]}
    r = c.post(f"{PAGE}/ramp", data=form)
    assert r.status_code == 422 and f'<html lang="{lang}" dir="rtl">' in r.text
    want = tr(refusals.MESSAGES["not-on-manifest"]) % {"flight": "EV2"}
    assert _who(r.text) == want and "EV2" in want
    assert "not on the manifest" not in r.text  # the English words are not shown
    # boarded with a reason, then again: single use, in the page's language
    form["override"] = "escort"
    assert c.post(f"{PAGE}/ramp", data=form).status_code == 200
    form["flight"] = "EV3"
    r = c.post(f"{PAGE}/ramp", data=form)
    assert _who(r.text) == tr(refusals.MESSAGES["already-boarded"])
    # arrival: deplaning from a flight that has not left
    form = {"csrf": csrf_of(c), "flight": "EV3", "do": "deplane", "payload": world.payload[other]}
    r = c.post(f"{PAGE}/arrival", data=form)
    assert _who(r.text) == tr(refusals.MESSAGES["flight-not-departed"]) % {"flight": "EV3"}
    # an unknown flight opened on the ramp
    r = c.get(f"{PAGE}/ramp?flight=NOPE1")
    assert tr(refusals.MESSAGES["unknown-flight"]) % {"flight": "NOPE1"} in unescape(r.text)


def test_the_gate_page_carries_every_refusal_in_its_language(world: World):
    html = world.page_login("gate").get(f"{PAGE}/gate?lang=ps").text
    m = re.search(r"data-refusals='([^']*)'", html)
    assert m, "the gate page has no refusals for its script"
    words = json.loads(unescape(m.group(1)))
    tr = i18n.translations("ps").gettext
    pages_own = refusals.ADMIN_CODES | refusals.REPLAN_CODES
    gates = {code: msgid for code, msgid in refusals.MESSAGES.items()
             if code not in pages_own}  # fmt: skip
    assert words == {code: tr(msgid) for code, msgid in gates.items()}
    # the admin page's and the picture's own refusals are not carried: codes the admin's forms
    # and a failed re-plan give, all listed
    assert set(refusals.MESSAGES) >= pages_own and "user-exists" in refusals.ADMIN_CODES
    assert "schedule-site-closed" in refusals.REPLAN_CODES
    assert not pages_own & set(words)
