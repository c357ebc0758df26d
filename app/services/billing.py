"""Billing by Stripe (SPEC §3 Client billing fields and BillingEvent, §9 ``/webhooks/stripe``).

Three steps, each a function here; the webhook view and the ``billing.process_event``
job only call them:

1. ``read_webhook(body, signature, secret)``: Stripe's own signature check
   (``stripe.Webhook.construct_event``: HMAC-SHA256 of ``"<t>.<raw body>"``, timestamp
   no older than ``SIGNATURE_TOLERANCE_SECONDS``), then the event's shape. Anything
   wrong raises ``WebhookRejected`` (400) with a message saying what.
2. ``receive(session, event)``: stores the event as a ``BillingEvent``, once. The unique
   ``provider_event_id`` decides (an INSERT in a savepoint, not a read-then-write), so two
   deliveries of one event racing each other still store and process it once.
3. ``process(session, billing_event_id, price_tiers)``: applies a stored event to the
   client whose ``stripe_customer_id`` it names and records the outcome on the row
   (``processed_at``, ``outcome``). A processed event is never applied again.
4. ``unapplied(session, received_before)``: stored events not processed yet, for the
   ``billing.reconcile`` schedule. The webhook answered Stripe 200 once the event was
   stored, so Stripe will not deliver it again: an event whose queued job was lost
   (Redis emptied) is applied from the database, never forgotten.

The rules of step 3:

| event | subscription status | tier |
|---|---|---|
| ``customer.subscription.created/updated``, Stripe status ``active``/``trialing`` | same | the plan of its price (``STRIPE_PRICE_TIERS``) |
| same, Stripe status ``past_due``/``unpaid`` | ``past_due`` | the plan of its price (kept while Stripe retries the card) |
| same, Stripe status ``incomplete``/``paused`` | ``past_due`` | unchanged (no upgrade before a first payment) |
| same, Stripe status ``canceled``/``incomplete_expired``; ``customer.subscription.deleted`` | ``canceled`` | ``free`` |
| ``invoice.payment_failed`` | ``past_due`` | unchanged |
| ``invoice.paid`` | ``active`` when it was ``past_due`` or unknown | unchanged |

- The plan follows the subscription (its price); invoices only move the status. A
  canceled subscription is not revived by a late invoice event.
- Downgrades keep the client's existing projects, domains, members and files; the
  lower limits refuse new ones (``services.tiers``), and the outcome names what is over.
- Stripe does not promise order: an event older (``created``) than the last one
  applied to the same client is recorded as ignored instead of undoing it.
- Not applied, and said so in ``outcome``: an unknown customer, a price missing from
  ``STRIPE_PRICE_TIERS``, an invoice of another subscription, any other event type.
- Changes are plain ORM writes in the job's session, so the audit trail records them
  (field by field, as the ``system`` user on channel ``job``).

What does not live here: HTTP (``app.views.webhooks``), queueing (``workers.billing``).
"""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app.models import BillingEvent, Client, SubscriptionStatus, Tier
from app.models.base import utcnow
from app.services import tiers
from app.errors import AtriumError, PermanentError

SIGNATURE_TOLERANCE_SECONDS = 300  # Stripe's default: a signed request older than this is a replay
SUBSCRIPTION_EVENTS = frozenset({"customer.subscription.created", "customer.subscription.updated",
                                 "customer.subscription.deleted"})
INVOICE_EVENTS = frozenset({"invoice.paid", "invoice.payment_failed"})
HANDLED_EVENTS = SUBSCRIPTION_EVENTS | INVOICE_EVENTS

# Stripe's subscription statuses -> ours, and whether the price decides the plan.
_ACTIVE, _TRIALING = SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING
_PAST_DUE, _CANCELED = SubscriptionStatus.PAST_DUE, SubscriptionStatus.CANCELED
STRIPE_STATUSES: dict[str, tuple[SubscriptionStatus, bool]] = {
    "active": (_ACTIVE, True), "trialing": (_TRIALING, True),
    "past_due": (_PAST_DUE, True), "unpaid": (_PAST_DUE, True),
    "incomplete": (_PAST_DUE, False), "paused": (_PAST_DUE, False),
    "canceled": (_CANCELED, False), "incomplete_expired": (_CANCELED, False),
}
TIER_WHEN_CANCELED = Tier.FREE
OVER_LIMIT_RESOURCES = ("projects", "domains", "team_members", "storage_bytes")


