"""The base class every Atrium model view derives from (``AtriumModelView``).

- Permissions: each view names its resource (``class_permission_name``) and maps every
  method to ``read`` or ``write`` (``METHOD_PERMISSIONS``), so ``app.roles``
  governs views and APIs alike.
- Saving: a refused save (a rule below the doors, a plan limit, a constraint) is a
  message on the form, on the field it names, the typed values kept (422); a save lands
  on the saved record's page.
- Export: every row of the list's search and ordering as CSV, streamed and audited.
- Pickers: an add/edit form's relation to a growing table is a searched picker
  (``app.views.relation_picker``, served by ``AtriumModelView.picker``).

Its parts, by job: ``app.views.forms`` (validators and fields), ``app.views.interface``
(the data interface: typed filters, light list rows), ``app.views.widgets`` (list and
search widgets).
"""

from __future__ import annotations

import datetime as dt
import logging
import re

import sqlalchemy as sa
from flask import (
    Response,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    request,
    stream_with_context,
    url_for,
)
from flask_appbuilder import ModelView, expose, has_access
from flask_babel import gettext as _
from flask_babel.speaklater import LazyString
from flask_appbuilder.exceptions import DatabaseException
from flask_appbuilder.urltools import get_filter_args, get_order_args, get_page_args, get_page_size_args
from markupsafe import Markup
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from app.errors import AtriumError
from app.i18n import N_
from app.extensions import db
from app.models.base import UTCDateTime
from app.services import exports, tiers
from app import tenancy
from app.views import relation_picker
from app.views.audit_words import record_type_words
from app.views.labels import column_label
from app.views.forms import (
    LiteralErrorsForm,
    bound_numbers,
    enum_words,
    format_date,
    format_time,
    generated_fields,
    literal_message,
    unique_together_validators,
)
from app.views.interface import LIST_COLUMNS, list_load_options
from app.views.widgets import DROPDOWN_LOOKUPS, AtriumListWidget, AtriumSearchWidget, id_search_fields

log = logging.getLogger(__name__)

READ_METHODS = ("list", "show", "download", "export", "api", "api_read", "api_get", "api_readvalues")
WRITE_METHODS = ("add", "edit", "delete", "action", "action_post", "api_create", "api_update",
                 "api_delete", "api_column_add", "api_column_edit")
METHOD_PERMISSIONS = {**{m: "read" for m in READ_METHODS}, **{m: "write" for m in WRITE_METHODS}}


def _export_value(value, formatter):
    """A list cell's value for an export: the list's own formatter when it gives plain
    text (a size in words, overrides in words); the raw value for times (exported as
    ISO 8601), where the list shows markup (a link or a button), and where the words are
    only for the screen (``display_only``: an enum's label, ✓/✗, grouped numbers)."""
    if formatter is None or isinstance(value, (dt.date, dt.datetime)) or getattr(formatter, "display_only", False):
        return value
    shown = formatter(value)
    return value if isinstance(shown, Markup) else shown


def _reattach_request_users(session) -> None:
    """Put the request's signed-in user rows back into ``session``. A streamed response
    (a CSV export) produces its rows after the view returned, when the app context's
    teardown has removed the session the user was loaded in: the user object is then
    detached, and reading its roles or id (the tenant scope, a cell formatter's
    permission check) raised ``DetachedInstanceError`` unless something (an INFO log
    line) had loaded them before. The rows are re-attached, as a new request would load
    them again."""
    for name in ("_login_user", "user"):
        obj = g.get(name)
        obj = getattr(obj, "_get_current_object", lambda: obj)()
        state = sa.inspect(obj, raiseerr=False) if obj is not None else None
        if state is not None and state.detached and state.key is not None:
            if state.key in session.identity_map:
                continue
            session.add(obj)


