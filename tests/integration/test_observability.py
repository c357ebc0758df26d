"""Logs and error reports as an operator of the platform sees them (SPEC §10), on SQLite
and PostgreSQL.

- JSON logs: a request made by a staff member viewing as a client user leaves one
  access line on standard error, one JSON object, carrying who acted, who really did,
  the client, the view-as session and the request id.
- Sentry: with ``SENTRY_DSN`` pointing at a server this test runs on loopback, the real
  sentry-sdk transport posts the error of a failing request; the envelope carries the
  identity tags and none of the secrets the request held (password field, Authorization
  header, session cookie), even where the code copied one into its error message. A job
  failing on a real RQ worker is reported too, as the identity it ran as.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa
from flask import request

from app import models as m
from app.extensions import csrf, db
from config import load_config
from tests.conftest import REDIS_TEST_URL, csrf_token, login, make_app, redis_or_skip, work_off
from app.services.jobs import enqueue, job

OWNER = "basic-co-owner"
PASSWORD_TYPED = "hunter2-Correct-Horse-42"
BEARER = "atr_live_9f8e7d6c5b4a39281706"


def _id(model, **where) -> int:
    return db.session.execute(sa.select(model.id).filter_by(**where)).scalar_one()


@pytest.fixture
def app_with(backend):
    """``create_app`` with settings of the test's choosing, on a seeded database copy."""
    made = []

    def build(**overrides):
        url = backend.new_database(seeded=True)
        application = make_app(url, **overrides)
        context = application.app_context()
        context.push()
        made.append((application, context, url))
        return application

    yield build
    for application, context, url in made:
        db.session.remove()
        db.engine.dispose()
        context.pop()
        backend.drop(url)


def _view_as(http, username: str, mode: str = "read-only") -> int:
    target = _id(m.User, username=username)
    token = csrf_token(http, f"/impersonate/new/{target}")
    started = http.post(f"/impersonate/start/{target}", data={
        "csrf_token": token, "reason": "Checking the portal dashboard for ticket #1234", "mode": mode})
    assert started.status_code == 302, started.get_data(as_text=True)[:500]
    db.session.expire_all()
    return db.session.execute(sa.select(m.ImpersonationSession.id).where(
        m.ImpersonationSession.ended_at.is_(None)).order_by(m.ImpersonationSession.id.desc())).scalars().first()


