"""What an admin sees after `flask seed demo`: every list filled, the dashboard's figures."""

import re

import sqlalchemy as sa

from app import models as m
from app.extensions import db
from app.views.base import AtriumModelView
from tests.conftest import login


def test_admin_sees_every_list_filled_with_demo_data(app, client):
    login(client, "admin")
    empty = []
    for view in app.appbuilder.baseviews:
        if isinstance(view, AtriumModelView):
            html = client.get(f"{view.route_base}/list/").get_data(as_text=True)
            count = re.search(r"Record Count:\s*</?\w*>?\s*(\d+)", html)
            if "No records found" in html or not count or int(count.group(1)) == 0:
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
    assert "Welcome" in home
    assert "Clients" not in re.sub(r"<title>.*?</title>", "", home)  # no staff menu


def test_one_function_says_whom_a_user_acts_for(app):
    from app.services.tenancy import scope_for_user

    sm = app.appbuilder.sm
    assert scope_for_user(db.session, sm.find_user("operator")).is_staff
    free_co = db.session.execute(sa.select(m.Client.id).filter_by(slug="free-co")).scalar_one()
    scope = scope_for_user(db.session, sm.find_user("free-co-viewer"))
    assert not scope.is_staff and scope.client_id == free_co
    assert scope_for_user(db.session, None).client_id is None


def test_current_scope_follows_the_signed_in_user(app):
    from flask import g

    from app.services.tenancy import current_scope

    sm = app.appbuilder.sm
    pro_co = db.session.execute(sa.select(m.Client.id).filter_by(slug="pro-co")).scalar_one()
    with app.test_request_context("/"):
        g.user = sm.find_user("pro-co-owner")
        assert current_scope().client_id == pro_co and not current_scope().is_staff
    with app.test_request_context("/"):
        g.user = sm.find_user("developer")
        assert current_scope().is_staff
