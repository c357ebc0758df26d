"""Server-side sessions (issue 15 items 1-2): a copied cookie is worth nothing once the
session it belongs to has ended, whoever replays it and whatever door it knocks on.

Each test keeps a browser's cookie, ends the session the way a person would (End of a
"view as", its expiry, sign-out, a password change, a deactivation) and replays the
kept cookie from a second browser: it is sent to sign in and writes nothing. Both
backends; on PostgreSQL as the production app role.
"""

import datetime as dt

import sqlalchemy as sa

from app import models as m
from app.extensions import db
from app.services import impersonation as impersonation_service
from tests.conftest import PASSWORD, csrf_token, login_with_form, run_cli

import pytest
# About signing in: the real form and production's password hash.
pytestmark = pytest.mark.usefixtures("real_password_hash")


def _user_id(username):
    return db.session.execute(sa.select(m.User.id).filter_by(username=username)).scalar_one()


def _ticket_count():
    db.session.expire_all()
    return db.session.execute(sa.select(sa.func.count()).select_from(m.Ticket)).scalar_one()


def _kept(client):
    """The browser's session cookie, as somebody copying it would keep it."""
    return client.get_cookie("session").value


def _replay(app, cookie):
    """A second browser holding only the copied cookie."""
    other = app.test_client()
    other.set_cookie("session", cookie)
    return other


def _start_view_as(client, target, mode="read-only"):
    target_id = _user_id(target)
    token = csrf_token(client, f"/impersonate/new/{target_id}")
    response = client.post(f"/impersonate/start/{target_id}", data={
        "csrf_token": token, "reason": "Checking the dashboard for the client", "mode": mode,
        "return_to": "/ticketview/list/"})
    assert response.status_code == 302 and response.location.endswith("/portal/"), response.status_code


def _end_view_as(client):
    response = client.post("/impersonate/end", data={"csrf_token": csrf_token(client, "/portal/")})
    assert response.status_code == 302
    return response


def _assert_sent_to_sign_in(response):
    assert response.status_code == 302, response.status_code
    assert "/login/" in response.location, response.location


def _assert_replay_changes_nothing(app, cookie, ticket_token):
    """The kept cookie opens nothing and writes nothing: the portal, a new ticket, the
    password screen."""
    before = _ticket_count()
    thief = _replay(app, cookie)
    _assert_sent_to_sign_in(thief.get("/portal/"))
    thief = _replay(app, cookie)
    _assert_sent_to_sign_in(thief.post("/portal/tickets/add", data={
        "csrf_token": ticket_token, "subject": "Replayed", "description": "from a kept cookie",
        "priority": "low"}))
    assert _ticket_count() == before
    thief = _replay(app, cookie)
    _assert_sent_to_sign_in(thief.get("/resetmypassword/form"))
    thief = _replay(app, cookie)
    response = thief.get("/portal/", follow_redirects=True)
    assert "Please sign in again" in response.get_data(as_text=True)


def test_a_view_as_cookie_kept_past_end_is_refused(app, client):
    login_with_form(client, "admin")
    _start_view_as(client, "pro-co-owner", mode="full")
    ticket_token = csrf_token(client, "/portal/tickets/add")
    kept = _kept(client)
    assert _replay(app, kept).get("/portal/").status_code == 200  # live: the copy works, as the browser does
    _end_view_as(client)
    _assert_replay_changes_nothing(app, kept, ticket_token)
    # The staff member's own browser goes on as themselves.
    assert client.get("/ticketview/list/").status_code == 200
    assert client.get("/portal/").status_code in (302, 403)


def test_a_read_only_view_as_cookie_kept_past_end_cannot_write_as_the_client(app, client):
    login_with_form(client, "operator")
    _start_view_as(client, "pro-co-owner")
    ticket_token = csrf_token(client, "/portal/tickets/add")
    kept = _kept(client)
    _end_view_as(client)
    _assert_replay_changes_nothing(app, kept, ticket_token)
    events = db.session.execute(sa.select(m.AuditEvent).where(
        m.AuditEvent.resource_type == "Ticket", m.AuditEvent.action == "create",
        m.AuditEvent.actor_id == _user_id("pro-co-owner"))).scalars().all()
    assert events == []


def _view_as_until_it_expires(client):
    """Admin views as pro-co-owner (full mode); the cookie and a ticket form's CSRF token
    are kept; then the view-as session's time runs out. Returns (token, cookie)."""
    login_with_form(client, "admin")
    _start_view_as(client, "pro-co-owner", mode="full")
    ticket_token = csrf_token(client, "/portal/tickets/add")
    kept = _kept(client)
    row = db.session.execute(sa.select(m.ImpersonationSession).order_by(m.ImpersonationSession.id.desc())
                             ).scalars().first()
    row.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    db.session.commit()
    return ticket_token, kept


def test_a_view_as_cookie_kept_past_expiry_is_refused(app, client):
    ticket_token, kept = _view_as_until_it_expires(client)
    back = client.get("/portal/")  # the browser's next request ends it and returns the staff member
    assert back.status_code == 302 and back.location.endswith("/ticketview/list/")
    _assert_replay_changes_nothing(app, kept, ticket_token)


