"""What the jobs console and ``flask jobs list`` show: the schedule with each entry's
last and next run, and JobRun history figures. Reads only; running jobs is
``app.services.jobs``' job."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask_babel import gettext as _

from app import i18n
from app.models import JobRun, JobStatus
from app.models.base import utcnow
from app.services.jobs import QUEUES, redis_connection, rq_queue


def _fmt(value) -> str:
    """A UTC time as the jobs console and ``flask jobs list`` show it (the locale's date)."""
    if not value:
        return _("never")
    value = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    return f"{i18n.date(value)} {i18n.clock(value)} UTC"


def schedule(session, schedules, jobs: dict) -> list[dict]:
    """One row per schedule: name, when, queue, job, last run (status) and next run."""
    now = utcnow()
    last = {}
    names = [s.job for s in schedules]
    for name, status, enqueued in session.execute(
            sa.select(JobRun.job_name, JobRun.status, JobRun.enqueued_at)
            .where(JobRun.job_name.in_(names), JobRun.triggered_by_id.is_(None))
            .order_by(JobRun.enqueued_at.desc()).limit(5000)):
        last.setdefault(name, (status, enqueued))
    rows = []
    for plan in schedules:
        spec = jobs.get(plan.job)
        status, when = last.get(plan.job, (None, None))
        rows.append({
            "name": plan.name, "when": plan.when, "job": plan.job,
            "queue": spec.queue if spec else "-",
            "last_run": f"{_fmt(when)} ({status})" if when else _("never"),
            "next_run": _fmt(plan.next_after(now)) if spec else _("not built yet"),
            "built": spec is not None,
        })
    return rows


def recent_runs(session, search: str | None = None, limit: int = 50) -> list[JobRun]:
    """Newest runs; ``search`` matches a JobRun id, an RQ job id or part of a job name."""
    query = sa.select(JobRun).order_by(JobRun.id.desc()).limit(limit)
    if search:
        search = search.strip()
        conditions = [JobRun.rq_job_id == search, JobRun.job_name.contains(search, autoescape=True)]
        if search.isdigit():
            conditions.append(JobRun.id == int(search))
        query = query.where(sa.or_(*conditions))
    return list(session.execute(query).scalars())


def failures_by_exception(session, days: int = 7) -> list[dict]:
    """Failed runs of the last ``days`` grouped by exception class (the error's first
    word), most frequent first, with the jobs they hit and the newest occurrence."""
    since = utcnow() - dt.timedelta(days=days)
    groups: dict[str, dict] = {}
    for name, error, finished in session.execute(
            sa.select(JobRun.job_name, JobRun.error, JobRun.finished_at)
            .where(JobRun.status == JobStatus.FAILED, JobRun.finished_at >= since)
            .order_by(JobRun.finished_at.desc())):
        exception = (error or "Unknown").split(":", 1)[0][:80]
        group = groups.setdefault(exception, {"exception": exception, "count": 0, "jobs": set(), "last": finished,
                                              "example": error})
        group["count"] += 1
        group["jobs"].add(name)
    return sorted(groups.values(), key=lambda g: -g["count"])


def queues(connection) -> list[dict]:
    """Per queue: waiting, running, failed and scheduled counts (RQ's registries)."""
    rows = []
    for name in QUEUES:
        queue = rq_queue(name, connection)
        rows.append({"name": name, "waiting": queue.count, "running": queue.started_job_registry.count,
                     "failed": queue.failed_job_registry.count, "scheduled": queue.scheduled_job_registry.count})
    return rows


def queue_depths() -> dict[str, int]:
    """Jobs waiting per queue (``/health/ready``); the console shows the full picture."""
    connection = redis_connection()
    if connection is None:
        return {}
    connection.ping()
    return {row["name"]: row["waiting"] for row in queues(connection)}
