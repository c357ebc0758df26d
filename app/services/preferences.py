"""A user's own settings (``models.UserPreference``): their language, and for staff the
timezone times are shown in. Each user reads and writes only their own row (the session
guard and the table's policy)."""

from __future__ import annotations

import sqlalchemy as sa

from app.errors import InvalidInput
from app.models import UserPreference


def saved_language(session, user_id: int) -> str | None:
    return session.execute(sa.select(UserPreference.language).where(UserPreference.user_id == user_id)).scalar()


def save_language(session, user_id: int, code: str | None, known) -> None:
    """``code`` (one of ``known``, or None for "as my organisation/browser") as the user's
    language. The caller commits."""
    if code is not None and code not in known:
        raise InvalidInput("Choose one of the languages offered.", field="language")
    row = session.get(UserPreference, user_id)
    if row is None:
        row = UserPreference(user_id=user_id)
        session.add(row)
    row.language = code
