"""``POST /webhooks/stripe`` as Stripe calls it: real signed bodies (``t=<ts>,v1=<HMAC-SHA256
of "<ts>.<body>">`` with the endpoint's secret), on SQLite and PostgreSQL; processing
inline without Redis, and on a real RQ worker with Redis.

What a person would notice: a forged or replayed request changes nothing; the client's
plan and subscription status follow Stripe; a redelivered event is not applied twice;
what was not applied says why on the billing event the Admin sees in the console.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
import sqlalchemy as sa

from app import create_app
from app import models as m
from app.extensions import db
from tests.conftest import login, work_off

SECRET = "whsec_atrium_test_secret"
PRICES = "price_basic:basic,price_pro:pro"


@pytest.fixture
def stripe_app(app):
    app.config.update(STRIPE_WEBHOOK_SECRET=SECRET, STRIPE_PRICE_TIERS=PRICES)
    client = _client("basic-co")  # seeded on Basic, subscription active
    client.stripe_customer_id, client.stripe_subscription_id = "cus_basic", "sub_basic"
    db.session.commit()
    return app


def _client(slug="basic-co") -> m.Client:
    db.session.expire_all()
    return db.session.execute(sa.select(m.Client).filter_by(slug=slug)).scalar_one()


def _billing_events() -> list[m.BillingEvent]:
    """The events this test posted (the demo seed stores one per paying client)."""
    db.session.expire_all()
    return list(db.session.execute(sa.select(m.BillingEvent).where(~m.BillingEvent.provider_event_id.like(
        "evt_demo_%")).order_by(m.BillingEvent.id)).scalars())


def _tier_changes(client_id: int) -> list[m.AuditEvent]:
    db.session.expire_all()
    events = db.session.execute(sa.select(m.AuditEvent).where(
        m.AuditEvent.resource_type == "Client", m.AuditEvent.resource_id == str(client_id),
        m.AuditEvent.action == "update").order_by(m.AuditEvent.seq)).scalars()
    return [e for e in events if "tier" in (e.changes or {})]


def _audit_count() -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(m.AuditEvent)).scalar_one()


def _signature(body: str, secret: str = SECRET, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def _post(http, event: dict | str, signature: str | None = "sign", **sign_args):
    body = event if isinstance(event, str) else json.dumps(event)
    headers = {"Content-Type": "application/json"}
    if signature == "sign":
        signature = _signature(body, **sign_args)
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return http.post("/webhooks/stripe", data=body.encode(), headers=headers)


def _event(event_id: str, kind: str, obj: dict, created: int | None = None) -> dict:
    return {"id": event_id, "object": "event", "api_version": "2025-08-27.basil",
            "created": int(time.time()) if created is None else created, "livemode": False,
            "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None},
            "type": kind, "data": {"object": obj}}


def _subscription(kind: str, price: str = "price_pro", status: str = "active", customer: str = "cus_basic",
                  event_id: str = "evt_sub_1", created: int | None = None) -> dict:
    """A subscription event as Stripe sends it (API 2025-03+: the period is on the items)."""
    now = int(time.time())
    item = {"id": "si_1", "object": "subscription_item", "quantity": 1, "subscription": "sub_basic",
            "current_period_start": now - 3600, "current_period_end": now + 30 * 86400,
            "price": {"id": price, "object": "price", "currency": "brl", "unit_amount": 89700,
                      "recurring": {"interval": "month", "interval_count": 1}, "product": "prod_atrium"}}
    sub = {"id": "sub_basic", "object": "subscription", "customer": customer, "status": status,
           "cancel_at_period_end": False, "currency": "brl",
           "items": {"object": "list", "data": [item], "has_more": False}}
    return _event(event_id, kind, sub, created)


def _invoice(kind: str, event_id: str, customer: str = "cus_basic", subscription: str = "sub_basic") -> dict:
    invoice = {"id": "in_1", "object": "invoice", "customer": customer, "status": "open",
               "amount_due": 89700, "currency": "brl", "billing_reason": "subscription_cycle",
               "parent": {"type": "subscription_details",
                          "subscription_details": {"subscription": subscription, "metadata": {}}}}
    return _event(event_id, kind, invoice)


# --------------------------------------------------------------------------- refusals


def test_forged_missing_or_garbled_signatures_are_refused_and_nothing_is_written(stripe_app, client):
    audit_before = _audit_count()
    event = _subscription("customer.subscription.updated")

    forged = _post(client, event, secret="whsec_someone_else")
    assert forged.status_code == 400
    assert "does not match" in forged.get_json()["error"]
    missing = _post(client, event, signature=None)
    assert missing.status_code == 400 and "Missing Stripe-Signature" in missing.get_json()["error"]
    garbled = _post(client, event, signature="not a signature")
    assert garbled.status_code == 400
    # A body changed after signing (the amount, the price...) no longer matches.
    signed_body = json.dumps(event)
    tampered = client.post("/webhooks/stripe", data=signed_body.replace("price_pro", "price_basic").encode(),
                           headers={"Stripe-Signature": _signature(signed_body)})
    assert tampered.status_code == 400

    assert _billing_events() == []
    assert _client().tier == "basic" and _client().subscription_status == "active"
    assert _audit_count() == audit_before


def test_a_signed_body_that_is_not_a_stripe_event_gets_a_clear_400(stripe_app, client):
    not_json = _post(client, "{this is not json")
    assert not_json.status_code == 400 and not_json.get_json()["error"] == "The body is not a JSON Stripe event."
    no_id = _post(client, {"object": "event", "type": "invoice.paid", "data": {"object": {}}})
    assert no_id.status_code == 400 and "no usable id" in no_id.get_json()["error"]
    not_event = _post(client, {"id": "cus_1", "object": "customer"})
    assert not_event.status_code == 400
    assert _billing_events() == []


def test_a_replay_outside_the_five_minute_tolerance_is_refused(stripe_app, client):
    old = int(time.time()) - 600
    response = _post(client, _subscription("customer.subscription.updated"), timestamp=old)
    assert response.status_code == 400
    assert "more than 300 seconds old" in response.get_json()["error"]
    assert _billing_events() == [] and _client().tier == "basic"


def test_without_a_configured_secret_the_webhook_says_so_with_503(stripe_app, client):
    stripe_app.config["STRIPE_WEBHOOK_SECRET"] = None
    response = _post(client, _subscription("customer.subscription.updated"))
    assert response.status_code == 503
    assert "STRIPE_WEBHOOK_SECRET" in response.get_json()["error"]
    assert _billing_events() == []


# --------------------------------------------------------------------------- applying


def test_subscription_updated_with_the_pro_price_moves_basic_co_to_pro(stripe_app, client):
    response = _post(client, _subscription("customer.subscription.updated", price="price_pro"))
    assert response.status_code == 200
    answer = response.get_json()
    assert (answer["status"], answer["processing"], answer["event"]) == ("received", "done", "evt_sub_1")
    assert answer["outcome"] == "updated: tier basic -> pro, subscription active"

    basic_co = _client()
    assert basic_co.tier == "pro" and basic_co.subscription_status == "active"
    assert basic_co.stripe_subscription_id == "sub_basic"
    assert basic_co.current_period_end is not None and basic_co.current_period_start < basic_co.current_period_end
    (stored,) = _billing_events()
    assert stored.client_id == basic_co.id and stored.processed_at is not None
    assert stored.type == "customer.subscription.updated" and stored.payload["id"] == "evt_sub_1"

    # Audited as the system user, by the job, field by field.
    (change,) = _tier_changes(basic_co.id)
    system = db.session.execute(sa.select(m.User.id).filter_by(username="system")).scalar_one()
    assert change.changes["tier"] == ["basic", "pro"]
    assert change.actor_id == system and change.channel == "job"
    # The event's arrival itself is audited with the webhook's request.
    (arrival,) = db.session.execute(sa.select(m.AuditEvent).where(
        m.AuditEvent.resource_type == "BillingEvent", m.AuditEvent.action == "create",
        m.AuditEvent.resource_id == str(stored.id))).scalars()
    assert arrival.channel == "webhook" and arrival.actor_id == system and arrival.request_id

    # The Admin sees it in the console's billing events, with its outcome.
    login(client, "admin")
    page = client.get("/billingeventview/list/").get_data(as_text=True)
    assert "evt_sub_1" in page and "updated: tier basic -&gt; pro, subscription active" in page


def test_the_same_event_delivered_twice_is_processed_once(stripe_app, client):
    event = _subscription("customer.subscription.updated", price="price_pro")
    first = _post(client, event)
    again = _post(client, event)  # Stripe redelivers when it missed our first answer

    assert (first.get_json()["status"], first.get_json()["processing"]) == ("received", "done")
    assert again.status_code == 200
    assert (again.get_json()["status"], again.get_json()["processing"]) == ("already received", "done")
    assert again.get_json()["outcome"] == "updated: tier basic -> pro, subscription active"
    assert len(_billing_events()) == 1
    assert len(_tier_changes(_client().id)) == 1
    runs = db.session.execute(sa.select(m.JobRun).filter_by(job_name="billing.process_event")).scalars().all()
    assert len(runs) == 1 and runs[0].status == "succeeded"


def test_subscription_deleted_cancels_and_falls_back_to_free(stripe_app, client):
    _post(client, _subscription("customer.subscription.updated", price="price_pro", event_id="evt_up"))
    response = _post(client, _subscription("customer.subscription.deleted", status="canceled", event_id="evt_del"))

    outcome = response.get_json()["outcome"]
    assert outcome.startswith("updated: tier pro -> free, subscription canceled")
    # Basic Co keeps its 2 projects, 2 domains and 2 members; the Free plan refuses new ones.
    assert "over the Free plan: projects 2/1, domains 2/1, team members 2/1" in outcome
    basic_co = _client()
    assert basic_co.tier == "free" and basic_co.subscription_status == "canceled"
    assert [c.changes["tier"] for c in _tier_changes(basic_co.id)] == [["basic", "pro"], ["pro", "free"]]


def test_a_failed_payment_marks_past_due_and_the_paid_invoice_recovers(stripe_app, client):
    assert _client().subscription_status == "active"

    failed = _post(client, _invoice("invoice.payment_failed", "evt_failed"))
    assert failed.get_json()["outcome"] == "updated: subscription active -> past_due (payment failed)"
    assert _client().subscription_status == "past_due" and _client().tier == "basic"  # the plan is kept

    paid = _post(client, _invoice("invoice.paid", "evt_paid"))
    assert paid.get_json()["outcome"] == "updated: subscription past_due -> active (invoice paid)"
    assert _client().subscription_status == "active"


def test_what_cannot_be_applied_is_recorded_on_the_event_not_retried(stripe_app, client):
    unknown_customer = _post(client, _subscription("customer.subscription.updated", customer="cus_nobody",
                                                   event_id="evt_a"))
    unknown_price = _post(client, _subscription("customer.subscription.updated", price="price_gold",
                                                event_id="evt_b"))
    other_type = _post(client, _event("evt_c", "charge.succeeded", {"id": "ch_1", "object": "charge",
                                                                    "customer": "cus_basic"}))

    assert [r.status_code for r in (unknown_customer, unknown_price, other_type)] == [200, 200, 200]
    assert [e.outcome for e in _billing_events()] == [
        "ignored: no client with customer cus_nobody",
        "ignored: price price_gold is not in STRIPE_PRICE_TIERS",
        "ignored: type charge.succeeded is not handled",
    ]
    assert all(e.processed_at is not None for e in _billing_events())
    basic_co = _client()
    assert basic_co.tier == "basic" and basic_co.subscription_status == "active"
    runs = db.session.execute(sa.select(m.JobRun.status).filter_by(job_name="billing.process_event")).scalars()
    assert set(runs) == {"succeeded"}


def test_an_event_older_than_one_already_applied_does_not_undo_it(stripe_app, client):
    now = int(time.time())
    _post(client, _subscription("customer.subscription.updated", price="price_pro", event_id="evt_new",
                                created=now))
    late = _post(client, _subscription("customer.subscription.updated", price="price_basic", event_id="evt_old",
                                       created=now - 120))
    assert late.get_json()["outcome"] == "ignored: older than evt_new, already applied"
    assert _client().tier == "pro"


def test_a_mistyped_price_map_stops_the_start_and_names_the_setting():
    with pytest.raises(RuntimeError, match=r"STRIPE_PRICE_TIERS: 'price_x:gold' names an unknown tier 'gold'"):
        create_app("test", {"STRIPE_PRICE_TIERS": "price_basic:basic,price_x:gold"})
    with pytest.raises(RuntimeError, match=r"STRIPE_PRICE_TIERS: 'price_pro' is not 'price_id:tier'"):
        create_app("test", {"STRIPE_PRICE_TIERS": "price_pro"})


# --------------------------------------------------------------------------- with a worker


def test_with_redis_the_webhook_answers_before_processing_and_the_worker_applies_it(rq_app, client):
    rq_app.config.update(STRIPE_WEBHOOK_SECRET=SECRET, STRIPE_PRICE_TIERS=PRICES)
    basic_co = _client()
    basic_co.stripe_customer_id, basic_co.stripe_subscription_id = "cus_basic", "sub_basic"
    db.session.commit()

    event = _subscription("customer.subscription.updated", price="price_pro")
    response = _post(client, event)
    assert response.status_code == 200
    assert (response.get_json()["status"], response.get_json()["processing"]) == ("received", "queued")
    (stored,) = _billing_events()
    assert stored.processed_at is None and _client().tier == "basic"  # answered before processing
    # Stripe delivers it again before the worker got to it: queued again, applied once.
    again = _post(client, event)
    assert (again.get_json()["status"], again.get_json()["processing"]) == ("already received", "queued")

    work_off(rq_app, ["default"])
    (stored,) = _billing_events()
    assert stored.processed_at is not None
    assert stored.outcome == "updated: tier basic -> pro, subscription active"
    assert _client().tier == "pro"
    assert len(_tier_changes(_client().id)) == 1
    runs = db.session.execute(sa.select(m.JobRun).filter_by(job_name="billing.process_event")).scalars().all()
    assert [(r.status, r.queue, bool(r.rq_job_id)) for r in runs] == [("succeeded", "default", True)] * 2


def test_an_event_stored_while_the_queue_is_down_is_applied_when_stripe_delivers_it_again(stripe_app, client):
    stripe_app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there
    event = _subscription("customer.subscription.updated", price="price_pro")
    down = _post(client, event)
    assert down.status_code == 503
    assert "stored but could not be processed now" in down.get_json()["error"]
    (stored,) = _billing_events()
    assert stored.processed_at is None and _client().tier == "basic"

    stripe_app.config["REDIS_URL"] = None  # the queue is back (here: inline)
    retried = _post(client, event)  # Stripe's own retry
    assert retried.status_code == 200
    assert (retried.get_json()["status"], retried.get_json()["processing"]) == ("already received", "done")
    assert _client().tier == "pro" and len(_billing_events()) == 1
