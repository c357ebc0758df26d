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

from flask import current_app, has_app_context
from flask_babel import gettext as _, lazy_gettext as _l, ngettext

from app import i18n
from app.errors import InvalidInput
from app.models import LABELS, Client, Satisfaction, SLAState, Ticket, TicketMessage, TicketStatus, User
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
        raise InvalidInput(_("status: a new ticket always starts as “open” (the agency moves it on); leave status "
                             "out or send “open”."), field="status")
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


def _span(delta: dt.timedelta) -> str:
    minutes = max(int(delta.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    return " ".join(f"{n} {unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "min")) if n) or "0 min"


def sla_summary(ticket, now=None) -> tuple[str, str]:
    """``(state, words)`` for the SLA badge: the time left to the first response, how late
    it is, paused, met (and how fast), or no SLA on the plan."""
    now = now or utcnow()
    if not ticket.sla_hours or ticket.first_response_due_at is None:
        return "none", _("No first-response SLA on this plan")
    due = ticket.first_response_due_at
    if ticket.first_response_at is not None:
        took = _span(ticket.first_response_at - ticket.created_at)
        if ticket.first_response_at <= due:
            return SLAState.OK, _("First response in %(took)s (SLA %(hours)s h: met)", took=took,
                                  hours=ticket.sla_hours)
        return SLAState.BREACHED, _("First response in %(took)s (SLA %(hours)s h: breached)", took=took,
                                    hours=ticket.sla_hours)
    state = sla_state(ticket, now)
    if ticket.sla_paused_since is not None:
        return state, _("SLA paused while waiting on the client (%(left)s left)",
                        left=_span(due - ticket.sla_paused_since))
    if due <= now:
        return SLAState.BREACHED, _("First response overdue by %(late)s", late=_span(now - due))
    return state, _("First response due in %(left)s", left=_span(due - now))


def _sla_words(state) -> str:
    """An SLA state in an e-mail's words (``at risk``, ``breached``)."""
    return {SLAState.OK: _("ok"), SLAState.AT_RISK: _("at risk"), SLAState.BREACHED: _("breached")}.get(
        state, str(state).replace("_", " "))


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
            due = ticket.first_response_due_at
            notifications.notify(  # in each recipient's language (``notifications``)
                session, kind=f"sla_{state}", recipients=notifications.staff_for_ticket(session, ticket),
                subject=lambda t=ticket, s=state: _("[Atrium] Ticket #%(number)d SLA %(state)s: %(subject)s",
                                                    number=t.id, state=_sla_words(s), subject=t.subject),
                body=lambda t=ticket, s=state, d=due: _(
                    "Ticket #%(number)d \"%(subject)s\" has no first reply yet; its first response is due %(date)s "
                    "%(time)s UTC. SLA state: %(state)s.", number=t.id, subject=t.subject, date=i18n.date(d),
                    time=i18n.clock(d), state=_sla_words(s)),
                client_id=ticket.client_id, dedupe_key=f"sla:ticket:{ticket.id}:{state}")
    return changed


# --------------------------------------------------------------------------- conversations
# One set of moves for every door (staff page, portal, API, CLI): each call changes the
# ticket in the caller's session; the flush pipeline derives the SLA clock
# (``on_status_change``, ``record_staff_reply``), tells people (``lifecycle.notify``) and
# audits the change.

CLOSED_STATUSES = (TicketStatus.RESOLVED, TicketStatus.CLOSED)
REOPEN_DAYS = 7  # SPEC: a client's reply reopens a resolved ticket within 7 days (TICKET_REOPEN_DAYS)
MAX_BODY = 20000
MAX_RATING_COMMENT = 2000

# move -> (label, the status it sets, the statuses it may leave)
MOVES = {
    "start": (_l("Start work"), TicketStatus.IN_PROGRESS, (TicketStatus.OPEN, TicketStatus.WAITING_CLIENT)),
    "wait": (_l("Waiting on client"), TicketStatus.WAITING_CLIENT, (TicketStatus.OPEN, TicketStatus.IN_PROGRESS)),
    "resolve": (_l("Resolve"), TicketStatus.RESOLVED,
                (TicketStatus.OPEN, TicketStatus.IN_PROGRESS, TicketStatus.WAITING_CLIENT)),
    "close": (_l("Close"), TicketStatus.CLOSED,
              (TicketStatus.OPEN, TicketStatus.IN_PROGRESS, TicketStatus.WAITING_CLIENT, TicketStatus.RESOLVED)),
    "reopen": (_l("Reopen"), TicketStatus.OPEN, CLOSED_STATUSES),
}


def reopen_days() -> int:
    """``TICKET_REOPEN_DAYS`` (default 7): how long after its resolution a client's reply
    reopens a ticket; later replies open a new ticket that follows it."""
    if has_app_context():
        return int(current_app.config.get("TICKET_REOPEN_DAYS", REOPEN_DAYS))
    return REOPEN_DAYS


def moves_for(ticket) -> list[tuple[str, str]]:
    """The ``(move, label)`` a staff member may make from the ticket's status."""
    return [(name, label) for name, (label, _, leaves) in MOVES.items() if ticket.status in leaves]


def move(ticket, name: str, now=None) -> None:
    """Staff: move ``ticket`` (``MOVES``); a move its status does not allow is refused."""
    if name not in MOVES:
        raise InvalidInput(_("Unknown move “%(move)s”: one of %(moves)s.", move=name, moves=", ".join(MOVES)),
                           field="move")
    label, status, leaves = MOVES[name]
    if ticket.status not in leaves:
        raise InvalidInput(_("“%(move)s” is not possible while the ticket is %(status)s.", move=label,
                             status=str(LABELS[ticket.status]).lower()), field="move")
    ticket.status = status


def assign(session, ticket, assignee_id: int | None) -> None:
    """Staff: hand ``ticket`` to a staff member (``None``: unassigned). The flush refuses a
    non-staff assignee (``lifecycle``) and tells the new assignee (``notifications``)."""
    if assignee_id is None:
        ticket.assignee = None
        return
    assignee = session.get(User, assignee_id)
    if assignee is None or not assignee.active or not tenancy.is_staff_user(assignee):
        raise InvalidInput(_("Choose an active staff member as the assignee."), field="assignee")
    ticket.assignee = assignee


def _checked_body(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise InvalidInput(_("Write a message before sending."), field="body")
    if len(body) > MAX_BODY:
        raise InvalidInput(_("Messages are limited to %(most)s characters.", most=i18n.number(MAX_BODY)), field="body")
    return body


def reply(session, ticket, author, body: str, internal: bool = False, attachments=(), now=None):
    """A message on ``ticket``; returns ``(message, the ticket it landed on)``.

    - Staff: a public reply (the first one is the first response) or an internal note. A
      public reply to a resolved or closed ticket is refused (reopen it first); a note is
      always possible.
    - A client: never internal. A reply to a ticket waiting on them hands it back
      (``open``: the SLA clock runs again); to a resolved or closed ticket within
      ``reopen_days()`` of its resolution it reopens it; later it opens a new ticket that
      follows the old one, with this reply as its first message.
    """
    body = _checked_body(body)
    staff = tenancy.is_staff_user(author)
    if not staff and internal:
        raise InvalidInput(_("Internal notes are written by the agency."), field="internal")
    if ticket.status in CLOSED_STATUSES and not internal:
        if staff:
            raise InvalidInput(_("This ticket is resolved: reopen it before replying, or add an internal note."),
                               field="body")
        if not may_reopen(ticket, now):
            ticket = _follow_up(session, ticket, author)
        else:
            ticket.status = TicketStatus.OPEN
    elif not staff and ticket.status == TicketStatus.WAITING_CLIENT:
        ticket.status = TicketStatus.OPEN
    message = TicketMessage(ticket=ticket, author=author, body=body, internal=internal, attachments=list(attachments))
    session.add(message)
    return message, ticket


def _follow_up(session, old, author):
    # Written in the language of whoever replied (the new ticket is theirs).
    subject = _("Follow-up to #%(id)d: %(subject)s", id=old.id, subject=old.subject)
    ticket = Ticket(client_id=old.client_id, project_id=old.project_id, subject=subject[:200],
                    description=ngettext("Follow-up to ticket #%(id)d “%(subject)s”, resolved more than %(num)d day "
                                         "before this reply.",
                                         "Follow-up to ticket #%(id)d “%(subject)s”, resolved more than %(num)d days "
                                         "before this reply.", reopen_days(), id=old.id, subject=old.subject),
                    priority=old.priority, status=TicketStatus.OPEN, opened_by_id=author.id, follows=old)
    session.add(ticket)
    return ticket


def may_reopen(ticket, now=None) -> bool:
    now = now or utcnow()
    return (ticket.status in CLOSED_STATUSES and ticket.resolved_at is not None
            and now - ticket.resolved_at <= dt.timedelta(days=reopen_days()))


def reopen(ticket, now=None) -> None:
    """A client reopens a resolved or closed ticket, within ``reopen_days()`` of its
    resolution (``on_status_change`` clears the resolution time on flush)."""
    if ticket.status not in CLOSED_STATUSES:
        raise InvalidInput(_("This ticket is still open."))
    if not may_reopen(ticket, now):
        raise InvalidInput(ngettext("This ticket was resolved more than %(num)d day ago. Open a new ticket to continue.",
                                    "This ticket was resolved more than %(num)d days ago. Open a new ticket to "
                                    "continue.", reopen_days()))
    ticket.status = TicketStatus.OPEN


def close(ticket) -> None:
    """Close ``ticket`` (the resolution time is stamped by ``on_status_change`` on flush)."""
    if ticket.status == TicketStatus.CLOSED:
        raise InvalidInput(_("This ticket is already closed."))
    ticket.status = TicketStatus.CLOSED


def may_rate(ticket, user) -> bool:
    return ticket.status in CLOSED_STATUSES and user is not None and ticket.opened_by_id == user.id


def rate(ticket, user, satisfaction: str, comment: str | None = None, now=None) -> None:
    """The requester rates a resolved (or closed) ticket: satisfied or not, an optional
    comment; rating again replaces the rating."""
    if ticket.status not in CLOSED_STATUSES:
        raise InvalidInput(_("A ticket is rated once it is resolved."), field="satisfaction")
    if user is None or ticket.opened_by_id != user.id:
        raise InvalidInput(_("Only the person who opened the ticket rates it."), field="satisfaction")
    if satisfaction not in {s.value for s in Satisfaction}:
        raise InvalidInput(_("satisfaction: “satisfied” or “unsatisfied”."), field="satisfaction")
    comment = (comment or "").strip()
    if len(comment) > MAX_RATING_COMMENT:
        raise InvalidInput(_("The comment is limited to %(most)s characters.", most=i18n.number(MAX_RATING_COMMENT)),
                           field="comment")
    ticket.satisfaction, ticket.satisfaction_comment = satisfaction, comment or None
    ticket.rated_at = now or utcnow()


def median_first_response(session, tier: str, now=None) -> dt.timedelta | None:
    """The agency's median first-response time this calendar month (UTC) over the
    tickets of every client on ``tier`` that got one; ``None`` when none did. Read as the
    system: a client sees the figure for its plan, never another client's tickets."""
    now = now or utcnow()
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    with tenancy.acting_as(tenancy.SYSTEM):
        rows = session.execute(
            sa.select(Ticket.created_at, Ticket.first_response_at).join(Client, Client.id == Ticket.client_id)
            .where(Client.tier == tier, Ticket.created_at >= month, Ticket.first_response_at.is_not(None))).all()
    waits = sorted(max(answered - opened, dt.timedelta(0)) for opened, answered in rows)
    if not waits:
        return None
    middle = len(waits) // 2
    return waits[middle] if len(waits) % 2 else (waits[middle - 1] + waits[middle]) / 2
