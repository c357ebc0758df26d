"""Issue 16, the client portal: every form and picker shows a person only what is theirs
to type and see, every button they see works for them, and only the doors SPEC gives a
client exist.

Generated from the registered portal views (``appbuilder.baseviews``): nothing here lists
a route by hand except the forged fields of the issue. Each test runs on SQLite and on
PostgreSQL (the ``app`` fixture).
"""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from app import models as m
from app.extensions import db
from app.views.portal.base import PortalModelView
from tests.conftest import PASSWORD, csrf_token, login, run_cli

CLIENTS = ("pro-co", "enterprise-co")
# FAB's generated routes; a portal view keeps only those it names in ``portal_routes``.
GENERATED_ROUTES = frozenset({"add", "edit", "delete", "action", "action_post", "download"})
ROLES = ("owner", "admin", "member", "viewer")
# Fields only staff (or the system) set; a client's forged value must change nothing.
FORGED = {"sla_hours": "400", "sla_state": "breached", "assignee": "1", "client": "1", "client_id": "1",
          "opened_by": "1", "created_at": "2001-01-01 00:00:00", "updated_at": "2001-01-01 00:00:00",
          "first_response_at": "2001-01-01 00:00:00", "size_bytes": "0", "mime_type": "text/html",
          "sha256": "0" * 64, "role": "owner", "user": "1", "budget_total": "1", "status": "closed",
          "internal_notes": "forged", "stored_path": "../x"}


# --------------------------------------------------------------------------- helpers

class _Page(HTMLParser):
    """The forms (their fields as rendered), links and picker URLs of a page."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self.links: list[tuple[str, str]] = []  # (href, classes/icon context)
        self.delete_urls: list[str] = []
        self.pickers: list[str] = []
        self._form = None
        self._select = None
        self._textarea = None
        self._anchor = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("data-picker-url"):
            self.pickers.append(a["data-picker-url"])
        if tag == "form":
            self._form = {"action": a.get("action") or "", "method": (a.get("method") or "get").lower(),
                          "id": a.get("id") or "", "fields": {}, "order": []}
            self.forms.append(self._form)
        elif tag == "a":
            if a.get("data-delete-url"):
                self.delete_urls.append(a["data-delete-url"])
            if a.get("href"):
                self._anchor = [a["href"], (a.get("class") or "") + " " + (a.get("id") or "")]
                self.links.append(self._anchor)
        elif tag == "i" and self._anchor is not None:
            self._anchor[1] += " " + (a.get("class") or "")
        elif self._form is not None and tag in ("input", "select", "textarea") and a.get("name"):
            name = a["name"]
            self._form["order"].append(name)
            if tag == "input":
                kind = (a.get("type") or "text").lower()
                if kind in ("checkbox", "radio") and "checked" not in a:
                    self._form["fields"].setdefault(name, None)
                elif kind not in ("submit", "button", "file"):
                    self._form["fields"][name] = a.get("value") or ""
                else:
                    self._form["fields"].setdefault(name, None)
            elif tag == "select":
                self._select = name
                self._form["fields"][name] = ""
            else:
                self._textarea = name
                self._form["fields"][name] = ""
        elif tag == "option" and self._select and self._form is not None:
            if "selected" in a:
                self._form["fields"][self._select] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "a":
            self._anchor = None

    def handle_data(self, data):
        if self._textarea and self._form is not None:
            self._form["fields"][self._textarea] += data


def _page(html: str) -> _Page:
    parser = _Page()
    parser.feed(html)
    return parser


def _model_form(page: _Page) -> dict | None:
    """FAB's add/edit form on the page (the one posting to itself with a CSRF token)."""
    return next((form for form in page.forms if form["id"] == "model_form"), None)


def _form_fields(form: dict) -> set[str]:
    return {name for name in form["fields"] if name not in ("csrf_token",)} | {
        name for name in form["order"] if name != "csrf_token"}


