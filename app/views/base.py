"""The base classes every Atrium model view derives from.

- Permissions: each view names its resource (``class_permission_name``) and maps every
  method to ``read`` or ``write``, so ``app.security.roles`` governs views and APIs alike.
- Tenancy: these are staff views (staff see every client; client users hold no staff
  permission). Client scoping from ``services.tenancy.current_scope()`` belongs here,
  once, when the client portal arrives.
- Validation: ``service_validator`` wraps a ``services.validation`` rule as a WTForms
  validator, so the message a person reads comes from the service.
- JSON list columns (DNS records, nameservers, tags) are edited as JSON text.
- A client's limit overrides are edited as one input per limited resource
  (``LimitOverridesField``); contact data of projects/domains with ``contact_fields()``.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation

from flask import abort, current_app, request, url_for
from flask_appbuilder import ModelView, expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.widgets import ListWidget
from flask_appbuilder.fieldwidgets import BS3TextAreaFieldWidget
import sqlalchemy as sa
from flask_appbuilder.fieldwidgets import Select2Widget
from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
from markupsafe import Markup, escape
from wtforms import BooleanField, Field, SelectField, StringField, TextAreaField, ValidationError
from wtforms.utils import unset_value
from wtforms.validators import InputRequired, Optional

from app.models.base import UTCDateTime
from app.services import tiers, validation
from app.services.errors import AtriumError, InvalidInput

READ_METHODS = ("list", "show", "download", "api", "api_read", "api_get", "api_readvalues")
WRITE_METHODS = ("add", "edit", "delete", "action", "action_post", "api_create", "api_update",
                 "api_delete", "api_column_add", "api_column_edit")
METHOD_PERMISSIONS = {**{m: "read" for m in READ_METHODS}, **{m: "write" for m in WRITE_METHODS}}


def service_validator(rule, **kwargs):
    """A WTForms validator calling a ``services.validation`` rule."""

    def _validate(form, field):
        if field.data is None or field.data == "":
            return
        try:
            rule(field.data, **kwargs)
        except InvalidInput as exc:
            raise ValidationError(exc.message) from None

    return _validate


def not_before(other_field: str, other_label: str, label: str):
    """A WTForms validator: this date/time may not be before ``other_field``."""

    def _validate(form, field):
        other = form[other_field].data if other_field in form else None
        try:
            validation.dates_in_order(other, field.data, earlier_label=other_label, later_label=label,
                                      field=field.name)
        except InvalidInput as exc:
            raise ValidationError(exc.message) from None

    return _validate


class JSONTextField(TextAreaField):
    """A JSON document edited as text; ``data`` is the parsed value."""

    widget = BS3TextAreaFieldWidget()

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        if self.data in (None, ""):
            return "[]"
        return json.dumps(self.data, indent=2, ensure_ascii=False)

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        text = (valuelist[0] or "").strip()
        if not text:
            self.data = []
            return
        try:
            self.data = json.loads(text)
        except json.JSONDecodeError as exc:
            self.data = None
            raise ValueError(f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") from None


def json_list_field(label: str, rule, description: str = ""):
    def _normalise(form, field):
        try:
            field.data = rule(field.data)
        except InvalidInput as exc:
            raise ValidationError(exc.message) from None

    return JSONTextField(label, validators=[_normalise], description=description)


def contact_fields() -> dict:
    """Form fields for the contact data of a project or domain (``ContactMixin``): each
    value goes through its ``services.validation`` rule (blank becomes empty, not "")."""

    def field(label, rule, description):
        def _normalise(form, field_):
            try:
                field_.data = rule(field_.data)
            except InvalidInput as exc:
                raise ValidationError(exc.message) from None

        return StringField(label, validators=[_normalise], description=description, widget=BS3TextFieldWidget())

    return {"contact_name": field("Contact name", validation.contact_name, "Who the client talks to about this."),
            "contact_email": field("Contact email", validation.email, "e.g. ana@example.com"),
            "contact_phone": field("Contact phone", validation.phone, "e.g. +55 11 91234-5678")}


# The inputs of ``LimitOverridesField``: (resource of ``tiers.LIMITED_RESOURCES``, label, unit).
LIMIT_INPUTS = (("projects", "Projects", 1), ("domains", "Domains", 1), ("team_members", "Team members", 1),
                ("tickets_per_month", "Tickets per month", 1), ("storage_bytes", "Storage (GB)", tiers.GB))
_WHOLE = re.compile(r"^\d+$")


def format_limit_overrides(value) -> str:
    """An override document in words: ``Projects: 2 · Storage (GB): 10``; empty: plan limits."""
    if not value:
        return "None (the plan's limits apply)"
    parts = []
    for key, label, unit in LIMIT_INPUTS:
        if key in value:
            parts.append(f"{label}: {_limit_text(value[key], unit)}")
    return " · ".join(parts)


def _limit_text(limit, unit) -> str:
    if limit is None:
        return "unlimited"
    if unit == 1:
        return str(limit)
    return f"{(Decimal(int(limit)) / unit).quantize(Decimal('0.001')).normalize():f}"


class LimitOverridesWidget:
    """One labelled text input per limited resource, named ``<field>-<resource>``."""

    INPUT = Markup('<div class="form-group col-sm-4 col-md-2"><label for="{name}">{label}</label>'
                   '<input class="form-control" type="text" id="{name}" name="{name}" value="{value}" '
                   'placeholder="plan limit"></div>')

    def __call__(self, field, **kwargs):
        inputs = Markup("").join(self.INPUT.format(name=f"{field.name}-{key}", label=label, value=field.text_for(key))
                                 for key, label, _ in LIMIT_INPUTS)
        return Markup('<div class="row" id="{}">{}</div>').format(field.id, inputs)


class LimitOverridesField(Field):
    """``Client.limit_overrides`` as one optional input per limited resource (SPEC §2):
    empty: the plan's limit; a whole number (GB for storage); or ``unlimited``.

    ``data`` is the override document, checked by ``tiers.validate_overrides`` (the one
    rule; the flush checks it again and stamps who set it, and when). A post without
    these inputs (another form, an API-style post) leaves the stored overrides alone.
    """

    widget = LimitOverridesWidget()

    def process(self, formdata, data=unset_value, extra_filters=None):
        super().process(None, data, extra_filters)
        self.typed: dict[str, str] = {}
        self.submitted = formdata is not None and any(
            f"{self.name}-{key}" in formdata for key, _, _ in LIMIT_INPUTS)
        if self.submitted:
            self.typed = {key: (formdata.get(f"{self.name}-{key}") or "").strip() for key, _, _ in LIMIT_INPUTS}

    def text_for(self, key: str) -> str:
        if self.submitted:
            return self.typed.get(key, "")
        document = self.data or {}
        unit = next(u for k, _, u in LIMIT_INPUTS if k == key)
        return _limit_text(document[key], unit) if key in document else ""

    def pre_validate(self, form):
        if not self.submitted:
            return
        document, problems = {}, []
        for key, label, unit in LIMIT_INPUTS:
            text = self.typed.get(key, "")
            if not text:
                continue
            if text.lower() == "unlimited":
                document[key] = None
                continue
            try:
                number = Decimal(text) if unit != 1 or _WHOLE.match(text) else None
            except InvalidOperation:
                number = None
            if number is None or not number.is_finite() or number < 0:
                what = "a number of GB" if unit != 1 else "a whole number"
                problems.append(f"{label}: enter {what} (0 or more), “unlimited”, or leave it empty for the "
                                f"plan's limit.")
                continue
            document[key] = int(number * unit)
        if problems:
            raise ValidationError(" ".join(problems))
        try:
            self.data = tiers.validate_overrides(document)
        except InvalidInput as exc:
            raise ValidationError(exc.message) from None

    def populate_obj(self, obj, name):
        if self.submitted and getattr(obj, name) != self.data:
            setattr(obj, name, self.data)


class UniqueTogether:
    """Form validator for a multi-column unique constraint (FAB checks single columns only).

    Reads the other columns from the form, or from the row being edited when the form
    does not show them, and reports a clash on the field instead of a database error.
    """

    def __init__(self, model, columns):
        self.model = model
        self.columns = columns

    def __call__(self, form, field):
        from app.extensions import db

        current = db.session.get(self.model, form._id) if getattr(form, "_id", None) else None
        criteria = []
        for column in self.columns:
            name = _form_name(self.model, column)
            if name in form:
                if form[name].errors:
                    return  # that field's own message says what is wrong
                value = form[name].data
                value = getattr(value, "id", value)
            elif current is not None:
                value = getattr(current, column.key)
            else:
                return
            if value is None or value == "":
                return
            criteria.append(column == value)
        query = sa.select(self.model.id).where(*criteria)
        if current is not None:
            query = query.where(self.model.id != current.id)
        if db.session.execute(query.limit(1)).first() is not None:
            labels = " and ".join(_label(_form_name(self.model, c)) for c in self.columns)
            raise ValidationError(f"Another record already has this {labels.lower()}.")


def _form_name(model, column) -> str:
    """The form field of a column: its relationship's name for a foreign key."""
    for rel in sa.inspect(model).relationships:
        if rel.direction.name == "MANYTOONE" and column in rel.local_columns:
            return rel.key
    return column.key


