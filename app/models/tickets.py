"""Support: ``Ticket`` and its ``TicketMessage`` thread (with ``internal`` staff notes).

The SLA clock (due time, pause while waiting on the client, state) is computed by
``app.services.tickets``; nothing here decides it.
"""

from __future__ import annotations

import enum

import sqlalchemy as sa
from flask_appbuilder.models.sqla import Model
from sqlalchemy.orm import relationship

from .base import TimestampMixin, UTCDateTime, client_fk, enum_column, user_fk


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


ticket_message_attachments = sa.Table(
    "ticket_message_attachments",
    Model.metadata,
    sa.Column("message_id", sa.Integer, sa.ForeignKey("ticket_messages.id", ondelete="CASCADE"), primary_key=True),
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

    # Joined: the staff list shows client and assignee on every row (no N+1).
    client = relationship("Client", lazy="joined")
    project = relationship("Project")
    assignee = relationship("User", foreign_keys=[assignee_id], lazy="joined")
    opened_by = relationship("User", foreign_keys=[opened_by_id])
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
