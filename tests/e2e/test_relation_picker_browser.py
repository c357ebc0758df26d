"""The searched relation picker in a real browser (Playwright driving Debian's Chromium):
an Admin opens the ticket-message add form, types part of a ticket's subject into the
"Ticket" picker, chooses the result the server found, saves, and sees the message on
that ticket's page; nothing is refused by the CSP and nothing is logged as an error.
Screenshots land in ``tests/e2e/screenshots/``."""

import re

from tests.e2e.test_headers_browser import _page
from tests.e2e.test_portal_browser import SHOTS, _login, browser, live_url  # noqa: F401 - fixtures

RESULT = ".select2-results__option:not(.loading-results):not(.select2-results__message)"


def test_admin_searches_a_ticket_and_adds_a_message_to_it(browser, live_url):  # noqa: F811 - fixtures
    base = live_url
    page, watch = _page(browser, base)
    _login(page, base, "admin")
    watch.visit(f"{base}/ticketmessageview/add")
    assert page.locator("#ticket option").count() == 1  # only the empty choice: no ticket list in the page
    assert page.locator("#ticket + .select2-container").count() == 1  # made a Select2 by relation_picker.js

    page.click("#ticket + .select2-container .select2-selection")
    page.fill(".select2-search__field", "warning on THE")
    # Opening showed the first page of every ticket; wait for the answer to what was typed.
    page.wait_for_function("""selector => {
        const found = [...document.querySelectorAll(selector)].map(li => li.innerText.toLowerCase());
        return found.length > 0 && found.every(text => text.includes('ssl warning on the blog')); }""",
                           arg=RESULT, timeout=10000)
    texts = page.locator(RESULT).all_inner_texts()
    assert texts and all("ssl warning on the blog" in t.lower() for t in texts), texts
    page.screenshot(path=str(SHOTS / "relation-picker-open.png"), full_page=False)
    watch.check()

    chosen = page.locator(RESULT).first.inner_text()
    page.locator(RESULT).first.click()
    ticket_id = re.match(r"#(\d+) ", chosen).group(1)
    assert page.eval_on_selector("#ticket", "el => el.value") == ticket_id
    assert chosen in page.inner_text("#ticket + .select2-container")

    page.fill("#body", "Certificate renewed; the warning is gone.")
    page.click("form:not(.atrium-language-choice) [type=submit]")  # not the navbar's language buttons
    page.wait_for_load_state("networkidle")
    assert "Added Row" in page.inner_text(".alert-success")

    watch.visit(f"{base}/ticketview/show/{ticket_id}")  # the ticket's page: the message is in its thread
    page.screenshot(path=str(SHOTS / "relation-picker-ticket.png"), full_page=True)
    assert "Certificate renewed; the warning is gone." in page.inner_text("#thread")
    watch.assert_clean()