def _unique_together_validators(model, columns) -> dict:
    shown = set(columns or [])
    result = {}
    for constraint in model.__table__.constraints:
        if isinstance(constraint, sa.UniqueConstraint) and len(constraint.columns) > 1:
            cols = list(constraint.columns)
            target = next((_form_name(model, c) for c in reversed(cols) if _form_name(model, c) in shown), None)
            if target:
                result.setdefault(target, []).append(UniqueTogether(model, cols))
    return result


def format_utc(value) -> str:
    """Times are stored in UTC and shown as such, to the minute (no staff timezone yet)."""
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else ""


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _generated_fields(model, columns, existing) -> dict:
    """Form fields Atrium builds itself instead of FAB's converter:

    - non-null booleans as plain checkboxes (FAB would require the box to be ticked);
    - checked enumerations as select boxes that report an unknown value as a field error
      (FAB's EnumField raises a bare ValueError, which would be a 500).
    """
    fields = {}
    for name in columns or []:
        column = model.__table__.columns.get(name)
        if column is None or name in (existing or {}):
            continue
        if isinstance(column.type, sa.Boolean):
            fields[name] = BooleanField(_label(name))
        elif isinstance(column.type, sa.Enum):
            choices = [(v, v.replace("_", " ")) for v in column.type.enums]
            if column.nullable:
                fields[name] = SelectField(_label(name), choices=[("", "—"), *choices],
                                           validators=[Optional()], filters=[lambda v: v or None],
                                           widget=Select2Widget())
            else:
                fields[name] = SelectField(_label(name), choices=choices, validators=[InputRequired()],
                                           widget=Select2Widget(), default=_default(column))
    return fields


