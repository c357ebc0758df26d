"""Hardening through the doors (SPEC §2 API limits, §9 readiness, §10 qualities):
security headers on every kind of response, cookie flags and session lifetime, sign-in
throttling at both login doors, per-plan API limits with their headers, and the app with
Redis down (pages still answer, a Run now says the queue is unreachable, readiness 503).

Rate limiting is off in the test configuration; these tests turn it on through the app
factory. The free-plan test counts in the real Redis (``TEST_REDIS_URL``); the others in
memory. Redis "down" is a closed port on loopback.
"""

from __future__ import annotations

import re
import time
import uuid

import pytest
import sqlalchemy as sa

from app import models as m
from app.extensions import db
from tests.conftest import (PASSWORD, REDIS_TEST_URL, csrf_token, login, login_with_form, make_app, redis_or_skip,
                            use_real_password_hash)


REDIS_DOWN = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connection refused at once


@pytest.fixture
def make(backend):
    """An app of its own over a fresh seeded database, with settings of the test's."""
    made = []

    def _make(**overrides):
        url = backend.new_database(seeded=True)
        application = make_app(url, **overrides)
        made.append((application, url))
        with application.app_context():
            use_real_password_hash(application)  # the sign-in limits count real password checks
        return application

    yield _make
    for application, url in made:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()
        backend.drop(url)


def _csp(response) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] for part in policy.split("; ")}


def _assert_security_headers(response):
    csp = _csp(response)
    assert csp["default-src"] == "'self'"
    assert re.fullmatch(r"'self' 'nonce-[\w-]{20,}'", csp["script-src"]), csp["script-src"]
    assert "unsafe-inline" not in csp["script-src"] and "unsafe-eval" not in csp["script-src"]
    assert csp["img-src"] == "'self' data:" and csp["object-src"] == "'none'"
    assert csp["frame-ancestors"] == "'none'" and csp["base-uri"] == "'self'" and csp["form-action"] == "'self'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    permissions = response.headers["Permissions-Policy"]
    for feature in ("camera", "microphone", "geolocation", "payment"):
        assert f"{feature}=()" in permissions
    return csp["script-src"].split("'nonce-")[1].rstrip("'")


def _assert_scripts_carry(nonce: str, html: str) -> int:
    """Every script of the page carries the response's nonce (JSON data blocks run no code)
    and no element has an inline event handler; returns how many scripts were inline."""
    scripts = re.findall(r"<script\b([^>]*)>", html)
    code = [attributes for attributes in scripts if 'type="application/json"' not in attributes]
    assert code and all(f'nonce="{nonce}"' in attributes for attributes in code), code
    assert not re.search(r"<[a-z][^>]*\son[a-z]+\s*=", html), "an inline event handler"
    assert "javascript:" not in html
    return sum(1 for attributes in code if "src=" not in attributes)


# --------------------------------------------------------------------------- headers


def test_every_kind_of_response_carries_the_security_headers(app, client):
    login_page = client.get("/login/")
    nonce = _assert_security_headers(login_page)
    _assert_scripts_carry(nonce, login_page.get_data(as_text=True))

    # Another response, another nonce.
    assert _assert_security_headers(client.get("/login/")) != nonce
    for response in (
        client.get("/static/atrium.css"),  # the app's static files
        client.get("/static/appbuilder/js/ab.js"),  # FAB's
        client.get("/api/v1/project/"),  # API JSON (401 without a token)
        client.get("/no-such-page"),  # an error page
        client.get("/ticketview/list/"),  # a redirect to the login
        client.get("/health"),
    ):
        _assert_security_headers(response)
        assert "Strict-Transport-Security" not in response.headers  # HSTS is production's
    assert client.get("/ticketview/list/").status_code == 302
    assert client.get("/no-such-page").status_code == 404

    login(client, "admin")
    page = client.get("/ticketview/list/")
    html = page.get_data(as_text=True)
    assert _assert_scripts_carry(_assert_security_headers(page), html) >= 1  # the list's inline scripts
    # Nothing is loaded from another origin (SPEC §4: no CDN).
    assert not re.search(r"""(?:src|href)=["'](?:https?:)?//""", html)


def test_session_cookie_is_httponly_and_lax(app, client):
    response = login_with_form(client, "admin")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP in development and tests


