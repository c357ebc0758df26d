"""Monitoring rules (SPEC §7): uptime checks, TLS certificates and domain registration.

Uptime
- ``due_monitor_ids``: enabled monitors of non-churned clients whose last check is at
  least one interval old. The interval is the client's tier interval
  (``services.tiers``); a monitor's own ``interval_seconds`` is honoured when the plan
  allows custom monitors (Enterprise) or when it is longer than the tier's (a monitor
  may be checked less often, never more often than the plan pays for).
- ``check_monitors``: checks a batch over real HTTP(S) (``integrations.http_check``,
  ``MONITOR_CONCURRENCY`` at once) and applies every result in one transaction:
  a ``MonitorCheck`` row, the consecutive failure/success counters, ``state``.
  After ``MONITOR_FAILURES_TO_OPEN`` failures in a row (default 2) the monitor is
  ``down`` and an incident (source ``monitor``) is opened, starting at the first failed
  check of the streak; after ``MONITOR_SUCCESSES_TO_RESOLVE`` successes (default 2) it
  is ``up`` and the incident is resolved at the first successful check, so downtime
  minutes cover the outage (``services.incidents``). The client's owners and admins are
  emailed on open and on resolve (``services.notifications``, one dedupe key per
  incident and event). Counters and ``last_checked_at`` are telemetry, written in one
  statement per batch and not audited (like ``MonitorCheck``); state changes and
  incidents go through the ORM and are audited.
- ``prune_checks``: ``MonitorCheck`` rows older than ``MONITOR_CHECK_RETENTION_DAYS``.

TLS (``check_domains_tls``) and registration (``check_domain_registration``)
- TLS: a verifying handshake (``integrations.tls``) to ``TLS_CHECK_ADDRESS or name``:
  ``TLS_CHECK_PORT`` (443), trusting ``TLS_CA_BUNDLE`` in addition to the system roots.
  Valid certificate: status ``active``, issuer, expiry. Expired: status ``expired``.
  Wrong name / untrusted chain / failed handshake: status ``none`` (no valid
  certificate), the reason in ``ssl_error``. Unreachable: status left as it was, the
  reason in ``ssl_error``. Warnings at 21, 7 and 1 days before expiry.
- Registration: RDAP at ``RDAP_BASE_URL`` (``integrations.rdap``) gives the renewal
  date (registration date and registrar when published). Warnings at 60, 30, 7 days.
- A warning goes to the client's owners once per threshold and certificate/renewal date:
  ``ssl_warning_days`` / ``registration_warning_days`` hold the last threshold warned
  (cleared when the date moves out of every window), and the email's dedupe key names
  domain, date and threshold, so reruns and retries tell nobody twice.

Everything here is idempotent; jobs (``workers.monitoring``) only call these functions
and commit. No Flask views, no HTTP routes here.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext

from app import i18n
from app.errors import InvalidInput, NotFound
from app.integrations import http_check, rdap, tls
from app.models import (
    Client,
    ClientStatus,
    Domain,
    DomainStatus,
    Monitor,
    MonitorCheck,
    MonitorState,
    Project,
    SSLStatus,
    Tier,
)
from app.models.base import utcnow
from app.services import identity, incidents, notifications, tiers

SSL_WARNING_DAYS = (21, 7, 1)
REGISTRATION_WARNING_DAYS = (60, 30, 7)
DUE_SLACK_SECONDS = 10  # a monitor a few seconds short of its interval is due at this dispatch


def _setting(name: str, default):
    value = current_app.config.get(name)
    return default if value is None else value


def failures_to_open() -> int:
    return int(_setting("MONITOR_FAILURES_TO_OPEN", 2))


def successes_to_resolve() -> int:
    return int(_setting("MONITOR_SUCCESSES_TO_RESOLVE", 2))


def _author_id(session):
    return identity.system_user_id(session)


# --------------------------------------------------------------------------- uptime: due

def interval_for(interval_seconds: int | None, tier) -> int:
    """Seconds between checks of a monitor of a client on ``tier``."""
    plan = tiers.PLANS[Tier(tier)]
    if interval_seconds and (plan.custom_monitors or interval_seconds >= plan.uptime_interval_seconds):
        return int(interval_seconds)
    return plan.uptime_interval_seconds


def due_monitor_ids(session, now: dt.datetime | None = None) -> list[int]:
    """Ids of the monitors due for a check at ``now`` (never checked first, then oldest)."""
    now = now or utcnow()
    rows = session.execute(
        sa.select(Monitor.id, Monitor.interval_seconds, Monitor.last_checked_at, Client.tier)
        .join(Client, Client.id == Monitor.client_id)
        .where(Monitor.enabled.is_(True), Client.status != ClientStatus.CHURNED)).all()
    due = []
    for monitor_id, interval, last, tier in rows:
        if last is None or (now - last).total_seconds() + DUE_SLACK_SECONDS >= interval_for(interval, tier):
            due.append((last or dt.datetime.min.replace(tzinfo=dt.UTC), monitor_id))
    return [monitor_id for _, monitor_id in sorted(due)]


# --------------------------------------------------------------------------- uptime: check

def _request_for(monitor) -> http_check.CheckRequest:
    return http_check.CheckRequest(monitor_id=monitor.id, url=monitor.url, method=str(monitor.method or "GET"),
                                   expected_status=monitor.expected_status or 200, keyword=monitor.keyword or None,
                                   timeout_seconds=monitor.timeout_seconds or 10)


def check_monitors(session, monitor_ids: Sequence[int], now: dt.datetime | None = None) -> dict:
    """Check ``monitor_ids`` now and apply the results; a summary for the JobRun.

    Ids of monitors deleted or disabled since they were queued are skipped (counted as
    ``skipped``). The read transaction is closed before the network part, so no
    database transaction stays open while servers answer."""
    ids = sorted({int(i) for i in monitor_ids})
    monitors = list(session.execute(sa.select(Monitor).where(Monitor.id.in_(ids), Monitor.enabled.is_(True))
                                    ).scalars()) if ids else []
    requests = [_request_for(m) for m in monitors]
    session.commit()  # end the read transaction before waiting on the network
    started = time.perf_counter()
    results = http_check.run_checks(requests, concurrency=int(_setting("MONITOR_CONCURRENCY", 100)),
                                    ca_bundle=current_app.config.get("TLS_CA_BUNDLE"))
    network = time.perf_counter()
    summary = apply_results(session, results, now=now)
    summary["skipped"] = len(ids) - len(monitors)
    summary["network_ms"] = int((network - started) * 1000)
    summary["apply_ms"] = int((time.perf_counter() - network) * 1000)
    return summary


def apply_results(session, results: Iterable[http_check.CheckResult], now: dt.datetime | None = None) -> dict:
    """Record check results and move monitors' state, opening/resolving incidents."""
    results = list(results)
    summary = {"checked": len(results), "ok": 0, "failed": 0, "opened": [], "resolved": []}
    if not results:
        return summary
    now = now or utcnow()
    by_id = {r.monitor_id: r for r in results}
    query = sa.select(Monitor).where(Monitor.id.in_(sorted(by_id))).order_by(Monitor.id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=Monitor)  # concurrent checks of one monitor count in turn
    monitors = list(session.execute(query).scalars())
    to_open, to_resolve = failures_to_open(), successes_to_resolve()

    checks, counters, transitions = [], [], []
    for monitor in monitors:
        result = by_id[monitor.id]
        checks.append({"client_id": monitor.client_id, "monitor_id": monitor.id, "checked_at": now,
                       "ok": result.ok, "status_code": result.status_code, "latency_ms": result.latency_ms,
                       "error": (result.error or None) and result.error[:2000]})
        failures = 0 if result.ok else (monitor.consecutive_failures or 0) + 1
        successes = (monitor.consecutive_successes or 0) + 1 if result.ok else 0
        counters.append({"id": monitor.id, "consecutive_failures": failures, "consecutive_successes": successes,
                         "last_checked_at": now})
        summary["ok" if result.ok else "failed"] += 1
        state = monitor.state
        if not result.ok and failures >= to_open and state != MonitorState.DOWN:
            transitions.append((monitor, MonitorState.DOWN, failures, result))
        elif result.ok and state != MonitorState.UP and (successes >= to_resolve or state == MonitorState.UNKNOWN):
            transitions.append((monitor, MonitorState.UP, successes, result))

    session.execute(sa.insert(MonitorCheck), checks)
    session.execute(sa.update(Monitor).execution_options(atrium_audit_skip=True), counters)
    for monitor, new_state, streak, result in transitions:
        previous = monitor.state
        monitor.state = new_state
        if new_state == MonitorState.DOWN:
            incident = _open_incident(session, monitor, streak, result, now)
            if incident is not None:
                summary["opened"].append(incident.id)
        elif previous == MonitorState.DOWN:
            incident = _resolve_incident(session, monitor, streak, now)
            if incident is not None:
                summary["resolved"].append(incident.id)
    session.flush()
    return summary