def _json_lines(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all(isinstance(p, dict) for p in parsed)
    return parsed


# --------------------------------------------------------------------------- logs


def test_a_request_viewed_as_a_client_leaves_one_json_access_line_with_both_identities(app_with, capsys):
    app = app_with(LOG_FORMAT="json")
    http = app.test_client()
    login(http, "operator")
    session_id = _view_as(http, OWNER)
    capsys.readouterr()  # only the next request's lines

    response = http.get("/portal/", headers={"X-Request-ID": "req-obs-0001"})
    assert response.status_code == 200
    lines = _json_lines(capsys.readouterr().err)

    (access,) = [line for line in lines if line["logger"] == "atrium.access"]
    assert access["message"].startswith("GET /portal/ 200 ")
    assert (access["method"], access["path"], access["status"]) == ("GET", "/portal/", 200)
    assert isinstance(access["duration_ms"], float) and access["duration_ms"] > 0
    assert access["level"] == "INFO"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", access["timestamp"])
    assert access["request_id"] == "req-obs-0001"
    assert access["user"] == _id(m.User, username=OWNER)  # acting: the client user viewed
    assert access["true_user"] == _id(m.User, username="operator")  # really: the operator
    assert access["client"] == _id(m.Client, slug="basic-co")
    assert access["impersonation_session"] == session_id


def test_an_error_log_with_its_traceback_stays_one_json_line(app_with, capsys):
    app = app_with(LOG_FORMAT="json")
    capsys.readouterr()
    try:
        raise ValueError("first line\nsecond line")
    except ValueError:
        app.logger.exception("Could not render the report")
    (line,) = _json_lines(capsys.readouterr().err)
    assert line["level"] == "ERROR" and line["message"] == "Could not render the report"
    assert "ValueError: first line\nsecond line" in line["exception"]
    assert line["user"] is None and line["client"] is None  # outside a request: no one


def test_logs_stay_json_after_migrations_ran_in_the_process(app_with, capsys):
    """``flask db upgrade`` in a process that goes on logging (the tests, a release step
    that migrates then serves): Alembic's logging config must not replace the app's."""
    from flask_migrate import upgrade

    app = app_with(LOG_FORMAT="json")
    upgrade()  # at head already: Alembic's env.py runs all the same
    capsys.readouterr()
    logging.getLogger("app.reports").warning("after the migration")
    app.logger.warning("the app's own logger")
    lines = _json_lines(capsys.readouterr().err)
    assert [line["message"] for line in lines] == ["after the migration", "the app's own logger"]


def test_log_format_defaults_json_in_production_text_elsewhere_and_refuses_unknown(monkeypatch,
                                                                                     production_environment):
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    assert load_config("production")["LOG_FORMAT"] == "json"
    assert load_config("development")["LOG_FORMAT"] == "text"
    monkeypatch.setenv("LOG_FORMAT", "TEXT")
    assert load_config("production")["LOG_FORMAT"] == "text"
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(RuntimeError, match=r"LOG_FORMAT='xml' is not understood \(must be one of json, text\)"):
        load_config("production")


# --------------------------------------------------------------------------- Sentry


class _SentryInbox(ThreadingHTTPServer):
    """What a Sentry server receives: the envelopes posted to ``/api/<project>/envelope/``."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _EnvelopeHandler)
        self.envelopes: list[str] = []
        self.arrived = threading.Condition()

    def events(self) -> list[dict]:
        found = []
        for envelope in self.envelopes:
            lines = envelope.split("\n")
            for i, line in enumerate(lines[1:-1], start=1):
                if line.startswith("{") and json.loads(line).get("type") == "event":
                    found.append(json.loads(lines[i + 1]))
        return found


class _EnvelopeHandler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        with self.server.arrived:
            if "/envelope/" in self.path:
                self.server.envelopes.append(body.decode("utf-8", "replace"))
            self.server.arrived.notify_all()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def sentry_inbox():
    import sentry_sdk

    inbox = _SentryInbox()
    thread = threading.Thread(target=inbox.serve_forever, daemon=True)
    thread.start()
    yield inbox
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)  # later tests run without Sentry
    inbox.shutdown()
    inbox.server_close()


def _save_profile():
    """A page that fails: it reads the tenant's projects and the typed password, then
    breaks with the password copied into its own error (the worst a developer can do)."""
    db.session.execute(sa.select(sa.func.count()).select_from(m.Project)).scalar_one()
    password = request.form["password"]
    raise RuntimeError(f"could not save profile: password {password} rejected by the strength check")


def test_an_error_reaches_sentry_tagged_with_identities_and_without_secrets(app_with, sentry_inbox):
    import sentry_sdk

    app = app_with(SENTRY_DSN=f"http://publickey@127.0.0.1:{sentry_inbox.server_port}/42",
                   PROPAGATE_EXCEPTIONS=False)
    app.add_url_rule("/profile/save", "save_profile", csrf.exempt(_save_profile), methods=["POST"])
    http = app.test_client()
    login(http, "admin")
    session_id = _view_as(http, OWNER, mode="full")  # full: the read-only mode refuses any POST
    cookie = http.get_cookie("session").value

    response = http.post("/profile/save", data={"password": PASSWORD_TYPED, "display_name": "Basic Owner"},
                         headers={"Authorization": f"Bearer {BEARER}", "X-Request-ID": "req-obs-0500"})
    assert response.status_code == 500
    sentry_sdk.flush(timeout=10)
    with sentry_inbox.arrived:
        sentry_inbox.arrived.wait_for(lambda: sentry_inbox.events(), timeout=10)

    (event,) = sentry_inbox.events()
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    assert event["tags"]["user"] == str(_id(m.User, username=OWNER))
    assert event["tags"]["true_user"] == str(_id(m.User, username="admin"))
    assert event["tags"]["client"] == str(_id(m.Client, slug="basic-co"))
    assert event["tags"]["impersonation_session"] == str(session_id)
    assert event["tags"]["request_id"] == "req-obs-0500"
    assert event["request"]["url"].endswith("/profile/save")
    assert event["request"]["data"]["display_name"] == "Basic Owner"  # the rest of the form helps debugging
    assert event["request"]["data"]["password"] != PASSWORD_TYPED
    headers = {k.lower() for k in event["request"].get("headers", {})}
    assert "authorization" not in headers and "cookie" not in headers
    assert "cookies" not in event["request"]

    raw = "\n".join(sentry_inbox.envelopes)
    for secret in (PASSWORD_TYPED, BEARER, cookie):
        assert secret not in raw
    assert "could not save profile: password [Filtered] rejected" in raw


@job("test.report_render_fails", queue="default", timeout=30, retries=())
def report_render_fails(client_slug: str) -> dict:
    """Fail like a job whose outside service is down."""
    raise RuntimeError(f"could not render the report of {client_slug}")


@pytest.fixture
def queue_prefix():
    """Queues of this test's own on the test Redis, emptied afterwards."""
    redis = redis_or_skip()
    prefix = f"atrium-test-{uuid.uuid4().hex[:8]}-"
    yield prefix
    for key in redis.scan_iter(f"rq:*{prefix}*"):
        redis.delete(key)


def test_a_failing_job_on_a_real_worker_reaches_sentry_as_the_identity_it_ran_as(app_with, sentry_inbox,
                                                                                  queue_prefix):
    import sentry_sdk

    app = app_with(SENTRY_DSN=f"http://publickey@127.0.0.1:{sentry_inbox.server_port}/42")
    app.config.update(REDIS_URL=REDIS_TEST_URL, RQ_QUEUE_PREFIX=queue_prefix)
    enqueue("test.report_render_fails", client_slug="basic-co")  # from the CLI: the system user

    work_off(app, ["default"])  # a real RQ worker runs it
    db.session.expire_all()
    run = db.session.execute(sa.select(m.JobRun).filter_by(job_name="test.report_render_fails")).scalar_one()
    assert run.status == "failed"
    sentry_sdk.flush(timeout=10)
    with sentry_inbox.arrived:
        sentry_inbox.arrived.wait_for(lambda: sentry_inbox.events(), timeout=10)

    (event,) = sentry_inbox.events()
    (error,) = event["exception"]["values"]
    assert error["type"] == "RuntimeError" and error["value"] == "could not render the report of basic-co"
    assert error["mechanism"]["type"] == "rq"
    system = str(_id(m.User, username="system"))
    assert event["tags"]["user"] == system and event["tags"]["true_user"] == system