def test_production_adds_hsts_and_secure_cookies(backend, production_environment):
    url = backend.new_database(seeded=True)
    from app import create_app

    application = create_app("production", {"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_STORAGE_URI": "memory://"})
    try:
        with application.app_context():
            client = application.test_client()
            page = client.get("/login/")
            _assert_security_headers(page)
            assert page.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
            token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True)).group(1)
            response = client.post("/login/", data={"username": "admin", "password": PASSWORD, "csrf_token": token})
            assert response.status_code == 302
            cookie = response.headers["Set-Cookie"]
            assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    finally:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()
        backend.drop(url)


def test_a_sign_in_ends_after_the_configured_lifetime(make):
    application = make(PERMANENT_SESSION_LIFETIME=2)
    with application.app_context():
        client = application.test_client()
        login(client, "admin")
        assert client.get("/ticketview/list/").status_code == 200
        time.sleep(3.2)
        expired = client.get("/ticketview/list/")
        assert expired.status_code == 302 and "/login/" in expired.headers["Location"]


# --------------------------------------------------------------------------- sign-in


def _post_login(client, username, password, address="10.1.1.1"):
    token = csrf_token(client, "/login/")
    return client.post("/login/", data={"username": username, "password": password, "csrf_token": token},
                       environ_base={"REMOTE_ADDR": address})


