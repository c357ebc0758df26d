"""Audit trail tables: ``AuditEvent`` (append-only, hash-chained) and
``ImpersonationSession``. Capturing and chaining events is ``app.services.audit``'s job.
"""

from __future__ import annotations

import enum

import sqlalchemy as sa
from flask_appbuilder.models.sqla import Model
from sqlalchemy.orm import relationship

from .base import JSONType, TimestampMixin, UTCDateTime, enum_column, user_fk


class ImpersonationMode(enum.StrEnum):
    READ_ONLY = "read-only"
    FULL = "full"


class ImpersonationEnd(enum.StrEnum):
    ENDED = "ended"
    LOGOUT = "logout"
    EXPIRED = "expired"


class AuditEvent(TimestampMixin, Model):
    __tablename__ = "audit_events"
    __table_args__ = (
        sa.Index("ix_audit_events_resource", "resource_type", "resource_id"),
        sa.Index("ix_audit_events_client_occurred", "client_id", "occurred_at"),
        sa.Index("ix_audit_events_occurred_at", "occurred_at"),
    )

    occurred_at = sa.Column(UTCDateTime(), nullable=False)
    action = sa.Column(sa.String(64), nullable=False)
    resource_type = sa.Column(sa.String(64), nullable=True)
    resource_id = sa.Column(sa.String(64), nullable=True)
    client_id = sa.Column(sa.Integer, sa.ForeignKey("clients.id", ondelete="SET NULL"), nullable=True)
    actor_id = user_fk(index=True)
    true_user_id = user_fk()
    impersonation_session_id = sa.Column(
        sa.Integer, sa.ForeignKey("impersonation_sessions.id", ondelete="SET NULL"), nullable=True
    )
    ip = sa.Column(sa.String(45), nullable=True)
    user_agent = sa.Column(sa.String(500), nullable=True)
    request_id = sa.Column(sa.String(64), nullable=True)
    changes = sa.Column(JSONType, nullable=True)  # {field: [old, new]}
    details = sa.Column(JSONType, nullable=True)
    prev_hash = sa.Column(sa.String(64), nullable=True)
    hash = sa.Column(sa.String(64), nullable=False, unique=True)

    actor = relationship("User", foreign_keys=[actor_id])
    true_user = relationship("User", foreign_keys=[true_user_id])

    def __str__(self) -> str:
        return f"{self.action} {self.resource_type}#{self.resource_id}"


class ImpersonationSession(TimestampMixin, Model):
    __tablename__ = "impersonation_sessions"

    staff_user_id = user_fk(nullable=False, index=True)
    target_user_id = user_fk(nullable=False, index=True)
    client_id = sa.Column(sa.Integer, sa.ForeignKey("clients.id", ondelete="SET NULL"), nullable=True, index=True)
    reason = sa.Column(sa.Text, nullable=False)
    mode = enum_column(ImpersonationMode, name="mode", default=ImpersonationMode.READ_ONLY)
    started_at = sa.Column(UTCDateTime(), nullable=False)
    expires_at = sa.Column(UTCDateTime(), nullable=False)
    ended_at = sa.Column(UTCDateTime(), nullable=True)
    end_reason = enum_column(ImpersonationEnd, name="end_reason", nullable=True)
    ip = sa.Column(sa.String(45), nullable=True)

    staff_user = relationship("User", foreign_keys=[staff_user_id])
    target_user = relationship("User", foreign_keys=[target_user_id])

    def __str__(self) -> str:
        return f"{self.staff_user} as {self.target_user}"
