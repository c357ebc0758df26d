"""The audit trail (SPEC §6): captured below the doors, append-only, hash-chained.

This module captures and appends (and prunes); how an event is hashed and the chain is
read back (``verify``, ``redact``, ``rehash``) is ``services.audit_chain``; the CSV
format every export shares is ``services.exports``.

Capture
- Every flush of an audited model (``after_flush``) writes one event per created,
  updated or deleted row with its per-field ``[old, new]`` values; secrets are masked
  (``***``) and bookkeeping columns are left out. UI, API, CLI and jobs all flush
  through the session, so none of them can skip it. Bulk statements run through the
  session (``session.execute(update(Model)...)``) are captured as one event each with
  the rows affected and the values set.
- Events that are not row changes are written with ``record()``: logins (the username
  tried, never the password), logout, impersonation start/end, exports, permission
  denials, limit overrides, jobs triggered by a person.
- Identities come from ``services.identity``: actor, true user (the staff member while
  impersonating), impersonation session, channel, IP, user agent, request id.

Chain
- Every event stores ``seq`` (1, 2, 3 ...), the previous event's hash and its own:
  ``hash = HMAC-SHA256(AUDIT_HMAC_KEY, "<seq>|<prev_hash>|<content digest>")``. The key
  is a setting, never stored in the database: whoever has the database but not the key
  (its owner, a superuser) cannot write an event that verifies. The content digest is
  the SHA-256 of the canonical JSON of the event's public fields (time, action,
  resource, client, actor, true user, session, channel, request id, staff-only) plus the
  *personal digest*, the SHA-256 of its personal fields (``changes``, ``details``,
  ``ip``, ``user_agent``): those are what a GDPR erasure may have to rewrite.
  Appenders are serialised on the one row of ``audit_chain_head``, which holds the last
  ``seq`` and hash; it carries no tenant data, so a client user's transaction chains
  onto the true head, not onto the last event it may read. An append locks the head
  (on PostgreSQL through ``atrium_audit_lock_head()``: the app role may only read the
  head), hashes in Python and inserts; on PostgreSQL the insert trigger refuses a row
  that does not follow the head and moves the head (migration ``3a7f9c2e5b14``).
- ``verify()`` checks every event's keyed hash and link, the head row against the last
  event, and a signed checkpoint (``services.audit_checkpoints``), and names the
  problem: tail truncated, re-hashed, forged append, forged erasure, changed or missing.
- Redaction (GDPR erasure, ``services.gdpr``): ``redact()`` rewrites the personal fields
  of named events, marks them ``redacted`` and stores their personal digest as it was,
  so the chain still verifies; the public fields of a redacted event are still
  recomputed. The caller appends a ``gdpr.erase`` event listing the redacted event ids
  in the same transaction; ``verify()`` fails on a redacted event that no later
  ``gdpr.erase`` event names, so flagging an event by hand is itself detected. On
  PostgreSQL the append-only trigger lets an UPDATE through only while the transaction
  set ``atrium.audit_redaction``, and a row trigger then refuses any change but the
  personal fields, the flag, the digest (set once) and ``updated_at`` (migration
  ``b8c9d0e1f2a3``).
- ``prune(before)`` deletes events older than a date and appends a ``audit.checkpoint``
  event recording the last pruned hash, so the remaining chain still verifies.
- PostgreSQL refuses UPDATE and DELETE on ``audit_events`` (a trigger, migration
  ``d4a7c9e1f2b3``); ``prune`` alone may delete, by setting ``atrium.audit_prune`` for
  its own transaction, and it leaves a checkpoint in the chain. The app role holds no
  UPDATE, DELETE or TRUNCATE on the table at all (``services.db_roles``): ``prune``,
  ``redact`` and ``rehash`` run as the owner role (``DATABASE_OWNER_URL``).

What clients see: events of their own client that are not ``staff_only`` (internal
ticket messages, changes to internal notes only), through the same tenant scoping as
every other table. The per-field changes are staff-only on screen.
"""