def _portal_views(app) -> list[PortalModelView]:
    return [v for v in app.appbuilder.baseviews if isinstance(v, PortalModelView)]


def _routes(view) -> set[str]:
    """The generated routes a portal view kept (``portal_routes``) that exist in the app."""
    from flask import current_app

    endpoints = {rule.endpoint for rule in current_app.url_map.iter_rules()}
    return {name for name in GENERATED_ROUTES | {"picker"} if f"{view.endpoint}.{name}" in endpoints}


def _add_team(app):
    """An admin and a member for each client (the seed has owner and viewer)."""
    for slug in CLIENTS:
        for role in ("admin", "member"):
            result = run_cli(app, "members", "add", "--client", slug, "--username", f"{slug}-{role}", "--email",
                             f"{slug}-{role}@example.com", "--first-name", slug.split("-")[0].title(),
                             "--last-name", f"{role.title()}person", "--role", role, "--password", PASSWORD)
            assert result.exit_code == 0, result.output


def _foreign_marks(slug: str) -> list[str]:
    """What names another client's people and organisation: usernames, emails, full
    names of their users, and the other clients' names."""
    own = db.session.execute(sa.select(m.Client.id).filter_by(slug=slug)).scalar_one()
    rows = db.session.execute(
        sa.select(m.User.username, m.User.email, m.User.first_name, m.User.last_name)
        .join(m.ClientMember, m.ClientMember.user_id == m.User.id)
        .where(m.ClientMember.client_id != own)).all()
    marks = set()
    for username, email, first, last in rows:
        marks.update({username, email, f"{first} {last}"})
    marks.update(db.session.execute(sa.select(m.Client.name).where(m.Client.id != own)).scalars())
    return sorted(mark for mark in marks if mark and len(mark) > 3)


def _assert_no_foreign(html: str, marks: list[str], where: str):
    leaked = [mark for mark in marks if re.search(rf"(?<![\w-]){re.escape(mark)}(?![\w-])", html)]
    assert not leaked, f"{where} names another client's people/rows: {leaked[:5]}"


def _logout(client):
    client.get("/logout/")


# --------------------------------------------------------------------------- 1. pages

