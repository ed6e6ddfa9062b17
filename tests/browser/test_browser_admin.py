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
