"""Keeping campaign metrics and network usage in step with the outside (SPEC §7 sync).

Rules that live here, once:

- Which campaigns sync (``skip_reason``): the client is active; its plan includes the
  platform (``tiers.check_ad_platform``, the tier table's "ad platforms synced"); Atrium
  has an adapter for the platform and its settings are present; the campaign is active or
  paused, or ended less than a sync window ago. A campaign is *due* for the daily run when
  it has not synced for ``DUE_AFTER`` (so a retried or repeated daily run does not fetch
  the same campaigns again).
- What is fetched (``window``): the trailing ``CAMPAIGN_SYNC_WINDOW_DAYS`` days up to
  today, because platforms restate conversions for days after the click; a campaign's
  first sync goes back ``BACKFILL_DAYS``. Never before the campaign's start date or after
  its end date.
- How it is stored (``upsert_metrics``): one ``CampaignMetric`` per (campaign, date),
  created or updated in place, money rounded to cents; a second run with the same figures
  changes nothing (and writes no audit event). Days the platform no longer reports are
  left as they are (platforms leave out days without activity; figures never vanish).
  Derived KPIs (CTR, CPC, CPA, ROAS) are ``services.campaign_metrics``, read from the
  stored figures, never stored.
- CSV import (``import_csv``): the whole file is validated first (every bad line named);
  nothing is written unless every line is good; then the same upsert.
- Network usage (``sync_network_usage``): every project with a site URL of an active
  client, keyed by the site's host name at the hosting/CDN API; yesterday and today are
  fetched each hourly run and upserted by (project, date).

Errors: the adapters raise ``AuthenticationFailed``/``PlatformRejected`` (permanent: the
job fails at once, no retries) or ``PlatformUnavailable`` (transient: RQ retries). Jobs
(``workers.sync``) and the import form are doors; they hold none of these rules.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections import Counter
from decimal import Decimal
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask_babel import ngettext

from app.integrations import campaign_csv
from app.integrations.campaign_sources import PLATFORM_LABELS, DailyMetrics, source_class, source_for
from app.integrations.hosting import HostingAnalytics
from app.integrations.platform_http import AuthenticationFailed, PlatformRejected, PlatformUnavailable
from app.models import (Campaign, CampaignMetric, CampaignStatus, Client, ClientStatus, JobRun, JobStatus,
                        NetworkUsage, Project)
from app.services import audit, tiers
from app.services.campaign_metrics import CENT
from app.errors import InvalidInput, PermanentError

log = logging.getLogger(__name__)

BACKFILL_DAYS = 90
DUE_AFTER = dt.timedelta(hours=20)
NETWORK_WINDOW_DAYS = 2  # yesterday (now complete) and today (so far)
SYNC_JOB = "sync.campaign"


class SyncRefused(PermanentError):
    """This campaign cannot be synced as things stand (plan, status, settings): retrying
    will not help; the message says what would."""

    status = 409


class CsvImportInvalid(InvalidInput):
    """The export has bad lines; ``errors`` lists each one ("Line 4: ...")."""

    def __init__(self, errors: list[str]):
        count = len(errors)
        super().__init__(ngettext("Nothing was imported: %(num)d problem in the file. Fix the lines below and "
                                  "upload it again.",
                                  "Nothing was imported: %(num)d problems in the file. Fix the lines below and "
                                  "upload it again.", count), field="file")
        self.errors = errors


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _money(value) -> Decimal:
    return Decimal(str(value or 0)).quantize(CENT)


# --------------------------------------------------------------------------- rules


def window_days(config) -> int:
    days = int(config.get("CAMPAIGN_SYNC_WINDOW_DAYS") or 7)
    return max(1, days)


def window(campaign, today: dt.date, days: int) -> tuple[dt.date, dt.date] | None:
    """The dates to (re-)fetch for ``campaign``, or None when there is nothing to fetch."""
    end = today if campaign.end_date is None else min(today, campaign.end_date)
    start = end - dt.timedelta(days=days if campaign.last_synced_at is not None else BACKFILL_DAYS)
    if campaign.start_date is not None:
        start = max(start, campaign.start_date)
    return None if start > end else (start, end)


def skip_reason(campaign, client, config, today: dt.date) -> str | None:
    """Why ``campaign`` does not sync now (a sentence), or None when it does."""
    label = PLATFORM_LABELS.get(str(campaign.platform), str(campaign.platform))
    if client.status != ClientStatus.ACTIVE:
        return f"client {client.name} is {client.status}"
    try:
        tiers.check_ad_platform(client, campaign.platform)
    except tiers.LimitReached as exc:
        return exc.message
    if campaign.status == CampaignStatus.ENDED:
        if campaign.end_date is None or campaign.end_date < today - dt.timedelta(days=window_days(config)):
            return "the campaign ended more than a sync window ago"
    cls = source_class(campaign.platform)
    if cls is None:
        return f"Atrium has no {label} adapter yet (import a CSV export instead)"
    missing = cls.missing_settings(config)
    if missing:
        return f"{label} sync is not configured ({', '.join(missing)} missing)"
    return None


def _is_due(campaign, now: dt.datetime) -> bool:
    return campaign.last_synced_at is None or campaign.last_synced_at <= now - DUE_AFTER


def _already_queued(session) -> set[int]:
    """Campaigns with a sync still queued or running (a repeated daily run skips them)."""
    runs = session.execute(sa.select(JobRun.arguments).where(
        JobRun.job_name == SYNC_JOB, JobRun.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))).scalars()
    return {int(a["campaign_id"]) for a in runs
            if isinstance(a, dict) and re.fullmatch(r"[0-9]{1,18}", str(a.get("campaign_id", "")))}


def campaigns_due(session, config, now: dt.datetime | None = None, force: bool = False) -> tuple[list[int], dict]:
    """(ids of the campaigns the daily run syncs, {reason: count} of those it skips)."""
    now = now or _now()
    today = now.date()
    rows = session.execute(sa.select(Campaign, Client).join(Client, Campaign.client_id == Client.id)
                           .order_by(Campaign.id)).all()
    queued = set() if force else _already_queued(session)
    due, skipped = [], Counter()
    for campaign, client in rows:
        reason = skip_reason(campaign, client, config, today)
        if reason is None and not force:
            if campaign.id in queued:
                reason = "a sync is already queued"
            elif not _is_due(campaign, now):
                reason = "synced in the last 20 hours"
        if reason is None:
            due.append(campaign.id)
        else:
            skipped[reason] += 1
    return due, dict(skipped)


# --------------------------------------------------------------------------- storing


def _upsert_daily(session, model, parent_column, parent, items, values_of, same) -> dict:
    """One row of ``model`` per (parent, date): created, or updated where ``same(name,
    stored, new)`` says a value changed; returns the counts (created/updated/unchanged)."""
    existing = {row.date: row for row in session.execute(sa.select(model).where(
        parent_column == parent.id, model.date.in_([item.date for item in items]))).scalars()}
    counts = Counter(created=0, updated=0, unchanged=0)
    for item in items:
        values = values_of(item)
        row = existing.get(item.date)
        if row is None:
            session.add(model(client_id=parent.client_id, date=item.date, **{parent_column.key: parent.id},
                              **values))
            counts["created"] += 1
            continue
        changed = [name for name, value in values.items() if not same(name, getattr(row, name), value)]
        for name in changed:
            setattr(row, name, values[name])
        counts["updated" if changed else "unchanged"] += 1
    session.flush()
    return dict(counts)


def _metric_values(day: DailyMetrics) -> dict:
    return {"impressions": int(day.impressions), "clicks": int(day.clicks), "conversions": _money(day.conversions),
            "cost": _money(day.spend), "revenue": _money(day.revenue)}


def _same_metric(name, stored, value) -> bool:
    return (int(stored or 0) == value) if isinstance(value, int) else (_money(stored) == value)


def upsert_metrics(session, campaign, days: list[DailyMetrics]) -> dict:
    """Create or update one ``CampaignMetric`` per day; returns counts."""
    if not days:
        return {"created": 0, "updated": 0, "unchanged": 0}
    return _upsert_daily(session, CampaignMetric, CampaignMetric.campaign_id, campaign, days, _metric_values,
                         _same_metric)


# --------------------------------------------------------------------------- campaigns


def sync_campaign(session, campaign_id: int, config, *, days: int | None = None,
                  now: dt.datetime | None = None) -> dict:
    """Fetch ``campaign_id``'s trailing window from its platform and upsert it. Raises
    ``SyncRefused`` when the campaign may not sync (plan, status, settings), and what
    the adapter raises (auth: permanent; rate limit/5xx/timeout: transient)."""
    now = now or _now()
    campaign = session.get(Campaign, int(campaign_id))
    if campaign is None:
        raise SyncRefused(f"There is no campaign {campaign_id} (deleted since the sync was queued?).")
    client = session.get(Client, campaign.client_id)
    reason = skip_reason(campaign, client, config, now.date())
    if reason is not None:
        raise SyncRefused(f"Campaign {campaign.name!r} was not synced: {reason}.")
    if days is not None and (int(days) < 1 or int(days) > 366):
        raise SyncRefused("days must be between 1 and 366.")
    span = window(campaign, now.date(), int(days) if days is not None else window_days(config))
    summary = {"campaign_id": campaign.id, "platform": str(campaign.platform)}
    if span is None:
        campaign.last_synced_at = now
        return {**summary, "fetched_days": 0, "note": "the campaign has not started yet"}
    source = source_for(campaign.platform, config)
    fetched = source.fetch_daily(campaign, *span)
    counts = upsert_metrics(session, campaign, fetched)
    campaign.last_synced_at = now
    session.flush()
    log.info("campaign %s synced from %s: %s", campaign.id, source.label, counts)
    return {**summary, "from": span[0].isoformat(), "to": span[1].isoformat(), "fetched_days": len(fetched),
            **counts}


# --------------------------------------------------------------------------- CSV import


def import_csv(session, campaign, data: bytes, *, filename: str = "", today: dt.date | None = None) -> dict:
    """Validate a platform export of ``campaign``'s daily figures and upsert it, all or
    nothing: ``CsvImportInvalid`` (with every bad line) leaves the database untouched."""
    parsed = campaign_csv.parse(data, external_id=campaign.external_id, today=today)
    if parsed.errors:
        raise CsvImportInvalid(parsed.errors)
    counts = upsert_metrics(session, campaign, parsed.rows)
    dates = [r.date for r in parsed.rows]
    audit.record(session, "campaign.metrics_imported", resource_type="Campaign", resource_id=campaign.id,
                 details={"file": filename[:200], "rows": len(parsed.rows), "from": min(dates).isoformat(),
                          "to": max(dates).isoformat(), **counts, "columns": parsed.columns})
    return {"rows": len(parsed.rows), "from": min(dates), "to": max(dates), **counts}


# --------------------------------------------------------------------------- network usage


def zone_of(project) -> str | None:
    """The host name the hosting/CDN API knows the project's site by."""
    if not project.site_url:
        return None
    url = project.site_url if "//" in project.site_url else f"//{project.site_url}"
    host = urlsplit(url).hostname
    return host or None