def test_sixth_failed_html_login_from_one_address_is_refused(make):
    application = make(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://")
    with application.app_context():
        client = application.test_client()
        for _ in range(3):  # signing in correctly does not use up the budget
            assert _post_login(client, "admin", PASSWORD).status_code == 302
            client.get("/logout/")
        for attempt in range(5):
            response = _post_login(client, "admin", "wrong-password")
            assert response.status_code == 302 and "/login/" in response.headers["Location"], attempt
        assert response.headers["X-RateLimit-Remaining"] == "0"
        refused = _post_login(client, "admin", "wrong-password")
        assert refused.status_code == 429
        text = refused.get_data(as_text=True)
        assert "Too many failed sign-in attempts from your address" in text and "Try again in" in text
        assert 0 < int(refused.headers["Retry-After"]) <= 60
        _assert_security_headers(refused)  # the refusal page too
        # The right password from that address waits as well; another address is unaffected.
        assert _post_login(client, "admin", PASSWORD).status_code == 429
        assert _post_login(client, "admin", PASSWORD, address="10.2.2.2").status_code == 302
        attempts = db.session.execute(sa.select(sa.func.count()).select_from(m.AuditEvent)
                                      .where(m.AuditEvent.action == "login.failed")).scalar_one()
        assert attempts == 5  # the refused ones never reached the password check


def _api_login(client, username, password, address="10.3.3.3"):
    return client.post("/api/v1/security/login", json={"username": username, "password": password, "provider": "db"},
                       environ_base={"REMOTE_ADDR": address})


def test_sixth_failed_rest_login_from_one_address_is_refused(make):
    application = make(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://")
    with application.app_context():
        client = application.test_client()
        for _ in range(5):
            assert _api_login(client, "operator", "wrong-password").status_code == 401
        refused = _api_login(client, "operator", "wrong-password")
        assert refused.status_code == 429
        body = refused.get_json()
        assert body["message"].startswith("Too many failed sign-in attempts from your address")
        assert 0 < body["retry_after"] <= 60 and refused.headers["Retry-After"]
        assert _api_login(client, "operator", PASSWORD).status_code == 429
        assert _api_login(client, "operator", PASSWORD, address="10.4.4.4").status_code == 200
        # One budget for both doors: that address's HTML form is refused too.
        assert _post_login(client, "operator", PASSWORD, address="10.3.3.3").status_code == 429


def test_the_sign_in_limit_is_configurable(make):
    application = make(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://", LOGIN_RATE_LIMIT="2 per 1 minute")
    with application.app_context():
        client = application.test_client()
        assert [_api_login(client, "admin", "nope").status_code for _ in range(3)] == [401, 401, 429]


def test_a_malformed_sign_in_limit_stops_the_start_and_is_named(backend):
    url = backend.new_database(seeded=False)
    try:
        with pytest.raises(RuntimeError, match="LOGIN_RATE_LIMIT must read like '5 per 1 minute'; got 'lots'"):
            make_app(url, LOGIN_RATE_LIMIT="lots")
    finally:
        backend.drop(url)


# --------------------------------------------------------------------------- API limits


def _token(client, username):
    response = client.post("/api/v1/security/login",
                           json={"username": username, "password": PASSWORD, "provider": "db"})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


def test_free_plan_user_gets_429_on_the_101st_request_counted_in_redis(make):
    redis = redis_or_skip()
    prefix = f"atrium-test-{uuid.uuid4().hex[:8]}"
    application = make(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=REDIS_TEST_URL, RATELIMIT_KEY_PREFIX=prefix)
    try:
        with application.app_context():
            client = application.test_client()
            headers = _token(client, "free-co-owner")
            for number in range(1, 101):
                response = client.get("/api/v1/project/", headers=headers)
                assert response.status_code == 200, (number, response.get_json())
            assert response.headers["X-RateLimit-Limit"] == "100"
            assert response.headers["X-RateLimit-Remaining"] == "0"
            assert "Retry-After" not in response.headers  # only a refusal says when to retry
            refused = client.get("/api/v1/domain/", headers=headers)  # one budget across the APIs
            assert refused.status_code == 429
            body = refused.get_json()
            assert body["message"].startswith("API rate limit reached: your Free plan allows 100 requests per minute.")
            assert "Try again in" in body["message"] and 0 < body["retry_after"] <= 60
            assert refused.headers["X-RateLimit-Limit"] == "100" and refused.headers["X-RateLimit-Remaining"] == "0"
            assert int(refused.headers["X-RateLimit-Reset"]) > time.time()
            assert 0 < int(refused.headers["Retry-After"]) <= 60
            # The counter is in Redis (shared by every process), under this test's prefix.
            assert any(b"user:" in key for key in redis.scan_iter(f"*{prefix}*"))
            # Another user of another plan is not held up by it.
            assert client.get("/api/v1/project/", headers=_token(client, "basic-co-owner")).status_code == 200
    finally:
        for key in redis.scan_iter(f"*{prefix}*"):
            redis.delete(key)


def test_pro_plan_user_is_served_past_100_requests(make):
    application = make(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://")
    with application.app_context():
        client = application.test_client()
        headers = _token(client, "pro-co-owner")
        statuses = {client.get("/api/v1/project/", headers=headers).status_code for _ in range(100)}
        response = client.get("/api/v1/project/", headers=headers)
        assert statuses == {200} and response.status_code == 200
        assert response.headers["X-RateLimit-Limit"] == "1000"
        assert response.headers["X-RateLimit-Remaining"] == "899"


def test_staff_limit_is_configurable_and_named_in_the_refusal(make):
    application = make(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://", API_RATE_LIMIT_STAFF=3)
    with application.app_context():
        client = application.test_client()
        headers = _token(client, "operator")
        assert [client.get("/api/v1/client/", headers=headers).status_code for _ in range(4)] == [200, 200, 200, 429]
        message = client.get("/api/v1/client/", headers=headers).get_json()["message"]
        assert message.startswith("API rate limit reached: staff accounts are allowed 3 requests per minute.")


def test_the_plan_lookup_adds_no_statement_to_a_request(backend):
    """With the limiter on, an API request costs the same statements as with it off: the
    plan is read once, then remembered for RATELIMIT_PLAN_CACHE_SECONDS."""
    counts = {}
    for enabled in (False, True):
        url = backend.new_database(seeded=True)
        application = make_app(url, RATELIMIT_ENABLED=enabled, RATELIMIT_STORAGE_URI="memory://",
                               SQL_COUNT_HEADER=True)
        client = application.test_client()  # no app context held: each request its own, as in production
        with application.app_context():
            headers = _token(client, "basic-co-owner")
        statements = [int(client.get("/api/v1/project/", headers=headers).headers["X-SQL-Statements"])
                      for _ in range(3)]
        counts[enabled] = statements
        with application.app_context():
            db.engine.dispose()
        backend.drop(url)
    assert counts[True][0] <= counts[False][0] + 2  # the one lookup (plus its RLS setting on PostgreSQL)
    assert counts[True][1:] == counts[False][1:], counts


# --------------------------------------------------------------------------- Redis down


@pytest.fixture
def redis_down(make):
    application = make(REDIS_URL=REDIS_DOWN, RATELIMIT_STORAGE_URI=REDIS_DOWN, RATELIMIT_ENABLED=True)
    with application.app_context():
        yield application


def test_pages_and_limits_work_with_redis_down(redis_down):
    client = redis_down.test_client()
    assert client.get("/login/").status_code == 200
    for _ in range(5):  # the sign-in limit still counts, in memory
        assert _post_login(client, "admin", "wrong-password").status_code == 302
    assert _post_login(client, "admin", PASSWORD).status_code == 429
    login(client, "operator")  # from the test client's own address
    for path in ("/", "/ticketview/list/", "/clientview/list/", "/jobs/"):
        assert client.get(path, follow_redirects=True).status_code == 200, path
    api = _token(client, "pro-co-owner")
    response = client.get("/api/v1/project/", headers=api)
    assert response.status_code == 200 and response.headers["X-RateLimit-Limit"] == "1000"


def test_readiness_names_redis_when_it_is_down(redis_down):
    response = redis_down.test_client().get("/health/ready")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "degraded" and body["degraded"] == ["redis"]
    assert body["checks"]["database"] == "ok" and body["checks"]["redis"].startswith("error")


def test_run_now_with_redis_down_says_the_queue_is_unreachable(redis_down):
    client = redis_down.test_client()
    monitor = db.session.execute(sa.select(m.Monitor).order_by(m.Monitor.id).limit(1)).scalar_one()
    login(client, "developer")
    page = client.get(f"/monitorview/show/{monitor.id}").get_data(as_text=True)
    token = re.search(r'jobs/now/monitor/\d+".*?name="csrf_token" value="([^"]+)"', page, re.S).group(1)
    back = f"http://localhost/monitorview/show/{monitor.id}"
    response = client.post(f"/jobs/now/monitor/{monitor.id}", data={"csrf_token": token}, headers={"Referer": back})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/monitorview/show/{monitor.id}")
    shown = client.get(f"/monitorview/show/{monitor.id}")
    assert shown.status_code == 200
    assert "The job queue (Redis) is unreachable; try again shortly." in shown.get_data(as_text=True)
    db.session.expire_all()
    [run] = db.session.execute(sa.select(m.JobRun).filter_by(job_name="monitoring.uptime_check")).scalars().all()
    assert run.status == "failed" and run.error.startswith("Not queued: the job queue (Redis) was unreachable")
    assert run.triggered_by.username == "developer"

    # The jobs console's own Run now says the same.
    token = csrf_token(client, "/jobs/")
    response = client.post("/jobs/schedule/now", data={"csrf_token": token, "schedule": "SLA watch"})
    assert response.status_code == 302
    assert "The job queue (Redis) is unreachable" in client.get("/jobs/").get_data(as_text=True)


def test_cancel_with_redis_down_says_so_and_leaves_the_run_queued(redis_down):
    """The job was queued before Redis went away: it may still run once Redis is back, so
    the run must not be shown as cancelled (it said "The job ran and failed: ConnectionError")."""
    import datetime as dt

    run = m.JobRun(job_name="monitoring.tls_check", arguments={"domain_id": 1}, queue="default",
                   rq_job_id=str(uuid.uuid4()), status="queued", enqueued_at=dt.datetime.now(dt.UTC))
    db.session.add(run)
    db.session.commit()
    client = redis_down.test_client()
    login(client, "developer")  # engineers operate the queues
    token = csrf_token(client, f"/jobs/run/{run.id}")
    response = client.post(f"/jobs/run/{run.id}/cancel", data={"csrf_token": token}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "The job queue (Redis) is unreachable; try again shortly." in page
    assert "ran and failed" not in page
    db.session.expire_all()
    assert db.session.get(m.JobRun, run.id).status == "queued"
    assert not db.session.execute(sa.select(m.AuditEvent).filter_by(action="job.cancelled")).first()


def test_enqueue_with_redis_down_raises_the_503_error(redis_down):
    from app.services.jobs import QueueUnavailable, enqueue

    with pytest.raises(QueueUnavailable) as refused:
        enqueue("monitoring.tls_check", domain_id=1)
    assert refused.value.status == 503
    assert refused.value.message == "The job queue (Redis) is unreachable; try again shortly."
