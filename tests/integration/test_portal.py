"""The client portal through the doors a client uses: pages, forms and the REST API.

Isolation tests are generated from the registered portal views and API resources: for
each, another client's row by id is 404 and nothing changes.
"""

import datetime as dt
import io
import re

import pytest
import sqlalchemy as sa

from app import models as m
from app.extensions import db
from app.models.base import utcnow
from app.services import tiers
from app.views.portal.base import WRITE_ENDPOINTS, PortalModelView
from tests.conftest import PASSWORD, csrf_token, login


def _client_id(slug):
    return db.session.execute(sa.select(m.Client.id).filter_by(slug=slug)).scalar_one()


def _portal_views(app):
    return [v for v in app.appbuilder.baseviews if isinstance(v, PortalModelView)]


def _other_row(model, not_client):
    return db.session.execute(sa.select(model.id).where(model.client_id != not_client).limit(1)).scalar_one_or_none()


def test_every_portal_list_shows_own_rows_only(app, client):
    login(client, "free-co-owner")
    free = _client_id("free-co")
    for view in _portal_views(app):
        model = view.datamodel.obj
        hidden = [getattr(model, flag).is_(False) for flag in ("internal", "staff_only") if hasattr(model, flag)]
        own = db.session.execute(sa.select(sa.func.count()).select_from(model).where(model.client_id == free,
                                                                                      *hidden)).scalar_one()
        html = client.get(f"{view.route_base}/list/").get_data(as_text=True)
        shown = re.search(r"Record Count:\s*</?\w*>?\s*(\d+)", html)
        assert (int(shown.group(1)) if shown else 0) == own, view.__class__.__name__


def test_another_clients_rows_are_not_found_through_every_portal_view(app, client):
    login(client, "free-co-owner")
    free = _client_id("free-co")
    token = csrf_token(client, "/portal/tickets/add")
    checked = 0
    for view in _portal_views(app):
        model = view.datamodel.obj
        other = _other_row(model, free)
        if other is None:
            continue
        for path in (f"{view.route_base}/show/{other}", f"{view.route_base}/edit/{other}"):
            assert client.get(path).status_code in (403, 404), path
        for endpoint in ("delete", "reply", "close"):
            response = client.post(f"{view.route_base}/{endpoint}/{other}", data={"csrf_token": token, "body": "x"})
            assert response.status_code in (403, 404, 405), (view.route_base, endpoint)
        if hasattr(view, "download"):
            assert client.get(f"{view.route_base}/download/{other}").status_code == 404
        db.session.expire_all()
        assert db.session.get(model, other) is not None
        # Related-view filters cannot reach into another client either.
        for fk in model.__table__.foreign_keys:
            if fk.parent.name in ("client_id",) or fk.column.table.name not in ("projects", "campaigns", "incidents"):
                continue
            parent = db.session.execute(sa.select(fk.column).where(
                fk.column.table.c.client_id != free).limit(1)).scalar_one()
            relation = next((r.key for r in sa.inspect(model).relationships if fk.parent in r.local_columns), None)
            html = client.get(f"{view.route_base}/list/?_flt_0_{relation}={parent}").get_data(as_text=True)
            shown = re.search(r"Record Count:\s*</?\w*>?\s*(\d+)", html)
            own = db.session.execute(sa.select(sa.func.count()).select_from(model)
                                     .where(model.client_id == free)).scalar_one()
            # The filter finds nothing, or (not a search column) is ignored: own rows only.
            assert (int(shown.group(1)) if shown else 0) in (0, own), (view.route_base, relation)
        checked += 1
    assert checked >= 8


def _api_headers(client, username):
    response = client.post("/api/v1/security/login", json={"username": username, "password": PASSWORD, "provider": "db"})
    assert response.status_code == 200
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


def test_the_api_serves_clients_their_own_rows_only(app, client):
    headers = _api_headers(client, "free-co-owner")
    free = _client_id("free-co")
    checked = 0
    for api in app.appbuilder.baseviews:
        name = getattr(api, "resource_name", None)
        if not name or not hasattr(api, "datamodel") or not hasattr(api.datamodel.obj, "client_id"):
            continue
        listing = client.get(f"/api/v1/{name}/", headers=headers)
        if listing.status_code == 403:
            continue  # not a client API (roles.CLIENT_API)
        assert listing.status_code == 200, name
        assert {row["client_id"] for row in listing.get_json()["result"]} <= {free}, name
        other = _other_row(api.datamodel.obj, free)
        assert client.get(f"/api/v1/{name}/{other}", headers=headers).status_code == 404, name
        assert client.put(f"/api/v1/{name}/{other}", headers=headers, json={}).status_code in (403, 404), name
        assert client.delete(f"/api/v1/{name}/{other}", headers=headers).status_code in (403, 404), name
        checked += 1
    assert checked >= 5
    assert "assignee_id" not in client.get("/api/v1/ticket/", headers=headers).get_json()["result"][0]


