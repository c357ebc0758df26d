"""Row-level security that costs little, and deep list pages that stay exact (issue 19).

The policies read their settings once per statement (a scalar subquery) and still hide
every other client's row from a client transaction, and everything from a transaction
that set nothing; a deep list page found through its ids first (a deferred join)
lists exactly the rows, in the same order, the plain query lists.
"""

import re

import pytest
import sqlalchemy as sa

from app import models as m
from app.extensions import db
from tests.conftest import login


def _client_id(slug):
    return db.session.execute(sa.select(m.Client.id).filter_by(slug=slug)).scalar_one()


def _rls_tables(connection) -> list[tuple[str, bool]]:
    """(table, has a client_id column) of every table under row-level security."""
    return [(name, has_client) for name, has_client in connection.execute(sa.text(
        "SELECT c.relname, EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid "
        "AND a.attname = 'client_id' AND NOT a.attisdropped) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relrowsecurity ORDER BY 1"))]


def _per_row_checks(plan: dict, inside_init_plan: bool = False):
    """(node type, filter) of every plan node outside an InitPlan, with its conditions."""
    in_init = inside_init_plan or plan.get("Parent Relationship") == "InitPlan"
    if not in_init:
        for key in ("Filter", "Index Cond", "Recheck Cond"):
            if key in plan:
                yield plan["Node Type"], plan[key]
    for child in plan.get("Plans", ()):
        yield from _per_row_checks(child, in_init)


@pytest.mark.postgres_only
@pytest.mark.parametrize("settings", [{"staff": "on", "client_id": ""}, {"staff": "off", "client_id": "1"}],
                         ids=["staff", "client"])
def test_no_policy_reads_a_setting_per_row(app, settings):
    """The policies read each setting once per statement (an InitPlan); the check made
    for every row compares only the values read, for staff and client transactions."""
    db.session.commit()
    with db.engine.connect() as connection:
        tables = [t for t, _ in _rls_tables(connection)]
        connection.rollback()
        per_row = {}
        with connection.begin():
            connection.execute(sa.text("SELECT set_config('atrium.staff', :staff, true), "
                                       "set_config('atrium.client_id', :client_id, true)"), settings)
            for table in tables:
                plan = connection.execute(sa.text(f'EXPLAIN (VERBOSE, FORMAT JSON) SELECT * FROM "{table}"')).scalar()
                checks = list(_per_row_checks(plan[0]["Plan"]))
                per_row[table] = [c for c in checks if re.search(r"current_setting|COALESCE|NULLIF", c[1])]
    assert len(tables) >= 20 and {t: c for t, c in per_row.items() if c} == {}


@pytest.mark.postgres_only
def test_a_client_transaction_sees_no_other_clients_row_in_any_table(app):
    free = _client_id("free-co")
    db.session.commit()
    with db.engine.connect() as connection:  # the app role, below the ORM: the policies alone
        tables = _rls_tables(connection)
        connection.rollback()
        assert len(tables) >= 20
        with connection.begin():
            connection.execute(sa.text("SELECT set_config('atrium.staff', 'off', true), "
                                       "set_config('atrium.client_id', :c, true)"), {"c": str(free)})
            others = {t: connection.execute(sa.text(
                f'SELECT count(*) FROM "{t}" WHERE client_id IS DISTINCT FROM :c' if has_client
                else f'SELECT count(*) FROM "{t}"'), {"c": free}).scalar()
                for t, has_client in tables if t not in ("clients", "client_members")}
            own_tickets = connection.execute(sa.text("SELECT count(*) FROM tickets")).scalar()
            clients = connection.execute(sa.text("SELECT array_agg(id) FROM clients")).scalar()
        with connection.begin():  # the app forgot to say whom it acts for: nothing at all
            unset = {t: connection.execute(sa.text(f'SELECT count(*) FROM "{t}"')).scalar()
                     for t, _ in tables}
    assert {t: n for t, n in others.items() if n} == {}
    assert own_tickets > 0 and clients == [free]
    assert {t: n for t, n in unset.items() if n} == {}


@pytest.mark.postgres_only
def test_staff_see_every_client_through_the_same_policies(app):
    db.session.commit()
    with db.engine.connect() as connection, connection.begin():
        connection.execute(sa.text("SELECT set_config('atrium.staff', 'on', true)"))
        seen = set(connection.execute(sa.text("SELECT DISTINCT client_id FROM tickets")).scalars())
    assert seen == set(db.session.execute(sa.select(m.Client.id)).scalars())


def _list_ids(client, query: str) -> list[int]:
    html = client.get(f"/ticketview/list/?{query}").get_data(as_text=True)
    return [int(x) for x in re.findall(r"<td>\s*(\d+)\s*</td>", html)]


