"""A bare Flask-AppBuilder 5 app: one ``ModelView`` over Atrium's ``tickets`` table.

Benchmark peer of Atrium's staff ticket list (bench/peers/README.md). Everything is
Flask-AppBuilder's default except what the comparison needs:

- the database is ``PEER_DATABASE_URL`` (an Atrium database, already migrated and
  seeded); the peer creates and alters nothing: ``FAB_CREATE_DB = False`` (no
  ``create_all``, no Admin/Public role rows), ``FAB_UPDATE_PERMS = False`` (no permission
  rows). FAB's security tables (``ab_*``) are Atrium's, so FAB's ``AUTH_DB`` login works
  with Atrium's users (werkzeug hashes, as FAB makes them).
- the view reuses the permissions Atrium already grants (``can_read`` on ``Ticket``,
  held by the Admin role), through FAB's own ``class_permission_name`` /
  ``method_permission_name``, so FAB's per-request permission check runs as it would in
  any FAB app, against rows that already exist.
- ``PEER_SQL_COUNT_HEADER=1`` adds ``X-SQL-Statements`` (statements the request ran) and
  ``X-Request-Duration-Ms``; ``PEER_SQL_LOG=1`` logs each statement to stderr;
  ``PEER_FAB_JOINED=1`` eager-joins client and assignee: measuring aids, off by default.

Serve: ``gunicorn -w 2 bench.peers.fab_bare.app:app`` from the repository root.
"""

from __future__ import annotations

import logging
import os
import sys
import time

import sqlalchemy as sa
from flask import Flask, g, request
from flask_appbuilder import AppBuilder, ModelView
from flask_appbuilder.models.sqla import Model
from flask_appbuilder.models.sqla.base import SQLA
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.sqla.models import User
from sqlalchemy.orm import relationship


def database_url() -> str:
    url = os.environ.get("PEER_DATABASE_URL")
    if not url:
        raise RuntimeError("PEER_DATABASE_URL is not set (postgresql://user@host:port/atrium_db)")
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]  # psycopg 3, as Atrium uses
    return url


class Config:
    SQLALCHEMY_DATABASE_URI = database_url()
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    SECRET_KEY = os.environ.get("PEER_SECRET_KEY", "fab-bare-peer-secret-not-for-production")
    APP_NAME = "FAB bare peer"
    AUTH_TYPE = 1  # flask_appbuilder.const.AUTH_DB: username and password, checked in ab_user
    AUTH_ROLE_ADMIN = "Admin"
    FAB_CREATE_DB = False  # never create_all / add roles in Atrium's database
    FAB_UPDATE_PERMS = False  # never add permission rows: the view uses Atrium's ("Ticket")
    FAB_ADD_SECURITY_API = False
    WTF_CSRF_ENABLED = True  # FAB's forms (login included) are Flask-WTF forms with a token
    DEBUG = False


db = SQLA(model_class=Model)


# ---------------------------------------------------------------- models (existing tables)
# Only the columns the list needs; types as in app/models (enums stored as text, times as
# timestamptz). The tables exist: nothing here is ever created (FAB_CREATE_DB = False).

def _text_enum(*values: str, name: str) -> sa.Enum:
    """Atrium's enum columns: text (varchar 16) holding one of these values, no native
    PostgreSQL enum (app/models/base.py ``enum_column``)."""
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=False, length=16)


_LAZY = "joined" if os.environ.get("PEER_FAB_JOINED") == "1" else "select"


class Client(Model):
    __tablename__ = "clients"
    id = sa.Column(sa.Integer, primary_key=True)
    name = sa.Column(sa.String(200), nullable=False)

    def __str__(self) -> str:
        return self.name