def test_a_client_opens_a_ticket_through_the_api_on_their_own_client(app, client):
    headers = _api_headers(client, "basic-co-owner")
    pro = _client_id("pro-co")
    created = client.post("/api/v1/ticket/", headers=headers, json={
        "client_id": pro, "subject": "From the API", "description": "details", "priority": "low"})
    assert created.status_code == 201, created.get_json()
    ticket = db.session.get(m.Ticket, created.get_json()["id"])
    assert ticket.client_id == _client_id("basic-co") and ticket.sla_hours == 24


def test_viewers_get_403_on_every_write(app, client):
    login(client, "pro-co-viewer")
    token = csrf_token(client, "/resetmypassword/form")
    own_ticket = db.session.execute(sa.select(m.Ticket.id).where(m.Ticket.client_id == _client_id("pro-co"))
                                    .limit(1)).scalar_one()
    tried = 0
    for view in _portal_views(app):
        for endpoint in WRITE_ENDPOINTS:
            rule = f"{view.__class__.__name__}.{endpoint}"
            if rule not in app.view_functions:
                continue
            path = f"{view.route_base}/{endpoint}" + (f"/{own_ticket}" if endpoint in ("reply", "close", "reopen", "rate", "role", "remove", "edit", "delete") else "")
            response = client.post(path, data={"csrf_token": token, "body": "x", "subject": "x"})
            assert response.status_code == 403, path
            tried += 1
    assert tried >= 5
    assert "read-only" in client.post("/portal/tickets/add", data={"csrf_token": token}).get_data(as_text=True)


def _open_ticket(client, subject="Help"):
    token = csrf_token(client, "/portal/tickets/add")
    return client.post("/portal/tickets/add", data={"csrf_token": token, "subject": subject, "description": "d",
                                                     "priority": "low"}, follow_redirects=True)


def _fill_month(slug, total):
    client_id = _client_id(slug)
    used = tiers.usage(db.session, client_id, "tickets_per_month")
    now = utcnow()
    db.session.execute(sa.insert(m.Ticket), [dict(
        client_id=client_id, subject=f"filler {n}", description="x", priority="low", status="closed",
        sla_paused_seconds=0, sla_state="ok", created_at=now, updated_at=now) for n in range(total - used)])
    db.session.commit()


def test_the_sixteenth_ticket_of_the_month_on_free_is_refused_with_the_plan(app, client):
    _fill_month("free-co", 15)
    login(client, "free-co-owner")
    html = _open_ticket(client, "One too many").get_data(as_text=True)
    assert "Your Free plan allows 15 tickets per month; 15 were opened this month." in html
    assert db.session.execute(sa.select(m.Ticket).filter_by(subject="One too many")).first() is None


def test_enterprise_is_never_limited(app, client):
    _fill_month("enterprise-co", 200)
    login(client, "enterprise-co-owner")
    assert "Your ticket was opened." in _open_ticket(client, "Still fine").get_data(as_text=True)


def _invite(client, owner, username, email):
    login(client, owner)
    return client.post("/portal/team/invite", data={
        "csrf_token": csrf_token(client, "/portal/team/invite"), "first_name": "New", "last_name": "Person",
        "email": email, "username": username, "role": "member", "password": "a-long-password"})


def test_team_member_limit_names_the_plan(app, client):
    response = _invite(client, "free-co-owner", "free-co-new", "new@free-co.example")
    assert response.status_code == 403
    assert "Your Free plan allows 2 team members; you have 2." in response.get_data(as_text=True)
    assert app.appbuilder.sm.find_user(username="free-co-new") is None


def test_owner_adds_a_member_within_the_limit(app, client):
    assert _invite(client, "pro-co-owner", "pro-co-ana", "ana@pro-co.example").status_code == 302
    client.get("/logout/")
    login(client, "pro-co-ana", "a-long-password")
    assert "Pro Co" in client.get("/portal/").get_data(as_text=True)


def test_a_second_domain_on_free_is_refused_through_the_api(app, client):
    headers = _api_headers(client, "operator")
    response = client.post("/api/v1/domain/", headers=headers, json={
        "client_id": _client_id("free-co"), "name": "second-free.example", "status": "active"})
    assert response.status_code == 403
    assert response.get_json()["message"] == "Your Free plan allows 1 domain; you have 1. Upgrade or remove one."
    assert db.session.execute(sa.select(m.Domain).filter_by(name="second-free.example")).first() is None


