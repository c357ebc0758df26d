"""Impersonation ("view as") and the audit trail, through the doors people use.

Every test runs on SQLite and PostgreSQL; the append-only refusal is PostgreSQL's.
"""

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from app import models as m
from app import tenancy
from app.extensions import db
from app.services import audit, exports
from tests.conftest import PASSWORD, csrf_token, login, login_with_form, run_cli

pytestmark = pytest.mark.both_backends


def _user_id(username):
    return db.session.execute(sa.select(m.User.id).filter_by(username=username)).scalar_one()


def _client_id(slug):
    return db.session.execute(sa.select(m.Client.id).filter_by(slug=slug)).scalar_one()


def _sid(client):
    with client.session_transaction() as s:
        return s.get("atrium_sid"), s.get("_user_id")


def _events(**where):
    db.session.expire_all()
    query = sa.select(m.AuditEvent).order_by(m.AuditEvent.seq)
    for key, value in where.items():
        query = query.where(getattr(m.AuditEvent, key) == value)
    return list(db.session.execute(query).scalars())


def _start(client, target, reason="Debugging the dashboard for ticket follow-up", mode="read-only"):
    target_id = _user_id(target)
    page = f"/impersonate/new/{target_id}"
    token = csrf_token(client, page if client.get(page).status_code == 200 else "/resetmypassword/form")
    return client.post(f"/impersonate/start/{target_id}",
                       data={"csrf_token": token, "reason": reason, "mode": mode, "return_to": "/ticketview/list/"})


def _end(client):
    token = csrf_token(client, "/portal/")
    return client.post("/impersonate/end", data={"csrf_token": token})


def _latest_session():
    db.session.expire_all()
    return db.session.execute(sa.select(m.ImpersonationSession).order_by(m.ImpersonationSession.id.desc())
                              .limit(1)).scalar_one()


def _session_count():
    return db.session.execute(sa.select(sa.func.count()).select_from(m.ImpersonationSession)).scalar_one()


SEEDED_SESSIONS = 1  # the demo seed records one finished view-as session (basic-co)


def _record_count(html):
    found = re.search(r"Record Count:\s*</?\w*>?\s*(\d+)", html)
    return int(found.group(1)) if found else 0


def test_operator_views_as_a_client_read_only_and_returns(app, client):
    # What basic-co-owner sees, signed in as themself.
    own = app.test_client()
    login(own, "basic-co-owner")
    expected_projects = _record_count(own.get("/portal/projects/list/").get_data(as_text=True))
    expected_dashboard = own.get("/portal/").status_code

    login(client, "operator")
    before_sid, operator_id = _sid(client)
    response = _start(client, "basic-co-owner")
    assert response.status_code == 302 and response.location.endswith("/portal/")
    during_sid, acting_id = _sid(client)
    assert during_sid != before_sid and acting_id == str(_user_id("basic-co-owner"))

    page = client.get("/portal/")
    html = page.get_data(as_text=True)
    assert page.status_code == expected_dashboard == 200
    assert "Viewing as basic-co-owner" in html and "signed in as operator" in html
    assert re.search(r"\b(29|30) min left", html)
    projects = client.get("/portal/projects/list/").get_data(as_text=True)
    assert _record_count(projects) == expected_projects
    assert client.get("/ticketview/list/").status_code == 403  # the client's permissions, not the operator's

    tickets_before = db.session.execute(sa.select(sa.func.count()).select_from(m.Ticket)).scalar_one()
    token = csrf_token(client, "/portal/tickets/add")
    refused = client.post("/portal/tickets/add", data={"csrf_token": token, "subject": "Hi",
                                                        "description": "x", "priority": "low"})
    assert refused.status_code == 403 and "Read-only view" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.execute(sa.select(sa.func.count()).select_from(m.Ticket)).scalar_one() == tickets_before

    ended = _end(client)
    assert ended.status_code == 302 and ended.location.endswith("/ticketview/list/")
    after_sid, back_id = _sid(client)
    assert after_sid not in (before_sid, during_sid) and back_id == operator_id
    assert client.get("/ticketview/list/").status_code == 200
    assert "Viewing as" not in client.get("/ticketview/list/").get_data(as_text=True)

    row = _latest_session()
    assert row.end_reason == "ended" and row.ended_at is not None and row.mode == "read-only"
    assert [e.action for e in _events(impersonation_session_id=row.id)] == [
        "impersonation.start", "permission.denied", "permission.denied", "impersonation.end"]
    denied = _events(action="permission.denied")[-1]
    assert denied.actor_id == _user_id("basic-co-owner") and denied.true_user_id == _user_id("operator")