class WebhookRejected(AtriumError):
    """The request is not a genuine, readable Stripe event: nothing is stored."""

    status = 400


class WebhookNotConfigured(AtriumError):
    """This install has no ``STRIPE_WEBHOOK_SECRET``: Stripe should try again later."""

    status = 503


# --------------------------------------------------------------------------- settings


def parse_price_tiers(raw: str | None) -> dict[str, Tier]:
    """``"price_basic:basic,price_pro:pro"`` -> ``{"price_basic": Tier.BASIC, ...}``.

    Raises ``RuntimeError`` naming the setting and the bad entry (checked when the app
    starts, so a typo stops the deploy instead of ignoring every payment)."""
    mapping: dict[str, Tier] = {}
    for entry in (raw or "").split(","):
        entry = entry.strip()
        if not entry:
            continue
        price, sep, tier = (part.strip() for part in entry.partition(":"))
        if not sep or not price or not tier:
            raise RuntimeError(f"STRIPE_PRICE_TIERS: {entry!r} is not 'price_id:tier' "
                               "(e.g. STRIPE_PRICE_TIERS=price_basic:basic,price_pro:pro)")
        if tier.lower() not in {t.value for t in Tier}:
            raise RuntimeError(f"STRIPE_PRICE_TIERS: {entry!r} names an unknown tier {tier!r}; "
                               f"use one of {', '.join(t.value for t in Tier)}")
        if price in mapping and mapping[price] != Tier(tier.lower()):
            raise RuntimeError(f"STRIPE_PRICE_TIERS: price {price!r} is given two tiers "
                               f"({mapping[price].value} and {tier.lower()})")
        mapping[price] = Tier(tier.lower())
    return mapping


# --------------------------------------------------------------------------- 1. read


def read_webhook(body: bytes, signature: str | None, secret: str | None) -> dict:
    """The verified Stripe event in ``body`` as a plain dict, or ``WebhookRejected``."""
    import stripe  # Stripe's SDK loads only where a webhook is checked

    if not secret:
        raise WebhookNotConfigured("Stripe webhooks are not configured on this server (STRIPE_WEBHOOK_SECRET).")
    if not signature:
        raise WebhookRejected("Missing Stripe-Signature header: only Stripe's signed requests are accepted.")
    try:
        stripe.Webhook.construct_event(body, signature, secret, tolerance=SIGNATURE_TOLERANCE_SECONDS)
        event = json.loads(body)
    except stripe.SignatureVerificationError as exc:
        if "tolerance" in str(exc):
            raise WebhookRejected(f"The Stripe-Signature timestamp is more than {SIGNATURE_TOLERANCE_SECONDS} "
                                  "seconds old: refused as a possible replay.") from None
        raise WebhookRejected("The Stripe-Signature header does not match this body and the endpoint's "
                              "signing secret.") from None
    except ValueError:  # undecodable bytes or JSON (only reached once the signature matched)
        raise WebhookRejected("The body is not a JSON Stripe event.") from None
    if not isinstance(event, dict) or event.get("object") != "event":
        raise WebhookRejected('The body is not a Stripe event (expected "object": "event").')
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= 255:
        raise WebhookRejected("The Stripe event has no usable id.")
    if not isinstance(event_type, str) or not 0 < len(event_type) <= 100:
        raise WebhookRejected("The Stripe event has no usable type.")
    if not isinstance((event.get("data") or {}).get("object"), dict):
        raise WebhookRejected("The Stripe event has no data.object.")
    return event


# --------------------------------------------------------------------------- 2. receive