def test_staff_adding_a_second_project_for_free_gets_the_plan_message(app, client):
    login(client, "operator")
    token = csrf_token(client, "/projectview/add")
    response = client.post("/projectview/add", data={
        "csrf_token": token, "client": str(_client_id("free-co")), "name": "Second", "status": "discovery",
        "completion_percent": "0", "budget_total": "0", "budget_used": "0"}, follow_redirects=True)
    assert "Your Free plan allows 1 project; you have 1. Upgrade or archive one." in response.get_data(as_text=True)
    assert db.session.execute(sa.select(m.Project).filter_by(name="Second")).first() is None


def test_uploads_count_against_storage_and_downloads_stay_inside_the_client(app, client, tmp_path):
    app.config["UPLOAD_DIR"] = str(tmp_path)
    free = _client_id("free-co")
    login(client, "free-co-owner")
    token = csrf_token(client, "/portal/files/upload")
    ok = client.post("/portal/files/upload", data={"csrf_token": token, "file": (io.BytesIO(b"hello brief"), "brief.txt")},
                     content_type="multipart/form-data")
    assert ok.status_code == 302
    row = db.session.execute(sa.select(m.StorageFile).filter_by(file_name="brief.txt")).scalar_one()
    assert row.client_id == free and row.size_bytes == 11
    assert client.get(f"/portal/files/download/{row.id}").data == b"hello brief"

    bad = client.post("/portal/files/upload", data={"csrf_token": token, "file": (io.BytesIO(b"<html><script>"), "x.html")},
                      content_type="multipart/form-data")
    assert bad.status_code == 422 and "cannot be uploaded" in bad.get_data(as_text=True)

    # An attachment on a reply that is refused (no text) keeps no bytes.
    some = db.session.execute(sa.select(m.Ticket.id).where(m.Ticket.client_id == free).limit(1)).scalar_one()
    refused = client.post(f"/portal/tickets/reply/{some}", data={
        "csrf_token": token, "body": "  ", "attachment": (io.BytesIO(b"abc"), "late.txt")},
        content_type="multipart/form-data", follow_redirects=True)
    assert "Write a message before sending." in refused.get_data(as_text=True)
    assert list(tmp_path.rglob("*late.txt")) == []

    db.session.execute(sa.insert(m.StorageFile).values(
        client_id=free, file_name="big.zip", stored_path=f"{free}/big.zip", mime_type="application/zip",
        size_bytes=5 * tiers.GB - 5, sha256="0" * 64, tags=[]))
    db.session.commit()
    full = client.post("/portal/files/upload", data={"csrf_token": token, "file": (io.BytesIO(b"0123456789"), "more.txt")},
                       content_type="multipart/form-data")
    assert full.status_code == 403
    assert "Your Free plan includes 5 GB of storage" in full.get_data(as_text=True)
    assert list(tmp_path.rglob("*more.txt")) == []  # nothing left on disk



def test_sla_due_time_from_the_portal_follows_the_tier(app, client):
    for slug, hours in (("free-co", None), ("basic-co", 24), ("pro-co", 4), ("enterprise-co", 1)):
        login(client, f"{slug}-owner")
        _open_ticket(client, f"SLA {slug}")
        ticket = db.session.execute(sa.select(m.Ticket).filter_by(subject=f"SLA {slug}")).scalar_one()
        assert ticket.sla_hours == hours
        if hours:
            assert ticket.first_response_due_at - ticket.created_at == dt.timedelta(hours=hours)
        else:
            assert ticket.first_response_due_at is None
        client.get("/logout/")


def test_internal_notes_never_reach_the_ticket_page(app, client):
    pro = _client_id("pro-co")
    note = db.session.execute(sa.select(m.TicketMessage).where(m.TicketMessage.client_id == pro,
                                                               m.TicketMessage.internal.is_(True))).scalars().first()
    login(client, "pro-co-owner")
    html = client.get(f"/portal/tickets/show/{note.ticket_id}").get_data(as_text=True)
    assert note.body not in html


