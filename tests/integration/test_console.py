"""What an admin sees after `flask seed demo`: every list filled, the dashboard's figures."""

import re

import sqlalchemy as sa

from app import models as m
from app.extensions import db
from app.views.base import AtriumModelView
from app.views.portal.base import PortalModelView
from tests.conftest import csrf_token, login


def test_admin_sees_every_list_filled_with_demo_data(app, client):
    login(client, "admin")
    empty = []
    for view in app.appbuilder.baseviews:
        if isinstance(view, AtriumModelView) and not isinstance(view, PortalModelView):
            html = client.get(f"{view.route_base}/list/").get_data(as_text=True)
            count = re.search(r"Record Count:\s*</?\w*>?\s*(\d+)", html)
            if 'id="list-empty"' in html or not count or int(count.group(1)) == 0:
                empty.append(view.__class__.__name__)
    assert empty == []


def test_dashboard_shows_the_day_figures(app, client):
    login(client, "operator")
    html = client.get("/dashboard/").get_data(as_text=True)
    open_tickets = db.session.execute(sa.select(sa.func.count()).select_from(m.Ticket).where(
        m.Ticket.status.in_(["open", "in_progress", "waiting_client"]))).scalar_one()
    assert f'<div class="atrium-figure">{open_tickets}</div>' in html
    assert "Certificates expiring within 30 days" in html
    soonest = db.session.execute(sa.select(m.Domain.name).order_by(m.Domain.ssl_expires_at).limit(1)).scalar_one()
    assert soonest in html


def test_client_users_reach_no_staff_screen(app, client):
    login(client, "free-co-owner")
    home = client.get("/", follow_redirects=True).get_data(as_text=True)
    assert "Free Co" in home and "tickets opened this month" in home  # the portal overview
    assert "Clients" not in re.sub(r"<title>.*?</title>", "", home)  # no staff menu


def test_one_function_says_whom_a_user_acts_for(app):
    from app.tenancy import scope_for_user

    sm = app.appbuilder.sm
    assert scope_for_user(db.session, sm.find_user("operator")).is_staff
    free_co = db.session.execute(sa.select(m.Client.id).filter_by(slug="free-co")).scalar_one()
    scope = scope_for_user(db.session, sm.find_user("free-co-viewer"))
    assert not scope.is_staff and scope.client_id == free_co
    assert scope_for_user(db.session, None).client_id is None


def test_current_scope_follows_the_signed_in_user(app):
    from flask import g

    from app.tenancy import current_scope

    sm = app.appbuilder.sm
    pro_co = db.session.execute(sa.select(m.Client.id).filter_by(slug="pro-co")).scalar_one()
    with app.test_request_context("/"):
        g.user = sm.find_user("pro-co-owner")
        assert current_scope().client_id == pro_co and not current_scope().is_staff
    with app.test_request_context("/"):
        g.user = sm.find_user("developer")
        assert current_scope().is_staff


def test_list_rows_link_to_their_own_records(app, client):
    login(client, "admin")
    html = client.get("/ticketview/list/?_oc_TicketView=created_at&_od_TicketView=desc").get_data(as_text=True)
    newest = db.session.execute(sa.select(m.Ticket.id).order_by(m.Ticket.created_at.desc(), m.Ticket.id.desc())
                                .limit(25)).scalars().all()
    # Each row's magnifier and its subject (the record's name) both lead to the record.
    assert re.findall(r'href="/ticketview/show/(\d+)" class="btn', html) == [str(i) for i in newest]
    subjects = re.findall(r'<td><a href="/ticketview/show/(\d+)">([^<]+)</a></td>', html)
    assert [int(i) for i, _ in subjects] == newest
    assert [s for _, s in subjects] == [db.session.get(m.Ticket, i).subject for i in newest]
    assert re.findall(r'href="/ticketview/edit/(\d+)"', html) == [str(i) for i in newest]
    assert re.findall(r'data-delete-url="/ticketview/delete/(\d+)"', html) == [str(i) for i in newest]
    # The delete link does what it says, through FAB's CSRF-protected form.
    response = client.post(f"/ticketview/delete/{newest[0]}", data={"csrf_token": csrf_token(client, "/ticketview/list/")})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(m.Ticket, newest[0]) is None


def test_list_offers_only_the_buttons_the_role_allows(app, client):
    login(client, "developer")  # reads clients, may not change them (SPEC §1)
    html = client.get("/clientview/list/").get_data(as_text=True)
    assert re.search(r'href="/clientview/show/\d+"', html)
    assert "/clientview/edit/" not in html and "data-delete-url" not in html


def test_error_pages_keep_the_layout_and_api_errors_are_json(app, client):
    from tests.conftest import login

    login(client, "operator")
    page = client.get("/no/such/page")
    html = page.get_data(as_text=True)
    assert page.status_code == 404 and 'id="error-page"' in html and "Not Found" in html
    assert "navbar" in html  # the person keeps the navigation
    api = client.get("/api/v1/no-such-thing/")
    assert api.status_code == 404 and api.is_json and "message" in api.get_json()


def _cells(html: str, row_name: str) -> list[str]:
    """The text of every cell of the list row whose name link reads ``row_name``."""
    row = re.search(rf"<tr>((?:(?!</tr>).)*>{re.escape(row_name)}</a>(?:(?!</tr>).)*)</tr>", html, re.S).group(1)
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td>(.*?)</td>", row, re.S)]


def test_list_cells_read_as_words_not_stored_values(app, client):
    """Enum values as words, yes/no as ✓/✗, nothing as —, money grouped (issue 21)."""
    campaign = db.session.execute(sa.select(m.Campaign).where(m.Campaign.platform == "google_ads").limit(1)).scalar_one()
    campaign.name, campaign.budget_total, campaign.last_synced_at = "Only one like me", 135000, None
    domain = db.session.execute(sa.select(m.Domain).limit(1)).scalar_one()
    domain.auto_renew, domain.registrar = False, None
    db.session.commit()
    login(client, "admin")
    cells = _cells(client.get("/campaignview/list/?psize_CampaignView=100").get_data(as_text=True), campaign.name)
    assert "Google Ads" in cells and "google_ads" not in cells
    assert "135,000.00" in cells and cells[-1] == "—"  # never synced
    cells = _cells(client.get("/domainview/list/?psize_DomainView=100").get_data(as_text=True), domain.name)
    assert cells[-1] == "✗" and "—" in cells and "None" not in cells and "False" not in cells
    monitors = client.get("/monitorview/list/").get_data(as_text=True)
    assert "<td>GET</td>" in monitors and "<td>Get</td>" not in monitors