def receive(session, event: dict) -> tuple[BillingEvent, bool]:
    """Store ``event`` (from ``read_webhook``) once; ``(row, True)`` when it is new,
    ``(the stored row, False)`` for a redelivery.

    Commits (or rolls back) ``session``, which must hold nothing else: the webhook gives
    it a session of its own."""
    row = BillingEvent(provider_event_id=event["id"], type=event["type"], payload=event, received_at=utcnow())
    session.add(row)
    try:
        session.commit()
    except IntegrityError:  # the unique provider_event_id: delivered before (or at this very moment)
        session.rollback()
        existing = session.execute(sa.select(BillingEvent).where(
            BillingEvent.provider_event_id == event["id"])).scalar_one()
        return existing, False
    return row, True


# --------------------------------------------------------------------------- 3. process


def unapplied(session, received_before: dt.datetime) -> list[int]:
    """Ids of stored events not processed yet and received before ``received_before``
    (a grace period: a just-received event is its own job's), oldest first."""
    return list(session.execute(sa.select(BillingEvent.id).where(
        BillingEvent.processed_at.is_(None), BillingEvent.received_at < received_before)
        .order_by(BillingEvent.id)).scalars())


def process(session, billing_event_id: int, price_tiers: dict[str, Tier]) -> str:
    """Apply stored event ``billing_event_id`` and record its outcome (not committed).
    An event already processed is left as it is; its outcome is returned again."""
    row = session.execute(sa.select(BillingEvent).where(BillingEvent.id == int(billing_event_id))
                          .with_for_update()).scalar_one_or_none()
    if row is None:
        raise PermanentError(f"There is no billing event {billing_event_id}.")
    if row.processed_at is not None:
        return row.outcome
    outcome, client = _apply(session, row, price_tiers)
    row.client_id = client.id if client is not None else None
    row.outcome = outcome if len(outcome) <= 200 else outcome[:199] + "…"
    row.processed_at = utcnow()
    session.flush()
    return row.outcome


def _apply(session, row: BillingEvent, price_tiers: dict[str, Tier]) -> tuple[str, Client | None]:
    event = row.payload or {}
    kind = row.type
    if kind not in HANDLED_EVENTS:
        return f"ignored: type {kind} is not handled", None
    obj = (event.get("data") or {}).get("object") or {}
    customer = _id_of(obj.get("customer"))
    if not customer:
        return f"ignored: the {kind} event names no customer", None
    client = session.execute(sa.select(Client).where(Client.stripe_customer_id == customer)
                             .with_for_update()).scalar_one_or_none()
    if client is None:
        return f"ignored: no client with customer {customer}", None
    newer = _newer_applied_event(session, client.id, row)
    if newer is not None:
        return f"ignored: older than {newer}, already applied", client
    if kind in SUBSCRIPTION_EVENTS:
        return _apply_subscription(session, client, kind, obj, price_tiers), client
    return _apply_invoice(client, kind, obj), client


def _apply_subscription(session, client: Client, kind: str, sub: dict, price_tiers: dict[str, Tier]) -> str:
    stripe_status = "canceled" if kind == "customer.subscription.deleted" else str(sub.get("status") or "")
    if stripe_status not in STRIPE_STATUSES:
        return f"ignored: unknown subscription status {stripe_status or '(none)'}"
    status, priced = STRIPE_STATUSES[stripe_status]
    tier = None
    if status == _CANCELED:
        tier = TIER_WHEN_CANCELED
    elif priced:
        prices = _subscription_prices(sub)
        mapped = [price_tiers[p] for p in prices if p in price_tiers]
        if not mapped:
            named = ", ".join(prices) or "(none)"
            return f"ignored: price {named} is not in STRIPE_PRICE_TIERS"
        tier = max(mapped, key=list(Tier).index)  # an add-on price next to the plan's: the plan wins
    old_tier = Tier(client.tier)
    client.subscription_status = status
    if sub.get("id"):
        client.stripe_subscription_id = str(sub["id"])[:64]
    start, end = _period(sub)
    if start is not None:
        client.current_period_start = start
    if end is not None:
        client.current_period_end = end
    if tier is not None and tier != old_tier:
        client.tier = tier
        return f"updated: tier {old_tier.value} -> {tier.value}, subscription {status.value}" + _over_limits(
            session, client)
    return f"updated: subscription {status.value}, tier {old_tier.value} unchanged"