@pytest.mark.parametrize("slug", CLIENTS)  # one client per test, which workers run in parallel
def test_every_portal_page_as_every_membership_role_of_two_clients(app, client, slug):
    """Lists, show pages, add/edit forms and pickers of every registered portal view, as
    owner, admin, member and viewer of a client (each of two, a test each): form fields within the view's declared
    columns, nothing naming another client's people or rows, every visible button leads
    to a page that answers 2xx, and every form submitted as rendered saves (add forms:
    messages naming the required fields)."""
    _add_team(app)
    views = _portal_views(app)
    seen = {"list": 0, "show": 0, "add": 0, "edit": 0, "picker": 0, "button": 0, "saved": 0}
    marks = _foreign_marks(slug)
    for role in ROLES:
        who = f"{slug}-{role}"
        login(client, who)
        home = client.get("/portal/")
        assert home.status_code == 200, who
        _assert_no_foreign(home.get_data(as_text=True), marks, f"{who} /portal/")
        for view in views:
            where = f"{who} {view.__class__.__name__}"
            response = client.get(f"{view.route_base}/list/")
            assert response.status_code == 200, where
            html = response.get_data(as_text=True)
            _assert_no_foreign(html, marks, f"{where} list")
            seen["list"] += 1
            page = _page(html)
            rendered = [href for href, _ in page.links]
            # Pencil and trash only where the person may use them.
            for href, marks_ in page.links:
                if not href.startswith(view.route_base):
                    continue
                is_button = any(k in marks_ for k in ("fa-edit", "fa-plus", "portal-add", "fa-upload"))
                if is_button:
                    answer = client.get(href)
                    assert 200 <= answer.status_code < 300, f"{where}: button {href} answers {answer.status_code}"
                    _assert_no_foreign(answer.get_data(as_text=True), marks, f"{where} {href}")
                    seen["button"] += 1
            export = client.get(f"{view.route_base}/export.csv")
            assert export.status_code == 200, f"{where} export"
            _assert_no_foreign(export.get_data(as_text=True), marks, f"{where} export")
            if page.delete_urls:
                assert "delete" in _routes(view), where
                assert role in ("owner", "admin"), f"{where}: trash shown to a {role}"
            shows = [h for h in rendered if h.startswith(f"{view.route_base}/show/")][:2]
            for href in shows:
                answer = client.get(href)
                assert answer.status_code == 200, f"{where} {href}"
                _assert_no_foreign(answer.get_data(as_text=True), marks, f"{where} {href}")
                seen["show"] += 1
            forms = []
            if "add" in _routes(view):
                forms.append(("add", f"{view.route_base}/add", view.add_columns))
            if "edit" in _routes(view):
                pk = next((h.rsplit("/", 1)[1].split("?")[0] for h in shows), None)
                if pk:
                    forms.append(("edit", f"{view.route_base}/edit/{pk}", view.edit_columns))
            for kind, url, allowed in forms:
                answer = client.get(url)
                may = any(h.split("?")[0] == url for h in rendered) or (
                    kind == "add" and "portal-add" in html and f'href="{url}"' in html)
                if answer.status_code == 403:
                    assert not may, f"{where}: a button leads to {url}, which answers 403"
                    continue
                assert answer.status_code == 200, f"{where} {url}: {answer.status_code}"
                form_html = answer.get_data(as_text=True)
                _assert_no_foreign(form_html, marks, f"{where} {url}")
                form_page = _page(form_html)
                form = _model_form(form_page)
                assert form is not None, f"{where} {url}: no form"
                extra = _form_fields(form) - set(allowed)
                assert not extra, f"{where} {url}: fields beyond the declared {allowed}: {extra}"
                seen[kind] += 1
                for picker in form_page.pickers:
                    for q in ("", "a", "e", "1"):
                        answer = client.get(f"{picker}&q={q}" if "?" in picker else f"{picker}?q={q}")
                        assert answer.status_code == 200, f"{where} {picker}"
                        _assert_no_foreign(answer.get_data(as_text=True), marks, f"{where} {picker}")
                        seen["picker"] += 1
                # Submitted exactly as rendered.
                data = {k: v for k, v in form["fields"].items() if v is not None}
                answer = client.post(url, data=data)
                body = answer.get_data(as_text=True)
                assert answer.status_code < 500, f"{where} {url}"
                assert "Not a valid" not in body, f"{where} {url}: complains about its own value"
                if kind == "edit":
                    assert answer.status_code == 302, f"{where} {url}: not saved ({answer.status_code})"
                    assert answer.headers["Location"].split("?")[0].endswith(f"/show/{url.rsplit('/', 1)[1]}"), \
                        f"{where}: after the save, lands on {answer.headers['Location']}"
                    seen["saved"] += 1
                else:
                    assert answer.status_code == 422, f"{where} {url}: {answer.status_code}"
                    assert "This field is required" in body, f"{where} {url}: no message naming the field"
        _logout(client)
    print(seen)
    assert seen["list"] == len(views) * len(ROLES)
    assert seen["edit"] and seen["add"] and seen["button"] and seen["saved"] and seen["picker"]


