"""The operation picture with a plan attached, on a phone, in Chromium: the plan's flights per
day beside the flights flown, and the plan's people at each staging base beside the people
there, fit a 390 px screen left to right and right to left (the Kabul scenario's long base names
and five-digit numbers); the chart of a short plan keeps its date labels apart. The shared demo
server has no plan (a test there checks a what-if is refused without one), so this test builds
its own small demo and attaches a plan outline to it (counts only). The gate page of the same
demo shows the plan's call-forward for the site chosen on it."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta

import pytest

from evacops.demo import OPERATION as OP
from tests.browser.conftest import SERVER_START_S, DemoServer
from tests.browser.test_browser_phone import _PAST_THE_EDGE, PHONE


def _one_period(people: int) -> list[int]:
    return [people if k in (29, 30) else 1 for k in range(48)]


@pytest.fixture(scope="module")
def planned_demo(tmp_path_factory):
    from evacops.demo import build_demo, served
    from evacops.registry import open_registry
    from evacops.scenario import load

    folder = tmp_path_factory.mktemp("plan-demo")
    demo = build_demo(f"sqlite:///{folder / 'demo.db'}", folder / "keys" / "master.key", people=60)
    bases = [s.name for s in load(demo.scenario).sites if s.kind == "staging"]
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = now - timedelta(hours=30)
    soon = (now + timedelta(hours=1)).isoformat()
    days = [(start.date() + timedelta(days=i)).isoformat() for i in range(3)]
    outline = {
        "name": "phone-plan",
        "daily_out": dict.fromkeys(days, 12345),
        # flights with people on each of the three days
        "departures": [
            [(start + timedelta(hours=h)).isoformat(), "HKIA", "Al Udeid", f"RCH{h}", 380]
            for h in range(2, 72, 6)
        ],
        # the next hour's call-forward to two gates, from two assembly points
        "call_forward": [
            [soon, "Abbey Gate", "Kabul city", "US citizens", 300],
            [soon, "North Gate", "SIV pick-up points", "SIV and families", 120],
        ],
        # 48 periods from 30 h ago; the 30th has ended by now (the 31st too if the hour turns
        # before the page is read): each base's value there is 10000 + its place in the list,
        # 1 elsewhere, so the page's figure names the period it was read from
        "occupancy": {
            "start": start.isoformat(),
            "period_h": 1,
            "sites": {b: _one_period(10_000 + i) for i, b in enumerate(bases)},
        },
    }
    planner = open_registry(demo.settings, *demo.logins["planner"])
    try:
        planner.attach_plan(OP, outline, first_day=start.date())
    finally:
        planner.engine.dispose()
    log = folder / "server.log"
    with served(demo, log=log, timeout_s=SERVER_START_S) as url:
        yield DemoServer(url, demo, log), bases


@pytest.mark.parametrize("lang", ["en", "fa", "ar"])
def test_flights_and_bases_against_the_plan_fit_a_phone(browser, planned_demo, shot, lang):
    server, bases = planned_demo
    ctx = browser.new_context(viewport=PHONE)
    page = ctx.new_page()
    server.login(page, "planner")
    page.goto(f"{server.url}/o/{OP}/picture?lang={lang}")
    assert page.evaluate(_PAST_THE_EDGE) == []
    assert page.locator("#plan-vs-actual [data-planned-flights]").count() >= 3
    assert page.locator("#plan-vs-actual [data-actual-flights]").count() >= 3
    for i, b in enumerate(bases):
        cell = page.locator(f'#staging tr[data-base="{b}"] [data-planned-now]')
        assert cell.inner_text() == str(10_000 + i)
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:00 UTC", page.locator("#staging").evaluate(
        "t => t.previousElementSibling.innerText"))  # fmt: skip
    # the chart's date labels side by side, none over another (a three-day plan's chart is
    # drawn at its own size, not stretched across the screen)
    labels = page.locator(".chart svg g text").evaluate_all(
        "ts => ts.map(t => { const r = t.getBoundingClientRect(); return [r.left, r.right]; })"
    )
    labels.sort()
    assert labels and all(a[1] <= b[0] for a, b in itertools.pairwise(labels))
    assert page.locator(".chart svg").bounding_box()["width"] <= 200
    shot(page, f"picture-plan-phone-{lang}")
    ctx.close()


def test_the_gate_page_shows_the_chosen_sites_call_forward(browser, planned_demo, shot):
    """A gate team sees the plan's calls to its own gate; at an assembly point, the people
    called from there; at the airport, every call; a gate the plan calls nobody to says so."""
    server, _ = planned_demo
    ctx = browser.new_context(viewport=PHONE)
    page = ctx.new_page()
    server.login(page, "gate")
    page.goto(f"{server.url}/o/{OP}/gate")
    rows = page.locator("#calls tr[data-gate]:visible")
    for site, shown in [
        ("Abbey Gate", ["Abbey Gate"]),
        ("North Gate", ["North Gate"]),
        ("Kabul city", ["Abbey Gate"]),  # an assembly point: who is called from there
        ("SIV pick-up points", ["North Gate"]),
        ("HKIA", ["Abbey Gate", "North Gate"]),
        ("East Gate", []),
    ]:
        page.select_option("#site", site)
        assert [r.get_attribute("data-gate") for r in rows.all()] == shown, site
        assert page.locator("#calls-none").is_visible() == (not shown), site
        assert page.locator("#calls").is_visible() == bool(shown), site  # its head row too
    # the choice is kept over a reload, and so is what it shows
    page.select_option("#site", "North Gate")
    page.reload()
    assert [r.get_attribute("data-gate") for r in rows.all()] == ["North Gate"]
    shot(page, "gate-call-forward-north-gate")
    ctx.close()
