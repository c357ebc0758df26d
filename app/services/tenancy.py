"""Tenancy: whom the current request acts for, and what that identity may change.

ONE function, ``current_scope()``, says whether the acting user is staff (every client)
or a client user (``client_id`` only, with a membership role). Everything else reads it:
``app.security.scoping`` turns it into the ORM filter, the write guard and the
PostgreSQL row-level-security settings; views and APIs never decide tenancy themselves.

``check_write`` is the membership-role rule of SPEC §1 (owner/admin/member/viewer), used
by the portal, the API and, as a backstop, the write guard on every flush.
``CLIENT_EDITABLE_FIELDS`` / ``check_fields`` narrow an allowed update to the attributes a
client may touch (projects and domains: their contact data only), also on every flush.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask import g, has_app_context, has_request_context
from sqlalchemy.orm import Session, scoped_session

from app.errors import AtriumError
from app.extensions import db
from app.models import ClientMember
from app.services.identity import job_identity
from app.services.roles import STAFF_ROLES as _STAFF_ROLE_NAMES

STAFF_ROLES = frozenset(_STAFF_ROLE_NAMES)


class Forbidden(AtriumError):
    status = 403


class NotFound(AtriumError):
    status = 404


@dataclass(frozen=True)
class Scope:
    is_staff: bool
    client_id: int | None = None  # set for client users; None for staff or nobody
    user_id: int | None = None
    member_role: str | None = None  # owner / admin / member / viewer (client users)

    @property
    def is_client(self) -> bool:
        return not self.is_staff and self.client_id is not None


NOBODY = Scope(is_staff=False)
STAFF = Scope(is_staff=True)

# What each membership role may change in the portal (SPEC §1). Keys are model class
# names; values the operations allowed. Anything absent is refused.
_MEMBER = {"Ticket": {"create", "update"}, "TicketMessage": {"create"}, "StorageFile": {"create"},
           "StorageFolder": {"create"}}
_ADMIN = {**_MEMBER, "StorageFile": {"create", "update", "delete"},
          "StorageFolder": {"create", "update", "delete"}, "Project": {"update"}, "Domain": {"update"}}
_OWNER = {**_ADMIN, "ClientMember": {"create", "update", "delete"}, "User": {"create", "update"}}
MEMBER_WRITES = {"owner": _OWNER, "admin": _ADMIN, "member": _MEMBER, "viewer": {}}

# Of the rows a client user may update, which attributes they may change. A model listed
# here refuses a client user's flush that changes any other attribute (column, many-to-one
# or many-to-many link), whatever the door: a forged form field cannot move a budget.
CONTACT_FIELDS = ("contact_name", "contact_email", "contact_phone")  # models.base.ContactMixin
CLIENT_EDITABLE_FIELDS = {"Project": frozenset(CONTACT_FIELDS), "Domain": frozenset(CONTACT_FIELDS)}

_ACTION_WORDS = {"create": "add", "update": "change", "delete": "delete"}
_NOUNS = {"Ticket": "tickets", "TicketMessage": "ticket replies", "StorageFile": "files",
          "StorageFolder": "folders", "Project": "projects", "Domain": "domains",
          "ClientMember": "team members", "User": "team members"}


def may_write(scope: Scope, model_name: str, operation: str) -> bool:
    if scope.is_staff:
        return True
    if not scope.is_client:
        return False
    return operation in MEMBER_WRITES.get(scope.member_role or "viewer", {}).get(model_name, ())


def check_write(scope: Scope, model_name: str, operation: str) -> None:
    """Raise ``Forbidden`` with a message for the person if ``scope`` may not do this."""
    if may_write(scope, model_name, operation):
        return
    if scope.is_client and (scope.member_role or "viewer") == "viewer":
        raise Forbidden("Your access is read-only (viewer). Ask your organisation's owner for a "
                        "member role to make changes.")
    role = scope.member_role or "no"
    raise Forbidden(f"Your role ({role}) may not {_ACTION_WORDS.get(operation, operation)} "
                    f"{_NOUNS.get(model_name, model_name)}.")


def check_fields(scope: Scope, model_name: str, changed: set[str]) -> None:
    """Raise ``Forbidden`` if a client user's update of ``model_name`` changes attributes
    outside ``CLIENT_EDITABLE_FIELDS`` (staff and unlisted models: no narrowing)."""
    editable = CLIENT_EDITABLE_FIELDS.get(model_name)
    if scope.is_staff or editable is None:
        return
    refused = set(changed) - editable
    if refused:
        names = ", ".join(sorted(name.replace("_", " ") for name in refused))
        raise Forbidden(f"You may change only the contact details of {_NOUNS.get(model_name, model_name)} "
                        f"(not: {names}). Ask your account manager for other changes.")


def require_staff(what: str) -> None:
    """Refuse (``Forbidden``) unless the acting scope is staff's: "``what`` by staff only."."""
    if not current_scope().is_staff:
        raise Forbidden(f"{what} by staff only.")


def role_names(user) -> set[str]:
    return {r.name for r in (getattr(user, "roles", None) or [])}


def is_staff_user(user) -> bool:
    return bool(role_names(user) & STAFF_ROLES)


def staff_users_condition(user_model):
    """SQL condition: the user holds a staff role (Admin, Operator, Developer...)."""
    role = user_model.roles.property.mapper.class_
    return sa.and_(user_model.roles.any(role.name.in_(sorted(STAFF_ROLES))), user_model.active.is_(True))


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


def current_scope() -> Scope:
    """The scope of the acting user of this request, cached on ``g``.

    Outside a request (CLI) and in jobs (even inline ones, which run inside the request
    that enqueued them) the acting identity is the system: staff. A job acts on the rows
    it was given; who asked for it is recorded by the audit trail, not used as a scope.
    """
    if not has_request_context() or job_identity() is not None:
        return STAFF
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


# --------------------------------------------------------------------------- PostgreSQL RLS

_SET_SCOPE = sa.text(
    "SELECT set_config('atrium.staff', :staff, true), set_config('atrium.client_id', :client_id, true), "
    "set_config('atrium.user_id', :user_id, true)"
)


def _settings(scope: Scope) -> dict:
    return {"staff": "on" if scope.is_staff else "off",
            "client_id": "" if scope.client_id is None else str(scope.client_id),
            "user_id": "" if scope.user_id is None else str(scope.user_id)}


def _is_postgres(bind) -> bool:
    return bind is not None and bind.dialect.name == "postgresql"


def apply_database_scope(session: Session, scope: Scope) -> None:
    """Make the current transaction carry ``scope`` for the RLS policies (PostgreSQL).

    Called before every tenant-table statement and every flush; costs one statement per
    transaction (or per change of scope). A transaction that never touches tenant rows
    through the session carries no settings and therefore sees no tenant row.
    """
    if isinstance(session, scoped_session):
        session = session()
    if not _is_postgres(session.get_bind()):
        return
    settings = _settings(scope)
    if session.in_transaction() and session.info.get("atrium_rls") == settings:
        return
    session.execute(_SET_SCOPE, settings, execution_options={"atrium_scope_lookup": True})
    session.info["atrium_rls"] = settings  # after execute: a new transaction clears it


def forget_database_scope(session: Session) -> None:
    """A new transaction carries no settings yet (``set_config(..., true)`` ended with the last)."""
    session.info.pop("atrium_rls", None)
