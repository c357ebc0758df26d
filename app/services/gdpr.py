"""GDPR (SPEC §8): a client user's personal data, exported (access) and erased.

``export_user``: everything Atrium holds about one person, as one JSON document: the
account (no password hash), roles and membership, API keys (names and dates only),
tickets they opened and messages and incident updates they wrote, files they uploaded
(metadata), audit events where they are the actor, the true user or the subject (their
own account, a failed login with their username), view-as sessions on them (who, why,
when; not the staff member's IP), and emails queued or sent to them. Recorded as a
``gdpr.export`` event.

``erase_user``: anonymisation, one transaction, for client users only (staff accounts
are the agency's record of who did what, and the ``system`` user is the software; both
are refused, as are a client's owner, who must be replaced first, and an email that is
still a client's contact address).

- The account: name "Erased user <id>" (first name "Erased", last name "user <id>"),
  email ``erased-<id>@invalid``, username ``erased-<id>``, a random password nobody
  knows, inactive. Their membership is deleted (so they no longer count against the
  plan), API keys deleted, emails to them deleted from the outbox.
- What they wrote stays with the client (ticket threads must keep making sense, files
  belong to the client), attributed to the anonymised account. Free text may name them:
  their email, username, full, first and last name (also the values they had before a
  profile change) are replaced by ``[erased]`` as whole words, case-insensitively, in
  ticket subjects and descriptions, messages, incident updates, view-as reasons and
  outbox emails, and in project/domain contact fields. Other personal data someone
  typed in free text (a phone number in a message) cannot be recognised: staff edit or
  delete such messages by hand on request. File names and file contents are kept.
- The audit trail: every event where they are the actor or true user loses its IP and
  user agent; every event whose changes or details hold one of those strings (their
  account's own history, failed logins with their username, view-as starts, the
  creation of their messages and of emails to them...) has them replaced, through
  ``services.audit.redact`` (the one path allowed to change an event). One
  ``gdpr.erase`` event lists the redacted event ids and the rows changed per table, so
  ``flask audit verify`` still passes and a redaction without it is detected.

These rewrites are written with Core statements and recorded by that one event: the
usual per-row audit would copy the old personal values back into the log.
"""

from __future__ import annotations

import json
import re

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app import models as m
from app.errors import InvalidInput, NotFound
from app.models.base import utcnow
from app.services import audit, audit_chain, identity
from app import tenancy
from app.services.passwords import unusable_password
from app.roles import STAFF_ROLES
from app.services.values import plain

ERASED = "[erased]"
PERSONAL_USER_FIELDS = ("email", "username", "first_name", "last_name")
# Free text that may name a person: (model, columns).
FREE_TEXT = ((m.Ticket, ("subject", "description", "satisfaction_comment")), (m.TicketMessage, ("body",)),
             (m.IncidentUpdate, ("message",)), (m.ImpersonationSession, ("reason",)),
             (m.OutboxEmail, ("subject", "body")), (m.StaffAlert, ("message",)))
CONTACT_MODELS = (m.Project, m.Domain)


def find_user(session: Session, email: str) -> m.User:
    wanted = (email or "").strip().lower()
    user = session.execute(sa.select(m.User).where(sa.func.lower(m.User.email) == wanted)).scalar_one_or_none() \
        if wanted else None
    if user is None:
        raise NotFound(f"No user has the email {email!r}.")
    return user


def _row(obj, fields) -> dict:
    return {f: plain(getattr(obj, f)) for f in fields}


# --------------------------------------------------------------------------- export


def _user_events(user: m.User):
    """Audit events where the user is actor, true user or subject."""
    E = m.AuditEvent
    return sa.or_(E.actor_id == user.id, E.true_user_id == user.id,
                  sa.and_(E.resource_type == "User", E.resource_id == str(user.id)),
                  sa.and_(E.action == "login.failed", E.details["username"].as_string() == user.username))


