"""Derived values, tier limits and notifications kept true on every write, whatever the
door (UI, API, CLI, jobs): steps of the flush pipeline (``services.pipeline``), which
calls them in its order. Each calls the services that own the rule:
- tenancy: child rows get ``client_id`` from their parent (``stamp_client``, at INSERT);
- tickets: SLA clock started on open, paused/resumed on status change, a new message's
  author is the signed-in person (the true user while viewing as; the caller's named
  author outside a request), the first public staff reply recorded, SLA state recomputed;
- incidents: resolution time and downtime minutes;
- performance metrics: the grade;
- domains: the name normalised to lower-case IDNA;
- tier limits (``services.tiers``): new projects, domains, team members, tickets this
  month and stored bytes are checked against the client's plan, ad campaigns against
  the plan's platforms, and a changed limit override is validated and stamped with who
  set it and when;
- sessions: a user's new password or deactivation ends their server-side sessions
  (``services.sessions``).
Nothing is typed in for these fields, and no door can skip a limit.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import g, has_request_context
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from app.errors import InvalidInput
from app.models import (
    Campaign,
    Client,
    ClientMember,
    Domain,
    Incident,
    IncidentUpdate,
    PerformanceMetric,
    Project,
    StorageFile,
    Ticket,
    TicketMacro,
    TicketMessage,
    User,
)
from app.models.base import utcnow
from app import tenancy
from app.services import (
    identity,
    incidents,
    notifications,
    performance,
    sessions,
    ticket_macros,
    tickets,
    tiers,
    validation,
)

# New rows of these models count against a plan limit (one unit each).
COUNTED = {Project: "projects", Domain: "domains", ClientMember: "team_members", Ticket: "tickets_per_month"}


def _parent_client_id(connection, obj):
    """The client of ``obj``'s tenant parent (``__tenant_parent__``), or ``None``."""
    attr = getattr(type(obj), "__tenant_parent__", None)
    if attr is None:
        return None
    parent = obj.__dict__.get(attr)
    if parent is not None:  # written before its children: already stamped
        return parent.client_id
    rel = sa.inspect(type(obj)).relationships[attr]
    fk_value = getattr(obj, next(iter(rel.local_columns)).key)
    if fk_value is None:
        return None
    parent_cls = rel.mapper.class_
    return connection.execute(
        sa.select(parent_cls.client_id).where(parent_cls.id == fk_value)
    ).scalar_one_or_none()


def stamp_client(mapper, connection, target) -> None:
    """Child rows take their parent's client; parents are already written at this point."""
    client_id = _parent_client_id(connection, target)
    if client_id is not None:
        target.client_id = client_id


def _client_of(session, obj):
    client = obj.__dict__.get("client")
    if client is None and getattr(obj, "client_id", None) is not None:
        client = session.get(Client, obj.client_id)
    return client


def enforce_limits(session: Session, new: list, dirty: list) -> None:
    """Every door's new rows against the client's plan (``services.tiers``)."""
    adding: dict[tuple, int] = {}
    clients = {}
    with session.no_autoflush:
        for obj in new:
            resource = COUNTED.get(type(obj)) or ("storage_bytes" if isinstance(obj, StorageFile) else None)
            client = _client_of(session, obj) if resource or isinstance(obj, Campaign) else None
            if client is None:
                continue
            if isinstance(obj, Campaign):
                tiers.check_ad_platform(client, obj.platform)
                continue
            clients[client.id] = client
            key = (client.id, resource)
            adding[key] = adding.get(key, 0) + (int(obj.size_bytes or 0) if resource == "storage_bytes" else 1)
        for obj in dirty:
            if isinstance(obj, Campaign) and sa.inspect(obj).attrs.platform.history.has_changes():
                tiers.check_ad_platform(_client_of(session, obj), obj.platform)
        for (client_id, resource), amount in adding.items():
            if client_id is not None:
                tiers.check_can_add(session, clients[client_id], resource, adding=amount)


def _stamp_override(obj: Client) -> None:
    """A changed limit override is validated and records who set it, and when."""
    obj.limit_overrides = tiers.validate_overrides(obj.limit_overrides)
    user = getattr(g, "user", None) if has_request_context() else None
    if getattr(user, "id", None) is not None:
        obj.limit_overrides_set_by_id = user.id
    if not sa.inspect(obj).attrs.limit_overrides_set_at.history.has_changes():
        obj.limit_overrides_set_at = utcnow()


def _check_assignee(session: Session, ticket: Ticket) -> None:
    """A ticket is handled by the agency: its assignee, when set or changed, is a staff user."""
    state = sa.inspect(ticket)
    if state.persistent and not (state.attrs.assignee_id.history.has_changes()
                                 or state.attrs.assignee.history.has_changes()):
        return
    with session.no_autoflush:
        # The relation when it was set; the id when it was (a loaded relation can be stale).
        assignee = ticket.__dict__.get("assignee") if state.attrs.assignee.history.has_changes() else None
        if assignee is None and ticket.assignee_id is not None:
            assignee = session.get(User, ticket.assignee_id)
        if assignee is not None and not tenancy.is_staff_user(assignee):
            raise InvalidInput(_("Assignee: %(username)s is not on the agency's staff; a ticket is assigned to a "
                                 "staff member.", username=assignee.username), field="assignee")


