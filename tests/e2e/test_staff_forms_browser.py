"""Staff forms in a real browser (issue 16): as ``operator``, the ticket-message form has
no Author field; a Pro Co ticket's Project picker offers Pro Co's projects, each named
with its client; the domain and incident edit forms save unchanged (times round-trip)
and land on the saved record. Screenshots in /tmp (staff-message-form.png,
staff-ticket-project-picker.png)."""

import re


from tests.e2e.test_headers_browser import _page
from tests.e2e.test_portal_browser import _login, browser, live_url  # noqa: F401 - fixtures

RESULT = ".select2-results__option:not(.loading-results):not(.select2-results__message)"


def test_operator_message_form_and_ticket_project_picker(browser, live_url):  # noqa: F811 - fixtures
    base = live_url
    page, watch = _page(browser, base)
    _login(page, base, "operator")
    watch.visit(f"{base}/ticketmessageview/add")
    assert page.locator("#author").count() == 0
    assert page.locator("#ticket").count() == 1 and page.locator("#body").count() == 1
    page.screenshot(path="/tmp/staff-message-form.png", full_page=True)

    # a Pro Co ticket: the first one the list links to whose page names Pro Co
    watch.visit(f"{base}/ticketview/list/?_flt_0_subject=&psize_TicketView=100")
    links = page.eval_on_selector_all("a[href*='/ticketview/edit/']", "els => els.map(e => e.href)")
    assert links
    for link in links:
        watch.visit(link)
        if "— Pro Co" in page.inner_text("#project + .select2-container") or "client=" in (
                page.get_attribute("#project", "data-picker-url") or "") and "Pro Co" in page.content():
            break
    picker_url = page.get_attribute("#project", "data-picker-url")
    assert "client=" in picker_url
    page.click("#project + .select2-container .select2-selection")
    page.wait_for_selector(RESULT, timeout=10000)
    texts = page.locator(RESULT).all_inner_texts()
    assert texts and len({t.rsplit(" — ", 1)[-1] for t in texts}) == 1, texts
    assert all(" — " in t for t in texts)
    page.screenshot(path="/tmp/staff-ticket-project-picker.png", full_page=False)
    page.keyboard.press("Escape")

    for path in ("/domainview/edit/1", "/incidentview/edit/1"):
        watch.visit(f"{base}{path}")
        page.click("form:not(.atrium-language-choice) [type=submit]")  # not the navbar's language buttons
        page.wait_for_load_state("networkidle")
        assert "Not a valid datetime value" not in page.inner_text("body"), path
        assert re.search(r"/show/1$", page.url), (path, page.url)
