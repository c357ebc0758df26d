"""Restoring a client backup (``services.backup`` writes them; its docstring describes
the file): ``read_document`` checks a file, ``restore`` puts a client back into a
database migrated to the backup's schema revision, in one transaction, giving taken ids
new ones and keeping every reference, or writes nothing."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import hashlib
import json
from pathlib import Path

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask_appbuilder.models.sqla import Model
from sqlalchemy.orm import Session

from app.errors import AtriumError, InvalidInput
from app.services import audit, storage
from app import tenancy
from app.services.backup import (
    FORMAT,
    FORMAT_VERSION,
    ROOT,
    USERS,
    checksum,
    is_json_column,
    loader,
    owned_tables,
    schema_revision,
    section_values,
    single_id,
)
from app.services.passwords import unusable_password

# --------------------------------------------------------------------------- restore


def read_document(raw: bytes | str, source: str = "the file") -> dict:
    """Parse and check a backup file's content; ``InvalidInput`` says what is wrong."""
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{source} is not an Atrium backup: it is not readable JSON ({exc}).") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise InvalidInput(f"{source} is not an Atrium client backup (no \"format\": \"{FORMAT}\").")
    version = document.get("format_version")
    if version != FORMAT_VERSION:
        raise InvalidInput(f"{source} is backup format version {version!r}; this Atrium reads version "
                           f"{FORMAT_VERSION}.")
    data = document.get("data")
    if not isinstance(data, dict) or document.get("checksum") != checksum(data):
        raise InvalidInput(f"{source} is damaged or was edited: its checksum does not match its content.")
    return document


