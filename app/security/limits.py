"""Rate limits (SPEC §2 API limits per plan, §10 login throttling), on Flask-Limiter.

One limiter per application, made by the security manager (``create_limiter``, FAB's
hook, so FAB's own views and ours share it). Counters live in Redis when ``REDIS_URL`` is
set (``RATELIMIT_STORAGE_URI``), else in the process's memory. When Redis stops
answering, counting goes on in memory and nothing fails (``RATELIMIT_IN_MEMORY_FALLBACK_*``,
``RATELIMIT_SWALLOW_ERRORS``); Redis is tried again with back-off. Memory is per process,
so for failed sign-ins that would multiply the budget by the number of web processes:
while the limiter's storage is down, the sign-in limit is also counted in the database
(``login.failed`` audit events from the address within the window), which every process
shares.

- **Sign-in**: ``LOGIN_RATE_LIMIT`` (default 5 per minute) failed password checks per
  address, one budget shared by the HTML form (``/login/``) and the REST login
  (``/api/v1/security/login``). Only failures count (``login_failed()``, called by
  ``AtriumSecurityManager.auth_user_db``), so signing in correctly never uses it up; once
  it is used up, every sign-in from that address is refused with 429 until the window
  ends, right password or not. FAB's ``AUTH_RATE_LIMITED`` stays off (one mechanism).
  Redis down: ``_login_guard_while_storage_down`` counts the address's ``login.failed``
  audit events of the last window (a sliding window, on the ``occurred_at`` index) and
  refuses the same way, with ``Retry-After`` when the oldest counted failure leaves it.
- **API**: every ``/api/v1`` API except the login itself, one budget per user across all
  of them, keyed by the JWT's identity: the user's plan's ``api_requests_per_minute``
  (``services.tiers.PLANS``: free 100, basic 300, pro 1000, enterprise 10000), staff
  ``API_RATE_LIMIT_STAFF`` (10000: staff work across every client, like the highest
  plan). Requests without a valid token are counted per address at the free plan's
  rate. The plan is read once per ``RATELIMIT_PLAN_CACHE_SECONDS`` per user and process
  (one statement, on a connection of its own), not on every request; a plan change
  therefore applies within that time.

Responses under a limit carry ``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset`` (Unix
time); a refusal is a 429 with ``Retry-After`` (seconds) and a message naming the plan
and when to retry (``app.views.errors`` renders it as a page or as JSON).
"""

from __future__ import annotations

import datetime as dt
import math
import time
from dataclasses import dataclass

import sqlalchemy as sa
from flask import abort, current_app, has_request_context, request
from flask_appbuilder.api import BaseApi
from flask_appbuilder.security.api import SecurityApi
from flask_appbuilder.security.sqla.models import Role, assoc_user_role
from flask_babel import gettext as _, ngettext
from flask_jwt_extended import decode_token
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse_many

from app.extensions import db
from app.models import AuditEvent, Client, ClientMember, Tier
from app.roles import STAFF_ROLES
from app.services.tiers import PLANS

LOGIN_ENDPOINTS = frozenset({"AuthDBView.login", "SecurityApi.login"})
_LOGIN_FAILED = "atrium.login_failed"
_QUOTA = "atrium.api_quota"
_PLANS_CACHE = "atrium_api_plans"
_DB_RETRY_AFTER = "atrium.login_retry_after"


def create_limiter(app) -> Limiter:
    try:
        parse_many(app.config["LOGIN_RATE_LIMIT"])
    except ValueError:
        raise RuntimeError(f"LOGIN_RATE_LIMIT must read like '5 per 1 minute'; got "
                           f"{app.config['LOGIN_RATE_LIMIT']!r}") from None
    # Registered before the limiter's own hook, so it runs after it (Flask runs
    # after_request hooks last-registered first).
    app.after_request(_retry_after_only_on_refusals)
    limiter = Limiter(key_func=get_remote_address)
    limiter.init_app(app)
    # After the limiter's own check (before_request hooks run in order), which is where it
    # finds out this request that its storage is down.
    app.before_request(lambda: _login_guard_while_storage_down(limiter))
    app.extensions[_PLANS_CACHE] = {}
    return limiter


def forget(app) -> None:
    """Forget the plans read from the database (``forget_database_state``); counts
    stay, being of addresses and users, not of the database's contents."""
    app.extensions[_PLANS_CACHE] = {}


