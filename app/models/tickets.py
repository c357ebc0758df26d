"""Support: ``Ticket`` and its ``TicketMessage`` thread (with ``internal`` staff notes).

The SLA clock (due time, pause while waiting on the client, state) is computed by
``app.services.tickets``; nothing here decides it.
"""

from __future__ import annotations

import enum

import sqlalchemy as sa
from flask_appbuilder.models.sqla import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import relationship

from .base import TimestampMixin, UTCDateTime, client_fk, enum_column, user_fk, utcnow


class TicketPriority(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"


class TicketStatus(enum.StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    WAITING_CLIENT = "waiting_client"
    RESOLVED = "resolved"
    CLOSED = "closed"


class SLAState(enum.StrEnum):
    OK = "ok"
    AT_RISK = "at_risk"
    BREACHED = "breached"


class Satisfaction(enum.StrEnum):
    SATISFIED = "satisfied"
    UNSATISFIED = "unsatisfied"


# What a person reads for each stored value (lists, badges, e-mails): never the raw value.
# Lazy translations: each is read in the language of the page or e-mail showing it.
LABELS = {
    "open": _l("Open"), "in_progress": _l("In progress"), "waiting_client": _l("Waiting on client"),
    "resolved": _l("Resolved"), "closed": _l("Closed"),
    "low": _l("Low"), "medium": _l("Medium"), "high": _l("High"), "urgent": _l("Urgent"),
    "ok": _l("On track"), "at_risk": _l("At risk"), "breached": _l("Breached"),
    "satisfied": _l("Satisfied"), "unsatisfied": _l("Not satisfied"),
}


def value_labels(values) -> dict[str, str]:
    """``LABELS`` for a column holding exactly one of the ticket enums' value sets (a
    ticket's or a macro's status and priority, SLA state, rating); ``{}`` for any other
    column (a backup's ``ok`` is not "On track")."""
    chosen = set(values)
    enums = (TicketStatus, TicketPriority, SLAState, Satisfaction)
    return {v: LABELS[v] for v in chosen} if any(chosen == {e.value for e in kind} for kind in enums) else {}


ticket_message_attachments = sa.Table(
    "ticket_message_attachments",
    Model.metadata,
    sa.Column("message_id", sa.Integer, sa.ForeignKey("ticket_messages.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("file_id", sa.Integer, sa.ForeignKey("storage_files.id", ondelete="CASCADE"), primary_key=True),
)

# Files attached when the ticket was opened (replies carry their own).
ticket_attachments = sa.Table(
    "ticket_attachments",
    Model.metadata,
    sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("file_id", sa.Integer, sa.ForeignKey("storage_files.id", ondelete="CASCADE"), primary_key=True),
)


class Ticket(TimestampMixin, Model):
    __tablename__ = "tickets"
    __table_args__ = (
        # staff list: newest first, optionally by status; portal: per client newest first
        # ``client_id`` rides along (INCLUDE): the row-level-security policies read it,
        # so a count or a deep page's ids stay index-only scans under them.
        sa.Index("ix_tickets_created_at_id", "created_at", "id", postgresql_include=["client_id"]),
        sa.Index("ix_tickets_status_created_at", "status", "created_at", "id", postgresql_include=["client_id"]),
        sa.Index("ix_tickets_client_created_at", "client_id", "created_at", "id"),
        sa.Index("ix_tickets_sla_state_status", "sla_state", "status"),
        sa.CheckConstraint("sla_hours IS NULL OR sla_hours > 0", name="sla_hours_positive"),
    )

    client_id = client_fk()
    project_id = sa.Column(sa.Integer, sa.ForeignKey("projects.id", ondelete="SET NULL"), nullable=True)
    subject = sa.Column(sa.String(200), nullable=False)
    description = sa.Column(sa.Text, nullable=False)
    priority = enum_column(TicketPriority, name="priority", default=TicketPriority.MEDIUM)
    status = enum_column(TicketStatus, name="status", default=TicketStatus.OPEN)
    assignee_id = user_fk(index=True)
    sla_hours = sa.Column(sa.Integer, nullable=True)  # copied from the tier when opened
    first_response_due_at = sa.Column(UTCDateTime(), nullable=True)
    first_response_at = sa.Column(UTCDateTime(), nullable=True)
    resolved_at = sa.Column(UTCDateTime(), nullable=True)
    sla_state = enum_column(SLAState, name="sla_state", default=SLAState.OK)
    # SLA pause bookkeeping: when the current wait on the client began, total paused.
    sla_paused_since = sa.Column(UTCDateTime(), nullable=True)
    sla_paused_seconds = sa.Column(sa.Integer, nullable=False, default=0)
    opened_by_id = user_fk()
    # A client's reply to a ticket resolved too long ago opens a new ticket that follows it.
    follows_id = sa.Column(sa.Integer, sa.ForeignKey("tickets.id", ondelete="SET NULL"), nullable=True)
    # The requester's rating once resolved (``services.tickets.rate``).
    satisfaction = enum_column(Satisfaction, name="satisfaction", nullable=True)
    satisfaction_comment = sa.Column(sa.String(2000), nullable=True)
    rated_at = sa.Column(UTCDateTime(), nullable=True)

    # Joined: the staff list shows client and assignee on every row (no N+1).
    client = relationship("Client", lazy="joined")
    project = relationship("Project")
    assignee = relationship("User", foreign_keys=[assignee_id], lazy="joined")
    opened_by = relationship("User", foreign_keys=[opened_by_id])
    follows = relationship("Ticket", remote_side="Ticket.id", foreign_keys=[follows_id])
    attachments = relationship("StorageFile", secondary=ticket_attachments)
    messages = relationship("TicketMessage", back_populates="ticket", cascade="all, delete-orphan",
                            order_by="TicketMessage.created_at")

    def __str__(self) -> str:
        return f"#{self.id} {self.subject}"


class TicketMessage(TimestampMixin, Model):
    __tablename__ = "ticket_messages"
    __tenant_parent__ = "ticket"
    __table_args__ = (sa.Index("ix_ticket_messages_ticket_created", "ticket_id", "created_at"),)

    client_id = client_fk()
    ticket_id = sa.Column(sa.Integer, sa.ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False)
    author_id = user_fk()
    body = sa.Column(sa.Text, nullable=False)
    internal = sa.Column(sa.Boolean, nullable=False, default=False)

    ticket = relationship("Ticket", back_populates="messages")
    author = relationship("User")
    attachments = relationship("StorageFile", secondary=ticket_message_attachments)

    def __str__(self) -> str:
        return (self.body or "")[:60]


class TicketMacro(TimestampMixin, Model):
    """A canned reply (Admin manages them): a body with placeholders
    (``services.ticket_macros.PLACEHOLDERS``) and optional status/priority moves applied
    when the reply it fills is sent. Staff-only."""
    __tablename__ = "ticket_macros"

    name = sa.Column(sa.String(120), nullable=False, unique=True)
    body = sa.Column(sa.Text, nullable=False)
    set_status = enum_column(TicketStatus, name="macro_status", nullable=True)
    set_priority = enum_column(TicketPriority, name="macro_priority", nullable=True)

    def __str__(self) -> str:
        return self.name


class StaffAlert(Model):
    """An in-app alert for one staff member (a new client ticket, an assignment); the
    same news goes by e-mail through the outbox. Staff-only."""
    __tablename__ = "staff_alerts"
    __table_args__ = (sa.Index("ix_staff_alerts_user_unread", "user_id", "read_at"),)

    id = sa.Column(sa.Integer, primary_key=True)
    user_id = sa.Column(sa.Integer, sa.ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False)
    ticket_id = sa.Column(sa.Integer, sa.ForeignKey("tickets.id", ondelete="CASCADE"), nullable=True)
    kind = sa.Column(sa.String(40), nullable=False)
    message = sa.Column(sa.String(300), nullable=False)
    created_at = sa.Column(UTCDateTime(), nullable=False, default=utcnow)
    read_at = sa.Column(UTCDateTime(), nullable=True)

    ticket = relationship("Ticket")


class TicketPresence(Model):
    """Who has a ticket's staff page open, and whether they are writing in its reply box
    (``services.ticket_presence``): refreshed by the page's light polling. Staff-only."""
    __tablename__ = "ticket_presence"

    ticket_id = sa.Column(sa.Integer, sa.ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    user_id = sa.Column(sa.Integer, sa.ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True)
    seen_at = sa.Column(UTCDateTime(), nullable=False, default=utcnow)
    composing = sa.Column(sa.Boolean, nullable=False, default=False)

    user = relationship("User")