def _integrity_refusal(exc, form, labels) -> tuple[str | None, str]:
    """An integrity error as ``(field, message)`` for a person: the constraint's column
    (when the database names it and the form has it) and what to change. Never the
    database's own text."""
    text = str(getattr(exc, "orig", exc))
    lowered = text.lower()
    field = None
    constraint = getattr(getattr(getattr(exc, "orig", None), "diag", None), "constraint_name", None)
    if constraint:  # PostgreSQL names the constraint: its columns from the models' metadata

        for table in db.metadata.tables.values():
            for item in table.constraints:
                if item.name == constraint:
                    field = next((c.name for c in item.columns if c.name in form._fields
                                  and c.name != "client_id"), None) or next(
                        (c.name.removesuffix("_id") for c in item.columns
                         if c.name.removesuffix("_id") in form._fields), None)
    for name in sorted(form._fields, key=len, reverse=True) if field is None else ():
        if name != "csrf_token" and re.search(rf"(\b|_){re.escape(name)}\b", text):
            field = name
            break
    label = str(labels.get(field) or column_label(field)) if field else None
    if "unique" in lowered or "duplicate" in lowered:
        message = _("%(label)s: another record already has this value.", label=label) if label else \
            _("Another record already has the same values; change one of them.")
    elif "foreign key" in lowered:
        message = _("%(label)s: the chosen record does not exist any more.", label=label) if label else \
            _("A chosen record does not exist any more, or other records still depend on this one.")
    elif "not null" in lowered or "null value" in lowered:
        message = _("%(label)s: this field is required.", label=label) if label else \
            _("A required field is missing.")
    elif "check" in lowered:
        message = _("%(label)s: the value is outside its allowed range.", label=label) if label else \
            _("A value is outside its allowed range.")
    else:
        message = _("The change conflicts with existing data; nothing was written.")
    return field, message


def _sql_orderable(model, name: str) -> bool:
    """``name`` (a column, or ``relation.column``) is something SQL can order by."""
    mapper = sa.inspect(model)
    if "." in name:
        relation, column = name.split(".", 1)
        rel = mapper.relationships.get(relation)
        return rel is not None and column in rel.mapper.column_attrs.keys()
    return name in mapper.column_attrs.keys() or name in mapper.all_orm_descriptors.keys() and \
        getattr(mapper.all_orm_descriptors[name], "is_attribute", False)


def _refused_form(response):
    """After a POST, FAB answers a redirect when the change was saved and the form again
    (a page) when it was not: that page says what to fix, with 422 (as the API does)."""
    if request.method == "POST" and isinstance(response, str):
        return response, 422
    return response


# The column that names a record in a list, in this order of preference: its cell is the
# link to the record (the magnifier stays, for those who know it).
NAME_COLUMNS = ("name", "subject", "title", "file_name", "username", "url", "path")


def _titled(message: str, thing) -> str:
    """``message`` in the page's language with ``thing`` (a record type's words) inside
    it, its first letter lower-cased unless it is an acronym: "Add team member"."""
    word = str(thing)
    if len(word) > 1 and not word[1].isupper():
        word = word[0].lower() + word[1:]
    return _(message, thing=word)


