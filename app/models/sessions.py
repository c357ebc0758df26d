"""Signed-in sessions, kept server-side (``UserSession``): the rules are
``app.services.sessions``.

The browser's signed cookie only carries a random token; the row holds its SHA-256,
whom the requests run as, until when, and whether and how the session ended. A "view
as" session is a row of its own (``kind = view-as``) whose ``parent`` is the staff
member's sign-in and whose ``impersonation_session`` is the audited record.
"""

from __future__ import annotations

import enum

import sqlalchemy as sa
from flask_appbuilder.models.sqla import Model
from sqlalchemy.orm import relationship

from .base import UTCDateTime, enum_column, utcnow


class SessionKind(enum.StrEnum):
    SIGN_IN = "sign-in"
    VIEW_AS = "view-as"


class SessionEnd(enum.StrEnum):
    LOGOUT = "logout"
    EXPIRED = "expired"
    VIEW_AS_ENDED = "view-as ended"
    PASSWORD_CHANGED = "password changed"
    DEACTIVATED = "deactivated"
    SIGN_IN_ENDED = "sign-in ended"  # a view-as row whose staff sign-in ended


class UserSession(Model):
    __tablename__ = "user_sessions"
    __table_args__ = (
        sa.Index("ix_user_sessions_live_user", "user_id", "ended_at"),
        sa.Index("ix_user_sessions_live_true_user", "true_user_id", "ended_at"),
    )

    id = sa.Column(sa.Integer, primary_key=True)
    token_hash = sa.Column(sa.String(64), nullable=False, unique=True)
    kind = enum_column(SessionKind, name="kind", default=SessionKind.SIGN_IN)
    # Whom the requests run as (the client user during "view as") ...
    user_id = sa.Column(sa.Integer, sa.ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False)
    # ... and who is really there (the staff member during "view as"; else the same).
    true_user_id = sa.Column(sa.Integer, sa.ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False)
    parent_id = sa.Column(sa.Integer, sa.ForeignKey("user_sessions.id", ondelete="CASCADE"), nullable=True,
                          index=True)
    impersonation_session_id = sa.Column(
        sa.Integer, sa.ForeignKey("impersonation_sessions.id", ondelete="CASCADE"), nullable=True, index=True)
    created_at = sa.Column(UTCDateTime(), nullable=False, default=utcnow)
    expires_at = sa.Column(UTCDateTime(), nullable=False)
    ended_at = sa.Column(UTCDateTime(), nullable=True)
    end_reason = enum_column(SessionEnd, name="end_reason", nullable=True)
    ip = sa.Column(sa.String(45), nullable=True)
    user_agent = sa.Column(sa.String(500), nullable=True)

    parent = relationship("UserSession", remote_side=[id])
    impersonation_session = relationship("ImpersonationSession")

    def __str__(self) -> str:
        return f"{self.kind} session #{self.id}"
