"""Tenants: ``Client`` (the agency's customer organisation) and ``ClientMember`` (which
portal user belongs to which client, with what membership role).

Tier limits are not here: they live in ``app.services.tiers``.
"""

from __future__ import annotations

import enum

import sqlalchemy as sa
from flask_appbuilder.models.sqla import Model
from sqlalchemy.orm import relationship

from .base import JSONType, TimestampMixin, UTCDateTime, client_fk, enum_column


class Tier(enum.StrEnum):
    FREE = "free"
    BASIC = "basic"
    PRO = "pro"
    ENTERPRISE = "enterprise"


class ClientStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CHURNED = "churned"


class SubscriptionStatus(enum.StrEnum):
    ACTIVE = "active"
    TRIALING = "trialing"
    PAST_DUE = "past_due"
    CANCELED = "canceled"


class MemberRole(enum.StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


class Client(TimestampMixin, Model):
    __tablename__ = "clients"

    name = sa.Column(sa.String(200), nullable=False, unique=True)
    slug = sa.Column(sa.String(64), nullable=False, unique=True)
    tier = enum_column(Tier, name="tier", default=Tier.FREE, index=True)
    status = enum_column(ClientStatus, name="status", default=ClientStatus.ACTIVE, index=True)
    contact_email = sa.Column(sa.String(254), nullable=False)
    timezone = sa.Column(sa.String(64), nullable=False, default="America/Sao_Paulo")
    # The language its users see unless they choose one (``app.i18n.LANGUAGES``); none:
    # each browser's own.
    language = sa.Column(sa.String(8), nullable=True)
    # Per-client exceptions to the tier table, e.g. {"projects": 5}; who/when are kept.
    limit_overrides = sa.Column(JSONType, nullable=True)
    limit_overrides_set_by_id = sa.Column(sa.Integer, sa.ForeignKey("ab_user.id"), nullable=True)
    limit_overrides_set_at = sa.Column(UTCDateTime(), nullable=True)
    # Billing (Admin only)
    stripe_customer_id = sa.Column(sa.String(64), nullable=True, unique=True)
    stripe_subscription_id = sa.Column(sa.String(64), nullable=True)
    subscription_status = enum_column(SubscriptionStatus, name="subscription_status", nullable=True)
    current_period_start = sa.Column(UTCDateTime(), nullable=True)
    current_period_end = sa.Column(UTCDateTime(), nullable=True)
    # White-label branding (enterprise reports)
    brand_logo_path = sa.Column(sa.String(500), nullable=True)
    brand_primary_color = sa.Column(sa.String(7), nullable=True)
    internal_notes = sa.Column(sa.Text, nullable=True)

    limit_overrides_set_by = relationship("User", foreign_keys=[limit_overrides_set_by_id])
    members = relationship("ClientMember", back_populates="client", cascade="all, delete-orphan")

    def __str__(self) -> str:
        return self.name


class ClientMember(TimestampMixin, Model):
    __tablename__ = "client_members"

    client_id = client_fk()
    user_id = sa.Column(sa.Integer, sa.ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False, unique=True)
    role = enum_column(MemberRole, name="role", default=MemberRole.MEMBER)

    client = relationship("Client", back_populates="members")
    user = relationship("User")

    def __str__(self) -> str:
        return f"{self.user} ({self.role})"
