"""The harness's promise to every test (``tests/conftest.py``): the shared app's database
holds the seeded template's rows and schema when a test starts, whatever the test before
it wrote, added or altered. On PostgreSQL the database is put back in place
(``PgWorkingDatabase``), so what that puts back is checked here: rows, sequences (the
next id a form gets), and a schema change (which must bring a new copy)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app import models as m
from app.extensions import db
from tests.conftest import pg_owner_url

pytestmark = pytest.mark.postgres_only


def _state():
    clients = db.session.scalars(sa.select(m.Client.name).order_by(m.Client.id)).all()
    events = db.session.execute(sa.text("SELECT count(*) FROM audit_events")).scalar()
    return clients, events


def _next_client_id(app) -> int:
    client = m.Client(name="Harness Probe Ltd", slug="harness-probe", tier="free", contact_email="probe@harness.example")
    db.session.add(client)
    db.session.commit()
    return client.id


def test_the_next_test_gets_the_seeded_rows_and_ids_back(app, backend):
    seeded = _state()
    first_id = _next_client_id(app)
    db.session.execute(sa.delete(m.Ticket))
    db.session.commit()
    assert _state() != seeded

    db.session.remove()
    again = backend.shared_app()  # what the next test of this process gets
    assert again is app
    assert _state() == seeded
    assert db.session.scalar(sa.select(sa.func.count()).select_from(m.Ticket)) > 0
    assert _next_client_id(app) == first_id  # the sequences are back too


def test_a_schema_change_does_not_reach_the_next_test(app, backend):
    owner = sa.create_engine(pg_owner_url(app.config["SQLALCHEMY_DATABASE_URI"]))
    with owner.begin() as conn:
        conn.execute(sa.text("ALTER TABLE clients ADD COLUMN harness_probe integer"))
    owner.dispose()
    db.session.remove()

    backend.shared_app()
    columns = {c["name"] for c in sa.inspect(db.engine).get_columns("clients")}
    assert "harness_probe" not in columns
    seeded_clients, _ = _state()
    assert seeded_clients  # a fresh copy of the seeded template
