"""Staff views of support (saved queues): which tickets each one holds, in which order.

Each queue is a rule over tickets that are not resolved or closed ("open" below:
``open``, ``in_progress``, ``waiting_client``), for the staff member looking:

- ``mine``: open, assigned to them; newest first;
- ``unassigned``: open, nobody assigned; oldest first (who waited longest);
- ``at-risk``: open, SLA ``at_risk`` or ``breached``; soonest first-response due first;
- ``waiting``: waiting on the client; oldest first;
- ``open``: every open ticket; newest first.

Any queue narrows to one client (``client_id``) and to one assignee (``assignee_id``;
``UNASSIGNED`` for nobody). ``counts`` gives every queue's size in one statement.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.errors import InvalidInput
from app.models import SLAState, Ticket, TicketStatus

OPEN_STATUSES = (TicketStatus.OPEN, TicketStatus.IN_PROGRESS, TicketStatus.WAITING_CLIENT)
UNASSIGNED = 0
PAGE_SIZE = 25


@dataclass(frozen=True)
class Queue:
    slug: str
    title: str
    rule: object  # (user id) -> SQL condition
    order: object  # () -> ORDER BY clauses


def _open():
    return Ticket.status.in_([s.value for s in OPEN_STATUSES])


def _newest():
    return (Ticket.created_at.desc(), Ticket.id.desc())


def _oldest():
    return (Ticket.created_at.asc(), Ticket.id.asc())


QUEUES = {q.slug: q for q in (
    Queue("mine", _l("My open tickets"), lambda me: sa.and_(_open(), Ticket.assignee_id == me), _newest),
    Queue("unassigned", _l("Unassigned"), lambda me: sa.and_(_open(), Ticket.assignee_id.is_(None)), _oldest),
    Queue("at-risk", _l("At risk and breached"),
          lambda me: sa.and_(_open(), Ticket.sla_state.in_([SLAState.AT_RISK.value, SLAState.BREACHED.value])),
          lambda: (Ticket.first_response_due_at.asc().nulls_last(), Ticket.id.asc())),
    Queue("waiting", _l("Waiting on client"), lambda me: Ticket.status == TicketStatus.WAITING_CLIENT.value, _oldest),
    Queue("open", _l("All open"), lambda me: _open(), _newest),
)}


def queue(slug: str) -> Queue:
    if slug not in QUEUES:
        raise InvalidInput(_("No queue “%(slug)s”: one of %(queues)s.", slug=slug, queues=", ".join(QUEUES)),
                           field="queue")
    return QUEUES[slug]


def _narrowed(condition, client_id: int | None, assignee_id: int | None):
    if client_id is not None:
        condition = sa.and_(condition, Ticket.client_id == client_id)
    if assignee_id == UNASSIGNED:
        condition = sa.and_(condition, Ticket.assignee_id.is_(None))
    elif assignee_id is not None:
        condition = sa.and_(condition, Ticket.assignee_id == assignee_id)
    return condition


def page(session, slug: str, me: int, *, client_id=None, assignee_id=None, number: int = 1):
    """``(tickets of page ``number`` (from 1), total)`` of queue ``slug`` for user ``me``."""
    chosen = queue(slug)
    condition = _narrowed(chosen.rule(me), client_id, assignee_id)
    total = session.execute(sa.select(sa.func.count()).select_from(Ticket).where(condition)).scalar_one()
    rows = session.execute(sa.select(Ticket).where(condition).order_by(*chosen.order())
                           .offset((max(number, 1) - 1) * PAGE_SIZE).limit(PAGE_SIZE)).unique().scalars().all()
    return list(rows), total


def counts(session, me: int, *, client_id=None) -> dict[str, int]:
    """Every queue's size for user ``me`` (one statement over the open tickets)."""
    columns = [sa.func.count().filter(q.rule(me)).label(q.slug.replace("-", "_")) for q in QUEUES.values()]
    row = session.execute(sa.select(*columns).select_from(Ticket)
                          .where(_narrowed(_open(), client_id, None))).one()
    return {slug: int(row[i] or 0) for i, slug in enumerate(QUEUES)}
