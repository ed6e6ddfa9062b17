"""The admin page's categories in Chromium over the demo operation: a category added and retired
through the htmx forms changes the section in place (no page load), and the registry agrees."""

from __future__ import annotations

from evacops.demo import OPERATION


def test_categories_change_in_place_through_htmx(browser, demo_server, shot):
    ctx = browser.new_context(viewport={"width": 390, "height": 844})
    page = ctx.new_page()
    demo_server.login(page, "admin")
    page.goto(f"{demo_server.url}/o/{OPERATION}/admin")
    page.evaluate("window.__same_page = true")  # gone if the browser loads a page
    page.fill("#categories form.stack input[name=category]", "browser-test")
    page.fill("#categories form.stack input[name=cohort]", "SIV and families")
    page.click("#categories form.stack button")
    page.wait_for_selector("#categories p.ok")
    row = page.locator("#category-list tr", has_text="browser-test")
    row.locator("button[value=category-retire]").click()
    page.wait_for_selector("#category-list tr.retired >> text=browser-test")
    assert page.evaluate("window.__same_page === true")
    assert row.locator("button[value=category-restore]").count() == 1
    shot(page, "admin-categories")
    answer = page.request.get(f"{demo_server.url}/api/v1/operations/{OPERATION}/categories")
    listed = {c["category"]: c for c in answer.json()}
    assert listed["browser-test"]["retired"] is True
    assert listed["browser-test"]["cohort"] == "SIV and families"
    ctx.close()


def test_a_refused_category_form_shows_why_in_the_pages_language(browser, demo_server, shot):
    """htmx swaps no 4xx answer into the page: the section comes back with the refusal as a
    200, and the refusal is worded in the page's language (here Dari, right to left)."""
    ctx = browser.new_context(viewport={"width": 390, "height": 844})
    page = ctx.new_page()
    demo_server.login(page, "admin")
    page.goto(f"{demo_server.url}/lang/fa")
    page.goto(f"{demo_server.url}/o/{OPERATION}/admin")
    page.evaluate("window.__same_page = true")
    page.fill("#categories form.stack input[name=category]", "browser-twice")
    page.fill("#categories form.stack input[name=cohort]", "SIV and families")
    page.click("#categories form.stack button")
    page.wait_for_selector("#categories p.ok")
    page.fill("#categories form.stack input[name=category]", "browser-twice")
    page.fill("#categories form.stack input[name=cohort]", "SIV and families")
    page.click("#categories form.stack button")
    error = page.wait_for_selector("#categories p.error")
    assert error.inner_text() == "این دسته از قبل وجود دارد."
    assert page.evaluate("window.__same_page === true")
    shot(page, "admin-categories-refused-fa")
    ctx.close()


def test_a_phone_shows_every_devices_revoke_button_without_scrolling(browser, demo_server, shot):
    """Revoking a lost gate phone is urgent: on a phone (390 px wide) every Revoke button of the
    devices table is on the screen as the page opens, left to right and right to left, with no
    sideways scrolling of the table (it hid them past its edge, before)."""
    ctx = browser.new_context(viewport={"width": 390, "height": 844})
    page = ctx.new_page()
    demo_server.login(page, "admin")
    for lang in ("en", "fa"):
        page.goto(f"{demo_server.url}/lang/{lang}")
        page.goto(f"{demo_server.url}/o/{OPERATION}/admin")
        buttons = page.locator("#devices button")
        assert buttons.count() >= 2
        for i in range(buttons.count()):
            box = buttons.nth(i).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, (lang, box)
        table = page.locator("#devices")
        assert table.evaluate("t => t.scrollWidth <= t.clientWidth + 1"), lang
        shot(page, f"admin-devices-{lang}")
    ctx.close()
