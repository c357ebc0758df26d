"""Audit chain keyed with HMAC; appends only through the chain head (issue 15, item 3)

- The chain's hash becomes ``HMAC-SHA256(AUDIT_HMAC_KEY, "<seq>|<prev_hash>|<content
  digest>")`` (``app.services.audit``); the key is a setting, never stored in the
  database. Existing events are re-hashed here with the configured key, in ``seq``
  order, each one's SHA-256 hash (revision b8c9d0e1f2a3's formula) checked first: a chain
  already broken keeps its old hashes from the first broken event on, so ``flask audit
  verify`` still names that event (a migration never blesses a tampered log).
- PostgreSQL: ``atrium_audit_chain_insert``, a BEFORE INSERT row trigger running as the
  owner (SECURITY DEFINER), refuses an event that does not follow the head row (``seq``
  = head + 1, ``prev_hash`` = head's hash) and moves the head itself; and
  ``atrium_audit_lock_head()`` (SECURITY DEFINER) locks and returns the head, so the app
  role, which may only read ``audit_chain_head``, can chain onto it. The grants that make
  the app role append-only are ``app.services.db_roles`` (applied after every upgrade).

Revision ID: 3a7f9c2e5b14
Revises: c1d2e3f4a5b6
Create Date: 2026-12-07 09:30:00
"""
import datetime as dt
import hashlib
import hmac
import json
import logging

import sqlalchemy as sa
from alembic import op
from flask import current_app
from sqlalchemy.dialects import postgresql

revision = '3a7f9c2e5b14'
down_revision = 'c1d2e3f4a5b6'
branch_labels = None
depends_on = None

log = logging.getLogger('alembic.runtime.migration')

LOCK_HEAD = """
CREATE OR REPLACE FUNCTION atrium_audit_lock_head(OUT seq bigint, OUT hash varchar)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT h.seq, h.hash FROM public.audit_chain_head h WHERE h.id = 1 FOR UPDATE
$$
"""

CHAIN_INSERT = """
CREATE OR REPLACE FUNCTION atrium_audit_chain_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    head record;
BEGIN
    SELECT h.seq, h.hash INTO head FROM public.audit_chain_head h WHERE h.id = 1 FOR UPDATE;
    IF NOT FOUND THEN
        IF NEW.seq IS DISTINCT FROM 1 OR NEW.prev_hash IS NOT NULL THEN
            RAISE EXCEPTION 'audit_events: the first event must have seq 1 and no previous hash'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        INSERT INTO public.audit_chain_head (id, seq, hash, prev_hash) VALUES (1, NEW.seq, NEW.hash, NULL);
        RETURN NEW;
    END IF;
    IF NEW.seq IS DISTINCT FROM head.seq + 1 OR NEW.prev_hash IS DISTINCT FROM head.hash THEN
        RAISE EXCEPTION 'audit_events: an event must follow the chain head (seq %, got seq %)', head.seq + 1, NEW.seq
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    UPDATE public.audit_chain_head SET seq = NEW.seq, hash = NEW.hash, prev_hash = NEW.prev_hash WHERE id = 1;
    RETURN NEW;
END;
$$
"""

# --------------------------------------------------------------------------- the two formulas (frozen)

_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
PUBLIC = ("occurred_at", "action", "resource_type", "resource_id", "client_id", "actor_id", "true_user_id",
          "impersonation_session_id", "channel", "request_id", "staff_only")
PERSONAL = ("changes", "details", "ip", "user_agent")


def _timestamp(value):
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _link(row) -> str:
    personal = row.get("personal_digest") if row.get("redacted") else None
    if personal is None:
        personal = hashlib.sha256(_encode([row[k] for k in PERSONAL]).encode()).hexdigest()
    values = [_timestamp(row["occurred_at"]), *[row[k] for k in PUBLIC[1:-1]], bool(row["staff_only"]), personal]
    digest = hashlib.sha256(_encode(values).encode()).hexdigest()
    return f"{row['seq']}|{row['prev_hash'] or ''}|{digest}"


def _sha256(row) -> str:
    """Revision b8c9d0e1f2a3: unkeyed SHA-256."""
    return hashlib.sha256(_link(row).encode()).hexdigest()


def _keyed(key: bytes):
    def hashed(row) -> str:
        return hmac.new(key, _link(row).encode(), hashlib.sha256).hexdigest()
    return hashed


