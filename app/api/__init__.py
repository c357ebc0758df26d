"""REST APIs under ``/api/v1`` (Flask-AppBuilder ``ModelRestApi``).

Each API's resource is its staff view's resource plus ``Api`` (``roles.api_resource``):
staff hold both alike, client users hold only the API grants of ``roles.CLIENT_API``, and
the tenancy of ``app.tenancy.guard`` limits them to their own client's rows. Validation uses the same ``services.validation`` rules as the
forms; database conflicts and domain errors come back as 4xx JSON, never a 500.

Types are checked before the database sees a value (an enumeration is a string, numbers
fit their column), a write's body is a JSON object, and rison ``q`` is bounded
(``check_rison_argument``); text no field may hold is refused earlier, at the door
(``app.views.input_guard``). A client user's new ticket obeys the portal's rule
(``services.tickets.open_for_client``).
"""

from __future__ import annotations

import functools
import json
import logging

import prison
import sqlalchemy as sa
from flask import current_app, g, request
from flask_appbuilder.api import ModelRestApi, expose, protect, safe
from flask_appbuilder.api.convert import Model2SchemaConverter
from flask_babel import gettext as _
from marshmallow import ValidationError, validate
from marshmallow import fields as ma_fields
from marshmallow_sqlalchemy import SQLAlchemyAutoSchema
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from app import models as m
from app.errors import AtriumError
from app.extensions import db
from app.models.base import integer_range, number_bounds
from app.security import limits
from app.services import tickets, validation
from app import tenancy
from app.roles import api_resource
from app.views.interface import AtriumInterface

log = logging.getLogger(__name__)

API_METHOD_PERMISSIONS = {
    "get": "read", "get_list": "read", "info": "read",
    "post": "write", "put": "write", "delete": "write",
}


def mm_validator(rule):
    """A marshmallow validator calling a ``services.validation`` rule (``validation.checker``)."""
    return validation.checker(rule, ValidationError)


class ForeignKeySchemaConverter(Model2SchemaConverter):
    """FAB's converter, with foreign-key columns (``client_id``…) allowed as plain fields
    and integers bounded by their column (``models.base.integer_range``)."""

    def _column2field(self, datamodel, column, nested=True, parent_schema_name=None):
        # SQL-computed values (``column_property`` over an expression, e.g. a campaign's
        # spent total) are read-only decimals.
        attr = getattr(datamodel.obj, column.name, None)
        prop = getattr(attr, "property", None)
        if prop is not None and hasattr(prop, "expression") and not isinstance(prop.expression, sa.Column):
            return ma_fields.Decimal(dump_only=True, as_string=True)
        field = super()._column2field(datamodel, column, nested, parent_schema_name)
        column_type = datamodel.list_columns[column.name].type
        if isinstance(column_type, sa.Enum) and type(field) is ma_fields.Raw:
            # An enumeration is text: a number, a boolean or a list is "Not a valid string."
            # (marshmallow-sqlalchemy's Raw let it reach the Length validator: a 500).
            field = ma_fields.String(required=field.required, allow_none=field.allow_none,
                                     validate=list(field.validators), metadata=field.metadata,
                                     dump_only=field.dump_only, load_only=field.load_only)
        allowed = integer_range(column_type) if isinstance(field, ma_fields.Integer) else None
        if allowed is not None:  # too large for its column: a 422 naming the field, not an overflow
            field.validators.append(validate.Range(min=allowed.start, max=allowed.stop - 1))
        bounds = number_bounds(column_type) if isinstance(field, (ma_fields.Decimal, ma_fields.Float)) else None
        if bounds is not None:  # finite (marshmallow's default) and within the column's digits
            field.validators.append(mm_validator(functools.partial(
                validation.bounded_number, minimum=bounds[0], maximum=bounds[1], field=column.name)))
        return field

    def _meta_schema_factory(self, columns, model, class_mixin, parent_schema_name=None):
        meta = {"model": model, "load_instance": True, "include_fk": True,
                "sqla_session": current_app.appbuilder.session, "parent_schema_name": parent_schema_name}
        if columns:
            meta["fields"] = columns
        return type("MetaSchema", (SQLAlchemyAutoSchema, class_mixin), {"Meta": type("Meta", (), meta)})


MAX_RISON_DEPTH = 10  # FAB's own arguments nest 4 deep: (filters:!((col:…,value:…)))


def rison_depth(text: str) -> int:
    """How deep the brackets of a rison text nest (quoted strings skipped), counted
    without parsing: the parser recurses once per level."""
    depth = deepest = 0
    quoted = escaped = False
    for ch in text:
        if quoted:
            if escaped:
                escaped = False
            elif ch == "!":
                escaped = True
            elif ch == "'":
                quoted = False
        elif ch == "'":
            quoted = True
        elif ch == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif ch == ")":
            depth -= 1
    return deepest