from __future__ import annotations

import datetime as dt
from contextvars import ContextVar

import sqlalchemy as sa
from flask_appbuilder.models.sqla import Model
from sqlalchemy.orm import Session

from app.models import Client, ClientMember, User
from app.models.audit import AuditChainHead, AuditEvent
from app.models.base import utcnow
from app.services import identity as identity_service
from app.services.audit_chain import chain_hash, content_digest, hmac_key
from app.services.secrets import MASK, is_secret
from app.services.values import plain
from app.switches import switched

# Bookkeeping columns: never worth an event on their own.
IGNORED_FIELDS = frozenset({"created_at", "updated_at", "changed_on", "created_on", "changed_by_fk",
                            "created_by_fk", "last_login", "login_count", "fail_login_count"})
# Fields clients never see; an update touching only these is a staff-only event.
STAFF_ONLY_FIELDS = frozenset({"internal_notes", "hosting_monthly_cost", "assignee_id"})
# Telemetry and the audit tables themselves are not audited row by row; nor are a staff
# page's presence pings (every 10 s), alerts read or written (the change they report is)
# and a person's own display timezone.
NOT_AUDITED = frozenset({"AuditEvent", "AuditChainHead", "ImpersonationSession", "UserSession", "MonitorCheck",
                         "JobRun", "TicketPresence", "StaffAlert", "UserPreference"})

# On unless ``disabled()`` turned it off in this context.
_capture: ContextVar[bool] = ContextVar("atrium_audit_capture", default=True)

# --------------------------------------------------------------------------- values


def _masked(field: str, value):
    if value is not None and is_secret(field):
        return MASK
    return plain(value)


# What the content digest covers: the public fields in this order, then the personal digest.


# --------------------------------------------------------------------------- writing


def _event(session, action: str, *, resource_type=None, resource_id=None, client_id=None, changes=None,
           details=None, staff_only=False, who: identity_service.Identity | None = None) -> dict:
    who = identity_service.resolved(session, who)
    return {
        "occurred_at": utcnow(), "action": action, "resource_type": resource_type,
        "resource_id": None if resource_id is None else str(resource_id),
        "client_id": client_id, "actor_id": who.actor_id, "true_user_id": who.true_user_id,
        "impersonation_session_id": who.impersonation_session_id, "channel": who.channel,
        "ip": who.ip, "user_agent": who.user_agent, "request_id": who.request_id,
        "changes": plain(changes) if changes else None, "details": plain(details) if details else None,
        "staff_only": bool(staff_only),
    }


def _append(session: Session, rows: list[dict]) -> None:
    """Chain ``rows`` onto the head and insert them, in the session's transaction.

    The head row is locked first (``SELECT ... FOR UPDATE``; on PostgreSQL through
    ``atrium_audit_lock_head()``, a SECURITY DEFINER function of the owner role, since the
    app role may only read the head), the keyed hashes are computed here (the key never
    reaches the database), and the rows are inserted. On PostgreSQL the insert trigger
    ``atrium_audit_chain_insert`` (migration ``c0d1e2f3a4b5``) refuses a row that does not
    follow the head and moves the head itself; on SQLite the head is moved here."""
    if not rows:
        return
    for row in rows:
        row.setdefault("created_at", row["occurred_at"])
        row.setdefault("updated_at", row["occurred_at"])
        row.setdefault("redacted", False)
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        head = connection.execute(sa.text("SELECT seq, hash FROM atrium_audit_lock_head()")).first()
    else:
        head = connection.execute(
            sa.select(AuditChainHead.seq, AuditChainHead.hash).where(AuditChainHead.id == 1).with_for_update()
        ).first()
    empty = head is None or head.seq is None
    seq, prev = (0, None) if empty else (head.seq, head.hash)
    key = hmac_key()
    for row in rows:
        seq += 1
        row["seq"], row["prev_hash"] = seq, prev
        row["hash"] = prev = chain_hash(seq, prev, content_digest(row), key)
    # ``inline()`` and no RETURNING: the id comes from the sequence inside the INSERT, and a
    # client user's transaction may append (RLS lets every transaction INSERT into the log
    # but read back only its own client's events).
    connection.execute(sa.insert(AuditEvent.__table__).inline(), rows)
    if postgres:
        return  # the insert trigger moved the head
    new_head = {"seq": seq, "hash": prev, "prev_hash": rows[-1]["prev_hash"]}
    if empty:
        connection.execute(sa.insert(AuditChainHead.__table__), [{"id": 1, **new_head}])
    else:
        connection.execute(sa.update(AuditChainHead.__table__).where(AuditChainHead.id == 1).values(**new_head))


