"""Whom code acts for outside a request, and the flush pipeline's order (``app.tenancy``,
``app.services.pipeline``).

Outside a request nothing is bound unless a job or CLI command binds it: a new thread or
entry point that touches tenant rows is refused, not handed every client's rows. Rows a
pipeline step adds are checked again, under the scope the step writes for. Switches such
as "audit off" hold in their own context only.
"""

import threading

import pytest
import sqlalchemy as sa

from app import models as m
from app import tenancy
from app.extensions import db
from app.services import audit, jobs, notifications
from app.services.identity import Identity

pytestmark = pytest.mark.both_backends


def _client_id(slug):
    return db.session.execute(sa.select(m.Client.id).filter_by(slug=slug)).scalar_one()


def _in_new_thread(app, work):
    """Run ``work()`` in a thread of its own, in an app context, as a new entry point
    would (a thread starts with no context variables); its result or exception."""
    outcome = {}

    def run():
        with app.app_context():
            try:
                outcome["result"] = work()
            except Exception as exc:  # noqa: BLE001 - handed back to the test
                outcome["error"] = exc
            finally:
                db.session.rollback()
                db.session.remove()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    return outcome


def test_a_new_thread_that_binds_no_scope_reads_no_tenant_row(app):
    outcome = _in_new_thread(app, lambda: db.session.execute(sa.select(m.Ticket.subject)).all())
    assert isinstance(outcome.get("error"), tenancy.ScopeUnbound)
    assert "No tenancy scope is bound" in str(outcome["error"])


def test_a_new_thread_that_binds_no_scope_writes_nothing(app):
    ticket_id = db.session.execute(sa.select(m.Ticket.id).limit(1)).scalar_one()
    db.session.commit()

    def rename():
        with tenancy.acting_as(tenancy.SYSTEM):
            ticket = db.session.get(m.Ticket, ticket_id)  # read as the system ...
        ticket.subject = "Changed by nobody"
        db.session.flush()  # ... written as nobody

    outcome = _in_new_thread(app, rename)
    assert isinstance(outcome.get("error"), tenancy.ScopeUnbound)
    assert db.session.get(m.Ticket, ticket_id).subject != "Changed by nobody"


def test_the_test_fallback_is_the_only_reason_this_code_sees_rows(app):
    assert db.session.execute(sa.select(sa.func.count()).select_from(m.Ticket)).scalar() > 0
    db.session.commit()
    with tenancy.outside_requests(None):
        with pytest.raises(tenancy.ScopeUnbound):
            db.session.execute(sa.select(sa.func.count()).select_from(m.Ticket)).scalar()
    db.session.rollback()


def test_a_binding_names_the_client_it_acts_for(app):
    free = _client_id("free-co")
    db.session.commit()
    owner = db.session.execute(sa.select(m.User).filter_by(username="free-co-owner")).scalar_one()
    scope = tenancy.Scope(is_staff=False, client_id=free, user_id=owner.id, member_role="owner")
    with tenancy.acting_as(scope):
        seen = set(db.session.execute(sa.select(m.Ticket.client_id).distinct()).scalars())
        db.session.rollback()
    assert seen == {free}


def test_a_job_binds_the_system_even_inside_a_client_users_request(app):
    """An inline job runs inside the request that enqueued it; it acts on every client."""
    clients = db.session.execute(sa.select(sa.func.count()).select_from(m.Client)).scalar()
    owner = db.session.execute(sa.select(m.User).filter_by(username="free-co-owner")).scalar_one()
    db.session.commit()
    with app.test_request_context():
        from flask import g

        g.user = owner
        assert tenancy.current_scope().client_id == _client_id("free-co")
        seen = {}
        with jobs.system_context(app, Identity(channel="job")):
            seen["clients"] = db.session.execute(sa.select(sa.func.count()).select_from(m.Client)).scalar()
        assert tenancy.current_scope().client_id == _client_id("free-co")  # the request's again
        db.session.rollback()
    assert seen["clients"] == clients > 1


def test_a_clients_reply_fills_the_agencys_outbox_which_the_client_may_not_write(app):
    """The notification step's rows are checked as the system's: the reply's outbox row
    is written, while the same row forged by the client is refused."""
    free = _client_id("free-co")
    ticket_id = db.session.execute(sa.select(m.Ticket.id).where(m.Ticket.client_id == free).limit(1)).scalar_one()
    owner = db.session.execute(sa.select(m.User).filter_by(username="free-co-owner")).scalar_one()
    before = db.session.execute(sa.select(sa.func.count()).select_from(m.OutboxEmail)).scalar()
    db.session.commit()
    scope = tenancy.Scope(is_staff=False, client_id=free, user_id=owner.id, member_role="owner")
    with tenancy.acting_as(scope):
        db.session.add(m.OutboxEmail(kind="forged", to_address="x@example.com", subject="x", body="x"))
        with pytest.raises(tenancy.Forbidden):
            db.session.flush()
        db.session.rollback()
        db.session.add(m.TicketMessage(ticket_id=ticket_id, author_id=owner.id, body="Any news?", internal=False))
        db.session.commit()
    subjects = db.session.execute(sa.select(m.OutboxEmail.subject, m.OutboxEmail.kind)
                                  .order_by(m.OutboxEmail.id.desc()).limit(5)).all()
    assert db.session.execute(sa.select(sa.func.count()).select_from(m.OutboxEmail)).scalar() > before
    assert ("forged" not in {kind for _, kind in subjects}) and any(f"#{ticket_id}" in s for s, _ in subjects)


def _other_thread_holds(switch, started, release):
    with switch():
        started.set()
        release.wait(30)


def _reply_and_rename(ticket, text):
    """Rename ``ticket`` and reply on it as its opener; what was recorded and who was told."""
    ticket.subject = text
    db.session.add(m.TicketMessage(ticket=ticket, author_id=ticket.opened_by_id, body=text, internal=False))
    db.session.commit()
    recorded = db.session.execute(sa.select(m.AuditEvent.id).where(
        m.AuditEvent.resource_type == "Ticket", m.AuditEvent.resource_id == str(ticket.id),
        m.AuditEvent.action == "update", m.AuditEvent.changes.is_not(None))).scalars().all()
    told = db.session.execute(sa.select(m.OutboxEmail.id).where(m.OutboxEmail.body.contains(text))).scalars().all()
    return recorded, told


@pytest.mark.parametrize("switch", [audit.disabled, notifications.suppressed], ids=["audit", "notifications"])
def test_a_switch_turned_off_in_one_thread_leaves_the_others_on(app, switch):
    ticket = db.session.execute(sa.select(m.Ticket).where(
        m.Ticket.assignee_id.is_not(None), m.Ticket.opened_by_id.is_not(None)).limit(1)).scalar_one()
    started, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_other_thread_holds, args=(switch, started, release))
    holder.start()
    try:
        assert started.wait(30)
        recorded, told = _reply_and_rename(ticket, "Renamed while another thread switched off")
    finally:
        release.set()
        holder.join(30)
    assert recorded and told
    with switch():  # ... and where it is turned off, it is off
        recorded_after, told_after = _reply_and_rename(ticket, "Renamed with the switch off here")
    if switch is audit.disabled:
        assert len(recorded_after) == len(recorded) and told_after
    else:
        assert len(recorded_after) > len(recorded) and not told_after
