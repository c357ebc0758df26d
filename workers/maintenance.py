"""Maintenance jobs (SPEC §7): send the email outbox, daily analytics, cleanup, backups.
Rules live in the services; these only run them and report what they did."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask import current_app

from app.errors import InvalidInput
from app.extensions import db
from app.integrations.mail import SmtpSender
from app.models import EmailStatus, OutboxEmail
from app.models.base import utcnow
from app.services import analytics, audit_checkpoints, backup, impersonation, jobs, monitoring, notifications, sessions
from app.services.jobs import job


@job("maintenance.send_outbox", queue="default", timeout=300, retries=(60, 300, 900))
def send_outbox(limit: int = 200) -> dict:
    """Send queued notification emails over SMTP."""
    config = current_app.config
    if not config.get("SMTP_HOST"):
        waiting = db.session.execute(sa.select(sa.func.count()).select_from(OutboxEmail)
                                     .where(OutboxEmail.status == EmailStatus.QUEUED)).scalar_one()
        return {"sent": 0, "queued": int(waiting), "skipped": "SMTP_HOST is not set"}
    with SmtpSender(config) as send:
        return notifications.send_outbox(db.session, send, limit=limit)


@job("maintenance.daily_analytics", queue="maintenance", timeout=600, retries=(60, 300))
def daily_analytics(date: str | None = None) -> dict:
    """Compute one day's DailyAnalytics row (default: yesterday, UTC)."""
    try:
        day = dt.date.fromisoformat(date) if date else utcnow().date() - dt.timedelta(days=1)
    except ValueError:
        raise InvalidInput(f"date must be YYYY-MM-DD, not {date!r}") from None
    row = analytics.compute_day(db.session, day)
    db.session.commit()
    return {"date": day.isoformat(), "tickets_opened": row.tickets_opened, "mrr_total": str(row.mrr_total)}


@job("maintenance.cleanup", queue="maintenance", timeout=1800, retries=(300,))
def cleanup() -> dict:
    """Prune monitor checks, job runs and old sign-in sessions past retention; end
    expired view-as sessions."""
    now = utcnow()
    checks = monitoring.prune_checks(db.session, now=now)
    keep_days = int(current_app.config.get("JOB_RUN_RETENTION_DAYS") or 90)
    runs = jobs.prune_runs(db.session, before=now - dt.timedelta(days=keep_days))
    ended = impersonation.end_expired(db.session, now=now)
    session_days = int(current_app.config.get("SESSION_RETENTION_DAYS") or 30)
    old_sessions = sessions.prune(db.session, before=now - dt.timedelta(days=session_days))
    db.session.commit()
    return {"monitor_checks_pruned": checks, "job_runs_pruned": runs, "view_as_sessions_ended": ended,
            "sessions_pruned": old_sessions}


@job("maintenance.backups", queue="maintenance", timeout=3600, retries=(600, 1800))
def backups() -> dict:
    """Weekly per-client JSON backups into BACKUP_DIR, keeping the newest BACKUP_KEEP."""
    config = current_app.config
    return backup.backup_all(db.session, backup_dir=config["BACKUP_DIR"], keep=int(config["BACKUP_KEEP"]),
                             with_files=bool(config.get("BACKUP_WITH_FILES")), upload_dir=config.get("UPLOAD_DIR"))


@job("maintenance.reap_lost_jobs", queue="high", timeout=120, retries=(60,))
def reap_lost_jobs() -> dict:
    """Lost jobs: a worker died mid-run (retried by RQ or failed), or a queued run's job is
    gone from Redis (queued again); JobRuns in step."""
    return {**jobs.reap_lost_runs(), **jobs.requeue_lost_runs()}


@job("maintenance.audit_checkpoint", queue="maintenance", timeout=1800, retries=(300,))
def audit_checkpoint() -> dict:
    """Verify the audit chain and write a signed checkpoint of its head (AUDIT_CHECKPOINT_DIR)."""
    path, seq = audit_checkpoints.sign_head(db.session, current_app.config)
    return {"seq": seq, "file": path}