def record(session: Session, action: str, *, commit: bool = False, **fields) -> None:
    """Write one event that is not a row change (login, export, denial ...)."""
    if not _capture.get():
        return
    _append(session, [_event(session, action, **fields)])
    if commit:
        session.commit()


# --------------------------------------------------------------------------- ORM capture


def _audited_class(cls) -> bool:
    if cls.__name__ in NOT_AUDITED:
        return False
    return cls.__module__.startswith("app.models") or cls.__name__ == "User"


def _audited(obj) -> bool:
    """Atrium's own models and FAB's users (password and role changes); not FAB's
    permission tables, which ``flask roles sync`` rewrites wholesale."""
    return _audited_class(type(obj))


def _client_of(connection, obj):
    if isinstance(obj, Client):
        return obj.id
    if isinstance(obj, User):
        return connection.execute(sa.select(ClientMember.client_id).where(ClientMember.user_id == obj.id)
                                  ).scalar_one_or_none()
    return getattr(obj, "client_id", None)


def _column_values(obj, mapper) -> dict:
    return {attr.key: _masked(attr.key, getattr(obj, attr.key, None))
            for attr in mapper.column_attrs if attr.key not in IGNORED_FIELDS and attr.key != "id"}


def _row_changes(obj, mapper) -> dict:
    state = sa.inspect(obj)
    changes = {}
    for attr in mapper.column_attrs:
        if attr.key in IGNORED_FIELDS:
            continue
        history = state.attrs[attr.key].history
        if history.has_changes():
            old = history.deleted[0] if history.deleted else None
            new = history.added[0] if history.added else None
            if old != new:
                changes[attr.key] = [_masked(attr.key, old), _masked(attr.key, new)]
    for rel in mapper.relationships:  # role changes of a user, a project's team
        if rel.direction.name == "MANYTOMANY" and rel.key in state.dict:
            history = state.attrs[rel.key].history
            if history.has_changes():
                before = [*history.unchanged, *history.deleted]
                after = [*history.unchanged, *history.added]
                changes[rel.key] = [sorted(str(x) for x in before), sorted(str(x) for x in after)]
    return changes


def _action_for_user_change(changes: dict) -> str:
    if "password" in changes:
        return "user.password_changed"
    if "roles" in changes:
        return "user.roles_changed"
    return "update"


def capture_flush(session: Session, flush_context) -> None:
    """``after_flush`` (the pipeline's last step): one event per changed audited row."""
    if not _capture.get():
        return
    connection = session.connection()
    rows = []
    for operation, objects in (("create", session.new), ("update", session.dirty), ("delete", session.deleted)):
        for obj in objects:
            if not _audited(obj):
                continue
            mapper = sa.inspect(type(obj))
            if operation == "update":
                if not session.is_modified(obj):
                    continue
                changes = _row_changes(obj, mapper)
                if not changes:
                    continue
            else:
                values = _column_values(obj, mapper)
                changes = {k: [None, v] if operation == "create" else [v, None]
                           for k, v in values.items() if v is not None}
            name = type(obj).__name__
            action = _action_for_user_change(changes) if (name == "User" and operation == "update") else operation
            staff_only = bool(getattr(obj, "internal", False)) or (
                operation == "update" and set(changes) <= STAFF_ONLY_FIELDS)
            rows.append(_event(session, action, resource_type=name, resource_id=obj.id,
                               client_id=_client_of(connection, obj), changes=changes, staff_only=staff_only))
            if name == "Client" and "limit_overrides" in changes:
                rows.append(_event(session, "limit_override.set", resource_type=name, resource_id=obj.id,
                                   client_id=obj.id, details={"overrides": changes["limit_overrides"][1]},
                                   staff_only=True))
    _append(session, rows)


