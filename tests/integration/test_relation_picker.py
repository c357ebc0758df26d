"""Add/edit forms choose a relation to a growing table with a searched picker
(``app.views.relation_picker``), not a drop-down of the whole table: the form holds only
the chosen row, the view's ``picker`` endpoint searches 20 at a time, and a submitted id
is loaded alone and checked (exists, visible to this user, admitted by the view's
``*_form_query_rel_fields``). Through the Flask test client with CSRF on, on SQLite and
PostgreSQL."""

import re

import pytest
import sqlalchemy as sa
from flask_appbuilder.models.sqla.filters import FilterEqual

from app import models as m
from app.extensions import db
from app.roles import allowed
from app.views.base import AtriumModelView
from app.views.portal.base import PortalModelView
from app.views.staff.support import TicketMessageView
from tests.conftest import csrf_token, login, make_app

ADD = "/ticketmessageview/add"
PICKER = "/ticketmessageview/picker/ticket"


def _client_id(slug):
    return db.session.execute(sa.select(m.Client.id).where(m.Client.slug == slug)).scalar_one()


def _add_tickets(subjects, slug="enterprise-co", **values):
    """Tickets of an enterprise client (no monthly limit); their ids, in order."""
    rows = [m.Ticket(client_id=_client_id(slug), subject=s, description="Seeded by the picker test.", **values)
            for s in subjects]
    db.session.add_all(rows)
    db.session.commit()
    return [row.id for row in rows]


