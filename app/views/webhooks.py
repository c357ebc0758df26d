"""``POST /webhooks/stripe``: Stripe's events (SPEC §9). No login, no CSRF token: the
Stripe-Signature header over the raw body is the credential.

The door only: ``services.billing`` verifies (``read_webhook``), stores once
(``receive``) and holds every rule; the ``billing.process_event`` job applies the event,
so Stripe gets its answer without waiting (inline in this request without Redis).

Answers, always JSON:
- 200 ``{"status": "queued"|"processed", ...}``: a new event, stored (and processed when
  inline, with its ``outcome``);
- 200 ``{"status": "already received"}``: a redelivery; it is not processed again;
- 400 ``{"error": ...}``: missing or wrong signature, a timestamp past the tolerance, a
  body that is not a Stripe event; nothing is written;
- 503: this install has no ``STRIPE_WEBHOOK_SECRET`` (Stripe retries later).

Stripe is nobody in Atrium: the request stores and enqueues as the ``system`` user, on
channel ``webhook``, in an app context (and database session) of its own, the way jobs
run, so the audit trail records the received event with this request's id and address.
"""

from __future__ import annotations

import dataclasses
import logging
from contextlib import contextmanager

from flask import Blueprint, Flask, current_app, jsonify, request

from app.extensions import csrf, db
from app.services import billing, identity
from app.services.errors import AtriumError

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    billing.parse_price_tiers(app.config.get("STRIPE_PRICE_TIERS"))  # a typo stops the start, named
    csrf.exempt(bp)
    app.register_blueprint(bp)


@bp.post("/stripe")
def stripe_webhook():
    body = request.get_data(cache=False)  # the raw bytes Stripe signed
    try:
        event = billing.read_webhook(body, request.headers.get("Stripe-Signature"),
                                     current_app.config.get("STRIPE_WEBHOOK_SECRET"))
    except AtriumError as exc:
        log.warning("Stripe webhook refused (%s): %s", exc.status, exc.message)
        return jsonify(error=exc.message), exc.status
    with _as_system():
        row, new = billing.receive(db.session, event)
        answer = {"received": True, "event": row.provider_event_id, "type": row.type}
        if not new:
            return jsonify({**answer, "status": "already received"}), 200
        from workers.queues import enqueue

        try:
            run_id = enqueue("billing.process_event", billing_event_id=row.id)
        except Exception:  # noqa: BLE001 - inline run failed: its JobRun says why; the event is kept
            log.exception("Stripe event %s stored but its processing failed", row.provider_event_id)
            return jsonify({**answer, "status": "stored; processing failed (see the jobs console)"}), 200
        db.session.refresh(row)
        if row.processed_at is None:
            return jsonify({**answer, "status": "queued", "job_run": run_id}), 200
        return jsonify({**answer, "status": "processed", "job_run": run_id, "outcome": row.outcome}), 200


@contextmanager
def _as_system():
    """An app context of its own acting as the ``system`` user on channel ``webhook``."""
    request_identity = identity.current()
    with current_app.app_context():
        system = identity.system_user_id(db.session)
        identity.bind_job(dataclasses.replace(
            request_identity, actor_id=system, true_user_id=system, impersonation_session_id=None,
            read_only=False, channel="webhook"))
        yield