def test_dashboard_shows_the_clients_own_figures(app, client):
    pro = _client_id("pro-co")
    projects = db.session.execute(sa.select(m.Project.name).where(m.Project.client_id == pro)).scalars().all()
    others = db.session.execute(sa.select(m.Project.name).where(m.Project.client_id != pro)).scalars().all()
    pending = db.session.execute(sa.select(m.Milestone.title).where(
        m.Milestone.client_id == pro, m.Milestone.completed_at.is_(None)).order_by(m.Milestone.due_date)
        .limit(1)).scalar_one()
    login(client, "pro-co-owner")
    html = client.get("/portal/").get_data(as_text=True)
    assert all(name in html for name in projects)
    assert not any(name in html for name in set(others) - set(projects))
    assert pending in html and "/ 60</div>" in html and 'id="campaign-series"' in html


# --------------------------------------------------------------------------- contact data

CONTACT = {"contact_name": "Joana Prado", "contact_email": "joana@free-co.example", "contact_phone": "+55 21 99876-5432"}


def _own_row(model, slug):
    return db.session.execute(sa.select(model).where(model.client_id == _client_id(slug)).order_by(model.id)
                              .limit(1)).scalar_one()


def _member(slug, username, role):
    """A portal user of ``slug`` with membership ``role``, added by staff."""
    from flask import current_app

    sm = current_app.appbuilder.sm
    user = sm.add_user(username, "Test", role.title(), f"{username}@{slug}.example", sm.find_role("Client"),
                       password=PASSWORD)
    db.session.add(m.ClientMember(client_id=_client_id(slug), user_id=user.id, role=role))
    db.session.commit()
    return username


def _edit_contact(client, route, pk, data):
    token = csrf_token(client, "/resetmypassword/form")  # a form every signed-in user may open
    return client.post(f"{route}/edit/{pk}", data={"csrf_token": token, **data})


@pytest.mark.parametrize("model, route", [(m.Project, "/portal/projects"), (m.Domain, "/portal/domains")])
def test_owner_edits_contact_data_and_sees_it(app, client, model, route):
    row = _own_row(model, "free-co")
    login(client, "free-co-owner")
    form = client.get(f"{route}/edit/{row.id}").get_data(as_text=True)
    assert all(f'name="{name}"' in form for name in CONTACT)
    assert 'name="budget_total"' not in form and 'name="status"' not in form and 'name="name"' not in form

    response = _edit_contact(client, route, row.id, CONTACT)
    assert response.status_code == 302
    db.session.expire_all()
    saved = db.session.get(model, row.id)
    assert {k: getattr(saved, k) for k in CONTACT} == CONTACT
    page = client.get(f"{route}/show/{row.id}").get_data(as_text=True)
    assert all(value in page for value in CONTACT.values())


