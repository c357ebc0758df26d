"""Atrium settings, read from environment variables only (one class per environment).

Nothing else in the code base reads ``os.environ``; everything goes through the class
chosen by ``ATRIUM_ENV`` (development, test, production), parsed by environs
(``_Reader``). ``load_config`` refuses to start, naming every variable at once, when one
is malformed (any environment) or when production misses one it needs (``missing``:
``SECRET_KEY``, ``DATABASE_URL``, ``REDIS_URL``, the audit keys).
"""

from __future__ import annotations

import os
from pathlib import Path

from environs import Env, EnvError, EnvValidationError
from flask_appbuilder.const import AUTH_DB

BASE_DIR = Path(__file__).resolve().parent
DEFAULT_SECRET_KEY = "atrium-development-secret-key-change-me"
DEV_DEMO_PASSWORD = "atrium-demo"
# The audit trail's keys in development and tests (``services.audit``); production refuses them.
DEFAULT_AUDIT_HMAC_KEY = "atrium-development-audit-hmac-key-change-me"
# base64 of a 32-byte Ed25519 private key (the seed): the checkpoints' signing key in development.
DEFAULT_AUDIT_SIGNING_KEY = "YXRyaXVtLWRldmVsb3BtZW50LXNpZ25pbmcta2V5ISE="


class _Reader:
    """Environment variables, parsed by environs (marshmallow fields): booleans take
    true/false, 1/0, yes/no, on/off (any case); integers and choices are checked. An
    empty variable counts as unset. A malformed one reads as its default and is kept:
    ``problems()`` names every one of them, and ``load_config`` refuses to start with
    the list (in every environment: a setting that was written down but not understood
    is never silently ignored)."""

    def __init__(self):
        self._env = Env(eager=False, expand_vars=False)
        self._env.parser_for("choice")(_choice)

    def __call__(self, kind: str, name: str, default=None, **kwargs):
        if os.environ.get(name, "") == "":
            return default
        value = getattr(self._env, kind)(name, **kwargs)
        return default if value is None else value

    def problems(self) -> list[str]:
        try:
            self._env.seal()
        except EnvValidationError as exc:
            return [f"{name}={os.environ.get(name)!r} is not understood ({' '.join(map(str, messages))})"
                    for name, messages in exc.error_messages.items()]
        return []


def _choice(value: str, choices: tuple[str, ...]) -> str:
    chosen = value.strip().lower()
    if chosen not in choices:
        raise EnvError(f"must be one of {', '.join(choices)}")
    return chosen


def _database_url(read: _Reader) -> str:
    return _normalise_url(read("str", "DATABASE_URL", f"sqlite:///{BASE_DIR / 'instance' / 'atrium.db'}"))


def _normalise_url(url: str) -> str:
    # Heroku-style URLs and bare postgresql:// both mean psycopg 3 here.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


