"""Campaign figures summed over campaigns and dates, with their KPIs
(``app.models.kpis``)."""

from __future__ import annotations

import sqlalchemy as sa

from app.models import CampaignMetric
from app.models.kpis import CENT, as_decimal, cpa, cpc, ctr, roas

def totals(session, campaign_ids=None, client_id=None, date_from=None, date_to=None) -> dict:
    """Summed figures and derived KPIs over a set of campaigns and dates."""
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
    cost, revenue = as_decimal(cost).quantize(CENT), as_decimal(revenue).quantize(CENT)
    return {
        "impressions": int(impressions), "clicks": int(clicks), "conversions": as_decimal(conversions),
        "cost": cost, "revenue": revenue,
        "ctr": ctr(clicks, impressions), "cpc": cpc(cost, clicks),
        "cpa": cpa(cost, conversions), "roas": roas(revenue, cost),
    }
