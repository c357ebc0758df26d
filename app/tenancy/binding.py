"""Whom the running code acts for: ONE function, ``current_scope()``.

A ``Scope`` says whether the acting identity is staff (every client) or a client user
(``client_id`` only, with a membership role). Everything else reads it: the session
guard (``app.tenancy.guard``) turns it into the ORM filter, the write guard and the
PostgreSQL row-level-security settings; views and APIs never decide tenancy themselves.

Where the scope comes from, first match wins:

1. ``acting_as(scope)``: bound explicitly by a job (``services.jobs``: the system, even
   for an inline job inside the request that enqueued it) or by a CLI command
   (``app.cli``: the system).
2. A request: the signed-in user (``g.user``; the client user while viewing as),
   resolved once per request and cached on ``g``.
3. ``outside_requests(scope)``: a fallback for code that is neither (a script, a test
   fixture, a benchmark's seeding), used only where no request is bound.
4. Nothing bound: ``ScopeUnbound`` is raised. A new thread or entry point that forgot to
   say whom it acts for is refused rather than given every client's rows.
"""

from __future__ import annotations

from contextvars import ContextVar

import sqlalchemy as sa
from flask import g, has_app_context, has_request_context

from app.extensions import db
from app.models import ClientMember
from app.switches import switched
from app.tenancy.database import apply_database_scope
from app.tenancy.rules import Forbidden, is_staff_user
from app.tenancy.scope import NOBODY, Scope


class ScopeUnbound(RuntimeError):
    """Tenant data touched where no scope is bound (not a request, no job or CLI binding)."""


_bound: ContextVar[Scope | None] = ContextVar("atrium_scope", default=None)
_fallback: ContextVar[Scope | None] = ContextVar("atrium_scope_outside_requests", default=None)


def acting_as(scope: Scope):
    """``with acting_as(scope):`` — act as ``scope`` inside the block, over any request's
    own scope (jobs, CLI)."""
    return switched(_bound, scope)


def outside_requests(scope: Scope | None):
    """``with outside_requests(scope):`` — act as ``scope`` inside the block wherever no
    request is bound (scripts, test fixtures); a request inside it still acts as its own
    user."""
    return switched(_fallback, scope)


def membership_for_user(session, user_id: int):
    """(client_id, role) of the user's membership, or ``None``."""
    row = session.execute(
        sa.select(ClientMember.client_id, ClientMember.role).where(ClientMember.user_id == user_id)
        .execution_options(atrium_scope_lookup=True)
    ).first()
    return (row[0], row[1]) if row else None


def scope_for_user(session, user) -> Scope:
    if user is None or not getattr(user, "is_authenticated", True) or getattr(user, "id", None) is None:
        return NOBODY
    if is_staff_user(user):
        return Scope(is_staff=True, user_id=user.id)
    apply_database_scope(session, Scope(is_staff=False, user_id=user.id))  # its membership row is readable (RLS)
    found = membership_for_user(session, user.id)
    if found is None:
        return Scope(is_staff=False, user_id=user.id)
    return Scope(is_staff=False, client_id=found[0], user_id=user.id, member_role=found[1])


def _user_key(user):
    """The user's id without loading anything: read from the instance's identity, so a
    user row expired by a commit and detached when its session was removed (a streamed
    response, such as a CSV export, runs after that) still answers. Reading ``user.id``
    there raised ``DetachedInstanceError`` whenever nothing (such as an INFO log line)
    had happened to refresh it before the session went away."""
    if user is None:
        return None
    state = sa.inspect(user, raiseerr=False)
    if state is not None and state.identity:
        return state.identity[0]
    return getattr(user, "id", None)


def resolving_scope() -> bool:
    """True while ``current_scope()`` is loading the user's roles and membership."""
    return has_app_context() and bool(g.get("atrium_scope_resolving"))


def _request_scope() -> Scope:
    user = getattr(g, "user", None)
    # ``g`` lives as long as the app context, which can outlast one request (tests, CLI):
    # the cached scope is only reused for the same user.
    key = _user_key(user)
    cached = g.get("atrium_scope")
    if cached is None or cached[0] != key:
        if g.get("atrium_scope_resolving"):
            return NOBODY
        g.atrium_scope_resolving = True
        try:
            g.atrium_scope = (key, scope_for_user(db.session, user))
        finally:
            g.atrium_scope_resolving = False
    return g.atrium_scope[1]


def current_scope() -> Scope:
    """The scope the running code acts for (see the module docstring for the order)."""
    bound = _bound.get()
    if bound is not None:
        return bound
    if has_request_context():
        return _request_scope()
    fallback = _fallback.get()
    if fallback is not None:
        return fallback
    raise ScopeUnbound("No tenancy scope is bound: outside a request, say whom this code acts for with "
                       "app.tenancy.acting_as(...) (jobs and CLI commands bind the system).")


def require_staff(what: str) -> None:
    """Refuse (``Forbidden``) unless the acting scope is staff's: "``what`` by staff only."."""
    if not current_scope().is_staff:
        raise Forbidden(f"{what} by staff only.")
