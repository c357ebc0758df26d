"""The database, not Redis, is the record of queued work (issue 15 item 4).

With the worker stopped, a signed Stripe ``invoice.paid`` (answered 200 "queued", so
Stripe will not deliver it again), a subscription change and a "Generate report" are
queued; then Redis loses its data (this install's keys deleted, as a restart with an
empty Redis would). The schedules of ``workers/cron.py`` run on a real worker: every
queued JobRun completes exactly once and each billing event is applied once.
"""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa

from app import models as m
from app.extensions import db
from tests.conftest import REDIS_TEST_URL, login, work_off
from tests.integration.test_stripe_webhook import PRICES, SECRET, _invoice, _post, _subscription


def _client(slug):
    db.session.expire_all()
    return db.session.execute(sa.select(m.Client).filter_by(slug=slug)).scalar_one()


def _runs(*names):
    db.session.expire_all()
    query = sa.select(m.JobRun).order_by(m.JobRun.id)
    if names:
        query = query.where(m.JobRun.job_name.in_(names))
    return db.session.execute(query).scalars().all()


def _last_seq() -> int:
    return db.session.execute(sa.select(sa.func.max(m.AuditEvent.seq))).scalar_one()


def _changes_of(client_id: int, field: str, after_seq: int) -> list:
    """The changes of ``field`` recorded on the client's audit trail after ``after_seq``."""
    db.session.expire_all()
    events = db.session.execute(sa.select(m.AuditEvent).where(
        m.AuditEvent.resource_type == "Client", m.AuditEvent.resource_id == str(client_id),
        m.AuditEvent.action == "update", m.AuditEvent.seq > after_seq).order_by(m.AuditEvent.seq)).scalars()
    return [e.changes[field] for e in events if field in (e.changes or {})]


def _test_events():
    db.session.expire_all()
    return db.session.execute(sa.select(m.BillingEvent).where(
        ~m.BillingEvent.provider_event_id.like("evt_demo_%")).order_by(m.BillingEvent.id)).scalars().all()


def _empty_redis(prefix: str) -> int:
    """What a Redis restarted without its data leaves of this install: nothing."""
    import redis

    connection = redis.Redis.from_url(REDIS_TEST_URL)
    keys = list(connection.scan_iter(f"*{prefix}*"))
    if keys:
        connection.delete(*keys)
    return len(keys)


def _ten_minutes_pass():
    """Move what was queued and received ten minutes into the past (the grace period)."""
    earlier = dt.timedelta(minutes=10)
    for model, column in ((m.JobRun, "enqueued_at"), (m.BillingEvent, "received_at")):
        for row_id, at in db.session.execute(sa.select(model.id, getattr(model, column))).all():
            db.session.execute(sa.update(model).where(model.id == row_id).values({column: at - earlier})
                               .execution_options(atrium_audit_skip=True))
    db.session.commit()


def _run_schedule(name: str):
    """What the cron process does at the schedule's minute: a tick on the high queue."""
    from workers.cron import fire
    from app.services.jobs import rq_queue

    rq_queue("high").enqueue(fire, kwargs={"schedule": name})