def export_user(session: Session, email: str) -> dict:
    """All personal data of the user with ``email`` (see the module docstring); records
    the export (not committed)."""
    tenancy.require_staff("Personal data is exported and erased")
    user = find_user(session, email)
    uid = user.id
    membership = session.execute(sa.select(m.ClientMember).where(m.ClientMember.user_id == uid)).scalar_one_or_none()
    emails = {user.email.lower()}

    def rows(model, where, fields, order=None):
        query = sa.select(model).where(where).order_by(order if order is not None else model.id)
        return [_row(obj, fields) for obj in session.execute(query).scalars()]

    api_keys = session.execute(sa.text(
        "SELECT name, key_prefix, active, created_on, expires_on, revoked_on, last_used_on FROM ab_api_key "
        "WHERE user_id = :uid ORDER BY id"), {"uid": uid}).mappings().all()
    events = session.execute(sa.select(m.AuditEvent).where(_user_events(user)).order_by(m.AuditEvent.seq)).scalars()
    sessions = session.execute(sa.select(m.ImpersonationSession).where(m.ImpersonationSession.target_user_id == uid)
                               .order_by(m.ImpersonationSession.id)).scalars()
    document = {
        "format": "atrium-personal-data", "exported_at": utcnow().isoformat(), "user_id": uid,
        "account": {**_row(user, ("id", "username", "first_name", "last_name", "email", "active", "created_on",
                                  "changed_on", "last_login", "login_count", "fail_login_count")),
                    "password": "set (the hash is not exported)" if user.password else "not set",
                    "roles": sorted(r.name for r in user.roles)},
        "membership": None if membership is None else {
            "client": membership.client.slug, "client_name": membership.client.name, "role": membership.role,
            "since": plain(membership.created_at)},
        "api_keys": [{k: plain(v) for k, v in key.items()} for key in api_keys],
        "tickets_opened": rows(m.Ticket, m.Ticket.opened_by_id == uid,
                               ("id", "client_id", "subject", "description", "priority", "status", "created_at",
                                "resolved_at")),
        "ticket_messages": rows(m.TicketMessage, m.TicketMessage.author_id == uid,
                                ("id", "ticket_id", "body", "internal", "created_at")),
        "incident_updates": rows(m.IncidentUpdate, m.IncidentUpdate.author_id == uid,
                                 ("id", "incident_id", "status", "message", "at")),
        "files_uploaded": rows(m.StorageFile, m.StorageFile.uploaded_by_id == uid,
                               ("id", "client_id", "project_id", "file_name", "mime_type", "size_bytes", "sha256",
                                "tags", "created_at")),
        "audit_events": [_row(e, ("seq", "occurred_at", "action", "resource_type", "resource_id", "channel", "ip",
                                  "user_agent", "impersonation_session_id", "changes", "details", "redacted"))
                         for e in events],
        "view_as_sessions": [{**_row(s, ("id", "reason", "mode", "started_at", "ended_at", "end_reason")),
                              "staff": s.staff_user.username if s.staff_user else None} for s in sessions],
        "emails": rows(m.OutboxEmail, sa.func.lower(m.OutboxEmail.to_address).in_(emails),
                       ("id", "kind", "to_address", "subject", "body", "status", "created_at", "sent_at")),
    }
    counts = {k: len(v) for k, v in document.items() if isinstance(v, list)}
    audit.record(session, "gdpr.export", resource_type="User", resource_id=uid,
                 client_id=membership.client_id if membership else None, staff_only=True,
                 details={"user_id": uid, "sections": counts})
    return document


# --------------------------------------------------------------------------- erase


class _Scrubber:
    """Replaces a person's identifying strings, as whole words and in any case."""

    def __init__(self, terms):
        self.terms = sorted({t.strip() for t in terms if t and len(t.strip()) >= 2}, key=len, reverse=True)
        pattern = "|".join(re.escape(t) for t in self.terms)
        self.regex = re.compile(rf"(?<!\w)(?:{pattern})(?!\w)", re.IGNORECASE) if self.terms else None

    def text(self, value):
        if self.regex is None or not isinstance(value, str):
            return value
        return self.regex.sub(ERASED, value)

    def value(self, value):
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        return value

    def prefilter(self, column):
        """A SQL condition true for every row whose ``column`` (text or JSON) may hold a
        term: case variants, and JSON-escaped ones (SQLite stores JSON ASCII-escaped)."""
        text = sa.cast(column, sa.Text) if not isinstance(column.type, (sa.String, sa.Text)) else column
        variants = set()
        for term in self.terms:
            for form in (term, term.lower(), term.upper(), term.title()):
                variants.update({form.lower(), json.dumps(form)[1:-1].lower()})
        return sa.or_(*[sa.func.lower(text).contains(v, autoescape=True) for v in sorted(variants)])


