"""Tenant isolation below the doors: the ORM scope and, on PostgreSQL, row-level security.

Every tenant-owned model is checked, from the model registry (not a hand-written list):
a client user reads only their own client's rows, and cannot write another client's.
"""

import pytest
import sqlalchemy as sa
from flask import g

from app import models as m
from app.extensions import db
from app.tenancy import guard
from app.models.base import utcnow
from app.tenancy import Forbidden, NotFound

pytestmark = pytest.mark.both_backends

SCOPED = sorted(guard.SCOPED_MODELS, key=lambda model: model.__name__)


def _user(username):
    return db.session.execute(sa.select(m.User).filter_by(username=username)).scalar_one()


def _client_id(slug):
    return db.session.execute(sa.select(m.Client.id).filter_by(slug=slug)).scalar_one()


class acting_as:
    """A request context whose signed-in user is ``username`` (as Flask-Login would set)."""

    def __init__(self, app, username):
        self.app, self.username = app, username

    def __enter__(self):
        user = _user(self.username)
        db.session.commit()  # end the test's own (staff) transaction
        self.ctx = self.app.test_request_context()
        self.ctx.push()
        g.user = user
        return user

    def __exit__(self, *exc):
        db.session.rollback()
        self.ctx.pop()


def _seen_clients(model):
    column = model.id if model is m.Client else model.client_id
    return set(db.session.execute(sa.select(column).distinct()).scalars())


def test_every_tenant_model_is_scoped(app):
    assert {t.name for t in db.metadata.tables.values() if "client_id" in t.c} == {
        model.__tablename__ for model in (*guard.SCOPED_MODELS, *guard.STAFF_ONLY_MODELS)
        if "client_id" in model.__table__.c}


@pytest.mark.parametrize("model", SCOPED + [m.Client], ids=lambda model: model.__name__)
def test_client_user_reads_only_own_rows(app, model):
    free = _client_id("free-co")
    all_clients = _seen_clients(model)
    with acting_as(app, "free-co-owner"):
        seen = _seen_clients(model)
    assert seen <= {free}
    if free in all_clients:
        assert seen == {free}


def test_internal_notes_and_staff_tables_are_invisible_to_clients(app):
    assert db.session.execute(sa.select(sa.func.count()).select_from(m.TicketMessage)
                              .where(m.TicketMessage.internal.is_(True))).scalar_one() > 0
    with acting_as(app, "pro-co-owner"):
        internal = db.session.execute(sa.select(m.TicketMessage).where(m.TicketMessage.internal.is_(True))).all()
        billing = db.session.execute(sa.select(m.BillingEvent)).all()
        ticket = db.session.execute(sa.select(m.Ticket).limit(1)).scalar_one()
        thread = [msg.internal for msg in ticket.messages]  # relationship loads are scoped too
    assert internal == [] and billing == []
    assert thread and not any(thread)


def test_another_clients_row_by_id_is_not_found(app):
    other = db.session.execute(sa.select(m.Ticket.id).where(m.Ticket.client_id == _client_id("pro-co"))
                               .limit(1)).scalar_one()
    with acting_as(app, "free-co-owner"):
        assert db.session.get(m.Ticket, other) is None


def test_new_rows_are_forced_onto_the_users_client(app):
    free = _client_id("free-co")
    pro = _client_id("pro-co")
    with acting_as(app, "free-co-owner") as user:
        ticket = m.Ticket(subject="Forged", description="x", priority="low", status="open", client_id=None,
                          opened_by_id=user.id)
        db.session.add(ticket)
        db.session.commit()
        assert ticket.client_id == free
        db.session.add(m.Ticket(subject="Forged", description="x", priority="low", status="open",
                                client_id=pro, opened_by_id=user.id))
        with pytest.raises(NotFound):
            db.session.flush()


def test_reply_to_another_clients_ticket_is_refused(app):
    pro_ticket = db.session.execute(sa.select(m.Ticket.id).where(m.Ticket.client_id == _client_id("pro-co"))
                                    .limit(1)).scalar_one()
    with acting_as(app, "free-co-owner") as user:
        db.session.add(m.TicketMessage(ticket_id=pro_ticket, author_id=user.id, body="hi", internal=False))
        with pytest.raises(NotFound):
            db.session.flush()


def test_viewer_cannot_write(app):
    with acting_as(app, "free-co-viewer") as user:
        db.session.add(m.Ticket(subject="Nope", description="x", priority="low", status="open",
                                opened_by_id=user.id))
        with pytest.raises(Forbidden, match="read-only"):
            db.session.flush()


