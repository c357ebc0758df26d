"""Real processes, started as the Procfile starts them (queues under a prefix of this
test's own, this test's database), against the real Redis:

- an ``rq worker`` and two ``rq cron workers/cron.py``: both cron processes tick at
  start-up for the interval schedules; each due job is enqueued once and run;
- ``web`` (gunicorn), ``worker`` and ``cron``: a monitor on a loopback site that the test
  takes down opens an incident after 2 failed checks and resolves it after 2 good ones,
  with its downtime; the staff console shows it;
- a worker killed mid-job: the job is retried by RQ and runs once; no duplicate rows."""

import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.support.loopback import LoopbackServer

from app import models as m
from app.extensions import db

ROOT = Path(__file__).resolve().parents[2]
RQ = str(Path(sys.executable).with_name("rq"))
WORKER = [RQ, "worker", "--worker-class", "workers.worker.AtriumWorker"]  # as the Procfile


def _env(app):
    env = dict(os.environ, ATRIUM_ENV="development", DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
               REDIS_URL=app.config["REDIS_URL"], RQ_QUEUE_PREFIX=app.config["RQ_QUEUE_PREFIX"], TZ="UTC",
               PYTHONPATH=str(ROOT), SMTP_HOST="",
               # the hourly checkpoint job may fire during the test: into this app's directory
               AUDIT_CHECKPOINT_DIR=app.config["AUDIT_CHECKPOINT_DIR"])
    if app.config.get("DATABASE_OWNER_URL"):
        env["DATABASE_OWNER_URL"] = app.config["DATABASE_OWNER_URL"]
    return env


def _queues(env):
    return [env["RQ_QUEUE_PREFIX"] + q for q in ("high", "default", "sync", "reports", "maintenance")]


def _stop(procs):
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _needs_shared_database(app):
    if ":memory:" in app.config["SQLALCHEMY_DATABASE_URI"] or app.config["SQLALCHEMY_DATABASE_URI"] == "sqlite://":
        pytest.skip("needs a database other processes can open")