def check_rison_argument():
    """The ``q`` argument of every API request, before FAB parses it: nested at most
    ``MAX_RISON_DEPTH`` levels, and readable (the parser's recursion on unbalanced or
    deep input would otherwise be a 500). Text FAB can read either as rison or as JSON
    is left to FAB's own parsing (a 400 of its own when neither)."""
    value = request.args.get("q")
    if not value:
        return None
    if rison_depth(value) > MAX_RISON_DEPTH:
        return current_app.response_class(
            json.dumps({"message": _("q is nested too deeply (at most %(most)d levels).", most=MAX_RISON_DEPTH)}),
            status=400,
            mimetype="application/json")
    try:
        prison.loads(value)
    except prison.decoder.ParserException:
        return None
    except (RecursionError, Exception):  # noqa: BLE001 - unreadable in any way: the person's input
        return current_app.response_class(json.dumps({"message": _("q is not a valid rison argument.")}),
                                          status=400, mimetype="application/json")
    return None


class AtriumModelApi(ModelRestApi):
    method_permission_name = API_METHOD_PERMISSIONS
    model2schemaconverter = ForeignKeySchemaConverter
    allow_browser_login = False  # JWT only: a session cookie cannot drive the API (CSRF)
    page_size = 25
    max_page_size = 100
    MAX_PAGE_INDEX = 2**31  # beyond any table: an empty page, never an OFFSET overflow

    def _sanitize_page_args(self, page, page_size):
        """Page indexes outside 0..``MAX_PAGE_INDEX`` (rison ``page``) are brought into it:
        a negative page is the first, a huge one is past the end (an empty list)."""
        if isinstance(page, int):
            page = min(max(page, 0), self.MAX_PAGE_INDEX)
        return super()._sanitize_page_args(page, page_size)

    def _write(self, handler, *args):
        try:
            return handler(*args)
        except AtriumError as exc:
            db.session.rollback()
            return self.response(exc.status, message=exc.message)
        except IntegrityError as exc:
            db.session.rollback()
            log.info("API write refused by a constraint: %s", exc.orig)
            return self.response_422(message=_constraint_message(exc))
        except SQLAlchemyError:
            db.session.rollback()
            log.exception("API write failed")
            return self.response_422(message=_("The change could not be saved."))

    # Fields never sent to client users (the agency's own data about the row).
    staff_only_columns: tuple = ()

    def create_blueprint(self, appbuilder, *args, **kwargs):
        blueprint = super().create_blueprint(appbuilder, *args, **kwargs)
        blueprint.before_request(check_rison_argument)
        return blueprint

    def _body_is_an_object(self):
        """A write's body is a JSON object of fields (a list, a string or a number is not
        a record): 400 before the schema sees it."""
        if request.is_json and not isinstance(request.get_json(silent=True), dict):
            return self.response_400(message=_('The body must be a JSON object of fields, e.g. {"subject": "…"}.'))
        return None

    def post_headless(self):
        return self._body_is_an_object() or self._write(super().post_headless)

    def put_headless(self, pk):
        if tenancy.current_scope().is_client:
            return self.response(403, message=_("Client users change tickets in the portal (reply, close)."))
        return self._body_is_an_object() or self._write(super().put_headless, pk)

    def delete_headless(self, pk):
        if tenancy.current_scope().is_client:
            return self.response(403, message=_("Client users cannot delete records through the API."))
        return self._write(super().delete_headless, pk)

    def pre_add(self, item):
        scope = tenancy.current_scope()
        if scope.is_client:
            item.client_id = scope.client_id  # forced from the session, never taken from the body

    def _strip_staff_only(self, row: dict) -> None:
        for column in self.staff_only_columns:
            row.pop(column, None)

    def pre_get(self, data):
        if self.staff_only_columns and tenancy.current_scope().is_client:
            self._strip_staff_only(data.get("result", {}))

    def pre_get_list(self, data):
        if self.staff_only_columns and tenancy.current_scope().is_client:
            for row in data.get("result", []):
                self._strip_staff_only(row)


def _constraint_message(exc: IntegrityError) -> str:
    text = str(exc.orig).lower()
    if "unique" in text or "duplicate" in text:
        return _("A record with the same unique value already exists.")
    if "foreign key" in text:
        return _("A referenced record does not exist, or other records still depend on this one.")
    if "check" in text:
        return _("A value is outside its allowed range.")
    if "not null" in text or "null value" in text:
        return _("A required field is missing.")
    return _("The change conflicts with existing data.")


MONEY = mm_validator(validation.money)
PERCENT = mm_validator(validation.percent)
CONTACT = list(validation.CONTACT_RULES)  # contact data of projects and domains (ContactMixin)
CONTACT_VALIDATORS = {name: mm_validator(rule) for name, rule in validation.CONTACT_RULES.items()}