@pytest.fixture
def rls_only(app):
    """Row-level security alone: PostgreSQL's (SQLite relies on the view layer)."""
    app.config["ATRIUM_TENANT_FILTER"] = False
    yield app
    app.config["ATRIUM_TENANT_FILTER"] = True


@pytest.mark.postgres_only
@pytest.mark.parametrize("model", SCOPED + [m.Client], ids=lambda model: model.__name__)
def test_row_level_security_alone_hides_other_clients(rls_only, model):
    free = _client_id("free-co")
    with acting_as(rls_only, "free-co-owner"):
        seen = _seen_clients(model)
    assert seen <= {free}


@pytest.mark.postgres_only
def test_row_level_security_alone_refuses_writes_to_other_clients(rls_only):
    pro = _client_id("pro-co")
    pro_ticket = db.session.execute(sa.select(m.Ticket.id).where(m.Ticket.client_id == pro).limit(1)).scalar_one()
    with acting_as(rls_only, "free-co-owner"):
        # Bulk statements skip the ORM's write guard: the database alone decides.
        changed = db.session.execute(sa.update(m.Ticket).where(m.Ticket.id == pro_ticket)
                                     .values(subject="hijacked")).rowcount
        deleted = db.session.execute(sa.delete(m.TicketMessage).where(m.TicketMessage.client_id == pro)).rowcount
        db.session.commit()
        with pytest.raises(sa.exc.ProgrammingError, match="row-level security"):
            db.session.execute(sa.insert(m.Project).values(client_id=pro, name="Planted", status="discovery",
                                                           completion_percent=0))
    assert (changed, deleted) == (0, 0)
    assert db.session.get(m.Ticket, pro_ticket).subject != "hijacked"


def test_aggregates_that_name_no_entity_are_scoped_too(app):
    open_statuses = ["open", "in_progress", "waiting_client"]
    pro = _client_id("pro-co")
    expected = db.session.execute(sa.select(sa.func.count()).select_from(m.Ticket).where(
        m.Ticket.client_id == pro, m.Ticket.status.in_(open_statuses))).scalar_one()
    everyone = db.session.execute(sa.select(sa.func.count().filter(m.Ticket.status.in_(open_statuses)))).scalar_one()
    with acting_as(app, "pro-co-owner"):
        seen = db.session.execute(sa.select(sa.func.count().filter(m.Ticket.status.in_(open_statuses)))).scalar_one()
    assert everyone > expected and seen == expected


def test_grandchildren_take_their_client_from_unsaved_parents(app):
    pro = _client_id("pro-co")
    project = m.Project(client_id=pro, name="Fresh", status="discovery", completion_percent=0)
    monitor = m.Monitor(project=project, url="https://fresh.example/health")
    check = m.MonitorCheck(monitor=monitor, checked_at=utcnow(), ok=True, status_code=200, latency_ms=90)
    db.session.add_all([project, monitor, check])
    db.session.commit()
    assert (monitor.client_id, check.client_id) == (pro, pro)


def test_client_users_may_change_only_contact_data_of_projects_and_domains(app):
    """The write guard's field allowlist (``tenancy.CLIENT_EDITABLE_FIELDS``), whatever the door."""
    free = _client_id("free-co")
    project_id = db.session.execute(sa.select(m.Project.id).where(m.Project.client_id == free)).scalars().first()
    domain_id = db.session.execute(sa.select(m.Domain.id).where(m.Domain.client_id == free)).scalars().first()
    budget = db.session.get(m.Project, project_id).budget_total
    with acting_as(app, "free-co-owner") as owner:
        project = db.session.get(m.Project, project_id)
        project.contact_phone = "+55 11 90000-0000"
        db.session.commit()  # contact data: allowed
        for change in (lambda p: setattr(p, "budget_total", 1), lambda p: setattr(p, "status", "discovery"),
                       lambda p: setattr(p, "manager", owner), lambda p: p.team.append(owner)):
            change(db.session.get(m.Project, project_id))
            with pytest.raises(Forbidden, match="only the contact details of projects"):
                db.session.flush()
            db.session.rollback()
        domain = db.session.get(m.Domain, domain_id)
        domain.auto_renew = not domain.auto_renew
        domain.contact_name = "Someone"
        with pytest.raises(Forbidden, match=r"\(not: auto renew\)"):
            db.session.flush()
    db.session.expire_all()
    project = db.session.get(m.Project, project_id)
    assert project.contact_phone == "+55 11 90000-0000" and project.budget_total == budget
