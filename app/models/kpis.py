"""Campaign KPIs from raw figures: CTR, CPC, CPA and ROAS (the model's properties, the
portal, the dashboards and the reports all use these).

Money stays ``Decimal``; every ratio returns ``None`` instead of dividing by zero.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
RATIO = Decimal("0.0001")


def as_decimal(value) -> Decimal:
    """``value`` (a number, its text, or None for 0) as a ``Decimal``."""
    return value if isinstance(value, Decimal) else Decimal(str(value or 0))


def ctr(clicks, impressions) -> Decimal | None:
    """Click-through rate in percent (clicks / impressions × 100)."""
    impressions = as_decimal(impressions)
    if impressions == 0:
        return None
    return (as_decimal(clicks) * 100 / impressions).quantize(CENT, ROUND_HALF_UP)


def cpc(cost, clicks) -> Decimal | None:
    clicks = as_decimal(clicks)
    return None if clicks == 0 else (as_decimal(cost) / clicks).quantize(CENT, ROUND_HALF_UP)


def cpa(cost, conversions) -> Decimal | None:
    conversions = as_decimal(conversions)
    return None if conversions == 0 else (as_decimal(cost) / conversions).quantize(CENT, ROUND_HALF_UP)


def roas(revenue, cost) -> Decimal | None:
    """Return on ad spend as a multiple (revenue / cost)."""
    cost = as_decimal(cost)
    return None if cost == 0 else (as_decimal(revenue) / cost).quantize(RATIO, ROUND_HALF_UP)