def _personal_terms(session: Session, user: m.User) -> set[str]:
    """The user's identifying strings now and in their account's history."""
    terms = {user.email, user.username, user.first_name, user.last_name, f"{user.first_name} {user.last_name}"}
    history = session.execute(sa.select(m.AuditEvent.changes).where(
        m.AuditEvent.resource_type == "User", m.AuditEvent.resource_id == str(user.id))).scalars()
    names = {"first_name": set(), "last_name": set()}
    for changes in history:
        for field in PERSONAL_USER_FIELDS:
            for value in (changes or {}).get(field) or ():
                if isinstance(value, str) and value != audit.MASK:
                    terms.add(value)
                    if field in names:
                        names[field].add(value)
    terms.update(f"{first} {last}" for first in names["first_name"] | {user.first_name}
                 for last in names["last_name"] | {user.last_name})
    return {t for t in terms if t}


def _is_erased(user: m.User) -> bool:
    return user.email == f"erased-{user.id}@invalid"


def check_erasable(session: Session, user: m.User) -> None:
    """Refuse the system user, staff, a client's owner (a client always has one: staff
    make someone else the owner first) and an address that is still a client's contact."""
    if user.username == identity.SYSTEM_USERNAME:
        raise InvalidInput("The system user is Atrium itself and cannot be erased.")
    staff_roles = sorted(r.name for r in user.roles if r.name in STAFF_ROLES)
    if staff_roles:
        raise InvalidInput(f"{user.username} is a staff account ({', '.join(staff_roles)}): staff are not erased "
                           "(their actions are the agency's record); an Admin deactivates the account instead.")
    owner_of = session.execute(sa.select(m.Client.slug).join(m.ClientMember, m.ClientMember.client_id == m.Client.id)
                               .where(m.ClientMember.user_id == user.id, m.ClientMember.role == m.MemberRole.OWNER)
                               ).scalar_one_or_none()
    if owner_of:
        raise InvalidInput(f"{user.username} is the owner of {owner_of}: make another member the owner first. "
                           "Nothing was erased.")
    contact_of = session.execute(sa.select(m.Client.slug).where(
        sa.func.lower(m.Client.contact_email) == user.email.lower())).scalars().all()
    if contact_of:
        raise InvalidInput(f"{user.email} is the contact email of {', '.join(contact_of)}: give the client another "
                           "contact email first. Nothing was erased.")


