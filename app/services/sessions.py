"""Server-side sessions (SPEC §5, §10): a signed-in browser is a ``UserSession`` row.

The signed cookie carries a random token and Flask-Login's user id; every request is
answered as that user only while the row named by the token's SHA-256 is live: not
ended, not past ``expires_at``, for that very user, who is still active. Anything else
is refused and the browser is sent to sign in (``app.views.sessions``). So a copied
cookie is worth nothing once its session ends, whatever its signature says.

Sessions end by:
- **logout**: the row (and, while viewing as, the staff member's sign-in behind it);
- **expiry**: ``SESSION_LIFETIME_MINUTES`` after sign-in, counted from the row;
- **a password change**: every other session of that user (the person changing their
  own password keeps the browser they did it in);
- **deactivation**: every session of that user, and every "view as" session they run.

"View as" (``services.impersonation``) gets a row of its own, ``kind = view-as``, whose
``user_id`` is the client user and ``true_user_id`` the staff member, with ``parent``
the staff member's sign-in. Starting it swaps the cookie's token for the view-as row's;
ending it (End, expiry) ends that row and gives the browser a new token for the
sign-in, so a cookie kept from the view-as session no longer opens anything. A request
runs as the client user only through a live view-as row whose impersonation record is
live too.

Only the hash of a token is stored: the table does not hand out live sessions.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import secrets

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.models.base import utcnow
from app.models.sessions import SessionEnd, SessionKind, UserSession
from app.services import identity

COOKIE_KEY = "atrium_sid"  # the signed cookie's entry holding the token


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _new_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def sign_in(session, user, *, lifetime: dt.timedelta, ip: str | None = None, user_agent: str | None = None,
            now: dt.datetime | None = None) -> tuple[UserSession, str]:
    """A new sign-in session for ``user``: the row (flushed, not committed) and the token
    for the cookie."""
    now = now or utcnow()
    token, digest = _new_token()
    row = UserSession(token_hash=digest, kind=SessionKind.SIGN_IN, user_id=user.id, true_user_id=user.id,
                      created_at=now, expires_at=now + lifetime,
                      ip=(ip or None) and ip[:45], user_agent=(user_agent or None) and user_agent[:500])
    session.add(row)
    session.flush()
    return row, token


def view_as(session, parent: UserSession, impersonation) -> tuple[UserSession, str]:
    """The "view as" session started from the sign-in ``parent`` for the audited record
    ``impersonation``: it ends with whichever of the two ends first."""
    token, digest = _new_token()
    row = UserSession(token_hash=digest, kind=SessionKind.VIEW_AS, user_id=impersonation.target_user_id,
                      true_user_id=parent.true_user_id, parent_id=parent.id,
                      impersonation_session_id=impersonation.id, created_at=impersonation.started_at,
                      expires_at=min(parent.expires_at, impersonation.expires_at), ip=parent.ip,
                      user_agent=parent.user_agent)
    session.add(row)
    session.flush()
    return row, token


def rotate(session, row: UserSession) -> str:
    """A new token for the same session: the old cookie stops working."""
    token, row.token_hash = _new_token()
    session.flush()
    return token


def end(session, row: UserSession | None, how: SessionEnd, now: dt.datetime | None = None) -> None:
    """End ``row`` (once), with the view-as sessions started from it."""
    if row is None or row.ended_at is not None:
        return
    now = now or utcnow()
    row.ended_at, row.end_reason = now, how
    session.execute(sa.update(UserSession).where(UserSession.parent_id == row.id, UserSession.ended_at.is_(None))
                    .values(ended_at=now, end_reason=SessionEnd.SIGN_IN_ENDED))
    session.flush()


def end_for_user(session, user_id: int, how: SessionEnd, *, keep_id: int | None = None,
                 now: dt.datetime | None = None) -> int:
    """End every live session of ``user_id``, as the user or as the staff member viewing
    as someone (except ``keep_id``); how many."""
    now = now or utcnow()
    condition = sa.and_(UserSession.ended_at.is_(None),
                        sa.or_(UserSession.user_id == user_id, UserSession.true_user_id == user_id))
    if keep_id is not None:
        condition = sa.and_(condition, UserSession.id != keep_id,
                            sa.or_(UserSession.parent_id.is_(None), UserSession.parent_id != keep_id))
    result = session.execute(sa.update(UserSession).where(condition).values(ended_at=now, end_reason=how)
                             .execution_options(synchronize_session=False))
    return result.rowcount or 0


@dataclasses.dataclass(frozen=True)
class Verdict:
    """Whether a request may run as ``user_id`` under the session row it named."""

    ok: bool
    reason: str = ""


# The reasons, lazy: a verdict is reached while the user is being loaded, before the
# page's language can be known (it depends on who the user is); read when shown.
ENDED = _l("Your session has ended. Please sign in again.")
SIGNED_OUT = _l("You signed out of that session. Please sign in again.")
INACTIVE = _l("Your account is inactive.")
EXPIRED = _l("Your session expired. Please sign in again.")


def judge(row: UserSession | None, user_id: int, *, active: bool, now: dt.datetime | None = None) -> Verdict:
    if row is None:
        return Verdict(False, ENDED)
    if row.ended_at is not None:
        return Verdict(False, ENDED if row.end_reason != SessionEnd.LOGOUT else SIGNED_OUT)
    if row.user_id != user_id:
        return Verdict(False, ENDED)
    if not active:
        return Verdict(False, INACTIVE)
    if (now or utcnow()) >= row.expires_at and row.kind == SessionKind.SIGN_IN:
        return Verdict(False, EXPIRED)
    return Verdict(True)


def lookup_statement(user_model):
    """One statement: the user with the session row its token names (the row only when it
    belongs to that user), used by every signed-in request."""
    return (sa.select(user_model, UserSession)
            .outerjoin(UserSession, sa.and_(UserSession.token_hash == sa.bindparam("token_hash"),
                                            UserSession.user_id == user_model.id))
            .where(user_model.id == sa.bindparam("pk")))


def on_user_changed(session, user) -> None:
    """Called on flush for a changed user (every door: profile, user admin, CLI, GDPR):
    deactivation ends all their sessions; a new password ends all but the one in which
    they changed it themselves."""
    attrs = sa.inspect(user).attrs
    if attrs.active.history.has_changes() and not user.active:
        end_for_user(session, user.id, SessionEnd.DEACTIVATED)
    elif attrs.password.history.has_changes():
        who = identity.current()
        keep = who.user_session_id if who.true_user_id == user.id and not who.impersonating else None
        end_for_user(session, user.id, SessionEnd.PASSWORD_CHANGED, keep_id=keep)


def prune(session, *, before: dt.datetime) -> int:
    """Delete sessions that ended, or expired, before ``before`` (the cleanup job keeps
    ``SESSION_RETENTION_DAYS``; sign-ins and sign-outs stay in the audit log)."""
    over = sa.or_(UserSession.ended_at < before,
                  sa.and_(UserSession.ended_at.is_(None), UserSession.expires_at < before))
    result = session.execute(sa.delete(UserSession).where(over).execution_options(synchronize_session=False))
    return result.rowcount or 0
