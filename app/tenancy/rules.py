"""What a client user's membership role may change (SPEC §1), and which attributes.

``check_write`` is the membership-role rule (owner/admin/member/viewer) used by the
portal, the API and, as a backstop, the write guard on every flush.
``CLIENT_EDITABLE_FIELDS`` / ``check_fields`` narrow an allowed update to the attributes a
client may touch (projects and domains: their contact data only), also on every flush.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.errors import AtriumError
from app.roles import STAFF_ROLES as _STAFF_ROLE_NAMES
from app.tenancy.scope import Scope

STAFF_ROLES = frozenset(_STAFF_ROLE_NAMES)


class Forbidden(AtriumError):
    status = 403


class NotFound(AtriumError):
    status = 404


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

# The refusal of each operation, a whole sentence with the role and what is refused.
_REFUSALS = {
    "create": lambda role, things: _("Your role (%(role)s) may not add %(things)s.", role=role, things=things),
    "update": lambda role, things: _("Your role (%(role)s) may not change %(things)s.", role=role, things=things),
    "delete": lambda role, things: _("Your role (%(role)s) may not delete %(things)s.", role=role, things=things),
}
_ROLE_WORDS = {"owner": _l("owner"), "admin": _l("admin"), "member": _l("member"), "viewer": _l("viewer")}
_NOUNS = {"Ticket": _l("tickets"), "TicketMessage": _l("ticket replies"), "StorageFile": _l("files"),
          "StorageFolder": _l("folders"), "Project": _l("projects"), "Domain": _l("domains"),
          "ClientMember": _l("team members"), "User": _l("team members")}


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
        raise Forbidden(_("Your access is read-only (viewer). Ask your organisation's owner for a "
                          "member role to make changes."))
    role = scope.member_role or "no"
    role, things = _ROLE_WORDS.get(role, role), _NOUNS.get(model_name, model_name)
    raise Forbidden(_REFUSALS.get(operation, _REFUSALS["update"])(role, things))


def check_fields(scope: Scope, model_name: str, changed: set[str]) -> None:
    """Raise ``Forbidden`` if a client user's update of ``model_name`` changes attributes
    outside ``CLIENT_EDITABLE_FIELDS`` (staff and unlisted models: no narrowing)."""
    editable = CLIENT_EDITABLE_FIELDS.get(model_name)
    if scope.is_staff or editable is None:
        return
    refused = set(changed) - editable
    if refused:
        names = ", ".join(sorted(name.replace("_", " ") for name in refused))
        raise Forbidden(_("You may change only the contact details of %(things)s (not: %(fields)s). Ask your account "
                          "manager for other changes.", things=_NOUNS.get(model_name, model_name), fields=names))


def role_names(user) -> set[str]:
    return {r.name for r in (getattr(user, "roles", None) or [])}


def is_staff_user(user) -> bool:
    return bool(role_names(user) & STAFF_ROLES)


def staff_users_condition(user_model):
    """SQL condition: the user holds a staff role (Admin, Operator, Developer...)."""
    role = user_model.roles.property.mapper.class_
    return sa.and_(user_model.roles.any(role.name.in_(sorted(STAFF_ROLES))), user_model.active.is_(True))
