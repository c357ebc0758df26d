"""Notifications (SPEC §7): who is told what, queued in the email outbox.

Every notification is an ``OutboxEmail`` row written in the caller's transaction, so it
exists exactly when the change it reports was committed; a worker sends the outbox over
SMTP (``workers.maintenance.send_outbox``). ``dedupe_key`` makes a notification
idempotent: queuing the same key twice keeps the first (a retried job tells nobody
twice).

Recipients: ``client_owners(session, client_id)`` (incidents, warnings, reports),
``staff_for_ticket`` (a client's reply goes to the assignee, else every Operator).
Sending: ``send_outbox(session, sender)`` sends queued emails oldest first; a refused
message fails at once, an unreachable server leaves it queued (``MAX_ATTEMPTS`` tries
across runs). SMTP itself is ``app.integrations.mail``.

Language: each e-mail (and in-app alert) is written in its recipient's language
(``preferences.recipient_languages``: their own choice, else their client's, else
English). Callers pass the subject and body as functions that return the text
(``lambda: _("...", ...)``); they are called inside ``flask_babel.force_locale`` once per
language among the recipients, so a message to several people is written once per
language, not once per person. A plain string is sent as it is to everyone.
"""

from __future__ import annotations

from contextvars import ContextVar

import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import gettext as _

from app.integrations.mail import MailRejected, MailUnavailable
from app.models import ClientMember, EmailStatus, MemberRole, OutboxEmail, Role, StaffAlert, User
from app.models.base import utcnow
from app import tenancy
from app.i18n import DEFAULT_LANGUAGE
from app.services import preferences
from app.switches import switched

MAX_ATTEMPTS = 5


# On unless ``suppressed()`` turned it off in this context.
_telling: ContextVar[bool] = ContextVar("atrium_notifications", default=True)


def suppressed():
    """``with notifications.suppressed():`` — tell nobody in this context (the demo
    seed's history); other threads and requests still notify."""
    return switched(_telling, False)


def queue_email(session, *, kind: str, to: str, subject: str, body: str, client_id: int | None = None,
                dedupe_key: str | None = None) -> OutboxEmail | None:
    """Queue one email; ``None`` when ``dedupe_key`` was already queued (or no address)."""
    if not to or not _telling.get():
        return None
    if dedupe_key is not None:
        pending = [o for o in session.new if isinstance(o, OutboxEmail) and o.dedupe_key == dedupe_key]
        exists = session.execute(sa.select(OutboxEmail.id).where(OutboxEmail.dedupe_key == dedupe_key)
                                 ).first() if not pending else True
        if exists:
            return None
    email = OutboxEmail(kind=kind, to_address=to, subject=subject[:300], body=body, client_id=client_id,
                        dedupe_key=dedupe_key)
    session.add(email)
    return email


def notify(session, *, kind: str, recipients, subject, body, client_id: int | None = None,
           dedupe_key: str | None = None) -> int:
    """Queue the same message to several addresses (one dedupe key per address), each in
    its recipient's language: ``subject`` and ``body`` are functions returning the text
    (or fixed strings), called once per language."""
    addresses = list(dict.fromkeys(a for a in recipients if a))
    if not addresses or not _telling.get():
        return 0
    languages = _languages_of_addresses(session, addresses)
    written: dict[str, tuple[str, str]] = {}
    queued = 0
    for address in addresses:
        language = languages.get(address.lower(), DEFAULT_LANGUAGE)
        if language not in written:
            written[language] = _written_in(language, subject, body)
        key = f"{dedupe_key}:{address}" if dedupe_key else None
        if queue_email(session, kind=kind, to=address, subject=written[language][0], body=written[language][1],
                       client_id=client_id, dedupe_key=key) is not None:
            queued += 1
    return queued


def _written_in(language: str, *texts) -> tuple:
    """``texts`` (functions returning text, or strings) written in ``language``."""
    with force_locale(language):
        return tuple(text() if callable(text) else text for text in texts)