@pytest.mark.parametrize("who, shown", [("operator", True), ("admin", True), ("developer", False)])
def test_view_as_button_on_client_members(app, client, who, shown):
    owner_id = _user_id("basic-co-owner")
    member_id = db.session.execute(sa.select(m.ClientMember.id).filter_by(user_id=owner_id)).scalar_one()
    login(client, who)
    link = f'href="/impersonate/new/{owner_id}"'
    listing = client.get("/clientmemberview/list/?psize_ClientMemberView=100")
    page = client.get(f"/clientmemberview/show/{member_id}")
    assert listing.status_code == 200 and page.status_code == 200
    assert (link in listing.get_data(as_text=True)) is shown
    assert (link in page.get_data(as_text=True)) is shown
    if shown:  # the button leads to the start form
        form = client.get(f"/impersonate/new/{owner_id}")
        assert form.status_code == 200 and "basic-co-owner" in form.get_data(as_text=True)


def test_target_last_login_is_untouched(app, client):
    target = db.session.get(m.User, _user_id("pro-co-owner"))
    before = (target.last_login, target.login_count)
    login(client, "admin")
    assert _start(client, "pro-co-owner").status_code == 302
    db.session.expire_all()
    target = db.session.get(m.User, _user_id("pro-co-owner"))
    assert (target.last_login, target.login_count) == before


@pytest.mark.parametrize("who,target,mode,reason,status", [
    ("operator", "admin", "read-only", None, 403),
    ("operator", "developer", "read-only", None, 403),
    ("admin", "operator", "read-only", None, 403),
    ("operator", "operator", "read-only", None, 403),
    ("operator", "free-co-owner", "full", None, 403),
    ("operator", "free-co-owner", "read-only", "too short", 422),
    ("operator", "free-co-owner", "read-only", "#999999", 422),
])
def test_refused_starts_record_nothing(app, client, who, target, mode, reason, status):
    login(client, who)
    kwargs = {"mode": mode} if reason is None else {"mode": mode, "reason": reason}
    response = _start(client, target, **kwargs)
    assert response.status_code == status
    assert _session_count() == SEEDED_SESSIONS
    assert _sid(client)[1] == str(_user_id(who))


def test_a_ticket_reference_is_a_reason(app, client):
    ticket = db.session.execute(sa.select(m.Ticket.id).where(m.Ticket.client_id == _client_id("free-co"))
                                .limit(1)).scalar_one()
    login(client, "operator")
    assert _start(client, "free-co-owner", reason=f"#{ticket}").status_code == 302


def test_developer_inactive_users_get_and_nesting_are_refused(app, client):
    login(client, "developer")
    assert _start(client, "free-co-owner").status_code == 403
    target = db.session.get(m.User, _user_id("free-co-viewer"))
    target.active = False
    db.session.commit()
    other = app.test_client()
    login(other, "operator")
    assert _start(other, "free-co-viewer").status_code == 403
    assert other.get(f"/impersonate/start/{_user_id('pro-co-owner')}").status_code == 405
    assert _start(other, "pro-co-owner").status_code == 302
    nested = other.post(f"/impersonate/start/{_user_id('basic-co-owner')}",
                        data={"csrf_token": csrf_token(other, "/portal/"), "reason": "nesting is not allowed"})
    assert nested.status_code == 403
    assert _session_count() == SEEDED_SESSIONS + 1


