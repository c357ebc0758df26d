"""Failed sign-ins stay counted across web processes while Redis is down (issue 15 item 9).

Two app instances over one database stand for two gunicorn workers: each has its own
memory, so counting in memory let 7 failures through before the first 429. With the
limiter's Redis unreachable (a closed loopback port), the 6th failure overall from an
address gets 429 with the message, whichever process answers; correct sign-ins from
elsewhere (and before the budget is used up) still work.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app import models as m
from app.extensions import db
from tests.conftest import PASSWORD, csrf_token, make_app, use_real_password_hash

pytestmark = pytest.mark.both_backends

REDIS_DOWN = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connection refused at once
MESSAGE = "Too many failed sign-in attempts from your address"


@pytest.fixture
def two_processes(backend):
    url = backend.new_database(seeded=True)
    settings = dict(REDIS_URL=REDIS_DOWN, RATELIMIT_STORAGE_URI=REDIS_DOWN, RATELIMIT_ENABLED=True)
    apps = [make_app(url, **settings), make_app(url, **settings)]
    with apps[0].app_context():
        use_real_password_hash(apps[0])  # one database: both processes check scrypt hashes
    yield apps
    for application in apps:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()
    backend.drop(url)


def _html_login(http, username, password, address):
    token = csrf_token(http, "/login/")
    return http.post("/login/", data={"username": username, "password": password, "csrf_token": token},
                     environ_base={"REMOTE_ADDR": address})


def _api_login(http, username, password, address):
    return http.post("/api/v1/security/login", json={"username": username, "password": password, "provider": "db"},
                     environ_base={"REMOTE_ADDR": address})


def test_the_sixth_failure_across_two_processes_is_refused_with_the_message(two_processes):
    first, second = (application.test_client() for application in two_processes)
    address = "10.9.9.9"
    # A correct sign-in uses none of the budget.
    assert _html_login(first, "admin", PASSWORD, address).status_code == 302
    first.get("/logout/")
    doors = [first, second, first, second, first]
    for attempt, http in enumerate(doors, 1):
        response = _html_login(http, "admin", "wrong-password", address)
        assert response.status_code == 302 and "/login/" in response.headers["Location"], attempt
    # The 6th overall: the second process has seen only two of them itself.
    refused = _html_login(second, "admin", "wrong-password", address)
    assert refused.status_code == 429
    assert MESSAGE in refused.get_data(as_text=True) and "Try again in" in refused.get_data(as_text=True)
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    # The right password from that address waits too, at either process and either door.
    assert _html_login(first, "admin", PASSWORD, address).status_code == 429
    api = _api_login(second, "admin", PASSWORD, address)
    assert api.status_code == 429 and api.get_json()["message"].startswith(MESSAGE)
    assert 0 < api.get_json()["retry_after"] <= 60
    # Another address signs in as usual through both processes.
    assert _html_login(first, "operator", PASSWORD, "10.8.8.8").status_code == 302
    assert _api_login(second, "operator", PASSWORD, "10.8.8.8").status_code == 200
    with two_processes[0].app_context():
        failed = db.session.execute(sa.select(sa.func.count()).select_from(m.AuditEvent).where(
            m.AuditEvent.action == "login.failed", m.AuditEvent.ip == address)).scalar_one()
    assert failed == 5  # refused attempts never reached the password check


def test_rest_logins_share_the_budget_across_processes_too(two_processes):
    first, second = (application.test_client() for application in two_processes)
    address = "10.7.7.7"
    statuses = [_api_login(http, "operator", "nope", address).status_code
                for http in (first, second, first, second, first, second, first)]
    assert statuses == [401] * 5 + [429, 429]