def _traffic_values(day) -> dict:
    return {"requests_total": day.requests_total, "requests_2xx": day.requests_2xx,
            "requests_4xx": day.requests_4xx, "requests_5xx": day.requests_5xx,
            "bandwidth_gb": day.bandwidth_gb, "geo_distribution": day.geo_distribution or None,
            "peak_at": day.peak_at, "peak_rps": day.peak_rps}


def _same_traffic(name, stored, value) -> bool:
    if name == "bandwidth_gb":
        return Decimal(str(stored or 0)).quantize(Decimal("0.001")) == value
    if name == "peak_at":
        return (stored is None and value is None) or (
            stored is not None and value is not None and stored.replace(microsecond=0) == value.replace(microsecond=0))
    return stored == value


def upsert_network_usage(session, project, traffic) -> dict:
    """Create or update one ``NetworkUsage`` per day; returns counts."""
    return _upsert_daily(session, NetworkUsage, NetworkUsage.project_id, project, traffic, _traffic_values,
                         _same_traffic)


def network_targets(session) -> list:
    """Projects whose traffic is synced: a site URL, an active client."""
    projects = session.execute(sa.select(Project).join(Client, Project.client_id == Client.id)
                               .where(Client.status == ClientStatus.ACTIVE, Project.site_url.is_not(None),
                                      Project.site_url != "")
                               .order_by(Project.id)).scalars().all()
    return [p for p in projects if zone_of(p)]