def test_blocked_screens_while_impersonating(app, client):
    login(client, "admin")
    _start(client, "enterprise-co-owner", mode="full")
    for path in ("/resetmypassword/form", "/userinfoeditview/form", "/users/list/", "/roles/list/"):
        assert client.get(path).status_code == 403, path


def test_expired_session_ends_by_itself(app, client):
    login(client, "operator")
    _start(client, "pro-co-owner")
    row = _latest_session()
    row.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    db.session.commit()
    response = client.get("/portal/")
    assert response.status_code == 302 and response.location.endswith("/ticketview/list/")
    assert _sid(client)[1] == str(_user_id("operator"))
    db.session.expire_all()
    assert db.session.get(m.ImpersonationSession, row.id).end_reason == "expired"


def test_logout_ends_the_session(app, client):
    login(client, "operator")
    _start(client, "pro-co-owner")
    client.get("/logout/")
    row = _latest_session()
    assert row.end_reason == "logout"
    assert _sid(client)[1] is None


def test_full_mode_changes_carry_both_identities(app, client):
    login(client, "admin")
    assert _start(client, "enterprise-co-owner", mode="full").status_code == 302
    token = csrf_token(client, "/portal/tickets/add")
    opened = client.post("/portal/tickets/add", data={"csrf_token": token, "subject": "Printer on fire",
                                                       "description": "Smoke", "priority": "high"})
    assert opened.status_code == 302
    event = _events(action="create", resource_type="Ticket")[-1]
    row = _latest_session()
    assert event.actor_id == _user_id("enterprise-co-owner") and event.true_user_id == _user_id("admin")
    assert event.impersonation_session_id == row.id and event.client_id == _client_id("enterprise-co")
    assert event.changes["subject"] == [None, "Printer on fire"] and event.channel == "web"


def test_ui_create_update_delete_leave_events_with_diffs(app, client):
    login(client, "basic-co-owner")
    token = csrf_token(client, "/portal/tickets/add")
    client.post("/portal/tickets/add", data={"csrf_token": token, "subject": "Broken form",
                                              "description": "The contact form 500s", "priority": "medium"})
    ticket = db.session.execute(sa.select(m.Ticket).filter_by(subject="Broken form")).scalar_one()
    client.post(f"/portal/tickets/close/{ticket.id}", data={"csrf_token": token})
    file_id = db.session.execute(sa.select(m.StorageFile.id).where(
        m.StorageFile.client_id == _client_id("basic-co")).limit(1)).scalar_one()
    client.post(f"/portal/files/delete/{file_id}", data={"csrf_token": token})
    owner = _user_id("basic-co-owner")
    created = _events(action="create", resource_type="Ticket", resource_id=str(ticket.id))
    updated = _events(action="update", resource_type="Ticket", resource_id=str(ticket.id))
    deleted = _events(action="delete", resource_type="StorageFile", resource_id=str(file_id))
    assert created and updated and deleted
    assert updated[-1].changes["status"] == ["open", "closed"]
    assert "file_name" in deleted[-1].changes and deleted[-1].changes["file_name"][1] is None
    for event in (created[-1], updated[-1], deleted[-1]):
        assert event.actor_id == owner == event.true_user_id and event.channel == "web"
        assert event.request_id and event.ip == "127.0.0.1" and event.impersonation_session_id is None


