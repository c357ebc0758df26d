"""Real processes: an ``rq worker`` and two ``rq cron workers/cron.py`` started as the
Procfile starts them (queues under a prefix of this test's own, this test's database),
against the real Redis. Both cron processes tick at start-up for the interval
schedules; each due job is enqueued once and run by the worker."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from app import models as m
from app.extensions import db

ROOT = Path(__file__).resolve().parents[2]
RQ = str(Path(sys.executable).with_name("rq"))


def _env(app):
    env = dict(os.environ, ATRIUM_ENV="development", DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
               REDIS_URL=app.config["REDIS_URL"], RQ_QUEUE_PREFIX=app.config["RQ_QUEUE_PREFIX"], TZ="UTC",
               PYTHONPATH=str(ROOT), SMTP_HOST="")
    return env


def _start(args, env, log_path):
    log = open(log_path, "wb")
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def _wait(predicate, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def _runs(name):
    db.session.expire_all()
    return db.session.execute(sa.select(m.JobRun).filter_by(job_name=name)).scalars().all()


def test_worker_and_two_cron_processes_enqueue_each_due_job_once(rq_app, tmp_path):
    if rq_app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite://") and ":memory:" in \
            rq_app.config["SQLALCHEMY_DATABASE_URI"]:
        pytest.skip("needs a database other processes can open")
    env = _env(rq_app)
    prefix = env["RQ_QUEUE_PREFIX"]
    queues = [prefix + q for q in ("high", "default", "sync", "reports", "maintenance")]
    procs = [
        _start([RQ, "worker", "--url", env["REDIS_URL"], "--with-scheduler", *queues], env, tmp_path / "worker.log"),
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
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