def _streak_start(session, monitor_id: int, ok: bool):
    """When the current run of ``ok`` (or failing) checks began: its first check."""
    last_other = (sa.select(sa.func.max(MonitorCheck.checked_at))
                  .where(MonitorCheck.monitor_id == monitor_id, MonitorCheck.ok.is_(not ok)).scalar_subquery())
    return session.execute(
        sa.select(sa.func.min(MonitorCheck.checked_at))
        .where(MonitorCheck.monitor_id == monitor_id, MonitorCheck.ok.is_(ok),
               sa.or_(last_other.is_(None), MonitorCheck.checked_at > last_other))).scalar_one()


def _project_name(session, project_id) -> str:
    return session.execute(sa.select(Project.name).where(Project.id == project_id)).scalar_one_or_none() or ""


def _open_incident(session, monitor, failures: int, result, now):
    if incidents.open_monitor_incident(session, monitor) is not None:
        return None  # already open (a manual reopen, or a retried batch)
    started_at = _streak_start(session, monitor.id, ok=False) or now
    incident = incidents.open_from_monitor(session, monitor, started_at=started_at, failures=failures,
                                           error=result.error, now=now, author_id=_author_id(session))
    session.flush()
    project = _project_name(session, monitor.project_id)
    notifications.notify(
        session, kind="incident_opened", recipients=notifications.client_owners(session, monitor.client_id),
        client_id=monitor.client_id, dedupe_key=f"incident:{incident.id}:opened",
        # Functions: each owner reads it in their language (``notifications.notify``).
        subject=lambda: _("[Atrium] %(project)s: %(url)s is down", project=project, url=monitor.url),
        body=lambda: ngettext(
            "Our uptime monitor could not reach %(url)s (%(error)s) %(num)d time in a row, starting %(start)s UTC."
            "\n\nWe opened incident #%(number)d and are investigating. You will hear from us when it is resolved.",
            "Our uptime monitor could not reach %(url)s (%(error)s) %(num)d times in a row, starting %(start)s UTC."
            "\n\nWe opened incident #%(number)d and are investigating. You will hear from us when it is resolved.",
            failures, url=monitor.url, error=result.error or _("check failed"), start=_when(started_at),
            number=incident.id))
    return incident