def test_api_create_update_delete_leave_events(app, client):
    token = client.post("/api/v1/security/login", json={"username": "operator", "password": PASSWORD,
                                                        "provider": "db"}).get_json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    pro = _client_id("pro-co")
    made = client.post("/api/v1/ticket/", headers=headers, json={
        "client_id": pro, "subject": "From the API", "description": "d", "priority": "low"})
    assert made.status_code == 201, made.get_json()
    pk = made.get_json()["id"]
    assert client.put(f"/api/v1/ticket/{pk}", headers=headers, json={"priority": "urgent"}).status_code == 200
    assert client.delete(f"/api/v1/ticket/{pk}", headers=headers).status_code == 200
    actions = [(e.action, e.channel, e.actor_id) for e in _events(resource_type="Ticket", resource_id=str(pk))]
    operator = _user_id("operator")
    assert actions == [("create", "api", operator), ("update", "api", operator), ("delete", "api", operator)]
    assert _events(resource_type="Ticket", resource_id=str(pk))[1].changes["priority"] == ["low", "urgent"]


def test_cli_writes_are_the_system_users(app):
    # The demo seed ran through the CLI when the test database was built.
    system = _user_id("system")
    created = _events(action="create", resource_type="Client")
    assert {e.resource_id for e in created} == {str(i) for i in db.session.execute(sa.select(m.Client.id)).scalars()}
    assert all(e.actor_id == system and e.channel == "cli" for e in created)
    assert not db.session.get(m.User, system).active  # the system user cannot sign in


def test_cli_create_update_delete_of_a_member_leave_events_with_diffs(app):
    system = _user_id("system")
    added = run_cli(app, "members", "add", "--client", "pro-co", "--username", "pro-co-intern", "--email",
                    "intern@pro-co.example", "--first-name", "Ana", "--last-name", "Souza", "--role", "member",
                    "--password", "a-long-first-pass")
    assert added.exit_code == 0, added.output
    member = db.session.execute(sa.select(m.ClientMember).join(m.ClientMember.user)
                                .where(m.User.username == "pro-co-intern")).scalar_one()
    member_id, user_id = str(member.id), member.user_id
    changed = run_cli(app, "members", "role", "--client", "pro-co", "--user", "pro-co-intern", "--role", "viewer")
    assert changed.exit_code == 0 and "now viewer" in changed.output
    removed = run_cli(app, "members", "remove", "--client", "pro-co", "--user", "pro-co-intern", "--yes")
    assert removed.exit_code == 0, removed.output

    events = _events(resource_type="ClientMember", resource_id=member_id)
    assert [e.action for e in events] == ["create", "update", "delete"]
    assert events[0].changes["role"] == [None, "member"]
    assert events[1].changes["role"] == ["member", "viewer"]
    assert events[2].changes["role"] == ["viewer", None]
    assert all(e.actor_id == e.true_user_id == system and e.channel == "cli" for e in events)
    assert all(e.client_id == _client_id("pro-co") for e in events)
    db.session.expire_all()
    assert db.session.get(m.User, user_id).active is False  # offboarded: the account cannot sign in
    assert run_cli(app, "audit", "verify").exit_code == 0


@pytest.mark.parametrize("args, message", [
    (["remove", "--client", "nope-co", "--user", "pro-co-viewer", "--yes"], "No client has the slug 'nope-co'"),
    (["remove", "--client", "pro-co", "--user", "basic-co-viewer", "--yes"], "is not a member of"),
    (["remove", "--client", "pro-co", "--user", "pro-co-owner", "--yes"], "the owner cannot be removed"),
    (["role", "--client", "pro-co", "--user", "pro-co-owner", "--role", "viewer"], "the owner cannot be given"),
    (["add", "--client", "free-co", "--username", "free-co-two", "--email", "two@free.example", "--first-name",
      "A", "--last-name", "B", "--role", "member", "--password", "a-long-first-pass"], "Your Free plan allows"),
])
def test_cli_member_refusals_exit_1_and_change_nothing(app, args, message):
    before = len(_events())
    result = run_cli(app, "members", *args)
    assert result.exit_code == 1 and message in result.output, result.output
    assert len(_events()) == before
    db.session.expire_all()
    assert db.session.execute(sa.select(m.User.active).filter_by(username="pro-co-owner")).scalar_one()