def _select(html, name):
    match = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', html, re.S)
    assert match, f"no <select name={name}>"
    return match.group(0), [(value, _plain(text)) for value, text in
                            re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', match.group(1))]


CLIENT_SUFFIX = re.compile(r" — [^—]+$")


def _plain(text):
    """A choice's text without the client staff see next to it ("… — Pro Co", issue 16)."""
    return CLIENT_SUFFIX.sub("", text)


def _message_count():
    db.session.expire_all()
    return db.session.execute(sa.select(sa.func.count(m.TicketMessage.id))).scalar_one()


def _errors(html):
    """The messages FAB shows under the form's fields."""
    return [" ".join(e.split()) for e in re.findall(r'<div class="alert alert-danger">(.*?)</div>', html, re.S)]


# --------------------------------------------------------------------------- the form


def test_the_add_form_holds_no_ticket_and_searches_instead(app, client):
    ids = _add_tickets([f"Printer queue {i}" for i in range(45)])
    login(client, "admin")
    html = client.get(ADD).get_data(as_text=True)
    tag, options = _select(html, "ticket")
    assert options == [("", "")]  # nothing chosen yet: no ticket at all
    assert 'data-picker-url="/ticketmessageview/picker/ticket?form=add"' in tag
    assert "my_select2" not in tag  # FAB's ab.js would make it a Select2 without the search
    assert "Printer queue" not in html
    assert 'src="/static/relation_picker.js"' in html and re.search(r'relation_picker.js" nonce="[^"]+"', html)
    # The small lookup list (Client) stays a drop-down; a ticket's add form shows it.
    _, clients = _select(client.get("/ticketview/add").get_data(as_text=True), "client")
    assert len(clients) >= 4
    assert ids


def test_a_form_shown_again_holds_only_the_chosen_ticket(app, client):
    ids = _add_tickets([f"Invoice mismatch {i}" for i in range(30)])
    login(client, "admin")
    response = client.post(ADD, data={"ticket": str(ids[7]), "body": "", "csrf_token": csrf_token(client, ADD)})
    assert response.status_code == 422  # the body is required: the form comes back (422)
    _, options = _select(response.get_data(as_text=True), "ticket")
    assert options == [("", ""), (str(ids[7]), f"#{ids[7]} Invoice mismatch 7")]


def test_the_edit_form_holds_only_the_current_ticket(app, client):
    message = db.session.execute(sa.select(m.TicketMessage).order_by(m.TicketMessage.id).limit(1)).scalar_one()
    login(client, "admin")
    html = client.get(f"/ticketmessageview/edit/{message.id}").get_data(as_text=True)
    tag, options = _select(html, "ticket")
    assert options == [("", ""), (str(message.ticket_id), str(message.ticket))]
    assert "form=edit" in tag


def test_a_message_is_saved_against_the_chosen_ticket(app, client):
    ticket_id = _add_tickets(["Newsletter bounced"])[0]
    login(client, "admin")
    response = client.post(ADD, data={"ticket": str(ticket_id), "body": "Resent it.", "internal": "y",
                                      "csrf_token": csrf_token(client, ADD)})
    assert response.status_code == 302, _errors(response.get_data(as_text=True))
    db.session.expire_all()
    saved = db.session.execute(sa.select(m.TicketMessage).where(m.TicketMessage.body == "Resent it.")).scalar_one()
    assert saved.ticket_id == ticket_id and saved.internal is True
    # ... and it is listed under that ticket.
    assert "Resent it." in client.get(f"/ticketview/show/{ticket_id}").get_data(as_text=True)


@pytest.mark.parametrize("typed", ["999999", "abc", "-3", "99999999999999999999", "1.5"])
def test_a_ticket_that_cannot_be_chosen_is_a_message_on_the_form(app, client, typed):
    login(client, "admin")
    before = _message_count()
    response = client.post(ADD, data={"ticket": typed, "body": "Hello", "csrf_token": csrf_token(client, ADD)})
    assert response.status_code == 422
    errors = _errors(response.get_data(as_text=True))
    assert any("There is no ticket" in e and "pick it from the list" in e for e in errors), errors
    assert _message_count() == before


def test_the_ticket_is_required(app, client):
    login(client, "admin")
    before = _message_count()
    response = client.post(ADD, data={"ticket": "", "body": "Hello", "csrf_token": csrf_token(client, ADD)})
    assert response.status_code == 422
    assert "This field is required." in _errors(response.get_data(as_text=True))
    assert _message_count() == before


def test_a_nullable_relation_may_be_left_empty(app, client):
    """A ticket's assignee is optional: the picker offers to clear it. (A message's author
    is no longer a field: it is whoever is signed in, issue 16.)"""
    ticket_id = _add_tickets(["No assignee needed"])[0]
    ticket = db.session.get(m.Ticket, ticket_id)
    login(client, "admin")
    edit = f"/ticketview/edit/{ticket_id}"
    html = client.get(edit).get_data(as_text=True)
    tag, _ = _select(html, "assignee")
    assert 'data-allow-clear="true"' in tag
    assert 'name="author"' not in client.get(ADD).get_data(as_text=True).split("<form", 1)[-1]
    response = client.post(edit, data={"subject": ticket.subject, "description": ticket.description or "x",
                                       "priority": ticket.priority, "status": ticket.status, "assignee": "",
                                       "project": str(ticket.project_id or ""), "csrf_token": csrf_token(client, edit)})
    assert response.status_code == 302, _errors(response.get_data(as_text=True))
    db.session.expire_all()
    assert db.session.get(m.Ticket, ticket_id).assignee_id is None


def test_adding_from_a_tickets_page_keeps_that_ticket(app, client):
    """The messages tab of a ticket adds with ``_flt_0_ticket``: the form hides the
    ticket and the message is saved against it."""
    ticket_id = _add_tickets(["Related add"])[0]
    login(client, "admin")
    path = f"{ADD}?_flt_0_ticket={ticket_id}"
    html = client.get(path).get_data(as_text=True)
    assert 'name="ticket"' not in html
    response = client.post(path, data={"body": "From the ticket's page", "csrf_token": csrf_token(client, path)})
    assert response.status_code == 302, _errors(response.get_data(as_text=True))
    db.session.expire_all()
    saved = db.session.execute(
        sa.select(m.TicketMessage).where(m.TicketMessage.body == "From the ticket's page")).scalar_one()
    assert saved.ticket_id == ticket_id


# --------------------------------------------------------------------------- the endpoint


def _pick(client, path=PICKER, **args):
    response = client.get(path, query_string=args)
    assert response.status_code == 200, (path, args, response.status_code)
    body = response.get_json()
    assert set(body) == {"results", "pagination"}
    return [(row["id"], _plain(row["text"])) for row in body["results"]], body["pagination"]["more"]


def test_the_picker_finds_tickets_by_subject_and_by_id(app, client):
    ids = _add_tickets(["Kiosk Screen flickers", "Screen reader labels", "Unrelated thing"])
    login(client, "admin")
    found, more = _pick(client, q="sCREEn")
    assert (ids[0], f"#{ids[0]} Kiosk Screen flickers") in found
    assert (ids[1], f"#{ids[1]} Screen reader labels") in found
    assert all("screen" in text.lower() for _, text in found) and more is False
    by_id, _ = _pick(client, q=str(ids[2]))
    assert by_id[0] == (ids[2], f"#{ids[2]} Unrelated thing")  # the exact id first
    assert _pick(client, q=f"#{ids[2]}")[0] == [(ids[2], f"#{ids[2]} Unrelated thing")]
    assert _pick(client, q="no ticket says this")[0] == []
    assert _pick(client, q="100%")[0] == []  # a wildcard is a character like any other


def test_the_picker_pages_twenty_at_a_time(app, client):
    ids = _add_tickets([f"Pagination probe {i:02d}" for i in range(45)])
    login(client, "admin")
    pages = [_pick(client, q="pagination probe", page=n) for n in (1, 2, 3)]
    assert [len(rows) for rows, _ in pages] == [20, 20, 5]
    assert [more for _, more in pages] == [True, True, False]
    seen = [row_id for rows, _ in pages for row_id, _ in rows]
    assert sorted(seen) == sorted(ids)  # every one once
    assert seen == sorted(ids, reverse=True)  # tickets: the newest first


def test_other_relations_search_their_own_text(app, client):
    login(client, "admin")
    users, _ = _pick(client, "/ticketview/picker/assignee", q="OPERATOR")
    assert [text for _, text in users] == ["Otávio Operator"]
    projects, _ = _pick(client, "/monitorview/picker/project", q="")
    names = [text for _, text in projects]
    assert names == sorted(names) and len(names) == min(20, db.session.query(m.Project).count())


def test_unknown_columns_and_bad_pages_are_refused(app, client):
    login(client, "admin")
    assert client.get("/ticketmessageview/picker/body").status_code == 404  # not a relation
    assert client.get("/ticketview/picker/client").status_code == 404  # a lookup: a drop-down
    assert client.get("/ticketview/picker/client?form=edit").status_code == 404
    assert client.get("/ticketmessageview/picker/nothing").status_code == 404
    for page in ("0", "-1", "x", "99999999999"):
        assert client.get(f"{PICKER}?page={page}").status_code == 400


def _picker_urls(app):
    for view in app.appbuilder.baseviews:
        if isinstance(view, AtriumModelView) and not isinstance(view, PortalModelView):
            for form, column in sorted(view._pickers):
                yield view, f"{view.route_base}/picker/{column}?form={form}"


@pytest.mark.parametrize("username,role", [("admin", "Admin"), ("operator", "Operator"),
                                           ("developer", "Developer"), ("pro-co-owner", "Client")])
def test_every_picker_is_for_whoever_may_write_in_its_view(app, client, username, role):
    urls = list(_picker_urls(app))
    assert len(urls) >= 20  # every staff form's relations: tickets, projects, users, ...
    login(client, username)
    wrong = []
    for view, url in urls:
        status = client.get(url).status_code
        if (status == 200) != allowed(role, view.class_permission_name, "write") or status not in (200, 403):
            wrong.append(f"{url}: {status}")
    assert not wrong, "\n".join(wrong)


def test_a_signed_out_visitor_gets_nothing(app, client):
    response = client.get(PICKER)
    assert response.status_code in (302, 401, 403)
    assert b"#1 " not in response.data


# --------------------------------------------------------------------------- the view's filters


class OpenTicketMessageView(TicketMessageView):
    """A variant of the messages view whose forms offer open tickets only."""

    route_base = "/open-ticket-messages"
    add_form_query_rel_fields = {"ticket": [["status", FilterEqual, "open"]]}


def test_the_views_relation_filters_bound_search_and_choice(own_app):
    app, client = own_app, own_app.test_client()
    app.appbuilder.add_view_no_menu(OpenTicketMessageView)
    open_id, = _add_tickets(["Filter probe open"], status=m.TicketStatus.OPEN)
    closed_id, = _add_tickets(["Filter probe closed"], status=m.TicketStatus.CLOSED)
    login(client, "admin")
    found, _ = _pick(client, "/open-ticket-messages/picker/ticket", q="filter probe")
    assert [row_id for row_id, _ in found] == [open_id]
    assert _pick(client, "/open-ticket-messages/picker/ticket", q=str(closed_id))[0] == []
    add = "/open-ticket-messages/add"
    assert 'data-picker-url="/open-ticket-messages/picker/ticket?form=add"' in client.get(add).get_data(as_text=True)
    before = _message_count()
    response = client.post(add, data={"ticket": str(closed_id), "body": "Closed?", "csrf_token": csrf_token(client, add)})
    assert response.status_code == 422 and any("There is no ticket" in e for e in _errors(response.get_data(as_text=True)))
    assert _message_count() == before
    response = client.post(add, data={"ticket": str(open_id), "body": "Open!", "csrf_token": csrf_token(client, add)})
    assert response.status_code == 302
    assert _message_count() == before + 1


# --------------------------------------------------------------------------- the portal


PORTAL_PICKER = "/portal/tickets/picker/project"


def test_a_client_user_picks_among_their_own_projects_only(app, client):
    own = {p.id: p.name for p in db.session.query(m.Project).filter_by(client_id=_client_id("pro-co"))}
    other = db.session.execute(sa.select(m.Project).where(m.Project.client_id == _client_id("basic-co"))
                               .limit(1)).scalar_one()
    login(client, "pro-co-owner")
    html = client.get("/portal/tickets/add").get_data(as_text=True)
    tag, options = _select(html, "project")
    assert options == [("", "")] and 'data-allow-clear="true"' in tag
    found, more = _pick(client, PORTAL_PICKER, form="add", q="")
    assert dict(found) == own and more is False
    assert _pick(client, PORTAL_PICKER, form="add", q=str(other.id))[0] == []
    assert _pick(client, PORTAL_PICKER, form="add", q=other.name)[0] == [] or other.name in own.values()
    # Another client's project id posted to the form: a message, no ticket.
    count = db.session.query(m.Ticket).count()
    path = "/portal/tickets/add"
    response = client.post(path, data={"project": str(other.id), "subject": "Forged", "description": "x",
                                       "priority": "low", "csrf_token": csrf_token(client, path)})
    assert response.status_code == 422
    assert any("There is no project" in e for e in _errors(response.get_data(as_text=True)))
    db.session.expire_all()
    assert db.session.query(m.Ticket).count() == count
    # Their own project: the ticket is opened against it.
    own_id = next(iter(own))
    response = client.post(path, data={"project": str(own_id), "subject": "Picked", "description": "x",
                                       "priority": "low", "csrf_token": csrf_token(client, path)})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.execute(sa.select(m.Ticket.project_id).where(m.Ticket.subject == "Picked")).scalar_one() == own_id


def test_a_viewer_may_not_use_the_portal_picker(app, client):
    login(client, "pro-co-viewer")
    assert client.get(f"{PORTAL_PICKER}?form=add").status_code == 403


# --------------------------------------------------------------------------- statements


@pytest.fixture
def counted_client(backend):
    url = backend.new_database(seeded=True)
    application = make_app(url, SQL_COUNT_HEADER=True)
    yield application
    with application.app_context():
        db.engine.dispose()
    backend.drop(url)


def _statements(client, query):
    response = client.get(f"{PICKER}?{query}")
    assert response.status_code == 200
    return int(response.headers["X-SQL-Statements"])


QUERIES = ("q=", "q=screen", "q=12", "q=%2312", "q=a&page=3")


def test_the_picker_costs_the_same_few_statements_whatever_the_tables_size(counted_client):
    """The user with roles, the row-level-security settings (PostgreSQL) and one
    search statement with a LIMIT: no more with 600 tickets more."""
    client = counted_client.test_client()
    client.post("/login/", data={"username": "admin", "password": "test-password-1",
                                 "csrf_token": csrf_token(client, "/login/")})
    _statements(client, "q=")  # PostgreSQL: this process reads the grants once (test_query_budget)
    small = [_statements(client, q) for q in QUERIES]
    with counted_client.app_context():
        _add_tickets([f"Bulk ticket {i} screen" for i in range(600)])
        db.session.remove()
    large = [_statements(client, q) for q in QUERIES]
    assert large == small and max(large) <= 5, (small, large)