def test_work_queued_before_redis_lost_its_data_completes_once(rq_app, client, tmp_path):
    from app.services.jobs import requeue_lost_runs

    rq_app.config.update(STRIPE_WEBHOOK_SECRET=SECRET, STRIPE_PRICE_TIERS=PRICES,
                         REPORT_DIR=str(tmp_path / "reports"), UPLOAD_DIR=str(tmp_path / "uploads"))
    basic = _client("basic-co")
    basic.stripe_customer_id, basic.stripe_subscription_id = "cus_basic", "sub_basic"
    basic.subscription_status = "past_due"  # the card failed; this invoice.paid recovers it
    db.session.commit()
    since = _last_seq()
    pro = _client("pro-co")
    reports_before = db.session.execute(sa.select(sa.func.count()).select_from(m.Report)
                                        .filter_by(client_id=pro.id)).scalar_one()

    # The worker is stopped: Stripe's events and a person's "Generate report" are queued.
    for event in (_invoice("invoice.paid", "evt_paid_1"), _subscription("customer.subscription.updated",
                                                                        event_id="evt_sub_pro")):
        answer = _post(client, event)
        assert answer.status_code == 200 and answer.get_json()["processing"] == "queued"
    login(client, "operator")
    page = client.get(f"/clientview/show/{pro.id}").get_data(as_text=True)
    token = re.search(rf'jobs/now/client_report/{pro.id}".*?name="csrf_token" value="([^"]+)"', page, re.S).group(1)
    assert client.post(f"/jobs/now/client_report/{pro.id}", data={"csrf_token": token}).status_code == 302
    lost = _runs()
    assert [(r.job_name, r.status) for r in lost] == [
        ("billing.process_event", "queued"), ("billing.process_event", "queued"), ("reports.generate", "queued")]

    assert _empty_redis(rq_app.config["RQ_QUEUE_PREFIX"]) > 0
    # Right after, nothing is doubled: a run just enqueued may still be on its way to Redis.
    assert requeue_lost_runs() == {"requeued": 0}

    _ten_minutes_pass()
    _run_schedule("lost jobs")
    _run_schedule("billing reconcile")
    work_off(rq_app)
    work_off(rq_app)  # whatever the first pass queued

    runs = {r.id: r for r in _runs()}
    assert [(runs[r.id].status, runs[r.id].attempts) for r in lost] == [("succeeded", 1)] * 3
    assert all(r.status == "succeeded" for r in runs.values()), [(r.job_name, r.status, r.error) for r in runs.values()]
    [reaper] = _runs("maintenance.reap_lost_jobs")
    assert reaper.result["requeued"] == 3
    [reconciler] = _runs("billing.reconcile")
    paid, sub = _test_events()
    assert sorted(reconciler.result["applied"]) == [paid.id, sub.id] or (
        # the requeued jobs got there first: the reconciler found nothing left to apply
        reconciler.result["applied"] == [])
    assert paid.processed_at and paid.outcome == "updated: subscription past_due -> active (invoice paid)"
    assert sub.processed_at and sub.outcome == "updated: tier basic -> pro, subscription active"
    basic = _client("basic-co")
    assert (basic.tier, basic.subscription_status) == ("pro", "active")
    assert _changes_of(basic.id, "tier", since) == [["basic", "pro"]]
    assert _changes_of(basic.id, "subscription_status", since) == [["past_due", "active"]]
    assert db.session.execute(sa.select(sa.func.count()).select_from(m.Report)
                              .filter_by(client_id=pro.id)).scalar_one() == max(reports_before, 1)
    assert list((tmp_path / "reports").rglob("*.pdf"))

    # The reconcilers again: nothing left to do, nothing applied twice.
    audit_before = db.session.execute(sa.select(sa.func.count()).select_from(m.AuditEvent)).scalar_one()
    assert requeue_lost_runs() == {"requeued": 0}
    from app.services.jobs import enqueue

    again = enqueue("billing.reconcile")
    work_off(rq_app)
    db.session.expire_all()
    assert db.session.get(m.JobRun, again).result == {"applied": [], "failed": []}
    assert _changes_of(basic.id, "tier", since) == [["basic", "pro"]]
    assert db.session.execute(sa.select(sa.func.count()).select_from(m.AuditEvent)).scalar_one() == audit_before


def test_a_queued_run_whose_job_is_still_in_redis_is_left_alone(rq_app):
    from app.services.jobs import enqueue, requeue_lost_runs

    run_id = enqueue("tickets.sla_watch")
    _ten_minutes_pass()
    assert requeue_lost_runs() == {"requeued": 0}  # RQ still has it: not doubled
    assert work_off(rq_app)
    db.session.expire_all()
    run = db.session.get(m.JobRun, run_id)
    assert (run.status, run.attempts, run.error) == ("succeeded", 1, None)


def test_the_billing_reconciler_alone_applies_an_event_whose_job_was_lost(rq_app, client):
    rq_app.config.update(STRIPE_WEBHOOK_SECRET=SECRET, STRIPE_PRICE_TIERS=PRICES)
    basic = _client("basic-co")
    basic.stripe_customer_id, basic.stripe_subscription_id = "cus_basic", "sub_basic"
    db.session.commit()
    since = _last_seq()
    answer = _post(client, _subscription("customer.subscription.updated", event_id="evt_sub_lost"))
    assert answer.get_json()["processing"] == "queued"
    _empty_redis(rq_app.config["RQ_QUEUE_PREFIX"])
    _ten_minutes_pass()

    _run_schedule("billing reconcile")
    work_off(rq_app)
    [event] = _test_events()
    assert event.outcome == "updated: tier basic -> pro, subscription active"
    assert _client("basic-co").tier == "pro"
    [reconciler] = _runs("billing.reconcile")
    assert reconciler.result == {"applied": [event.id], "failed": []}

    # Its own job, queued again later by the lost-jobs schedule, finds it applied.
    _run_schedule("lost jobs")
    work_off(rq_app)
    [job_run] = _runs("billing.process_event")
    assert (job_run.status, job_run.attempts, job_run.result["outcome"]) == ("succeeded", 1, event.outcome)
    assert _changes_of(basic.id, "tier", since) == [["basic", "pro"]]