def _resolve_incident(session, monitor, successes: int, now):
    incident = incidents.open_monitor_incident(session, monitor)
    if incident is None:
        return None  # staff resolved it by hand meanwhile
    recovered_at = _streak_start(session, monitor.id, ok=True) or now
    incidents.resolve_from_monitor(session, incident, recovered_at=recovered_at, successes=successes, now=now,
                                   author_id=_author_id(session))
    session.flush()
    project = _project_name(session, monitor.project_id)
    minutes = incident.downtime_minutes
    notifications.notify(
        session, kind="incident_resolved", recipients=notifications.client_owners(session, monitor.client_id),
        client_id=monitor.client_id, dedupe_key=f"incident:{incident.id}:resolved",
        subject=lambda: _("[Atrium] %(project)s: %(url)s is back up", project=project, url=monitor.url),
        body=lambda: ngettext(
            "%(url)s answers again since %(since)s UTC. Incident #%(number)d is resolved; total downtime %(num)d "
            "minute.",
            "%(url)s answers again since %(since)s UTC. Incident #%(number)d is resolved; total downtime %(num)d "
            "minutes.", minutes, url=monitor.url, since=_when(recovered_at), number=incident.id))
    return incident


def _when(moment: dt.datetime) -> str:
    """A UTC time in an e-mail, in its reader's locale: ``2026-12-07 14:05`` (``07/12/2026 14:05``)."""
    return f"{i18n.date(moment)} {i18n.clock(moment)}"