def test_buttons_follow_membership_role_and_plan(app, client):
    """"+" on Files is the upload, on Team the invite, on Tickets the ticket form; a
    viewer gets none of them nor pencils; at the plan limit the reason is shown instead."""
    login(client, "pro-co-owner")
    expect = {"/portal/files/list/": "/portal/files/upload", "/portal/team/list/": "/portal/team/invite",
              "/portal/tickets/list/": "/portal/tickets/add", "/portal/projects/list/": None}
    for path, target in expect.items():
        page = _page(client.get(path).get_data(as_text=True))
        adds = [h for h, marks_ in page.links if "portal-add" in marks_ or "fa-plus" in marks_]
        assert adds == ([target] if target else []), (path, adds)
        assert client.get(target).status_code == 200 if target else True
    _logout(client)
    login(client, "free-co-viewer")
    for path in expect:
        html = client.get(path).get_data(as_text=True)
        assert "fa-plus" not in html and "fa-edit" not in html and "data-delete-url" not in html, path
    _logout(client)
    # Free plan: one team member, and free-co has two already: the reason, not a dead "+".
    login(client, "free-co-owner")
    html = client.get("/portal/team/list/").get_data(as_text=True)
    assert 'id="portal-add"' not in html
    assert "portal-add-reason" in html and "Upgrade" in html


# --------------------------------------------------------------------------- 2. routes

def test_only_the_doors_a_client_needs_exist(app, client):
    """No generated add/edit/delete for memberships or file metadata, no ticket edit, no
    bulk actions; generated from the registered views."""
    login(client, "enterprise-co-owner")
    token = csrf_token(client, "/portal/tickets/add")
    own = db.session.execute(sa.select(m.Client.id).filter_by(slug="enterprise-co")).scalar_one()
    checked = 0
    for view in _portal_views(app):
        model = view.datamodel.obj
        pk = db.session.execute(sa.select(model.id).where(model.client_id == own).limit(1)).scalar_one_or_none()
        for name in GENERATED_ROUTES - set(getattr(view, "portal_routes", ())):
            if name == "download" and "download" in type(view).__dict__:
                continue
            url = f"{view.route_base}/{name}" + (f"/{pk or 1}" if name in ("edit", "delete") else "")
            for method in ("get", "post"):
                status = getattr(client, method)(url, data={"csrf_token": token}).status_code
                assert status in (404, 405), f"{url} {method}: {status}"
                checked += 1
    assert checked > 50
    # The issue's own cases.
    for url in ("/portal/files/add", "/portal/tickets/edit/1", "/portal/team/edit/1", "/portal/team/delete/1",
                "/portal/files/edit/1", "/portal/team/add"):
        assert client.post(url, data={"csrf_token": token, **FORGED}).status_code in (404, 405), url


def test_portal_lists_order_only_by_declared_visible_columns(app, client):
    login(client, "pro-co-owner")
    for view in _portal_views(app):
        assert set(view.order_columns) <= set(view.list_columns), view.__class__.__name__
        name = view.__class__.__name__
        model_columns = list(view.datamodel.obj.__table__.columns.keys())
        for column in model_columns + ["manager.password", "user.password", "nope", "client.name"]:
            response = client.get(f"{view.route_base}/list/",
                                  query_string={f"_oc_{name}": column, f"_od_{name}": "asc"})
            if column in view.order_columns:
                assert response.status_code == 200, (name, column)
            else:
                assert response.status_code in (200, 400), (name, column, response.status_code)
        for column in view.order_columns:
            for direction in ("asc", "desc"):
                assert client.get(f"{view.route_base}/list/", query_string={
                    f"_oc_{name}": column, f"_od_{name}": direction}).status_code == 200, (name, column)


# --------------------------------------------------------------------------- 3. forged posts

SNAPSHOT = {m.Ticket: ("client_id", "assignee_id", "opened_by_id", "sla_hours", "sla_state", "status", "created_at",
                       "first_response_at", "subject"),
            m.ClientMember: ("client_id", "user_id", "role", "created_at"),
            m.StorageFile: ("client_id", "size_bytes", "mime_type", "sha256", "stored_path", "file_name"),
            m.Project: ("client_id", "budget_total", "status", "created_at", "name"),
            m.Domain: ("client_id", "status", "created_at", "name")}


