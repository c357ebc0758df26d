"""Audit events can be redacted (GDPR erasure) and still verify

- ``audit_events.redacted`` (false) and ``personal_digest`` (empty until redacted).
- The chain's hash formula changes (``app.services.audit``): ``hash = SHA-256("<seq>|
  <prev_hash>|<content digest>")``, the content digest covering the public fields and
  the digest of the personal ones (changes, details, ip, user agent). So an erasure can
  rewrite the personal fields, keep their old digest and leave the chain verifiable.
  Existing events are re-hashed here, in ``seq`` order, each one's old hash checked
  first: if the chain is already broken, re-hashing stops at the first broken event and
  everything from there keeps its old hash, so ``flask audit verify`` still names that
  event (a migration never blesses a tampered log).
- PostgreSQL: the statement trigger lets an UPDATE through only while the transaction
  set ``atrium.audit_redaction`` (``services.audit.redact``); a new row trigger then
  refuses any change but the personal fields, ``redacted`` (to true), the personal
  digest (set once) and ``updated_at``; an UPDATE policy admits staff transactions in
  that mode only (without one, row-level security hides every row from an UPDATE).

The two hash formulas are frozen here on purpose: a migration describes its own day.

Revision ID: b8c9d0e1f2a3
Revises: a7b8c9d0e1f2
Create Date: 2026-11-24 10:00:00
"""
import datetime as dt
import hashlib
import json
import logging

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = 'b8c9d0e1f2a3'
down_revision = 'a7b8c9d0e1f2'
branch_labels = None
depends_on = None

log = logging.getLogger('alembic.runtime.migration')

IS_STAFF = "coalesce(current_setting('atrium.staff', true), '') = 'on'"
PRUNING = "coalesce(current_setting('atrium.audit_prune', true), '') = 'on'"
REDACTING = "coalesce(current_setting('atrium.audit_redaction', true), '') = 'on'"

OLD_STATEMENT_FUNCTION = f"""
CREATE OR REPLACE FUNCTION atrium_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND {PRUNING} THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$
"""

STATEMENT_FUNCTION = f"""
CREATE OR REPLACE FUNCTION atrium_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND {PRUNING} THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' AND {REDACTING} THEN
        RETURN NULL;  -- checked row by row by atrium_audit_redaction_only
    END IF;
    RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$
"""

KEPT = ("id", "seq", "occurred_at", "action", "resource_type", "resource_id", "client_id", "actor_id",
        "true_user_id", "impersonation_session_id", "channel", "request_id", "staff_only", "prev_hash", "hash",
        "created_at")
_new, _old = ", ".join(f"NEW.{c}" for c in KEPT), ", ".join(f"OLD.{c}" for c in KEPT)
ROW_FUNCTION = f"""
CREATE OR REPLACE FUNCTION atrium_audit_redaction_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT ({REDACTING}) THEN
        RETURN NEW;  -- not a redaction: the statement trigger has refused it already
    END IF;
    IF ROW({_new}) IS DISTINCT FROM ROW({_old})
       OR NOT NEW.redacted OR NEW.personal_digest IS NULL
       OR (OLD.personal_digest IS NOT NULL AND NEW.personal_digest IS DISTINCT FROM OLD.personal_digest) THEN
        RAISE EXCEPTION 'audit_events: a redaction may change only changes, details, ip and user_agent'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$
"""

# --------------------------------------------------------------------------- the two formulas

_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
OLD_KEYS = ("seq", "occurred_at", "action", "resource_type", "resource_id", "client_id", "actor_id",
            "true_user_id", "impersonation_session_id", "channel", "ip", "user_agent", "request_id",
            "changes", "details", "staff_only", "prev_hash")
PUBLIC = ("occurred_at", "action", "resource_type", "resource_id", "client_id", "actor_id", "true_user_id",
          "impersonation_session_id", "channel", "request_id", "staff_only")
PERSONAL = ("changes", "details", "ip", "user_agent")


def _timestamp(value):
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _old_hash(row) -> str:
    """Revisions d4a7c9e1f2b3 .. a7b8c9d0e1f2: SHA-256 of the whole event's canonical JSON."""
    content = {k: (_timestamp(row["occurred_at"]) if k == "occurred_at" else row[k]) for k in OLD_KEYS}
    content["staff_only"] = bool(content["staff_only"])
    return hashlib.sha256(_encode(content).encode()).hexdigest()


def _new_hash(row) -> str:
    """From this revision: position, previous hash and content digest (see the docstring)."""
    personal = row.get("personal_digest") if row.get("redacted") else None
    if personal is None:
        personal = hashlib.sha256(_encode([row[k] for k in PERSONAL]).encode()).hexdigest()
    values = [_timestamp(row["occurred_at"]), *[row[k] for k in PUBLIC[1:-1]], bool(row["staff_only"]), personal]
    digest = hashlib.sha256(_encode(values).encode()).hexdigest()
    return hashlib.sha256(f"{row['seq']}|{row['prev_hash'] or ''}|{digest}".encode()).hexdigest()