def capture_statement(state) -> None:
    """``do_orm_execute``: a bulk INSERT/UPDATE/DELETE through the session is one event,
    recorded after it ran."""
    if not _capture.get() or not (state.is_insert or state.is_update or state.is_delete):
        return None
    if state.execution_options.get("atrium_audit_skip"):
        return None
    mapper = state.bind_mapper
    if mapper is None or not _audited_class(mapper.class_):
        return None
    result = state.invoke_statement()
    action = "bulk_create" if state.is_insert else ("bulk_update" if state.is_update else "bulk_delete")
    params = state.parameters
    rows = getattr(result, "rowcount", None)
    details = {"rows": len(params) if rows is None and isinstance(params, list) else rows}
    if state.is_update:
        # The SET values: in the parameters, or bound in the statement under the column's
        # own name (WHERE parameters get a numbered name such as ``client_id_1``).
        columns = set(mapper.columns.keys())
        bound = state.statement.compile().params
        values = {k: v for k, v in bound.items() if k in columns and k not in IGNORED_FIELDS}
        values.update(params if isinstance(params, dict) else {})
        details["values"] = {k: _masked(k, v) for k, v in values.items()}
    record(state.session, action, resource_type=mapper.class_.__name__, details=details,
           staff_only=True)
    return result


def _keep_old_value(target, value, oldvalue, initiator):
    return value


def track_old_values() -> None:
    """Make every audited column load its old value before a change ("active history").
    Without it, a change to a row whose attributes expired at a commit (a job or service
    that commits, then edits the same object) would be recorded as ``[None, new]``."""
    sa.orm.configure_mappers()
    for mapper in Model.registry.mappers:
        if not _audited_class(mapper.class_):
            continue
        for prop in mapper.column_attrs:
            attribute = getattr(mapper.class_, prop.key)
            if prop.key not in IGNORED_FIELDS and not sa.event.contains(attribute, "set", _keep_old_value):
                sa.event.listen(attribute, "set", _keep_old_value, active_history=True, retval=True)


def disabled():
    """``with audit.disabled():`` — capture off in this context only (the audit
    benchmark's baseline); other threads and requests still record."""
    return switched(_capture, False)


def prune(session: Session, before: dt.datetime) -> int:
    """Delete events that occurred before ``before``, leaving a checkpoint in the chain."""
    last = session.execute(sa.select(AuditEvent.seq, AuditEvent.hash).where(AuditEvent.occurred_at < before)
                           .order_by(AuditEvent.seq.desc()).limit(1)).first()
    if last is None:
        return 0
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT set_config('atrium.audit_prune', 'on', true)"))
    deleted = connection.execute(sa.delete(AuditEvent.__table__).where(AuditEvent.seq <= last.seq)).rowcount
    record(session, "audit.checkpoint", details={"pruned_through_seq": last.seq, "last_pruned_hash": last.hash,
                                                 "events_pruned": deleted, "before": before}, staff_only=True)
    return deleted


def history(session: Session, resource_type: str, resource_id, limit: int = 50) -> list[AuditEvent]:
    """Events about one record, newest first (scoped like every read)."""
    return list(session.execute(
        sa.select(AuditEvent).where(AuditEvent.resource_type == resource_type,
                                    AuditEvent.resource_id == str(resource_id))
        .order_by(AuditEvent.seq.desc()).limit(limit)).scalars())