def _snapshot(client_id):
    db.session.expire_all()
    shot = {}
    for model, columns in SNAPSHOT.items():
        for row in db.session.execute(sa.select(model).where(model.client_id == client_id)).scalars():
            shot[(model.__name__, row.id)] = tuple(getattr(row, c) for c in columns)
    db.session.rollback()
    return shot


@pytest.mark.parametrize("slug", ["pro-co", "enterprise-co"])
def test_forged_staff_fields_change_nothing(app, client, slug):
    """Staff-only fields posted to every portal form and generated route of every portal
    view: 4xx or the field ignored; existing rows keep every staff-only value, and a
    ticket opened with them carries the plan's SLA, no assignee, its opener and client."""
    own = db.session.execute(sa.select(m.Client.id).filter_by(slug=slug)).scalar_one()
    other_user = db.session.execute(sa.select(m.ClientMember.user_id).where(m.ClientMember.client_id != own)
                                    .limit(1)).scalar_one()
    other_client = db.session.execute(sa.select(m.Client.id).where(m.Client.id != own).limit(1)).scalar_one()
    forged = {**FORGED, "assignee": str(other_user), "opened_by": str(other_user), "user": str(other_user),
              "client": str(other_client), "client_id": str(other_client)}
    login(client, f"{slug}-owner")
    token = csrf_token(client, "/portal/tickets/add")
    project = db.session.execute(sa.select(m.Project.id).where(m.Project.client_id == own).limit(1)).scalar_one()
    before = _snapshot(own)
    answered = []
    for view in _portal_views(app):
        model = view.datamodel.obj
        pks = db.session.execute(sa.select(model.id).where(model.client_id == own).limit(2)).scalars().all()
        db.session.rollback()
        urls = [f"{view.route_base}/add", f"{view.route_base}/action_post"]
        for pk in pks[:1]:
            urls += [f"{view.route_base}/edit/{pk}"]
        if view.__class__.__name__ != "PortalFileView":
            urls += [f"{view.route_base}/delete/{pk}" for pk in pks[:1]]
        for url in urls:
            data = {"csrf_token": token, **forged, "subject": "Forged", "description": "x", "priority": "low",
                    "project": str(project)}
            status = client.post(url, data=data).status_code
            assert status < 500, (url, status)
            answered.append((url, status))
    for url in ("/portal/team/invite",):
        status = client.post(url, data={"csrf_token": token, "username": f"{slug}-forged", "email": "f@example.com",
                                        "first_name": "F", "last_name": "G", "password": PASSWORD,
                                        "role": "owner"}).status_code
        assert 400 <= status < 500, status
    after = _snapshot(own)
    changed = {key: (before[key], after.get(key)) for key in before if before[key] != after.get(key)}
    # The one expected change: the ticket the add form opened (a new row, below).
    assert not changed, changed
    owners = db.session.execute(sa.select(sa.func.count()).select_from(m.ClientMember).where(
        m.ClientMember.client_id == own, m.ClientMember.role == "owner")).scalar_one()
    assert owners == 1
    new_tickets = [key for key in after if key not in before]
    assert all(kind == "Ticket" for kind, _ in new_tickets), new_tickets
    me = db.session.execute(sa.select(m.User.id).filter_by(username=f"{slug}-owner")).scalar_one()
    client_row = db.session.get(m.Client, own)
    from app.services import tiers
    for _, pk in new_tickets:
        ticket = db.session.get(m.Ticket, pk)
        assert (ticket.client_id, ticket.assignee_id, ticket.opened_by_id) == (own, None, me)
        assert ticket.sla_hours == tiers.sla_hours_for(client_row)
        assert ticket.created_at.year > 2001 and ticket.first_response_at is None


# --------------------------------------------------------------------------- 4. after a save