class _Restore:
    """One restore's state: the target's tables, the id maps, what was written."""

    def __init__(self, session: Session, document: dict, source: str):
        self.session, self.document, self.source = session, document, source
        self.data = document["data"]
        self.metadata = Model.metadata
        self.owned = {t.name for t in owned_tables(self.metadata)}
        self.ids: dict[str, dict] = {}  # table -> {backed-up id: id here}
        self.counts: dict[str, int] = {}
        self.remapped: dict[str, int] = {}
        self.staff_created: list[str] = []
        self.postgres = session.get_bind().dialect.name == "postgresql"

    # ------------------------------------------------------------------ checks

    def table(self, name: str) -> sa.Table:
        table = self.metadata.tables.get(name)
        if table is None:
            raise InvalidInput(f"{self.source} holds a table {name!r} this Atrium does not have.")
        return table

    def check_columns(self, section: dict) -> None:
        table = self.table(section["name"])
        unknown = [c for c in section["columns"] if c not in table.c]
        if unknown:
            raise InvalidInput(f"{self.source}: table {table.name} has columns this database lacks: "
                               f"{', '.join(unknown)}.")
        for column in table.columns:
            if column.name not in section["columns"] and not (
                    column.nullable or column.default is not None or column.server_default is not None):
                raise InvalidInput(f"{self.source} has no values for {table.name}.{column.name}, which this "
                                   "database requires.")

    def check_revision(self, migrations_dir: str) -> None:
        revision = self.document.get("schema_revision")
        current = schema_revision(self.session.connection())
        if current is None:
            raise InvalidInput("This database has no schema yet: run `flask db upgrade` first.")
        if revision == current:
            return
        script = ScriptDirectory(migrations_dir)
        try:
            script.get_revision(revision)
        except Exception:  # noqa: BLE001 - alembic raises several kinds for an unknown id
            raise InvalidInput(f"{self.source} was made by a newer Atrium (schema revision {revision!r} is "
                               "unknown here): upgrade Atrium first.") from None
        if revision not in {r.revision for r in script.iterate_revisions(current, "base")}:
            raise InvalidInput(f"{self.source} has schema revision {revision}, newer than this database's "
                               f"({current}): run `flask db upgrade` first.")

    def check_collisions(self) -> None:
        clients = self.table(ROOT)
        section = self.data["tables"][0]
        row = dict(zip(section["columns"], section["rows"][0]))
        found = self.session.execute(sa.select(clients.c.id, clients.c.slug, clients.c.name).where(
            sa.or_(clients.c.slug == row["slug"], clients.c.name == row["name"]))).first()
        if found is not None:
            raise InvalidInput(f"A client {found.name!r} (slug {found.slug!r}, id {found.id}) already exists here: "
                               "a restore only creates a client that is not there yet. Nothing was written.")
        users = self.table(USERS)
        names = [n.lower() for n in section_values(self.data["users"], "username")]
        emails = [e.lower() for e in section_values(self.data["users"], "email")]
        taken = self.session.execute(sa.select(users.c.username, users.c.email).where(sa.or_(
            sa.func.lower(users.c.username).in_(names), sa.func.lower(users.c.email).in_(emails)))).all()
        if taken:
            listed = ", ".join(sorted(f"{u.username} <{u.email}>" for u in taken))
            raise InvalidInput(f"These users of the backup already exist here: {listed}. A restore creates the "
                               "client's users; nothing was written.")

    # ------------------------------------------------------------------ ids

    def _taken(self, table: sa.Table, ids: list[int]) -> set[int]:
        taken = set()
        for start in range(0, len(ids), 1000):
            taken.update(self.session.execute(sa.select(table.c.id).where(
                table.c.id.in_(ids[start:start + 1000]))).scalars())
        return taken

    def assign_ids(self, table: sa.Table, ids: list[int]) -> dict:
        """Keep each id that is free here; give a taken one a new id above every other."""
        ids = sorted(i for i in ids if i is not None)
        taken = self._taken(table, ids) if ids else set()
        mapping = {i: i for i in ids}
        if taken:
            highest = self.session.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0
            next_id = max(highest, ids[-1]) + 1
            for old in sorted(taken):
                mapping[old], next_id = next_id, next_id + 1
            self.remapped[table.name] = self.remapped.get(table.name, 0) + len(taken)
        self.ids.setdefault(table.name, {}).update(mapping)
        return mapping

    def lookup_ids(self, name: str) -> dict:
        """Ids of a lookup table (roles, groups) matched by name."""
        table = self.table(name)
        here = dict(self.session.execute(sa.select(table.c.name, table.c.id)).all())
        mapping = {}
        for old_id, label in self.data["lookups"].get(name, []):
            if label not in here:
                raise InvalidInput(f"{self.source} gives its users the {name.removeprefix('ab_')} {label!r}, "
                                   "which this database lacks: run `flask roles sync` first.")
            mapping[old_id] = here[label]
        return mapping

    def match_staff(self) -> None:
        """Staff by username; those missing are created inactive, without roles."""
        users = self.table(USERS)
        staff = [dict(zip(self.data["staff"]["columns"], r)) for r in self.data["staff"]["rows"]]
        here = dict(self.session.execute(sa.select(users.c.username, users.c.id).where(
            users.c.username.in_([s["username"] for s in staff]))).all()) if staff else {}
        mapping = self.ids.setdefault(USERS, {})
        missing = [s for s in staff if s["username"] not in here]
        for person in staff:
            if person["username"] in here:
                mapping[person["id"]] = here[person["username"]]
        if not missing:
            return
        emails = [s["email"].lower() for s in missing]
        clash = self.session.execute(sa.select(users.c.username, users.c.email).where(
            sa.func.lower(users.c.email).in_(emails))).first()
        if clash is not None:
            raise InvalidInput(f"{self.source} refers to a staff member with the email {clash.email}, which "
                               f"belongs to {clash.username!r} here under another username. Nothing was written.")
        ids = self.assign_ids(users, [s["id"] for s in missing])
        now = dt.datetime.now()  # Flask-AppBuilder's user times are naive local times
        rows = [{"id": ids[s["id"]], "username": s["username"], "first_name": s["first_name"],
                 "last_name": s["last_name"], "email": s["email"], "active": False,
                 "password": unusable_password(), "created_on": now,
                 "changed_on": now} for s in missing]
        self.session.execute(sa.insert(users), rows)
        self.staff_created = [s["username"] for s in missing]

    # ------------------------------------------------------------------ rows

    def _reference(self, fk: sa.ForeignKey, value, lookups: dict):
        if value is None:
            return None
        target = fk.column.table.name
        mapping = self.ids.get(target) if (target in self.owned or target == USERS) else lookups.get(target)
        if mapping is None:
            raise InvalidInput(f"{self.source}: {fk.parent.table.name}.{fk.parent.name} refers to {target}, "
                               "which backups do not carry.")
        if value not in mapping:
            raise InvalidInput(f"{self.source}: {fk.parent.table.name}.{fk.parent.name} = {value} refers to a "
                               f"{target} row that is not in the backup.")
        return mapping[value]

    def write(self, section: dict, lookups: dict | None = None) -> None:
        """Insert one table's rows: ids assigned, references rewritten, parents first."""
        table = self.table(section["name"])
        self.check_columns(section)
        columns = section["columns"]
        rows = [dict(zip(columns, r)) for r in section["rows"]]
        if not rows:
            self.counts[table.name] = 0
            return
        if single_id(table):
            ids = self.assign_ids(table, [r["id"] for r in rows])
        else:
            ids = None
        loaders = {c: loader(table.c[c]) for c in columns}
        references = [fk for fk in table.foreign_keys if fk.parent.name in columns]
        self_refs = [fk.parent.name for fk in references if fk.column.table is table]
        out = []
        for row in _parents_first(rows, self_refs):
            values = {c: loaders[c](row[c]) for c in columns}
            for fk in references:
                values[fk.parent.name] = self._reference(fk, row[fk.parent.name], lookups or {})
            if ids is not None:
                values["id"] = ids[row["id"]]
            out.append(values)
        self.session.execute(_insert(table, columns, self.postgres), [
            {f"p{i}": values[c] for i, c in enumerate(columns)} for values in out])
        self.counts[table.name] = len(out)

    def advance_sequences(self) -> None:
        """PostgreSQL: each sequence past the highest id now in its table."""
        if not self.postgres:
            return
        for name in self.ids:
            table = self.table(name)
            sequence = self.session.execute(sa.text("SELECT pg_get_serial_sequence(:t, 'id')"),
                                            {"t": name}).scalar()
            if sequence is None and isinstance(table.c.id.default, sa.Sequence):
                sequence = table.c.id.default.name
            if sequence is None:
                continue
            highest = self.session.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0
            last = self.session.execute(sa.text(f"SELECT last_value FROM {sequence}")).scalar()
            if highest > last:
                self.session.execute(sa.text("SELECT setval(:s, :v)"), {"s": sequence, "v": highest})

    def write_files(self, upload_dir: str | None) -> tuple[list[Path], int]:
        """Files in the backup written under ``upload_dir`` (checked by SHA-256); how many
        stored files are neither in the backup nor on disk."""
        written, carried = [], set()
        for item in self.data["files"]:
            content = base64.b64decode(item["content"], validate=True)
            if hashlib.sha256(content).hexdigest() != item["sha256"]:
                raise InvalidInput(f"{self.source}: the bytes of {item['stored_path']} do not match their SHA-256.")
            if not upload_dir:
                raise InvalidInput("UPLOAD_DIR is not set: the backup's files cannot be written.")
            path = storage.path_of(item["stored_path"], upload_dir)
            carried.add(item["stored_path"])
            if path.exists():
                if hashlib.sha256(path.read_bytes()).hexdigest() != item["sha256"]:
                    raise InvalidInput(f"A different file already exists at {item['stored_path']} under "
                                       "UPLOAD_DIR; nothing was written.")
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            written.append(path)
        files = next(s for s in self.data["tables"] if s["name"] == "storage_files")
        missing = sum(1 for p in section_values(files, "stored_path")
                      if p not in carried and not (upload_dir and storage.path_of(p, upload_dir).exists()))
        return written, missing