def _free_port():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start(args, env, log_path):
    log = open(log_path, "wb")
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def _wait(predicate, seconds, tick=None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        if tick is not None:
            tick()
        time.sleep(0.5)
    return False


def _runs(name):
    db.session.expire_all()
    return db.session.execute(sa.select(m.JobRun).filter_by(job_name=name)).scalars().all()


def test_worker_and_two_cron_processes_enqueue_each_due_job_once(rq_app, tmp_path):
    _needs_shared_database(rq_app)
    env = _env(rq_app)
    procs = [
        _start([*WORKER, "--url", env["REDIS_URL"], "--with-scheduler", *_queues(env)], env,
               tmp_path / "worker.log"),
        _start([RQ, "cron", "--url", env["REDIS_URL"], "workers/cron.py"], env, tmp_path / "cron1.log"),
        _start([RQ, "cron", "--url", env["REDIS_URL"], "workers/cron.py"], env, tmp_path / "cron2.log"),
    ]
    try:
        ran = _wait(lambda: all(r.status == "succeeded" for r in _runs("maintenance.send_outbox"))
                    and _runs("maintenance.send_outbox") and _runs("monitoring.uptime_dispatch"), 45)
        time.sleep(3)  # both cron processes' ticks have been handled by now
        logs = "\n".join(p.read_text(errors="replace")[-2000:] for p in tmp_path.glob("*.log"))
        assert ran, logs
        assert len(_runs("maintenance.send_outbox")) == 1, logs
        assert len(_runs("monitoring.uptime_dispatch")) == 1, logs
        assert _runs("maintenance.send_outbox")[0].triggered_by_id is None  # the schedule, not a person
    finally:
        _stop(procs)


def test_web_worker_and_cron_open_and_resolve_an_incident(rq_app, tmp_path):
    import httpx

    from tests.conftest import PASSWORD

    _needs_shared_database(rq_app)
    site = LoopbackServer().start()
    client = db.session.execute(sa.select(m.Client).filter_by(slug="enterprise-co")).scalar_one()
    project = db.session.execute(sa.select(m.Project).filter_by(client_id=client.id).limit(1)).scalar_one()
    db.session.execute(sa.update(m.Monitor).values(enabled=False))  # the seed's point at the internet
    monitor = m.Monitor(project=project, url=site.url("/ok"), enabled=True, interval_seconds=30, timeout_seconds=2)
    db.session.add(monitor)
    db.session.commit()
    env = dict(_env(rq_app), UPTIME_DISPATCH_SECONDS="1")
    port = _free_port()
    procs = [
        _start([str(Path(sys.executable).with_name("gunicorn")), "--workers", "1", "--bind", f"127.0.0.1:{port}",
                "wsgi:app"], env, tmp_path / "web.log"),
        _start([*WORKER, "--url", env["REDIS_URL"], "--with-scheduler", *_queues(env)], env,
               tmp_path / "worker.log"),
        _start([RQ, "cron", "--url", env["REDIS_URL"], "workers/cron.py"], env, tmp_path / "cron.log"),
    ]

    def incidents():
        db.session.expire_all()
        return db.session.execute(sa.select(m.Incident).filter_by(monitor_id=monitor.id)).scalars().all()

    def checks(ok=None):
        db.session.expire_all()
        query = sa.select(m.MonitorCheck).filter_by(monitor_id=monitor.id)
        return db.session.execute(query if ok is None else query.filter_by(ok=ok)).scalars().all()

    def time_passes():  # the monitor's 30 s interval has gone by: due again at the next dispatch
        db.session.execute(sa.update(m.Monitor).where(m.Monitor.id == monitor.id).values(last_checked_at=None))
        db.session.commit()

    def logs():
        return "\n".join(f"--- {p.name}\n" + p.read_text(errors="replace")[-3000:] for p in tmp_path.glob("*.log"))

    try:
        assert _wait(lambda: checks(ok=True), 60, time_passes), logs()
        site.stop()  # the site goes down
        assert _wait(lambda: incidents(), 60, time_passes), logs()
        [incident] = incidents()
        assert incident.status != "resolved" and len(checks(ok=False)) >= 2
        site.start()  # and comes back on the same port
        assert _wait(lambda: incidents()[0].status == "resolved", 60, time_passes), logs()
        [incident] = incidents()
        assert incident.resolved_at > incident.started_at and incident.downtime_minutes is not None
        seconds = (incident.resolved_at - incident.started_at).total_seconds()
        assert incident.downtime_minutes == math.ceil(seconds / 60) >= 1  # whole minutes, rounded up
        # The console (the web process) shows it to staff.
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", follow_redirects=True, timeout=10) as web:
            assert _wait(lambda: web.get("/health").status_code == 200, 30), logs()
            form = web.get("/login/").text
            token = form.split('name="csrf_token"', 1)[1].split('value="', 1)[1].split('"', 1)[0]
            web.post("/login/", data={"username": "operator", "password": PASSWORD, "csrf_token": token})
            page = web.get(f"/incidentview/show/{incident.id}")
            assert page.status_code == 200 and "resolved" in page.text
    finally:
        _stop(procs)
        site.stop()


def test_a_worker_killed_mid_job_is_retried_and_writes_once(rq_app, tmp_path):
    import signal

    from tests.conftest import work_off
    from app.services.jobs import enqueue, reap_lost_runs

    _needs_shared_database(rq_app)
    site = LoopbackServer().start()
    project = db.session.execute(sa.select(m.Project).limit(1)).scalar_one()
    monitor = m.Monitor(project=project, url=site.url("/slow/30"), enabled=True, timeout_seconds=40)
    db.session.add(monitor)
    db.session.commit()
    run_id = enqueue("monitoring.uptime_check", monitor_id=monitor.id)
    env = _env(rq_app)
    worker = _start([*WORKER, "--url", env["REDIS_URL"], *_queues(env)], env, tmp_path / "worker.log")
    try:
        def running():
            db.session.expire_all()
            return db.session.get(m.JobRun, run_id).status == "running"

        assert _wait(running, 30), (tmp_path / "worker.log").read_text(errors="replace")
        time.sleep(1)
        worker.send_signal(signal.SIGKILL)  # mid-request: nothing written yet
        worker.wait(10)
        monitor.url = site.url("/ok")  # the site answers quickly again
        db.session.commit()
        # Later (RQ's heartbeat has long expired): the abandoned job is found and retried.
        assert reap_lost_runs(at=time.time() + 3600) == {"retried": 1, "failed": 0}
        db.session.expire_all()
        run = db.session.get(m.JobRun, run_id)
        assert run.status == "queued" and "stopped" in run.error
        def retried_and_done():  # RQ's retry is scheduled with the job's back-off (15 s)
            work_off(rq_app)
            db.session.expire_all()
            return db.session.get(m.JobRun, run_id).status == "succeeded"

        assert _wait(retried_and_done, 40)
        run = db.session.get(m.JobRun, run_id)
        assert run.status == "succeeded" and run.attempts == 2
        assert len(db.session.execute(sa.select(m.MonitorCheck).filter_by(monitor_id=monitor.id)).all()) == 1
    finally:
        if worker.poll() is None:
            worker.kill()
        site.stop()
