"""An audit trail that survives its own database owner (issue 15, item 3).

Each tamper the attack found is done the way the attacker did it: as the app's own
database role where that role could do it before, and as a superuser (``postgres``) who
has the database but not ``AUDIT_HMAC_KEY``; ``flask audit verify`` must then exit 1
naming the tamper and the event. On SQLite (no roles) the same rewrites are plain SQL.
Before this change the app role owned the tables and hashes were unkeyed SHA-256: every
rewrite below verified, and every refusal below was allowed.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from app import models as m
from app.extensions import db
from app.services import audit, audit_chain
from tests.conftest import run_cli

pytestmark = pytest.mark.both_backends

EVENTS = m.AuditEvent.__table__
HEAD = m.AuditChainHead.__table__


# --------------------------------------------------------------------------- helpers


def _touch(n: int) -> None:
    """``n`` ordinary audited changes, through the ORM as the app would make them."""
    project = db.session.execute(sa.select(m.Project).order_by(m.Project.id).limit(1)).scalar_one()
    for i in range(n):
        project.description = f"edit {i} at {dt.datetime.now(dt.UTC).isoformat()}"
        db.session.commit()


def _verify(app):
    db.session.remove()
    return run_cli(app, "audit", "verify")


def _checkpoint(app) -> int:
    result = run_cli(app, "audit", "checkpoint")
    assert result.exit_code == 0, result.output
    return int(re.search(r"event seq (\d+)", result.output).group(1))


@contextmanager
def _superuser(backend):
    """A transaction of someone who has the whole database but not the key: PostgreSQL's
    superuser with every user trigger of the log off; SQLite: the file itself."""
    if backend.kind == "postgresql":
        engine = sa.create_engine(db.engine.url.set(username="postgres"), poolclass=sa.pool.NullPool)
        with engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
            yield conn
            conn.execute(sa.text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
        engine.dispose()
    else:
        with db.engine.begin() as conn:
            yield conn


@contextmanager
def _app_role():
    """A transaction of the app's own database role (DATABASE_URL), saying it is staff."""
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT set_config('atrium.staff', 'on', true)"))
        yield conn


def _rows(conn, since: int = 0) -> list[dict]:
    return [dict(r) for r in conn.execute(sa.select(EVENTS).where(EVENTS.c.seq > since)
                                          .order_by(EVENTS.c.seq)).mappings()]


def _unkeyed(row: dict) -> str:
    """The chain hash anyone with the database can compute without the key (the formula
    before this change: SHA-256 of position, previous hash and content digest)."""
    digest = audit_chain.content_digest(row, row.get("personal_digest") if row.get("redacted") else None)
    return hashlib.sha256(f"{row['seq']}|{row['prev_hash'] or ''}|{digest}".encode()).hexdigest()


def _append_unkeyed(conn, action: str = "update", details=None, staff_only=False) -> int:
    """Append one event that follows the head exactly, hashed without the key."""
    head = conn.execute(sa.select(HEAD.c.seq, HEAD.c.hash).where(HEAD.c.id == 1)).one()
    now = dt.datetime.now(dt.UTC)
    row = {"seq": head.seq + 1, "prev_hash": head.hash, "occurred_at": now, "created_at": now, "updated_at": now,
           "action": action, "resource_type": "Project", "resource_id": "1", "client_id": None, "actor_id": 1,
           "true_user_id": 1, "impersonation_session_id": None, "channel": "web", "ip": "10.0.0.66",
           "user_agent": "forger", "request_id": "forged", "changes": None, "details": details,
           "staff_only": staff_only, "redacted": False, "personal_digest": None}
    row["hash"] = _unkeyed(row)
    conn.execute(sa.insert(EVENTS), row)
    if conn.dialect.name != "postgresql" or conn.engine.url.username == "postgres":
        # The insert trigger moves the head on PostgreSQL (when it is on); by hand otherwise.
        conn.execute(sa.update(HEAD).where(HEAD.c.id == 1).values(seq=row["seq"], hash=row["hash"],
                                                                  prev_hash=row["prev_hash"]))
    return row["seq"]


# --------------------------------------------------------------------------- the app role