class AtriumModelView(ModelView):
    """Base for every staff model view."""

    list_link_column: str | None = None  # default: the first of ``NAME_COLUMNS`` the list shows

    method_permission_name = METHOD_PERMISSIONS
    page_size = 25
    list_widget = AtriumListWidget
    search_widget = AtriumSearchWidget
    show_template = "atrium/show.html"  # FAB's show page plus the record's audit History

    # CSV export of the list (SPEC §6), one mechanism for every staff and portal list:
    # ``export_columns`` (default: the list's), headed by their labels (or their names,
    # ``export_header_labels = False``), recorded as ``export_action``. The permission is
    # the one ``method_permission_name`` gives ``export`` ("read" by default: whoever may
    # read the list may export it; the audit log maps it to Admin's "export").
    export_columns: list | tuple | None = None
    export_header_labels = True
    export_action = "export"

    # Add/edit forms choose a many-to-one relation to a growing table (every related
    # model not in ``DROPDOWN_LOOKUPS``) with a searched picker (``app.views.relation_picker``)
    # served by ``picker`` below; the related model's text columns it searches are
    # derived from the model, or named here per relation: ``{"ticket": ("subject",)}``.
    picker_search_columns: dict = {}
    _pickers: dict = {}  # (form, relation) -> relation_picker.PickerSpec, built per view class

    @expose("/add", methods=["GET", "POST"])
    @has_access
    def add(self):
        """FAB's add page; a submitted form shown again (its errors on the fields) is a 422."""
        return _refused_form(super().add())

    @expose("/edit/<pk>", methods=["GET", "POST"])
    @has_access
    def edit(self, pk):
        """FAB's edit page; a submitted form shown again (its errors on the fields) is a 422."""
        return _refused_form(super().edit(pk))

    # ----------------------------------------------------------------- saving
    # FAB's ``_add``/``_edit`` flash whatever the save raised (``str(exc)``: the raw
    # database text of an integrity error) and redirect to the page visited before,
    # dropping what was typed. Here a refused save (a rule below the doors, a plan limit,
    # a constraint) is a message on the form, on the field it names, the typed values
    # kept (422); a save lands on the saved record's page.

    def _save(self, form, item, is_add: bool):
        """Populate ``item`` from ``form`` and save it; ``True`` when saved, else the
        refusal is on ``form`` (nothing written)."""
        try:
            form.populate_obj(item)
            if is_add:
                self.pre_add(item)
                self.datamodel.add(item)
                self.post_add(item)
            else:
                self.pre_update(item)
                self.datamodel.edit(item)
                self.post_update(item)
        except AtriumError as exc:
            self.datamodel.session.rollback()
            self._refuse_on_form(form, exc.field, self._refusal_text(exc, item))
            return False
        except IntegrityError as exc:
            self.datamodel.session.rollback()
            log.info("Form save refused by a constraint: %s", exc.orig)
            field, message = _integrity_refusal(exc, form, self.label_columns)
            self._refuse_on_form(form, field, message)
            return False
        except (SQLAlchemyError, DatabaseException, OverflowError, ValueError, TypeError):
            # (FAB's own _add/_edit caught everything here too: a value the database
            # driver cannot take, such as an integer beyond 64 bits, is refused, not a 500.)
            self.datamodel.session.rollback()
            log.exception("Form save failed")
            self._refuse_on_form(form, None, _("The change could not be saved; nothing was written. "
                                               "Check the values (numbers within range)."))
            return False
        g.atrium_saved_pk = self.datamodel.get_pk_value(item)
        flash(str(self.add_row_message if is_add else self.edit_row_message), "success")  # str: a lazy string would be kept as markup
        return True

    def _refusal_text(self, exc, item) -> str:
        """The refusal's message; for staff, a plan limit also says the way past it (the
        client's limit override, with the address of the client's edit page)."""
        message = exc.message
        if isinstance(exc, tiers.LimitReached) and tenancy.current_scope().is_staff:
            client_id = getattr(item, "client_id", None) or getattr(getattr(item, "client", None), "id", None)
            if client_id is not None and "ClientView.edit" in current_app.view_functions:
                way = _("As staff you can let this client past it: set a limit override on the client's "
                        "page (%(url)s), field Limit overrides.", url=url_for("ClientView.edit", pk=client_id))
            else:
                way = _("As staff you can let this client past it: set a limit override on the client's "
                        "page, field Limit overrides.")
            message = f"{message} {way}"
        return message

    @staticmethod
    def _refuse_on_form(form, field_name, message) -> None:
        field = form._fields.get(field_name) if field_name else None
        if field is None and field_name and f"{field_name}_id" in form._fields:
            field = form._fields[f"{field_name}_id"]
        if field is not None:
            field.errors = [*list(field.errors or ()), literal_message(message)]
        flash(message, "danger")

    def _add(self):
        is_valid_form = True
        get_filter_args(self._filters, disallow_if_not_in_search=False)
        exclude_cols = self._filters.get_relation_cols()
        form = self.add_form.refresh()
        if request.method == "POST":
            self._fill_form_exclude_cols(exclude_cols, form)
            if form.validate():
                self.process_form(form, True)
                if self._save(form, self.datamodel.obj(), is_add=True):
                    return None
            is_valid_form = False
        if is_valid_form:
            self.update_redirect()
        return self._get_add_widget(form=form, exclude_cols=exclude_cols)

    def _edit(self, pk):
        is_valid_form = True
        pages, page_sizes, orders = get_page_args(), get_page_size_args(), get_order_args()
        get_filter_args(self._filters, disallow_if_not_in_search=False)
        exclude_cols = self._filters.get_relation_cols()
        item = self.datamodel.get(pk, self._base_filters)
        if not item:
            abort(404)
        pk = self.datamodel.get_pk_value(item)
        if request.method == "POST":
            form = self.edit_form.refresh(request.form)
            self._fill_form_exclude_cols(exclude_cols, form)
            form._id = pk
            if form.validate():
                self.process_form(form, False)
                if self._save(form, item, is_add=False):
                    return None
                item = self.datamodel.get(pk, self._base_filters) or item
            is_valid_form = False
        else:
            form = self.edit_form.refresh(obj=item)
            self.prefill_form(form, pk)
        client_id = getattr(item, "client_id", None)
        for field in form:  # the record's client narrows its pickers (Customer app of this client)
            if isinstance(field, relation_picker.SearchedRelationField):
                field.client_id = client_id
        widgets = self._get_edit_widget(form=form, exclude_cols=exclude_cols)
        widgets = self._get_related_views_widgets(item, filters={}, orders=orders, pages=pages,
                                                  page_sizes=page_sizes, widgets=widgets)
        if is_valid_form:
            self.update_redirect()
        return widgets

    def _saved_record_redirect(self):
        pk = g.pop("atrium_saved_pk", None)
        if pk is not None and "show" not in (self.exclude_route_methods or ()):
            return redirect(url_for(f"{self.endpoint}.show", pk=pk))
        return None

    def post_add_redirect(self):
        return self._saved_record_redirect() or super().post_add_redirect()

    def post_edit_redirect(self):
        return self._saved_record_redirect() or super().post_edit_redirect()

    def _init_properties(self):
        """FAB's properties; the list's ordering columns are kept to those it shows that
        the database can order by (FAB offered Python properties too, such as a metric's
        CTR: ordering by one was a 500)."""
        super()._init_properties()
        if self.order_columns:
            shown = set(self.list_columns or [])
            self.order_columns = [c for c in self.order_columns
                                  if c in shown and _sql_orderable(self.datamodel.obj, c)]

    def _init_forms(self):
        """FAB's add/edit forms, with ``LiteralErrorsForm`` mixed in."""
        super()._init_forms()
        for attr in ("add_form", "edit_form"):
            form = getattr(self, attr, None)
            if form is not None and not issubclass(form, LiteralErrorsForm):
                setattr(self, attr, type(form.__name__, (LiteralErrorsForm, form), {}))

    def _get_list_widget(self, filters, **kwargs):
        """FAB's list, with the rows loaded light (``AtriumInterface.query``); the list
        page of this view itself (not a related list on another record's page) gets the
        "Export CSV" link with this request's filters and ordering."""
        if request.endpoint == f"{self.endpoint}.list" and self._may_export():
            kwargs["export_url"] = url_for(f"{self.endpoint}.export", **request.args.to_dict(flat=False))
        kwargs["link_column"] = self.list_link_column or next(
            (c for c in self.list_columns or () if c in NAME_COLUMNS), None)
        token = LIST_COLUMNS.set(self.list_columns)
        try:
            return super()._get_list_widget(filters, **kwargs)
        finally:
            LIST_COLUMNS.reset(token)

    def _may_export(self) -> bool:
        permission = "can_" + (self.method_permission_name or {}).get("export", "export")
        return permission in (self.base_permissions or []) and self.appbuilder.sm.has_access(
            permission, self.class_permission_name)

    @expose("/export.csv")
    @has_access
    def export(self):
        """Every row of the list's current search and ordering (all pages) as CSV,
        streamed: read through the same query path as the list (``base_filters``, the
        search filters, and the session's tenant scope, so a client user gets their own
        client's rows); cells by ``services.exports.csv_cell`` (secrets masked, formulas
        neutralised); recorded as an audit event before the first row is sent."""
        columns = list(self.export_columns or self.list_columns)
        order_column, order_direction = get_order_args().get(self.__class__.__name__) or ("", "")
        if order_column not in (self.order_columns or []) or order_direction not in ("asc", "desc"):
            order_column, order_direction = self.base_order or ("", "")
        get_filter_args(self._filters)
        filters = self._filters.get_joined_filters(self._base_filters)
        datamodel = self.datamodel
        count = datamodel.query_count(datamodel.session.query(datamodel.obj), filters)
        exports.record_export(
            datamodel.session, datamodel.obj.__name__, rows=count, action=self.export_action,
            client_id=tenancy.current_scope().client_id,
            details={"view": self.__class__.__name__, "filters": self._filters.get_filters_values_tojson(),
                     "order": [order_column, order_direction] if order_column else None})
        query = datamodel.apply_all(
            datamodel.session.query(datamodel.obj).options(*list_load_options(datamodel.obj, tuple(columns))),
            filters, order_column, order_direction)
        header = [str(self.label_columns.get(c, c)) if self.export_header_labels else c for c in columns]
        formatters = self.formatters_columns or {}

        def rows():
            _reattach_request_users(datamodel.session)
            for item in query.yield_per(500):
                values = datamodel.get_values_item(item, columns)
                yield [exports.csv_cell(c, _export_value(v, formatters.get(c))) for c, v in zip(columns, values)]

        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
        name = re.sub(r"[^a-z0-9]+", "-", str(self.list_title or self.__class__.__name__).lower()).strip("-")
        return Response(stream_with_context(exports.csv_stream(header, rows())), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="atrium-{name}-{stamp}.csv"',
                                 "Cache-Control": "no-store"})

    @expose("/picker/<column>")
    def picker(self, column):
        """The rows a form's relation picker offers, in Select2's format: ``q`` (text, a
        number or ``#id``), ``page`` (from 1), 20 a page. For whoever may use that form
        (``form=add|edit``: the permission ``method_permission_name`` gives it); rows
        are the session's (tenant-scoped) and satisfy the form's
        ``*_form_query_rel_fields``."""
        form = request.args.get("form") or ("add" if ("add", column) in self._pickers else "edit")
        spec = self._pickers.get((form, column))
        if spec is None or form in (self.exclude_route_methods or ()):
            abort(404)
        if not self._may_use_form(form):
            return jsonify({"error": _("You may not change these records.")}), 403
        try:
            page = int(request.args.get("page") or 1)
        except ValueError:
            page = 0
        if not 1 <= page <= 10_000:
            return jsonify({"error": _("page must be a whole number from 1.")}), 400
        client_id = request.args.get("client", "")
        client_id = int(client_id) if client_id.isascii() and client_id.isdigit() and len(client_id) < 10 else None
        rows, more = relation_picker.search_choices(self.datamodel.session, spec, request.args.get("q", ""), page,
                                                    client_id=client_id)
        response = jsonify({"results": [{"id": sa.inspect(row).identity[0], "text": relation_picker.choice_text(row)}
                                        for row in rows],
                            "pagination": {"more": more}})
        response.headers["Cache-Control"] = "private, no-store"
        return response

    def _may_use_form(self, form: str) -> bool:
        permission = "can_" + (self.method_permission_name or {}).get(form, form)
        return permission in (self.base_permissions or []) and self.appbuilder.sm.has_access(
            permission, self.class_permission_name)

    @expose("/download/<string:filename>")
    @has_access
    def download(self, filename):
        """FAB's file-column download (from ``UPLOAD_FOLDER``) is not used: stored files
        are served by the views that own them, after a scoped lookup."""
        abort(404)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        datamodel = cls.__dict__.get("datamodel")
        if datamodel is None:
            inherited = getattr(cls, "datamodel", None)
            if inherited is not None:  # a variant of a view: its forms' pickers are its own
                cls.label_columns = cls._column_labels(inherited.obj)
                cls._form_fields(inherited.obj, cls.validators_columns or {})
            return
        model = datamodel.obj
        cls.label_columns = cls._column_labels(model)
        if model.__name__ not in ("AuditEvent", "ImpersonationSession"):
            cls.extra_args = {**(getattr(cls, "extra_args", None) or {}), "audit_resource": model.__name__}
        formatters = dict(getattr(cls, "formatters_columns", None) or {})
        for column in model.__table__.columns:
            if column.key in formatters:
                continue
            if isinstance(column.type, UTCDateTime):
                formatters[column.key] = format_time
            elif isinstance(column.type, sa.Date) and not isinstance(column.type, sa.DateTime):
                formatters[column.key] = format_date
            elif isinstance(column.type, sa.Enum):
                formatters[column.key] = enum_words(column.type.enums)
        cls.formatters_columns = formatters
        validators = {k: list(v) for k, v in (getattr(cls, "validators_columns", None) or {}).items()}
        for name, extra in unique_together_validators(
                model, list(getattr(cls, "add_columns", None) or []) + list(getattr(cls, "edit_columns", None) or [])
        ).items():
            validators.setdefault(name, []).extend(extra)
        bound_numbers(model, list(getattr(cls, "add_columns", None) or []) + list(getattr(cls, "edit_columns", None)
                                                                                  or []), validators)
        cls.validators_columns = validators
        search_extra = dict(getattr(cls, "search_form_extra_fields", None) or {})
        search_extra.update(id_search_fields(model, getattr(cls, "search_columns", None), search_extra,
                                             getattr(cls, "label_columns", None) or {}))
        cls.search_form_extra_fields = search_extra or None
        cls._form_fields(model, validators)

    # Column labels: one table for every view (``app.views.labels.COLUMN_LABELS``), lazy
    # translations read in the page's language; a view's own ``label_columns`` win.
    COLUMN_LISTS = ("list_columns", "show_columns", "add_columns", "edit_columns", "search_columns",
                    "order_columns", "export_columns")

    @classmethod
    def _column_labels(cls, model) -> dict:
        """The view's ``label_columns``: every column and relationship of ``model`` and
        every name the view lists, shows, edits, searches, orders or exports, labelled by
        ``column_label``, then the view's own labels (a new dict per view: FAB adds to it)."""
        names = list(sa.inspect(model).attrs.keys())
        for attr in cls.COLUMN_LISTS:
            names.extend(name for name in getattr(cls, attr, None) or () if isinstance(name, str))
        labels = {name: column_label(name) for name in names}
        labels.update(getattr(cls, "label_columns", None) or {})
        return labels

    def _prettify_column(self, name):
        """What FAB calls a column it has no label for: its ``column_label`` too."""
        return column_label(name)

    def _init_titles(self):
        """Titles the view does not set, in the reader's language: the record's type as
        the audit screens name it (``audit_words.record_type_words``): "Team member",
        "Add team member", "Edit team member", "Team members" (FAB's were "Show Client
        Member", "Add Client Member"... in English whatever the language)."""
        thing = record_type_words(self.datamodel.obj.__name__)
        for attr, message in (("list_title", N_("List of %(thing)s records")), ("add_title", N_("Add %(thing)s")),
                              ("edit_title", N_("Edit %(thing)s"))):
            if not getattr(self, attr, None):
                setattr(self, attr, LazyString(_titled, message, thing))
        if not self.show_title:
            self.show_title = thing
        super()._init_titles()

    @classmethod
    def _form_fields(cls, model, validators) -> None:
        """The add/edit form fields Atrium builds: ``generated_fields`` and a searched
        picker for every many-to-one relation to a model not in ``DROPDOWN_LOOKUPS``."""
        cls._pickers = {}
        for form, columns_attr, extra_attr in (("add", "add_columns", "add_form_extra_fields"),
                                               ("edit", "edit_columns", "edit_form_extra_fields")):
            # A picker inherited from a base view is built again for this view (its URL).
            own = cls.__dict__.get(extra_attr) or {}
            extra = {name: field for name, field in (getattr(cls, extra_attr, None) or {}).items()
                     if name in own or not relation_picker.is_picker(field)}
            # No columns named: FAB's form has every column, so every one gets Atrium's field.
            columns = getattr(cls, columns_attr, None) or list(model.__table__.columns.keys())
            extra.update(generated_fields(model, columns, extra, validators))
            pickers = relation_picker.picker_fields(
                cls, model, form, getattr(cls, columns_attr, None), extra, lookups=DROPDOWN_LOOKUPS,
                validators=validators, labels=getattr(cls, "label_columns", None) or {},
                descriptions=getattr(cls, "description_columns", None) or {},
                rel_filters=getattr(cls, f"{form}_form_query_rel_fields", None),
                search_columns=cls.picker_search_columns)
            extra.update(pickers)
            cls._pickers.update({(form, name): field.kwargs["spec"] for name, field in pickers.items()})
            setattr(cls, extra_attr, extra)