def test_after_a_save_the_person_lands_on_the_record_and_a_refusal_keeps_the_input(app, client):
    login(client, "pro-co-owner")
    own = db.session.execute(sa.select(m.Client.id).filter_by(slug="pro-co")).scalar_one()
    project = db.session.execute(sa.select(m.Project.id).where(m.Project.client_id == own).limit(1)).scalar_one()
    db.session.rollback()
    client.get("/portal/domains/list/")  # a page visited before must not be where the save lands
    token = csrf_token(client, f"/portal/projects/edit/{project}")
    answer = client.post(f"/portal/projects/edit/{project}", data={
        "csrf_token": token, "contact_name": "Dana Contact", "contact_email": "dana@example.com",
        "contact_phone": "+44 20 7946 0000"})
    assert answer.status_code == 302 and answer.headers["Location"].endswith(f"/portal/projects/show/{project}")
    # A refused save keeps what was typed.
    answer = client.post(f"/portal/projects/edit/{project}", data={
        "csrf_token": token, "contact_name": "Kept Name", "contact_email": "not-an-email", "contact_phone": ""})
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    assert "Kept Name" in html and "not-an-email" in html
    _logout(client)
    # Free plan, tickets per month used up: "+" gives the reason (how to upgrade), and a
    # forced post keeps the typed subject on the form with the plan's message.
    free = db.session.execute(sa.select(m.Client.id).filter_by(slug="free-co")).scalar_one()
    from app.services import tiers
    free_client = db.session.get(m.Client, free)
    limit = tiers.limit_for(free_client, "tickets_per_month")
    used = tiers.usage(db.session, free, "tickets_per_month")
    db.session.rollback()
    login(client, "free-co-owner")
    token = csrf_token(client, "/portal/tickets/add")
    free_project = db.session.execute(sa.select(m.Project.id).where(m.Project.client_id == free)
                                      .limit(1)).scalar_one()
    db.session.rollback()
    for i in range(max(limit - used, 0)):
        client.post("/portal/tickets/add", data={"csrf_token": token, "subject": f"Fill {i}", "description": "x",
                                                 "priority": "low", "project": str(free_project)})
    html = client.get("/portal/tickets/list/").get_data(as_text=True)
    assert 'id="portal-add"' not in html and "portal-add-reason" in html and "Upgrade" in html
    answer = client.post("/portal/tickets/add", data={"csrf_token": token, "subject": "Typed subject 42",
                                                      "description": "Typed body", "priority": "low",
                                                      "project": str(free_project)})
    body = answer.get_data(as_text=True)
    assert 400 <= answer.status_code < 500, answer.status_code
    assert "Typed subject 42" in body and "Upgrade" in body


# --------------------------------------------------------------------------- 5. reopen

def test_a_client_reopens_a_resolved_ticket_within_seven_days(app, client):
    """SPEC: clients reply, close and reopen within 7 days (no ticket edit form)."""
    from app.models.base import utcnow

    own = db.session.execute(sa.select(m.Client.id).filter_by(slug="pro-co")).scalar_one()
    recent, old = db.session.execute(sa.select(m.Ticket).where(m.Ticket.client_id == own).limit(2)).scalars().all()
    recent.status, old.status = m.TicketStatus.RESOLVED, m.TicketStatus.CLOSED
    db.session.commit()
    recent.resolved_at, old.resolved_at = utcnow() - dt.timedelta(days=2), utcnow() - dt.timedelta(days=8)
    db.session.commit()
    recent_id, old_id = recent.id, old.id
    login(client, "pro-co-viewer")
    assert "ticket-reopen" not in client.get(f"/portal/tickets/show/{recent_id}").get_data(as_text=True)
    token = csrf_token(client, "/portal/tickets/list/")
    assert client.post(f"/portal/tickets/reopen/{recent_id}", data={"csrf_token": token}).status_code == 403
    _logout(client)
    login(client, "pro-co-owner")
    assert "ticket-reopen" in client.get(f"/portal/tickets/show/{recent_id}").get_data(as_text=True)
    assert "ticket-reopen" not in client.get(f"/portal/tickets/show/{old_id}").get_data(as_text=True)
    token = csrf_token(client, f"/portal/tickets/show/{recent_id}")
    answer = client.post(f"/portal/tickets/reopen/{recent_id}", data={"csrf_token": token})
    assert answer.status_code == 302 and answer.headers["Location"].endswith(f"/portal/tickets/show/{recent_id}")
    answer = client.post(f"/portal/tickets/reopen/{old_id}", data={"csrf_token": token}, follow_redirects=True)
    assert "more than 7 days ago" in answer.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(m.Ticket, recent_id).status == m.TicketStatus.OPEN
    assert db.session.get(m.Ticket, recent_id).resolved_at is None
    assert db.session.get(m.Ticket, old_id).status == m.TicketStatus.CLOSED


