"""Derived values kept true on every write, whatever the door (UI, API, CLI, jobs).

One ``before_flush`` listener calls the services that own each rule:
- tenancy: child rows get ``client_id`` from their parent;
- tickets: SLA clock started on open, paused/resumed on status change, first public
  staff reply recorded, SLA state recomputed;
- incidents: resolution time and downtime minutes;
- performance metrics: the grade;
- domains: the name normalised to lower-case IDNA.
Nothing is typed in for these fields.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.models import (
    TENANT_MODELS,
    Client, Domain, Incident, PerformanceMetric, Ticket, TicketMessage, User,
)
from app.services import incidents, performance, tenancy, tickets, validation

_registered = False


def _client_id_of(connection, obj):
    """The client of ``obj``: its own column, its ``client`` relationship, or its parent's."""
    if getattr(obj, "client_id", None) is not None:
        return obj.client_id
    client = obj.__dict__.get("client")
    if client is not None and client.id is not None:
        return client.id
    return _parent_client_id(connection, obj)


def _parent_client_id(connection, obj):
    attr = getattr(type(obj), "__tenant_parent__", None)
    if attr is None:
        return None
    parent = obj.__dict__.get(attr)
    if parent is not None:
        return _client_id_of(connection, parent)
    rel = sa.inspect(type(obj)).relationships[attr]
    fk_value = getattr(obj, next(iter(rel.local_columns)).key)
    if fk_value is None:
        return None
    parent_cls = rel.mapper.class_
    return connection.execute(
        sa.select(parent_cls.client_id).where(parent_cls.id == fk_value)
    ).scalar_one_or_none()


def _stamp_client(mapper, connection, target) -> None:
    """Child rows take their parent's client; parents are already written at this point."""
    client_id = _parent_client_id(connection, target)
    if client_id is not None:
        target.client_id = client_id


def _before_flush(session: Session, flush_context, instances) -> None:
    new = list(session.new)
    dirty = [o for o in session.dirty if session.is_modified(o, include_collections=False)]

    for obj in new:
        if isinstance(obj, Ticket):
            client = obj.client or (session.get(Client, obj.client_id) if obj.client_id else None)
            if client is not None and obj.first_response_due_at is None and obj.sla_hours is None:
                tickets.start_clock(obj, client)
            if obj.status is not None and obj.status != "open":
                tickets.on_status_change(obj, "open", obj.status, now=obj.created_at)
        elif isinstance(obj, TicketMessage) and not obj.internal:
            author = obj.author or (session.get(User, obj.author_id) if obj.author_id else None)
            ticket = obj.ticket or (session.get(Ticket, obj.ticket_id) if obj.ticket_id else None)
            if author is not None and ticket is not None and tenancy.is_staff_user(author):
                tickets.record_staff_reply(ticket, at=obj.created_at)
                ticket.sla_state = tickets.sla_state(ticket)

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


def register() -> None:
    global _registered
    if not _registered:
        sa.event.listen(Session, "before_flush", _before_flush)
        for model in TENANT_MODELS:
            if hasattr(model, "__tenant_parent__"):
                sa.event.listen(model, "before_insert", _stamp_client)
                sa.event.listen(model, "before_update", _stamp_client)
        _registered = True