class BaseConfig:
    """Defaults shared by every environment. Environment variables are read when
    ``load_config`` runs (not at import), so a test or a process can set them first."""

    ENV_NAME = "development"
    APP_NAME = "Atrium"
    APP_THEME = ""
    SECRET_KEY = DEFAULT_SECRET_KEY
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    # "Pre-ping" on every connection checkout: a connection the server dropped (a
    # database restart or fail-over, an idle timeout of a proxy) is replaced before the
    # request uses it, so no person sees a 500 for it. It costs one round trip per
    # checkout (about 0.8 ms of a 15 ms list page on loopback; it is not an SQL statement
    # of the request: X-SQL-Statements does not count it). Connections are also renewed
    # after 30 minutes, before idle timeouts of proxies and firewalls close them.
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, "pool_recycle": 1800}

    # Flask-AppBuilder: migrations and `flask roles sync` own schema and permissions.
    AUTH_TYPE = AUTH_DB
    AUTH_ROLE_ADMIN = "Admin"
    AUTH_ROLE_PUBLIC = "Public"
    AUTH_USER_REGISTRATION = False
    FAB_CREATE_DB = False
    FAB_UPDATE_PERMS = False
    FAB_ADD_SECURITY_VIEWS = True
    FAB_API_SWAGGER_UI = True
    FAB_API_MAX_PAGE_SIZE = 100
    FAB_SECURITY_MANAGER_CLASS = "app.security.manager.AtriumSecurityManager"
    FAB_INDEX_VIEW = "app.views.dashboard.AtriumIndexView"
    FAB_BASE_TEMPLATE = "atrium_baselayout.html"
    # Rate limits (``app.security.limits``, one Flask-Limiter per app). FAB's own
    # AUTH_RATE_LIMITED is off: it counts every POST to the HTML form (successful sign-ins
    # too) and not the REST login; Atrium's login limit counts failed password checks at
    # both doors, per address. API limits per user come from the tier table (SPEC §2).
    AUTH_RATE_LIMITED = False
    RATELIMIT_ENABLED = True
    RATELIMIT_HEADERS_ENABLED = True  # X-RateLimit-Limit/-Remaining/-Reset, Retry-After on 429
    RATELIMIT_STRATEGY = "fixed-window"
    RATELIMIT_KEY_PREFIX = "atrium"
    # Redis down: count in this process's memory until it answers again (probed with
    # back-off), and never fail a request because the counter store failed.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_SWALLOW_ERRORS = True
    RATELIMIT_STORAGE_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 1}
    # A user's plan is looked up once per this many seconds per process (one statement).
    RATELIMIT_PLAN_CACHE_SECONDS = 60
    JWT_ACCESS_TOKEN_EXPIRES = 3600

    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = None
    # The session cookie: never readable by scripts, not sent on cross-site subrequests
    # or POSTs, Secure in production. Its signature is refused once it is older than
    # PERMANENT_SESSION_LIFETIME (SESSION_LIFETIME_MINUTES): a sign-in lasts that long.
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    # Security headers (``app.security.headers``) on every response. ``{nonce}`` is the
    # response's own CSP nonce, which every inline <script> of FAB's and Atrium's
    # templates carries. ``style-src-attr 'unsafe-inline'``: FAB's templates (login form,
    # show/edit pages, list pagination) and select2/datepicker write style="" attributes;
    # attributes only, <style> elements still need 'self' or the nonce.
    CONTENT_SECURITY_POLICY = {
        "default-src": "'self'",
        "script-src": "'self' 'nonce-{nonce}'",
        "style-src": "'self' 'nonce-{nonce}'",
        "style-src-attr": "'unsafe-inline'",
        "img-src": "'self' data:",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    PERMISSIONS_POLICY = ("accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
                          "microphone=(), payment=(), usb=(), browsing-topics=()")
    HSTS_SECONDS = 0  # Strict-Transport-Security: production only (HSTS_SECONDS there)
    # Row scoping of client users in the ORM (``app.tenancy.guard``). Only the test that
    # proves PostgreSQL's row-level security alone isolates tenants turns it off.
    ATRIUM_TENANT_FILTER = True
    BABEL_DEFAULT_LOCALE = "en"
    # Log lines: ``text`` (one readable line) or ``json`` (one object per line, for a log
    # collector). Production defaults to JSON; ``LOG_FORMAT`` chooses in any environment.
    LOG_FORMAT = "text"
    # The languages pages, reports and e-mails come in (``app.i18n``): code -> the name in
    # its own language and the flag of Flask-AppBuilder's sprite.
    LANGUAGES = {"en": {"flag": "gb", "name": "English"}, "pt_BR": {"flag": "br", "name": "Português (Brasil)"}}

    @classmethod
    def from_environment(cls, read: _Reader) -> dict:
        """Every setting, environment variables applied now."""
        values = {k: getattr(cls, k) for k in dir(cls) if k.isupper()}
        env, env_int, env_bool = (lambda name, default=None: read("str", name, default),
                                  lambda name, default: read("int", name, default),
                                  lambda name, default: read("bool", name, default))
        redis_url, owner_url = env("REDIS_URL"), env("DATABASE_OWNER_URL")
        values.update(
            SECRET_KEY=env("SECRET_KEY", DEFAULT_SECRET_KEY),
            SQLALCHEMY_DATABASE_URI=cls.database_url(read),
            # PostgreSQL: the role that owns the schema (runs ``flask db upgrade``, ``flask audit
            # prune``/``rekey``, ``flask gdpr erase``); DATABASE_URL's role owns nothing and gets
            # its grants from ``flask db upgrade`` (DATABASE_APP_ROLE names it when it is not
            # DATABASE_URL's user). Empty: one role does everything (development, SQLite).
            DATABASE_OWNER_URL=_normalise_url(owner_url) if owner_url else None,
            DATABASE_APP_ROLE=env("DATABASE_APP_ROLE"),
            # PostgreSQL: a NOLOGIN role the app role may SET ROLE to (it must not inherit it)
            # and whose row-level security policies admit every row; staff transactions switch
            # to it, so their queries carry no per-row check (``app.tenancy.database``). Missing
            # or not granted: the app stays its own role and the settings decide, as before.
            DATABASE_STAFF_ROLE=env("DATABASE_STAFF_ROLE", "atrium_staff"),
            # The audit trail (``services.audit``): events are HMAC-SHA256 chained with
            # AUDIT_HMAC_KEY (never stored in the database); AUDIT_HMAC_OLD_KEY is read only by
            # ``flask audit rekey``. Checkpoints of the chain head are signed with
            # AUDIT_SIGNING_KEY (Ed25519, base64 of the 32-byte private key) into
            # AUDIT_CHECKPOINT_DIR; AUDIT_TRUSTED_KEYS lists earlier public keys verify accepts.
            AUDIT_HMAC_KEY=env("AUDIT_HMAC_KEY", DEFAULT_AUDIT_HMAC_KEY),
            AUDIT_HMAC_OLD_KEY=env("AUDIT_HMAC_OLD_KEY"),
            AUDIT_SIGNING_KEY=env("AUDIT_SIGNING_KEY", DEFAULT_AUDIT_SIGNING_KEY),
            AUDIT_TRUSTED_KEYS=env("AUDIT_TRUSTED_KEYS", ""),
            AUDIT_CHECKPOINT_DIR=env("AUDIT_CHECKPOINT_DIR", str(BASE_DIR / "instance" / "audit-checkpoints")),
            REDIS_URL=redis_url,
            # Queue names are prefixed (``<prefix>high``...) only where several installs
            # share one Redis (the test suite); production leaves it empty.
            RQ_QUEUE_PREFIX=env("RQ_QUEUE_PREFIX", ""),
            RATELIMIT_STORAGE_URI=redis_url or "memory://",
            UPLOAD_DIR=env("UPLOAD_DIR", str(BASE_DIR / "instance" / "uploads")),
            # Monthly report PDFs (``services.reports``); Report rows keep paths relative to it.
            REPORT_DIR=env("REPORT_DIR", str(BASE_DIR / "instance" / "reports")),
            # Weekly client backups (``services.backup``): BACKUP_DIR/<slug>/<slug>-<UTC time>.json,
            # the newest BACKUP_KEEP per client; file bytes included only with BACKUP_WITH_FILES on.
            BACKUP_DIR=env("BACKUP_DIR", str(BASE_DIR / "instance" / "backups")),
            BACKUP_KEEP=env_int("BACKUP_KEEP", 8),
            BACKUP_WITH_FILES=env_bool("BACKUP_WITH_FILES", False),
            MAX_UPLOAD_MB=env_int("MAX_UPLOAD_MB", 25),
            # A client's reply reopens a resolved ticket within this many days of its
            # resolution; a later reply opens a new ticket that follows it (``services.tickets``).
            TICKET_REOPEN_DAYS=env_int("TICKET_REOPEN_DAYS", 7),
            # Requests larger than one upload (plus form overhead) are refused with 413.
            MAX_CONTENT_LENGTH=(env_int("MAX_UPLOAD_MB", 25) + 1) * 1024 * 1024,
            SENTRY_DSN=env("SENTRY_DSN"),
            LOG_LEVEL=env("LOG_LEVEL", "INFO"),
            LOG_FORMAT=read("choice", "LOG_FORMAT", cls.LOG_FORMAT, choices=("json", "text")),
            # Stripe webhooks (``/webhooks/stripe``): the endpoint's signing secret and which
            # Stripe price is which plan, "price_basic:basic,price_pro:pro" (checked at start).
            STRIPE_WEBHOOK_SECRET=env("STRIPE_WEBHOOK_SECRET"),
            STRIPE_PRICE_TIERS=env("STRIPE_PRICE_TIERS", ""),
            IMPERSONATION_MAX_MINUTES=env_int("IMPERSONATION_MAX_MINUTES", 30),
            # Reverse proxies / load balancers in front of gunicorn that set X-Forwarded-For
            # and X-Forwarded-Proto (werkzeug ProxyFix): the client address (login throttling,
            # audit IP) and https are then read from them. 0: none (direct connections).
            TRUSTED_PROXY_HOPS=env_int("TRUSTED_PROXY_HOPS", 0),
            PERMANENT_SESSION_LIFETIME=env_int("SESSION_LIFETIME_MINUTES", 12 * 60) * 60,
            # Failed sign-ins per address (HTML form and REST login together); the next is 429.
            LOGIN_RATE_LIMIT=env("LOGIN_RATE_LIMIT", "5 per 1 minute"),
            # API requests per minute of a staff user (client users: their plan's, SPEC §2).
            API_RATE_LIMIT_STAFF=env_int("API_RATE_LIMIT_STAFF", 10000),
            RATELIMIT_ENABLED=env_bool("RATELIMIT_ENABLED", cls.RATELIMIT_ENABLED),
            HSTS_SECONDS=env_int("HSTS_SECONDS", cls.HSTS_SECONDS),
            DEMO_PASSWORD=env("ATRIUM_DEMO_PASSWORD"),
            SQL_COUNT_HEADER=env_bool("ATRIUM_SQL_COUNT_HEADER", False),
            # Workers (SPEC §7). Outside services are reached at these base URLs; tests
            # point them at servers of their own on loopback.
            MONITOR_FAILURES_TO_OPEN=env_int("MONITOR_FAILURES_TO_OPEN", 2),
            MONITOR_SUCCESSES_TO_RESOLVE=env_int("MONITOR_SUCCESSES_TO_RESOLVE", 2),
            MONITOR_CONCURRENCY=env_int("MONITOR_CONCURRENCY", 200),
            # How often the cron process enqueues the uptime dispatch (monitors' own intervals
            # still decide which are due); the integration test runs it every second.
            UPTIME_DISPATCH_SECONDS=env_int("UPTIME_DISPATCH_SECONDS", 60),
            MONITOR_CHECK_RETENTION_DAYS=env_int("MONITOR_CHECK_RETENTION_DAYS", 30),
            MONITOR_BATCH_SIZE=env_int("MONITOR_BATCH_SIZE", 1000),  # monitors per uptime-check job
            # Extra CA file trusted by HTTP, TLS and RDAP checks (a private CA); None: the system's.
            TLS_CA_BUNDLE=env("TLS_CA_BUNDLE"),
            TLS_CHECK_TIMEOUT=env_int("TLS_CHECK_TIMEOUT", 10),
            JOB_RUN_RETENTION_DAYS=env_int("JOB_RUN_RETENTION_DAYS", 90),
            SESSION_RETENTION_DAYS=env_int("SESSION_RETENTION_DAYS", 30),
            # A queued JobRun (or a stored Stripe event not yet applied) older than this whose
            # job is gone from Redis is queued again (applied) by the reconciling schedules.
            JOB_REQUEUE_GRACE_SECONDS=env_int("JOB_REQUEUE_GRACE_SECONDS", 120),
            RDAP_BASE_URL=env("RDAP_BASE_URL", "https://rdap.org"),
            GOOGLE_ADS_API_URL=env("GOOGLE_ADS_API_URL", "https://googleads.googleapis.com"),
            GOOGLE_ADS_API_VERSION=env("GOOGLE_ADS_API_VERSION", "v21"),
            GOOGLE_ADS_DEVELOPER_TOKEN=env("GOOGLE_ADS_DEVELOPER_TOKEN"),
            GOOGLE_ADS_ACCESS_TOKEN=env("GOOGLE_ADS_ACCESS_TOKEN"),
            GOOGLE_ADS_LOGIN_CUSTOMER_ID=env("GOOGLE_ADS_LOGIN_CUSTOMER_ID"),
            META_GRAPH_URL=env("META_GRAPH_URL", "https://graph.facebook.com"),
            META_API_VERSION=env("META_API_VERSION", "v21.0"),
            META_ACCESS_TOKEN=env("META_ACCESS_TOKEN"),
            CAMPAIGN_SYNC_WINDOW_DAYS=env_int("CAMPAIGN_SYNC_WINDOW_DAYS", 7),
            HOSTING_API_URL=env("HOSTING_API_URL"),
            HOSTING_API_TOKEN=env("HOSTING_API_TOKEN"),
            SMTP_HOST=env("SMTP_HOST"),
            SMTP_PORT=env_int("SMTP_PORT", 587),
            SMTP_USERNAME=env("SMTP_USERNAME"),
            SMTP_PASSWORD=env("SMTP_PASSWORD"),
            SMTP_STARTTLS=env_bool("SMTP_STARTTLS", True),
            MAIL_FROM=env("MAIL_FROM", "Atrium <atrium@localhost>"),
        )
        return values

    @classmethod
    def database_url(cls, read: _Reader) -> str:
        return _database_url(read)

    @classmethod
    def missing(cls, config: dict) -> list[str]:
        """Each setting this environment needs that is missing or unsafe (production only)."""
        return []


class DevelopmentConfig(BaseConfig):
    ENV_NAME = "development"
    DEBUG = False


class TestConfig(BaseConfig):
    ENV_NAME = "test"
    TESTING = True
    RATELIMIT_ENABLED = False
    AUTH_RATE_LIMITED = False
    # One PBKDF2 round instead of scrypt (0.1-0.2 s a hash): the suite signs in and seeds
    # thousands of times. Tests about signing in set production's scrypt back
    # (``real_password_hash`` in tests/conftest.py); werkzeug reads the method from each
    # stored hash, so both kinds check.
    FAB_PASSWORD_HASH_METHOD = "pbkdf2:sha256:1"
    AUTH_DB_FAKE_PASSWORD_HASH_CHECK = ("pbkdf2:sha256:1$atrium$"
                                        "9a3d5c8b1f0e47d2a6b3c9e8f1d2a7b4c6e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3")

    @classmethod
    def database_url(cls, read: _Reader) -> str:
        # Tests use TEST_DATABASE_URL (PostgreSQL runs) or a private in-memory SQLite.
        url = read("str", "TEST_DATABASE_URL")
        return _normalise_url(url) if url else "sqlite://"


class ProductionConfig(BaseConfig):
    ENV_NAME = "production"
    LOG_FORMAT = "json"
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    HSTS_SECONDS = 365 * 24 * 3600  # browsers then refuse plain HTTP to this host for a year

    @classmethod
    def missing(cls, config: dict) -> list[str]:
        problems = []
        if config["SECRET_KEY"] == DEFAULT_SECRET_KEY:
            problems.append("SECRET_KEY is not set (the development default is refused in production)")
        elif len(config["SECRET_KEY"]) < 32:
            problems.append("SECRET_KEY must be at least 32 characters in production")
        if not os.environ.get("DATABASE_URL"):
            problems.append("DATABASE_URL is not set (production needs PostgreSQL)")
        if not config["REDIS_URL"]:
            problems.append("REDIS_URL is not set (production runs jobs on RQ workers and counts rate limits "
                            "in Redis; without it every job would run inside a web request)")
        if config["AUDIT_HMAC_KEY"] == DEFAULT_AUDIT_HMAC_KEY:
            problems.append("AUDIT_HMAC_KEY is not set (the development default is refused in production)")
        elif len(config["AUDIT_HMAC_KEY"]) < 32:
            problems.append("AUDIT_HMAC_KEY must be at least 32 characters in production")
        if config["AUDIT_SIGNING_KEY"] == DEFAULT_AUDIT_SIGNING_KEY:
            problems.append("AUDIT_SIGNING_KEY is not set (the development default is refused in production; "
                            "`flask audit keygen` makes one)")
        return problems


CONFIGS = {
    "development": DevelopmentConfig,
    "test": TestConfig,
    "production": ProductionConfig,
}


def load_config(name: str | None = None) -> dict:
    """The settings of environment ``name`` (default: ``ATRIUM_ENV``), checked: a
    malformed variable (any environment) or a missing one (production) is a RuntimeError
    that names every one of them at once."""
    read = _Reader()
    name = name or read("choice", "ATRIUM_ENV", "development", choices=tuple(CONFIGS))
    cls = CONFIGS.get(name)
    if cls is None:
        raise RuntimeError(f"ATRIUM_ENV must be one of {', '.join(CONFIGS)}; got {name!r}")
    values = cls.from_environment(read)
    problems = read.problems() + cls.missing(values)
    if problems:
        raise RuntimeError("Atrium refuses to start: " + "; ".join(problems))
    return values