@pytest.mark.postgres_only
def test_the_app_role_cannot_lift_the_guards_or_rewrite_the_log(app, backend):
    """What the attack did as the app role (then the tables' owner) is refused now."""
    victim = db.session.execute(sa.select(m.AuditEvent.id).order_by(m.AuditEvent.seq).limit(1)).scalar_one()
    refused = {
        "ALTER TABLE audit_events NO FORCE ROW LEVEL SECURITY": "must be owner",
        "ALTER TABLE audit_events DISABLE ROW LEVEL SECURITY": "must be owner",
        "ALTER TABLE audit_events DISABLE TRIGGER USER": "must be owner",
        "ALTER TABLE audit_events DISABLE TRIGGER atrium_audit_append_only": "must be owner",
        "DROP TRIGGER atrium_audit_chain_insert ON audit_events": "must be owner",
        "DROP POLICY atrium_audit_read ON audit_events": "must be owner",
        "SET ROLE atrium_owner": "permission denied",
        "TRUNCATE audit_events": "permission denied",
        # the switches: set, they still give the app role no DELETE or UPDATE
        "SELECT set_config('atrium.audit_prune', 'on', true); DELETE FROM audit_events "
        "WHERE seq > (SELECT max(seq) - 3 FROM audit_events)": "permission denied for table audit_events",
        "SELECT set_config('atrium.audit_redaction', 'on', true); UPDATE audit_events "
        f"SET details = '{{}}', redacted = true WHERE id = {victim}": "permission denied for table audit_events",
        # the head: read-only for the app role, so it cannot be rewound or moved
        "UPDATE audit_chain_head SET seq = seq - 3": "permission denied for table audit_chain_head",
        "DELETE FROM audit_chain_head": "permission denied for table audit_chain_head",
        # an insert that does not follow the head is refused by the chain trigger
        "INSERT INTO audit_events (seq, occurred_at, action, staff_only, hash, created_at, updated_at) "
        "VALUES (1, now(), 'update', false, 'x', now(), now())": "must follow the chain head",
    }
    for statement, message in refused.items():
        with _app_role() as conn:
            raw = conn.connection.driver_connection
            with pytest.raises(Exception, match=message):
                for part in statement.split("; "):
                    raw.execute(part)
            conn.rollback()
    result = _verify(app)
    assert result.exit_code == 0 and "audit chain intact" in result.output, result.output
    assert "warning" not in result.output


@pytest.mark.postgres_only
def test_verify_warns_when_the_app_runs_as_the_owner(app, backend):
    """The old setup (the app's role owns the tables) is named, not silently accepted."""
    from tests.conftest import make_app, pg_owner_url

    as_owner = make_app(pg_owner_url(app.config["SQLALCHEMY_DATABASE_URI"]))
    with as_owner.app_context():
        result = run_cli(as_owner, "audit", "verify")
        db.session.remove()
        db.engine.dispose()
    assert result.exit_code == 0 and "warning: the app's database role atrium_owner owns audit_events" in result.output


# --------------------------------------------------------------------------- tail truncation


@pytest.mark.parametrize("rewind_head", [False, True])
def test_tail_truncation_is_named(app, backend, rewind_head):
    """The last events deleted: the head row still says where the chain ended; with the
    head rewound too, the signed checkpoint does."""
    _touch(2)
    signed_seq = _checkpoint(app)
    _touch(2)
    cut = signed_seq - 1 if rewind_head else signed_seq + 1  # the events after ``cut`` go
    with _superuser(backend) as conn:
        if backend.kind == "postgresql":
            conn.execute(sa.text("SELECT set_config('atrium.audit_prune', 'on', true)"))
        conn.execute(sa.delete(EVENTS).where(EVENTS.c.seq > cut))
        if rewind_head:
            last = conn.execute(sa.select(EVENTS.c.seq, EVENTS.c.hash, EVENTS.c.prev_hash)
                                .where(EVENTS.c.seq == cut)).one()
            conn.execute(sa.update(HEAD).values(seq=last.seq, hash=last.hash, prev_hash=last.prev_hash))
    result = _verify(app)
    assert result.exit_code == 1
    assert "tail truncated" in result.output and f"ends at event seq {cut}" in result.output, result.output
    if rewind_head:
        assert "signed checkpoint" in result.output and f"recorded seq {signed_seq}" in result.output
    else:
        assert f"head row says seq {signed_seq + 2}" in result.output


# --------------------------------------------------------------------------- re-hashing


