"""Agent collision: who else has a ticket's staff page open, and who is writing a reply.

The staff ticket page reports every ``POLL_SECONDS`` (``seen``) whether its reply box has
text; anyone seen within ``FRESH_SECONDS`` counts as present. One row per (ticket,
person), updated in place; rows older than a day are dropped as they are passed.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from app.models import TicketPresence, User
from app.models.base import utcnow

POLL_SECONDS = 10
FRESH_SECONDS = 30


def seen(session, ticket_id: int, user_id: int, composing: bool, now=None) -> list[dict]:
    """Note ``user_id`` on ``ticket_id``; return the *others* present, writers first."""
    now = now or utcnow()
    row = session.get(TicketPresence, (ticket_id, user_id))
    if row is None:
        session.add(TicketPresence(ticket_id=ticket_id, user_id=user_id, seen_at=now, composing=composing))
    else:
        row.seen_at, row.composing = now, composing
    session.execute(sa.delete(TicketPresence).where(TicketPresence.seen_at < now - dt.timedelta(days=1)),
                    execution_options={"synchronize_session": False})
    return others(session, ticket_id, user_id, now)


def others(session, ticket_id: int, user_id: int, now=None) -> list[dict]:
    now = now or utcnow()
    rows = session.execute(
        sa.select(TicketPresence.composing, User.first_name, User.last_name, User.username)
        .join(User, User.id == TicketPresence.user_id)
        .where(TicketPresence.ticket_id == ticket_id, TicketPresence.user_id != user_id,
               TicketPresence.seen_at >= now - dt.timedelta(seconds=FRESH_SECONDS))
        .order_by(TicketPresence.composing.desc(), User.username)).all()
    return [{"name": " ".join(filter(None, [first, last])) or username, "composing": bool(composing)}
            for composing, first, last, username in rows]