def _retry_after_only_on_refusals(response):
    """Flask-Limiter writes ``Retry-After`` on every limited response; it means something
    only on a refusal (the database-counted refusal sets its own here)."""
    if response.status_code != 429:
        response.headers.pop("Retry-After", None)
    elif _DB_RETRY_AFTER in request.environ and "Retry-After" not in response.headers:
        response.headers["Retry-After"] = str(request.environ[_DB_RETRY_AFTER])
    return response


def retry_after_seconds() -> int | None:
    """Seconds until the limit that refused this request lets requests through again."""
    if has_request_context() and _DB_RETRY_AFTER in request.environ:
        return request.environ[_DB_RETRY_AFTER]
    limiter = current_app.extensions.get("limiter")
    for each in limiter or ():
        current = each.current_limit
        if current is not None and current.breached:
            return max(1, int(current.reset_at - time.time()))  # as Retry-After counts
    return None


def _try_again() -> str:
    """When the refused request may be tried again, as a sentence."""
    seconds = retry_after_seconds()
    if seconds is None:
        return _("Try again shortly.")
    return ngettext("Try again in %(num)d second.", "Try again in %(num)d seconds.", seconds)


# --------------------------------------------------------------------------- sign-in


def login_failed() -> None:
    """A password check failed in this request: the login limit counts it."""
    if has_request_context():
        request.environ[_LOGIN_FAILED] = True


def _login_message() -> str:
    return " ".join((_("Too many failed sign-in attempts from your address."), _try_again()))


def _storage_down(limiter: Limiter) -> bool:
    """Whether the limiter counts in memory because its storage (Redis) stopped answering.
    Flask-Limiter (pinned 4.1.1) keeps that in ``_storage_dead``: set on a failed call,
    cleared when its back-off probe finds the storage again."""
    return bool(getattr(limiter, "_storage_dead", False))


def _login_guard_while_storage_down(limiter: Limiter):
    """Redis down: refuse a sign-in from an address whose failed sign-ins of the window,
    counted in the database (so across every web process), have used up the budget."""
    if request.method != "POST" or request.endpoint not in LOGIN_ENDPOINTS:
        return None
    if not limiter.enabled or not current_app.config.get("RATELIMIT_ENABLED", True) or not _storage_down(limiter):
        return None
    retry_after = _db_login_retry_after(get_remote_address())
    if retry_after is not None:
        request.environ[_DB_RETRY_AFTER] = retry_after
        abort(429, description=_login_message())
    return None


def _db_login_retry_after(address: str | None) -> int | None:
    """Seconds until ``address`` may try again, when its ``login.failed`` events within any
    window of ``LOGIN_RATE_LIMIT`` have used it up; ``None`` while it may try."""
    items = parse_many(current_app.config["LOGIN_RATE_LIMIT"])
    longest = max(item.get_expiry() for item in items)
    now = dt.datetime.now(dt.UTC)
    statement = (sa.select(AuditEvent.occurred_at)
                 .where(AuditEvent.action == "login.failed", AuditEvent.ip == address,
                        AuditEvent.occurred_at >= now - dt.timedelta(seconds=longest))
                 .order_by(AuditEvent.occurred_at.desc()).limit(max(item.amount for item in items)))
    with db.engine.begin() as connection:  # reads as the system: the caller is signed in as nobody yet
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT set_config('atrium.staff', 'on', true)"))
        recent = [at if at.tzinfo else at.replace(tzinfo=dt.UTC) for (at,) in connection.execute(statement)]
    waits = []
    for item in items:
        window = dt.timedelta(seconds=item.get_expiry())
        inside = [at for at in recent if at >= now - window]
        if len(inside) >= item.amount:  # free again once the amount-th newest leaves the window
            waits.append(math.ceil((inside[item.amount - 1] + window - now).total_seconds()))
    return max(1, max(waits)) if waits else None


def throttle_logins(security_manager) -> None:
    """The failed-sign-in limit on the HTML login form and the REST login."""
    limit = security_manager.limiter.shared_limit(
        lambda: current_app.config["LOGIN_RATE_LIMIT"], scope="login", key_func=get_remote_address,
        methods=["POST"], exempt_when=lambda: request.endpoint not in LOGIN_ENDPOINTS,
        deduct_when=lambda response: bool(request.environ.get(_LOGIN_FAILED)),
        error_message=_login_message)
    if getattr(security_manager, "auth_view", None) is not None:  # FAB_ADD_SECURITY_VIEWS
        limit(security_manager.auth_view.blueprint)
    for view in security_manager.appbuilder.baseviews:
        if isinstance(view, SecurityApi):
            limit(view.blueprint)


