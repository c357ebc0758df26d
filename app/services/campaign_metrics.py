"""Campaign KPIs: CTR, CPC, CPA and ROAS from raw daily figures.

Money stays ``Decimal``; every ratio returns ``None`` instead of dividing by zero.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa

CENT = Decimal("0.01")
RATIO = Decimal("0.0001")


def _d(value) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value or 0))


def ctr(clicks, impressions) -> Decimal | None:
    """Click-through rate in percent (clicks / impressions × 100)."""
    impressions = _d(impressions)
    if impressions == 0:
        return None
    return (_d(clicks) * 100 / impressions).quantize(CENT, ROUND_HALF_UP)


def cpc(cost, clicks) -> Decimal | None:
    clicks = _d(clicks)
    return None if clicks == 0 else (_d(cost) / clicks).quantize(CENT, ROUND_HALF_UP)


def cpa(cost, conversions) -> Decimal | None:
    conversions = _d(conversions)
    return None if conversions == 0 else (_d(cost) / conversions).quantize(CENT, ROUND_HALF_UP)


def roas(revenue, cost) -> Decimal | None:
    """Return on ad spend as a multiple (revenue / cost)."""
    cost = _d(cost)
    return None if cost == 0 else (_d(revenue) / cost).quantize(RATIO, ROUND_HALF_UP)


def totals(session, campaign_ids=None, client_id=None, date_from=None, date_to=None) -> dict:
    """Summed figures and derived KPIs over a set of campaigns and dates."""
    from app.models import CampaignMetric

    q = sa.select(
        sa.func.coalesce(sa.func.sum(CampaignMetric.impressions), 0),
        sa.func.coalesce(sa.func.sum(CampaignMetric.clicks), 0),
        sa.func.coalesce(sa.func.sum(CampaignMetric.conversions), 0),
        sa.func.coalesce(sa.func.sum(CampaignMetric.cost), 0),
        sa.func.coalesce(sa.func.sum(CampaignMetric.revenue), 0),
    )
    if campaign_ids is not None:
        q = q.where(CampaignMetric.campaign_id.in_(campaign_ids))
    if client_id is not None:
        q = q.where(CampaignMetric.client_id == client_id)
    if date_from is not None:
        q = q.where(CampaignMetric.date >= date_from)
    if date_to is not None:
        q = q.where(CampaignMetric.date <= date_to)
    impressions, clicks, conversions, cost, revenue = session.execute(q).one()
    cost, revenue = _d(cost).quantize(CENT), _d(revenue).quantize(CENT)
    return {
        "impressions": int(impressions), "clicks": int(clicks), "conversions": _d(conversions),
        "cost": cost, "revenue": revenue,
        "ctr": ctr(clicks, impressions), "cpc": cpc(cost, clicks),
        "cpa": cpa(cost, conversions), "roas": roas(revenue, cost),
    }
