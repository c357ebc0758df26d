"""The Content-Security-Policy in a real browser (Playwright driving Debian's Chromium):
every page type, as an Admin, as an Operator viewing as a client and as a client user,
with the console listened to. The policy must refuse nothing the pages need (no CSP
violation, no script error) and nothing may be fetched from another origin, while the
pages still work: list search, add/edit forms with select2 drop-downs and date pickers,
the delete confirmation, show pages, the jobs console, the Business dashboard's charts,
Swagger UI, the view-as banner, the portal's charts and forms, error pages.

Served on loopback from a seeded SQLite database, with the same headers as production
(HSTS aside). Screenshots land in ``tests/e2e/screenshots/``.
"""

import re
from urllib.parse import urlsplit


from tests.e2e.test_portal_browser import SHOTS, _login, browser, live_url  # noqa: F401 - fixtures

# Records what the page's own CSP refused, from before any page script runs (init scripts
# are not subject to the page's policy).
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(
    e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' ' + (e.sourceFile || '') + ':' + (e.lineNumber || '')));
"""


class Watcher:
    """Console errors and warnings, page errors, CSP violations and foreign requests."""

    def __init__(self, page, base):
        self.page, self.host = page, urlsplit(base).netloc
        self.problems = []
        self.error_pages = set()  # documents the test expects to answer 4xx
        page.add_init_script(RECORD_VIOLATIONS)
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"page error on {page.url}: {exc}"))
        page.on("request", self._request)

    def _console(self, message):
        source = (message.location or {}).get("url", "")
        if source.endswith("/favicon.ico") or source in self.error_pages:
            return  # the browser's guess at an icon (there is none); a 404 the test asked for
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type} on {self.page.url}: {message.text}")

    def _request(self, request):
        parts = urlsplit(request.url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.netloc != self.host:
            self.problems.append(f"request to another origin from {self.page.url}: {request.url}")

    def visit(self, url, shot=None):
        response = self.page.goto(url)
        self.page.wait_for_load_state("networkidle")
        assert response.status == 200, f"{url} answered {response.status}"
        self.check(shot)
        return response

    def check(self, shot=None):
        violations = self.page.evaluate("window.__csp || []")
        self.problems.extend(f"CSP refused on {self.page.url}: {v}" for v in violations)
        if shot:
            self.page.screenshot(path=str(SHOTS / f"csp-{shot}.png"), full_page=True)

    def assert_clean(self):
        assert self.problems == [], "\n".join(self.problems)


def _page(browser, base):  # noqa: F811 - the fixture
    SHOTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    return page, Watcher(page, base)


def _first_id(page, base, list_path, view):
    page.goto(f"{base}{list_path}")
    link = page.locator(f"a[href*='/{view}/show/']").first
    return re.search(rf"/{view}/show/(\d+)", link.get_attribute("href")).group(1)


def test_staff_pages_run_under_the_csp(browser, live_url):  # noqa: F811 - fixtures
    base = live_url
    page, watch = _page(browser, base)
    page.goto(f"{base}/login/")
    watch.check("login")
    _login(page, base, "admin")
    watch.check("dashboard")

    # A list with its search form: add a filter through FAB's inline filter script.
    watch.visit(f"{base}/ticketview/list/", "ticket-list")
    page.click("a.accordion-toggle[href='#accordion1_href']")  # open the Search panel (bootstrap)
    # Each step waits for the one before to have finished (bootstrap animates the panel and
    # the menu; under a loaded CI machine a click could land mid-animation).
    page.wait_for_selector("#accordion1_href.in", state="visible")
    page.click("#filter_form button.dropdown-toggle")
    page.wait_for_selector("#filter_form a.filter[name=status]", state="visible")
    page.click("#filter_form a.filter[name=status]")
    page.wait_for_selector("table.filters tr .select2-container", timeout=10000)  # a row, made by script

    # Add form: select2 drop-downs and a date picker.
    watch.visit(f"{base}/projectview/add", "project-add")
    assert page.locator(".select2-container").count() >= 3  # select2 replaced the plain selects
    page.click("#client + .select2-container .select2-selection")
    page.wait_for_selector(".select2-dropdown .select2-results__option", timeout=5000)
    page.keyboard.press("Escape")
    page.click("#start_date")
    page.wait_for_selector(".datepicker-dropdown", state="visible", timeout=5000)
    watch.check("project-add-widgets")
    page.keyboard.press("Escape")

    # Edit and show pages of a record; the show page's tabs (ab_keep_tab.js).
    project_id = _first_id(page, base, "/projectview/list/", "projectview")
    watch.visit(f"{base}/projectview/edit/{project_id}", "project-edit")
    assert page.locator("#team + .select2-container").count() == 1
    watch.visit(f"{base}/projectview/show/{project_id}", "project-show")

    # Delete: the confirmation dialog opens (and is cancelled).
    watch.visit(f"{base}/milestoneview/list/")
    page.locator("a[data-delete-url]").first.click()
    page.wait_for_selector("#modal-confirm", state="visible", timeout=5000)
    assert "Are you sure" in page.inner_text("#modal-confirm")
    watch.check("delete-confirm")
    page.locator("#modal-confirm button[data-dismiss='modal']").first.click()

    # The rest of the console.
    for path, shot in (("/jobs/", "jobs"), ("/analytics/", "business"), ("/auditeventview/list/", "audit"),
                       ("/clientview/list/", None),
                       ("/monitorview/list/", None), ("/users/list/", "users"), ("/swagger/v1", "swagger")):
        watch.visit(f"{base}{path}", shot)
    page.wait_for_selector("#swagger-ui .opblock", timeout=10000)  # Swagger UI built the page from the spec
    monitor_id = _first_id(page, base, "/monitorview/list/", "monitorview")
    watch.visit(f"{base}/monitorview/show/{monitor_id}", "monitor-show")
    assert page.locator("form.atrium-run-now").count() >= 1

    # An error page keeps the layout and runs under the same policy.
    watch.error_pages.add(f"{base}/projectview/show/999999")
    response = page.goto(f"{base}/projectview/show/999999")
    page.wait_for_load_state("networkidle")
    assert response.status == 404 and page.locator("#error-page").is_visible()
    watch.check("error-404")
    watch.assert_clean()


def test_view_as_and_the_portal_run_under_the_csp(browser, live_url):  # noqa: F811 - fixtures
    base = live_url
    page, watch = _page(browser, base)
    _login(page, base, "operator")
    watch.visit(f"{base}/clientmemberview/list/?psize_ClientMemberView=100")
    page.locator("tr", has_text="enterprise-co-owner").locator("a.atrium-view-as").click()
    page.wait_for_load_state("networkidle")
    page.fill("#reason", "Checking the dashboard for ticket #12")
    page.click("form:has(#reason) button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.locator("#impersonation-banner").is_visible()
    page.wait_for_selector("#chart-spend[data-drawn='1']", timeout=10000)
    watch.check("view-as-portal")
    watch.visit(f"{base}/portal/tickets/list/", "view-as-tickets")
    assert page.locator("#impersonation-banner").is_visible()
    page.locator("#impersonation-banner button").first.click()  # End
    page.wait_for_load_state("networkidle")
    assert page.locator("#impersonation-banner").count() == 0
    watch.check()
    watch.assert_clean()

    page, watch = _page(browser, base)
    _login(page, base, "pro-co-owner")
    page.wait_for_selector("#chart-spend[data-drawn='1']", timeout=10000)
    page.wait_for_selector("#chart-clicks[data-drawn='1']", timeout=10000)
    watch.check("portal-dashboard")
    for path in ("/portal/projects/list/", "/portal/domains/list/", "/portal/campaigns/list/",
                 "/portal/incidents/list/", "/portal/files/list/", "/portal/team/list/", "/portal/tickets/list/"):
        watch.visit(f"{base}{path}")
    watch.visit(f"{base}/portal/tickets/add", "portal-ticket-add")
    page.fill("#subject", "Images load slowly")
    page.fill("#description", "Product images take several seconds on mobile.")
    page.click("form:not(.atrium-language-choice) [type=submit]")  # not the navbar's language buttons
    page.wait_for_load_state("networkidle")
    page.wait_for_selector("#reply-form")
    watch.check("portal-ticket")
    project_id = _first_id(page, base, "/portal/projects/list/", "portal/projects")
    watch.visit(f"{base}/portal/projects/show/{project_id}", "portal-project")
    watch.assert_clean()


def test_the_policy_refuses_an_inline_script_without_the_nonce(browser, live_url):  # noqa: F811
    """The check above can fail: a script injected without the nonce is refused and seen."""
    page, watch = _page(browser, live_url)
    page.goto(f"{live_url}/login/")
    page.wait_for_load_state("networkidle")
    page.evaluate("""() => { const s = document.createElement('script');
                             s.textContent = 'window.__ran = true'; document.body.appendChild(s); }""")
    page.wait_for_timeout(200)
    assert page.evaluate("window.__ran === undefined")
    watch.check()
    assert any("script-src" in problem for problem in watch.problems), watch.problems
