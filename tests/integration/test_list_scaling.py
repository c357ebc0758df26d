"""Staff lists stay usable as tables grow, and what is cached for speed stays correct.

- No search form offers a drop-down of every row of a growing table (tickets,
  projects, domains, campaigns, monitors, users, ...): those relations are filtered by
  the related record's id, without loading it, and a value that is not an id lists
  nothing instead of an error.
- Grants are cached per process and the navbar menu per set of grants: a permission
  revoked or granted by another process (another gunicorn worker, ``flask roles
  sync``) applies to the very next request.
"""

import json
import re

import pytest
import sqlalchemy as sa
from markupsafe import escape

from app import models as m
from app.extensions import db
from app.views.base import AtriumModelView
from app.views.widgets import DROPDOWN_LOOKUPS
from app.views.portal.base import PortalModelView
from tests.conftest import login, make_app

pytestmark = pytest.mark.both_backends

FILTER_FORM = re.compile(r"new AdminFilters\(\s*'#filter_form',\s*(.*?)\s*\);\s*\}\)\(jQuery\);", re.S)


def _search_inputs(html: str) -> dict[str, str]:
    """The input FAB's filter widget clones for each searchable column."""
    match = FILTER_FORM.search(html)
    assert match, "no filter widget on the page"
    decoder, text, pos, values = json.JSONDecoder(), match.group(1), 0, []
    while len(values) < 2:
        while text[pos] in " \t\r\n,":
            pos += 1
        value, pos = decoder.raw_decode(text, pos)
        values.append(value)
    return values[1]


def _record_count(html: str) -> int:
    return int(re.search(r"Record Count:</strong>\s*(\d+)", html).group(1))


def test_no_search_form_offers_every_row_of_a_growing_table(app, client):
    login(client, "admin")
    checked, drop_downs = 0, []
    for view in app.appbuilder.baseviews:
        if not isinstance(view, AtriumModelView) or isinstance(view, PortalModelView):
            continue
        mapper = sa.inspect(view.datamodel.obj)
        growing = [c for c in view.search_columns if c in mapper.relationships
                   and mapper.relationships[c].mapper.class_.__name__ not in DROPDOWN_LOOKUPS]
        if not growing:
            continue
        response = client.get(f"{view.route_base}/list/")
        assert response.status_code == 200, view.route_base
        inputs = _search_inputs(response.get_data(as_text=True))
        for column in growing:
            checked += 1
            if "<select" in inputs[column] or "<option" in inputs[column]:
                drop_downs.append(f"{view.__class__.__name__}.{column}")
    assert checked >= 15  # tickets, projects, domains, campaigns, monitors, incidents, users...
    assert not drop_downs, f"drop-downs of whole tables: {drop_downs}"


def test_ticket_messages_are_filtered_by_the_ticket_id_typed(app, client):
    ticket_id, messages = db.session.execute(
        sa.select(m.TicketMessage.ticket_id, sa.func.count()).group_by(m.TicketMessage.ticket_id)
        .order_by(sa.func.count().desc(), m.TicketMessage.ticket_id).limit(1)).one()
    other_subjects = db.session.execute(
        sa.select(m.Ticket.subject).where(m.Ticket.id != ticket_id)).scalars().all()
    subject = db.session.get(m.Ticket, ticket_id).subject
    login(client, "operator")

    html = client.get("/ticketmessageview/list/").get_data(as_text=True)
    assert 'name="ticket"' in _search_inputs(html)["ticket"] and "<option" not in _search_inputs(html)["ticket"]

    html = client.get(f"/ticketmessageview/list/?_flt_0_ticket={ticket_id}").get_data(as_text=True)
    assert _record_count(html) == messages
    rows = re.findall(r"<tr>.*?</tr>", html.split('<tbody class="atrium-rows">', 1)[1].split("</tbody>")[0], re.S)
    assert len(rows) == messages and all(f"<td>{escape(subject)}</td>" in row for row in rows)
    assert not any(f">{escape(s)}<" in html for s in other_subjects if s != subject)

    total = db.session.execute(sa.select(sa.func.count()).select_from(m.TicketMessage)).scalar_one()
    html = client.get(f"/ticketmessageview/list/?_flt_1_ticket={ticket_id}").get_data(as_text=True)
    assert _record_count(html) == total - messages  # "No Relation"

    for typed in ("abc", "", "0", "99999999999", str(10**6)):
        response = client.get(f"/ticketmessageview/list/?_flt_0_ticket={typed}")
        assert response.status_code == 200, typed
        assert _record_count(response.get_data(as_text=True)) == 0, typed


@pytest.fixture
def two_processes(backend):
    """Two app instances on one database, as two gunicorn workers (no app context held
    around requests, so each request has its own ``g``, as in production)."""
    url = backend.new_database(seeded=True)
    apps = [make_app(url), make_app(url)]
    yield apps
    for application in apps:
        with application.app_context():
            db.engine.dispose()
    backend.drop(url)


def _set_operator_ticket_access(application, granted: bool) -> None:
    from flask_appbuilder.security.sqla.models import Role

    with application.app_context():
        sm = application.appbuilder.sm
        role = db.session.execute(sa.select(Role).filter_by(name="Operator")).scalar_one()
        wanted = [sm.find_permission_view_menu("can_read", "Ticket"),
                  sm.find_permission_view_menu("menu_access", "Tickets")]
        assert all(wanted)
        if granted:
            role.permissions.extend(pv for pv in wanted if pv not in role.permissions)
        else:
            role.permissions = [pv for pv in role.permissions if pv not in wanted]
        db.session.commit()
        db.session.remove()


def test_a_grant_changed_by_another_process_applies_to_the_next_request(two_processes):
    web, other = two_processes
    client = web.test_client()
    login(client, "operator")
    for _ in range(2):  # second time from the process's cached grants and menu
        assert client.get("/ticketview/list/").status_code == 200
        assert 'href="/ticketview/list/"' in client.get("/dashboard/").get_data(as_text=True)

    _set_operator_ticket_access(other, granted=False)
    assert client.get("/ticketview/list/").status_code in (302, 403)
    dashboard = client.get("/dashboard/").get_data(as_text=True)
    assert 'href="/ticketview/list/"' not in dashboard and 'href="/projectview/list/"' in dashboard

    _set_operator_ticket_access(other, granted=True)
    assert client.get("/ticketview/list/").status_code == 200
    assert 'href="/ticketview/list/"' in client.get("/dashboard/").get_data(as_text=True)
