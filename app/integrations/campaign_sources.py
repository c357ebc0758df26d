"""Ad platform adapters: where a campaign's daily figures come from (SPEC §7 campaign sync).

One interface, ``CampaignSource.fetch_daily(campaign, start, end) -> list[DailyMetrics]``
(one item per day with activity, dates inclusive), with a real HTTP implementation per
platform:

- ``GoogleAdsSource``: Google Ads REST ``googleAds:searchStream`` with a GAQL query on
  the campaign resource segmented by date. Headers ``Authorization: Bearer <token>``,
  ``developer-token`` and, for manager-account access, ``login-customer-id``. The answer
  is a JSON array of batches, each with ``results``; int64 fields arrive as strings
  (``metrics.costMicros``), doubles as numbers, and fields equal to zero are left out.
  Spend = cost_micros / 1,000,000; conversions = ``metrics.conversions`` (the conversion
  actions the account includes in "Conversions"); revenue = ``metrics.conversionsValue``.
- ``MetaAdsSource``: Marketing API insights of the campaign object,
  ``level=campaign&time_increment=1&time_range={"since","until"}``, following
  ``paging.next`` (only to the configured Graph host: the token never leaves it). Numbers
  arrive as strings. Which ``actions`` count as conversions is ``META_CONVERSION_FAMILIES``
  below: purchases and leads, each family counted once through the first action type of
  its list that the row reports (Meta reports overlapping types, e.g. ``omni_purchase``
  already includes ``offsite_conversion.fb_pixel_purchase``; adding them up would count a
  purchase twice). Revenue is the ``action_values`` of the purchase type chosen.

Errors follow ``app.integrations.platform_http``: rejected credentials are
``AuthenticationFailed`` (never retried), rate limits, 5xx and timeouts are
``PlatformUnavailable`` (retried). What to sync, when, and how rows are stored is
``app.services.campaign_sync``; nothing here touches the database.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from app.integrations import platform_http
from app.integrations.platform_http import AuthenticationFailed, PlatformRejected, PlatformUnavailable

MICROS = Decimal(1_000_000)
META_MAX_PAGES = 200  # a year of days at Meta's smallest page size, with room to spare


@dataclass(frozen=True)
class DailyMetrics:
    """One day of one campaign as the platform reports it (money in the account currency)."""

    date: dt.date
    impressions: int
    clicks: int
    conversions: Decimal
    spend: Decimal
    revenue: Decimal | None = None  # None: the platform reported no conversion value


class CampaignSource(Protocol):
    platform: str  # an ``AdPlatform`` value
    label: str

    def fetch_daily(self, campaign, start: dt.date, end: dt.date) -> list[DailyMetrics]:
        """Daily figures of ``campaign`` (external id, account id) from ``start`` to ``end``."""
        ...


def _decimal(value, what: str, platform: str) -> Decimal:
    if value is None or value == "":
        return Decimal(0)
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise PlatformUnavailable(f"{platform} sent {what} {value!r}, which is not a number; will retry") from None
    if not number.is_finite():
        raise PlatformUnavailable(f"{platform} sent {what} {value!r}, which is not a number; will retry")
    return number


def _int(value, what: str, platform: str) -> int:
    number = _decimal(value, what, platform)
    if number != number.to_integral_value():
        raise PlatformUnavailable(f"{platform} sent {what} {value!r}, which is not a whole number; will retry")
    return int(number)


def _date(value, platform: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise PlatformUnavailable(f"{platform} sent the date {value!r}, which is not YYYY-MM-DD; will retry") from None


def _digits(value: str | None, what: str, platform: str, campaign) -> str:
    """Google and Meta ids are numbers; Google customer ids are often written 123-456-7890."""
    cleaned = (value or "").replace("-", "").strip()
    if not (cleaned.isascii() and cleaned.isdigit()):
        raise PlatformRejected(f"Campaign {campaign.name!r} has {what} {value!r}; {platform} expects a number "
                               f"there. Correct it on the campaign.")
    return cleaned


def _merge(days: dict[dt.date, DailyMetrics], item: DailyMetrics) -> None:
    """Several rows for one day (a platform may split a day) add up."""
    seen = days.get(item.date)
    if seen is None:
        days[item.date] = item
        return
    revenue = None if seen.revenue is None and item.revenue is None else (seen.revenue or 0) + (item.revenue or 0)
    days[item.date] = DailyMetrics(item.date, seen.impressions + item.impressions, seen.clicks + item.clicks,
                                   seen.conversions + item.conversions, seen.spend + item.spend, revenue)


# --------------------------------------------------------------------------- Google Ads


class GoogleAdsSource:
    """Google Ads REST API, ``customers/{id}/googleAds:searchStream``."""

    platform = "google_ads"
    label = "Google Ads"
    AUTH_HINT = "Check GOOGLE_ADS_ACCESS_TOKEN and GOOGLE_ADS_DEVELOPER_TOKEN (and GOOGLE_ADS_LOGIN_CUSTOMER_ID " \
                "when the account is reached through a manager account)."

    def __init__(self, base_url: str, version: str, developer_token: str, access_token: str,
                 login_customer_id: str | None = None, timeout=platform_http.TIMEOUT):
        self.base_url = base_url.rstrip("/")
        self.version = version.strip("/")
        self.developer_token = developer_token
        self.access_token = access_token
        self.login_customer_id = (login_customer_id or "").replace("-", "") or None
        self.timeout = timeout

    @staticmethod
    def missing_settings(config: Mapping) -> list[str]:
        return [k for k in ("GOOGLE_ADS_API_URL", "GOOGLE_ADS_API_VERSION", "GOOGLE_ADS_DEVELOPER_TOKEN",
                            "GOOGLE_ADS_ACCESS_TOKEN") if not config.get(k)]

    @classmethod
    def from_config(cls, config: Mapping) -> GoogleAdsSource:
        return cls(config["GOOGLE_ADS_API_URL"], config["GOOGLE_ADS_API_VERSION"],
                   config["GOOGLE_ADS_DEVELOPER_TOKEN"], config["GOOGLE_ADS_ACCESS_TOKEN"],
                   config.get("GOOGLE_ADS_LOGIN_CUSTOMER_ID"))

    @staticmethod
    def query(campaign_id: str, start: dt.date, end: dt.date) -> str:
        return ("SELECT segments.date, metrics.impressions, metrics.clicks, metrics.conversions, "
                "metrics.cost_micros, metrics.conversions_value FROM campaign "
                f"WHERE campaign.id = {campaign_id} "
                f"AND segments.date BETWEEN '{start.isoformat()}' AND '{end.isoformat()}' "
                "ORDER BY segments.date")

    def fetch_daily(self, campaign, start: dt.date, end: dt.date) -> list[DailyMetrics]:
        customer_id = _digits(campaign.account_id, "the Google Ads customer id (account id)", self.label, campaign)
        campaign_id = _digits(campaign.external_id, "the external id", self.label, campaign)
        headers = {"Authorization": f"Bearer {self.access_token}", "developer-token": self.developer_token,
                   "Content-Type": "application/json"}
        if self.login_customer_id:
            headers["login-customer-id"] = self.login_customer_id
        url = f"{self.base_url}/{self.version}/customers/{customer_id}/googleAds:searchStream"
        with platform_http.client(timeout=self.timeout) as http:
            response = platform_http.send(http, "POST", url, platform=self.label, auth_hint=self.AUTH_HINT,
                                          headers=headers, json={"query": self.query(campaign_id, start, end)})
        batches = platform_http.json_body(response, platform=self.label)
        if isinstance(batches, dict):  # a single batch, as ``search`` would answer
            batches = [batches]
        if not isinstance(batches, list):
            raise PlatformUnavailable(f"{self.label} answered with an unexpected shape; will retry")
        days: dict[dt.date, DailyMetrics] = {}
        for batch in batches:
            if not isinstance(batch, dict):
                raise PlatformUnavailable(f"{self.label} answered with an unexpected shape; will retry")
            if "error" in batch:  # an error after the stream started
                raise PlatformUnavailable(f"{self.label} stream failed: {batch['error']}; will retry")
            for row in batch.get("results") or []:
                metrics = row.get("metrics") or {}
                day = _date((row.get("segments") or {}).get("date"), self.label)
                value = metrics.get("conversionsValue")
                _merge(days, DailyMetrics(
                    date=day,
                    impressions=_int(metrics.get("impressions"), "impressions", self.label),
                    clicks=_int(metrics.get("clicks"), "clicks", self.label),
                    conversions=_decimal(metrics.get("conversions"), "conversions", self.label),
                    spend=_decimal(metrics.get("costMicros"), "costMicros", self.label) / MICROS,
                    revenue=None if value is None else _decimal(value, "conversionsValue", self.label)))
        return [days[d] for d in sorted(days) if start <= d <= end]


# --------------------------------------------------------------------------- Meta


# Conversions from Meta's ``actions``: per family, the first type the row reports counts.
META_CONVERSION_FAMILIES: tuple[tuple[str, ...], ...] = (
    ("omni_purchase", "purchase", "offsite_conversion.fb_pixel_purchase", "onsite_web_purchase"),
    ("lead", "onsite_conversion.lead_grouped", "offsite_conversion.fb_pixel_lead"),
)
# Meta error codes that mean "slow down / try later" (rate limits, temporary outages).
META_TRANSIENT_CODES = frozenset({1, 2, 4, 17, 32, 341, 613, *range(80000, 80015)})
# Codes that mean the token is invalid, expired or lacks the permission (Meta's type for
# these is "OAuthException", but it uses that type for bad parameters too: go by code).
META_AUTH_CODES = frozenset({10, 102, 190, 200, 272})


class MetaAdsSource:
    """Meta Marketing API, ``/{campaign id}/insights`` with daily rows."""

    platform = "meta_ads"
    label = "Meta Ads"
    AUTH_HINT = "Check META_ACCESS_TOKEN (a system-user token with ads_read on the ad account)."
    FIELDS = "campaign_id,date_start,date_stop,impressions,clicks,spend,actions,action_values"

    def __init__(self, graph_url: str, version: str, access_token: str, timeout=platform_http.TIMEOUT):
        self.graph_url = graph_url.rstrip("/")
        self.version = version.strip("/")
        self.access_token = access_token
        self.timeout = timeout

    @staticmethod
    def missing_settings(config: Mapping) -> list[str]:
        return [k for k in ("META_GRAPH_URL", "META_API_VERSION", "META_ACCESS_TOKEN") if not config.get(k)]

    @classmethod
    def from_config(cls, config: Mapping) -> MetaAdsSource:
        return cls(config["META_GRAPH_URL"], config["META_API_VERSION"], config["META_ACCESS_TOKEN"])

    @staticmethod
    def conversions(row: dict) -> tuple[Decimal, Decimal | None]:
        """(conversions, revenue) of one insights row by ``META_CONVERSION_FAMILIES``."""
        actions = {a.get("action_type"): a.get("value") for a in row.get("actions") or [] if isinstance(a, dict)}
        values = {a.get("action_type"): a.get("value") for a in row.get("action_values") or []
                  if isinstance(a, dict)}
        conversions, revenue = Decimal(0), None
        for family in META_CONVERSION_FAMILIES:
            chosen = next((t for t in family if t in actions), None)
            if chosen is None:
                continue
            conversions += _decimal(actions[chosen], chosen, MetaAdsSource.label)
            if chosen in values:
                revenue = (revenue or Decimal(0)) + _decimal(values[chosen], f"{chosen} value", MetaAdsSource.label)
        return conversions, revenue

    def _check(self, response: httpx.Response) -> None:
        """Meta answers a bad token with HTTP 400 and ``error.code`` 190, a rate limit with
        400 and code 4/17/32/613: read the code before the status."""
        if response.is_success:
            return
        try:
            error = response.json().get("error")
        except (ValueError, AttributeError):
            error = None
        error = error if isinstance(error, dict) else {}
        code = error.get("code")
        detail = platform_http.error_text(response)
        if code in META_AUTH_CODES:
            raise AuthenticationFailed(f"{self.label} authentication failed (HTTP {response.status_code}, "
                                       f"code {code}: {detail}). {self.AUTH_HINT} "
                                       "This sync is not retried until the credentials are fixed.")
        if code in META_TRANSIENT_CODES or error.get("is_transient"):
            raise PlatformUnavailable(f"{self.label} asked us to retry later (HTTP {response.status_code}, "
                                      f"code {code}: {detail}); will retry")
        platform_http.raise_for_status(response, platform=self.label, auth_hint=self.AUTH_HINT)

    def fetch_daily(self, campaign, start: dt.date, end: dt.date) -> list[DailyMetrics]:
        campaign_id = _digits(campaign.external_id, "the external id", self.label, campaign)
        url = f"{self.graph_url}/{self.version}/{campaign_id}/insights"
        params = {"level": "campaign", "time_increment": "1", "fields": self.FIELDS, "limit": "100",
                  "time_range": json.dumps({"since": start.isoformat(), "until": end.isoformat()},
                                           separators=(",", ":"))}
        origin = urlsplit(self.graph_url)[:2]
        days: dict[dt.date, DailyMetrics] = {}
        with platform_http.client(timeout=self.timeout,
                                  headers={"Authorization": f"Bearer {self.access_token}"}) as http:
            for _page in range(META_MAX_PAGES):
                try:
                    response = http.get(url, params=params)
                except httpx.TimeoutException as exc:
                    raise PlatformUnavailable(f"{self.label} did not answer in time; will retry") from exc
                except httpx.TransportError as exc:
                    raise PlatformUnavailable(f"{self.label} could not be reached ({exc}); will retry") from exc
                self._check(response)
                body = platform_http.json_body(response, platform=self.label)
                if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                    raise PlatformUnavailable(f"{self.label} answered without a data list; will retry")
                for row in body["data"]:
                    conversions, revenue = self.conversions(row)
                    _merge(days, DailyMetrics(
                        date=_date(row.get("date_start"), self.label),
                        impressions=_int(row.get("impressions"), "impressions", self.label),
                        clicks=_int(row.get("clicks"), "clicks", self.label),
                        conversions=conversions,
                        spend=_decimal(row.get("spend"), "spend", self.label),
                        revenue=revenue))
                following = (body.get("paging") or {}).get("next")
                if not following:
                    break
                if urlsplit(following)[:2] != origin:
                    raise PlatformRejected(f"{self.label} pointed the next page at another host "
                                           f"({urlsplit(following).netloc}); refusing to send the token there.")
                url, params = following, None
            else:
                raise PlatformRejected(f"{self.label} kept paging past {META_MAX_PAGES} pages; giving up.")
        return [days[d] for d in sorted(days) if start <= d <= end]


# --------------------------------------------------------------------------- registry

SOURCES = {GoogleAdsSource.platform: GoogleAdsSource, MetaAdsSource.platform: MetaAdsSource}
PLATFORM_LABELS = {"google_ads": "Google Ads", "meta_ads": "Meta Ads", "linkedin_ads": "LinkedIn Ads",
                   "tiktok_ads": "TikTok Ads"}


def source_class(platform: str):
    """The adapter class of ``platform``, or None when Atrium has none yet."""
    return SOURCES.get(str(platform))


def source_for(platform: str, config: Mapping) -> CampaignSource:
    """A ready adapter for ``platform`` from the app config; raises ``PlatformRejected``
    (permanent) naming the missing settings or the missing adapter."""
    cls = source_class(platform)
    label = PLATFORM_LABELS.get(str(platform), str(platform))
    if cls is None:
        raise PlatformRejected(f"Atrium cannot sync {label} campaigns yet; import their metrics from a CSV export.")
    missing = cls.missing_settings(config)
    if missing:
        raise PlatformRejected(f"{label} sync is not configured: set {', '.join(missing)}.")
    return cls.from_config(config)
