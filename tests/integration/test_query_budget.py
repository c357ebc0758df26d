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