# --------------------------------------------------------------------------- 6. team

def test_the_owner_manages_the_team_through_the_team_rules(app, client):
    """Invite, role change and removal go through ``services.team``: the owner's own
    membership offers no control and cannot be changed; an admin gets 403."""
    _add_team(app)
    own = db.session.execute(sa.select(m.Client.id).filter_by(slug="pro-co")).scalar_one()
    members = dict(db.session.execute(sa.select(m.User.username, m.ClientMember.id).join(
        m.ClientMember, m.ClientMember.user_id == m.User.id).where(m.ClientMember.client_id == own)).all())
    db.session.rollback()
    login(client, "pro-co-admin")
    token = csrf_token(client, "/portal/team/list/")
    assert "member-role" not in client.get(f"/portal/team/show/{members['pro-co-viewer']}").get_data(as_text=True)
    for action in ("role", "remove"):
        assert client.post(f"/portal/team/{action}/{members['pro-co-viewer']}",
                           data={"csrf_token": token, "role": "admin"}).status_code == 403
    _logout(client)
    login(client, "pro-co-owner")
    token = csrf_token(client, "/portal/team/list/")
    assert "member-role" not in client.get(f"/portal/team/show/{members['pro-co-owner']}").get_data(as_text=True)
    assert "member-role" in client.get(f"/portal/team/show/{members['pro-co-viewer']}").get_data(as_text=True)
    answer = client.post(f"/portal/team/role/{members['pro-co-owner']}", data={"csrf_token": token, "role": "viewer"},
                         follow_redirects=True)
    assert "the owner cannot be" in answer.get_data(as_text=True)
    answer = client.post(f"/portal/team/role/{members['pro-co-viewer']}", data={"csrf_token": token, "role": "owner"},
                         follow_redirects=True)
    assert "Choose a role" in answer.get_data(as_text=True)
    answer = client.post(f"/portal/team/role/{members['pro-co-viewer']}", data={"csrf_token": token, "role": "member"})
    assert answer.headers["Location"].endswith(f"/portal/team/show/{members['pro-co-viewer']}")
    answer = client.post(f"/portal/team/remove/{members['pro-co-member']}", data={"csrf_token": token})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/portal/team/list/")
    answer = client.post("/portal/team/invite", data={"csrf_token": token, "username": "pro-co-new",
                                                       "email": "new@pro-co.example", "first_name": "New",
                                                       "last_name": "Person", "role": "member", "password": PASSWORD})
    assert answer.status_code == 302 and "/portal/team/show/" in answer.headers["Location"]
    db.session.expire_all()
    roles = dict(db.session.execute(sa.select(m.User.username, m.ClientMember.role).join(
        m.ClientMember, m.ClientMember.user_id == m.User.id).where(m.ClientMember.client_id == own)).all())
    assert roles["pro-co-owner"] == "owner" and roles["pro-co-viewer"] == "member"
    assert "pro-co-member" not in roles and roles["pro-co-new"] == "member"
    assert list(roles.values()).count("owner") == 1
    assert db.session.execute(sa.select(m.User.active).filter_by(username="pro-co-member")).scalar_one() is False
