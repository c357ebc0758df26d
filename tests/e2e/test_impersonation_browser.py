""""View as" in a real browser (Playwright driving Debian's Chromium, headless).

The operator opens the client members list, clicks "View as" on basic-co-owner, gives a
reason and starts read-only: every page shows the banner with both identities and the
time left, the portal is the client's, a write is refused with a message, and End
returns to the operator's page. Screenshots land in ``tests/e2e/screenshots/``.
"""

import re

from tests.e2e.test_portal_browser import SHOTS, _login, browser, live_url  # noqa: F401 - fixtures


def test_operator_views_as_a_client_and_ends(browser, live_url):  # noqa: F811 - fixtures
    SHOTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _login(page, live_url, "operator")

    page.goto(f"{live_url}/clientmemberview/list/?psize_ClientMemberView=100")
    row = page.locator("tr", has_text="basic-co-owner")
    row.locator("a.atrium-view-as").click()
    page.wait_for_load_state("networkidle")
    assert "View Atrium as basic-co-owner" in page.content()
    page.fill("#reason", "Client reports an empty dashboard, ticket follow-up")
    page.click("form:has(#reason) button[type=submit]")
    page.wait_for_load_state("networkidle")

    banner = page.locator("#impersonation-banner")
    assert banner.is_visible()
    text = banner.inner_text()
    assert "Viewing as basic-co-owner" in text and "operator" in text and "read-only" in text
    assert re.search(r"\d+ min left", text)
    assert page.url.rstrip("/").endswith("/portal")
    assert "Basic Co" in page.inner_text("h2")
    page.screenshot(path=str(SHOTS / "view-as-banner.png"), full_page=True)

    # Another page keeps the banner; a write is refused with a message.
    page.goto(f"{live_url}/portal/tickets/add")
    assert page.locator("#impersonation-banner").is_visible()
    page.fill("#subject", "Should not be created")
    page.fill("#description", "Read-only view-as must refuse this.")
    page.locator("form:has(#subject) [type=submit]").first.click()
    page.wait_for_load_state("networkidle")
    assert "Read-only view: you are viewing as basic-co-owner" in page.inner_text("#error-message")
    assert page.locator("#impersonation-banner").is_visible()  # the refusal keeps the way out
    page.screenshot(path=str(SHOTS / "view-as-write-refused.png"), full_page=True)

    page.locator("#impersonation-banner button, #impersonation-banner input[type=submit]").first.click()
    page.wait_for_load_state("networkidle")
    assert page.locator("#impersonation-banner").count() == 0
    assert "/clientmemberview/list" in page.url
    page.screenshot(path=str(SHOTS / "view-as-ended.png"), full_page=True)
    assert errors == []