def test_a_client_admin_edits_domain_contacts_too(app, client):
    domain = _own_row(m.Domain, "pro-co")
    login(client, _member("pro-co", "pro-co-admin", "admin"))
    response = _edit_contact(client, "/portal/domains", domain.id, {**CONTACT, "contact_name": "By admin"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(m.Domain, domain.id).contact_name == "By admin"


def test_forged_fields_in_the_contact_form_change_nothing_else(app, client):
    project = _own_row(m.Project, "free-co")
    before = (project.budget_total, project.status, project.name, project.completion_percent, project.client_id)
    login(client, "free-co-owner")
    response = _edit_contact(client, "/portal/projects", project.id, {
        **CONTACT, "budget_total": "999999.00", "status": "live", "name": "Renamed", "completion_percent": "100",
        "client": str(_client_id("pro-co")), "client_id": str(_client_id("pro-co"))})
    assert response.status_code == 302
    db.session.expire_all()
    project = db.session.get(m.Project, project.id)
    assert (project.budget_total, project.status, project.name, project.completion_percent,
            project.client_id) == before
    assert project.contact_email == CONTACT["contact_email"]


@pytest.mark.parametrize("who", ["viewer", "member"])
def test_members_and_viewers_cannot_edit_contact_data(app, client, who):
    username = "free-co-viewer" if who == "viewer" else _member("pro-co", "pro-co-member", "member")
    slug = "free-co" if who == "viewer" else "pro-co"
    login(client, username)
    for model, route in ((m.Project, "/portal/projects"), (m.Domain, "/portal/domains")):
        row = _own_row(model, slug)
        assert client.get(f"{route}/edit/{row.id}").status_code == 403
        response = _edit_contact(client, route, row.id, CONTACT)
        assert response.status_code == 403
        assert ("read-only" if who == "viewer" else "may not change") in response.get_data(as_text=True)
        db.session.expire_all()
        assert db.session.get(model, row.id).contact_name != CONTACT["contact_name"]


def test_another_clients_project_or_domain_cannot_be_edited(app, client):
    login(client, "free-co-owner")
    for model, route in ((m.Project, "/portal/projects"), (m.Domain, "/portal/domains")):
        other = _own_row(model, "pro-co")
        before = other.contact_name
        assert client.get(f"{route}/edit/{other.id}").status_code == 404
        assert _edit_contact(client, route, other.id, CONTACT).status_code == 404
        db.session.expire_all()
        assert db.session.get(model, other.id).contact_name == before


def test_projects_and_domains_have_no_portal_add_or_delete(app, client):
    project = _own_row(m.Project, "free-co")
    login(client, "free-co-owner")
    token = csrf_token(client, "/resetmypassword/form")
    assert client.get("/portal/projects/add").status_code == 404
    assert client.post(f"/portal/projects/delete/{project.id}", data={"csrf_token": token}).status_code == 404
    assert db.session.get(m.Project, project.id) is not None


@pytest.mark.parametrize("field, value, message", [
    ("contact_email", "joana-at-example", "is not a valid email address"),
    ("contact_phone", "call me maybe", "Enter a phone number such as"),
    ("contact_name", "x" * 121, "at most 120 characters"),
])
def test_invalid_contact_data_comes_back_with_a_message(app, client, field, value, message):
    project = _own_row(m.Project, "free-co")
    before = {k: getattr(project, k) for k in CONTACT}
    login(client, "free-co-owner")
    response = _edit_contact(client, "/portal/projects", project.id, {**CONTACT, field: value})
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    db.session.expire_all()
    assert {k: getattr(db.session.get(m.Project, project.id), k) for k in CONTACT} == before


def test_seeded_contacts_are_shown_in_the_portal(app, client):
    domain = _own_row(m.Domain, "free-co")
    assert domain.contact_name and domain.contact_email
    login(client, "free-co-owner")
    page = client.get(f"/portal/domains/show/{domain.id}").get_data(as_text=True)
    assert domain.contact_name in page and domain.contact_email in page


def test_an_enterprise_portal_is_white_label_and_other_plans_say_atrium(app, client):
    """Issue 21: the client's name (and colour) in the navbar and title, no agency name."""
    enterprise = db.session.execute(sa.select(m.Client).filter_by(slug="enterprise-co")).scalar_one()
    login(client, "enterprise-co-owner")
    navbar = client.get("/portal/").get_data(as_text=True).split('class="navbar-collapse', 1)[1].split("</div>", 1)[0]
    paths = sorted(set(re.findall(r'href="(/portal/[^"#]*)"', navbar)))
    assert "/portal/activity/list/" in paths and len(paths) >= 8  # every page of the menu, the audit's too
    project = db.session.execute(sa.select(m.Project.id).filter_by(client_id=enterprise.id).limit(1)).scalar_one()
    for path in (*paths, f"/portal/projects/show/{project}"):  # a record's History names who changed it
        html = client.get(path).get_data(as_text=True)
        assert "Atrium" not in html, path
        assert re.search(rf'id="navbar-brand">\s*{re.escape(enterprise.name)}\s*</a>', html), path
        assert re.search(rf"<title>(?:[^<·]+ · )?{re.escape(enterprise.name)}</title>", html), path
    assert enterprise.brand_primary_color and f"background-color: {enterprise.brand_primary_color}" in html
    assert client.get("/portal/brand-logo").status_code == (404 if not enterprise.brand_logo_path else 200)
    login(client, "pro-co-owner")
    assert re.search(r'id="navbar-brand">\s*<a href="[^"]*">\s*Atrium', client.get("/portal/").get_data(as_text=True))


def test_an_empty_list_says_what_to_do_next(app, client):
    login(client, "free-co-owner")
    searched = client.get("/portal/tickets/list/?_flt_0_subject=no-such-ticket-anywhere").get_data(as_text=True)
    empty = re.search(r'<div class="atrium-empty" id="list-empty">(.*?)</div>', searched, re.S).group(1)
    assert "Nothing matches this search." in empty and 'href="/portal/tickets/list/"' in empty
    db.session.execute(sa.delete(m.Ticket).where(m.Ticket.client_id == _client_id("free-co")))
    db.session.commit()
    html = client.get("/portal/tickets/list/").get_data(as_text=True)
    empty = re.search(r'<div class="atrium-empty" id="list-empty">(.*?)</div>', html, re.S).group(1)
    assert "Nothing here yet." in empty and "Start with “Open a ticket” above." in empty
    login(client, "free-co-viewer")
    html = client.get("/portal/tickets/list/").get_data(as_text=True)
    empty = re.search(r'<div class="atrium-empty" id="list-empty">(.*?)</div>', html, re.S).group(1)
    assert "Nothing here yet." in empty and "Start with" not in empty  # a viewer cannot open one