def test_an_edited_and_rehashed_chain_is_named(app, backend):
    """An event changed, it and every later one hashed again (without the key) and the
    head moved: each link checks out, but not the key, nor the signed checkpoint."""
    _touch(3)
    signed_seq = _checkpoint(app)
    _touch(2)
    victim_seq = signed_seq - 3
    with _superuser(backend) as conn:
        if backend.kind == "postgresql":
            conn.execute(sa.text("SELECT set_config('atrium.audit_redaction', 'on', true)"))
        prev = None
        for row in _rows(conn, since=victim_seq - 1):
            if row["seq"] == victim_seq:
                row["actor_id"] = 424242
            if prev is not None:
                row["prev_hash"] = prev
            prev = row["hash"] = _unkeyed(row)
            conn.execute(sa.update(EVENTS).where(EVENTS.c.id == row["id"])
                         .values(actor_id=row["actor_id"], prev_hash=row["prev_hash"], hash=row["hash"]))
        conn.execute(sa.update(HEAD).values(hash=prev, prev_hash=row["prev_hash"]))
    result = _verify(app)
    assert result.exit_code == 1
    assert f"re-hashed from event seq {victim_seq} " in result.output, result.output
    assert f"event seq {signed_seq} no longer has the hash the signed checkpoint" in result.output


def test_a_changed_event_left_with_its_hash_is_named(app, backend):
    """Changed in place, hashes untouched: named as changed, not as anything else."""
    _touch(2)
    _checkpoint(app)
    victim = db.session.execute(sa.select(m.AuditEvent.id, m.AuditEvent.seq).where(m.AuditEvent.action == "create")
                                .order_by(m.AuditEvent.seq).limit(1)).one()
    with _superuser(backend) as conn:
        conn.execute(sa.update(EVENTS).where(EVENTS.c.id == victim.id).values(ip="10.6.6.6"))
    result = _verify(app)
    assert result.exit_code == 1
    assert f"event seq {victim.seq} (id {victim.id}" in result.output and "content was changed" in result.output


# --------------------------------------------------------------------------- forged appends


@pytest.mark.parametrize("who", ["app role", "superuser"])
def test_a_forged_append_is_named(app, backend, who):
    """An event inserted through the chain (right seq, right previous hash, head moved)
    with a hash computed without the key."""
    if who == "app role":
        _touch(1)
    signed_seq = _checkpoint(app)
    with (_app_role() if who == "app role" else _superuser(backend)) as conn:
        forged = _append_unkeyed(conn)
    assert forged == signed_seq + 1
    result = _verify(app)
    assert result.exit_code == 1
    assert f"forged append at event seq {forged} " in result.output, result.output
    assert "not keyed with AUDIT_HMAC_KEY" in result.output and "checkpoint of" in result.output
    refused = run_cli(app, "audit", "checkpoint")  # and a forged chain is never signed
    assert refused.exit_code == 1 and "Not signing" in refused.output and f"seq {forged}" in refused.output


@pytest.mark.postgres_only
def test_on_postgresql_the_app_role_cannot_append_around_the_chain(app, backend):
    """An event out of line (a seq past the head, or the head's seq again) is refused."""
    with _app_role() as conn:
        head = conn.execute(sa.select(HEAD.c.seq, HEAD.c.hash)).one()
    for seq, prev in ((head.seq + 5, head.hash), (head.seq + 1, "0" * 64)):
        with pytest.raises(sa.exc.DBAPIError, match="must follow the chain head"), _app_role() as conn:
            now = dt.datetime.now(dt.UTC)
            conn.execute(sa.insert(EVENTS), {"seq": seq, "prev_hash": prev, "occurred_at": now, "action": "x",
                                             "staff_only": False, "hash": "f" * 64, "created_at": now,
                                             "updated_at": now})
    assert _verify(app).exit_code == 0


# --------------------------------------------------------------------------- forged erasures


def test_a_forged_erasure_by_the_superuser_is_named(app, backend):
    """An event's personal fields rewritten in redaction mode, flagged with its true digest
    (so its own hash still holds), and a gdpr.erase naming it appended without the key."""
    victim = db.session.execute(sa.select(m.AuditEvent).where(m.AuditEvent.action == "create",
                                                              m.AuditEvent.resource_type == "Project")
                                .order_by(m.AuditEvent.seq).limit(1)).scalar_one()
    victim_id, victim_seq = victim.id, victim.seq
    true_digest = audit_chain.personal_digest({k: getattr(victim, k) for k in audit_chain.PERSONAL_FIELDS})
    db.session.rollback()
    with _superuser(backend) as conn:
        if backend.kind == "postgresql":
            conn.execute(sa.text("SELECT set_config('atrium.audit_redaction', 'on', true)"))
        conn.execute(sa.update(EVENTS).where(EVENTS.c.id == victim_id).values(
            changes={"name": [None, "[erased]"]}, redacted=True, personal_digest=true_digest))
        erase_seq = _append_unkeyed(conn, action=audit_chain.ERASE_ACTION, staff_only=True,
                                    details={"user_id": 1, "redacted_events": [victim_id], "rows": {}})
    result = _verify(app)
    assert result.exit_code == 1
    assert f"forged erasure at event seq {victim_seq} (id {victim_id}" in result.output, result.output
    assert f"gdpr.erase event seq {erase_seq}" in result.output and "not keyed" in result.output