class ClientApi(AtriumModelApi):
    resource_name = "client"
    class_permission_name = api_resource("Client")
    datamodel = AtriumInterface(m.Client)
    list_columns = ["id", "name", "slug", "tier", "status", "contact_email", "created_at"]
    show_columns = ["id", "name", "slug", "tier", "status", "contact_email", "timezone", "created_at",
                    "updated_at"]
    add_columns = edit_columns = ["name", "slug", "tier", "status", "contact_email", "timezone"]
    order_columns = ["name", "created_at", "tier"]
    search_columns = ["name", "slug", "tier", "status"]


class ProjectApi(AtriumModelApi):
    resource_name = "project"
    class_permission_name = api_resource("Project")
    datamodel = AtriumInterface(m.Project)
    list_columns = ["id", "client_id", "name", "status", "completion_percent", "start_date",
                    "estimated_delivery", "budget_total", "budget_used"]
    show_columns = list_columns + ["description", "actual_delivery", "site_url", "manager_id", *CONTACT]
    add_columns = ["client_id", "name", "description", "status", "completion_percent", "start_date",
                   "estimated_delivery", "actual_delivery", "budget_total", "budget_used", "site_url", *CONTACT]
    edit_columns = [c for c in add_columns if c != "client_id"]
    validators_columns = {"completion_percent": PERCENT, "budget_total": MONEY, "budget_used": MONEY,
                          **CONTACT_VALIDATORS}
    order_columns = ["name", "status", "estimated_delivery", "created_at"]
    search_columns = ["client_id", "name", "status"]


class DomainApi(AtriumModelApi):
    resource_name = "domain"
    class_permission_name = api_resource("Domain")
    datamodel = AtriumInterface(m.Domain)
    list_columns = ["id", "client_id", "project_id", "name", "status", "ssl_status", "ssl_expires_at",
                    "renewal_date", "auto_renew"]
    show_columns = list_columns + ["nameservers", "dns_records", "ssl_issuer", "registrar", "registered_on",
                                   *CONTACT]
    add_columns = ["client_id", "project_id", "name", "status", "nameservers", "dns_records", "registrar",
                   "registered_on", "renewal_date", "auto_renew", *CONTACT]
    edit_columns = [c for c in add_columns if c != "client_id"]
    validators_columns = {"name": mm_validator(validation.domain_name),
                          "dns_records": mm_validator(validation.dns_records),
                          "nameservers": mm_validator(validation.nameservers), **CONTACT_VALIDATORS}
    order_columns = ["name", "ssl_expires_at", "renewal_date"]
    search_columns = ["client_id", "name", "status", "ssl_status"]


class TicketApi(AtriumModelApi):
    resource_name = "ticket"
    class_permission_name = api_resource("Ticket")
    datamodel = AtriumInterface(m.Ticket)
    list_columns = ["id", "client_id", "project_id", "subject", "priority", "status", "sla_state",
                    "first_response_due_at", "assignee_id", "created_at"]
    show_columns = list_columns + ["description", "sla_hours", "first_response_at", "resolved_at"]
    add_columns = ["client_id", "project_id", "subject", "description", "priority", "status"]
    edit_columns = ["project_id", "subject", "description", "priority", "status", "assignee_id"]
    order_columns = ["created_at", "priority", "status", "first_response_due_at"]
    search_columns = ["client_id", "status", "priority", "sla_state", "subject"]
    base_order = ("created_at", "desc")
    staff_only_columns = ("assignee_id",)
    method_permission_name = {**API_METHOD_PERMISSIONS, "reply": "write", "move": "write"}

    @expose("/<int:pk>/replies", methods=["POST"])
    @protect()
    @safe
    def reply(self, pk):
        """Add a reply to ticket ``pk``: ``{"body": "...", "internal": false}``. The author
        is the signed-in person (the token's user), never a field; the first public staff
        reply sets the ticket's first response (``services.lifecycle``). Client users
        reply on their own tickets, never internally; their reply to a resolved ticket
        reopens it, or opens a follow-up after ``TICKET_REOPEN_DAYS`` (``ticket_id`` in
        the answer says where it landed)."""
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return self.response_400(message=_('The body must be a JSON object, e.g. {"body": "…"}.'))
        unknown = sorted(set(body) - {"body", "internal"})
        if unknown:
            return self.response_400(message=_("Unknown field(s): %(fields)s. A reply has body and internal.",
                                               fields=", ".join(unknown)))
        internal = body.get("internal", False)
        if not isinstance(internal, bool) or not isinstance(body.get("body", ""), str):
            return self.response_400(message=_("body is text and internal is true or false."))
        ticket = self.datamodel.get(pk)
        if ticket is None:
            return self.response_404()
        if tenancy.current_scope().is_client:
            internal = False

        def add():
            message, landed = tickets.reply(db.session, ticket, g.user, body.get("body", ""), internal=internal)
            db.session.commit()
            return self.response(201, id=message.id, author_id=message.author_id, internal=message.internal,
                                 ticket_id=landed.id, ticket_status=landed.status,
                                 first_response_at=landed.first_response_at.isoformat()
                                 if landed.first_response_at else None)

        return self._write(add)

    @expose("/<int:pk>/moves", methods=["POST"])
    @protect()
    @safe
    def move(self, pk):
        """Move ticket ``pk``: ``{"move": "wait" | "resolve" | "close" | "reopen" | "start"}``
        (staff; the same call as the ticket page's buttons, ``services.tickets.move``). A
        move its status does not allow is a 422 naming ``move``."""
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or set(body) != {"move"} or not isinstance(body["move"], str):
            return self.response_400(message=_('The body must be {"move": "…"}, one of: %(moves)s',
                                               moves=", ".join(tickets.MOVES)))
        if tenancy.current_scope().is_client:
            return self.response(403, message=_("Client users change tickets in the portal (reply, close)."))
        ticket = self.datamodel.get(pk)
        if ticket is None:
            return self.response_404()

        def change():
            tickets.move(ticket, body["move"])
            db.session.commit()
            return self.response(200, id=ticket.id, status=ticket.status, sla_state=ticket.sla_state,
                                 resolved_at=ticket.resolved_at.isoformat() if ticket.resolved_at else None,
                                 first_response_due_at=ticket.first_response_due_at.isoformat()
                                 if ticket.first_response_due_at else None)

        return self._write(change)

    def pre_add(self, item):
        """A client user's new ticket follows the portal's rule (``tickets.open_for_client``):
        opened by them, status ``open``; another status is a 422 naming ``status``."""
        super().pre_add(item)
        if tenancy.current_scope().is_client:
            tickets.open_for_client(item, g.user)


