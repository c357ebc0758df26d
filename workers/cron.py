"""What RQ's cron scheduler loads: ``rq cron workers/cron.py --url $REDIS_URL`` (Procfile
``cron``). It registers one light tick per schedule of ``workers.schedule``.

How a schedule fires: the cron process enqueues a ``fire(schedule)`` tick on the
``high`` queue. The tick, in a worker, works out which slot it stands for (the cron
time at or before the moment it was enqueued; for intervals, the interval since the
first tick), claims it in Redis (``SET NX`` with an expiry) and only then enqueues the
real job through ``app.services.jobs.enqueue`` as the ``system`` user. So two cron
processes running at once (a deploy overlap, a second machine) enqueue each due job
once: the second tick finds the slot taken and does nothing.
"""

from __future__ import annotations

import datetime as dt
import logging

from rq import cron, get_current_job

from app.services.identity import Identity
from app.services.jobs import enqueue, redis_connection
from config import load_config
from workers.queues import process_app
from workers.schedule import active_schedules, by_name, claim, configured

log = logging.getLogger(__name__)


def fire(schedule: str) -> dict:
    """The tick the cron process enqueues: enqueue the schedule's job once per slot."""
    app = process_app()
    plan = configured(by_name(schedule), app.config)
    current = get_current_job()
    at = current.enqueued_at.replace(tzinfo=dt.UTC) if current and current.enqueued_at else dt.datetime.now(dt.UTC)
    slot = plan.slot(at)
    with app.app_context():
        connection = redis_connection()
        if connection is not None and not claim(connection, app.config.get("RQ_QUEUE_PREFIX", ""), plan, slot):
            log.info("schedule %s: slot %s already enqueued by another cron process", plan.name, slot)
            return {"schedule": plan.name, "slot": slot.isoformat(), "enqueued": False}
        run_id = enqueue(plan.job, who=Identity(channel="job"), **dict(plan.kwargs))
    return {"schedule": plan.name, "slot": slot.isoformat(), "enqueued": True, "job_run": run_id}


def register_with_rq() -> None:
    """One tick per active schedule in RQ's cron registry. Runs when ``rq cron`` loads
    this file; in any other process the registry is never read, so it costs nothing."""
    config = load_config()
    high = (config.get("RQ_QUEUE_PREFIX") or "") + "high"
    for schedule in active_schedules():
        schedule = configured(schedule, config)
        cron.register(fire, high, kwargs={"schedule": schedule.name}, cron=schedule.cron,
                      interval=schedule.interval, name=f"atrium:{schedule.name}", job_timeout=60)


register_with_rq()
