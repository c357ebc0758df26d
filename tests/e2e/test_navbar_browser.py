"""One navbar row for every role at 1280 and 1440 px, in English and in the longer Portuguese, and
a collapsed menu on a phone (issue 21): the navbar's height is measured in Chromium, with
no console error on the page."""

from __future__ import annotations

import pytest

from tests.e2e.test_portal_browser import _login, browser, live_url  # noqa: F401 - fixtures

PAGES = {"admin": "/ticketview/list/", "operator": "/support/queues/mine", "developer": "/monitorview/list/",
         "pro-co-owner": "/portal/", "pro-co-viewer": "/portal/tickets/list/", "enterprise-co-owner": "/portal/"}


@pytest.mark.parametrize("locale", ["en-US", "pt-BR"])
@pytest.mark.parametrize("width", [1280, 1440, 390])
def test_the_navbar_is_one_row(browser, live_url, width, locale):  # noqa: F811 - fixtures
    heights, errors = {}, []
    for user, path in PAGES.items():
        context = browser.new_context(viewport={"width": width, "height": 800}, locale=locale)
        page = context.new_page()
        page.on("console", lambda msg: errors.append((msg.type, msg.text)) if msg.type == "error" else None)
        _login(page, live_url, user)
        page.goto(f"{live_url}{path}")
        page.wait_for_load_state("networkidle")
        heights[user] = page.evaluate("document.querySelector('.navbar').getBoundingClientRect().height")
        context.close()
    assert {u: h for u, h in heights.items() if h > 60} == {} and errors == []
