"""Which names hold secrets, for every place that shows or keeps values by name: the
audit trail (field changes, CSV exports, ``services.audit``) and the logs and error
reports (``app.observability``). One list, so a word added here is masked everywhere."""

from __future__ import annotations

MASK = "***"
SECRET_WORDS = ("password", "passwd", "secret", "token", "authorization", "cookie", "api_key", "apikey")


def is_secret(name) -> bool:
    """Whether a field, key or header called ``name`` holds a secret."""
    lowered = str(name).lower()
    return any(word in lowered for word in SECRET_WORDS)