def test_cli_user_create_and_password_reset_are_audited_as_the_system(app):
    from click.testing import CliRunner
    from flask_appbuilder.cli import fab  # the ``flask fab`` group (registered by entry point)

    from tests.conftest import _script_info

    def run_fab(*args):
        return CliRunner().invoke(fab, list(args), obj=_script_info(app), catch_exceptions=False)

    system = _user_id("system")
    created = run_fab("create-user", "--role", "Operator", "--username", "cli-made", "--firstname",
                      "Cli", "--lastname", "Made", "--email", "cli-made@agency.example", "--password", "s3cret-pass!")
    assert created.exit_code == 0, created.output
    reset = run_fab("reset-password", "--username", "cli-made", "--password", "an0ther-pass!")
    assert reset.exit_code == 0, reset.output
    user_id = str(_user_id("cli-made"))
    events = [e for e in _events(resource_type="User") if e.resource_id == user_id]
    assert [e.action for e in events] == ["create", "user.password_changed"]
    assert all(e.actor_id == system and e.channel == "cli" for e in events)
    assert events[0].changes["username"] == [None, "cli-made"] and events[1].changes["password"] == ["***", "***"]


def test_secrets_are_masked_and_password_changes_are_named(app):
    user = db.session.get(m.User, _user_id("free-co-viewer"))
    user.password = "pbkdf2:sha256:new-hash"
    db.session.commit()
    event = _events(action="user.password_changed")[-1]
    assert event.changes["password"] == ["***", "***"]
    assert "new-hash" not in str(event.changes)


@pytest.mark.parametrize("field", ["smtp_passwd", "authorization", "session_cookie", "vendor_apikey", "api_token"])
def test_one_list_of_secret_words_masks_the_audit_export_and_the_error_reports(field):
    """The audit trail and the error reports read one list (``services.secrets``): a value
    under any of its words is masked in both (the trail's own list lacked four)."""
    from app import observability

    assert exports.csv_cell(field, "hunter2") == "***"
    event = observability.scrub_event({"extra": {field: "hunter2"}})
    assert "hunter2" not in str(event)


def test_chain_verifies_and_names_a_changed_event(app, backend):
    assert run_cli(app, "audit", "verify").exit_code == 0
    victim = _events(action="create", resource_type="Project")[1]
    if backend.kind == "postgresql":  # as the superuser: the app's role may not touch the table
        import psycopg

        superuser_url = db.engine.url.set(drivername="postgresql", username="postgres")
        with psycopg.connect(superuser_url.render_as_string(hide_password=False), autocommit=True) as conn:
            conn.execute("ALTER TABLE audit_events DISABLE TRIGGER atrium_audit_append_only")
            conn.execute("UPDATE audit_events SET actor_id = 424242 WHERE id = %s", (victim.id,))
            conn.execute("ALTER TABLE audit_events ENABLE TRIGGER atrium_audit_append_only")
    else:
        db.session.execute(sa.text("UPDATE audit_events SET actor_id = 424242 WHERE id = :id"), {"id": victim.id})
        db.session.commit()
    result = run_cli(app, "audit", "verify")
    assert result.exit_code != 0
    assert f"seq {victim.seq} (id {victim.id}" in result.output and "changed" in result.output


