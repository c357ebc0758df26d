"""The jobs console and the "Run now" buttons, through the browser doors (CSRF on)."""

import re
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import sqlalchemy as sa

from app import models as m
from app.extensions import db
from tests.conftest import csrf_token, login, work_off
from tests.integration import test_jobs  # noqa: F401 - registers the test jobs
from app.services.jobs import enqueue


class _Up(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"all good")

    def log_message(self, *args):
        pass


@pytest.fixture
def site():
    server = HTTPServer(("127.0.0.1", 0), _Up)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()


def _runs(name):
    db.session.expire_all()
    return db.session.execute(sa.select(m.JobRun).filter_by(job_name=name).order_by(m.JobRun.id)).scalars().all()


def _failed_run():
    with pytest.raises(RuntimeError):  # no Redis: runs inline, fails, and says so on its JobRun
        enqueue("test.always_fails")
    run = _runs("test.always_fails")[-1]
    assert run.status == "failed"
    return run


@pytest.mark.parametrize("who, status, can_act", [("developer", 200, True), ("admin", 200, True),
                                                  ("operator", 200, False)])
def test_console_shows_schedule_failures_and_runs(app, client, who, status, can_act):
    failed = _failed_run()
    login(client, who)
    page = client.get("/jobs/")
    html = page.get_data(as_text=True)
    assert page.status_code == status
    assert "campaign sync" in html and "cron 0 4 * * * (UTC)" in html  # the schedule
    assert "RuntimeError" in html and "test.always_fails" in html  # failures grouped by exception
    assert f'href="/jobs/run/{failed.id}"' in html
    detail = client.get(f"/jobs/run/{failed.id}").get_data(as_text=True)
    assert "the platform said no" in detail and "Traceback" in detail
    assert ("Requeue" in detail) is can_act
    found = client.get("/jobs/?q=always_fails").get_data(as_text=True)
    assert f'href="/jobs/run/{failed.id}"' in found
    assert "No runs match" in client.get("/jobs/?q=nothing-like-this").get_data(as_text=True)


def test_requeue_by_post_is_audited_and_operator_is_refused(app, client):
    failed = _failed_run()
    login(client, "operator")
    token = csrf_token(client, "/resetmypassword/form")
    assert client.post(f"/jobs/run/{failed.id}/requeue", data={"csrf_token": token}).status_code == 403
    client.get("/logout/")
    login(client, "developer")
    token = csrf_token(client, f"/jobs/run/{failed.id}")
    assert client.post(f"/jobs/run/{failed.id}/requeue").status_code == 400  # no CSRF token
    response = client.post(f"/jobs/run/{failed.id}/requeue", data={"csrf_token": token})
    assert response.status_code == 302
    runs = _runs("test.always_fails")
    assert len(runs) == 2 and runs[-1].triggered_by.username == "developer"
    event = db.session.execute(sa.select(m.AuditEvent).filter_by(action="job.triggered")
                               .order_by(m.AuditEvent.seq.desc())).scalars().first()
    assert event.actor.username == "developer" and event.details["job"] == "test.always_fails"


def test_cancel_takes_a_queued_job_off_the_queue(rq_app, client):
    run_id = enqueue("test.project_roundtrip", client_slug="pro-co")
    login(client, "developer")
    token = csrf_token(client, f"/jobs/run/{run_id}")
    assert client.post(f"/jobs/run/{run_id}/cancel", data={"csrf_token": token}).status_code == 302
    work_off(rq_app)
    run = db.session.get(m.JobRun, run_id)
    db.session.refresh(run)
    assert run.status == "failed" and run.error.startswith("Cancelled by user") and run.attempts == 0
    assert db.session.execute(sa.select(m.Project).filter_by(name="Job-made project")).first() is None
    assert db.session.execute(sa.select(m.AuditEvent).filter_by(action="job.cancelled")).scalar_one()


def test_check_now_on_a_monitor_runs_inline_without_redis(app, client, site):
    monitor = db.session.execute(sa.select(m.Monitor).order_by(m.Monitor.id).limit(1)).scalar_one()
    monitor.url = site
    db.session.commit()
    login(client, "operator")  # reads monitors, may not run their checks
    page = client.get(f"/monitorview/show/{monitor.id}").get_data(as_text=True)
    assert "Check now" not in page
    client.get("/logout/")
    login(client, "developer")
    page = client.get(f"/monitorview/show/{monitor.id}").get_data(as_text=True)
    assert f'action="/jobs/now/monitor/{monitor.id}"' in page
    token = re.search(r'jobs/now/monitor/\d+".*?name="csrf_token" value="([^"]+)"', page, re.S).group(1)
    response = client.post(f"/jobs/now/monitor/{monitor.id}", data={"csrf_token": token},
                           headers={"Referer": f"http://localhost/monitorview/show/{monitor.id}"})
    assert response.status_code == 302
    [run] = _runs("monitoring.uptime_check")
    assert run.status == "succeeded" and run.rq_job_id is None and run.triggered_by.username == "developer"
    db.session.expire_all()
    check = db.session.execute(sa.select(m.MonitorCheck).filter_by(monitor_id=monitor.id)
                               .order_by(m.MonitorCheck.id.desc())).scalars().first()
    assert check.ok and check.status_code == 200


def test_a_refused_requeue_is_a_page_that_says_why(app, client, site):
    monitor = db.session.execute(sa.select(m.Monitor).order_by(m.Monitor.id).limit(1)).scalar_one()
    monitor.url = site
    db.session.commit()
    login(client, "developer")
    token = csrf_token(client, f"/monitorview/show/{monitor.id}")
    client.post(f"/jobs/now/monitor/{monitor.id}", data={"csrf_token": token})
    [run] = _runs("monitoring.uptime_check")
    response = client.post(f"/jobs/run/{run.id}/requeue", data={"csrf_token": token},
                           headers={"Referer": f"http://localhost/jobs/run/{run.id}"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422  # not a redirect the browser would not follow
    assert f"Job run {run.id} is succeeded: only failed or stuck runs can be requeued." in page
    assert f'href="http://localhost/jobs/run/{run.id}">Go back' in page
    assert len(_runs("monitoring.uptime_check")) == 1


def test_run_now_refuses_what_the_role_may_not_change(app, client):
    campaign = db.session.execute(sa.select(m.Campaign).limit(1)).scalar_one()
    login(client, "developer")  # reads campaigns only
    token = csrf_token(client, "/resetmypassword/form")
    response = client.post(f"/jobs/now/campaign/{campaign.id}", data={"csrf_token": token})
    assert response.status_code == 403 and _runs("sync.campaign") == []
    assert client.post("/jobs/now/everything/1", data={"csrf_token": token}).status_code == 404