def _events_table(with_redaction: bool):
    json_type = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')
    columns = [sa.column('id', sa.Integer), sa.column('seq', sa.BigInteger),
               sa.column('occurred_at', sa.DateTime(timezone=True)), sa.column('action', sa.String),
               sa.column('resource_type', sa.String), sa.column('resource_id', sa.String),
               sa.column('client_id', sa.Integer), sa.column('actor_id', sa.Integer),
               sa.column('true_user_id', sa.Integer), sa.column('impersonation_session_id', sa.Integer),
               sa.column('channel', sa.String), sa.column('ip', sa.String), sa.column('user_agent', sa.String),
               sa.column('request_id', sa.String), sa.column('changes', json_type), sa.column('details', json_type),
               sa.column('staff_only', sa.Boolean), sa.column('prev_hash', sa.String), sa.column('hash', sa.String)]
    if with_redaction:
        columns += [sa.column('redacted', sa.Boolean), sa.column('personal_digest', sa.String)]
    return sa.table('audit_events', *columns)


def _rehash(bind, checked_with, hashed_with, with_redaction: bool, batch: int = 5000) -> None:
    """Re-hash the chain in ``seq`` order with ``hashed_with``, checking each event with
    ``checked_with`` first; stop at the first event that does not check out."""
    events = _events_table(with_redaction)
    head = sa.table('audit_chain_head', sa.column('id'), sa.column('seq'), sa.column('hash'),
                    sa.column('prev_hash'))
    checkpoints = {(d or {}).get('last_pruned_hash') for d in bind.execute(
        sa.select(events.c.details).where(events.c.action == 'audit.checkpoint')).scalars()}
    update = (sa.update(events).where(events.c.id == sa.bindparam('_id'))
              .values(hash=sa.bindparam('_hash'), prev_hash=sa.bindparam('_prev')))
    old_prev = new_prev = expected_seq = None
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
                intact = row['prev_hash'] is None or row['prev_hash'] in checkpoints
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
            prev = row['prev_hash'] if new_prev is None else new_prev  # the first keeps a pruned event's hash
            row['prev_hash'] = prev
            before, new_prev = new_prev, hashed_with(row)
            changes.append({'_id': row['id'], '_hash': new_prev, '_prev': prev})
            count += 1
            last_pair = (before, new_prev)
        bind.execute(update, changes)
    if count:
        bind.execute(sa.update(head).where(head.c.id == 1).values(hash=last_pair[1], prev_hash=last_pair[0]))
    log.info("audit chain re-hashed: %s events", count)


def _unguarded(bind):
    """PostgreSQL: the append-only trigger and the forced row-level security off for this
    migration's own updates (the table owner runs migrations); back on afterwards."""
    op.execute('DROP TRIGGER IF EXISTS atrium_audit_append_only ON audit_events')
    op.execute('DROP TRIGGER IF EXISTS atrium_audit_redaction_only ON audit_events')
    op.execute('ALTER TABLE audit_events NO FORCE ROW LEVEL SECURITY')


def _guarded(statement_function: str, with_row_trigger: bool):
    op.execute('ALTER TABLE audit_events FORCE ROW LEVEL SECURITY')
    op.execute(statement_function)
    op.execute('CREATE TRIGGER atrium_audit_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events '
               'FOR EACH STATEMENT EXECUTE FUNCTION atrium_audit_append_only()')
    if with_row_trigger:
        op.execute(ROW_FUNCTION)
        op.execute('CREATE TRIGGER atrium_audit_redaction_only BEFORE UPDATE ON audit_events '
                   'FOR EACH ROW EXECUTE FUNCTION atrium_audit_redaction_only()')


def upgrade():
    with op.batch_alter_table('audit_events') as batch:
        batch.add_column(sa.Column('redacted', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column('personal_digest', sa.String(length=64), nullable=True))
    bind = op.get_bind()
    postgres = bind.dialect.name == 'postgresql'
    if postgres:
        _unguarded(bind)
    _rehash(bind, checked_with=_old_hash, hashed_with=_new_hash, with_redaction=False)
    if postgres:
        _guarded(STATEMENT_FUNCTION, with_row_trigger=True)
        op.execute(f'CREATE POLICY atrium_audit_redact ON audit_events FOR UPDATE '
                   f'USING ({IS_STAFF} AND {REDACTING}) WITH CHECK ({IS_STAFF} AND {REDACTING})')


def downgrade():
    """Back to one hash over the whole event. Redacted events are hashed as they now read
    (the erasure stays; only its marker goes)."""
    bind = op.get_bind()
    postgres = bind.dialect.name == 'postgresql'
    if postgres:
        op.execute('DROP POLICY IF EXISTS atrium_audit_redact ON audit_events')
        _unguarded(bind)
        op.execute('DROP FUNCTION IF EXISTS atrium_audit_redaction_only()')
    _rehash(bind, checked_with=_new_hash, hashed_with=_old_hash, with_redaction=True)
    if postgres:
        _guarded(OLD_STATEMENT_FUNCTION, with_row_trigger=False)
    with op.batch_alter_table('audit_events') as batch:
        batch.drop_column('personal_digest')
        batch.drop_column('redacted')
