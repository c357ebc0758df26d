"""Billing jobs (queue ``default``): ``billing.process_event`` applies one stored Stripe
event (``BillingEvent``) to its client; ``billing.reconcile`` (every 10 minutes, the
``billing reconcile`` schedule) applies every stored event still unapplied after
``JOB_REQUEUE_GRACE_SECONDS`` (its job was lost with Redis's data). The rules are
``app.services.billing``; this module only runs them.

The webhook stores the event and enqueues this job, so Stripe gets its answer without
waiting for the processing (inline, in the webhook's request, when there is no Redis).
Idempotent: an event already processed is not applied again, so a retry or a requeue
from the jobs console changes nothing twice.
"""

from __future__ import annotations

import datetime as dt
import logging

from flask import current_app

from app.errors import AtriumError
from app.extensions import db
from app.models.base import utcnow
from app.services import billing
from app.services.jobs import job

log = logging.getLogger(__name__)


@job("billing.process_event", queue="default", timeout=60, retries=(10, 60, 300))
def process_event(billing_event_id: int) -> dict:
    """Apply one received Stripe event (subscription status, tier) and record its outcome."""
    price_tiers = billing.parse_price_tiers(current_app.config.get("STRIPE_PRICE_TIERS"))
    outcome = billing.process(db.session, int(billing_event_id), price_tiers)
    db.session.commit()
    return {"billing_event_id": int(billing_event_id), "outcome": outcome}


@job("billing.reconcile", queue="default", timeout=300, retries=(60, 300))
def reconcile() -> dict:
    """Apply stored Stripe events that were never applied (their job lost with Redis's data)."""
    price_tiers = billing.parse_price_tiers(current_app.config.get("STRIPE_PRICE_TIERS"))
    grace = int(current_app.config.get("JOB_REQUEUE_GRACE_SECONDS") or 0)
    applied, failed = [], []
    for event_id in billing.unapplied(db.session, utcnow() - dt.timedelta(seconds=grace)):
        try:
            billing.process(db.session, event_id, price_tiers)  # once, under the event's row lock
            db.session.commit()
            applied.append(event_id)
        except AtriumError as exc:  # one bad event does not hold up the others
            db.session.rollback()
            log.warning("billing event %s not applied by the reconciler: %s", event_id, exc.message)
            failed.append(event_id)
    if failed and not applied:
        raise RuntimeError(f"billing events {failed} could not be applied")
    return {"applied": applied, "failed": failed}
