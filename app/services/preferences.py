"""A user's own settings (``models.UserPreference``): their language, and for staff the
timezone times are shown in. Each user reads and writes only their own row (the session
guard and the table's policy). Whom a PDF or an e-mail is written for: ``recipient_language``."""

from __future__ import annotations

from zoneinfo import available_timezones

import sqlalchemy as sa
from flask_babel import gettext as _

from app.errors import InvalidInput
from app.i18n import DEFAULT_LANGUAGE, known_language
from app.models import Client, ClientMember, User, UserPreference


def saved_language(session, user_id: int) -> str | None:
    return session.execute(sa.select(UserPreference.language).where(UserPreference.user_id == user_id)).scalar()


def saved_timezone(session, user_id: int) -> str:
    """A staff member's display zone, "UTC" until they choose one."""
    return session.execute(sa.select(UserPreference.timezone).where(UserPreference.user_id == user_id)
                           ).scalar() or "UTC"


def save_timezone(session, user_id: int, name: str) -> str:
    """``name`` ("UTC" or an IANA zone) as the user's display zone, else ``InvalidInput``.
    The caller commits."""
    name = (name or "").strip()
    if name != "UTC" and name not in available_timezones():
        raise InvalidInput(_("“%(name)s” is not a timezone; choose one from the list (e.g. America/Sao_Paulo).",
                             name=name[:64]), field="timezone")
    _own_row(session, user_id).timezone = name
    return name


def _own_row(session, user_id: int) -> UserPreference:
    row = session.get(UserPreference, user_id)
    if row is None:
        row = UserPreference(user_id=user_id)
        session.add(row)
    return row


def recipient_languages(executor, condition) -> dict[int, tuple[str, str]]:
    """user id -> (e-mail, language) of the users ``condition`` (on ``User``) selects, in
    the language to write to each: their own choice, else their client's default, else
    English. ``executor``: a session or a connection; it must see those users' rows."""
    rows = executor.execute(
        sa.select(User.id, User.email, UserPreference.language, Client.language)
        .outerjoin(UserPreference, UserPreference.user_id == User.id)
        .outerjoin(ClientMember, ClientMember.user_id == User.id)
        .outerjoin(Client, Client.id == ClientMember.client_id)
        .where(condition))
    return {user_id: (email, known_language(own) or known_language(client) or DEFAULT_LANGUAGE)
            for user_id, email, own, client in rows}


def recipient_language(session, user_id: int) -> str:
    """The language to write to ``user_id`` in (``recipient_languages``)."""
    return recipient_languages(session, User.id == user_id).get(user_id, ("", DEFAULT_LANGUAGE))[1]


def checked_language(code: str | None, known) -> str | None:
    """``code`` if it is one of ``known`` (None: "as my organisation/browser"), else
    ``InvalidInput``."""
    if code is not None and code not in known:
        raise InvalidInput(_("Choose one of the languages offered."), field="language")
    return code


def save_language(session, user_id: int, code: str | None, known) -> None:
    """``code`` (``checked_language``) as the user's language. The caller commits."""
    checked_language(code, known)
    _own_row(session, user_id).language = code
