"""Every schedule of SPEC §7, in one place, run by RQ's cron scheduler:
``rq cron workers/cron.py --url $REDIS_URL`` (Procfile ``cron``).

How a schedule fires: the cron process enqueues a light ``fire(schedule)`` tick on the
``high`` queue. The tick, in a worker, works out which slot it stands for (the cron
time at or before the moment it was enqueued; for intervals, the interval since the
first tick), claims it in Redis (``SET NX`` with an expiry) and only then enqueues the real job through
``workers.queues.enqueue`` as the ``system`` user. So two cron processes running at
once (a deploy overlap, a second machine) enqueue each due job once: the second tick
finds the slot taken and does nothing.

Cron strings are UTC (the Procfile runs the cron process with ``TZ=UTC``; RQ reads
them in local time). ``flask jobs list`` prints this table with each schedule's last
and next run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)
CLAIM_TTL = 7 * 24 * 3600  # seconds a claimed slot is remembered


@dataclass(frozen=True)
class Schedule:
    name: str
    job: str
    cron: str | None = None  # UTC cron string
    interval: int | None = None  # seconds
    kwargs: tuple = ()

    @property
    def when(self) -> str:
        return f"cron {self.cron} (UTC)" if self.cron else f"every {self.interval} s"

    def slot(self, at: dt.datetime) -> dt.datetime:
        """The scheduled moment ``at`` belongs to."""
        at = at.astimezone(dt.UTC)
        if self.cron:
            from croniter import croniter

            return croniter(self.cron, at.replace(tzinfo=None) + dt.timedelta(seconds=1)).get_prev(dt.datetime
                                                                                               ).replace(tzinfo=dt.UTC)
        epoch = int(at.timestamp()) // self.interval * self.interval
        return dt.datetime.fromtimestamp(epoch, dt.UTC)

    def next_after(self, at: dt.datetime) -> dt.datetime:
        at = at.astimezone(dt.UTC)
        if self.cron:
            from croniter import croniter

            return croniter(self.cron, at.replace(tzinfo=None)).get_next(dt.datetime).replace(tzinfo=dt.UTC)
        return self.slot(at) + dt.timedelta(seconds=self.interval)


SCHEDULES = (
    Schedule("uptime dispatch", "monitoring.uptime_dispatch", interval=60),
    Schedule("email outbox", "maintenance.send_outbox", interval=60),
    Schedule("SLA watch", "tickets.sla_watch", cron="*/5 * * * *"),
    Schedule("lost jobs", "maintenance.reap_lost_jobs", cron="*/5 * * * *"),
    Schedule("billing reconcile", "billing.reconcile", cron="*/10 * * * *"),
    Schedule("network usage", "sync.network_usage", cron="7 * * * *"),
    Schedule("cleanup", "maintenance.cleanup", cron="0 2 * * *"),
    Schedule("daily analytics", "maintenance.daily_analytics", cron="0 3 * * *"),
    Schedule("campaign sync", "sync.campaigns", cron="0 4 * * *"),
    Schedule("TLS check", "monitoring.tls_check", cron="30 4 * * *"),
    Schedule("domain expiry", "monitoring.domain_expiry", cron="45 4 * * *"),
    Schedule("monthly reports", "reports.monthly", cron="0 6 1 * *"),
    Schedule("backups", "maintenance.backups", cron="0 1 * * 0"),
    Schedule("audit checkpoint", "maintenance.audit_checkpoint", cron="17 * * * *"),
)


# Schedules whose interval is a setting (seconds).
INTERVAL_SETTINGS = {"monitoring.uptime_dispatch": "UPTIME_DISPATCH_SECONDS"}


def configured(schedule: Schedule, config) -> Schedule:
    """``schedule`` with its interval taken from the settings where one applies."""
    setting = INTERVAL_SETTINGS.get(schedule.job)
    if setting and config.get(setting):
        return dataclasses.replace(schedule, interval=int(config[setting]))
    return schedule


def by_name(name: str) -> Schedule:
    for schedule in SCHEDULES:
        if schedule.name == name:
            return schedule
    raise KeyError(name)


def active_schedules() -> list[Schedule]:
    """Schedules whose job exists in this build (a job still to be written is skipped)."""
    from workers.queues import load_jobs

    jobs = load_jobs()
    return [s for s in SCHEDULES if s.job in jobs]


def claim(connection, prefix: str, schedule: Schedule, slot: dt.datetime) -> bool:
    """True for the first claimant, False for every later one: of (schedule, cron slot)
    for cron strings (the same absolute minute for every cron process); for intervals,
    of the schedule for 90 % of its interval from the first tick (cron processes started
    at different moments tick at different offsets, so clock windows would not line up)."""
    if schedule.interval:
        key, ttl = f"{prefix}atrium:cron:{schedule.job}:interval", max(1, int(schedule.interval * 0.9))
    else:
        key, ttl = f"{prefix}atrium:cron:{schedule.job}:{slot:%Y%m%dT%H%M%S}", CLAIM_TTL
    return bool(connection.set(key, "1", nx=True, ex=ttl))


def fire(schedule: str) -> dict:
    """The tick the cron process enqueues: enqueue the schedule's job once per slot."""
    from rq import get_current_job

    from app.services.identity import Identity
    from workers.queues import _app, enqueue, redis_connection

    app = _app()
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
    from rq import cron

    from config import load_config

    config = load_config()
    high = (config.get("RQ_QUEUE_PREFIX") or "") + "high"
    for schedule in active_schedules():
        schedule = configured(schedule, config)
        cron.register(fire, high, kwargs={"schedule": schedule.name}, cron=schedule.cron,
                      interval=schedule.interval, name=f"atrium:{schedule.name}", job_timeout=60)


register_with_rq()
