"""The support loop in a real browser (issue 20; Playwright driving Debian's Chromium).

A client opens a ticket with an attachment; the Operators' alert is in the outbox; an
operator takes it from Unassigned, applies a macro, sends the reply and sees the first
response recorded; the client sees the reply and answers; the operator resolves it; the
client rates it, replies again within the reopen window, and the ticket is open again.
Screenshots of both ticket pages land in ``tests/e2e/screenshots/``.
"""

from __future__ import annotations

import sqlalchemy as sa

from tests.e2e.test_portal_browser import SHOTS, _login, browser, live_url  # noqa: F401 - fixtures


def _db(base: str):
    """The live server's database (SQLite), read directly."""
    from tests.e2e import test_portal_browser

    return sa.create_engine(test_portal_browser.LIVE_DATABASE[base])


def test_the_whole_support_loop(browser, live_url, tmp_path):  # noqa: F811 - fixtures
    SHOTS.mkdir(exist_ok=True)
    errors = []
    context_client, context_staff = browser.new_context(viewport={"width": 1280, "height": 1000}), \
        browser.new_context(viewport={"width": 1280, "height": 1000})
    customer, operator = context_client.new_page(), context_staff.new_page()
    for page in (customer, operator):
        page.on("pageerror", lambda exc: errors.append(str(exc)))

    # The client opens a ticket with an attachment.
    _login(customer, live_url, "pro-co-owner")
    customer.goto(f"{live_url}/portal/tickets/add")
    customer.fill("#subject", "Invoices page shows an error")
    customer.fill("#description", "Since the update the invoices page says 'error 500'.")
    shot = tmp_path / "error.txt"
    shot.write_text("GET /invoices -> 500 at 10:02\n")
    customer.set_input_files("#attachment", str(shot))
    customer.locator("form:has(#subject) [type=submit]").first.click()
    customer.wait_for_load_state("networkidle")
    assert "Invoices page shows an error" in customer.inner_text("#ticket-subject")
    assert "error.txt" in customer.content()
    ticket_id = int(customer.url.rstrip("/").split("/")[-1])

    engine = _db(live_url)
    with engine.connect() as connection:
        alerted = connection.execute(sa.text(
            "SELECT to_address FROM email_outbox WHERE kind = 'ticket_new_ticket' AND subject LIKE :s"),
            {"s": f"%#{ticket_id}:%"}).scalars().all()
    assert "operator@atrium.example" in alerted

    # The operator takes it from Unassigned, applies a macro and replies.
    _login(operator, live_url, "operator")
    operator.goto(f"{live_url}/support/queues/unassigned")
    operator.locator(f"tr[data-ticket='{ticket_id}'] a").click()
    operator.wait_for_load_state("networkidle")
    operator.click("#take-it")
    operator.wait_for_load_state("networkidle")
    assert "Otávio Operator" in operator.inner_text("#ticket-assignee")
    operator.select_option("#macro", label="Acknowledge")
    # (the page's CSP allows no eval: wait on what the page shows, not on a JS expression)
    operator.locator("#macro-summary", has_text="In progress").wait_for(timeout=10000)
    assert "looking into" in operator.input_value("#body")
    assert f"#{ticket_id}" in operator.input_value("#body")
    assert "In progress" in operator.inner_text("#macro-summary")
    operator.click("#send-reply")
    operator.wait_for_load_state("networkidle")
    assert operator.locator("#first-response").count() == 1
    assert "First response in" in operator.inner_text("#ticket-sla")
    assert "In progress" in operator.inner_text("#ticket-status")

    # The client sees the reply and answers.
    customer.reload()
    assert "looking into" in customer.inner_text("#thread")
    customer.fill("#body", "Thanks, it happens on every invoice.")
    customer.click("#reply-form [type=submit]")
    customer.wait_for_load_state("networkidle")

    # The operator resolves it; the page shows the client's answer.
    operator.reload()
    assert "every invoice" in operator.inner_text("#thread")
    operator.click("#move-resolve")
    operator.wait_for_load_state("networkidle")
    assert "Resolved" in operator.inner_text("#ticket-status")
    operator.screenshot(path=str(SHOTS / "staff-ticket-page.png"), full_page=True)

    # The client rates it, then replies within the window: the ticket is open again.
    customer.reload()
    customer.fill("#comment", "Fast and clear.")
    customer.click("#rate-satisfied")
    customer.wait_for_load_state("networkidle")
    assert "Thank you for rating" in customer.content()
    assert customer.locator("#reply-reopens").count() == 1
    customer.screenshot(path=str(SHOTS / "client-ticket-page.png"), full_page=True)
    customer.fill("#body", "Sorry, the PDF download still fails.")
    customer.click("#reply-form [type=submit]")
    customer.wait_for_load_state("networkidle")
    assert "Open" in customer.inner_text("#ticket-status")

    operator.reload()
    assert "Satisfied" in operator.inner_text("#ticket-rating") and "Open" in operator.inner_text("#ticket-status")
    assert errors == []
