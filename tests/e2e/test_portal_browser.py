"""The client portal in a real browser: Playwright driving Debian's Chromium, headless.

A client logs in, sees the dashboard with its charts drawn by the vendored Chart.js,
opens a ticket and replies to it. The app is served on loopback from a seeded SQLite
database. Screenshots land in ``tests/e2e/screenshots/`` (not committed) for a person
to look at.
"""

import os
import re
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import PASSWORD, make_app

CHROMIUM = os.environ.get("CHROMIUM_BIN") or shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).parent / "screenshots"
LIVE_DATABASE: dict[str, str] = {}  # live server URL -> its database URL (for tests that read what it wrote)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("ATRIUM_REQUIRE_BROWSER") == "1":
            pytest.fail(f"ATRIUM_REQUIRE_BROWSER=1 but Chromium is missing at {CHROMIUM}")
        pytest.skip(f"Browser tests skipped: no Chromium at {CHROMIUM} (apt-get install chromium)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def live_url(backends, tmp_path_factory):
    backend = backends("sqlite")
    url = backend.new_database(seeded=True)
    app = make_app(url, UPLOAD_DIR=str(tmp_path_factory.mktemp("uploads")))
    server = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    LIVE_DATABASE[base] = url
    yield base
    server.shutdown()


def _login(page, base, username):
    page.goto(f"{base}/login/")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("form:has(#password) [type=submit]")  # not the navbar's language buttons
    page.wait_for_load_state("networkidle")


def test_client_sees_charts_opens_a_ticket_and_replies(browser, live_url):
    SHOTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _login(page, live_url, "pro-co-owner")

    assert page.url.rstrip("/").endswith("/portal")
    page.wait_for_selector("#chart-spend[data-drawn='1']", timeout=10000)
    page.wait_for_selector("#chart-clicks[data-drawn='1']", timeout=10000)
    # Something was painted on the canvas: not every pixel is transparent.
    painted = page.evaluate("""() => {
        const c = document.getElementById('chart-spend');
        const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < data.length; i += 4) { if (data[i] > 0) n++; } return n; }""")
    assert painted > 1000
    assert "Pro Co" in page.inner_text("h2") and "Clients" not in page.inner_text(".navbar")
    page.screenshot(path=str(SHOTS / "portal-dashboard.png"), full_page=True)

    page.goto(f"{live_url}/portal/tickets/add")
    page.fill("#subject", "Checkout page is slow")
    page.fill("#description", "Since Monday the checkout takes 8 seconds to load.")
    page.select_option("#priority", "high")
    page.click("form:not(.atrium-language-choice) [type=submit]")  # not the navbar's language buttons
    page.wait_for_load_state("networkidle")
    page.wait_for_selector("#reply-form")  # opening a ticket lands on its page
    assert "Your ticket was opened." in page.content()
    assert re.fullmatch(r"#\d+ Checkout page is slow", page.inner_text("#ticket-subject"))

    page.fill("#body", "It is worst between 18:00 and 20:00.")
    page.click("#reply-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "It is worst between 18:00 and 20:00." in page.inner_text("#thread")
    assert "Your reply was sent." in page.content()
    page.screenshot(path=str(SHOTS / "portal-ticket.png"), full_page=True)
    assert errors == []