def sync_network_usage(session, config, *, now: dt.datetime | None = None, project_id: int | None = None) -> dict:
    """Fetch and upsert yesterday's and today's traffic of every target project, one
    commit per project (a failure later keeps what was stored). Rejected credentials stop
    the run at once (``AuthenticationFailed``); a project the API does not know is noted
    and skipped; passing failures are collected and raised at the end as
    ``PlatformUnavailable`` so the job is retried (what was stored is simply upserted
    again)."""
    missing = HostingAnalytics.missing_settings(config)
    if missing:
        return {"skipped": f"network usage sync is not configured ({', '.join(missing)} missing)"}
    adapter = HostingAnalytics.from_config(config)
    today = (now or _now()).date()
    start = today - dt.timedelta(days=NETWORK_WINDOW_DAYS - 1)
    projects = network_targets(session)
    if project_id is not None:
        projects = [p for p in projects if p.id == int(project_id)]
    totals = Counter(projects=0, created=0, updated=0, unchanged=0)
    rejected, unavailable = {}, {}
    for project in projects:
        zone = zone_of(project)
        try:
            traffic = adapter.fetch_daily(zone, start, today)
        except AuthenticationFailed:
            raise
        except PlatformRejected as exc:
            rejected[zone] = exc.message
            continue
        except PlatformUnavailable as exc:
            unavailable[zone] = str(exc)
            continue
        counts = upsert_network_usage(session, project, traffic)
        session.commit()
        totals.update(counts)
        totals["projects"] += 1
    if unavailable:
        first = next(iter(unavailable.items()))
        raise PlatformUnavailable(f"network usage of {len(unavailable)} site(s) could not be fetched "
                                  f"(first: {first[0]}: {first[1]}); {totals['projects']} stored")
    summary = dict(totals)
    if rejected:
        summary["rejected"] = rejected
    return summary