def test_concurrent_writers_keep_one_unbroken_chain(app):
    """Four threads, each its own session, commit single-event and multi-event flushes at
    once: every event gets its own seq, none is lost, and the chain verifies."""
    import threading

    before = len(_events())
    project_ids = db.session.execute(sa.select(m.Project.id).order_by(m.Project.id).limit(4)).scalars().all()
    errors = []

    def writer(project_id):
        try:
            with app.app_context(), tenancy.acting_as(tenancy.SYSTEM):  # a new thread binds its scope
                for i in range(10):
                    project = db.session.get(m.Project, project_id)
                    project.description = f"concurrent edit {i}"
                    if i % 3 == 0:  # two rows, two events in one flush
                        project.client.internal_notes = f"concurrent note {project_id}-{i}"
                    db.session.commit()
                db.session.remove()
        except Exception as exc:  # reported below, with the thread's project
            errors.append((project_id, repr(exc)))

    threads = [threading.Thread(target=writer, args=(pid,)) for pid in project_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    events = _events()
    assert len(events) >= before + 4 * 10
    assert [e.seq for e in events] == list(range(events[0].seq, events[0].seq + len(events)))
    result = run_cli(app, "audit", "verify")
    assert result.exit_code == 0, result.output


@pytest.mark.postgres_only
def test_postgresql_refuses_update_and_delete_of_events(app, backend):
    from app.services import db_roles

    statements = ("UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events", "TRUNCATE audit_events")
    for statement in statements:  # the app role holds no such privilege
        with pytest.raises(sa.exc.DBAPIError, match="permission denied for table audit_events"):
            db.session.execute(sa.text(statement))
        db.session.rollback()
    with db_roles.as_owner(db):  # the owner has it, and the append-only trigger refuses it
        for statement in statements:
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                db.session.execute(sa.text(statement))
            db.session.rollback()
    assert _events()


def test_prune_leaves_a_verifiable_chain(app):
    total = len(_events())
    cutoff = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    from app.services import db_roles

    with db_roles.as_owner(db):  # pruning is the owner role's (the app role may not delete events)
        assert audit.prune(db.session, cutoff) == total
        db.session.commit()
    remaining = _events()
    assert [e.action for e in remaining] == ["audit.checkpoint"]
    assert run_cli(app, "audit", "verify").exit_code == 0
    assert run_cli(app, "audit", "prune", "--before", "2999-01-01", "--yes").exit_code != 0  # recent: refused


def test_history_on_record_pages_and_client_activity(app, client):
    login(client, "operator")
    _start(client, "basic-co-owner")
    _end(client)
    project = db.session.execute(sa.select(m.Project).where(m.Project.client_id == _client_id("basic-co"))
                                 .limit(1)).scalar_one()
    project.internal_notes = "Margin is thin"
    db.session.commit()
    html = client.get(f"/projectview/show/{project.id}").get_data(as_text=True)
    assert "History" in html and "Margin is thin" in html and "Internal notes: " in html  # the field by its label

    viewer = app.test_client()
    login(viewer, "basic-co-owner")
    activity = viewer.get("/portal/activity/list/?psize_PortalActivityView=100").get_data(as_text=True)
    assert "View-as started" in activity and "View-as ended" in activity  # the actions in words
    sessions = viewer.get("/portal/view-as-sessions/list/").get_data(as_text=True)
    assert str(db.session.get(m.User, _user_id("operator"))) in sessions
    own_page = viewer.get(f"/portal/projects/show/{project.id}").get_data(as_text=True)
    assert "Margin is thin" not in own_page  # staff-only change: not shown to the client
    other = _events(client_id=_client_id("pro-co"))[0]
    assert viewer.get(f"/portal/activity/show/{other.id}").status_code == 404


def test_admin_exports_the_filtered_log_and_the_export_is_audited(app, client):
    login(client, "operator")
    assert client.get("/auditeventview/export.csv").status_code == 403
    admin = app.test_client()
    login(admin, "admin")
    expected = len([e for e in _events() if (e.resource_type or "").startswith("ClientMember")])
    response = admin.get("/auditeventview/export.csv?_flt_0_resource_type=ClientMember")  # starts with
    assert response.status_code == 200 and response.mimetype == "text/csv"
    lines = response.get_data(as_text=True).strip().splitlines()
    assert lines[0].startswith("seq,occurred_at,action") and len(lines) == 1 + expected >= 9
    assert all(",ClientMember," in line for line in lines[1:])
    export = _events(action="audit.export")[-1]
    assert export.actor_id == _user_id("admin") and export.details["rows"] == expected
    assert admin.get("/auditeventview/list/").status_code == 200
    assert admin.get("/auditeventview/edit/1").status_code == 404  # no edit route at all
    assert admin.post("/auditeventview/delete/1").status_code in (404, 405)


def test_logins_and_logouts_are_recorded_without_passwords(app, client):
    bad = client.post("/api/v1/security/login", json={"username": "operator", "password": "guess-1234",
                                                      "provider": "db"})
    assert bad.status_code == 401
    login_with_form(client, "admin")
    client.get("/logout/")
    failed = _events(action="login.failed")[-1]
    assert failed.details == {"username": "operator"} and failed.channel == "api"
    success = _events(action="login.success")[-1]
    assert success.actor_id == _user_id("admin") and success.channel == "web"
    assert _events(action="logout")[-1].actor_id == _user_id("admin")
    assert "guess-1234" not in str([(e.details, e.changes) for e in _events()])


def test_bulk_statements_through_the_session_are_one_event_each(app):
    pro = _client_id("pro-co")
    changed = db.session.execute(sa.update(m.Ticket).where(m.Ticket.client_id == pro)
                                 .values(priority="urgent")).rowcount
    db.session.commit()
    event = _events(action="bulk_update")[-1]
    assert event.resource_type == "Ticket" and event.details["rows"] == changed > 0
    assert event.details["values"] == {"priority": "urgent"} and event.channel == "cli"


def test_audit_screens_speak_words_not_code_names(app, client):
    """Issue 21: actions, record types and fields as a person names them; the CSV keeps
    the stored names."""
    login(client, "admin")
    html = client.get("/auditeventview/list/?psize_AuditEventView=100").get_data(as_text=True)
    cells = set(re.findall(r"<td>([^<]*)</td>", html))
    assert {"Created", "Changed"} & cells and not {"create", "update", "delete", "login.success"} & cells
    assert "Campaign metric" in cells and "CampaignMetric" not in cells
    project = db.session.execute(sa.select(m.Project).order_by(m.Project.id).limit(1)).scalar_one()
    before = project.completion_percent
    project.completion_percent = 7 if before != 7 else 8
    db.session.commit()
    page = client.get(f"/projectview/show/{project.id}").get_data(as_text=True)
    history = page[page.index('id="history"'):]
    assert "<td>Changed</td>" in history and "<code>" not in history
    assert f"Completion percent: {before} &rarr; {project.completion_percent}" in history
    exported = client.get("/auditeventview/export.csv").get_data(as_text=True)
    assert ",create," in exported and ",Created," not in exported


def test_the_audit_list_finds_people_by_name(app, client):
    login_with_form(client, "operator")
    client.get("/logout/")
    login(client, "admin")
    operator = _user_id("operator")
    by_operator = len(_events(actor_id=operator))
    assert by_operator >= 1

    def count(query):
        response = client.get(f"/auditeventview/list/?{query}&psize_AuditEventView=100")
        assert response.status_code == 200
        return _record_count(response.get_data(as_text=True))

    assert count("_flt_0_actor=Ot%C3%A1vio") == by_operator  # first name, as people know them
    assert count("_flt_0_actor=ot%C3%A1vio%20OPERATOR") == by_operator  # full name, any case
    assert count("_flt_0_actor=operator") == by_operator  # username
    assert count(f"_flt_0_actor={operator}") == by_operator  # still an id
    assert count("_flt_0_actor=Otavio%20Operator") == 0  # nobody by that name
    assert count("_flt_0_actor=%25") == 0  # a wildcard is a character, not "anyone"
    html = client.get("/auditeventview/list/").get_data(as_text=True)  # the filter's box, in FAB's filter JSON
    assert 'name=\\"actor\\" placeholder=\\"Actor: name or id (#)\\" type=\\"text\\"' in html
