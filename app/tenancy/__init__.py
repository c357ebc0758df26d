"""Tenancy: whom the running code acts for, what that identity may read and change.

One package, used by services and doors; it imports only models, the role table and the
error vocabulary, and nothing below imports it back.

- ``scope``: ``Scope`` (staff, or one client user with a membership role).
- ``binding``: ``current_scope()`` and how a scope is bound (a request, a job or CLI
  command's ``acting_as``, a script's ``outside_requests``); unbound is refused.
- ``rules``: the membership-role rule and the client-editable fields (SPEC §1).
- ``guard``: the session guard (read filter, write guard, same-client links), run by the
  flush pipeline (``app.services.pipeline``).
- ``database``: the PostgreSQL row-level-security settings of a transaction.
"""

from app.tenancy.database import apply_database_scope, forget_database_scope
from app.tenancy.rules import (
    CLIENT_EDITABLE_FIELDS,
    CONTACT_FIELDS,
    MEMBER_WRITES,
    STAFF_ROLES,
    Forbidden,
    NotFound,
    check_fields,
    check_write,
    is_staff_user,
    may_write,
    role_names,
    staff_users_condition,
)
from app.tenancy.binding import (
    ScopeUnbound,
    acting_as,
    current_scope,
    membership_for_user,
    outside_requests,
    require_staff,
    resolving_scope,
    scope_for_user,
)
from app.tenancy.scope import NOBODY, SYSTEM, Scope

__all__ = [
    "CLIENT_EDITABLE_FIELDS", "CONTACT_FIELDS", "MEMBER_WRITES", "NOBODY", "STAFF_ROLES", "SYSTEM",
    "Forbidden", "NotFound", "Scope", "ScopeUnbound", "acting_as", "apply_database_scope", "check_fields",
    "check_write", "current_scope", "forget_database_scope", "is_staff_user", "may_write",
    "membership_for_user", "outside_requests", "require_staff", "resolving_scope", "role_names",
    "scope_for_user", "staff_users_condition",
]
