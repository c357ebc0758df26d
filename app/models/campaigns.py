"""Advertising: ``Campaign`` and its daily ``CampaignMetric`` rows.

``Campaign.spent_total`` is an SQL aggregate of its metrics (never typed in); CTR, CPC,
CPA and ROAS come from ``app.models.kpis``.
"""

from __future__ import annotations

import enum

import sqlalchemy as sa
from flask_appbuilder.models.sqla import Model
from sqlalchemy.orm import column_property, relationship

from .kpis import cpa, cpc, ctr, roas
from .base import TimestampMixin, UTCDateTime, client_fk, enum_column, money_column


class AdPlatform(enum.StrEnum):
    GOOGLE_ADS = "google_ads"
    META_ADS = "meta_ads"
    LINKEDIN_ADS = "linkedin_ads"
    TIKTOK_ADS = "tiktok_ads"


class CampaignStatus(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    ENDED = "ended"


class CampaignMetric(TimestampMixin, Model):
    __tablename__ = "campaign_metrics"
    __tenant_parent__ = "campaign"
    __table_args__ = (
        sa.UniqueConstraint("campaign_id", "date"),
        sa.Index("ix_campaign_metrics_client_date", "client_id", "date"),
        sa.CheckConstraint("impressions >= 0 AND clicks >= 0 AND conversions >= 0 AND cost >= 0 "
                           "AND revenue >= 0", name="not_negative"),
    )

    client_id = client_fk()
    campaign_id = sa.Column(sa.Integer, sa.ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False)
    date = sa.Column(sa.Date, nullable=False)
    impressions = sa.Column(sa.BigInteger, nullable=False, default=0)
    clicks = sa.Column(sa.BigInteger, nullable=False, default=0)
    conversions = sa.Column(sa.Numeric(12, 2), nullable=False, default=0)
    cost = money_column(nullable=False, default=0)
    revenue = money_column(nullable=False, default=0)

    campaign = relationship("Campaign", back_populates="metrics")

    # Derived KPIs (no division by zero; Decimal money): ``app.models.kpis``
    @property
    def ctr(self):
        return ctr(self.clicks, self.impressions)

    @property
    def cpc(self):
        return cpc(self.cost, self.clicks)

    @property
    def cpa(self):
        return cpa(self.cost, self.conversions)

    @property
    def roas(self):
        return roas(self.revenue, self.cost)

    def __str__(self) -> str:
        return f"{self.campaign} {self.date}"


class Campaign(TimestampMixin, Model):
    __tablename__ = "campaigns"
    __table_args__ = (
        sa.UniqueConstraint("platform", "external_id"),
        sa.CheckConstraint("budget_total IS NULL OR budget_total >= 0", name="budget_total_not_negative"),
        sa.CheckConstraint("budget_daily IS NULL OR budget_daily >= 0", name="budget_daily_not_negative"),
        sa.CheckConstraint("end_date IS NULL OR start_date IS NULL OR end_date >= start_date", name="dates_in_order"),
    )

    client_id = client_fk()
    project_id = sa.Column(sa.Integer, sa.ForeignKey("projects.id", ondelete="SET NULL"), nullable=True)
    name = sa.Column(sa.String(200), nullable=False)
    platform = enum_column(AdPlatform, name="platform")
    external_id = sa.Column(sa.String(64), nullable=False)
    # The platform account the campaign lives in: Google Ads customer id, Meta ad account id.
    account_id = sa.Column(sa.String(64), nullable=True)
    status = enum_column(CampaignStatus, name="status", default=CampaignStatus.ACTIVE)
    budget_total = money_column()
    budget_daily = money_column()
    start_date = sa.Column(sa.Date, nullable=True)
    end_date = sa.Column(sa.Date, nullable=True)
    last_synced_at = sa.Column(UTCDateTime(), nullable=True)

    client = relationship("Client")
    project = relationship("Project")
    metrics = relationship("CampaignMetric", back_populates="campaign", cascade="all, delete-orphan",
                           order_by="CampaignMetric.date")

    def __str__(self) -> str:
        return self.name


# Spent total is the sum of the campaign's daily costs, computed in SQL with the row.
Campaign.spent_total = column_property(
    sa.select(sa.func.coalesce(sa.func.sum(CampaignMetric.cost), 0))
    .where(CampaignMetric.campaign_id == Campaign.id)
    .correlate_except(CampaignMetric)
    .scalar_subquery()
)