def _apply_invoice(client: Client, kind: str, invoice: dict) -> str:
    current = client.subscription_status
    subscription = _invoice_subscription(invoice)
    if not subscription:
        return f"ignored: {kind} of an invoice outside a subscription"
    if client.stripe_subscription_id and subscription != client.stripe_subscription_id:
        return f"ignored: invoice of subscription {subscription}, the client's is {client.stripe_subscription_id}"
    if current == _CANCELED:
        return "ignored: the client's subscription is canceled"
    if kind == "invoice.payment_failed":
        if current == _PAST_DUE:
            return "no change: subscription already past_due"
        client.subscription_status = _PAST_DUE
        return f"updated: subscription {(current or 'none')} -> past_due (payment failed)"
    if current in (None, _PAST_DUE):
        client.subscription_status = _ACTIVE
        return f"updated: subscription {(current or 'none')} -> active (invoice paid)"
    return f"no change: subscription {current} (the subscription's own events set it)"


# --------------------------------------------------------------------------- helpers


def _id_of(value) -> str | None:
    """Stripe sends a related object as its id, or expanded as an object with one."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _subscription_prices(sub: dict) -> list[str]:
    items = ((sub.get("items") or {}).get("data")) or []
    prices = [_id_of(item.get("price")) for item in items if isinstance(item, dict)]
    if not prices and sub.get("plan"):  # single-plan subscriptions of old API versions
        prices = [_id_of(sub.get("plan"))]
    return [p for p in prices if p]


def _period(sub: dict) -> tuple[dt.datetime | None, dt.datetime | None]:
    """Current period: on the subscription (older API versions) or on its items (2025-03+)."""
    items = ((sub.get("items") or {}).get("data")) or [{}]
    first = items[0] if isinstance(items[0], dict) else {}
    start = sub.get("current_period_start", first.get("current_period_start"))
    end = sub.get("current_period_end", first.get("current_period_end"))
    return _from_unix(start), _from_unix(end)


def _from_unix(value) -> dt.datetime | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return dt.datetime.fromtimestamp(value, dt.UTC)


def _invoice_subscription(invoice: dict) -> str | None:
    """The invoice's subscription: ``parent.subscription_details`` (2025-03+) or top level."""
    details = ((invoice.get("parent") or {}).get("subscription_details")) or {}
    return _id_of(details.get("subscription")) or _id_of(invoice.get("subscription"))


def _created(event: dict) -> int | None:
    value = event.get("created")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _newer_applied_event(session, client_id: int, row: BillingEvent) -> str | None:
    """The id of an event already applied to this client that Stripe created after
    ``row`` (so ``row`` must not undo it), or ``None``."""
    created = _created(row.payload or {})
    if created is None:
        return None
    applied = session.execute(
        sa.select(BillingEvent.provider_event_id, BillingEvent.payload)
        .where(BillingEvent.client_id == client_id, BillingEvent.processed_at.is_not(None),
               BillingEvent.outcome.like("updated:%"), BillingEvent.id != row.id)
        .order_by(BillingEvent.id.desc()).limit(50)).all()
    for event_id, payload in applied:
        other = _created(payload or {})
        if other is not None and other > created:
            return event_id
    return None


def _over_limits(session, client: Client) -> str:
    """``"; over the Free plan: projects 3/1"`` after a downgrade, or ``""``."""
    over = []
    for resource in OVER_LIMIT_RESOURCES:
        limit = tiers.limit_for(client, resource)
        if limit is None:
            continue
        used = tiers.usage(session, client.id, resource)
        if used > limit:
            shown = (f"{tiers.human_bytes(used)}/{tiers.human_bytes(limit)}" if resource == "storage_bytes"
                     else f"{used}/{limit}")
            over.append(f"{resource.replace('_', ' ')} {shown}")
    if not over:
        return ""
    return f"; over the {tiers.plan_for(client).label} plan: {', '.join(over)} (kept; new ones refused)"