class CampaignApi(AtriumModelApi):
    resource_name = "campaign"
    class_permission_name = api_resource("Campaign")
    datamodel = AtriumInterface(m.Campaign)
    list_columns = ["id", "client_id", "project_id", "name", "platform", "external_id", "status",
                    "budget_total", "budget_daily", "spent_total", "start_date", "end_date", "last_synced_at"]
    show_columns = list_columns
    add_columns = ["client_id", "project_id", "name", "platform", "external_id", "status", "budget_total",
                   "budget_daily", "start_date", "end_date"]
    edit_columns = ["project_id", "name", "status", "budget_total", "budget_daily", "start_date", "end_date"]
    validators_columns = {"budget_total": MONEY, "budget_daily": MONEY}
    order_columns = ["name", "platform", "status", "start_date"]
    search_columns = ["client_id", "platform", "status", "name"]


class IncidentApi(AtriumModelApi):
    resource_name = "incident"
    class_permission_name = api_resource("Incident")
    datamodel = AtriumInterface(m.Incident)
    list_columns = ["id", "client_id", "project_id", "title", "severity", "status", "started_at",
                    "resolved_at", "downtime_minutes", "source"]
    show_columns = list_columns + ["description", "affected_users", "root_cause", "resolution_notes"]
    add_columns = ["project_id", "title", "description", "severity", "status", "started_at", "resolved_at",
                   "affected_users", "root_cause", "resolution_notes"]
    edit_columns = [c for c in add_columns if c != "project_id"]
    order_columns = ["started_at", "severity", "status"]
    search_columns = ["client_id", "project_id", "status", "severity"]
    base_order = ("started_at", "desc")


class MonitorApi(AtriumModelApi):
    resource_name = "monitor"
    class_permission_name = api_resource("Monitor")
    datamodel = AtriumInterface(m.Monitor)
    list_columns = ["id", "client_id", "project_id", "url", "method", "expected_status", "interval_seconds",
                    "enabled", "state", "last_checked_at"]
    show_columns = list_columns + ["keyword", "timeout_seconds", "consecutive_failures", "consecutive_successes"]
    add_columns = ["project_id", "url", "method", "expected_status", "keyword", "timeout_seconds",
                   "interval_seconds", "enabled"]
    edit_columns = [c for c in add_columns if c != "project_id"]
    order_columns = ["url", "state", "last_checked_at"]
    search_columns = ["client_id", "project_id", "state", "enabled"]


APIS = (ClientApi, ProjectApi, DomainApi, TicketApi, CampaignApi, IncidentApi, MonitorApi)


def register(appbuilder) -> None:
    for api in APIS:
        appbuilder.add_api(api)
    limits.limit_apis(appbuilder)  # per-user budget of the plan (SPEC §2) on every API
