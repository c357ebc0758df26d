"""The tier table: the single source of truth for what each plan includes (SPEC §2).

No limit is written anywhere else. ``limit_for`` applies a client's audited override;
``None`` means unlimited. Enforcement (``check_can_add``) is used by every door.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from babel.dates import format_date
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _

from app import i18n
from app import models as m
from app.errors import AtriumError, InvalidInput
from app.models import AdPlatform, Tier
from app.models.base import utcnow

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
# The largest override each limit takes (beyond that, "unlimited" says it): far above any
# plan, and small enough for every page and sum that shows or compares it.
MAX_OVERRIDES = {"projects": 1_000_000, "domains": 1_000_000, "team_members": 1_000_000,
                 "tickets_per_month": 1_000_000, "storage_bytes": 1024 ** 2 * GB}  # 1 PB


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



# --------------------------------------------------------------------------- enforcement

class LimitReached(AtriumError):
    """Adding this would exceed the client's plan; the message names plan, limit and way out."""

    status = 403


# The message of each counted resource at its limit, in words (``limit`` is the count).
_WORDS = {
    "projects": lambda plan, limit, used: ngettext(
        "Your %(plan)s plan allows %(num)d project; you have %(used)d. Upgrade or archive one.",
        "Your %(plan)s plan allows %(num)d projects; you have %(used)d. Upgrade or archive one.",
        limit, plan=plan, used=used),
    "domains": lambda plan, limit, used: ngettext(
        "Your %(plan)s plan allows %(num)d domain; you have %(used)d. Upgrade or remove one.",
        "Your %(plan)s plan allows %(num)d domains; you have %(used)d. Upgrade or remove one.",
        limit, plan=plan, used=used),
    "team_members": lambda plan, limit, used: ngettext(
        "Your %(plan)s plan allows %(num)d team member; you have %(used)d. Upgrade or remove a member.",
        "Your %(plan)s plan allows %(num)d team members; you have %(used)d. Upgrade or remove a member.",
        limit, plan=plan, used=used),
}


def _count(session, model, *where) -> int:
    return session.execute(sa.select(sa.func.count()).select_from(model).where(*where)).scalar_one()


def month_start(now: dt.datetime | None = None) -> dt.datetime:
    now = now or utcnow()
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def opened_this_month(now: dt.datetime | None = None):
    """SQL condition: a ticket counts against this calendar month's limit (UTC)."""
    return m.Ticket.created_at >= month_start(now)


def storage_used(client_id):
    """SQL scalar: bytes stored by ``client_id`` (a value or a column)."""
    return (sa.select(sa.func.coalesce(sa.func.sum(m.StorageFile.size_bytes), 0))
            .where(m.StorageFile.client_id == client_id).scalar_subquery())


def usage(session, client_id: int, resource: str, now: dt.datetime | None = None) -> int:
    """How much of ``resource`` the client uses now, derived from the rows themselves."""
    if resource == "projects":
        return _count(session, m.Project, m.Project.client_id == client_id)
    if resource == "domains":
        return _count(session, m.Domain, m.Domain.client_id == client_id)
    if resource == "team_members":
        return _count(session, m.ClientMember, m.ClientMember.client_id == client_id)
    if resource == "tickets_per_month":
        return _count(session, m.Ticket, m.Ticket.client_id == client_id, opened_this_month(now))
    if resource == "storage_bytes":
        return int(session.execute(sa.select(storage_used(client_id))).scalar_one())
    raise KeyError(f"unknown limited resource {resource!r}")


def human_bytes(n: int) -> str:
    """``n`` bytes in words, in the locale: ``5 GB``, ``1.5 MB`` (``1,5 MB``), ``12 bytes``."""
    for unit, size in (("GB", GB), ("MB", 1024 ** 2), ("KB", 1024)):
        if n >= size:
            value = n / size
            return f"{i18n.number(value, 0 if value == int(value) else 1)} {unit}"
    return ngettext("%(num)d byte", "%(num)d bytes", n)


