"""``POST /webhooks/stripe``: Stripe's events (SPEC §9). No login, no CSRF token: the
Stripe-Signature header over the raw body is the credential.

The door only: ``services.billing`` verifies (``read_webhook``), stores once
(``receive``) and holds every rule; the ``billing.process_event`` job applies the event,
so Stripe gets its answer without waiting (inline in this request without Redis).

Answers, always JSON:
- 200 ``{"status": "received", "processing": "done"|"queued", ...}``: a new event, stored,
  and processed (inline, with its ``outcome``) or queued;
- 200 ``{"status": "already received", "processing": "done", ...}``: a redelivery of an
  event already applied; it is not applied again. A redelivery of an event stored but
  not yet processed queues its processing again (harmless: processing applies an event
  once, under a row lock), so a delivery that found the queue down is completed by
  Stripe's own retry; an event answered "queued" whose job was then lost with Redis's
  data is applied by the ``billing reconcile`` schedule (``workers.billing.reconcile``);
- 400 ``{"error": ...}``: missing or wrong signature, a timestamp past the tolerance, a
  body that is not a Stripe event; nothing is written;
- 503 ``{"error": ...}``: no ``STRIPE_WEBHOOK_SECRET`` here (nothing written), or the
  event is stored but its processing could not start or failed inline (queue down):
  Stripe delivers it again later.

Stripe is nobody in Atrium: the request stores and enqueues as the ``system`` user, on
channel ``webhook``, in an app context (and database session) of its own, the way jobs
run, so the audit trail records the received event with this request's id and address.
"""

from __future__ import annotations

import dataclasses
import logging
from contextlib import contextmanager

from flask import Blueprint, Flask, current_app, jsonify, request

from app.errors import AtriumError
from app.extensions import csrf, db
from app.services import billing, identity
from app.services.jobs import enqueue, system_context

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
        answer = {"received": True, "event": row.provider_event_id, "type": row.type,
                  "status": "received" if new else "already received"}
        if row.processed_at is not None:  # a redelivery of an event already applied
            return jsonify({**answer, "processing": "done", "outcome": row.outcome}), 200

        try:
            run_id = enqueue("billing.process_event", billing_event_id=row.id)
        except Exception:  # noqa: BLE001 - queue unreachable, or the inline run failed (its JobRun says why)
            log.exception("Stripe event %s is stored but could not be processed now", row.provider_event_id)
            return jsonify({**answer, "error": "The event is stored but could not be processed now; deliver it "
                                               "again later (Stripe retries by itself)."}), 503
        db.session.refresh(row)
        if row.processed_at is None:
            return jsonify({**answer, "processing": "queued", "job_run": run_id}), 200
        return jsonify({**answer, "processing": "done", "job_run": run_id, "outcome": row.outcome}), 200


@contextmanager
def _as_system():
    """An app context of its own acting as the ``system`` user on channel ``webhook``,
    with the system's tenancy scope bound explicitly (the request itself is nobody's)."""
    system = identity.system_user_id(db.session)  # the users table: no tenant row
    who = dataclasses.replace(identity.current(), actor_id=system, true_user_id=system,
                              impersonation_session_id=None, read_only=False, channel="webhook")
    with system_context(current_app._get_current_object(), who):
        yield
