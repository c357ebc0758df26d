"""The tier table: the single source of truth for what each plan includes (SPEC §2).

No limit is written anywhere else. ``limit_for`` applies a client's audited override;
``None`` means unlimited. Enforcement (``check_can_add``) is used by every door.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from app.models import AdPlatform, Tier

GB = 1024 ** 3


@dataclass(frozen=True)
class Plan:
    label: str
    price_brl: Decimal | None  # None: custom pricing
    projects: int | None
    domains: int | None
    team_members: int | None
    tickets_per_month: int | None
    storage_bytes: int | None
    first_response_sla_hours: int | None  # None: no SLA
    uptime_interval_seconds: int
    custom_monitors: bool
    ad_platforms: frozenset
    insights: str | None  # None, "yes", "priority"
    white_label: bool
    api_requests_per_minute: int


PLANS: dict[Tier, Plan] = {
    Tier.FREE: Plan("Free", Decimal("0"), 1, 1, 1, 15, 5 * GB, None, 15 * 60, False,
                    frozenset(), None, False, 100),
    Tier.BASIC: Plan("Basic", Decimal("297"), 3, 3, 3, 30, 25 * GB, 24, 5 * 60, False,
                     frozenset({AdPlatform.GOOGLE_ADS}), None, False, 300),
    Tier.PRO: Plan("Pro", Decimal("897"), 10, 10, 10, 60, 100 * GB, 4, 60, False,
                   frozenset({AdPlatform.GOOGLE_ADS, AdPlatform.META_ADS}), "yes", False, 1000),
    Tier.ENTERPRISE: Plan("Enterprise", None, None, None, None, None, None, 1, 60, True,
                          frozenset(AdPlatform), "priority", True, 10000),
}

# Resources with a countable limit (fields of ``Plan``).
LIMITED_RESOURCES = frozenset({"projects", "domains", "team_members", "tickets_per_month", "storage_bytes"})


def plan_for(client) -> Plan:
    return PLANS[Tier(client.tier)]


def limit_for(client, resource: str) -> int | None:
    """The limit that applies to ``client`` for ``resource``; an override wins."""
    if resource not in LIMITED_RESOURCES:
        raise KeyError(f"unknown limited resource {resource!r}")
    overrides = client.limit_overrides or {}
    if resource in overrides:
        value = overrides[resource]
        return None if value is None else int(value)
    return getattr(plan_for(client), resource)


def sla_hours_for(client) -> int | None:
    return plan_for(client).first_response_sla_hours