def limit_message(client, resource: str, used: int, adding: int = 1, now=None) -> str:
    plan = plan_for(client).label
    limit = limit_for(client, resource)
    if resource in _WORDS:
        return _WORDS[resource](plan, limit, used)
    if resource == "tickets_per_month":
        start = month_start(now)
        next_month = (start + dt.timedelta(days=32)).replace(day=1)
        month = format_date(next_month, "MMMM", locale=get_locale() or i18n.DEFAULT_LANGUAGE)
        return ngettext("Your %(plan)s plan allows %(num)d ticket per month; %(used)d were opened this month. "
                        "Upgrade, or open it on %(month)s 1 (UTC).",
                        "Your %(plan)s plan allows %(num)d tickets per month; %(used)d were opened this month. "
                        "Upgrade, or open it on %(month)s 1 (UTC).", limit, plan=plan, used=used, month=month)
    if adding > 1:  # 1: "any more" (the portal's button)
        return _("Your %(plan)s plan includes %(limit)s of storage; you use %(used)s and this upload is %(upload)s. "
                 "Upgrade or delete files to make room.", plan=plan, limit=human_bytes(limit),
                 used=human_bytes(used), upload=human_bytes(adding))
    return _("Your %(plan)s plan includes %(limit)s of storage; you use %(used)s. Upgrade or delete files to make "
             "room.", plan=plan, limit=human_bytes(limit), used=human_bytes(used))


def check_can_add(session, client, resource: str, adding: int = 1, now=None) -> None:
    """Raise ``LimitReached`` if adding ``adding`` units of ``resource`` exceeds the plan."""
    limit = limit_for(client, resource)
    if limit is None:
        return
    used = usage(session, client.id, resource, now=now)
    if used + adding > limit:
        raise LimitReached(limit_message(client, resource, used, adding, now=now))


def check_ad_platform(client, platform: str) -> None:
    plan = plan_for(client)
    if AdPlatform(platform) in plan.ad_platforms:
        return
    names = {AdPlatform.GOOGLE_ADS: "Google Ads", AdPlatform.META_ADS: "Meta Ads",
             AdPlatform.LINKEDIN_ADS: "LinkedIn Ads", AdPlatform.TIKTOK_ADS: "TikTok Ads"}
    upgrade = next((p.label for p in PLANS.values() if AdPlatform(platform) in p.ad_platforms), "Enterprise")
    if not plan.ad_platforms:
        raise LimitReached(_("Your %(plan)s plan does not sync ad platforms. Upgrade to %(upgrade)s to sync "
                             "%(platform)s.", plan=plan.label, upgrade=upgrade, platform=names[AdPlatform(platform)]))
    raise LimitReached(_("Your %(plan)s plan syncs %(platforms)s only. Upgrade to %(upgrade)s to sync %(platform)s.",
                         plan=plan.label, platforms=", ".join(sorted(names[p] for p in plan.ad_platforms)),
                         upgrade=upgrade, platform=names[AdPlatform(platform)]))


def validate_overrides(value) -> dict | None:
    """A limit-override document: ``{resource: non-negative integer or null (unlimited)}``."""
    if value in (None, {}, ""):
        return None
    if not isinstance(value, dict):
        raise InvalidInput(_('Overrides are a JSON object, e.g. {"projects": 5}.'), field="limit_overrides")
    for key, limit in value.items():
        if key not in LIMITED_RESOURCES:
            raise InvalidInput(_("Unknown limit %(key)s; use one of: %(keys)s.", key=repr(key),
                                 keys=", ".join(sorted(LIMITED_RESOURCES))), field="limit_overrides")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise InvalidInput(_("The %(key)s limit must be a whole number ≥ 0, or null for unlimited.", key=key),
                               field="limit_overrides")
        if limit is not None and limit > MAX_OVERRIDES[key]:
            most = (f"{i18n.number(MAX_OVERRIDES[key] // GB)} GB" if key == "storage_bytes"
                    else i18n.number(MAX_OVERRIDES[key]))
            raise InvalidInput(_("The %(limit)s limit can be at most %(most)s; for more, make it unlimited.",
                                 limit=key.replace("_", " "), most=most), field="limit_overrides")
    return value
