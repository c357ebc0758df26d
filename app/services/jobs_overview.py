"""What the jobs console and ``flask jobs list`` show: the schedule with each entry's
last and next run, and JobRun history figures. Reads only; running jobs is
``workers.queues``' job."""

from __future__ import annotations

import sqlalchemy as sa

from app.models import JobRun
from app.models.base import utcnow


def _fmt(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "never"


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
            "last_run": f"{_fmt(when)} ({status})" if when else "never",
            "next_run": _fmt(plan.next_after(now)) if spec else "not built yet",
            "built": spec is not None,
        })
    return rows