def erase_user(session: Session, email: str) -> dict:
    """Anonymise the client user with ``email`` (see the module docstring); not
    committed. Returns what changed."""

    tenancy.require_staff("Personal data is exported and erased")
    tenancy.apply_database_scope(session, tenancy.current_scope())
    user = find_user(session, email)
    uid = user.id
    if _is_erased(user):
        return {"user_id": uid, "already_erased": True, "rows": {}, "redacted_events": 0}
    check_erasable(session, user)
    scrub = _Scrubber(_personal_terms(session, user))
    addresses = {t.lower() for t in scrub.terms if "@" in t}
    membership = session.execute(sa.select(m.ClientMember.client_id).where(m.ClientMember.user_id == uid)
                                 ).scalar_one_or_none()
    changed: dict[str, list[int]] = {}

    def note(table: str, ids) -> None:
        if ids:
            changed.setdefault(table, []).extend(ids)

    # Free text naming them.
    for model, columns in FREE_TEXT:
        table = model.__table__
        if model is m.OutboxEmail:  # emails to them go altogether
            gone = session.execute(sa.select(table.c.id).where(sa.func.lower(table.c.to_address).in_(addresses))
                                   ).scalars().all()
            session.execute(sa.delete(table).where(table.c.id.in_(gone)))
            note("email_outbox (deleted)", gone)
        found = session.execute(sa.select(table.c.id, *[table.c[c] for c in columns]).where(
            sa.or_(*[scrub.prefilter(table.c[c]) for c in columns]))).all()
        updates = []
        for row in found:
            new = {c: scrub.text(getattr(row, c)) for c in columns}
            if any(new[c] != getattr(row, c) for c in columns):
                updates.append({"_id": row.id, **{f"_{c}": v for c, v in new.items()}})
        if updates:
            session.execute(sa.update(table).where(table.c.id == sa.bindparam("_id"))
                            .values({c: sa.bindparam(f"_{c}") for c in columns}), updates)
            note(table.name, [u["_id"] for u in updates])

    # Contact fields that are them.
    for model in CONTACT_MODELS:
        table = model.__table__
        full_names = {t.lower() for t in scrub.terms if " " in t}
        ids = session.execute(sa.select(table.c.id).where(sa.or_(
            sa.func.lower(table.c.contact_email).in_(addresses),
            sa.func.lower(table.c.contact_name).in_(full_names)))).scalars().all()
        if ids:
            session.execute(sa.update(table).where(table.c.id.in_(ids))
                            .values(contact_name=None, contact_email=None, contact_phone=None))
            note(table.name, ids)

    # The audit trail.
    rewrites = _audit_rewrites(session, user, scrub)
    redacted = audit_chain.redact(session, rewrites)

    # The account.
    users = m.User.__table__
    session.execute(sa.update(users).where(users.c.id == uid).values(
        first_name="Erased", last_name=f"user {uid}", email=f"erased-{uid}@invalid", username=f"erased-{uid}",
        password=unusable_password(), active=False))
    note(users.name, [uid])
    members = m.ClientMember.__table__
    gone = session.execute(sa.select(members.c.id).where(members.c.user_id == uid)).scalars().all()
    session.execute(sa.delete(members).where(members.c.user_id == uid))
    note("client_members (deleted)", gone)
    gone = session.execute(sa.text("SELECT id FROM ab_api_key WHERE user_id = :uid"), {"uid": uid}).scalars().all()
    session.execute(sa.text("DELETE FROM ab_api_key WHERE user_id = :uid"), {"uid": uid})
    note("ab_api_key (deleted)", gone)

    rows = {table: len(ids) for table, ids in changed.items()}
    audit.record(session, audit_chain.ERASE_ACTION, resource_type="User", resource_id=uid, client_id=membership,
                 staff_only=True, details={"user_id": uid, "redacted_events": redacted, "rows": rows,
                                           "row_ids": {t: sorted(i) for t, i in changed.items()}})
    session.expire_all()
    return {"user_id": uid, "already_erased": False, "rows": rows, "redacted_events": len(redacted)}


def _audit_rewrites(session: Session, user: m.User, scrub: _Scrubber) -> dict[int, dict]:
    """Event id -> new personal fields, for every event that holds the user's data."""
    E = m.AuditEvent
    own = sa.or_(E.actor_id == user.id, E.true_user_id == user.id,
                 sa.and_(E.resource_type == "User", E.resource_id == str(user.id)))
    mentions = sa.or_(scrub.prefilter(E.changes), scrub.prefilter(E.details))
    rewrites = {}
    query = sa.select(E.id, E.actor_id, E.true_user_id, E.resource_type, E.resource_id, E.changes, E.details,
                      E.ip, E.user_agent).where(sa.or_(own, mentions)).order_by(E.seq)
    for event in session.execute(query):
        changes = scrub.value(event.changes)
        if event.resource_type == "User" and event.resource_id == str(user.id) and isinstance(changes, dict):
            changes = {k: ([ERASED if v not in (None, audit.MASK) else v for v in pair]
                           if k in PERSONAL_USER_FIELDS and isinstance(pair, list) else pair)
                       for k, pair in changes.items()}
        new = {"changes": changes, "details": scrub.value(event.details)}
        if user.id in (event.actor_id, event.true_user_id):
            new.update(ip=None, user_agent=None)
        rewrites[event.id] = new
    return rewrites
