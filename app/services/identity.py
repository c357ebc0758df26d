"""Who is acting: ONE context object read by audit, logging and Sentry alike.

``current()`` returns an ``Identity``:

- ``actor_id``: the acting user (``g.user``; during "view as" that is the client user);
- ``true_user_id``: the person really at the keyboard (the staff user while
  impersonating; otherwise the actor);
- ``impersonation_session_id`` and ``read_only`` while impersonating;
- ``channel``: ``web`` (pages), ``api`` (REST with a token), ``cli``, ``job``;
- ``request_id``, ``ip``, ``user_agent`` of the request.

Where it comes from:
- a request: ``bind_request()`` (``app.views.impersonation`` calls it in
  ``before_request``, after Flask-AppBuilder has set ``g.user``);
- a job: ``bind_job()`` (``app.services.jobs`` calls it in the job's own app context) with
  the identity of whoever enqueued it, channel ``job``; the ``system`` user for
  schedules;
- the CLI and anything else outside a request: the ``system`` user, channel ``cli``.

Nothing here decides what a user may do (that is ``app.tenancy``) or writes audit
rows (``services.audit``).
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass, replace

import sentry_sdk
import sqlalchemy as sa
from flask import g, has_app_context, has_request_context, request

from app.models import User
from app.services.passwords import unusable_password

SYSTEM_USERNAME = "system"
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True)
class Identity:
    actor_id: int | None = None
    true_user_id: int | None = None
    impersonation_session_id: int | None = None
    user_session_id: int | None = None  # the server-side session (``services.sessions``) of a browser
    read_only: bool = False
    channel: str = "cli"
    request_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None

    @property
    def impersonating(self) -> bool:
        return self.impersonation_session_id is not None


def system_user_id(session) -> int | None:
    """The id of the ``system`` user (created by ``flask roles sync``), cached per database."""
    bind = session.get_bind()
    key = str(bind.url)
    if key not in _system_ids:
        found = session.execute(
            sa.select(User.id).where(User.username == SYSTEM_USERNAME)
            .execution_options(atrium_scope_lookup=True)
        ).scalar_one_or_none()
        if found is None:
            return None
        _system_ids[key] = found
    return _system_ids[key]


_system_ids: dict[str, int] = {}


def ensure_system_user(session) -> int:
    """Create the ``system`` user (inactive: it cannot sign in) if missing; its id."""
    forget_system_user()
    found = system_user_id(session)
    if found is not None:
        return found
    user = User(username=SYSTEM_USERNAME, first_name="Atrium", last_name="system",
                email="system@atrium.invalid", active=False,
                password=unusable_password())
    session.add(user)
    session.flush()
    forget_system_user()
    return user.id


def forget_system_user() -> None:
    """Drop the cached ids."""
    _system_ids.clear()


def _request_id() -> str:
    given = request.headers.get("X-Request-ID", "")
    return given if _REQUEST_ID_RE.match(given) else uuid.uuid4().hex


def _row_id(row) -> int | None:
    """A loaded row's primary key, without a refresh query (it may be expired by a commit)."""
    if row is None:
        return None
    key = sa.inspect(row).identity
    return key[0] if key else None


def bind_request(impersonation=None) -> Identity:
    """Compute this request's identity from ``g.user`` and an active impersonation session
    (an ``ImpersonationSession`` row or ``None``) and keep it on ``g``."""
    user = getattr(g, "user", None)
    actor_id = getattr(user, "id", None) if getattr(user, "is_authenticated", False) else None
    identity = Identity(
        actor_id=actor_id,
        true_user_id=impersonation.staff_user_id if impersonation is not None else actor_id,
        impersonation_session_id=impersonation.id if impersonation is not None else None,
        user_session_id=_row_id(g.get("atrium_user_session")) if actor_id is not None else None,
        read_only=impersonation is not None and impersonation.mode == "read-only",
        channel="api" if request.path.startswith("/api/") else "web",
        request_id=g.get("atrium_request_id") or _request_id(),
        ip=request.remote_addr,
        user_agent=(request.user_agent.string or "")[:500] or None,
    )
    g.atrium_request_id = identity.request_id
    g.atrium_identity = identity
    _tag_sentry(identity)
    return identity


def _tag_sentry(identity: Identity) -> None:
    """Sentry events carry the same identities (a no-op while Sentry is not initialised)."""
    if identity.actor_id is not None:
        sentry_sdk.set_user({"id": str(identity.actor_id)})
    sentry_sdk.set_tag("true_user", str(identity.true_user_id or ""))
    sentry_sdk.set_tag("impersonation_session", str(identity.impersonation_session_id or ""))
    sentry_sdk.set_tag("request_id", identity.request_id or "")


def bind_job(identity: Identity) -> Identity:
    """Act as ``identity`` (channel ``job``) for the rest of this app context; it wins
    over the request's, since an inline job runs inside the request that enqueued it."""
    g.atrium_job_identity = identity
    _tag_sentry(identity)
    return identity


def job_identity() -> Identity | None:
    return g.get("atrium_job_identity") if has_app_context() else None


def current() -> Identity:
    """The identity of whatever is running now (job, request, CLI)."""
    bound = job_identity()
    if bound is not None:
        return bound
    if has_request_context():
        found = g.get("atrium_identity")
        if found is not None:
            user = getattr(g, "user", None)
            actor_id = getattr(user, "id", None) if getattr(user, "is_authenticated", False) else None
            # A login or "view as" inside this request changes the actor from here on.
            return found if found.actor_id == actor_id or found.impersonating else replace(
                found, actor_id=actor_id, true_user_id=actor_id)
        return bind_request()
    return Identity(channel="cli")


def resolved(session, identity: Identity | None = None) -> Identity:
    """``identity`` (default: ``current()``) with the ``system`` user filled in where no
    person is acting outside a request (CLI, schedules)."""
    identity = identity or current()
    if identity.actor_id is None and identity.channel in ("cli", "job"):
        system = system_user_id(session)
        return replace(identity, actor_id=system, true_user_id=identity.true_user_id or system)
    return identity


def log_context() -> dict:
    """Whoever is acting now, as plain values for log lines and Sentry tags:
    ``request_id``, ``user`` (acting), ``true_user``, ``impersonation_session`` and
    ``client`` (``None`` where there is none).

    Never queries the database (a line may be logged while a transaction is failing):
    ``client`` is the tenant this request has already resolved, i.e. the client of a
    client user or of the user viewed as; staff, the CLI and jobs have none."""
    try:
        who = current()
    except Exception:  # noqa: BLE001 - logging must never fail
        who = Identity()
    return {"request_id": who.request_id, "user": who.actor_id, "true_user": who.true_user_id,
            "impersonation_session": who.impersonation_session_id, "client": _resolved_client(who)}


def _resolved_client(who: Identity) -> int | None:
    if not has_request_context() or job_identity() is not None:
        return None
    cached = g.get("atrium_scope")  # ``tenancy.current_scope()``: (user id, Scope)
    if cached is not None and cached[0] == who.actor_id and cached[1].client_id is not None:
        return cached[1].client_id
    row = g.get("atrium_impersonation")
    if row is not None and who.impersonating:
        return sa.inspect(row).dict.get("client_id")  # loaded state only: no refresh query
    return None


class IdentityLogFilter(logging.Filter):
    """Adds the fields of ``log_context()`` to every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.atrium_context = log_context()
        return True
