"""CSV exports (and the requests around them) at every LOG_LEVEL (issue 16 item 8).

The shared fixtures keep one app context open around every request, which hides what
production does: each request gets its own app context, the session is removed at its
end, and a streamed export's rows are produced after the view returned. At INFO the
request log line happened to refresh the signed-in user before the session went away;
at WARNING nothing did, and reading the scope while streaming raised
``DetachedInstanceError`` (500). These tests build the app with ``LOG_LEVEL=WARNING``
and use no outer app context, in-process and under gunicorn.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import PASSWORD, backend_or_skip, make_app, pg_owner_url, primary_backend

ROOT = Path(__file__).resolve().parents[2]
STAFF = ("admin", "operator", "developer")


def _export_paths(app) -> list[str]:
    """Every registered view's export route (generated from the app's URL map)."""
    return sorted(rule.rule for rule in app.url_map.iter_rules() if rule.rule.endswith("/export.csv"))


def _staff_export_paths(app):
    return [p for p in _export_paths(app) if not p.startswith("/portal/")]


@pytest.fixture(params=[primary_backend()])  # logging is the same on both
def warning_app(request, backends):
    backend = backend_or_skip(request.param, backends)
    url = backend.new_database(seeded=True)
    application = make_app(url, LOG_LEVEL="WARNING")
    try:
        yield application  # no app context held open: as production
    finally:
        with application.app_context():
            from app.extensions import db
            db.session.remove()
            db.engine.dispose()
        backend.drop(url)


def _login(client, username):
    html = client.get("/login/").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    response = client.post("/login/", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302


@pytest.mark.parametrize("username", ["admin", "pro-co-owner"])
def test_every_export_answers_200_at_log_level_warning(warning_app, username):
    from flask import has_app_context

    assert not has_app_context()
    client = warning_app.test_client()
    _login(client, username)
    paths = _export_paths(warning_app) if username == "admin" else [
        p for p in _export_paths(warning_app) if p.startswith("/portal/")]
    assert paths
    answered = {}
    for path in paths:
        response = client.get(path)
        body = response.get_data(as_text=True)  # streams the rows
        if response.status_code in (403, 404) or (response.status_code == 302 and username != "admin"):
            continue
        answered[path] = response.status_code
        assert response.status_code == 200, (path, body[:300])
        assert response.mimetype == "text/csv", path
    assert answered, "no export reached"


def _free_port():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("kind", [primary_backend()])
def test_every_staff_export_answers_200_under_gunicorn_at_log_level_warning(kind, backends, tmp_path):
    import requests

    backend = backend_or_skip(kind, backends)
    url = backend.new_database(seeded=True)
    port = _free_port()
    env = dict(os.environ, ATRIUM_ENV="development", DATABASE_URL=url, LOG_LEVEL="WARNING", TZ="UTC",
               PYTHONPATH=str(ROOT), SMTP_HOST="", AUDIT_CHECKPOINT_DIR=str(tmp_path / "checkpoints"))
    if url.startswith("postgresql"):
        env["DATABASE_OWNER_URL"] = pg_owner_url(url)
    log = open(tmp_path / "web.log", "wb")
    proc = subprocess.Popen([str(Path(sys.executable).with_name("gunicorn")), "--workers", "1", "--bind",
                             f"127.0.0.1:{port}", "wsgi:app"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(base + "/login/", timeout=2)
                break
            except (requests.ConnectionError, requests.Timeout):  # not listening yet; still booting
                assert proc.poll() is None, (tmp_path / "web.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.3)
        application = make_app(url)
        paths = _staff_export_paths(application)
        assert len(paths) > 5
        for username in STAFF:
            session = requests.Session()
            html = session.get(base + "/login/", timeout=10).text
            token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
            answer = session.post(base + "/login/", data={"username": username, "password": PASSWORD,
                                                          "csrf_token": token}, allow_redirects=False, timeout=10)
            assert answer.status_code == 302, username
            reached = 0
            for path in paths:
                response = session.get(base + path, allow_redirects=False, timeout=30)
                if response.status_code in (302, 403, 404):  # not this role's list
                    continue
                assert response.status_code == 200, (username, path, response.text[:300],
                                                     (tmp_path / "web.log").read_text()[-2000:])
                assert response.headers["Content-Type"].startswith("text/csv")
                reached += 1
            assert reached, username
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        backend.drop(url)
