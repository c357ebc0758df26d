"""Impersonation ("view as", SPEC §5): who may view as whom, for how long, and the record.

Rules (each refusal is a ``Forbidden`` or ``InvalidInput`` with a message for the person):
- Admin and Operator may view as an active ``Client`` user. Nobody views as a staff
  user, an inactive user or themselves; a session does not nest.
- A reason is required: at least 10 characters, or a ticket reference (``#123`` or
  ``ticket 123``) naming an existing ticket of the target's client.
- ``read-only`` (default) or ``full``; ``full`` is for Admin only.
- A session lasts ``IMPERSONATION_MAX_MINUTES`` and ends by the End button, by logout or
  by expiry; each end is recorded with how it ended.

The record is the ``ImpersonationSession`` row; the browser holds only the token of a
``view-as`` server-side session that names it (``services.sessions``). Start and end are audit events carrying both identities.
The web door (routes, banner, read-only enforcement) is ``app.views.impersonation``.
"""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa
from flask_babel import gettext as _

from app.models import ClientMember, ImpersonationEnd, ImpersonationMode, ImpersonationSession, Ticket, User
from app.models.base import utcnow
from app.roles import ADMIN, CLIENT, OPERATOR
from app.services import audit, identity
from app import tenancy
from app.errors import InvalidInput
from app.tenancy import Forbidden, NotFound

MIN_REASON = 10
_TICKET_REF = re.compile(r"^(?:ticket\s*)?#?\s*(\d{1,10})$", re.IGNORECASE)
MODES = tuple(m.value for m in ImpersonationMode)


def may_impersonate(user) -> bool:
    return bool(tenancy.role_names(user) & {ADMIN, OPERATOR})


def may_use_full_mode(user) -> bool:
    return ADMIN in tenancy.role_names(user)


def _check_reason(session, reason: str, client_id: int | None) -> str:
    reason = (reason or "").strip()
    match = _TICKET_REF.match(reason)
    if match:
        ticket = session.execute(sa.select(Ticket.id).where(Ticket.id == int(match.group(1)),
                                                            Ticket.client_id == client_id)).scalar_one_or_none()
        if ticket is None:
            raise InvalidInput(_("Ticket #%(id)s is not a ticket of this user's client.", id=match.group(1)),
                               field="reason")
        return reason
    if len(reason) < MIN_REASON:
        raise InvalidInput(_("Give a reason of at least %(least)d characters, or a ticket reference such as #123.",
                             least=MIN_REASON), field="reason")
    return reason[:2000]


def start(session, staff_user, target_user_id: int, reason: str, mode: str = "read-only", *,
          already_active: bool = False, ip: str | None = None, max_minutes: int = 30,
          now: dt.datetime | None = None) -> ImpersonationSession:
    """Check every rule, then record the session and its audit event (not committed)."""
    now = now or utcnow()
    if already_active:
        raise Forbidden(_("You are already viewing as another user. End that session first."))
    if not may_impersonate(staff_user):
        raise Forbidden(_("Only Admin and Operator staff may view as a client user."))
    target = session.get(User, target_user_id)
    if target is None:
        raise NotFound(_("That user does not exist."))
    if target.id == staff_user.id:
        raise Forbidden(_("You cannot view as yourself."))
    if tenancy.is_staff_user(target):
        raise Forbidden(_("%(username)s is agency staff; staff users cannot be viewed as.", username=target.username))
    if not target.active:
        raise Forbidden(_("%(username)s is inactive and cannot be viewed as.", username=target.username))
    membership = session.execute(  # through the scoped session: staff see every membership
        sa.select(ClientMember.client_id, ClientMember.role).where(ClientMember.user_id == target.id)).first()
    if CLIENT not in tenancy.role_names(target) or membership is None:
        raise Forbidden(_("%(username)s is not a client user; only client users can be viewed as.",
                          username=target.username))
    mode = (mode or "read-only").strip()
    if mode not in MODES:
        raise InvalidInput(_("Mode must be one of: %(modes)s.", modes=", ".join(MODES)), field="mode")
    if mode == ImpersonationMode.FULL and not may_use_full_mode(staff_user):
        raise Forbidden(_("Full mode (changes allowed) is for Admins only; use read-only."))
    reason = _check_reason(session, reason, membership[0])
    row = ImpersonationSession(
        staff_user_id=staff_user.id, target_user_id=target.id, client_id=membership[0], reason=reason,
        mode=mode, started_at=now, expires_at=now + dt.timedelta(minutes=max_minutes), ip=ip)
    session.add(row)
    session.flush()
    audit.record(session, "impersonation.start", resource_type="ImpersonationSession", resource_id=row.id,
                 client_id=row.client_id,
                 details={"target": target.username, "staff": staff_user.username, "mode": mode,
                          "reason": reason, "expires_at": row.expires_at},
                 who=identity.Identity(actor_id=staff_user.id, true_user_id=staff_user.id,
                                       impersonation_session_id=row.id, channel="web", ip=ip,
                                       request_id=identity.current().request_id,
                                       user_agent=identity.current().user_agent))
    return row


def is_expired(row: ImpersonationSession, now: dt.datetime | None = None) -> bool:
    return (now or utcnow()) >= row.expires_at


def minutes_left(row: ImpersonationSession, now: dt.datetime | None = None) -> int:
    seconds = (row.expires_at - (now or utcnow())).total_seconds()
    return max(0, int((seconds + 59) // 60))


def end(session, row: ImpersonationSession, how: ImpersonationEnd, now: dt.datetime | None = None) -> None:
    """Close the session (once) and record how it ended (not committed)."""
    if row.ended_at is not None:
        return
    row.ended_at = now or utcnow()
    row.end_reason = how
    session.flush()
    current = identity.current()
    audit.record(session, "impersonation.end", resource_type="ImpersonationSession", resource_id=row.id,
                 client_id=row.client_id, details={"how": str(how), "started_at": row.started_at},
                 who=identity.Identity(actor_id=row.target_user_id, true_user_id=row.staff_user_id,
                                       impersonation_session_id=row.id, channel=current.channel,
                                       ip=current.ip, user_agent=current.user_agent,
                                       request_id=current.request_id))


def end_expired(session, now: dt.datetime | None = None) -> int:
    """End (and record) every session past its expiry that no request ended: the browser
    was closed. Returns how many; not committed."""
    now = now or utcnow()
    expired = session.execute(sa.select(ImpersonationSession).where(
        ImpersonationSession.ended_at.is_(None), ImpersonationSession.expires_at <= now)).scalars().all()
    for row in expired:
        end(session, row, ImpersonationEnd.EXPIRED, now=now)
    return len(expired)