class Ticket(Model):
    __tablename__ = "tickets"
    id = sa.Column(sa.Integer, primary_key=True)
    client_id = sa.Column(sa.Integer, sa.ForeignKey("clients.id"), nullable=False)
    subject = sa.Column(sa.String(200), nullable=False)
    priority = sa.Column(_text_enum("low", "medium", "high", "urgent", name="priority"), nullable=False)
    status = sa.Column(_text_enum("open", "in_progress", "waiting_client", "resolved", "closed",
                                  name="status"), nullable=False)
    sla_state = sa.Column(_text_enum("ok", "at_risk", "breached", name="sla_state"), nullable=False)
    first_response_due_at = sa.Column(sa.DateTime(timezone=True), nullable=True)
    assignee_id = sa.Column(sa.Integer, sa.ForeignKey("ab_user.id"), nullable=True)
    created_at = sa.Column(sa.DateTime(timezone=True), nullable=False)

    # FAB's default: lazy="select" relationships. FAB's ModelView list does not join the
    # dotted columns (only its REST API does), so each page loads each distinct client and
    # assignee once (the session's identity map). PEER_FAB_JOINED=1 declares them
    # lazy="joined", as Atrium's models do: a measuring aid, off by default.
    client = relationship(Client, lazy=_LAZY)
    assignee = relationship(User, foreign_keys=[assignee_id], lazy=_LAZY)

    def __str__(self) -> str:
        return f"#{self.id} {self.subject}"


# ---------------------------------------------------------------- the view

READ = ("list", "show", "api_read", "api_get", "download")
WRITE = ("add", "edit", "delete", "action", "action_post", "api_create", "api_update", "api_delete")


class TicketView(ModelView):
    datamodel = SQLAInterface(Ticket)
    # Atrium's permission names (already granted to Admin): can_read / can_write on Ticket.
    class_permission_name = "Ticket"
    method_permission_name = {**{m: "read" for m in READ}, **{m: "write" for m in WRITE}}
    base_permissions = ["can_read"]
    list_title = "Support tickets"
    list_columns = ["id", "client.name", "subject", "priority", "status", "sla_state",
                    "first_response_due_at", "assignee.username", "created_at"]
    search_columns = ["id", "subject", "priority", "status", "sla_state", "created_at",
                      "first_response_due_at"]
    show_columns = list_columns
    base_order = ("created_at", "desc")
    page_size = 25
    label_columns = {"client.name": "Client", "assignee.username": "Assignee", "sla_state": "SLA",
                     "first_response_due_at": "First response due", "id": "#"}


# ---------------------------------------------------------------- measuring aids

def _install_sql_counter(app: Flask) -> None:
    count_header = os.environ.get("PEER_SQL_COUNT_HEADER") == "1"
    log_sql = os.environ.get("PEER_SQL_LOG") == "1"
    if not (count_header or log_sql):
        return
    with app.app_context():
        engine = db.engine
    state = {"n": 0}
    logger = logging.getLogger("fab_bare.sql")
    if log_sql:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[fab_bare sql] %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _count(conn, cursor, statement, parameters, context, executemany):
        state["n"] += 1
        if log_sql:
            logger.info("%s %s | %s", request.path if request else "-", " ".join(statement.split()),
                        parameters)

    @app.before_request
    def _reset():
        state["n"] = 0
        g.peer_started = time.perf_counter()

    @app.after_request
    def _header(response):
        if count_header:
            response.headers["X-SQL-Statements"] = str(state["n"])
            started = getattr(g, "peer_started", None)
            if started is not None:
                response.headers["X-Request-Duration-Ms"] = f"{(time.perf_counter() - started) * 1000:.2f}"
        return response


def create_app() -> Flask:
    app = Flask(__name__)
    app.config.from_object(Config)
    db.init_app(app)
    with app.app_context():
        appbuilder = AppBuilder()
        appbuilder.init_app(app, db.session)
        appbuilder.add_view(TicketView, "Tickets", icon="fa-ticket", category="Support")

    @app.route("/health")
    def health():
        return "ok"

    _install_sql_counter(app)
    return app


app = create_app()
