"""Client backups (SPEC §7): one client as a versioned JSON document, and its restore
(the restore itself is ``services.backup_restore``).

What a backup holds (``export_client``)
- The ``clients`` row and every row that belongs to it: the tables reached from
  ``clients`` through NOT NULL foreign keys, found in the SQLAlchemy metadata
  (``owned_tables``), so a new table with a ``client_id`` (or under a project, a ticket,
  a campaign...) is in the next backup without anyone editing a list. That is exactly
  what deleting the client deletes (those keys cascade). Rows that merely mention the
  client through a nullable link and outlive it are not in it: view-as sessions, the
  email outbox and billing events (the agency's records, in the database backup), and
  the audit trail (one chain for the whole install; a restore is itself audited).
- The client's users: the ``ab_user`` rows of its members, password hashes included,
  and Flask-AppBuilder's rows keyed to them (roles, groups, API keys), roles and groups
  by name. **A backup is a secret**: it holds password and API-key hashes and the
  client's data. Files are written ``0600``; keep them where the database dumps are.
- Staff referenced by those rows (project manager, assignee, author of a staff reply,
  project team, who created a user): username, names and email only.
- Stored files: their metadata always (``storage_files`` rows); the bytes only with
  ``with_files`` (base64, checked against each file's SHA-256 on restore). Without
  them, back up ``UPLOAD_DIR`` with the file system. Report PDFs are not included: the
  report job renders them again.
- Values are written by column type (times ISO 8601, money and decimals as strings,
  JSON columns as their JSON text so SQL NULL and JSON ``null`` stay apart), with the
  database's schema revision and a SHA-256 checksum of the content.

Restore (``restore``), one transaction, all or nothing
- Into an empty database (after ``flask db upgrade`` and ``flask roles sync``) or one
  where the client (slug, name) and its users (username, email) do not exist yet;
  otherwise refused before anything is written, naming what collides. Also refused: a
  file that is not a backup, another format version, a checksum that does not match (a
  damaged or edited file), a schema revision newer than the database's, a role the
  database lacks.
- Primary keys are kept where they are free (so a restore into an empty database gives
  back every row equal); a taken id is replaced by a new one above every existing id,
  and every foreign key to it rewritten the same way. PostgreSQL sequences are moved
  past the restored ids. Staff are matched by username; a staff member the database
  lacks is created as an inactive account without roles or usable password (an Admin
  re-activates it deliberately), keeping their id where it is free.
- Rows are written through the session with Core statements (no ORM flush rules run, so
  every value is restored as it was saved) and the restore is recorded as one audit
  event (``backup.restore``) with the rows written per table.

The scheduled job (``workers.maintenance.backups``) calls ``backup_all``: one file per
client under ``BACKUP_DIR/<slug>/``, the newest ``BACKUP_KEEP`` kept.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import hashlib
import json
import os
import secrets
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic.migration import MigrationContext
from flask_appbuilder.models.sqla import Model
from sqlalchemy.orm import Session

from app.errors import AtriumError, InvalidInput, NotFound
from app.models import Client
from app.models.base import utcnow
from app.services import audit, storage
from app import tenancy

FORMAT = "atrium-client-backup"
FORMAT_VERSION = 1
ROOT = "clients"
USERS = "ab_user"
STAFF_FIELDS = ("id", "username", "first_name", "last_name", "email")

_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


# --------------------------------------------------------------------------- the schema


# Reached from ``clients`` but not the client's data: who has a ticket's staff page open
# right now (rewritten every 10 s, gone within a day).
EPHEMERAL = frozenset({"ticket_presence"})


def owned_tables(metadata: sa.MetaData | None = None) -> list[sa.Table]:
    """``clients`` and every table reached from it through NOT NULL foreign keys, in
    foreign-key order (parents first); not the ``EPHEMERAL`` ones."""
    metadata = metadata or Model.metadata
    owned, grew = {ROOT}, True
    while grew:
        grew = False
        for table in metadata.tables.values():
            if table.name not in owned and table.name not in EPHEMERAL and any(
                    not fk.parent.nullable and fk.column.table.name in owned for fk in table.foreign_keys):
                owned.add(table.name)
                grew = True
    return [t for t in metadata.sorted_tables if t.name in owned]


def user_tables(metadata: sa.MetaData | None = None) -> list[sa.Table]:
    """Flask-AppBuilder's tables keyed to one user (``user_id`` to ``ab_user``): roles,
    groups, API keys."""
    metadata = metadata or Model.metadata
    return [t for t in metadata.sorted_tables if t.name != USERS and t.name.startswith("ab_") and any(
        fk.parent.name == "user_id" and fk.column.table.name == USERS for fk in t.foreign_keys)]


def _owning_fk(table: sa.Table, owned: set[str]) -> sa.ForeignKey:
    """The NOT NULL foreign key that makes ``table`` the client's (to ``clients`` when
    there is one: the tenancy column)."""
    candidates = [fk for fk in table.foreign_keys
                  if not fk.parent.nullable and fk.column.table.name in owned and fk.column.table is not table]
    return sorted(candidates, key=lambda fk: (fk.column.table.name != ROOT, fk.parent.name))[0]


def _row_filter(table: sa.Table, client_id: int, owned: set[str]):
    if table.name == ROOT:
        return table.c.id == client_id
    fk = _owning_fk(table, owned)
    parent = fk.column.table
    if parent.name == ROOT and fk.column.name == "id":
        return fk.parent == client_id
    return fk.parent.in_(sa.select(fk.column).where(_row_filter(parent, client_id, owned)))


def is_json_column(column: sa.Column) -> bool:
    kind = column.type
    return isinstance(kind, sa.JSON) or isinstance(getattr(kind, "impl", None), sa.JSON)


def single_id(table: sa.Table) -> bool:
    keys = list(table.primary_key.columns)
    return len(keys) == 1 and keys[0].name == "id" and isinstance(keys[0].type, sa.Integer)


# --------------------------------------------------------------------------- values


def _dump(value):
    """A column value as the backup file keeps it. Not ``audit.plain`` (the one converter
    for what is shown and logged): a backup must restore exactly, so bytes are base64,
    floats stay numbers, and a value of any other type is refused, not turned into text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (bytes, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    raise TypeError(f"cannot back up a value of type {type(value).__name__}")


def loader(column: sa.Column):
    """Turns a backed-up value back into what the column takes."""
    if is_json_column(column):
        return lambda v: v  # JSON text, bound as text (see ``_insert``)
    kind = column.type
    while isinstance(kind, sa.types.TypeDecorator):  # e.g. UTCDateTime: its impl says what it holds
        kind = kind.impl_instance
    try:
        kind = kind.python_type
    except NotImplementedError:
        return lambda v: v
    parse = {dt.datetime: dt.datetime.fromisoformat, dt.date: dt.date.fromisoformat,
             dt.time: dt.time.fromisoformat, decimal.Decimal: decimal.Decimal, bytes: base64.b64decode}.get(kind)
    if parse is None:
        return lambda v: v
    return lambda v: None if v is None else parse(v)


def _read(connection, table: sa.Table, where, columns: tuple[str, ...] | None = None) -> dict:
    """``{"name", "columns", "rows"}`` of ``table`` where ``where``, by primary key."""
    chosen = [table.c[name] for name in columns] if columns else list(table.columns)
    selected = [sa.cast(c, sa.Text).label(c.name) if is_json_column(c) else c for c in chosen]
    order = list(table.primary_key.columns)
    rows = connection.execute(sa.select(*selected).where(where).order_by(*order)).all()
    return {"name": table.name, "columns": [c.name for c in chosen],
            "rows": [[_dump(v) for v in row] for row in rows]}


def section_values(section: dict, column: str) -> list:
    index = section["columns"].index(column)
    return [row[index] for row in section["rows"]]


def checksum(data: dict) -> str:
    return hashlib.sha256(_encode(data).encode()).hexdigest()


# --------------------------------------------------------------------------- export


@contextmanager
def _snapshot(session: Session):
    """A connection that sees one moment of the database (PostgreSQL: a REPEATABLE READ
    transaction of its own, with staff scope for row-level security), so a ticket
    written during the export cannot appear without its messages or the other way round."""

    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        yield session
        return
    with bind.connect() as connection:
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with Session(bind=connection) as snapshot:
            tenancy.apply_database_scope(snapshot, tenancy.SYSTEM)
            yield snapshot
            snapshot.rollback()


def schema_revision(connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def export_client(session: Session, slug: str, *, with_files: bool = False, upload_dir: str | None = None,
                  now: dt.datetime | None = None) -> dict:
    """The backup document of the client ``slug`` (see the module docstring). Not audited
    here: ``write_export`` records it once the file is written."""
    tenancy.require_staff("Backups are made and restored")
    metadata = Model.metadata
    tables = owned_tables(metadata)
    owned = {t.name for t in tables}
    users_table = metadata.tables[USERS]
    with _snapshot(session) as snap:
        clients = metadata.tables[ROOT]
        client_id = snap.execute(sa.select(clients.c.id).where(clients.c.slug == slug)).scalar_one_or_none()
        if client_id is None:
            raise NotFound(f"No client has the slug {slug!r}.")
        sections, referenced = [], set()
        for table in tables:
            section = _read(snap, table, _row_filter(table, client_id, owned))
            sections.append(section)
            for fk in table.foreign_keys:
                if fk.column.table.name == USERS:
                    referenced.update(v for v in section_values(section, fk.parent.name) if v is not None)
        members = sorted(set(section_values(next(s for s in sections if s["name"] == "client_members"), "user_id")))
        users = _read(snap, users_table, users_table.c.id.in_(members))
        for fk in users_table.foreign_keys:
            referenced.update(v for v in section_values(users, fk.parent.name) if v is not None)
        user_rows, lookups = [], {}
        for table in user_tables(metadata):
            section = _read(snap, table, table.c.user_id.in_(members))
            user_rows.append(section)
            for fk in table.foreign_keys:
                if fk.column.table.name != USERS and fk.column.table.name not in lookups:
                    named = fk.column.table
                    lookups[named.name] = [list(r) for r in snap.execute(sa.select(named.c.id, named.c.name))]
        staff = _read(snap, users_table, users_table.c.id.in_(sorted(referenced - set(members))), STAFF_FIELDS)
        files = _file_contents(next(s for s in sections if s["name"] == "storage_files"), upload_dir) \
            if with_files else []
        revision = schema_revision(snap.connection())
    data = {"tables": sections, "users": users, "user_tables": user_rows, "lookups": lookups,
            "staff": staff, "files": files}
    return {"format": FORMAT, "format_version": FORMAT_VERSION,
            "exported_at": (now or utcnow()).isoformat(), "schema_revision": revision, "client": slug,
            "with_files": bool(with_files), "checksum": checksum(data), "data": data}


def _file_contents(files: dict, upload_dir: str | None) -> list[dict]:
    if not upload_dir:
        raise InvalidInput("UPLOAD_DIR is not set: the files' bytes cannot be read.")
    out = []
    for stored_path, sha in zip(section_values(files, "stored_path"), section_values(files, "sha256")):
        path = storage.path_of(stored_path, upload_dir)
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise InvalidInput(f"Stored file {stored_path} cannot be read ({exc.strerror}); "
                               "export without --with-files, or restore the file first.") from None
        out.append({"stored_path": stored_path, "sha256": sha,
                    "content": base64.b64encode(content).decode()})
    return out


def row_counts(document: dict) -> dict[str, int]:
    data = document["data"]
    counts = {s["name"]: len(s["rows"]) for s in data["tables"]}
    counts[USERS] = len(data["users"]["rows"])
    counts.update({s["name"]: len(s["rows"]) for s in data["user_tables"]})
    return counts


def write_file(document: dict, path: str | Path) -> Path:
    """Write ``document`` to ``path`` atomically, readable by its owner only."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            json.dump(document, out, ensure_ascii=False, separators=(",", ":"))
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path


def write_export(session: Session, slug: str, path: str | Path, *, with_files: bool = False,
                 upload_dir: str | None = None) -> dict:
    """Export ``slug`` into the file ``path`` and record the export (committed)."""
    document = export_client(session, slug, with_files=with_files, upload_dir=upload_dir)
    try:
        written = write_file(document, path)
    except OSError as exc:
        raise InvalidInput(f"The backup cannot be written to {path}: {exc.strerror or exc}.") from None
    counts = row_counts(document)
    client_id = section_values(document["data"]["tables"][0], "id")[0]
    try:
        audit.record(session, "backup.export", resource_type="Client", resource_id=client_id, client_id=client_id,
                     staff_only=True, details={"rows": sum(counts.values()), "tables": counts,
                                               "with_files": bool(with_files), "file": written.name,
                                               "schema_revision": document["schema_revision"]})
        session.commit()
    except BaseException:
        session.rollback()
        written.unlink(missing_ok=True)  # an export that is not on record is not kept
        raise
    return {"path": str(written), "rows": counts, "client_id": client_id}


# --------------------------------------------------------------------------- the weekly job


def backup_all(session: Session, *, backup_dir: str, keep: int, with_files: bool = False,
               upload_dir: str | None = None, now: dt.datetime | None = None) -> dict:
    """One backup per client under ``backup_dir/<slug>/<slug>-<UTC time>.json``, keeping
    the newest ``keep`` of each. A client that fails does not stop the others; the run
    fails afterwards naming them (the files already written stay)."""
    if keep < 1:
        raise InvalidInput("BACKUP_KEEP must be at least 1.")
    now = now or utcnow()
    stamp = now.strftime("%Y%m%dT%H%M%S%fZ")  # sorts by time; two runs never share a name
    slugs = list(session.execute(sa.select(Client.slug).order_by(Client.id)).scalars())
    session.rollback()  # each export reads its own snapshot
    written, pruned, failed = [], 0, []
    for slug in slugs:
        directory = Path(backup_dir) / slug
        try:
            result = write_export(session, slug, directory / f"{slug}-{stamp}.json", with_files=with_files,
                                  upload_dir=upload_dir)
        except AtriumError as exc:
            failed.append(f"{slug}: {exc.message}")
            continue
        written.append(result["path"])
        pruned += prune_backups(directory, slug, keep)
    if failed:
        raise AtriumError(f"Backups failed for {len(failed)} of {len(slugs)} clients: " + "; ".join(failed))
    return {"clients": len(slugs), "written": len(written), "pruned": pruned, "directory": str(backup_dir)}


def prune_backups(directory: Path, slug: str, keep: int) -> int:
    """Delete all but the newest ``keep`` backups of ``slug`` in ``directory``."""
    files = sorted(directory.glob(f"{slug}-*.json"))
    old = files[:-keep] if keep else files
    for path in old:
        path.unlink(missing_ok=True)
    return len(old)