@pytest.mark.postgres_only
def test_a_forged_erasure_by_the_app_role_is_named(app, backend):
    """The app role may not redact (no UPDATE on the log), and a gdpr.erase it appends
    without the key is named."""
    victim = db.session.execute(sa.select(m.AuditEvent.id).order_by(m.AuditEvent.seq).limit(1)).scalar_one()
    with pytest.raises(sa.exc.DBAPIError, match="permission denied for table audit_events"), _app_role() as conn:
        conn.execute(sa.text("SELECT set_config('atrium.audit_redaction', 'on', true)"))
        conn.execute(sa.update(EVENTS).where(EVENTS.c.id == victim).values(ip=None, redacted=True))
    with _app_role() as conn:
        erase_seq = _append_unkeyed(conn, action=audit_chain.ERASE_ACTION, staff_only=True,
                                    details={"user_id": 1, "redacted_events": [victim], "rows": {}})
    result = _verify(app)
    assert result.exit_code == 1
    assert f"forged erasure at event seq {erase_seq} " in result.output and "not keyed" in result.output, \
        result.output


def test_a_real_erasure_still_verifies_and_is_the_owners(app, backend):
    """``flask gdpr erase`` redacts as the owner role; the chain and a new checkpoint verify."""
    result = run_cli(app, "gdpr", "erase", "--user", "viewer@pro-co.example", "--yes")
    assert result.exit_code == 0 and "audit events redacted" in result.output, result.output
    signed_seq = _checkpoint(app)
    verified = _verify(app)
    assert verified.exit_code == 0 and f"head seq {signed_seq}; matches the signed checkpoint" in verified.output


# --------------------------------------------------------------------------- checkpoints and keys


