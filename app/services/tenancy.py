"""Tenancy: who the current request acts for, as ONE mechanism.

``current_scope()`` says whether the acting user is staff (sees every client) or a
client user (sees only ``client_id``). Views, APIs, jobs and RLS settings read it;
nobody else decides tenancy. (Child rows copy ``client_id`` from their parent, declared
by ``__tenant_parent__``, in ``services.lifecycle``.)
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from app.security.roles import STAFF_ROLES as _STAFF_ROLE_NAMES

STAFF_ROLES = frozenset(_STAFF_ROLE_NAMES)


@dataclass(frozen=True)
class Scope:
    is_staff: bool
    client_id: int | None  # set for client users; None for staff or nobody


NOBODY = Scope(is_staff=False, client_id=None)
STAFF = Scope(is_staff=True, client_id=None)


def role_names(user) -> set[str]:
    return {r.name for r in (getattr(user, "roles", None) or [])}


def is_staff_user(user) -> bool:
    return bool(role_names(user) & STAFF_ROLES)


def client_id_for_user(session, user_id: int) -> int | None:
    from app.models import ClientMember

    return session.execute(
        sa.select(ClientMember.client_id).where(ClientMember.user_id == user_id)
    ).scalar_one_or_none()


def scope_for_user(session, user) -> Scope:
    if user is None or not getattr(user, "is_authenticated", True) or getattr(user, "id", None) is None:
        return NOBODY
    if is_staff_user(user):
        return STAFF
    return Scope(is_staff=False, client_id=client_id_for_user(session, user.id))


def current_scope() -> Scope:
    """The scope of the acting user of this request (or job), cached on ``g``.

    Outside a request (CLI, workers) the acting identity is the system: staff.
    """
    from flask import g, has_request_context

    from app.extensions import db

    if not has_request_context():
        return STAFF
    user = getattr(g, "user", None)
    # ``g`` lives as long as the app context, which can outlast one request (CLI, jobs):
    # the cached scope is only reused for the same user.
    key = getattr(user, "id", None)
    cached = g.get("atrium_scope")
    if cached is None or cached[0] != key:
        g.atrium_scope = (key, scope_for_user(db.session, user))
    return g.atrium_scope[1]
