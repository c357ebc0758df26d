"""The staff ticket list costs a fixed handful of SQL statements, whatever the page
size: the user with roles (and the version of the grants), the permission set (on
PostgreSQL only when the grants changed since this process last read them), the
row-level-security settings (on PostgreSQL), the count and the page."""

import pytest

from tests.conftest import csrf_token, make_app

pytestmark = pytest.mark.both_backends


@pytest.fixture
def counted_client(backend):
    url = backend.new_database(seeded=True)
    app = make_app(url, SQL_COUNT_HEADER=True)
    # No app context held around the requests: each gets its own ``g``, as under gunicorn.
    yield app.test_client()
    with app.app_context():
        from app.extensions import db

        db.engine.dispose()
    backend.drop(url)


@pytest.mark.parametrize("query", ["", "?psize_TicketView=100", "?page_TicketView=1&psize_TicketView=10",
                                   "?_flt_0_status=open"])
def test_ticket_list_uses_at_most_five_statements(counted_client, query):
    client = counted_client
    client.post("/login/", data={"username": "admin", "password": "test-password-1",
                                 "csrf_token": csrf_token(client, "/login/")})
    response = client.get(f"/ticketview/list/{query}")
    assert response.status_code == 200
    assert int(response.headers["X-SQL-Statements"]) <= 5


@pytest.mark.postgres_only  # the per-process copy of the grants is PostgreSQL's (SQLite reuses ids)
def test_ticket_list_reads_the_permission_set_once_per_process_on_postgresql(counted_client, backend):
    client = counted_client
    client.post("/login/", data={"username": "operator", "password": "test-password-1",
                                 "csrf_token": csrf_token(client, "/login/")})
    counts = [int(client.get(f"/ticketview/list/{query}").headers["X-SQL-Statements"])
              for query in ("", "?psize_TicketView=100", "?_flt_0_status=open", "?page_TicketView=2")]
    # user (+ grants version), row-level-security settings, count, page
    assert counts[1:] == [4, 4, 4], counts


def test_the_staff_ticket_page_costs_the_same_for_a_short_and_a_long_thread(counted_client):
    """Issue 20: at most 10 statements, whatever the number of messages and attachments."""
    import sqlalchemy as sa

    from app import models as m
    from app.extensions import db

    client = counted_client
    app = client.application
    with app.app_context():
        from app import tenancy

        with tenancy.acting_as(tenancy.SYSTEM):
            pro = db.session.execute(sa.select(m.Client).filter_by(slug="pro-co")).scalar_one()
            owner = db.session.execute(sa.select(m.User).filter_by(username="pro-co-owner")).scalar_one()
            staff = db.session.execute(sa.select(m.User).filter_by(username="developer")).scalar_one()
            ids = []
            for count in (2, 60):
                ticket = m.Ticket(client=pro, subject=f"{count} messages", description="d", opened_by=owner)
                for i in range(count):
                    file = m.StorageFile(client_id=pro.id, file_name=f"f{i}.txt", stored_path=f"{pro.id}/q-{count}-{i}",
                                         sha256="0" * 64, tags=[]) if i % 10 == 0 else None
                    ticket.messages.append(m.TicketMessage(author=staff if i % 2 else owner, body=f"m{i}",
                                                           internal=i % 7 == 0, attachments=[file] if file else []))
                db.session.add(ticket)
                db.session.commit()
                ids.append(ticket.id)
            db.session.remove()
    client.post("/login/", data={"username": "operator", "password": "test-password-1",
                                 "csrf_token": csrf_token(client, "/login/")})
    client.get(f"/ticketview/show/{ids[0]}")  # the first page of a process reads the grants once
    counts = [int(client.get(f"/ticketview/show/{i}").headers["X-SQL-Statements"]) for i in ids]
    assert counts[0] == counts[1] <= 10, counts
