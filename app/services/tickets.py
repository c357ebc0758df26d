"""Ticket rules: the first-response SLA clock (SPEC §3, tiers in ``services.tiers``).

- When a ticket is opened it copies the tier's SLA hours and gets
  ``first_response_due_at = opened + SLA hours``.
- The clock pauses while the ticket is ``waiting_client``: leaving that status pushes
  the due time forward by the time spent waiting.
- ``sla_state``: ``ok``; ``at_risk`` once 80 % of the window is used; ``breached`` once
  the due time passes without a first public staff reply (or the reply came late).
- The first public (non-internal) staff reply sets ``first_response_at``.
- A ticket a client user opens (portal or API) starts ``open``, opened by them
  (``open_for_client``).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from app.errors import InvalidInput
from app.models import SLAState, Ticket, TicketMessage, TicketStatus
from app.models.base import utcnow
from app.services import notifications, tiers
from app import tenancy

AT_RISK_FRACTION = 0.8


def start_clock(ticket, client, opened_at=None) -> None:
    opened_at = opened_at or ticket.created_at or utcnow()
    ticket.sla_hours = tiers.sla_hours_for(client)
    ticket.sla_paused_seconds = 0
    ticket.first_response_due_at = (
        opened_at + dt.timedelta(hours=ticket.sla_hours) if ticket.sla_hours else None
    )
    ticket.sla_state = SLAState.OK


def open_for_client(ticket, opener) -> None:
    """A ticket a client user opens, through any door (the portal's form, the API): it
    is opened by them and starts ``open`` (moving it on is the agency's). Asking for
    another status is refused with a message on ``status`` (``InvalidInput``), not
    silently replaced: the client learns that what they sent was not what was stored."""
    if ticket.status not in (None, "", TicketStatus.OPEN):
        raise InvalidInput("status: a new ticket always starts as “open” (the agency moves it on); leave status "
                           "out or send “open”.", field="status")
    ticket.status = TicketStatus.OPEN
    ticket.opened_by_id = opener.id


def on_status_change(ticket, old_status, new_status, now=None) -> None:
    now = now or utcnow()
    if new_status == TicketStatus.WAITING_CLIENT and old_status != TicketStatus.WAITING_CLIENT:
        ticket.sla_paused_since = now
    elif old_status == TicketStatus.WAITING_CLIENT and new_status != TicketStatus.WAITING_CLIENT:
        if ticket.sla_paused_since is not None:
            paused = int((now - ticket.sla_paused_since).total_seconds())
            ticket.sla_paused_seconds = (ticket.sla_paused_seconds or 0) + paused
            if ticket.first_response_due_at is not None and ticket.first_response_at is None:
                ticket.first_response_due_at += dt.timedelta(seconds=paused)
        ticket.sla_paused_since = None
    if new_status in (TicketStatus.RESOLVED, TicketStatus.CLOSED) and ticket.resolved_at is None:
        ticket.resolved_at = now
    elif new_status not in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
        ticket.resolved_at = None


def record_staff_reply(ticket, at=None) -> None:
    if ticket.first_response_at is None:
        ticket.first_response_at = at or utcnow()


def sla_state(ticket, now=None) -> SLAState:
    """The SLA state of ``ticket`` at ``now`` (pauses honoured)."""
    if not ticket.sla_hours or ticket.first_response_due_at is None:
        return SLAState.OK
    due = ticket.first_response_due_at
    if ticket.first_response_at is not None:
        return SLAState.OK if ticket.first_response_at <= due else SLAState.BREACHED
    now = now or utcnow()
    if ticket.sla_paused_since is not None:
        # Waiting on the client: the clock stands still at the moment the wait began.
        now = ticket.sla_paused_since
    window = dt.timedelta(hours=ticket.sla_hours)
    remaining = due - now
    if remaining <= dt.timedelta(0):
        return SLAState.BREACHED
    if (window - remaining) >= window * AT_RISK_FRACTION:
        return SLAState.AT_RISK
    return SLAState.OK


def watch_sla(session, now=None) -> list:
    """Move open tickets to their current SLA state (``ok`` -> ``at_risk`` -> ``breached``)
    and tell the assignee (else every Operator) of each change, through the outbox;
    returns the tickets whose state changed. Idempotent: a second run at the same time
    changes nothing and tells nobody twice."""
    now = now or utcnow()
    candidates = session.execute(
        sa.select(Ticket).where(Ticket.status.not_in([s.value for s in CLOSED_STATUSES]),
                                Ticket.first_response_at.is_(None), Ticket.first_response_due_at.is_not(None),
                                Ticket.sla_state != SLAState.BREACHED)).scalars()

    changed = []
    for ticket in candidates:
        state = sla_state(ticket, now)
        if state != ticket.sla_state:
            ticket.sla_state = state
            changed.append(ticket)
            due = ticket.first_response_due_at.strftime("%Y-%m-%d %H:%M UTC")
            notifications.notify(
                session, kind=f"sla_{state}", recipients=notifications.staff_for_ticket(session, ticket),
                subject=f"[Atrium] Ticket #{ticket.id} SLA {state.replace('_', ' ')}: {ticket.subject}",
                body=(f"Ticket #{ticket.id} \"{ticket.subject}\" has no first reply yet; its first response "
                      f"is due {due}. SLA state: {state.replace('_', ' ')}."),
                client_id=ticket.client_id, dedupe_key=f"sla:ticket:{ticket.id}:{state}")
    return changed


# --------------------------------------------------------------------------- conversations

CLOSED_STATUSES = (TicketStatus.RESOLVED, TicketStatus.CLOSED)


def add_reply(session, ticket, author, body: str, internal: bool = False, attachments=()):
    """A message on ``ticket``. A client's reply to a ticket waiting on them hands it back
    to the agency (status ``open``: the SLA clock runs again); a reply to a closed ticket
    is refused — open a new one."""
    body = (body or "").strip()
    if not body:
        raise InvalidInput("Write a message before sending.", field="body")
    if len(body) > 20000:
        raise InvalidInput("Messages are limited to 20,000 characters.", field="body")
    if ticket.status in CLOSED_STATUSES:
        raise InvalidInput("This ticket is closed. Open a new ticket to continue.", field="body")
    message = TicketMessage(ticket=ticket, author=author, body=body, internal=internal,
                            attachments=list(attachments))
    session.add(message)
    if not tenancy.is_staff_user(author) and ticket.status == TicketStatus.WAITING_CLIENT:
        ticket.status = TicketStatus.OPEN
    return message


REOPEN_DAYS = 7  # SPEC: clients reopen a resolved ticket within 7 days


def may_reopen(ticket, now=None) -> bool:
    now = now or utcnow()
    return (ticket.status in CLOSED_STATUSES and ticket.resolved_at is not None
            and now - ticket.resolved_at <= dt.timedelta(days=REOPEN_DAYS))


def reopen(ticket, now=None) -> None:
    """Open a resolved or closed ticket again, within ``REOPEN_DAYS`` of its resolution
    (``on_status_change`` clears the resolution time on flush)."""
    if ticket.status not in CLOSED_STATUSES:
        raise InvalidInput("This ticket is still open.")
    if not may_reopen(ticket, now):
        raise InvalidInput(f"This ticket was resolved more than {REOPEN_DAYS} days ago. Open a new ticket to "
                           "continue.")
    ticket.status = TicketStatus.OPEN


def close(ticket) -> None:
    """Close ``ticket`` (the resolution time is stamped by ``on_status_change`` on flush)."""
    if ticket.status == TicketStatus.CLOSED:
        raise InvalidInput("This ticket is already closed.")
    ticket.status = TicketStatus.CLOSED