def prune_checks(session, now: dt.datetime | None = None, retention_days: int | None = None) -> int:
    """Delete checks older than the retention window; the number deleted."""
    days = int(retention_days if retention_days is not None else _setting("MONITOR_CHECK_RETENTION_DAYS", 30))
    if days < 1:
        raise InvalidInput(f"MONITOR_CHECK_RETENTION_DAYS must be at least 1 (got {days}).")
    cutoff = (now or utcnow()) - dt.timedelta(days=days)
    result = session.execute(sa.delete(MonitorCheck).where(MonitorCheck.checked_at < cutoff))
    return result.rowcount or 0


# --------------------------------------------------------------------------- domains

CHECKED_DOMAIN_STATUSES = (DomainStatus.ACTIVE, DomainStatus.PENDING)


def domains_to_check(session, domain_id: int | None = None) -> list[Domain]:
    """One domain (any status: a person asked) or every active/pending domain."""
    if domain_id is not None:
        domain = session.get(Domain, int(domain_id))
        if domain is None:
            raise NotFound(f"There is no domain with id {domain_id}.")
        return [domain]
    return list(session.execute(sa.select(Domain).where(Domain.status.in_(CHECKED_DOMAIN_STATUSES))
                                .order_by(Domain.id)).scalars())


def warning_threshold(days_left: float | None, thresholds: Sequence[int]) -> int | None:
    """The smallest threshold the time left has reached (21/7/1 ...), None when outside."""
    if days_left is None:
        return None
    reached = [t for t in thresholds if days_left <= t]
    return min(reached) if reached else None


def _warn_once(session, domain, *, field: str, threshold: int | None, date, kind: str, subject, body):
    """Email the owners when ``threshold`` differs from the last one warned on ``domain``."""
    if threshold is None:
        setattr(domain, field, None)
        return 0
    if getattr(domain, field) == threshold:
        return 0
    setattr(domain, field, threshold)
    return notifications.notify(session, kind=kind, recipients=notifications.client_owners(session, domain.client_id),
                                client_id=domain.client_id, dedupe_key=f"{kind}:{domain.id}:{date}:{threshold}",
                                subject=subject, body=body)


def tls_settings() -> dict:
    return {"port": int(_setting("TLS_CHECK_PORT", 443)), "address": current_app.config.get("TLS_CHECK_ADDRESS"),
            "timeout": float(_setting("TLS_CHECK_TIMEOUT", 10)), "ca_bundle": current_app.config.get("TLS_CA_BUNDLE")}


TLS_PARALLEL_HANDSHAKES = 16


def check_domains_tls(session, domains: Sequence[Domain], now: dt.datetime | None = None
                      ) -> list[tls.CertificateResult]:
    """Handshake with every domain's server (``TLS_PARALLEL_HANDSHAKES`` at a time, so one
    slow server does not hold up the rest) and apply what each showed."""
    settings = tls_settings()
    names = [d.name for d in domains]
    if not names:
        return []
    session.commit()  # end the read transaction before waiting on the network
    with ThreadPoolExecutor(max_workers=min(TLS_PARALLEL_HANDSHAKES, len(names))) as pool:
        results = list(pool.map(lambda name: tls.check_certificate(name, **settings), names))
    for domain, result in zip(domains, results, strict=True):
        apply_tls_result(session, domain, result, now=now)
    return results


