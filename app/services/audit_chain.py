"""The audit trail's chain (SPEC §6): how an event is hashed, and reading the chain back.

- Every event stores ``seq`` (1, 2, 3 ...), the previous event's hash and its own:
  ``hash = HMAC-SHA256(AUDIT_HMAC_KEY, "<seq>|<prev_hash>|<content digest>")``. The key
  is a setting, never stored in the database: whoever has the database but not the key
  (its owner, a superuser) cannot write an event that verifies. The content digest is
  the SHA-256 of the canonical JSON of the event's public fields plus the *personal
  digest*, the SHA-256 of its personal fields (``changes``, ``details``, ``ip``,
  ``user_agent``): those are what a GDPR erasure may have to rewrite.
- ``verify()`` checks every event's keyed hash and link, the head row against the last
  event, and a signed checkpoint (``services.audit_checkpoints``), and names the
  problem: tail truncated, re-hashed, forged append, forged erasure, changed or missing.
- ``redact()`` rewrites the personal fields of named events for a GDPR erasure (see
  ``services.audit`` for the rules); ``rehash()`` rotates the key.

Appending (and ``prune``) is ``services.audit``'s.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from app.errors import AtriumError
from app.models.audit import AuditChainHead, AuditEvent
from app.models.base import utcnow
from app.services.values import plain

PUBLIC_FIELDS = ("occurred_at", "action", "resource_type", "resource_id", "client_id", "actor_id", "true_user_id",
                 "impersonation_session_id", "channel", "request_id", "staff_only")
# What a GDPR erasure may rewrite (``redact``): the personal digest covers these.
PERSONAL_FIELDS = ("changes", "details", "ip", "user_agent")
_HASHED = ("seq", "prev_hash", *PUBLIC_FIELDS, *PERSONAL_FIELDS)
ERASE_ACTION = "gdpr.erase"

_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def _timestamp(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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


def head_row(session: Session):
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
    head = head_row(session)
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
