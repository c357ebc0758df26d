"""Every menu page, as each kind of user sees it, in Chromium (issue 21).

For each staff role and for a client owner and viewer (and an Enterprise owner), in
English and in Brazilian Portuguese (the browser's language; the test clients have no
default of their own), every link of the navbar is opened at 1440 and at 390 px wide. A page fails the test on a
console error, a Content-Security-Policy violation, a request to another origin, or an
answer of 400 or more. A screenshot of each lands in
``tests/e2e/screenshots/pages/`` (the viewport, not the full page) for a person to look at.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from tests.e2e.test_portal_browser import SHOTS, _login, browser, live_url  # noqa: F401 - fixtures

USERS = ("admin", "operator", "developer", "pro-co-owner", "pro-co-viewer", "enterprise-co-owner")
LANGUAGES = {"en": "en-US", "pt_BR": "pt-BR"}  # Atrium's code -> the browser's locale
SKIP = re.compile(r"/logout|/lang/|^#|javascript:")
WATCH_CSP = """document.addEventListener('securitypolicyviolation', e =>
    (window.__atrium_csp = window.__atrium_csp || []).push(e.violatedDirective + ' ' + e.blockedURI));"""


def _menu_links(page) -> list[str]:
    hrefs = page.eval_on_selector_all(".navbar a[href]", "links => links.map(a => a.getAttribute('href'))")
    return sorted({h for h in hrefs if h and not SKIP.search(h)})


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("user", USERS)
def test_every_menu_page_opens_clean_at_both_widths(browser, live_url, user, language):  # noqa: F811 - fixtures
    pages_dir = SHOTS / "pages"
    pages_dir.mkdir(parents=True, exist_ok=True)
    origin = urlsplit(live_url).netloc
    problems, opened = [], 0
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale=LANGUAGES[language])
    context.add_init_script(WATCH_CSP)
    page = context.new_page()
    seen = {"console": [], "foreign": [], "failed": []}
    page.on("console", lambda msg: seen["console"].append(msg.text) if msg.type == "error" else None)
    page.on("request", lambda req: seen["foreign"].append(req.url)
            if urlsplit(req.url).netloc not in (origin, "") and not req.url.startswith("data:") else None)
    page.on("response", lambda res: seen["failed"].append(f"{res.status} {res.url}") if res.status >= 400 else None)
    _login(page, live_url, user)
    assert page.get_attribute("html", "lang") == LANGUAGES[language].replace("-US", "")
    links = _menu_links(page)
    assert len(links) >= (5 if "co-" in user else 12), (user, links)
    for width in (1440, 390):
        page.set_viewport_size({"width": width, "height": 900})
        for href in links:
            for key in seen:
                seen[key].clear()
            page.goto(f"{live_url}{href}", wait_until="load")
            page.wait_for_timeout(150)  # the navbar's counts fetch and charts start by then
            csp = page.evaluate("window.__atrium_csp || []")
            name = re.sub(r"[^a-z0-9]+", "-", href.lower()).strip("-") or "home"
            page.screenshot(path=str(pages_dir / f"{language}-{user}-{width}-{name}.png"))
            opened += 1
            found = {k: list(v) for k, v in seen.items() if v}
            if csp:
                found["csp"] = csp
            if found:
                problems.append((width, href, found))
    context.close()
    assert problems == [] and opened >= 10, problems[:10]
