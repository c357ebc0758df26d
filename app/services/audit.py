"""The audit trail (SPEC §6): captured below the doors, append-only, hash-chained.

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

import csv
import datetime as dt
import decimal
import enum
import hashlib
import hmac
import io
import json

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.models.audit import AuditChainHead, AuditEvent
from app.models.base import utcnow
from app.services import identity as identity_service
from app.services.secrets import MASK, is_secret

# Bookkeeping columns: never worth an event on their own.
IGNORED_FIELDS = frozenset({"created_at", "updated_at", "changed_on", "created_on", "changed_by_fk",
                            "created_by_fk", "last_login", "login_count", "fail_login_count"})
# Fields clients never see; an update touching only these is a staff-only event.
STAFF_ONLY_FIELDS = frozenset({"internal_notes", "hosting_monthly_cost", "assignee_id"})
# Telemetry and the audit tables themselves are not audited row by row.
NOT_AUDITED = frozenset({"AuditEvent", "AuditChainHead", "ImpersonationSession", "UserSession", "MonitorCheck",
                         "JobRun"})

_registered = False
_enabled = True

# --------------------------------------------------------------------------- values


def plain(value):
    """A JSON value that reads back identically from SQLite JSON and PostgreSQL JSONB."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, float)):
        return str(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [plain(v) for v in value]
    return str(value)


def _masked(field: str, value):
    if value is not None and is_secret(field):
        return MASK
    return plain(value)


def _timestamp(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# What the content digest covers: the public fields in this order, then the personal digest.
PUBLIC_FIELDS = ("occurred_at", "action", "resource_type", "resource_id", "client_id", "actor_id", "true_user_id",
                 "impersonation_session_id", "channel", "request_id", "staff_only")
# What a GDPR erasure may rewrite (``redact``): the personal digest covers these.
PERSONAL_FIELDS = ("changes", "details", "ip", "user_agent")
_HASHED = ("seq", "prev_hash", *PUBLIC_FIELDS, *PERSONAL_FIELDS)
ERASE_ACTION = "gdpr.erase"

_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def personal_digest(row: dict) -> str:
    """SHA-256 of the canonical JSON of the event's personal fields."""
    return hashlib.sha256(_encode([row.get(k) for k in PERSONAL_FIELDS]).encode()).hexdigest()


def content_digest(row: dict, personal: str | None = None) -> str:
    """SHA-256 of the public fields and the personal digest (``personal``: a stored one,
    for a redacted event; else computed from the row)."""
    values = [_timestamp(row["occurred_at"]), row.get("action"), row.get("resource_type"), row.get("resource_id"),
              row.get("client_id"), row.get("actor_id"), row.get("true_user_id"),
              row.get("impersonation_session_id"), row.get("channel"), row.get("request_id"),
              bool(row.get("staff_only")), personal or personal_digest(row)]
    return hashlib.sha256(_encode(values).encode()).hexdigest()


def hmac_key(key: str | bytes | None = None) -> bytes:
    """The chain's HMAC key: ``key``, else the ``AUDIT_HMAC_KEY`` setting. Never stored in
    the database: whoever lacks it cannot write an event that verifies."""
    if key is None:
        from flask import current_app

        key = current_app.config.get("AUDIT_HMAC_KEY")
    if not key:
        raise RuntimeError("AUDIT_HMAC_KEY is not set: the audit chain cannot be written or verified")
    return key.encode() if isinstance(key, str) else key


def chain_hash(seq: int, prev_hash: str | None, digest: str, key: str | bytes | None = None) -> str:
    """The event's hash: HMAC-SHA256, keyed with ``AUDIT_HMAC_KEY``, of its position, the
    previous hash and its content digest."""
    return hmac.new(hmac_key(key), f"{seq}|{prev_hash or ''}|{digest}".encode(), hashlib.sha256).hexdigest()


def compute_hash(row: dict, key: str | bytes | None = None) -> str:
    """The hash ``row`` should carry (a redacted row: over its stored personal digest)."""
    stored = row.get("personal_digest") if row.get("redacted") else None
    return chain_hash(row["seq"], row.get("prev_hash"), content_digest(row, stored), key)


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
    if not _enabled:
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
    from app.models import Client, ClientMember, User

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


def _after_flush(session: Session, flush_context) -> None:
    if not _enabled:
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


def _on_execute(state) -> None:
    """Bulk INSERT/UPDATE/DELETE through the session: one event each, after it ran."""
    if not _enabled or not (state.is_insert or state.is_update or state.is_delete):
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


def _track_old_values() -> None:
    """Make every audited column load its old value before a change ("active history").
    Without it, a change to a row whose attributes expired at a commit (a job or service
    that commits, then edits the same object) would be recorded as ``[None, new]``."""
    from flask_appbuilder.models.sqla import Model

    sa.orm.configure_mappers()
    for mapper in Model.registry.mappers:
        if not _audited_class(mapper.class_):
            continue
        for prop in mapper.column_attrs:
            attribute = getattr(mapper.class_, prop.key)
            if prop.key not in IGNORED_FIELDS and not sa.event.contains(attribute, "set", _keep_old_value):
                sa.event.listen(attribute, "set", _keep_old_value, active_history=True, retval=True)


def register() -> None:
    global _registered
    if not _registered:
        sa.event.listen(Session, "after_flush", _after_flush)
        sa.event.listen(Session, "do_orm_execute", _on_execute)
        _track_old_values()
        _registered = True


class disabled:
    """``with audit.disabled():`` — capture off (the audit benchmark's baseline only)."""

    def __enter__(self):
        global _enabled
        self._before, _enabled = _enabled, False

    def __exit__(self, *exc):
        global _enabled
        _enabled = self._before


# --------------------------------------------------------------------------- reading


_COLUMNS = ("id", "hash", "redacted", "personal_digest", *_HASHED)


def _erasures(session: Session, key: bytes) -> tuple[dict[int, int], dict[int, int]]:
    """Two maps, event id -> ``seq`` of the first ``gdpr.erase`` event naming it as
    redacted: by erase events that verify with the key (written by Atrium), and by those
    that do not (forged)."""
    genuine: dict[int, int] = {}
    forged: dict[int, int] = {}
    columns = [getattr(AuditEvent, k) for k in _COLUMNS]
    for row in session.execute(sa.select(*columns).where(AuditEvent.action == ERASE_ACTION)
                               .order_by(AuditEvent.seq)).mappings():
        named = genuine if compute_hash(dict(row), key) == row["hash"] else forged
        for event_id in (row["details"] or {}).get("redacted_events") or ():
            named.setdefault(event_id, row["seq"])
    return genuine, forged


def _head(session: Session):
    return session.execute(sa.select(AuditChainHead.seq, AuditChainHead.hash).where(AuditChainHead.id == 1)).first()


def verify(session: Session, batch: int = 5000, checkpoint: dict | None = None,
           key: str | bytes | None = None) -> tuple[bool, str, int]:
    """Check the chain, the head row and a signed checkpoint (``services.audit_checkpoints``:
    a dict with ``seq``, ``hash``, ``time``, ``file``): ``(ok, message, events checked)``.

    Every event's hash must be the keyed hash (``AUDIT_HMAC_KEY``) of its position, the
    previous hash and its content, and follow the one before; the last event must be the
    head row's; the checkpoint's event must still carry the hash it signed. The message
    names the problem and the event ``seq``:

    - *tail truncated*: the chain ends before the head row's or the checkpoint's ``seq``;
    - *re-hashed*: events were rewritten and hashed again without the key, so the
      checkpoint's event no longer has the signed hash;
    - *forged append*: the last events are not keyed (written without the key after the
      last checkpoint);
    - *forged erasure*: an event is redacted by a ``gdpr.erase`` event that is not keyed
      (or that erase event itself is not keyed);
    - *content changed*: one event does not match its keyed hash but the next one, which
      is, chains onto it; and missing, reordered or unlinked events.
    """
    key = hmac_key(key)
    columns = [getattr(AuditEvent, k) for k in _COLUMNS]
    pruned = {(d or {}).get("last_pruned_hash"): (d or {}).get("pruned_through_seq") for d in session.execute(
        sa.select(AuditEvent.details).where(AuditEvent.action == "audit.checkpoint")).scalars()}
    genuine, forged = _erasures(session, key)
    signed = None if checkpoint is None else (f"the signed checkpoint of {checkpoint['time']} "
                                              f"(seq {checkpoint['seq']})")
    expected_prev, expected_seq, checked, last_seq = None, None, 0, 0
    first, last = None, None
    first_bad = after_bad = None  # the first event that is not keyed right; the first good one after it
    bad_count, at_checkpoint = 0, None
    broken = None  # a link problem found after ``first_bad``: reported after it
    while broken is None:
        rows = session.execute(sa.select(*columns).where(AuditEvent.seq > last_seq)
                               .order_by(AuditEvent.seq).limit(batch)).mappings().all()
        if not rows:
            break
        for row in rows:
            row = dict(row)
            where = f"event seq {row['seq']} (id {row['id']}, {row['action']})"
            if expected_seq is None:
                if row["prev_hash"] is not None and row["prev_hash"] not in pruned:
                    broken = f"chain broken at {where}: it follows an event that is missing"
            elif row["seq"] != expected_seq:
                broken = f"chain broken at {where}: events {expected_seq}..{row['seq'] - 1} are missing"
            elif row["prev_hash"] != expected_prev:
                broken = f"chain broken at {where}: previous hash does not match"
            if broken is None and row["redacted"] and (row["personal_digest"] is None
                                                       or genuine.get(row["id"], 0) <= row["seq"]):
                if forged.get(row["id"], 0) > row["seq"]:
                    broken = (f"forged erasure at {where}: it is marked redacted by the {ERASE_ACTION} event seq "
                              f"{forged[row['id']]}, whose hash is not keyed with AUDIT_HMAC_KEY "
                              "(not written by Atrium)")
                else:
                    broken = (f"chain broken at {where}: it is marked redacted but no later "
                              f"{ERASE_ACTION} event names it")
            if broken is not None:
                if first_bad is None:
                    return False, broken, checked
                break
            if compute_hash(row, key) != row["hash"]:
                if first_bad is None:
                    first_bad = {"seq": row["seq"], "action": row["action"], "where": where}
                if after_bad is None:
                    bad_count += 1
            elif first_bad is not None and after_bad is None:
                after_bad = row["seq"]
            if checkpoint is not None and row["seq"] == checkpoint["seq"]:
                at_checkpoint = row["hash"]
            first = first or row
            last = row
            expected_prev, expected_seq, last_seq = row["hash"], row["seq"] + 1, row["seq"]
            checked += 1
    if first_bad is not None:
        where, seq = first_bad["where"], first_bad["seq"]
        if after_bad is None and bad_count == checked and checked > 1 and broken is None:
            return False, (f"no event is keyed with this AUDIT_HMAC_KEY (from {where} on): the wrong key, or "
                           "the whole chain was re-hashed without it"), checked
        if first_bad["action"] == ERASE_ACTION:
            return False, (f"forged erasure at {where}: its hash is not keyed with AUDIT_HMAC_KEY, so the "
                           "redactions it names were not written by Atrium"), checked
        if checkpoint is not None and seq <= checkpoint["seq"] and at_checkpoint not in (None, checkpoint["hash"]):
            return False, (f"re-hashed from {where}: events were rewritten and hashed again without "
                           f"AUDIT_HMAC_KEY; event seq {checkpoint['seq']} no longer has the hash {signed} "
                           "recorded"), checked
        if after_bad is not None or (checkpoint is not None and seq <= checkpoint["seq"]):
            return False, f"chain broken at {where}: its content was changed", checked
        after = f" and the {bad_count - 1} after it are" if bad_count > 1 else " is"
        since = f" after {signed}" if checkpoint is not None else ""
        return False, (f"forged append at {where}: it{after} not keyed with AUDIT_HMAC_KEY (written or "
                       f"rewritten without the key{since})"), checked
    if broken is not None:
        return False, broken, checked
    head = _head(session)
    end = last["seq"] if last else 0
    if head is not None and head.seq is not None:
        if head.seq > end:
            return False, (f"tail truncated: the chain ends at event seq {end} but the head row says seq "
                           f"{head.seq} (events {end + 1}..{head.seq} were deleted)"), checked
        if head.seq < end:
            return False, (f"forged append at event seq {head.seq + 1}: events {head.seq + 1}..{end} lie "
                           f"past the head row (seq {head.seq}), written around the chain"), checked
        if last is not None and head.hash != last["hash"]:
            return False, (f"re-hashed at event seq {end}: the head row's hash is not the last event's "
                           "(the end of the chain was rewritten)"), checked
    elif last is not None:
        return False, f"chain broken at event seq {end}: the head row is missing", checked
    if checkpoint is not None:
        if checkpoint["seq"] > end:
            return False, (f"tail truncated: the chain ends at event seq {end} but {signed} recorded seq "
                           f"{checkpoint['seq']} (events {end + 1}..{checkpoint['seq']} were deleted and the "
                           "head row rewound)"), checked
        if at_checkpoint is not None and at_checkpoint != checkpoint["hash"]:
            return False, (f"re-hashed at event seq {checkpoint['seq']}: its hash is not the one {signed} "
                           "recorded"), checked
        if at_checkpoint is None and checkpoint["seq"] > 0 and first is not None and checkpoint["seq"] >= first["seq"]:
            return False, f"chain broken: event seq {checkpoint['seq']} of {signed} is missing", checked
    tail = f"; matches {signed}" if checkpoint is not None else "; no signed checkpoint to compare"
    return True, f"audit chain intact: {checked} events, head seq {end}{tail}", checked


def redact(session: Session, rewrites: dict[int, dict]) -> list[int]:
    """Rewrite the personal fields of events (GDPR erasure): ``rewrites`` maps an event id
    to its new ``changes``/``details``/``ip``/``user_agent`` (keys left out keep their
    value). Each event must verify as it stands (else ``AtriumError`` naming it, nothing
    written); it keeps its personal digest as it was (the one already stored, if it was
    redacted before) and is marked ``redacted``. Returns the ids actually changed; the
    caller appends the ``gdpr.erase`` event naming them in the same transaction."""
    from app.errors import AtriumError

    if not rewrites:
        return []
    table = AuditEvent.__table__
    columns = [table.c.id, table.c.hash, table.c.redacted, table.c.personal_digest, *[table.c[k] for k in _HASHED]]
    updates = []
    ids = sorted(rewrites)
    for start in range(0, len(ids), 1000):
        for row in session.execute(sa.select(*columns).where(table.c.id.in_(ids[start:start + 1000]))).mappings():
            row = dict(row)
            if compute_hash(row) != row["hash"]:
                raise AtriumError(f"The audit trail is broken at event seq {row['seq']} (id {row['id']}): run "
                                  "`flask audit verify`; nothing was erased.")
            new = {k: plain(rewrites[row["id"]].get(k, row[k])) for k in PERSONAL_FIELDS}
            if all(new[k] == row[k] for k in PERSONAL_FIELDS):
                continue
            digest = row["personal_digest"] if row["redacted"] else personal_digest(row)
            updates.append({"_id": row["id"], "_personal_digest": digest, **{f"_{k}": v for k, v in new.items()}})
    if not updates:
        return []
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    if postgres:  # the one UPDATE the append-only triggers let through (migration b8c9d0e1f2a3)
        connection.execute(sa.text("SELECT set_config('atrium.audit_redaction', 'on', true)"))
    rewritten = {k: sa.bindparam(f"_{k}", type_=table.c[k].type) for k in ("personal_digest", *PERSONAL_FIELDS)}
    statement = (sa.update(table).where(table.c.id == sa.bindparam("_id"))
                 .values(redacted=True, updated_at=utcnow(), **rewritten))
    connection.execute(statement, updates)
    if postgres:  # and closed again at once: nothing else in this transaction may update the log
        connection.execute(sa.text("SELECT set_config('atrium.audit_redaction', 'off', true)"))
    return [u["_id"] for u in updates]


def _unguarded(connection, on: bool) -> None:
    """PostgreSQL, the owner role only: the log's user triggers off (``on=False``) for
    this transaction's rewrite of every hash, and back on. Row-level security stays: the
    transaction says it is staff and redacting (the UPDATE policy's condition)."""
    if on:
        connection.execute(sa.text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
        connection.execute(sa.text("SELECT set_config('atrium.audit_redaction', 'off', true)"))
    else:
        connection.execute(sa.text("SELECT set_config('atrium.staff', 'on', true), "
                                   "set_config('atrium.audit_redaction', 'on', true)"))
        connection.execute(sa.text("ALTER TABLE audit_events DISABLE TRIGGER USER"))


def rehash(session: Session, old_key: str | bytes, new_key: str | bytes, batch: int = 5000,
           checkpoint: dict | None = None) -> int:
    """Rotate the HMAC key: every event, in ``seq`` order, hashed again with ``new_key``
    (and the head row moved), after the whole chain verified with ``old_key``. Needs the
    owner role on PostgreSQL (``flask audit rekey``). Returns the events re-hashed; the
    caller commits and writes a new signed checkpoint (the chain no longer matches the
    earlier ones: verify reads only the newest)."""
    from app.errors import AtriumError

    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    if postgres:  # no append between the check and the re-hash (reads go on)
        connection.execute(sa.text("LOCK TABLE audit_events IN SHARE ROW EXCLUSIVE MODE"))
    ok, message, _ = verify(session, batch=batch, key=old_key, checkpoint=checkpoint)
    if not ok:
        raise AtriumError(f"The chain does not verify with the old key, nothing was re-hashed: {message}")
    new_key = hmac_key(new_key)
    if postgres:
        _unguarded(connection, on=False)
    table = AuditEvent.__table__
    columns = [table.c[k] for k in _COLUMNS]
    update = (sa.update(table).where(table.c.id == sa.bindparam("_id"))
              .values(hash=sa.bindparam("_hash"), prev_hash=sa.bindparam("_prev")))
    last_seq, prev, count, pair = 0, None, 0, None
    while True:
        rows = connection.execute(sa.select(*columns).where(table.c.seq > last_seq).order_by(table.c.seq)
                                  .limit(batch)).mappings().all()
        if not rows:
            break
        changes = []
        for row in rows:
            row = dict(row)
            row["prev_hash"] = row["prev_hash"] if count == 0 else prev  # the first keeps a pruned event's hash
            before, prev = row["prev_hash"], compute_hash(row, new_key)
            changes.append({"_id": row["id"], "_hash": prev, "_prev": before})
            pair, last_seq, count = (before, prev), row["seq"], count + 1
        connection.execute(update, changes)
    if pair is not None:
        connection.execute(sa.update(AuditChainHead.__table__).where(AuditChainHead.id == 1)
                           .values(hash=pair[1], prev_hash=pair[0]))
    if postgres:
        _unguarded(connection, on=True)
    return count


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


# --------------------------------------------------------------------------- exports

# The audit log's CSV columns (``AuditEventView.export_columns``): the list's, plus who
# and from where, the per-field changes and the hash.
CSV_COLUMNS = ("seq", "occurred_at", "action", "resource_type", "resource_id", "client_id", "actor_id",
               "true_user_id", "impersonation_session_id", "channel", "ip", "request_id", "changes", "details",
               "redacted", "hash")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _spreadsheet_safe(value):
    """Text a spreadsheet would run as a formula is prefixed with an apostrophe."""
    if isinstance(value, str) and value[:1] in FORMULA_STARTS:
        return "'" + value
    return value


def csv_cell(field: str, value) -> str:
    """One value of an export as CSV text, the same way for every export (SPEC §6):
    secrets masked by field name (as in the audit trail), times as ISO 8601 UTC to the
    second, dates ISO, yes/no, JSON documents, numbers as they are, and any text that a
    spreadsheet would run as a formula (= + - @, tab, CR) prefixed with an apostrophe."""
    if value is None:
        return ""
    if is_secret(field):
        return MASK
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float, decimal.Decimal)):
        return str(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        value = json.dumps(plain(value), sort_keys=True, ensure_ascii=False)
    return _spreadsheet_safe(str(value))


def csv_stream(header, rows, batch: int = 500):
    """CSV text in chunks of ``batch`` rows: the header, then each row of ``rows`` (an
    iterable of already converted cells, see ``csv_cell``), without holding them all."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_spreadsheet_safe(str(h)) for h in header])
    pending = 0
    for row in rows:
        writer.writerow(row)
        pending += 1
        if pending >= batch:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
            pending = 0
    yield out.getvalue()


def record_export(session: Session, resource_type: str, *, rows: int, action: str = "export",
                  client_id: int | None = None, details: dict | None = None, commit: bool = True) -> None:
    """The audit event of an export (SPEC §6): what was exported and how many rows, by
    whom (the identity of the request, the true user while viewing as someone)."""
    record(session, action, commit=commit, resource_type=resource_type, client_id=client_id,
           details={"rows": rows, **(details or {})})
