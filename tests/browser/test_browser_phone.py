"""Every page on a phone (390 px wide), left to right and right to left: nothing wider than the
screen and no button, field or link past its edge as the page opens, so that no action (merge a
duplicate, revoke a device, board) needs sideways scrolling to be found. Over the demo
operation, as the admin (who may open every page), with the ramp and arrival pages on a flight
too. Before, the duplicates queue hid its Merge and Not a duplicate buttons past the edge, and
the admin page every device's Revoke button."""

from __future__ import annotations

import pytest

from evacops.demo import OPERATION as OP

PHONE = {"width": 390, "height": 844}

#: what is past the screen's edge: tables, preformatted text and scroll boxes wider than they
#: are shown, controls outside the viewport, a page wider than the screen
_PAST_THE_EDGE = """() => {
  const out = [];
  const W = window.innerWidth;
  document.querySelectorAll('main table, main pre, main .scroll').forEach(t => {
    if (t.scrollWidth > t.clientWidth + 1)
      out.push(`${t.tagName.toLowerCase()}#${t.id} ${t.scrollWidth} px in ${t.clientWidth}`);
  });
  document.querySelectorAll('main button, main input, main select, main textarea, main a')
    .forEach(b => {
      const r = b.getBoundingClientRect();
      if (r.width > 0 && r.height > 0 && (r.left < -1 || r.right > W + 1))
        out.push(`${b.tagName.toLowerCase()} "${(b.innerText || b.name || '').slice(0, 30)}" `
                 + `at ${Math.round(r.left)}..${Math.round(r.right)}`);
    });
  if (document.documentElement.scrollWidth > W + 1)
    out.push(`page ${document.documentElement.scrollWidth} px wide`);
  return out;
}"""


def _paths(demo) -> list[str]:
    from evacops.web.pages import NAV

    paths = [path for _key, path, _perm, _label in NAV]
    flown = next(f for f in demo.flights if f.status != "manifested")
    manifested = next(f for f in demo.flights if f.status == "manifested")
    return [*paths, f"ramp?flight={manifested.code}", f"arrival?flight={flown.code}"]


@pytest.mark.parametrize("lang", ["en", "fa"])
def test_no_page_needs_sideways_scrolling_on_a_phone(browser, demo_server, shot, lang):
    ctx = browser.new_context(viewport=PHONE)
    page = ctx.new_page()
    demo_server.login(page, "admin")
    page.goto(f"{demo_server.url}/lang/{lang}")
    past = {}

    def look(where: str) -> None:
        found = page.evaluate(_PAST_THE_EDGE)
        if found:
            past[where] = found[:5]

    for path in _paths(demo_server.demo):
        page.goto(f"{demo_server.url}/o/{OP}/{path}")
        look(path)
        if path == "admin":  # revoking a lost gate phone is urgent: its buttons are there
            assert page.locator("#devices button").count() >= 2
        if path == "dedup":
            assert page.locator("#queue button").count() >= 2  # the queue has rows to show
            shot(page, f"dedup-phone-{lang}")
            # the first pair's two records side by side
            page.locator("#queue a.compare").first.click()
            page.wait_for_selector("#pair")
            look(page.url)
            shot(page, f"dedup-pair-phone-{lang}")
    ctx.close()
    assert not past, past