def _events():
    json_type = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')
    return sa.table(
        'audit_events', sa.column('id', sa.Integer), sa.column('seq', sa.BigInteger),
        sa.column('occurred_at', sa.DateTime(timezone=True)), sa.column('action', sa.String),
        sa.column('resource_type', sa.String), sa.column('resource_id', sa.String),
        sa.column('client_id', sa.Integer), sa.column('actor_id', sa.Integer), sa.column('true_user_id', sa.Integer),
        sa.column('impersonation_session_id', sa.Integer), sa.column('channel', sa.String),
        sa.column('ip', sa.String), sa.column('user_agent', sa.String), sa.column('request_id', sa.String),
        sa.column('changes', json_type), sa.column('details', json_type), sa.column('staff_only', sa.Boolean),
        sa.column('prev_hash', sa.String), sa.column('hash', sa.String), sa.column('redacted', sa.Boolean),
        sa.column('personal_digest', sa.String))


def _rehash(bind, checked_with, hashed_with, batch: int = 5000) -> None:
    """Re-hash in ``seq`` order with ``hashed_with``, each event checked with ``checked_with``
    first; stop at the first event that does not check out (it keeps its hash)."""
    events = _events()
    head = sa.table('audit_chain_head', sa.column('id'), sa.column('seq'), sa.column('hash'), sa.column('prev_hash'))
    pruned = {(d or {}).get('last_pruned_hash') for d in bind.execute(
        sa.select(events.c.details).where(events.c.action == 'audit.checkpoint')).scalars()}
    update = (sa.update(events).where(events.c.id == sa.bindparam('_id'))
              .values(hash=sa.bindparam('_hash'), prev_hash=sa.bindparam('_prev')))
    old_prev = new_prev = expected_seq = last_pair = None
    last_seq, count = 0, 0
    while True:
        rows = bind.execute(sa.select(events).where(events.c.seq > last_seq).order_by(events.c.seq)
                            .limit(batch)).mappings().all()
        if not rows:
            break
        changes = []
        for row in rows:
            row = dict(row)
            if expected_seq is None:
                intact = row['prev_hash'] is None or row['prev_hash'] in pruned
            else:
                intact = row['seq'] == expected_seq and row['prev_hash'] == old_prev
            intact = intact and checked_with(row) == row['hash']
            if not intact:
                if changes:
                    bind.execute(update, changes)
                log.warning("audit chain already broken at event seq %s (id %s) before this migration: events "
                            "from there keep their hashes, so `flask audit verify` still names it",
                            row['seq'], row['id'])
                return
            old_prev, expected_seq, last_seq = row['hash'], row['seq'] + 1, row['seq']
            prev = row['prev_hash'] if new_prev is None else new_prev
            row['prev_hash'] = prev
            new_prev = hashed_with(row)
            changes.append({'_id': row['id'], '_hash': new_prev, '_prev': prev})
            count += 1
            last_pair = (prev, new_prev)
        bind.execute(update, changes)
    if count:
        bind.execute(sa.update(head).where(head.c.id == 1).values(hash=last_pair[1], prev_hash=last_pair[0]))
    log.info("audit chain re-hashed: %s events", count)


def _key() -> bytes:
    key = current_app.config.get('AUDIT_HMAC_KEY')
    if not key:
        raise RuntimeError('AUDIT_HMAC_KEY is not set: the audit chain cannot be re-hashed')
    return key.encode()


def _guarded(on: bool) -> None:
    """PostgreSQL, the owner: the log's triggers off for this migration's own updates, with
    the settings the UPDATE policy asks for; back on afterwards."""
    if on:
        op.execute('ALTER TABLE audit_events ENABLE TRIGGER USER')
        op.execute("SELECT set_config('atrium.audit_redaction', 'off', true)")
    else:
        op.execute("SELECT set_config('atrium.staff', 'on', true), set_config('atrium.audit_redaction', 'on', true)")
        op.execute('ALTER TABLE audit_events DISABLE TRIGGER USER')


def upgrade():
    bind = op.get_bind()
    postgres = bind.dialect.name == 'postgresql'
    if postgres:
        _guarded(False)
    _rehash(bind, checked_with=_sha256, hashed_with=_keyed(_key()))
    if postgres:
        _guarded(True)
        op.execute(LOCK_HEAD)
        op.execute(CHAIN_INSERT)
        op.execute('CREATE TRIGGER atrium_audit_chain_insert BEFORE INSERT ON audit_events '
                   'FOR EACH ROW EXECUTE FUNCTION atrium_audit_chain_insert()')


def downgrade():
    bind = op.get_bind()
    postgres = bind.dialect.name == 'postgresql'
    if postgres:
        op.execute('DROP TRIGGER IF EXISTS atrium_audit_chain_insert ON audit_events')
        op.execute('DROP FUNCTION IF EXISTS atrium_audit_chain_insert()')
        op.execute('DROP FUNCTION IF EXISTS atrium_audit_lock_head()')
        _guarded(False)
    _rehash(bind, checked_with=_keyed(_key()), hashed_with=_sha256)
    if postgres:
        _guarded(True)
