"""Settings of the Django admin peer: ``startproject``'s defaults, production-style.

- Database from ``PEER_DATABASE_URL`` (an Atrium database), with persistent connections
  (``CONN_MAX_AGE = 600``) and ``CONN_HEALTH_CHECKS = True``, as a production Django
  would run behind gunicorn.
- ``DEBUG = False``; static files are not served (the benchmark reads HTML only).
- Django's own tables (auth_*, django_*) are created by ``manage.py peer_setup``
  (``migrate``); the ``peer_tickets`` models are unmanaged views of Atrium's tables.
- ``PEER_SQL_COUNT_HEADER=1`` / ``PEER_SQL_LOG=1``: measuring aids (peer_tickets.middleware).
"""

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent


def _database_from_url(url: str) -> dict:
    if not url:
        raise RuntimeError("PEER_DATABASE_URL is not set (postgresql://user@host:port/atrium_db)")
    parts = urlsplit(url)
    if parts.scheme.split("+")[0] not in ("postgresql", "postgres"):
        raise RuntimeError(f"PEER_DATABASE_URL must be a PostgreSQL URL, not {parts.scheme}://")
    return {
        "ENGINE": "django.db.backends.postgresql",  # psycopg 3
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "CONN_MAX_AGE": 600,
        "CONN_HEALTH_CHECKS": True,
    }


SECRET_KEY = os.environ.get("PEER_SECRET_KEY", "django-admin-peer-secret-not-for-production")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "peer_tickets",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
if os.environ.get("PEER_SQL_COUNT_HEADER") == "1" or os.environ.get("PEER_SQL_LOG") == "1":
    MIDDLEWARE.insert(0, "peer_tickets.middleware.SQLCountMiddleware")

ROOT_URLCONF = "peer_site.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,  # with DEBUG off Django caches the loaded templates
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "peer_site.wsgi.application"

DATABASES = {"default": _database_from_url(os.environ.get("PEER_DATABASE_URL", ""))}

AUTH_PASSWORD_VALIDATORS = []  # the setup command sets the benchmark's own password

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"django": {"handlers": ["stderr"], "level": "WARNING"}},
}
