"""Client backups (``flask backup``), the weekly backup job and GDPR (``flask gdpr``),
through the CLI and the web doors, on SQLite and PostgreSQL.

A backup of pro-co restored into an empty database gives back every row of the client,
table by table and column by column; refusals write nothing. Erasing a client user
leaves none of their identifying strings in any text or JSON column of any table, the
audit chain still verifies, and a redaction flag set by hand is named by verify.
"""

import importlib.util
import json
import re

import pytest
import sqlalchemy as sa

from app import models as m
from app.extensions import db
from app.services import audit_chain
from config import BASE_DIR
from tests.conftest import csrf_token, login, make_app, run_cli

pytestmark = pytest.mark.both_backends

# Tables whose client link is nullable: the agency's records about a client, which
# outlive it and stay out of its backup (documented in services.backup).
NOT_IN_A_CLIENT_BACKUP = {"audit_events", "impersonation_sessions", "email_outbox", "billing_events"}


def _client_id(slug):
    return db.session.execute(sa.select(m.Client.id).filter_by(slug=slug)).scalar_one()


def _user_id(username):
    return db.session.execute(sa.select(m.User.id).filter_by(username=username)).scalar_one()


def _count_all():
    """Rows per table of the whole database."""
    db.session.expire_all()
    names = sa.inspect(db.engine).get_table_names()
    return {t: db.session.execute(sa.text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in sorted(names)}


def _client_rows(slug):
    """Every row of the client ``slug``, read independently of the backup code: the
    client, every table with a ``client_id`` (but the agency's records above), the three
    link tables under its projects, tickets and messages, its members' users and their roles.
    Rows by table, in primary-key order, all columns."""
    metadata = db.metadata
    client_id = _client_id(slug)
    members = list(db.session.execute(sa.select(m.ClientMember.user_id).filter_by(client_id=client_id)).scalars())
    out = {}

    def rows(table, where):
        query = sa.select(table).where(where).order_by(*table.primary_key.columns)
        return [tuple(r) for r in db.session.execute(query)]

    for table in metadata.sorted_tables:
        if "client_id" in table.c and table.name not in NOT_IN_A_CLIENT_BACKUP:
            out[table.name] = rows(table, table.c.client_id == client_id)
    out["clients"] = rows(metadata.tables["clients"], metadata.tables["clients"].c.id == client_id)
    team = metadata.tables["project_team"]
    out["project_team"] = rows(team, team.c.project_id.in_(sa.select(m.Project.id).filter_by(client_id=client_id)))
    links = metadata.tables["ticket_message_attachments"]
    out["ticket_message_attachments"] = rows(links, links.c.message_id.in_(
        sa.select(m.TicketMessage.id).filter_by(client_id=client_id)))
    opened_with = metadata.tables["ticket_attachments"]
    out["ticket_attachments"] = rows(opened_with, opened_with.c.ticket_id.in_(
        sa.select(m.Ticket.id).filter_by(client_id=client_id)))
    out["ab_user"] = rows(metadata.tables["ab_user"], metadata.tables["ab_user"].c.id.in_(members))
    roles = metadata.tables["ab_user_role"]
    out["ab_user_role"] = rows(roles, roles.c.user_id.in_(members))
    return out


def _fresh_target(url, **config):
    """An app over a second database: migrated and roles synced, as an operator would
    prepare it (``prepared_database``: a copy of one prepared by ``flask db upgrade`` and
    ``flask roles sync``)."""
    return make_app(url, **config)


def _dispose(application):
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


# --------------------------------------------------------------------------- backup


def test_backup_of_a_client_restores_every_row_into_an_empty_database(app, prepared_database, tmp_path):
    out = tmp_path / "pro-co.json"
    exported = run_cli(app, "backup", "export", "--client", "pro-co", "--out", str(out))
    assert exported.exit_code == 0, exported.output
    assert "written to" in exported.output and out.stat().st_mode & 0o077 == 0  # a secret: owner only
    source = _client_rows("pro-co")
    assert all(source[t] for t in ("clients", "projects", "milestones", "domains", "tickets", "ticket_messages",
                                   "campaign_metrics", "incidents", "incident_updates", "storage_files", "ab_user"))
    event = db.session.execute(sa.select(m.AuditEvent).where(m.AuditEvent.action == "backup.export")).scalar_one()
    assert event.client_id == _client_id("pro-co") and event.details["rows"] == sum(map(len, source.values()))

    document = json.loads(out.read_text())
    assert document["format_version"] == 1 and document["client"] == "pro-co"
    assert document["schema_revision"] == db.session.execute(sa.text("SELECT version_num FROM alembic_version")
                                                              ).scalar_one()
    assert {s["name"] for s in document["data"]["tables"]} | {"ab_user", "ab_user_role"} == set(source)
    assert all(row[document["data"]["users"]["columns"].index("password")].startswith(("pbkdf2", "scrypt"))
               for row in document["data"]["users"]["rows"])  # the hashes travel: the owner can sign in

    target = _fresh_target(prepared_database)
    try:
        with target.app_context():
            restored = run_cli(target, "backup", "restore", str(out))
            assert restored.exit_code == 0, restored.output
            assert "Restored pro-co" in restored.output
            assert _client_rows("pro-co") == source  # every row, every column
            assert run_cli(target, "audit", "verify").exit_code == 0
            assert db.session.execute(sa.select(m.AuditEvent.details).where(
                m.AuditEvent.action == "backup.restore")).scalar_one()["rows"]["tickets"] == len(source["tickets"])
            staff = db.session.execute(sa.select(m.User).where(m.User.username == "operator")).scalar_one()
            assert staff.active is False and staff.roles == []  # referenced staff: placeholders only
            browser = target.test_client()
            login(browser, "pro-co-owner")
            assert browser.get("/portal/tickets/list/").status_code == 200
    finally:
        _dispose(target)


def test_restore_refuses_a_second_time_and_damaged_files_writing_nothing(app, prepared_database, tmp_path):
    out = tmp_path / "pro-co.json"
    assert run_cli(app, "backup", "export", "--client", "pro-co", "--out", str(out)).exit_code == 0
    document = json.loads(out.read_text())

    def variant(name, change):
        copy = json.loads(json.dumps(document))
        change(copy)
        path = tmp_path / name
        path.write_text(json.dumps(copy))
        return path

    def edit_a_value(doc):
        doc["data"]["tables"][0]["rows"][0][doc["data"]["tables"][0]["columns"].index("name")] = "Forged Co"

    truncated = tmp_path / "truncated.json"
    truncated.write_text(out.read_text()[: len(out.read_text()) // 2])
    cases = [
        (truncated, "is not an Atrium backup: it is not readable JSON"),
        (variant("other.json", lambda d: d.update(format="something-else")), "is not an Atrium client backup"),
        (variant("edited.json", edit_a_value), "is damaged or was edited"),
        (variant("v2.json", lambda d: d.update(format_version=2)), "format version 2; this Atrium reads version 1"),
        (variant("newer.json", lambda d: d.update(schema_revision="ffffffffffff")), "made by a newer Atrium"),
    ]
    target = _fresh_target(prepared_database)
    try:
        with target.app_context():
            before = _count_all()
            for path, message in cases:
                result = run_cli(target, "backup", "restore", str(path))
                assert result.exit_code == 1 and message in result.output, result.output
                assert "Traceback" not in result.output
            assert _count_all() == before  # nothing written

            assert run_cli(target, "backup", "restore", str(out)).exit_code == 0
            after_first = _count_all()
            again = run_cli(target, "backup", "restore", str(out))
            assert again.exit_code == 1 and "already exists here" in again.output, again.output
            assert _count_all() == after_first
            assert run_cli(target, "audit", "verify").exit_code == 0
    finally:
        _dispose(target)


def test_restore_gives_taken_ids_new_ones_and_keeps_references(app, tmp_path):
    """Into a database where the client's ids are taken by other rows: new ids, every
    foreign key following them, and the sequences moved past them."""
    out = tmp_path / "pro-co.json"
    assert run_cli(app, "backup", "export", "--client", "pro-co", "--out", str(out)).exit_code == 0
    pro = _client_id("pro-co")

    def threads(client_id):
        return sorted((t.subject, t.created_at, tuple(sorted(msg.body for msg in t.messages)))
                      for t in db.session.execute(sa.select(m.Ticket).filter_by(client_id=client_id)).scalars())

    source_threads = threads(pro)
    taken_ticket = min(db.session.execute(sa.select(m.Ticket.id).filter_by(client_id=pro)).scalars())
    members = list(db.session.execute(sa.select(m.ClientMember.user_id).filter_by(client_id=pro)).scalars())
    # The client goes (its rows cascade), then its users; other rows take its ids.
    db.session.execute(sa.delete(m.Client).where(m.Client.id == pro))
    db.session.execute(sa.delete(m.User).where(m.User.id.in_(members)))
    db.session.add(m.Client(id=pro, name="Occupier", slug="occupier", contact_email="o@occupier.example",
                            tier="pro"))
    db.session.flush()
    db.session.add(m.Ticket(id=taken_ticket, client_id=pro, subject="Occupying", description="x"))
    db.session.commit()

    result = run_cli(app, "backup", "restore", str(out))
    assert result.exit_code == 0, result.output
    assert "given new ones" in result.output and "clients 1" in result.output and "tickets 1" in result.output
    db.session.expire_all()
    restored = _client_id("pro-co")
    assert restored != pro
    assert threads(restored) == source_threads  # each message still on its own ticket
    assert db.session.get(m.Ticket, taken_ticket).subject == "Occupying"
    fresh = m.Ticket(client_id=restored, subject="After the restore", description="y")
    db.session.add(fresh)
    db.session.commit()  # the sequence is past every restored id: no collision
    owner = app.test_client()
    login(owner, "pro-co-owner")
    assert owner.get("/portal/tickets/list/").status_code == 200
    assert run_cli(app, "audit", "verify").exit_code == 0


def test_with_files_carries_the_bytes_and_restores_them(app, prepared_database, tmp_path):
    out = tmp_path / "pro-co.json"
    result = run_cli(app, "backup", "export", "--client", "pro-co", "--out", str(out), "--with-files")
    assert result.exit_code == 0, result.output
    stored = db.session.execute(sa.select(m.StorageFile).filter_by(client_id=_client_id("pro-co"))).scalars().all()
    upload_dir = tmp_path / "uploads"
    target = _fresh_target(prepared_database, UPLOAD_DIR=str(upload_dir))
    try:
        with target.app_context():
            assert run_cli(target, "backup", "restore", str(out)).exit_code == 0
        for file in stored:
            source = (BASE_DIR / app.config["UPLOAD_DIR"] / file.stored_path).read_bytes()
            assert (upload_dir / file.stored_path).read_bytes() == source
    finally:
        _dispose(target)


def test_weekly_backup_job_keeps_the_newest_per_client(app, tmp_path):
    app.config.update(BACKUP_DIR=str(tmp_path / "backups"), BACKUP_KEEP=2)
    listed = run_cli(app, "jobs", "list")
    backups_line = next(line for line in listed.output.splitlines() if line.startswith("backups"))
    assert "maintenance.backups" in backups_line and "not built yet" not in backups_line
    for _ in range(3):
        result = run_cli(app, "jobs", "run", "maintenance.backups")
        assert result.exit_code == 0 and "succeeded" in result.output, result.output
    slugs = list(db.session.execute(sa.select(m.Client.slug).order_by(m.Client.id)).scalars())
    for slug in slugs:
        files = sorted((tmp_path / "backups" / slug).glob("*.json"))
        assert len(files) == 2, files
        assert json.loads(files[-1].read_text())["client"] == slug
    assert db.session.execute(sa.select(sa.func.count()).where(m.AuditEvent.action == "backup.export")
                              ).scalar_one() == 3 * len(slugs)


def test_backup_refusals_are_clear(app, tmp_path):
    result = run_cli(app, "backup", "export", "--client", "nope-co", "--out", str(tmp_path / "x.json"))
    assert result.exit_code == 1 and "No client has the slug 'nope-co'" in result.output
    assert not (tmp_path / "x.json").exists()
    missing = run_cli(app, "backup", "restore", str(tmp_path / "absent.json"))
    assert missing.exit_code == 1 and "cannot be read" in missing.output


# --------------------------------------------------------------------------- GDPR

PERSON = {"username": "pro-co-zephyrine", "email": "zephyrine.quill@pro-co.example", "first": "Zephyrine",
          "last": "Quillfeather", "new_last": "Okonkwo-Blix"}


def _person_terms():
    return [PERSON["email"], PERSON["username"], PERSON["first"], PERSON["last"], PERSON["new_last"]]


def _traces(terms):
    """(table, column, term) for every text or JSON column of every table holding a term."""
    found = []
    inspector = sa.inspect(db.engine)
    for table in inspector.get_table_names():
        for column in inspector.get_columns(table):
            kind = column["type"]
            if not isinstance(kind, (sa.String, sa.Text, sa.JSON)) and "JSON" not in type(kind).__name__.upper():
                continue
            for term in terms:
                hit = db.session.execute(sa.text(
                    f'SELECT count(*) FROM "{table}" WHERE lower(CAST("{column["name"]}" AS TEXT)) LIKE :t'),
                    {"t": f"%{term.lower()}%"}).scalar_one()
                if hit:
                    found.append((table, column["name"], term))
    return found


def _a_life_in_atrium(app):
    """The person joins pro-co, mistypes a password, signs in, changes their name, opens
    a ticket, replies, uploads a file, gets a staff answer and is viewed as."""
    import io

    added = run_cli(app, "members", "add", "--client", "pro-co", "--username", PERSON["username"], "--email",
                    PERSON["email"], "--first-name", PERSON["first"], "--last-name", PERSON["last"], "--role",
                    "member", "--password", "a-long-first-pass")
    assert added.exit_code == 0, added.output
    person = app.test_client()
    token = csrf_token(person, "/login/")
    assert person.post("/login/", data={"username": PERSON["username"], "password": "wrong-guess-1",
                                        "csrf_token": token}).status_code in (200, 302)
    login(person, PERSON["username"], "a-long-first-pass")
    token = csrf_token(person, "/userinfoeditview/form")
    edited = person.post("/userinfoeditview/form", data={"first_name": PERSON["first"],
                                                          "last_name": PERSON["new_last"], "csrf_token": token})
    assert edited.status_code in (200, 302)
    db.session.expire_all()
    assert db.session.execute(sa.select(m.User.last_name).filter_by(username=PERSON["username"])
                              ).scalar_one() == PERSON["new_last"]
    opened = person.post("/portal/tickets/add", data={
        "csrf_token": token, "subject": f"Invoice question from {PERSON['first']}",
        "description": f"Please send the invoice to {PERSON['email']}.", "priority": "medium"})
    assert opened.status_code == 302
    ticket = db.session.execute(sa.select(m.Ticket).where(m.Ticket.subject.like("Invoice question%"))).scalar_one()
    replied = person.post(f"/portal/tickets/reply/{ticket.id}", data={
        "csrf_token": token, "body": f"The PO number is 4471.\n-- {PERSON['first']} {PERSON['new_last']}"})
    assert replied.status_code == 302
    uploaded = person.post("/portal/files/upload", data={"csrf_token": token,
                                                         "file": (io.BytesIO(b"po 4471"), "purchase-order.txt")},
                           content_type="multipart/form-data")
    assert uploaded.status_code == 302
    person.get("/logout/")

    staff = app.test_client()
    login(staff, "operator")
    token = csrf_token(staff, "/ticketmessageview/add")
    answered = staff.post("/ticketmessageview/add", data={
        "csrf_token": token, "ticket": str(ticket.id), "author": str(_user_id("operator")),
        "body": f"Hi {PERSON['first']}, the invoice is on its way."})
    assert answered.status_code == 302
    target = _user_id(PERSON["username"])
    token = csrf_token(staff, f"/impersonate/new/{target}")
    started = staff.post(f"/impersonate/start/{target}", data={
        "csrf_token": token, "reason": f"{PERSON['first']} says the charts are empty", "mode": "read-only",
        "return_to": "/ticketview/list/"})
    assert started.status_code == 302
    assert staff.post("/impersonate/end", data={"csrf_token": csrf_token(staff, "/portal/")}).status_code == 302
    return ticket.id


def test_gdpr_export_then_erase_leaves_no_trace_and_a_verifiable_chain(app, backend, tmp_path):
    ticket_id = _a_life_in_atrium(app)
    uid = _user_id(PERSON["username"])
    assert _traces(_person_terms())  # the person is all over the database before

    out = tmp_path / "person.json"
    exported = run_cli(app, "gdpr", "export", "--user", PERSON["email"].upper(), "--out", str(out))
    assert exported.exit_code == 0, exported.output
    data = json.loads(out.read_text())
    password_hash = db.session.execute(sa.select(m.User.password).filter_by(id=uid)).scalar_one()
    assert data["account"]["username"] == PERSON["username"] and password_hash not in out.read_text()
    assert data["membership"]["client"] == "pro-co"
    assert [t["id"] for t in data["tickets_opened"]] == [ticket_id]
    assert any("4471" in msg["body"] for msg in data["ticket_messages"])
    assert [f["file_name"] for f in data["files_uploaded"]] == ["purchase-order.txt"]
    actions = {e["action"] for e in data["audit_events"]}
    assert {"login.failed", "login.success", "logout", "create", "update"} <= actions
    assert data["view_as_sessions"][0]["staff"] == "operator"
    assert data["emails"] and all(e["to_address"] == PERSON["email"] for e in data["emails"])  # the staff answer
    assert db.session.execute(sa.select(m.AuditEvent).where(m.AuditEvent.action == "gdpr.export")
                              ).scalar_one().resource_id == str(uid)

    erased = run_cli(app, "gdpr", "erase", "--user", PERSON["email"], "--yes")
    assert erased.exit_code == 0, erased.output
    assert f"User {uid} erased" in erased.output

    assert _traces(_person_terms()) == []  # no column of any table names them any more
    db.session.expire_all()
    user = db.session.get(m.User, uid)
    assert (user.first_name, user.last_name, user.email, user.username, user.active) == (
        "Erased", f"user {uid}", f"erased-{uid}@invalid", f"erased-{uid}", False)
    assert db.session.execute(sa.select(m.ClientMember).filter_by(user_id=uid)).first() is None
    ticket = db.session.get(m.Ticket, ticket_id)  # what they wrote stays with the client, anonymised
    assert ticket.opened_by_id == uid and ticket.subject == "Invoice question from [erased]"
    bodies = [msg.body for msg in ticket.messages]
    assert "The PO number is 4471.\n-- [erased]" in bodies  # the full name, as one
    assert "Hi [erased], the invoice is on its way." in bodies
    assert db.session.execute(sa.select(m.StorageFile.uploaded_by_id).filter_by(file_name="purchase-order.txt")
                              ).scalar_one() == uid
    assert not db.session.execute(sa.select(m.AuditEvent).where(
        m.AuditEvent.actor_id == uid, m.AuditEvent.ip.is_not(None))).first()  # their IPs are gone too
    erase = db.session.execute(sa.select(m.AuditEvent).where(m.AuditEvent.action == "gdpr.erase")).scalar_one()
    redacted = set(db.session.execute(sa.select(m.AuditEvent.id).where(m.AuditEvent.redacted)).scalars())
    assert redacted and set(erase.details["redacted_events"]) == redacted
    staff = app.test_client()  # the audit log says which events were redacted, and finds them
    login(staff, "admin")
    some = db.session.get(m.AuditEvent, min(redacted))
    shown = staff.get(f"/auditeventview/show/{some.id}").get_data(as_text=True)
    assert re.search(r"Redacted \(GDPR erase\)</th>\s*<td>\s*<span[^>]*>True</span>", shown), shown[:3000]
    listed = staff.get("/auditeventview/list/?_flt_0_redacted=y&psize_AuditEventView=100").get_data(as_text=True)
    assert sorted(int(x) for x in re.findall(r'/auditeventview/show/(\d+)"', listed)) == sorted(redacted)
    exported = staff.get("/auditeventview/export.csv?_flt_0_redacted=y").get_data(as_text=True).splitlines()
    assert exported[0].split(",")[-2:] == ["redacted", "hash"] and len(exported) == 1 + len(redacted)

    verified = run_cli(app, "audit", "verify")
    assert verified.exit_code == 0, verified.output
    signed_in = app.test_client()
    token = csrf_token(signed_in, "/login/")
    signed_in.post("/login/", data={"username": PERSON["username"], "password": "a-long-first-pass",
                                    "csrf_token": token})
    assert signed_in.get("/portal/").status_code != 200  # the account is gone for good
    again = run_cli(app, "gdpr", "erase", "--user", f"erased-{uid}@invalid", "--yes")
    assert again.exit_code == 0 and "already erased" in again.output


def _superuser_connection():
    import psycopg

    url = db.engine.url.set(drivername="postgresql", username="postgres")
    return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)


def test_a_redaction_flag_set_by_hand_is_named_by_verify(app, backend):
    victim = db.session.execute(sa.select(m.AuditEvent).where(m.AuditEvent.action == "create",
                                                              m.AuditEvent.resource_type == "Project")
                                .order_by(m.AuditEvent.seq).limit(1)).scalar_one()
    row = {k: getattr(victim, k) for k in ("changes", "details", "ip", "user_agent")}
    true_digest = audit_chain.personal_digest(row)  # a careful forger keeps the hash right
    if backend.kind == "postgresql":
        from app.services import db_roles

        # The app's own role may not update the log at all, redaction mode or not.
        with db.engine.connect() as conn:
            conn.execute(sa.text("SELECT set_config('atrium.staff', 'on', false), "
                                 "set_config('atrium.audit_redaction', 'on', false)"))
            with pytest.raises(sa.exc.DBAPIError, match="permission denied for table audit_events"):
                conn.execute(sa.text("UPDATE audit_events SET redacted = true, personal_digest = :d WHERE id = :id"),
                             {"d": true_digest, "id": victim.id})
        # The owner, through the one UPDATE the triggers allow (redaction mode): a public
        # field may not change, the flag alone may.
        with db_roles.as_owner(db), db.engine.connect() as conn:
            conn.execute(sa.text("SELECT set_config('atrium.staff', 'on', false), "
                                 "set_config('atrium.audit_redaction', 'on', false)"))
            with pytest.raises(sa.exc.DBAPIError, match="a redaction may change only"):
                conn.execute(sa.text("UPDATE audit_events SET action = 'x', redacted = true, "
                                     "personal_digest = :d WHERE id = :id"), {"d": true_digest, "id": victim.id})
            conn.rollback()
            conn.execute(sa.text("SELECT set_config('atrium.staff', 'on', false), "
                                 "set_config('atrium.audit_redaction', 'on', false)"))
            conn.execute(sa.text("UPDATE audit_events SET redacted = true, personal_digest = :d WHERE id = :id"),
                         {"d": true_digest, "id": victim.id})
            conn.commit()
            conn.execute(sa.text("SELECT set_config('atrium.audit_redaction', 'off', false)"))
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):  # outside redaction mode: refused
                conn.execute(sa.text("UPDATE audit_events SET redacted = false"))
            conn.rollback()
    else:
        db.session.execute(sa.text("UPDATE audit_events SET redacted = 1, personal_digest = :d WHERE id = :id"),
                           {"d": true_digest, "id": victim.id})
        db.session.commit()
    result = run_cli(app, "audit", "verify")
    assert result.exit_code != 0
    assert f"seq {victim.seq} (id {victim.id}" in result.output and "marked redacted" in result.output


@pytest.mark.parametrize("email, message", [
    ("operator@atrium.example", "is a staff account (Operator)"),
    ("system@atrium.invalid", "The system user is Atrium itself"),
    ("owner@pro-co.example", "is the owner of pro-co: make another member the owner first"),
    ("nobody@nowhere.example", "No user has the email 'nobody@nowhere.example'"),
])
def test_gdpr_erase_refusals_change_nothing(app, email, message):
    before = _count_all()
    result = run_cli(app, "gdpr", "erase", "--user", email, "--yes")
    assert result.exit_code == 1 and message in result.output, result.output
    assert _count_all() == before
    unknown = run_cli(app, "gdpr", "export", "--user", "nobody@nowhere.example")
    assert unknown.exit_code == 1 and "No user has the email" in unknown.output


# --------------------------------------------------------------------------- migration


def _migration():
    path = BASE_DIR / "migrations" / "versions" / "b8c9d0e1f2a3_audit_redaction.py"
    spec = importlib.util.spec_from_file_location("audit_redaction_migration", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("tampered", [False, True])
def test_upgrade_rehashes_an_existing_chain_and_never_blesses_a_broken_one(empty_database, tampered):
    """Events hashed the old way verify after the upgrade; an event already changed
    before it is still the one verify names."""
    import datetime as dt

    migration = _migration()
    application = make_app(empty_database)
    with application.app_context():
        assert run_cli(application, "db", "upgrade", "a7b8c9d0e1f2").exit_code == 0
        from app.services import db_roles

        with db_roles.as_owner(db):  # the events of an older install, written as its owner
            postgres = db.engine.dialect.name == "postgresql"
            if postgres:
                db.session.execute(sa.text("SELECT set_config('atrium.staff', 'on', true)"))
            prev, at = None, dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
            for seq in (1, 2, 3):
                row = {"seq": seq, "occurred_at": at + dt.timedelta(minutes=seq), "action": "update",
                       "resource_type": "Project", "resource_id": str(seq), "client_id": 1, "actor_id": 2,
                       "true_user_id": 2, "impersonation_session_id": None, "channel": "web", "ip": "10.0.0.7",
                       "user_agent": "test", "request_id": f"r{seq}", "changes": {"name": ["a", f"b{seq}"]},
                       "details": None, "staff_only": False, "prev_hash": prev}
                row["hash"] = migration._old_hash(row)
                if tampered and seq == 2:
                    row["changes"] = {"name": ["a", "changed afterwards"]}
                db.session.execute(sa.text(
                    "INSERT INTO audit_events (seq, occurred_at, action, resource_type, resource_id, client_id,"
                    " actor_id, true_user_id, channel, ip, user_agent, request_id, changes, staff_only, prev_hash, hash,"
                    " created_at, updated_at) VALUES (:seq, :occurred_at, :action, :resource_type, :resource_id,"
                    " :client_id, :actor_id, :true_user_id, :channel, :ip, :user_agent, :request_id, "
                    + ("CAST(:changes AS JSONB)" if postgres else ":changes")
                    + ", :staff_only, :prev_hash, :hash, :occurred_at, :occurred_at)"),
                    {**row, "changes": json.dumps(row["changes"]),  # SQLite keeps UTC times without a zone
                     "occurred_at": row["occurred_at"] if postgres else f"{row['occurred_at']:%Y-%m-%d %H:%M:%S.%f}"})
                prev = row["hash"]
            db.session.execute(sa.text("INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, 3, :h)"), {"h": prev})
            db.session.commit()
        db.session.remove()
        upgraded = run_cli(application, "db", "upgrade")
        assert upgraded.exit_code == 0, upgraded.output
        result = run_cli(application, "audit", "verify")
        if tampered:
            assert result.exit_code != 0 and re.search(r"seq 2 \(id \d+", result.output), result.output
        else:
            assert result.exit_code == 0 and "3 events" in result.output, result.output
        db.session.remove()
        db.engine.dispose()
