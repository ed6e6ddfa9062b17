"""The gate and ramp pages as served (no browser): the gate is one request (its style and script
inline, allowed by hash in its Content-Security-Policy and by nothing else), has the short-code
field, and is complete in Dari, Pashto and Arabic; the ramp's Depart asks a second time. The
browser tests (tests/browser/) drive the same pages in Chromium."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from test_web_support import World

from evacops.web import catalogs, i18n
from evacops.web.inline import STATIC

OP_PAGE = "/o/test-op"


@pytest.fixture
def world(registry_env, admin) -> World:
    return World(registry_env, admin)


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_gate_page_is_one_request_with_its_inline_blocks_allowed_by_hash(world: World):
    page = world.page_login("gate").get(f"{OP_PAGE}/gate")
    assert page.status_code == 200
    html = page.text
    assert not re.search(r"<script[^>]+src=", html), "the gate page loads no script file"
    assert not re.search(r"<link[^>]+stylesheet", html), "the gate page loads no style sheet"
    [script] = re.findall(r"<script>(.*?)</script>", html, re.S)
    [style] = re.findall(r"<style>(.*?)</style>", html, re.S)
    assert script == (STATIC / "gate.js").read_text()
    assert style == (STATIC / "style.css").read_text()
    policy = page.headers["content-security-policy"].split("; ")
    csp = {name: value for name, _, value in (d.partition(" ") for d in policy)}
    assert csp["script-src"] == f"'self' {_sha256(script)}"
    assert csp["style-src"] == f"'self' {_sha256(style)}"
    assert "unsafe-inline" not in page.headers["content-security-policy"]
    # the fields a gate uses: the scanner's field, the short code's, the camera
    for needed in ('id="payload"', 'id="code"', 'id="camera"', 'id="code-form"'):
        assert needed in html
    # another page keeps the site-wide policy (no inline script allowed there)
    other = world.page_login("manifest").get(f"{OP_PAGE}/ramp")
    assert "sha256-" not in other.headers["content-security-policy"]


def _msgids(template: str) -> set[str]:
    text = (STATIC.parent / "templates" / template).read_text()
    return {a or b for a, b in catalogs._MSG.findall(text)}


@pytest.mark.parametrize("lang", ["fa", "ps", "ar"])
def test_gate_and_ramp_strings_are_translated_in_every_language(lang):
    tr = i18n.translations(lang)
    wanted = _msgids("gate.html") | _msgids("ramp.html") | _msgids("base.html")
    untranslated = sorted(m for m in wanted if tr.gettext(m) == m)
    assert untranslated == []
    assert i18n.direction(lang) == "rtl"


@pytest.mark.parametrize("lang", ["fa", "ar"])
def test_gate_page_in_dari_and_arabic_is_right_to_left_and_in_their_script(world: World, lang):
    html = world.page_login("gate").get(f"{OP_PAGE}/gate?lang={lang}").text
    assert f'<html lang="{lang}" dir="rtl">' in html
    # the words on the page, less the site names (the operation's own) and the operation id
    visible = re.sub(
        r"<(script|style|option)\b[^>]*>.*?</\1>|<[^>]+>|test-op", " ", html, flags=re.S
    )
    latin_words = set(re.findall(r"\b[A-Za-z]{4,}\b", visible))
    # what may stay in Latin letters: the product's name and the English language link
    assert latin_words <= {"evacops", "English"}, latin_words
    assert len(re.findall("[\u0600-\u06ff]", visible)) > 200
    # the data-t-* strings the script shows (LET IN, STOP, ...) are translated too
    for attr, text in re.findall(r'data-t-(\w+)="([^"]*)"', html):
        assert re.search("[\u0600-\u06ff]", text), (attr, text)


def test_ramp_depart_needs_a_second_tap(world: World):
    c = world.page_login("manifest")
    html = c.get(f"{OP_PAGE}/ramp?flight=XYZ1").text
    # the first tap opens the question; only the button inside it departs
    details = re.search(r'<details class="confirm" id="depart">(.*?)</details>', html, re.S)
    assert details, "the Depart question is missing"
    assert re.search(r"<summary[^>]*>[^<]*Depart", details.group(1))
    assert 'value="depart"' in details.group(1)
    assert "Depart flight XYZ1 now?" in details.group(1)
    assert html.count('value="depart"') == 1


def test_dari_says_aircraft_with_one_word_everywhere():
    """A term worded one way on one page and another way on the next reads as two things. Dari
    has two words for aircraft (هواپیما, and طیاره as Kabul often says it): the catalog uses one,
    the one it gives for "Aircraft", in every message."""
    tr = i18n.translations("fa")
    words = {"هواپیما", "طیاره"}
    [word] = [w for w in words if w in tr.gettext("Aircraft")]
    other = (words - {word}).pop()
    said = [tr.gettext(m) for m in catalogs.msgids()]
    assert sum(word in s for s in said) > 5
    assert [s for s in said if other in s] == []
