"""Accessibility in Chromium: axe-core finds no serious or critical violation (issue 21).

axe-core is pinned in ``tests/e2e/package.json`` / ``package-lock.json`` and installed by
``make install`` (``npm ci`` in tests/e2e). Every portal page a client owner and a client
viewer reach from the navbar (the same discovery as ``test_every_page_browser``; a Pro
and a white-label Enterprise owner), the portal's ticket page and an owner's "Open a
ticket" form, and for staff (admin, operator) the dashboard, the ticket list and a ticket
page are checked against WCAG 2.0/2.1 A and AA at 1440 px wide, the client pages also at
390 px (the collapsed navbar), in English and in Portuguese (the browser's language).
One test per user and language; a failure lists each violation's
rule, impact, help text and the selectors of the elements at fault.

The pages send a strict Content-Security-Policy (no inline script); axe is injected into
a browser context made with ``bypass_csp=True``, here only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.e2e.test_every_page_browser import _menu_links
from tests.e2e.test_portal_browser import _login, browser, live_url  # noqa: F401 - fixtures

E2E = Path(__file__).parent
AXE = E2E / "node_modules" / "axe-core" / "axe.min.js"
PINNED = json.loads((E2E / "package.json").read_text())["dependencies"]["axe-core"]
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = ("serious", "critical")
CLIENTS = ("pro-co-owner", "pro-co-viewer", "enterprise-co-owner")
STAFF = ("admin", "operator")
RUN_AXE = """async (tags) => {
    const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
    return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
        targets: v.nodes.map(n => n.target.join(' '))}));
}"""


@pytest.fixture(scope="module")
def axe_source():
    """axe.min.js from tests/e2e/node_modules, at the pinned version."""
    if not AXE.exists():
        message = f"axe-core is not installed at {AXE} (make install, or: cd tests/e2e && npm ci)"
        if os.environ.get("ATRIUM_REQUIRE_BROWSER") == "1":
            pytest.fail(f"ATRIUM_REQUIRE_BROWSER=1 but {message}")
        pytest.skip(f"Accessibility test skipped: {message}")
    installed = json.loads((AXE.parent / "package.json").read_text())["version"]
    assert installed == PINNED, f"axe-core {installed} installed, {PINNED} pinned: run npm ci in tests/e2e"
    return AXE.read_text()


def _audit(page, url: str, axe_source: str) -> list[dict]:
    page.goto(url, wait_until="load")
    page.wait_for_timeout(150)  # the navbar's counts fetch and charts start by then
    page.add_script_tag(content=axe_source)
    return page.evaluate(RUN_AXE, TAGS)


def _blocking(found: list[dict], who: str, width: int, path: str) -> list[str]:
    return [f"{who} @{width}px {path}: {v['id']} ({v['impact']}) {v['help']} -> {v['targets']}"
            for v in found if v["impact"] in BLOCKING]


def _first_link(page, selector: str) -> str:
    href = page.get_attribute(selector, "href")
    assert href, selector
    return href


def _pages(page, base: str, user: str) -> tuple[list[str], tuple[int, ...]]:
    """The paths to check for ``user`` (signed in on ``page``) and the widths to check them at."""
    if user in CLIENTS:
        paths = _menu_links(page)
        assert len(paths) >= 5, (user, paths)
        page.goto(f"{base}/portal/tickets/list/")
        paths.append(_first_link(page, "a[href*='/portal/tickets/show/']"))
        if user.endswith("-owner"):
            paths.append("/portal/tickets/add")  # the form a client opens a ticket with (viewers cannot)
        return paths, (1440, 390)
    page.goto(f"{base}/ticketview/list/")
    return ["/", "/ticketview/list/", _first_link(page, "a[href*='/ticketview/show/']")], (1440,)


@pytest.mark.parametrize("locale", ["en-US", "pt-BR"])
@pytest.mark.parametrize("user", CLIENTS + STAFF)
def test_axe_finds_no_serious_or_critical_violation(axe_source, browser, live_url, user, locale):  # noqa: F811
    context = browser.new_context(viewport={"width": 1440, "height": 900}, bypass_csp=True, locale=locale)
    try:
        page = context.new_page()
        _login(page, live_url, user)
        paths, widths = _pages(page, live_url, user)
        problems = []
        for width in widths:
            page.set_viewport_size({"width": width, "height": 900})
            for path in paths:
                problems += _blocking(_audit(page, f"{live_url}{path}", axe_source), user, width, path)
    finally:
        context.close()
    assert problems == [], f"{len(problems)} serious/critical axe-core {PINNED} violations:\n" + "\n".join(problems)
