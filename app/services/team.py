"""A client's team: portal users and their membership roles (SPEC §1, §2).

Only the owner adds members (``tenancy.check_write``), within the plan's team-member
limit (``tiers``, checked again on flush for every door). A new member is a FAB user
with the ``Client`` role and a ``ClientMember`` row on the owner's client.

The owner is set by the agency and is never demoted or removed here (a client always
has someone who manages its team). Removing a member deletes the membership and
deactivates the account: a portal user belongs to exactly one client, so the account
would reach nothing, and keeping it (inactive) keeps their tickets and messages
attributed. Staff do this from the CLI (``flask members``), owners from the portal.
"""

from __future__ import annotations

import re

from flask_babel import gettext as _

from app import models as m
from app.roles import CLIENT
from app.services import tiers
from app import tenancy
from app.errors import InvalidInput, NotFound

INVITABLE_ROLES = ("admin", "member", "viewer")  # one owner per client, set by the agency
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def add_member(session, sm, scope, *, username: str, email: str, first_name: str, last_name: str, role: str,
               password: str) -> m.ClientMember:
    tenancy.check_write(scope, "ClientMember", "create")
    client = session.get(m.Client, scope.client_id)
    tiers.check_can_add(session, client, "team_members")
    username, email = username.strip().lower(), email.strip().lower()
    if not _USERNAME.match(username):
        raise InvalidInput(_("Usernames are 3–64 lower-case letters, digits, dots, hyphens or underscores."),
                           field="username")
    if not _EMAIL.match(email):
        raise InvalidInput(_("Enter a valid email address."), field="email")
    if not first_name.strip() or not last_name.strip():
        raise InvalidInput(_("Enter the person's first and last name."), field="first_name")
    if role not in INVITABLE_ROLES:
        raise InvalidInput(_("Choose a role: %(roles)s.", roles=", ".join(INVITABLE_ROLES)), field="role")
    if len(password) < 10:
        raise InvalidInput(_("The first password needs at least 10 characters."), field="password")
    if sm.find_user(username=username) is not None or sm.find_user(email=email) is not None:
        raise InvalidInput(_("Someone already uses this username or email."), field="username")
    user = sm.add_user(username, first_name.strip(), last_name.strip(), email, sm.find_role(CLIENT),
                       password=password, commit=False)  # committed with the membership, or not at all
    if not user:
        raise InvalidInput(_("The user could not be created."), field="username")
    member = m.ClientMember(client_id=client.id, user=user, role=role)
    session.add(member)
    return member


def find_member(session, client_slug: str, username: str) -> m.ClientMember:
    """The membership of ``username`` in the client ``client_slug``, or ``NotFound`` saying which is missing."""
    client = session.query(m.Client).filter_by(slug=client_slug).one_or_none()
    if client is None:
        raise NotFound(f"No client has the slug {client_slug!r}.")
    member = (session.query(m.ClientMember).join(m.ClientMember.user)
              .filter(m.ClientMember.client_id == client.id, m.User.username == username.strip().lower())
              .one_or_none())
    if member is None:
        raise NotFound(f"{username!r} is not a member of {client.name}.")
    return member


def _refuse_owner(member: m.ClientMember, refusal) -> None:
    """``refusal(username, client)``: the sentence saying what the owner cannot be."""
    if member.role == m.MemberRole.OWNER:
        raise InvalidInput(refusal(member.user.username, member.client.name), field="role")


def change_role(session, scope, member: m.ClientMember, role: str) -> m.ClientMember:
    tenancy.check_write(scope, "ClientMember", "update")
    if role not in INVITABLE_ROLES:
        raise InvalidInput(_("Choose a role: %(roles)s.", roles=", ".join(INVITABLE_ROLES)), field="role")
    _refuse_owner(member, lambda username, client: _(
        "%(username)s is the owner of %(client)s; the owner cannot be given another role. Make another member the "
        "owner in the console first.", username=username, client=client))
    member.role = role
    return member


def remove_member(session, scope, member: m.ClientMember) -> None:
    tenancy.check_write(scope, "ClientMember", "delete")
    _refuse_owner(member, lambda username, client: _(
        "%(username)s is the owner of %(client)s; the owner cannot be removed. Make another member the owner in "
        "the console first.", username=username, client=client))
    member.user.active = False
    session.delete(member)
