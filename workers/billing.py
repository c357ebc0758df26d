"""Billing jobs (queue ``default``): ``billing.process_event`` applies one stored Stripe
event (``BillingEvent``) to its client. The rules are ``app.services.billing``; this
module only runs them.

The webhook stores the event and enqueues this job, so Stripe gets its answer without
waiting for the processing (inline, in the webhook's request, when there is no Redis).
Idempotent: an event already processed is not applied again, so a retry or a requeue
from the jobs console changes nothing twice.
"""

from __future__ import annotations

from flask import current_app

from app.extensions import db
from app.services import billing
from workers.queues import job


@job("billing.process_event", queue="default", timeout=60, retries=(10, 60, 300))
def process_event(billing_event_id: int) -> dict:
    """Apply one received Stripe event (subscription status, tier) and record its outcome."""
    price_tiers = billing.parse_price_tiers(current_app.config.get("STRIPE_PRICE_TIERS"))
    outcome = billing.process(db.session, int(billing_event_id), price_tiers)
    db.session.commit()
    return {"billing_event_id": int(billing_event_id), "outcome": outcome}