def _languages_of_addresses(session, addresses) -> dict[str, str]:
    """lower-cased address -> its user's language (addresses of nobody: absent).

    Read on the session's connection as the system: a client user's reply goes to staff,
    whose settings rows the client's transaction cannot see (``atrium_own_row``). Only
    the recipients' language codes are read, and the transaction's own settings are put
    back at once (before the flush that may be under way writes anything)."""
    condition = sa.func.lower(User.email).in_([a.lower() for a in addresses])
    scope = tenancy.current_scope()
    reader = scope if scope.is_staff else tenancy.SYSTEM
    tenancy.apply_database_scope(session, reader)
    try:
        found = preferences.recipient_languages(session.connection(), condition)
    finally:
        if reader is not scope:
            tenancy.apply_database_scope(session, scope)
    return {email.lower(): language for email, language in found.values() if email}


def ticket_reply(session, ticket, message, author) -> int:
    """A public message on a ticket goes to the other side: a staff reply to whoever
    opened the ticket (else the client's owners), a client's reply to the assignee (else
    every Operator). Internal notes tell nobody; the author is never told of their own."""
    if message.internal:
        return 0
    if tenancy.is_staff_user(author):
        opener = session.get(User, ticket.opened_by_id) if ticket.opened_by_id else None
        recipients = [opener.email] if opener is not None and opener.active else client_owners(session, ticket.client_id)
    else:
        recipients = staff_for_ticket(session, ticket)
    name = _name(author)
    words = dict(number=ticket.id, subject=ticket.subject, name=name, message=message.body)
    if ticket.id is None:  # a ticket written in the same flush (a follow-up): it has no number yet
        subject = lambda: _("[Atrium] Re: %(subject)s", **words)  # noqa: E731
        body = lambda: _("%(name)s wrote on ticket “%(subject)s”:\n\n%(message)s\n", **words)  # noqa: E731
    else:
        subject = lambda: _("[Atrium] Re: #%(number)d %(subject)s", **words)  # noqa: E731
        body = lambda: _("%(name)s wrote on ticket #%(number)d:\n\n%(message)s\n", **words)  # noqa: E731
    return notify(session, kind="ticket_reply", recipients=[r for r in recipients if r != author.email],
                  subject=subject, body=body, client_id=ticket.client_id)


# A new ticket's number exists only once its row is written: the news of a new ticket
# and of an assignment are written right after the flush (``lifecycle.announce``), as
# rows of the same transaction, on the flush's connection.

def ticket_opened(connection, ticket, opener) -> int:
    """A ticket a client user opened tells every active Operator: an e-mail and an in-app
    alert each (Free tickets have no SLA, so nobody would otherwise hear of them)."""
    operators = _operators(connection)
    name = _name(opener)
    words = dict(number=ticket.id, name=name, subject=ticket.subject)
    _write(connection, [u.id for u in operators], ticket, "new_ticket",
           lambda: _("New ticket #%(number)d from %(name)s: %(subject)s", **words),
           subject=lambda: _("[Atrium] New ticket #%(number)d: %(subject)s", **words),
           body=lambda: _("%(name)s opened ticket #%(number)d \"%(subject)s\":\n\n%(description)s\n",
                          description=ticket.description, **words),
           dedupe=f"ticket:{ticket.id}:opened")
    return len(operators)


def ticket_assigned(connection, ticket, assignee, by_user_id: int | None) -> int:
    """An assignment tells the assignee (an e-mail and an in-app alert), unless they took
    the ticket themselves."""
    if assignee is None or assignee.id == by_user_id or not assignee.active:
        return 0
    words = dict(number=ticket.id, subject=ticket.subject)
    _write(connection, [assignee.id], ticket, "assigned",
           lambda: _("Ticket #%(number)d was assigned to you: %(subject)s", **words),
           subject=lambda: _("[Atrium] Assigned to you: #%(number)d %(subject)s", **words),
           body=lambda: _("Ticket #%(number)d \"%(subject)s\" is now yours.\n", **words), dedupe=None)
    return 1


