"""A client's team: portal users and their membership roles (SPEC §1, §2).

Only the owner adds members (``tenancy.check_write``), within the plan's team-member
limit (``tiers``, checked again on flush for every door). A new member is a FAB user
with the ``Client`` role and a ``ClientMember`` row on the owner's client.
"""

from __future__ import annotations

import re

from app import models as m
from app.security.roles import CLIENT
from app.services import tenancy, tiers
from app.services.errors import InvalidInput

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
        raise InvalidInput("Usernames are 3–64 lower-case letters, digits, dots, hyphens or underscores.",
                           field="username")
    if not _EMAIL.match(email):
        raise InvalidInput("Enter a valid email address.", field="email")
    if not first_name.strip() or not last_name.strip():
        raise InvalidInput("Enter the person's first and last name.", field="first_name")
    if role not in INVITABLE_ROLES:
        raise InvalidInput(f"Choose a role: {', '.join(INVITABLE_ROLES)}.", field="role")
    if len(password) < 10:
        raise InvalidInput("The first password needs at least 10 characters.", field="password")
    if sm.find_user(username=username) is not None or sm.find_user(email=email) is not None:
        raise InvalidInput("Someone already uses this username or email.", field="username")
    user = sm.add_user(username, first_name.strip(), last_name.strip(), email, sm.find_role(CLIENT),
                       password=password, commit=False)  # committed with the membership, or not at all
    if not user:
        raise InvalidInput("The user could not be created.", field="username")
    member = m.ClientMember(client_id=client.id, user=user, role=role)
    session.add(member)
    return member
