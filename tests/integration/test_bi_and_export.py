"""The business dashboard (/analytics/) and the CSV export of list views, through the
doors people use: the pages, their links and forms (CSRF on), on SQLite and PostgreSQL.

The figures a person reads are compared with aggregates the test computes in SQL over
the ``daily_analytics`` rows; exports are parsed as a spreadsheet would read them and
compared with the rows the database holds."""

import csv
import datetime as dt
import html as html_lib
import io
import json
import re
from decimal import ROUND_HALF_UP, Decimal

import pytest
import sqlalchemy as sa

from app import models as m
from app.extensions import db
from app.models.base import utcnow
from tests.conftest import csrf_token, login

pytestmark = pytest.mark.both_backends

YESTERDAY = utcnow().date() - dt.timedelta(days=1)


def _client_id(slug):
    return db.session.execute(sa.select(m.Client.id).filter_by(slug=slug)).scalar_one()


def _user_id(username):
    return db.session.execute(sa.select(m.User.id).filter_by(username=username)).scalar_one()


def _token(client) -> str:
    """A CSRF token of this session, from a form every signed-in user has (their profile)."""
    return csrf_token(client, "/userinfoeditview/form")


def _text(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', page)
    assert found, f"#{element_id} not on the page"
    return html_lib.unescape(found.group(1)).strip()


def _money(value) -> str:
    return "R$ {:,.2f}".format(Decimal(str(value or 0)))


def _series(page: str) -> dict:
    found = re.search(r'<script type="application/json" id="bi-series">(.*?)</script>', page, re.S)
    assert found, "no chart data on the page"
    return json.loads(found.group(1))


def _aggregates(start, end) -> dict:
    da = m.DailyAnalytics.__table__
    in_range = da.c.date.between(start, end)
    row = db.session.execute(sa.select(
        sa.func.count(), sa.func.sum(da.c.tickets_opened), sa.func.sum(da.c.tickets_resolved),
        sa.func.sum(da.c.incidents), sa.func.sum(da.c.downtime_minutes), sa.func.sum(da.c.ad_spend),
        sa.func.sum(da.c.ad_revenue), sa.func.sum(da.c.sla_compliance_pct), sa.func.count(da.c.sla_compliance_pct),
    ).where(in_range)).one()
    latest_mrr = db.session.execute(sa.select(da.c.mrr_total).where(in_range).order_by(da.c.date.desc())
                                    .limit(1)).scalar_one_or_none()
    return {"days": row[0], "opened": row[1] or 0, "resolved": row[2] or 0, "incidents": row[3] or 0,
            "downtime": row[4] or 0, "spend": row[5] or 0, "revenue": row[6] or 0,
            "sla": (Decimal(str(row[7])) / row[8]).quantize(Decimal("0.01"), ROUND_HALF_UP) if row[8] else None,
            "mrr": latest_mrr}


# --------------------------------------------------------------------------- dashboard


def test_dashboard_figures_equal_the_sql_aggregates_of_the_chosen_range(app, client):
    start, end = YESTERDAY - dt.timedelta(days=59), YESTERDAY - dt.timedelta(days=5)
    # Known figures on two days, so every total is exercised whatever the seed drew.
    for offset, (opened, sla, incidents, downtime) in enumerate([(7, "50.00", 2, 45), (3, "100.00", 1, 30)]):
        row = db.session.execute(sa.select(m.DailyAnalytics).filter_by(date=start + dt.timedelta(days=offset))
                                 ).scalar_one()
        row.tickets_opened, row.sla_compliance_pct = opened, Decimal(sla)
        row.incidents, row.downtime_minutes = incidents, downtime
    db.session.commit()
    login(client, "operator")
    response = client.get(f"/analytics/?from={start}&to={end}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    sql = _aggregates(start, end)
    assert sql["days"] == (end - start).days + 1 == 55
    assert sql["opened"] >= 10 and sql["incidents"] >= 3 and Decimal(str(sql["spend"])) > 0
    assert _text(page, "total-tickets-opened") == f"{sql['opened']:,}"
    assert _text(page, "total-tickets-resolved") == f"{sql['resolved']:,}"
    assert _text(page, "total-incidents") == f"{sql['incidents']:,}"
    assert _text(page, "total-downtime") == f"{sql['downtime']:,}"
    assert _text(page, "total-ad-spend") == _money(sql["spend"])
    assert _text(page, "total-ad-revenue") == _money(sql["revenue"])
    assert _text(page, "total-sla") == f"{sql['sla']}%"
    assert _text(page, "total-mrr") == _money(sql["mrr"]) and Decimal(str(sql["mrr"])) > 0
    assert "bi-missing" not in page  # the seed computed every day of the past 90
    series = _series(page)
    assert series["labels"][0] == start.isoformat() and series["labels"][-1] == end.isoformat()
    assert len(series["labels"]) == 55 and sum(series["tickets_opened"]) == sql["opened"]


def test_missing_days_show_as_gaps_and_recompute_fills_them_audited(app, client):
    start, end = YESTERDAY - dt.timedelta(days=29), YESTERDAY
    gone = [YESTERDAY - dt.timedelta(days=d) for d in (3, 10, 11)]
    db.session.execute(sa.delete(m.DailyAnalytics).where(m.DailyAnalytics.date.in_(gone)))
    db.session.commit()

    login(client, "operator")  # reads, may not recompute
    page = client.get("/analytics/?range=30").get_data(as_text=True)
    assert _text(page, "bi-missing-count") == "3" and "bi-recompute" not in page
    series = _series(page)
    for day in gone:
        assert series["tickets_opened"][series["labels"].index(day.isoformat())] is None  # a gap, not a zero
    sql = _aggregates(start, end)
    assert sql["days"] == 27 and _text(page, "total-tickets-opened") == f"{sql['opened']:,}"
    refused = client.post("/analytics/recompute", data={"csrf_token": _token(client), "range": "30"})
    assert refused.status_code in (302, 403)
    assert db.session.execute(sa.select(sa.func.count()).select_from(m.DailyAnalytics)
                              .where(m.DailyAnalytics.date.in_(gone))).scalar_one() == 0
    client.get("/logout/")

    login(client, "admin")
    page = client.get("/analytics/?range=30").get_data(as_text=True)
    assert "bi-recompute" in page
    assert client.post("/analytics/recompute", data={"range": "30"}).status_code == 400  # no CSRF token
    token = csrf_token(client, "/analytics/?range=30")
    done = client.post("/analytics/recompute", data={"csrf_token": token, "range": "30"}, follow_redirects=True)
    assert done.status_code == 200
    page = done.get_data(as_text=True)
    assert "Computed the figures of 3 missing day(s)" in page and "bi-missing" not in page
    assert sorted(db.session.execute(sa.select(m.DailyAnalytics.date).where(m.DailyAnalytics.date.in_(gone))
                                     ).scalars()) == sorted(gone)
    event = db.session.execute(sa.select(m.AuditEvent).filter_by(action="analytics.recompute")
                               .order_by(m.AuditEvent.seq.desc())).scalars().first()
    assert event.actor_id == _user_id("admin") and event.details["days"] == 3
    assert event.details["first"] == min(gone).isoformat() and event.details["last"] == max(gone).isoformat()
    again = client.post("/analytics/recompute", data={"csrf_token": token, "range": "30"}, follow_redirects=True)
    assert "Nothing to recompute" in again.get_data(as_text=True)


@pytest.mark.parametrize("query, message", [
    ("from=2025-02-30&to=2025-03-10", "is not a date"),
    ("from=yesterday&to=2025-03-10", "is not a date"),
    ("from=2025-03-10&to=2025-03-01", "is after the end date"),
    ("from=2025-03-10", "Enter both a start"),
    ("from=2019-01-01&to=2024-01-01", "at most 3 years"),
    ("from=2025-01-01&to=2999-01-01", "is not over yet"),
    ("range=7", "Choose the last 30, 90 or 365 days"),
])
def test_a_bad_range_is_a_message_on_the_page_not_a_500(app, client, query, message):
    login(client, "operator")
    response = client.get(f"/analytics/?{query}")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in html_lib.unescape(_text(page, "bi-error"))
    assert 'id="bi-range-form"' in page  # the person can fix it right there


def test_a_nul_in_the_range_is_refused_at_the_door_naming_it(app, client):
    # Text no field may hold never reaches the page (``app.views.input_guard``).
    login(client, "operator")
    response = client.get("/analytics/?range=%00")
    assert response.status_code == 400 and "“range” contains a NUL character" in response.get_data(as_text=True)


def test_a_bad_range_posted_to_recompute_is_a_message_and_computes_nothing(app, client):
    login(client, "admin")
    before = db.session.execute(sa.select(sa.func.count()).select_from(m.DailyAnalytics)).scalar_one()
    response = client.post("/analytics/recompute", data={"csrf_token": _token(client), "from": "2020-01-01", "to": "2024-12-31"})
    assert response.status_code == 422 and "at most 3 years" in response.get_data(as_text=True)
    assert db.session.execute(sa.select(sa.func.count()).select_from(m.DailyAnalytics)).scalar_one() == before


@pytest.mark.parametrize("username", ["developer", "pro-co-owner", "free-co-viewer"])
def test_developers_and_client_users_are_refused_the_dashboard(app, client, username):
    login(client, username)
    response = client.get("/analytics/?range=90")
    assert response.status_code in (302, 403)
    assert "bi-series" not in response.get_data(as_text=True)
    assert client.post("/analytics/recompute", data={"csrf_token": _token(client), "range": "90"}
                       ).status_code in (302, 403)
    home = client.get("/", follow_redirects=True).get_data(as_text=True)
    assert "/analytics/" not in home  # no menu entry either


def test_operator_finds_the_dashboard_in_the_menu(app, client):
    login(client, "operator")
    assert 'href="/analytics/"' in client.get("/dashboard/").get_data(as_text=True)


# --------------------------------------------------------------------------- CSV export


def _export_link(page: str) -> str:
    found = re.search(r'<a href="([^"]+)"[^>]*id="list-export"', page)
    assert found, "no Export CSV button on the list"
    return html_lib.unescape(found.group(1))


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def _exports():
    return db.session.execute(sa.select(m.AuditEvent).filter_by(action="export")
                              .order_by(m.AuditEvent.seq)).scalars().all()


def test_staff_export_of_the_filtered_ticket_list_has_exactly_the_matching_rows_of_all_pages(app, client):
    login(client, "operator")
    expected = db.session.execute(sa.select(m.Ticket.id).where(m.Ticket.status == "closed")
                                  .order_by(m.Ticket.created_at.desc())).scalars().all()
    assert len(expected) > 5  # more than one page of the list below
    page = client.get("/ticketview/list/?_flt_0_status=closed&psize_TicketView=5").get_data(as_text=True)
    assert len(set(re.findall(r"/ticketview/show/(\d+)", page))) == 5  # the page shows 5 of them
    link = _export_link(page)
    assert "_flt_0_status=closed" in link
    before = len(_exports())
    rows = _csv(client.get(link))
    assert rows[0] == ["#", "Client", "Subject", "Priority", "Status", "SLA", "First response due", "Assignee",
                       "Created at"]
    assert [int(r[0]) for r in rows[1:]] == expected  # every page, in the list's order
    assert {r[4] for r in rows[1:]} == {"closed"}  # the stored value: the list's "Closed" is for the screen
    events = _exports()
    assert len(events) == before + 1
    event = events[-1]
    assert event.resource_type == "Ticket" and event.actor_id == _user_id("operator")
    assert event.details["rows"] == len(expected) and event.client_id is None
    assert "closed" in json.dumps(event.details["filters"])


def test_export_follows_the_lists_ordering(app, client):
    login(client, "operator")
    rows = _csv(client.get("/ticketview/export.csv?_oc_TicketView=id&_od_TicketView=asc"))
    ids = [int(r[0]) for r in rows[1:]]
    assert ids == sorted(ids) and len(ids) == db.session.execute(
        sa.select(sa.func.count()).select_from(m.Ticket)).scalar_one()


def test_a_client_users_portal_export_holds_only_its_own_clients_rows(app, client):
    pro = _client_id("pro-co")
    own = db.session.execute(sa.select(m.Ticket.subject, m.Ticket.created_at).where(m.Ticket.client_id == pro)
                             ).all()
    others = db.session.execute(sa.select(sa.func.count()).select_from(m.Ticket).where(m.Ticket.client_id != pro)
                                ).scalar_one()
    assert own and others
    login(client, "pro-co-viewer")  # read-only members may export what they may read
    link = _export_link(client.get("/portal/tickets/list/").get_data(as_text=True))
    # A forged filter on another client is not a search column of the portal: ignored.
    rows = _csv(client.get(link + ("&" if "?" in link else "?") + f"_flt_0_client={_client_id('free-co')}"))
    assert rows[0][:2] == ["Subject", "Project"]
    exported = sorted((r[0], r[-1]) for r in rows[1:])
    assert exported == sorted((s, c.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")) for s, c in own)
    projects = set(db.session.execute(sa.select(m.Project.name).where(m.Project.client_id == pro)).scalars())
    assert {r[1] for r in rows[1:]} <= projects | {""}
    event = _exports()[-1]
    assert event.actor_id == _user_id("pro-co-viewer") and event.client_id == pro
    assert event.details["rows"] == len(own) and event.resource_type == "Ticket"


def test_exported_cells_that_a_spreadsheet_would_run_are_neutralised(app, client):
    login(client, "pro-co-owner")
    subjects = ['=HYPERLINK("http://evil.example","click")', "+55 11 9999", "-1+2", "@SUM(A1:A9)", "Plain subject"]
    for subject in subjects:
        token = csrf_token(client, "/portal/tickets/add")
        assert client.post("/portal/tickets/add", data={"csrf_token": token, "subject": subject,
                                                        "description": "d", "priority": "low"}).status_code == 302
    client.get("/logout/")
    login(client, "operator")
    rows = _csv(client.get("/ticketview/export.csv"))
    cells = {r[2] for r in rows[1:]}
    assert "'=HYPERLINK(\"http://evil.example\",\"click\")" in cells
    assert {"'+55 11 9999", "'-1+2", "'@SUM(A1:A9)", "Plain subject"} <= cells
    assert not any(c[:1] in "=+-@" for c in cells if c)


def test_audit_exports_stay_admins(app, client):
    login(client, "operator")
    for path in ("/auditeventview/export.csv", "/impersonationsessionview/export.csv"):
        assert client.get(path).status_code in (302, 403), path
    page = client.get("/impersonationsessionview/list/").get_data(as_text=True)
    assert 'id="list-export"' not in page
    client.get("/logout/")
    login(client, "admin")
    rows = _csv(client.get(_export_link(client.get("/impersonationsessionview/list/").get_data(as_text=True))))
    assert len(rows) == 1 + db.session.execute(sa.select(sa.func.count()).select_from(m.ImpersonationSession)
                                               ).scalar_one()


def test_a_related_list_on_a_record_page_offers_no_export_of_the_whole_table(app, client):
    login(client, "operator")
    page = client.get(f"/clientview/show/{_client_id('pro-co')}").get_data(as_text=True)
    assert "Support tickets" in page and 'id="list-export"' not in page


@pytest.mark.parametrize("username, role", [("admin", "Admin"), ("operator", "Operator"),
                                            ("developer", "Developer"), ("pro-co-viewer", "Client")])
def test_every_list_exports_exactly_for_those_who_may_read_it(app, client, username, role):
    """Every staff and portal list: a CSV of all its rows for whoever may read it (the
    audit lists: Admin's export permission), a refusal for everyone else, never a 500."""
    from app.roles import allowed
    from app.views.base import AtriumModelView

    login(client, username)
    wrong, exported = [], 0
    for view in app.appbuilder.baseviews:
        if not isinstance(view, AtriumModelView):
            continue
        action = view.method_permission_name.get("export", "read")
        response = client.get(f"{view.route_base}/export.csv")
        if allowed(role, view.class_permission_name, action) and f"can_{action}" in view.base_permissions:
            if response.status_code != 200 or len(_csv(response)[0]) != len(view.export_columns or view.list_columns):
                wrong.append(f"{view.route_base}: {response.status_code}")
            exported += 1
        elif response.status_code not in (302, 403):
            wrong.append(f"{view.route_base}: {response.status_code} (expected a refusal)")
    assert not wrong, "\n".join(wrong)
    assert exported >= 8