def _default(column):
    default = column.default.arg if column.default is not None else None
    return None if callable(default) else default


class AtriumInterface(SQLAInterface):
    """FAB's SQLAlchemy interface; a domain error raised on flush (a tier limit, a
    membership rule) rolls the session back before FAB shows its message, so the page
    that follows is not rendered from a failed transaction."""

    def _guarded(self, method, item, commit=True):
        try:
            return method(item, commit=commit)
        except AtriumError:
            self.session.rollback()
            raise

    def add(self, item, commit=True):
        return self._guarded(super().add, item, commit)

    def edit(self, item, commit=True):
        return self._guarded(super().edit, item, commit)

    def delete(self, item, commit=True):
        return self._guarded(super().delete, item, commit)


class ListLinks:
    """The ordering, page and page-size links of one list page: the URLs FAB's
    ``link_order`` / ``link_page`` / ``link_page_size`` filters build, with one
    ``url_for`` per kind of link instead of one per link (about 20 on a paged list).

    FAB copies the request's view and query arguments, sets one of them and calls
    ``url_for``. Here that is done once with a placeholder value, and each link puts its
    value in the placeholder's place. Only values that URL encoding leaves unchanged
    (page numbers, column names) take that path; anything else, or a query string that
    already contains the placeholder, is built by FAB's filter itself.
    """

    PLACEHOLDER = "__atrium_link__"
    _PLAIN = re.compile(r"^[A-Za-z0-9_.-]+$")

    def __init__(self, modelview_name: str):
        self.view = modelview_name
        self._templates: dict[str, str | None] = {}

    def _template(self, key: str, changes) -> str | None:
        if key not in self._templates:
            template = None
            if self.PLACEHOLDER.encode() not in request.query_string:
                args = request.args.copy()
                for name, value in changes(args):
                    args[name] = value
                template = url_for(request.endpoint, **{**request.view_args, **args.to_dict()})
                if template.count(self.PLACEHOLDER) != 1:
                    template = None
            self._templates[key] = template
        return self._templates[key]

    def _link(self, key: str, changes, value, fallback: str):
        template = self._template(key, changes)
        text = str(value)
        if template is None or not self._PLAIN.match(text):
            return current_app.jinja_env.filters[fallback](value, self.view)
        return template.replace(self.PLACEHOLDER, text)

    def order(self, column: str) -> str:
        """FAB's ``link_order``: order by ``column``, flipping the direction."""
        oc, od = "_oc_" + self.view, "_od_" + self.view

        def changes(args):
            direction = ("desc" if args.get(od) == "asc" else "asc") if oc in args else "asc"
            return [(oc, self.PLACEHOLDER), (od, direction)]

        return self._link("order", changes, column, "link_order")

    def page(self, page: int) -> str:
        """FAB's ``link_page``."""
        return self._link("page", lambda args: [("page_" + self.view, self.PLACEHOLDER)], page, "link_page")

    def page_size(self, page_size: int) -> str:
        """FAB's ``link_page_size``."""
        return self._link("psize", lambda args: [("psize_" + self.view, self.PLACEHOLDER)], page_size,
                          "link_page_size")

    def order_state(self, column: str) -> int:
        """FAB's ``get_link_order``: 2 ascending, 1 descending, 0 not ordered by ``column``."""
        if request.args.get("_oc_" + self.view) == column:
            return 2 if request.args.get("_od_" + self.view) == "asc" else 1
        return 0


