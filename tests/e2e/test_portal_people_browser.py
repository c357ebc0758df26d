"""Issue 16 in a real browser: the portal's ticket, files and team pages as an owner and
as a viewer, screenshotted to /tmp for a person to look at. What the browser sees is
checked too: the owner's "+" buttons are the upload and invite, the viewer has none."""

import re

from tests.e2e.test_portal_browser import _login, browser, live_url  # noqa: F401 - fixtures

PAGES = {"tickets": "/portal/tickets/list/", "files": "/portal/files/list/", "team": "/portal/team/list/"}


def test_portal_pages_as_owner_and_viewer(browser, live_url):  # noqa: F811
    for who in ("pro-co-owner", "pro-co-viewer", "free-co-owner"):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        _login(page, live_url, who)
        for name, path in PAGES.items():
            page.goto(live_url + path)
            page.wait_for_load_state("networkidle")
            page.screenshot(path=f"/tmp/portal-{who}-{name}.png", full_page=True)
            add = page.locator("#portal-add")
            if who == "pro-co-viewer":
                assert add.count() == 0 and page.locator("i.fa-edit, a[data-delete-url]").count() == 0
            elif who == "pro-co-owner":
                expected = {"tickets": "/portal/tickets/add", "files": "/portal/files/upload",
                            "team": "/portal/team/invite"}[name]
                assert add.get_attribute("href") == expected
        page.goto(live_url + PAGES["tickets"])
        show = page.locator("a[href*='/portal/tickets/show/']").first
        show.click()
        page.wait_for_load_state("networkidle")
        assert re.search(r"/portal/tickets/show/\d+$", page.url)
        page.screenshot(path=f"/tmp/portal-{who}-ticket.png", full_page=True)
        context.close()