def _write(connection, user_ids, ticket, kind, message, *, subject, body, dedupe) -> None:
    """An in-app alert and an e-mail to each of ``user_ids``, in their languages
    (``message``, ``subject`` and ``body``: functions returning the text). The
    connection carries the system's settings (``lifecycle.announce``)."""
    if not _telling.get():
        return
    now = utcnow()
    user_ids = list(dict.fromkeys(user_ids))
    found = preferences.recipient_languages(connection, User.id.in_(user_ids))
    recipients = [(u, *found[u]) for u in user_ids if u in found]  # (user id, e-mail, language)
    written = {language: _written_in(language, message, subject, body) for _u, _a, language in recipients}
    alerts = [dict(user_id=u, ticket_id=ticket.id, kind=kind, message=written[language][0][:300], created_at=now)
              for u, _a, language in recipients]
    addresses = dict((a, language) for _u, a, language in recipients if a)
    emails = [dict(kind=f"ticket_{kind}", to_address=a, subject=written[language][1][:300], body=written[language][2],
                   client_id=ticket.client_id, dedupe_key=f"{dedupe}:{a}" if dedupe else None, created_at=now,
                   updated_at=now)
              for a, language in addresses.items()]
    if alerts:
        connection.execute(sa.insert(StaffAlert.__table__), alerts)
    if emails:
        connection.execute(sa.insert(OutboxEmail.__table__), emails)


def unread_alerts(session, user_id: int, limit: int = 20) -> tuple[int, list]:
    """The number of ``user_id``'s unread alerts and the newest ``limit`` of them."""
    unread = StaffAlert.user_id == user_id, StaffAlert.read_at.is_(None)
    count = session.execute(sa.select(sa.func.count()).select_from(StaffAlert).where(*unread)).scalar_one()
    rows = list(session.execute(sa.select(StaffAlert).where(*unread)
                                .order_by(StaffAlert.created_at.desc(), StaffAlert.id.desc()).limit(limit)).scalars()
                ) if limit and count else []
    return count, rows


def mark_read(session, user_id: int, alert_ids=None) -> int:
    """Mark ``user_id``'s alerts read (all unread ones, or those of ``alert_ids``)."""
    statement = sa.update(StaffAlert).where(StaffAlert.user_id == user_id, StaffAlert.read_at.is_(None))
    if alert_ids is not None:
        statement = statement.where(StaffAlert.id.in_(list(alert_ids)))
    return session.execute(statement.values(read_at=utcnow()), execution_options={"synchronize_session": False}
                           ).rowcount


def _name(user) -> str:
    return " ".join(filter(None, [user.first_name, user.last_name])) or user.username


def _operators(executor) -> list:
    """The active Operators (``id``, ``email``), through a session or a connection."""
    return list(executor.execute(sa.select(User.id, User.email).join(User.roles)
                                 .where(Role.name == "Operator", User.active.is_(True)).order_by(User.email)))


def client_owners(session, client_id: int) -> list[str]:
    """Email addresses of the active owners and admins of a client."""
    return list(session.execute(
        sa.select(User.email).join(ClientMember, ClientMember.user_id == User.id)
        .where(ClientMember.client_id == client_id, User.active.is_(True),
               ClientMember.role.in_([MemberRole.OWNER, MemberRole.ADMIN]))
        .order_by(User.email)).scalars())


def staff_for_ticket(session, ticket) -> list[str]:
    """Who on the agency's side hears of a ticket: its assignee, else every Operator."""
    if ticket.assignee_id is not None:
        assignee = session.get(User, ticket.assignee_id)
        if assignee is not None and assignee.active:
            return [assignee.email]
    return [u.email for u in _operators(session)]


def send_outbox(session, sender, limit: int = 200) -> dict:
    """Send up to ``limit`` queued emails with ``sender`` (a ``SmtpSender``, entered);
    commits after each email, so a crash re-sends at most the one in flight. Counts."""
    sent = failed = 0
    queued = session.execute(sa.select(OutboxEmail).where(OutboxEmail.status == EmailStatus.QUEUED)
                             .order_by(OutboxEmail.created_at, OutboxEmail.id).limit(limit)).scalars().all()
    for email in queued:
        email.attempts += 1
        try:
            sender(email.to_address, email.subject, email.body)
        except MailRejected as exc:
            email.status, email.last_error = EmailStatus.FAILED, str(exc)[:2000]
            failed += 1
        except MailUnavailable as exc:
            email.last_error = str(exc)[:2000]
            if email.attempts >= MAX_ATTEMPTS:
                email.status = EmailStatus.FAILED
                failed += 1
            session.commit()
            raise  # the server is down: stop this run, the job retries later
        else:
            email.status, email.sent_at, email.last_error = EmailStatus.SENT, utcnow(), None
            sent += 1
        session.commit()
    return {"sent": sent, "failed": failed, "left": max(0, len(queued) - sent - failed)}
