"""Sync jobs (queue ``sync``, SPEC §7): campaign metrics from the ad platforms and
network usage from the hosting/CDN API. The rules are ``app.services.campaign_sync``;
this module only runs them and reports what happened.

- ``sync.campaigns`` (daily 04:00 UTC): fans out one ``sync.campaign`` per due campaign,
  so each campaign has its own JobRun, retries and error (one account's bad token does
  not hold back the others). Without Redis the fan-out runs them inline, one by one.
- ``sync.campaign`` (campaign_id=..., optional days=...): one campaign's trailing window.
- ``sync.network_usage`` (hourly): every site's traffic for yesterday and today.

Failures: ``AuthenticationFailed``/``PlatformRejected``/``SyncRefused`` are
``PermanentError``s, so the JobRun ends as failed at once with their message;
``PlatformUnavailable`` (429, 5xx, timeouts) is retried by RQ with the back-off below.
"""

from __future__ import annotations

import logging

from flask import current_app

from app.extensions import db
from app.services import campaign_sync
from app.services.jobs import enqueue, job

log = logging.getLogger(__name__)


@job("sync.campaigns", queue="sync", timeout=600, retries=(60, 300))
def sync_campaigns(force: bool = False) -> dict:
    """Queue a sync of every campaign that is due (force=True: every syncable campaign)."""
    due, skipped = campaign_sync.campaigns_due(db.session, current_app.config, force=bool(force))
    db.session.commit()
    queued, failed_inline = [], {}
    for campaign_id in due:
        try:
            queued.append(enqueue("sync.campaign", campaign_id=campaign_id))
        except Exception as exc:  # noqa: BLE001 - inline mode: that run's JobRun already says why
            failed_inline[str(campaign_id)] = f"{type(exc).__name__}: {exc}"[:300]
    summary = {"due": len(due), "queued_runs": queued, "skipped": skipped}
    if failed_inline:
        summary["failed"] = failed_inline
    return summary


@job("sync.campaign", queue="sync", timeout=300, retries=(60, 300, 900))
def sync_campaign(campaign_id: int, days: int | None = None) -> dict:
    """Fetch one campaign's trailing window from its platform and upsert its daily metrics."""
    summary = campaign_sync.sync_campaign(db.session, int(campaign_id), current_app.config,
                                          days=None if days is None else int(days))
    db.session.commit()
    return summary


@job("sync.network_usage", queue="sync", timeout=900, retries=(60, 300, 900))
def sync_network_usage(project_id: int | None = None) -> dict:
    """Fetch yesterday's and today's traffic of every site from the hosting/CDN API."""
    summary = campaign_sync.sync_network_usage(db.session, current_app.config,
                                               project_id=None if project_id is None else int(project_id))
    db.session.commit()
    return summary