def apply_tls_result(session, domain, result: tls.CertificateResult, now: dt.datetime | None = None) -> None:
    now = now or utcnow()
    domain.ssl_checked_at = now
    if result.ok:
        domain.ssl_status = SSLStatus.ACTIVE if result.not_after > now else SSLStatus.EXPIRED
        domain.ssl_issuer = (result.issuer or "")[:200] or None
        domain.ssl_expires_at = result.not_after
        domain.ssl_error = None
        days = result.days_left(now)
        threshold = warning_threshold(days, SSL_WARNING_DAYS)
        whole = max(0, int(days))
        _warn_once(session, domain, field="ssl_warning_days", threshold=threshold,
                   date=result.not_after.date().isoformat(), kind="ssl_expiring",
                   subject=lambda: ngettext("[Atrium] The TLS certificate of %(domain)s expires in %(num)d day",
                                            "[Atrium] The TLS certificate of %(domain)s expires in %(num)d days",
                                            whole, domain=domain.name),
                   body=lambda: _("The certificate served for %(domain)s (issued by %(issuer)s) expires on %(at)s UTC. "
                                  "Visitors will see a security error after that unless it is renewed. We are on it; "
                                  "reply to this email if you manage the certificate.", domain=domain.name,
                                  issuer=result.issuer or _("unknown"), at=_when(result.not_after)))
        return
    domain.ssl_error = (result.error or "TLS check failed")[:2000]
    if result.error_kind == "expired":
        domain.ssl_status = SSLStatus.EXPIRED
        notifications.notify(
            session, kind="ssl_expired", recipients=notifications.client_owners(session, domain.client_id),
            client_id=domain.client_id,
            dedupe_key=f"ssl_expired:{domain.id}:{(domain.ssl_expires_at or now).date().isoformat()}",
            subject=lambda: _("[Atrium] The TLS certificate of %(domain)s has expired", domain=domain.name),
            body=lambda: _("Visitors of %(domain)s now see a security error: %(error)s. We are renewing it.",
                           domain=domain.name, error=result.error))
    elif result.error_kind in ("hostname", "untrusted", "handshake"):
        domain.ssl_status = SSLStatus.NONE
    # unreachable: a network problem says nothing about the certificate; status stays


def check_domain_registration(session, domain, now: dt.datetime | None = None) -> rdap.Registration:
    """Look the domain up over RDAP and apply its renewal date (raises ``rdap.RDAPError``)."""
    registration = rdap.lookup_domain(domain.name, base_url=_setting("RDAP_BASE_URL", "https://rdap.org"),
                                      ca_bundle=current_app.config.get("TLS_CA_BUNDLE"))
    apply_registration(session, domain, registration, now=now)
    return registration


def apply_registration(session, domain, registration: rdap.Registration, now: dt.datetime | None = None) -> None:
    now = now or utcnow()
    renewal = registration.expires_at.date()
    domain.renewal_date = renewal
    if registration.registered_at is not None:
        domain.registered_on = registration.registered_at.date()
    if registration.registrar:
        domain.registrar = registration.registrar
    domain.registration_checked_at = now
    days = (renewal - now.date()).days
    shown = max(0, days)
    _warn_once(session, domain, field="registration_warning_days",
               threshold=warning_threshold(days, REGISTRATION_WARNING_DAYS), date=renewal.isoformat(),
               kind="domain_expiring",
               subject=lambda: ngettext("[Atrium] The domain %(domain)s expires in %(num)d day",
                                        "[Atrium] The domain %(domain)s expires in %(num)d days", shown,
                                        domain=domain.name),
               body=lambda: (_("The registration of %(domain)s expires on %(date)s (auto-renew is on). If it lapses, "
                               "the site and email on it stop working. Reply to this email if you want us to renew "
                               "it.", domain=domain.name, date=i18n.date(renewal)) if domain.auto_renew else
                             _("The registration of %(domain)s expires on %(date)s and auto-renew is off. If it "
                               "lapses, the site and email on it stop working. Reply to this email if you want us "
                               "to renew it.", domain=domain.name, date=i18n.date(renewal))))