# --------------------------------------------------------------------------- API


@dataclass(frozen=True)
class Quota:
    key: str  # the counter: one per user, or per address without a valid token
    holder: str  # whose budget it is: "staff", "no plan", a plan's label ("Free"), "anonymous"
    per_minute: int
    anonymous: bool = False


def _token_user_id() -> int | None:
    """The user id of the request's JWT, if it carries a valid one (no database read)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        subject = decode_token(token.strip()).get("sub")
        return int(subject)
    except Exception:  # noqa: BLE001 - expired, forged or malformed: FAB answers 401 itself
        return None


def _lookup_plan(user_id: int) -> tuple[str, int]:
    """(whose budget, requests per minute) of ``user_id``: staff first, then the plan of
    their client; a user who is neither (no membership: FAB refuses them anyway) gets the
    free plan's rate. One statement, in a short transaction of its own that reads as the
    system (on PostgreSQL the row-level-security settings say staff for it alone)."""
    clients, members = Client.__table__, ClientMember.__table__
    statement = sa.select(
        sa.exists().where(assoc_user_role.c.user_id == user_id, assoc_user_role.c.role_id == Role.id,
                          Role.name.in_(STAFF_ROLES)),
        sa.select(clients.c.tier).join(members, members.c.client_id == clients.c.id)
        .where(members.c.user_id == user_id).scalar_subquery(),
    )
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT set_config('atrium.staff', 'on', true)"))
        is_staff, tier = connection.execute(statement).one()
    if is_staff:
        return STAFF, int(current_app.config["API_RATE_LIMIT_STAFF"])
    if tier is None:
        return NO_PLAN, PLANS[Tier.FREE].api_requests_per_minute
    plan = PLANS[Tier(tier)]
    return plan.label, plan.api_requests_per_minute


STAFF, NO_PLAN = "staff", "no plan"  # ``Quota.holder`` of staff, and of users of no client


def _plan_of(user_id: int) -> tuple[str, int]:
    cache = current_app.extensions.setdefault(_PLANS_CACHE, {})
    now = time.monotonic()
    known = cache.get(user_id)
    if known is not None and known[0] > now:
        return known[1]
    found = _lookup_plan(user_id)
    if len(cache) >= 10000:
        cache.clear()
    cache[user_id] = (now + float(current_app.config.get("RATELIMIT_PLAN_CACHE_SECONDS", 60)), found)
    return found


def api_quota() -> Quota:
    """This request's API budget (resolved once per request)."""
    quota = request.environ.get(_QUOTA)
    if quota is None:
        user_id = _token_user_id()
        if user_id is None:
            quota = Quota(f"address:{get_remote_address()}", "anonymous",
                          PLANS[Tier.FREE].api_requests_per_minute, anonymous=True)
        else:
            holder, per_minute = _plan_of(user_id)
            quota = Quota(f"user:{user_id}", holder, per_minute)
        request.environ[_QUOTA] = quota
    return quota


def _api_message() -> str:
    quota = api_quota()
    if quota.anonymous:
        refusal = _("Too many API requests without a valid token from your address (at most %(num)d a minute).",
                    num=quota.per_minute)
    elif quota.holder == STAFF:
        refusal = _("API rate limit reached: staff accounts are allowed %(num)d requests per minute.",
                    num=quota.per_minute)
    elif quota.holder == NO_PLAN:
        refusal = _("API rate limit reached: accounts without a plan are allowed %(num)d requests per minute.",
                    num=quota.per_minute)
    else:
        refusal = _("API rate limit reached: your %(plan)s plan allows %(num)d requests per minute.",
                    plan=quota.holder, num=quota.per_minute)
    return " ".join((refusal, _try_again()))


def limit_apis(appbuilder) -> None:
    """The per-user budget on every registered REST API but the login's own."""
    limit = appbuilder.sm.limiter.shared_limit(
        lambda: f"{api_quota().per_minute} per 1 minute", scope="api", key_func=lambda: api_quota().key,
        error_message=_api_message)
    for view in appbuilder.baseviews:
        if isinstance(view, BaseApi) and not isinstance(view, SecurityApi):
            limit(view.blueprint)