def _stamp_author(session: Session, message, *, required: bool = True) -> None:
    """A new ticket message's or incident update's author is the person writing it: in a
    request (UI, API) the signed-in person, and while viewing as a client the true
    (staff) user, whatever the door put there; outside a request (CLI, jobs) the author
    the caller named, ``required`` for ticket messages (a monitor's own incident updates
    have none)."""
    who = identity.current()
    if who.channel in ("web", "api") and who.true_user_id is not None:
        if message.author_id != who.true_user_id or message.author is None \
                or getattr(message.author, "id", who.true_user_id) != who.true_user_id:
            message.author = session.get(User, who.true_user_id)
        return
    if required and message.author is None and message.author_id is None:
        raise InvalidInput("A message needs its author: the person writing it.", field="author")


def derive(session: Session, new: list, dirty: list) -> None:
    """Derived values of the flush's new and changed rows (``dirty``: the modified ones)."""
    for obj in dirty:
        if isinstance(obj, Client) and sa.inspect(obj).attrs.limit_overrides.history.has_changes():
            _stamp_override(obj)
        elif isinstance(obj, User):
            sessions.on_user_changed(session, obj)  # a new password or a deactivation ends sessions

    for obj in new:
        if isinstance(obj, Ticket):
            client = obj.client or (session.get(Client, obj.client_id) if obj.client_id else None)
            if obj.created_at is None:
                obj.created_at = utcnow()  # the SLA window starts exactly when the row says it opened
            if client is not None and obj.first_response_due_at is None and obj.sla_hours is None:
                tickets.start_clock(obj, client)
            if obj.status is not None and obj.status != "open":
                tickets.on_status_change(obj, "open", obj.status, now=obj.created_at)
        elif isinstance(obj, IncidentUpdate):
            with session.no_autoflush:
                _stamp_author(session, obj, required=False)
        elif isinstance(obj, TicketMessage):
            with session.no_autoflush:
                _stamp_author(session, obj)
            if obj.internal:
                continue
            author, ticket = _message_author_and_ticket(session, obj)
            if author is not None and ticket is not None and tenancy.is_staff_user(author):
                tickets.record_staff_reply(ticket, at=obj.created_at)
                ticket.sla_state = tickets.sla_state(ticket)

    for obj in new + dirty:
        if isinstance(obj, Ticket):
            _check_assignee(session, obj)

    for obj in dirty:
        if isinstance(obj, Ticket):
            hist = sa.inspect(obj).attrs.status.history
            if hist.has_changes() and hist.deleted:
                tickets.on_status_change(obj, hist.deleted[0], obj.status)

    for obj in new + dirty:
        if isinstance(obj, Ticket):
            obj.sla_state = tickets.sla_state(obj)
        elif isinstance(obj, Incident):
            incidents.apply_derived(obj, status_changed=sa.inspect(obj).attrs.status.history.has_changes()
                                    and obj not in session.new)
        elif isinstance(obj, PerformanceMetric):
            obj.grade = performance.grade_metric(obj)
        elif isinstance(obj, Domain) and obj.name:
            obj.name = validation.domain_name(obj.name)
        elif isinstance(obj, TicketMacro):
            ticket_macros.check_body(obj.body)  # every door: no reply goes out with a stray {placeholder}


def notify(session: Session, new: list, dirty: list) -> None:
    """Who is told about the flush's new rows: a public ticket reply tells the other side."""
    for obj in new:
        if isinstance(obj, TicketMessage) and not obj.internal:
            author, ticket = _message_author_and_ticket(session, obj)
            if author is not None and ticket is not None:
                notifications.ticket_reply(session, ticket, obj, author)


def announce(session: Session, flush_context) -> None:
    """``after_flush`` (the new rows have their ids): a ticket a client user opened tells
    the Operators, a ticket handed to someone tells them (``notifications``)."""
    tickets_ = [o for o in (*session.new, *session.dirty) if isinstance(o, Ticket)]
    if not tickets_:
        return
    actor_id = tenancy.current_scope().user_id
    news = []
    for ticket in tickets_:
        state = sa.inspect(ticket)
        if ticket in session.new and ticket.opened_by_id is not None:
            opener = session.get(User, ticket.opened_by_id)
            if opener is not None and not tenancy.is_staff_user(opener):
                news.append(lambda connection, t=ticket, who=opener: notifications.ticket_opened(connection, t, who))
        if ticket.assignee_id is not None and (state.attrs.assignee_id.history.has_changes()
                                               or state.attrs.assignee.history.has_changes()):
            assignee = session.get(User, ticket.assignee_id)
            news.append(lambda connection, t=ticket, who=assignee: notifications.ticket_assigned(
                connection, t, who, actor_id))
    if news:
        tenancy.apply_database_scope(session, tenancy.SYSTEM)  # the agency's alerts, as notify's outbox rows
        connection = session.connection()
        for tell in news:
            tell(connection)


def _message_author_and_ticket(session: Session, message: TicketMessage):
    author = message.author or (session.get(User, message.author_id) if message.author_id else None)
    ticket = message.ticket or (session.get(Ticket, message.ticket_id) if message.ticket_id else None)
    return author, ticket