class AtriumListWidget(ListWidget):
    """FAB's list table with row links built once per page and the rows written by one
    Python loop (see the template)."""

    template = "atrium/list_widget.html"

    def __call__(self, **kwargs):
        modelview_name = kwargs.get("modelview_name") or self.template_args.get("modelview_name")
        return super().__call__(rows=self.rows, links=ListLinks(modelview_name), **kwargs)

    @staticmethod
    def rows(value_columns, pks, include_columns, formatters, actions, show_url, edit_url, delete_url,
             placeholder, labels):
        """The ``<tr>`` of every row: the markup the template's per-cell loop produced,
        every value and URL escaped exactly as ``{{ }}`` escapes it (``markupsafe``), but
        without Jinja's per-expression overhead (about 50 µs a row)."""
        t_show, t_show_record, t_edit, t_edit_record, t_delete, t_delete_record = map(escape, labels)
        columns = [(name, formatters.get(name)) for name in include_columns]
        links = bool(show_url or edit_url or delete_url)
        out = []
        add = out.append
        for item, pk in zip(value_columns, pks):
            pk = str(pk)
            add("\n        <tr>")
            if actions:
                add(f'<td><input id="{escape(pk)}" class="action_check" name="rowid" value="{escape(pk)}" '
                    f'type="checkbox"></td>')
            if links:
                add('<td><center><div class="btn-group btn-group-xs" style="display: flex;">')
                if show_url:
                    add(f'<a href="{escape(show_url.replace(placeholder, pk))}" class="btn btn-sm btn-default" '
                        f'title="{t_show_record}"><span class="sr-only">{t_show}</span><i class="fa fa-search"></i></a>')
                if edit_url:
                    add(f'<a href="{escape(edit_url.replace(placeholder, pk))}" class="btn btn-sm btn-default" '
                        f'title="{t_edit_record}"><span class="sr-only">{t_edit}</span><i class="fa fa-edit"></i></a>')
                if delete_url:
                    add(f'<a href="#" data-delete-url="{escape(delete_url.replace(placeholder, pk))}" '
                        f'class="btn btn-sm btn-default confirm" title="{t_delete_record}"><span class="sr-only">'
                        f'{t_delete}</span><i class="fa fa-trash"></i></a>')
                add("\n        </div></center></td>")
            for name, formatter in columns:
                value = item[name]
                add(f"\n            <td>{escape(formatter(value) if formatter else value)}</td>")
            add("\n        </tr>")
        return Markup("".join(out))


class AtriumModelView(ModelView):
    """Base for every staff model view."""

    method_permission_name = METHOD_PERMISSIONS
    page_size = 25
    list_widget = AtriumListWidget
    show_template = "atrium/show.html"  # FAB's show page plus the record's audit History

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
            return
        model = datamodel.obj
        if model.__name__ not in ("AuditEvent", "ImpersonationSession"):
            cls.extra_args = {**(getattr(cls, "extra_args", None) or {}), "audit_resource": model.__name__}
        formatters = dict(getattr(cls, "formatters_columns", None) or {})
        for column in model.__table__.columns:
            if isinstance(column.type, UTCDateTime) and column.key not in formatters:
                formatters[column.key] = format_utc
        cls.formatters_columns = formatters
        validators = {k: list(v) for k, v in (getattr(cls, "validators_columns", None) or {}).items()}
        for name, extra in _unique_together_validators(
                model, list(getattr(cls, "add_columns", None) or []) + list(getattr(cls, "edit_columns", None) or [])
        ).items():
            validators.setdefault(name, []).extend(extra)
        cls.validators_columns = validators
        for columns_attr, extra_attr in (("add_columns", "add_form_extra_fields"),
                                         ("edit_columns", "edit_form_extra_fields")):
            extra = dict(getattr(cls, extra_attr, None) or {})
            extra.update(_generated_fields(model, getattr(cls, columns_attr, None), extra))
            setattr(cls, extra_attr, extra)
