"""Monitoring jobs (SPEC §7): uptime dispatch and checks, TLS, domain expiry, check pruning.

The rules are ``app.services.monitoring``; these bodies pick what to work on, call the
service, commit, and return a summary for the JobRun. Names are fixed: ``workers.cron``
schedules them by name.

- ``monitoring.uptime_dispatch`` (every minute): queues ``monitoring.uptime_check`` for
  the monitors that are due, in batches of ``MONITOR_BATCH_SIZE`` (default 1000) so one
  worker checks hundreds of monitors concurrently in one job (every batch waits for its
  slowest check: fewer, larger batches suit one worker; smaller ones spread over many).
- ``monitoring.uptime_check``: ``monitor_ids=[...]`` (a batch) or ``monitor_id`` (a
  person's "Run now").
- ``monitoring.tls_check`` / ``monitoring.domain_expiry``: every active or pending
  domain, or ``domain_id``. With one domain a failure fails the job with its reason;
  with all of them each failure is reported in the summary and the others go on.
Checks past ``MONITOR_CHECK_RETENTION_DAYS`` are pruned by ``maintenance.cleanup``.
"""

from __future__ import annotations

from flask import current_app

from app.extensions import db
from app.integrations import rdap
from app.services import monitoring
from app.models import Monitor
from app.errors import InvalidInput, NotFound, PermanentError
from app.services.jobs import enqueue, job

DEFAULT_BATCH_SIZE = 1000  # one worker checks MONITOR_CONCURRENCY of them at a time


@job("monitoring.uptime_dispatch", queue="default", timeout=120, retries=(10, 30))
def uptime_dispatch() -> dict:
    """Queue uptime checks for the monitors that are due by their interval."""
    due = monitoring.due_monitor_ids(db.session)
    db.session.commit()
    size = max(1, int(current_app.config.get("MONITOR_BATCH_SIZE") or DEFAULT_BATCH_SIZE))
    runs = [enqueue("monitoring.uptime_check", monitor_ids=due[i:i + size]) for i in range(0, len(due), size)]
    return {"due": len(due), "jobs": len(runs), "job_runs": runs}


@job("monitoring.uptime_check", queue="default", timeout=900, retries=(15, 60))
def uptime_check(monitor_ids: list | None = None, monitor_id: int | None = None) -> dict:
    """Check monitors over HTTP(S) now; open/resolve incidents."""
    if (monitor_ids is None) == (monitor_id is None):
        raise InvalidInput("Give either monitor_id (one monitor) or monitor_ids (a list), not both or neither.")
    if monitor_id is not None:
        if db.session.get(Monitor, int(monitor_id)) is None:
            raise NotFound(f"There is no monitor with id {monitor_id}.")
        monitor_ids = [monitor_id]
    if not isinstance(monitor_ids, list) or not all(isinstance(i, int) and not isinstance(i, bool)
                                                    for i in monitor_ids):
        raise InvalidInput("monitor_ids must be a list of monitor ids (integers).")
    summary = monitoring.check_monitors(db.session, monitor_ids)
    db.session.commit()
    return summary


@job("monitoring.tls_check", queue="default", timeout=1800, retries=(60, 300))
def tls_check(domain_id: int | None = None) -> dict:
    """Real TLS handshake per domain: SSL status, issuer, expiry; 21/7/1-day warnings."""
    domains = monitoring.domains_to_check(db.session, domain_id)
    results = monitoring.check_domains_tls(db.session, domains)
    db.session.commit()
    summary = {"checked": len(results), "valid": sum(r.ok for r in results),
               "errors": {r.host: r.error for r in results if not r.ok}}
    return summary  # a failed handshake is an observation (ssl_error, status), not a failed job


@job("monitoring.domain_expiry", queue="default", timeout=1800, retries=(60, 300))
def domain_expiry(domain_id: int | None = None) -> dict:
    """RDAP lookup of registration expiry per domain; 60/30/7-day warnings."""
    domains = monitoring.domains_to_check(db.session, domain_id)
    summary = {"checked": 0, "updated": 0, "errors": {}}
    for domain in domains:
        name = domain.name
        summary["checked"] += 1
        try:
            monitoring.check_domain_registration(db.session, domain)
        except rdap.RDAPError as exc:
            db.session.rollback()
            summary["errors"][name] = exc.message
            if domain_id is not None:  # one domain asked for: the JobRun fails with the registry's reason
                if exc.retryable:
                    raise  # 5xx, timeouts: RQ tries again with back-off
                raise PermanentError(exc.message) from None
            continue
        db.session.commit()
        summary["updated"] += 1
    return summary