def _parents_first(rows: list[dict], self_refs: list[str]) -> list[dict]:
    """``rows`` ordered so a row comes after the row it points at in its own table."""
    if not self_refs:
        return rows
    by_id = {r["id"]: r for r in rows}
    done, ordered = set(), []

    def visit(row, path=()):
        if row["id"] in done:
            return
        if row["id"] in path:
            raise InvalidInput("The backup holds rows that refer to each other in a loop.")
        for column in self_refs:
            parent = by_id.get(row[column])
            if parent is not None:
                visit(parent, (*path, row["id"]))
        done.add(row["id"])
        ordered.append(row)

    for row in rows:
        visit(row)
    return ordered


def _insert(table: sa.Table, columns: list[str], postgres: bool):
    """INSERT of ``columns`` with parameters ``p0, p1, ...``; JSON columns take their
    JSON text (PostgreSQL: cast to the column's type)."""
    values = {}
    for i, name in enumerate(columns):
        column = table.c[name]
        if is_json_column(column):
            param = sa.bindparam(f"p{i}", type_=sa.Text())
            values[name] = sa.cast(param, column.type) if postgres else param
        else:
            values[name] = sa.bindparam(f"p{i}", type_=column.type)
    return sa.insert(table).values(values)


def restore(session: Session, document: dict, *, migrations_dir: str, upload_dir: str | None = None,
            source: str = "the backup") -> dict:
    """Create the backed-up client and its users in this database, in one transaction
    (committed here); refused with ``InvalidInput`` before anything is written when the
    client or a user exists, or the file does not fit this database."""

    tenancy.require_staff("Backups are made and restored")
    tenancy.apply_database_scope(session, tenancy.current_scope())
    job = _Restore(session, document, source)
    written: list[Path] = []
    try:
        sections = job.data["tables"]
        if not sections or sections[0]["name"] != ROOT or len(sections[0]["rows"]) != 1:
            raise InvalidInput(f"{source} does not start with exactly one client row.")
        job.check_revision(migrations_dir)
        for section in (*sections, job.data["users"], *job.data["user_tables"]):
            job.check_columns(section)
        job.check_collisions()
        lookups = {name: job.lookup_ids(name) for name in job.data["lookups"]}
        job.match_staff()
        job.write(job.data["users"])
        for section in job.data["user_tables"]:
            job.write(section, lookups)
        for section in sections:
            job.write(section)
        job.advance_sequences()
        written, missing = job.write_files(upload_dir)
        client_id = job.ids[ROOT][section_values(sections[0], "id")[0]]
        audit.record(session, "backup.restore", resource_type="Client", resource_id=client_id, client_id=client_id,
                     staff_only=True, details={
                         "file": source, "exported_at": document.get("exported_at"),
                         "schema_revision": document.get("schema_revision"), "rows": job.counts,
                         "ids_remapped": job.remapped, "staff_created": len(job.staff_created),
                         "files_written": len(written)})
        session.commit()
    except AtriumError:
        session.rollback()
        _remove(written)
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, decimal.InvalidOperation) as exc:
        session.rollback()
        _remove(written)
        raise InvalidInput(f"{source} is not a well-formed backup ({type(exc).__name__}: {exc}); "
                           "nothing was written.") from None
    except sa.exc.IntegrityError as exc:
        session.rollback()
        _remove(written)
        raise InvalidInput(f"The restore conflicts with rows already here ({exc.orig}); nothing was written."
                           ) from None
    except BaseException:
        session.rollback()
        _remove(written)
        raise
    return {"client_id": client_id, "rows": job.counts, "ids_remapped": job.remapped,
            "staff_created": job.staff_created, "files_written": len(written), "files_missing": missing}


def _remove(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
