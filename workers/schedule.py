"""Every schedule of SPEC §7, in one table (``SCHEDULES``), with the rules of a slot:
which cron or interval moment a tick stands for (``Schedule.slot``) and the claim that
makes it enqueue its job once however many cron processes tick (``claim``). RQ's cron
process loads ``workers/cron.py``, which registers one tick per schedule; the jobs
console and ``flask jobs list`` read this table with each schedule's last and next run.

Cron strings are UTC (the Procfile runs the cron process with ``TZ=UTC``; RQ reads
them in local time).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass

from croniter import croniter

from app.services.jobs import load_jobs

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
            return croniter(self.cron, at.replace(tzinfo=None) + dt.timedelta(seconds=1)).get_prev(dt.datetime
                                                                                               ).replace(tzinfo=dt.UTC)
        epoch = int(at.timestamp()) // self.interval * self.interval
        return dt.datetime.fromtimestamp(epoch, dt.UTC)

    def next_after(self, at: dt.datetime) -> dt.datetime:
        at = at.astimezone(dt.UTC)
        if self.cron:
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
