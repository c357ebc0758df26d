"""Audit trail tables: ``AuditEvent`` (append-only, hash-chained) and
``ImpersonationSession``. Capturing and chaining events is ``app.services.audit``'s job.
"""

from __future__ import annotations

import enum

import sqlalchemy as sa
from flask_appbuilder.models.sqla import Model
from flask_babel import gettext as _
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
    """One audited event. References to users, clients and impersonation sessions are
    plain ids, not foreign keys: the log outlives what it talks about, and a foreign-key
    action (SET NULL) would be an UPDATE, which the database refuses on this table."""

    __tablename__ = "audit_events"
    __table_args__ = (
        sa.Index("ix_audit_events_resource", "resource_type", "resource_id"),
        sa.Index("ix_audit_events_client_occurred", "client_id", "occurred_at"),
        sa.Index("ix_audit_events_occurred_at", "occurred_at"),
        sa.Index("ix_audit_events_impersonation", "impersonation_session_id"),
        sa.Index("ix_audit_events_true_user", "true_user_id"),
        # No RETURNING on insert: every transaction may append, not every one may read back.
        {"implicit_returning": False},
    )

    seq = sa.Column(sa.BigInteger, nullable=False, unique=True)  # position in the chain
    occurred_at = sa.Column(UTCDateTime(), nullable=False)
    action = sa.Column(sa.String(64), nullable=False)
    resource_type = sa.Column(sa.String(64), nullable=True)
    resource_id = sa.Column(sa.String(64), nullable=True)
    client_id = sa.Column(sa.Integer, nullable=True)
    actor_id = sa.Column(sa.Integer, nullable=True, index=True)
    true_user_id = sa.Column(sa.Integer, nullable=True)
    impersonation_session_id = sa.Column(sa.Integer, nullable=True)
    channel = sa.Column(sa.String(16), nullable=True)  # web / api / cli / job
    ip = sa.Column(sa.String(45), nullable=True)
    user_agent = sa.Column(sa.String(500), nullable=True)
    request_id = sa.Column(sa.String(64), nullable=True)
    changes = sa.Column(JSONType, nullable=True)  # {field: [old, new]}
    details = sa.Column(JSONType, nullable=True)
    staff_only = sa.Column(sa.Boolean, nullable=False, default=False)  # never shown to clients
    prev_hash = sa.Column(sa.String(64), nullable=True)
    hash = sa.Column(sa.String(64), nullable=False)  # not unique: seq is, and the hash covers it
    # GDPR erasure (``services.gdpr``): the personal fields (changes, details, ip, user agent)
    # were rewritten; ``personal_digest`` keeps the digest of what they held, which the
    # chain hashes over, so the event still verifies (see ``services.audit``).
    redacted = sa.Column(sa.Boolean, nullable=False, default=False, server_default=sa.false())
    personal_digest = sa.Column(sa.String(64), nullable=True)

    actor = relationship("User", primaryjoin="foreign(AuditEvent.actor_id) == User.id", viewonly=True)
    true_user = relationship("User", primaryjoin="foreign(AuditEvent.true_user_id) == User.id", viewonly=True)
    client = relationship("Client", primaryjoin="foreign(AuditEvent.client_id) == Client.id", viewonly=True)
    impersonation_session = relationship(
        "ImpersonationSession",
        primaryjoin="foreign(AuditEvent.impersonation_session_id) == ImpersonationSession.id", viewonly=True)

    def __str__(self) -> str:
        return f"{self.action} {self.resource_type or ''}#{self.resource_id or ''}"


class AuditChainHead(Model):
    """The one row holding the chain's last ``seq`` and hash (and the hash before it, so
    a single UPDATE ... RETURNING hands an appender both). Appenders lock it, so events
    are chained one after another; it holds no tenant data."""

    __tablename__ = "audit_chain_head"

    id = sa.Column(sa.Integer, primary_key=True)
    seq = sa.Column(sa.BigInteger, nullable=False)
    hash = sa.Column(sa.String(64), nullable=False)
    prev_hash = sa.Column(sa.String(64), nullable=True)


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
    client = relationship("Client")

    def __str__(self) -> str:
        return _("%(staff)s as %(user)s", staff=self.staff_user, user=self.target_user)