def test_checkpoints_are_signed_files_and_a_forged_one_is_refused(app, backend, tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

    first = _checkpoint(app)
    ran = run_cli(app, "jobs", "run", "maintenance.audit_checkpoint")  # the hourly job, run now
    assert ran.exit_code == 0 and "succeeded" in ran.output, ran.output
    files = sorted(Path(app.config["AUDIT_CHECKPOINT_DIR"]).glob("checkpoint-*.json"))
    assert len(files) == 2
    document = json.loads(files[-1].read_text())
    head = db.session.execute(sa.select(HEAD.c.seq, HEAD.c.hash)).one()
    assert (document["seq"], document["hash"]) == (head.seq, head.hash) and head.seq >= first
    public = run_cli(app, "audit", "public-key").output.strip()
    assert document["public_key"] == public
    signed = json.dumps({k: document[k] for k in ("time", "seq", "hash", "public_key")}, sort_keys=True,
                        separators=(",", ":")).encode()
    Ed25519PublicKey.from_public_bytes(base64.b64decode(public)).verify(base64.b64decode(document["signature"]),
                                                                        signed)
    assert _verify(app).exit_code == 0

    # A newer checkpoint that claims less (to hide a truncation), with the signature kept: refused.
    lying = dict(document, seq=1, time="2999-01-01T00:00:00.000000Z")
    (files[0].parent / "checkpoint-29990101T000000000000Z-seq1.json").write_text(json.dumps(lying))
    result = _verify(app)
    assert result.exit_code == 1 and "signature does not verify" in result.output, result.output
    # ... or signed with a key of its own
    other = Ed25519PrivateKey.generate()
    from app.services import audit_checkpoints

    lying["public_key"] = audit_checkpoints.public_text(other)
    lying["signature"] = base64.b64encode(other.sign(json.dumps(
        {k: lying[k] for k in ("time", "seq", "hash", "public_key")}, sort_keys=True,
        separators=(",", ":")).encode())).decode()
    (files[0].parent / "checkpoint-29990101T000000000000Z-seq1.json").write_text(json.dumps(lying))
    result = _verify(app)
    assert result.exit_code == 1 and "signed by a key that is neither" in result.output, result.output


def test_an_old_checkpoint_copied_under_a_newer_name_does_not_hide_a_truncation(app, backend):
    """The newest checkpoint is the newest signed time, not the newest file name."""
    _touch(1)
    _checkpoint(app)
    directory = Path(app.config["AUDIT_CHECKPOINT_DIR"])
    old_file = sorted(directory.glob("checkpoint-*.json"))[-1]
    _touch(2)
    signed_seq = _checkpoint(app)
    old = json.loads(old_file.read_text())
    (directory / f"checkpoint-29990101T000000000000Z-seq{old['seq']}.json").write_text(old_file.read_text())
    with _superuser(backend) as conn:  # the last two events deleted, the head rewound onto the old checkpoint
        conn.execute(sa.delete(EVENTS).where(EVENTS.c.seq > old["seq"]))
        conn.execute(sa.update(HEAD).values(seq=old["seq"], hash=old["hash"]))
    result = _verify(app)
    assert result.exit_code == 1
    assert "tail truncated" in result.output and f"recorded seq {signed_seq}" in result.output, result.output


def test_rotating_the_hmac_key_rehashes_and_the_old_key_no_longer_verifies(app, backend):
    _checkpoint(app)
    old = app.config["AUDIT_HMAC_KEY"]
    app.config.update(AUDIT_HMAC_KEY="a-new-audit-key-of-at-least-32-characters", AUDIT_HMAC_OLD_KEY=old)
    result = run_cli(app, "audit", "rekey", "--yes")
    assert result.exit_code == 0 and "Re-hashed" in result.output, result.output
    verified = _verify(app)
    assert verified.exit_code == 0 and "matches the signed checkpoint" in verified.output, verified.output
    _touch(1)  # the app goes on appending with the new key
    assert _verify(app).exit_code == 0
    app.config.update(AUDIT_HMAC_KEY=old)
    wrong = _verify(app)
    assert wrong.exit_code == 1 and "no event is keyed with this AUDIT_HMAC_KEY" in wrong.output, wrong.output


def test_production_refuses_to_start_without_the_audit_keys(monkeypatch, production_environment):
    from config import load_config

    for name in ("AUDIT_HMAC_KEY", "AUDIT_SIGNING_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError) as refused:
        load_config("production")
    assert "AUDIT_HMAC_KEY is not set" in str(refused.value) and "AUDIT_SIGNING_KEY is not set" in str(refused.value)
    monkeypatch.setenv("AUDIT_HMAC_KEY", "short")
    with pytest.raises(RuntimeError, match="AUDIT_HMAC_KEY must be at least 32 characters"):
        load_config("production")
    monkeypatch.setenv("AUDIT_HMAC_KEY", "k" * 32)
    monkeypatch.setenv("AUDIT_SIGNING_KEY", base64.b64encode(b"s" * 32).decode())
    assert load_config("production")["AUDIT_HMAC_KEY"] == "k" * 32


@pytest.mark.postgres_only
def test_erasure_without_the_owner_url_is_refused_by_the_database_and_changes_nothing(app, backend):
    """As the app role alone, ``flask gdpr erase`` cannot redact the log: it exits 1 naming
    the setting, and the whole erasure is rolled back."""
    app.config["DATABASE_OWNER_URL"] = None
    result = run_cli(app, "gdpr", "erase", "--user", "viewer@pro-co.example", "--yes")
    assert result.exit_code == 1, result.output
    assert "permission denied for table audit_events" in result.output and "Set DATABASE_OWNER_URL" in result.output
    db.session.remove()
    assert db.session.execute(sa.select(m.User.username).where(m.User.email == "viewer@pro-co.example")
                              ).scalar_one() == "pro-co-viewer"
    assert _verify(app).exit_code == 0


def test_pruning_as_the_owner_after_a_checkpoint_still_verifies(app, backend):
    """Retention deletes the signed event too; the prune's own event carries the chain on."""
    from app.services import db_roles

    signed_seq = _checkpoint(app)
    with db_roles.as_owner(db):
        assert audit.prune(db.session, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)) == signed_seq
        db.session.commit()
    result = _verify(app)
    assert result.exit_code == 0 and f"head seq {signed_seq + 1}" in result.output, result.output
    assert run_cli(app, "audit", "checkpoint").exit_code == 0
