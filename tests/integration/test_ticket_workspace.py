"""The ticket workspace's rules, below the pages (issue 20): queues against SQL written
here, replies that reopen or follow up, alerts of new client tickets and assignments,
macros, ratings, presence, and the median first response a client is shown."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from app import models as m
from app.errors import InvalidInput
from app.extensions import db
from app.models.base import utcnow
from app.services import notifications, ticket_macros, ticket_presence, ticket_queues, tickets

pytestmark = pytest.mark.both_backends


def _user(username):
    return db.session.execute(sa.select(m.User).filter_by(username=username)).scalar_one()


def _client(slug):
    return db.session.execute(sa.select(m.Client).filter_by(slug=slug)).scalar_one()


def _open_ticket(slug="pro-co", opener="pro-co-owner", **values):
    ticket = m.Ticket(client=_client(slug), subject=values.pop("subject", "Checkout page is blank"),
                      description="Since this morning.", priority="high", opened_by=_user(opener), **values)
    db.session.add(ticket)
    db.session.commit()
    return ticket


def _sql_ids(where: str, order: str, **params) -> list[int]:
    return list(db.session.execute(sa.text(f"SELECT id FROM tickets WHERE {where} ORDER BY {order}"), params).scalars())


OPEN = "status IN ('open', 'in_progress', 'waiting_client')"


@pytest.mark.parametrize("slug, where, order", [
    ("mine", f"{OPEN} AND assignee_id = :me", "created_at DESC, id DESC"),
    ("unassigned", f"{OPEN} AND assignee_id IS NULL", "created_at ASC, id ASC"),
    ("at-risk", f"{OPEN} AND sla_state IN ('at_risk', 'breached')",
     "CASE WHEN first_response_due_at IS NULL THEN 1 ELSE 0 END, first_response_due_at ASC, id ASC"),
    ("waiting", "status = 'waiting_client'", "created_at ASC, id ASC"),
    ("open", OPEN, "created_at DESC, id DESC"),
])
def test_each_queue_holds_exactly_the_tickets_its_rule_says(app, slug, where, order):
    me = _user("operator").id
    _open_ticket(subject="Unassigned, new")
    _open_ticket(subject="Mine", assignee=_user("operator"))
    every = []
    number = 1
    while True:
        rows, total = ticket_queues.page(db.session, slug, me, number=number)
        every += [t.id for t in rows]
        if not rows:
            break
        number += 1
    expected = _sql_ids(where, order, me=me)
    assert every == expected and total == len(expected) and len(expected) > 0
    assert ticket_queues.counts(db.session, me)[slug] == len(expected)


def test_a_queue_narrows_to_a_client_and_an_assignee(app):
    me, pro = _user("operator").id, _client("pro-co").id
    rows, total = ticket_queues.page(db.session, "open", me, client_id=pro, assignee_id=ticket_queues.UNASSIGNED)
    assert [t.id for t in rows] == _sql_ids(f"{OPEN} AND client_id = :c AND assignee_id IS NULL",
                                            "created_at DESC, id DESC", c=pro)[:25]
    assert total == len(_sql_ids(f"{OPEN} AND client_id = :c AND assignee_id IS NULL", "id", c=pro))
    with pytest.raises(InvalidInput, match="No queue"):
        ticket_queues.page(db.session, "everything", me)


def test_a_client_reply_within_the_window_reopens_a_resolved_ticket(app):
    ticket = _open_ticket()
    ticket.status = "resolved"
    db.session.commit()
    message, landed = tickets.reply(db.session, ticket, _user("pro-co-owner"), "It broke again.")
    db.session.commit()
    assert landed.id == ticket.id and ticket.status == "open" and ticket.resolved_at is None
    assert message.ticket_id == ticket.id


def test_a_client_reply_after_the_window_opens_a_new_ticket_that_follows_the_old_one(app):
    ticket = _open_ticket(subject="Old problem")
    ticket.status = "resolved"
    db.session.commit()
    ticket.resolved_at = utcnow() - dt.timedelta(days=8)
    db.session.commit()
    message, landed = tickets.reply(db.session, ticket, _user("pro-co-owner"), "It is back.")
    db.session.commit()
    assert landed.id != ticket.id and landed.follows_id == ticket.id and ticket.status == "resolved"
    assert landed.subject == f"Follow-up to #{ticket.id}: Old problem" and landed.status == "open"
    assert landed.opened_by_id == _user("pro-co-owner").id and message.ticket_id == landed.id
    assert landed.first_response_due_at is not None  # a Pro ticket: the SLA clock runs


def test_staff_reopen_before_replying_publicly_but_may_always_note(app):
    ticket = _open_ticket()
    ticket.status = "resolved"
    db.session.commit()
    with pytest.raises(InvalidInput, match="reopen it before replying"):
        tickets.reply(db.session, ticket, _user("operator"), "One more thing.")
    note, _ = tickets.reply(db.session, ticket, _user("operator"), "Client called, all fine.", internal=True)
    db.session.commit()
    assert note.internal and ticket.status == "resolved"
    with pytest.raises(InvalidInput, match="written by the agency"):
        tickets.reply(db.session, ticket, _user("pro-co-owner"), "psst", internal=True)


def test_moves_follow_the_status_and_refuse_what_it_does_not_allow(app):
    ticket = _open_ticket()
    assert [name for name, _ in tickets.moves_for(ticket)] == ["start", "wait", "resolve", "close"]
    tickets.move(ticket, "wait")
    db.session.commit()
    assert ticket.status == "waiting_client" and ticket.sla_paused_since is not None
    with pytest.raises(InvalidInput, match="not possible while the ticket is waiting on client"):
        tickets.move(ticket, "wait")
    tickets.move(ticket, "resolve")
    db.session.commit()
    assert ticket.resolved_at is not None and [n for n, _ in tickets.moves_for(ticket)] == ["close", "reopen"]


def _outbox(kind):
    db.session.expire_all()
    return sorted(db.session.execute(sa.select(m.OutboxEmail.to_address, m.OutboxEmail.subject)
                                     .where(m.OutboxEmail.kind == kind)).all())


def _alerts(kind):
    return sorted(db.session.execute(sa.select(m.StaffAlert.user_id, m.StaffAlert.message, m.StaffAlert.ticket_id)
                                     .where(m.StaffAlert.kind == kind)).all())


def test_a_ticket_a_client_opens_tells_every_operator_by_email_and_alert(app):
    operators = db.session.execute(sa.select(m.User).join(m.User.roles).where(m.Role.name == "Operator")).scalars().all()
    ticket = _open_ticket(slug="free-co", opener="free-co-owner", subject="Site is down")
    _open_ticket(opener="operator", subject="Opened by staff for the client")
    subject = f"[Atrium] New ticket #{ticket.id}: Site is down"
    assert _outbox("ticket_new_ticket") == sorted((u.email, subject) for u in operators)
    assert [(a[0], a[2]) for a in _alerts("new_ticket")] == sorted((u.id, ticket.id) for u in operators)
    assert all(f"#{ticket.id}" in a[1] for a in _alerts("new_ticket"))
    count, rows = notifications.unread_alerts(db.session, operators[0].id)
    assert count == 1 and rows[0].ticket_id == ticket.id
    notifications.mark_read(db.session, operators[0].id)
    db.session.commit()
    assert notifications.unread_alerts(db.session, operators[0].id)[0] == 0


def test_an_assignment_tells_the_assignee_unless_they_took_it(app):
    from app.tenancy import Scope, acting_as

    ticket = _open_ticket()
    operator, developer = _user("operator"), _user("developer")
    with acting_as(Scope(is_staff=True, user_id=operator.id)):
        tickets.assign(db.session, ticket, developer.id)
        db.session.commit()
        assert _outbox("ticket_assigned") == [(developer.email, f"[Atrium] Assigned to you: #{ticket.id} "
                                                                 "Checkout page is blank")]
        tickets.assign(db.session, ticket, operator.id)  # took it themselves
        db.session.commit()
    assert [a[0] for a in _alerts("assigned")] == [developer.id]
    with pytest.raises(InvalidInput, match="active staff member"):
        tickets.assign(db.session, ticket, _user("pro-co-owner").id)


def test_a_macro_fills_its_placeholders_and_refuses_unknown_ones(app):
    ticket = _open_ticket()
    macro = m.TicketMacro(name="Looking into it", set_status="in_progress",
                          body="Hi {requester_first_name}, {agent_name} here about {ticket_number} for {client_name}.")
    applied = ticket_macros.apply(macro, ticket, _user("operator"))
    owner = _user("pro-co-owner")
    assert applied["body"] == (f"Hi {owner.first_name}, Otávio Operator here about #{ticket.id} for "
                               f"{ticket.client.name}.")
    assert applied["set_status"] == "in_progress" and applied["summary"] == "status → In progress"
    with pytest.raises(InvalidInput, match=r"unknown placeholder\(s\) \{client\}"):
        ticket_macros.check_body("Dear {client}")
    with pytest.raises(InvalidInput, match="brace is not closed"):
        ticket_macros.check_body("Dear {client_name")


def test_only_the_requester_rates_and_only_once_resolved(app):
    ticket = _open_ticket()
    owner = _user("pro-co-owner")
    with pytest.raises(InvalidInput, match="once it is resolved"):
        tickets.rate(ticket, owner, "satisfied")
    ticket.status = "resolved"
    db.session.commit()
    with pytest.raises(InvalidInput, match="Only the person who opened"):
        tickets.rate(ticket, _user("operator"), "satisfied")
    with pytest.raises(InvalidInput, match="satisfied"):
        tickets.rate(ticket, owner, "meh")
    tickets.rate(ticket, owner, "unsatisfied", "  Took two days.  ")
    db.session.commit()
    assert (ticket.satisfaction, ticket.satisfaction_comment) == ("unsatisfied", "Took two days.")


def test_presence_shows_the_others_and_who_is_writing(app):
    ticket = _open_ticket()
    operator, developer = _user("operator"), _user("developer")
    assert ticket_presence.seen(db.session, ticket.id, operator.id, composing=False) == []
    others = ticket_presence.seen(db.session, ticket.id, developer.id, composing=True)
    db.session.commit()
    assert others == [{"name": "Otávio Operator", "composing": False}]
    assert ticket_presence.others(db.session, ticket.id, operator.id)[0]["composing"] is True
    later = utcnow() + dt.timedelta(seconds=ticket_presence.FRESH_SECONDS + 1)
    assert ticket_presence.others(db.session, ticket.id, operator.id, now=later) == []


def test_the_median_first_response_is_of_the_plans_tickets_this_month(app):
    now = utcnow()
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    rows = db.session.execute(
        sa.select(m.Ticket.created_at, m.Ticket.first_response_at).join(m.Client)
        .where(m.Client.tier == "pro", m.Ticket.created_at >= month, m.Ticket.first_response_at.is_not(None))).all()
    for minutes in (30, 90):
        ticket = _open_ticket()
        ticket.created_at = now - dt.timedelta(minutes=minutes)
        ticket.first_response_at = now
        db.session.commit()
        rows.append((ticket.created_at, now))
    waits = sorted(max(b - a, dt.timedelta(0)) for a, b in rows)
    middle = len(waits) // 2
    expected = waits[middle] if len(waits) % 2 else (waits[middle - 1] + waits[middle]) / 2
    assert tickets.median_first_response(db.session, "pro", now) == expected
    assert tickets.median_first_response(db.session, "pro", now + dt.timedelta(days=62)) is None