@pytest.mark.both_backends
def test_a_deep_page_found_by_its_ids_lists_what_the_plain_query_lists(app, client):
    """With the deferred join from the first row on, every page of the staff list (and
    filtered, and in both directions, and ordered by another column) equals the page
    of the plain query."""
    total = db.session.execute(sa.select(sa.func.count()).select_from(m.Ticket)).scalar()
    assert total > 30
    login(client, "admin")
    queries = [f"psize_TicketView=7&page_TicketView={page}&_oc_TicketView=created_at&_od_TicketView=desc"
               for page in range(total // 7 + 1)]
    queries += ["psize_TicketView=5&page_TicketView=2&_oc_TicketView=created_at&_od_TicketView=asc",
                "psize_TicketView=5&page_TicketView=1&_flt_0_status=open",
                "psize_TicketView=5&page_TicketView=1&_oc_TicketView=priority&_od_TicketView=asc",
                "psize_TicketView=5&page_TicketView=3&_oc_TicketView=subject&_od_TicketView=desc"]
    app.config["LIST_DEFERRED_JOIN_OFFSET"] = 10**9  # the plain query everywhere
    plain = [_list_ids(client, q) for q in queries]
    app.config["LIST_DEFERRED_JOIN_OFFSET"] = 0  # the deferred join everywhere
    try:
        deferred = [_list_ids(client, q) for q in queries]
    finally:
        app.config.pop("LIST_DEFERRED_JOIN_OFFSET")
    assert deferred == plain
    assert sorted(i for page in plain[:total // 7 + 1] for i in page) == sorted(
        db.session.execute(sa.select(m.Ticket.id)).scalars())


def _rows(client, path: str) -> list[str]:
    html = client.get(path).get_data(as_text=True)
    body = html[html.rfind("<tbody"):html.rfind("</tbody>")]  # the list (the first is the search form)
    return [" ".join(row.split()) for row in re.findall(r"<tr.*?</tr>", body, flags=re.S)]


def test_a_client_users_deep_pages_stay_inside_their_client(app, client):
    """The ids subquery carries the client user's tenancy criteria: every page of a
    portal list equals the plain query's, and none shows another client's row."""
    pro = _client_id("pro-co")
    metrics = db.session.execute(sa.select(sa.func.count()).select_from(m.CampaignMetric)
                                 .where(m.CampaignMetric.client_id == pro)).scalar()
    everyone = db.session.execute(sa.select(sa.func.count()).select_from(m.CampaignMetric)).scalar()
    assert 10 < metrics < everyone
    login(client, "pro-co-owner")
    paths = [f"/portal/campaign-metrics/list/?psize_PortalCampaignMetricView=10&page_PortalCampaignMetricView={p}"
             for p in range(metrics // 10 + 2)]
    app.config["LIST_DEFERRED_JOIN_OFFSET"] = 10**9
    plain = [_rows(client, p) for p in paths]
    app.config["LIST_DEFERRED_JOIN_OFFSET"] = 0
    try:
        deferred = [_rows(client, p) for p in paths]
    finally:
        app.config.pop("LIST_DEFERRED_JOIN_OFFSET")
    assert deferred == plain
    assert sum(len(page) for page in plain) == metrics


def _record_count(client, query: str = "") -> str:
    html = client.get(f"/ticketview/list/?{query}").get_data(as_text=True)
    found = re.search(r"Record Count:</strong>\s*([^<]+?)\s*</div>", html) or re.search(
        r"Record Count:</strong>\s*([^\n<]+)", html)
    return found.group(1).strip()


@pytest.mark.both_backends
def test_a_list_counts_exactly_up_to_the_limit_and_says_about_beyond_it(app, client, backend):
    total = db.session.execute(sa.select(sa.func.count()).select_from(m.Ticket)).scalar()
    open_ = db.session.execute(sa.select(sa.func.count()).select_from(m.Ticket).where(m.Ticket.status == "open")).scalar()
    login(client, "admin")
    assert _record_count(client) == str(total)  # the default limit (10,000) is far above the demo's tickets
    app.config["LIST_EXACT_COUNT_LIMIT"] = 5
    try:
        shown, filtered = _record_count(client), _record_count(client, "_flt_0_status=open")
        ids = _list_ids(client, "psize_TicketView=25&page_TicketView=0&_oc_TicketView=created_at&_od_TicketView=desc")
    finally:
        app.config.pop("LIST_EXACT_COUNT_LIMIT")
    newest = db.session.execute(sa.select(m.Ticket.id).order_by(m.Ticket.created_at.desc(), m.Ticket.id.desc())
                                .limit(25)).scalars().all()
    assert ids == newest  # the rows are exact whatever the count says
    if backend.kind == "postgresql":
        estimate = int(shown.removeprefix("about ").replace(",", ""))
        assert shown.startswith("about ") and estimate >= 6, shown
        assert filtered.startswith("about ") or filtered == str(open_), filtered
    else:
        assert (shown, filtered) == (str(total), str(open_))  # SQLite: no estimate, the exact count


def test_an_estimate_reads_about_with_two_significant_figures():
    from app.views.interface import AboutCount

    assert [str(AboutCount.of(e, 10_001)) for e in (199_873.0, 12_345, 3.0, 10_001)] == [
        "about 200,000", "about 12,000", "about 10,001", "about 10,001"]
    assert AboutCount.of(199_873.0, 10_001) // 25 == 8000


@pytest.mark.postgres_only
def test_a_row_added_right_after_a_commit_is_written_under_the_scope(app):
    """After a commit, ``add()`` begins the next session transaction before it has a
    connection; the flush must still set that transaction's RLS settings (it once found
    the last transaction's noted and set none: "violates row-level security")."""
    db.session.execute(sa.select(m.Ticket.id).limit(1)).all()  # settings noted for this transaction
    db.session.commit()
    db.session.add(m.Client(name="Added after a commit", slug="added-after-commit", tier="free",
                            contact_email="owner@added.example"))
    db.session.flush()
    savepoint = db.session.begin_nested()
    db.session.execute(sa.select(m.Ticket.id).limit(1)).all()
    savepoint.rollback()  # settings made inside a savepoint are undone with it
    db.session.add(m.Client(name="Added after a savepoint", slug="added-after-savepoint", tier="free",
                            contact_email="owner@savepoint.example"))
    db.session.commit()
    assert db.session.execute(sa.select(sa.func.count()).select_from(m.Client).where(
        m.Client.slug.in_(["added-after-commit", "added-after-savepoint"]))).scalar() == 2


@pytest.mark.postgres_only
def test_a_whole_table_far_beyond_the_limit_is_not_counted_for_staff(app, client):
    """Staff, no filter, statistics far above the limit: once a count has gone past the
    limit, "about N" from the statistics and no count statement; a filter is counted as
    before."""
    from app.tenancy import estimates
    from app.views import interface

    total = db.session.execute(sa.select(sa.func.count()).select_from(m.Ticket)).scalar()
    db.session.commit()
    owner = sa.create_engine(app.config["DATABASE_OWNER_URL"])
    with owner.connect() as connection:
        connection.execute(sa.text("ANALYZE tickets"))
        connection.commit()
    owner.dispose()
    estimates.forget()
    login(client, "admin")
    counts = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        if "count(" in statement.lower() and "tickets" in statement:
            counts.append(statement)

    app.config["LIST_EXACT_COUNT_LIMIT"] = 2  # the statistics' 32 tickets are over 10 x 2
    sa.event.listen(db.engine, "before_cursor_execute", seen)
    try:
        _record_count(client)  # the first request counts (stopped at the limit) and reads the statistics
        counted_first = len(counts)
        whole = _record_count(client)
        counted_whole = len(counts) - counted_first
        filtered = _record_count(client, "_flt_0_status=resolved")
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", seen)
        app.config.pop("LIST_EXACT_COUNT_LIMIT")
        estimates.forget()
    assert total > 20 and whole == f"about {int(interface.AboutCount.of(total, 3)):,}", (whole, total)
    assert counted_first == 1 and counted_whole == 0  # then no count at all for the whole table
    assert len(counts) >= 2 and filtered  # a filtered list is counted (stopped at the limit)


# The staff role (app.tenancy.database): staff transactions switch to it and carry no
# per-row check; everything else runs as the login role under the settings' policies.

def _plan_checks(sql: str) -> list:
    plan = db.session.execute(sa.text(f"EXPLAIN (VERBOSE, FORMAT JSON) {sql}")).scalar()
    return list(_per_row_checks(plan[0]["Plan"]))


@pytest.mark.postgres_only
def test_a_staff_transaction_runs_as_the_staff_role_and_reads_rows_unchecked(app):
    from app.tenancy import Scope, acting_as

    free = _client_id("free-co")
    db.session.commit()
    with acting_as(Scope(is_staff=True, user_id=None)):
        staff_user = db.session.execute(sa.text("SELECT current_user")).scalar()
        staff_checks = _plan_checks("SELECT id FROM tickets ORDER BY created_at DESC, id DESC LIMIT 25")
        staff_clients = set(db.session.execute(sa.select(m.Ticket.client_id).distinct()).scalars())
    db.session.commit()
    with acting_as(Scope(is_staff=False, client_id=free, user_id=None)):
        client_user = db.session.execute(sa.text("SELECT current_user")).scalar()
        client_checks = _plan_checks("SELECT id FROM tickets ORDER BY created_at DESC, id DESC LIMIT 25")
        client_clients = set(db.session.execute(sa.text("SELECT DISTINCT client_id FROM tickets")).scalars())
    db.session.commit()
    assert (staff_user, client_user) == ("atrium_staff", "atrium_app")
    assert staff_checks == [] and staff_clients == set(db.session.execute(sa.select(m.Client.id)).scalars())
    assert any("client_id" in condition for _, condition in client_checks) and client_clients == {free}


@pytest.mark.postgres_only
def test_a_transaction_that_turns_from_staff_to_a_client_leaves_the_staff_role(app):
    """Within one transaction, staff then client: the second scope's statement resets the
    role, so the client part sees only its own client (the ORM filter off: RLS alone)."""
    from app.tenancy import Scope, acting_as

    free = _client_id("free-co")
    db.session.commit()
    app.config["ATRIUM_TENANT_FILTER"] = False
    try:
        with acting_as(Scope(is_staff=True, user_id=None)):
            everyone = db.session.execute(sa.text("SELECT count(DISTINCT client_id) FROM tickets")).scalar()
        with acting_as(Scope(is_staff=False, client_id=free, user_id=None)):
            role = db.session.execute(sa.text("SELECT current_user")).scalar()
            seen = set(db.session.execute(sa.select(m.Ticket.client_id).distinct()).scalars())
    finally:
        app.config["ATRIUM_TENANT_FILTER"] = True
        db.session.rollback()
    assert everyone >= 4 and role == "atrium_app" and seen == {free}


@pytest.mark.postgres_only
def test_every_policy_that_admits_staff_has_a_twin_for_the_staff_role_and_no_other(app):
    db.session.commit()
    rows = db.session.execute(sa.text(
        "SELECT tablename, policyname, cmd, roles::text[] FROM pg_policies WHERE schemaname = current_schema()")).all()
    twins = {(t, name, cmd) for t, name, cmd, roles in rows if roles == ["atrium_staff"]}
    public = {(t, name, cmd) for t, name, cmd, roles in rows if roles == ["public"]}
    assert {(t, n.removesuffix("_staff_role"), c) for t, n, c in twins} <= public
    twinned = {(t, n.removesuffix("_staff_role")) for t, n, _ in twins}
    assert ("tickets", "atrium_tenant") in twinned and ("audit_events", "atrium_audit_read") in twinned
    assert ("email_outbox", "atrium_outbox_select") in twinned and ("job_runs", "atrium_tenant") in twinned
    # Pruning and redacting audit events need their own setting besides staff: no twin.
    assert not twinned & {("audit_events", "atrium_audit_prune"), ("audit_events", "atrium_audit_redact")}
    assert len(twins) >= 25


@pytest.mark.postgres_only
def test_the_staff_role_may_not_rewrite_the_audit_trail(app):
    from app.tenancy import Scope, acting_as

    db.session.commit()
    with acting_as(Scope(is_staff=True, user_id=None)), pytest.raises(sa.exc.ProgrammingError) as refused:
        db.session.execute(sa.text("UPDATE audit_events SET action = 'forged'"))
    db.session.rollback()
    assert "permission denied for table audit_events" in str(refused.value)


@pytest.mark.postgres_only
def test_a_login_role_that_inherits_the_staff_role_is_refused(app):
    """Inheriting the staff role would put its `true` policies on every transaction, a
    client's too: the connection is refused instead of serving it (fail closed)."""
    from sqlalchemy.engine import make_url

    from app.tenancy.database import StaffRoleInherited, watch_connections
    from tests.conftest import _pg_admin

    role = "atrium_inherits_staff"
    with _pg_admin() as admin:
        if admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
            admin.execute(f"CREATE ROLE {role} LOGIN INHERIT")
        admin.execute(f"GRANT atrium_staff TO {role}")
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).set(username=role)
    plain = sa.create_engine(url, poolclass=sa.pool.NullPool)
    watched = sa.create_engine(url, poolclass=sa.pool.NullPool)
    watch_connections(watched, "atrium_staff")
    try:
        with plain.connect() as connection:  # what it would have served, settings or none
            leaked = connection.execute(sa.text("SELECT count(DISTINCT client_id) FROM tickets")).scalar()
        with pytest.raises(StaffRoleInherited, match="NOINHERIT"):
            watched.connect()
    finally:
        plain.dispose()
        watched.dispose()
    assert leaked >= 4