def test_a_view_as_cookie_whose_session_the_clean_up_job_expired_is_refused(app, client):
    ticket_token, kept = _view_as_until_it_expires(client)
    assert impersonation_service.end_expired(db.session) == 1  # nobody came back: the job ends it
    db.session.commit()
    _assert_replay_changes_nothing(app, kept, ticket_token)


def test_the_cookie_from_before_view_as_stops_working_when_it_starts(app, client):
    login_with_form(client, "operator")
    before = _kept(client)
    _start_view_as(client, "pro-co-owner")
    _assert_sent_to_sign_in(_replay(app, before).get("/ticketview/list/"))


def test_a_cookie_kept_past_logout_is_refused(app, client):
    login_with_form(client, "pro-co-viewer")
    kept = _kept(client)
    assert _replay(app, kept).get("/portal/").status_code == 200
    client.get("/logout/")
    _assert_sent_to_sign_in(_replay(app, kept).get("/portal/"))
    row = db.session.execute(sa.select(m.UserSession).where(m.UserSession.user_id == _user_id("pro-co-viewer"))
                             ).scalar_one()
    assert row.end_reason == "logout" and row.ended_at is not None


def test_logout_while_viewing_as_ends_both_sessions(app, client):
    login_with_form(client, "admin")
    _start_view_as(client, "pro-co-owner", mode="full")
    ticket_token = csrf_token(client, "/portal/tickets/add")
    kept = _kept(client)
    client.get("/logout/")
    _assert_replay_changes_nothing(app, kept, ticket_token)
    db.session.expire_all()
    rows = db.session.execute(sa.select(m.UserSession).where(m.UserSession.true_user_id == _user_id("admin"))
                              ).scalars().all()
    assert sorted(r.kind for r in rows) == ["sign-in", "view-as"]
    assert all(r.end_reason == "logout" for r in rows), [(r.kind, r.end_reason) for r in rows]


def test_a_sign_in_past_its_lifetime_is_refused(app, client):
    login_with_form(client, "pro-co-owner")
    kept = _kept(client)
    row = db.session.execute(sa.select(m.UserSession).where(m.UserSession.user_id == _user_id("pro-co-owner"))
                             ).scalar_one()
    row.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    db.session.commit()
    _assert_sent_to_sign_in(client.get("/portal/"))
    _assert_sent_to_sign_in(_replay(app, kept).get("/portal/"))


def test_a_password_change_ends_the_other_sessions(app, client):
    login_with_form(client, "pro-co-owner")
    elsewhere = app.test_client()
    login_with_form(elsewhere, "pro-co-owner")
    kept = _kept(elsewhere)
    token = csrf_token(client, "/resetmypassword/form")
    response = client.post("/resetmypassword/form", data={
        "csrf_token": token, "password": "a-new-Password-42", "conf_password": "a-new-Password-42"})
    assert response.status_code == 302
    assert client.get("/portal/").status_code == 200  # where it was changed: still signed in
    _assert_sent_to_sign_in(elsewhere.get("/portal/"))
    _assert_sent_to_sign_in(_replay(app, kept).get("/portal/"))


def test_deactivation_ends_every_session_of_the_user(app, client):
    login_with_form(client, "pro-co-viewer")
    assert client.get("/portal/").status_code == 200
    result = run_cli(app, "members", "remove", "--client", "pro-co", "--user", "pro-co-viewer", "--yes")
    assert result.exit_code == 0, result.output
    _assert_sent_to_sign_in(client.get("/portal/"))
    row = db.session.execute(sa.select(m.UserSession).where(m.UserSession.user_id == _user_id("pro-co-viewer"))
                             ).scalar_one()
    assert row.end_reason == "deactivated"


def test_a_signed_cookie_without_a_server_side_session_is_refused(app, client):
    """A cookie signed with the app's key but naming no session (from before server-side
    sessions, or forged by someone holding the key) is not a sign-in."""
    login_with_form(client, "pro-co-owner")
    with client.session_transaction() as cookie:
        cookie["atrium_sid"] = "made-up-token"
    _assert_sent_to_sign_in(client.get("/portal/"))
    with client.session_transaction() as cookie:
        assert "_user_id" not in cookie
    login_with_form(client, "pro-co-owner", PASSWORD)  # and signing in again works
    assert client.get("/portal/").status_code == 200


def test_a_token_of_one_user_does_not_open_another_users_session(app, client):
    login_with_form(client, "pro-co-viewer")
    with client.session_transaction() as cookie:
        cookie["_user_id"] = str(_user_id("admin"))  # a cookie re-signed with the key, another user's id
    _assert_sent_to_sign_in(client.get("/clientview/list/"))


def test_cleanup_prunes_sessions_past_retention_and_keeps_live_ones(app, client):
    login_with_form(client, "pro-co-owner")
    elsewhere = app.test_client()
    login_with_form(elsewhere, "pro-co-viewer")
    elsewhere.get("/logout/")
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=31)
    viewer = _user_id("pro-co-viewer")
    db.session.execute(sa.update(m.UserSession).where(m.UserSession.user_id == viewer).values(ended_at=old))
    db.session.commit()
    result = run_cli(app, "jobs", "run", "maintenance.cleanup")
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.execute(sa.select(m.UserSession).where(m.UserSession.user_id == viewer)).first() is None
    assert client.get("/portal/").status_code == 200  # the live sign-in is untouched
