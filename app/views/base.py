"""The base classes every Atrium model view derives from.

- Permissions: each view names its resource (``class_permission_name``) and maps every
  method to ``read`` or ``write``, so ``app.security.roles`` governs views and APIs alike.
- Tenancy: these are staff views (staff see every client; client users hold no staff
  permission). Client scoping from ``services.tenancy.current_scope()`` belongs here,
  once, when the client portal arrives.
- Validation: ``service_validator`` wraps a ``services.validation`` rule as a WTForms
  validator, so the message a person reads comes from the service. Number columns are
  bounded by their type (``_bound_numbers``); messages may quote the input
  (``LiteralErrorsForm``); a form shown again with its errors answers 422; list filters
  read their value as the column's type (``TypedValueFilter``, a 400 otherwise).
- JSON list columns (DNS records, nameservers, tags) are edited as JSON text.
- A client's limit overrides are edited as one input per limited resource
  (``LimitOverridesField``); contact data of projects/domains with ``contact_fields()``.
- Lists at scale: rows are loaded light (the page's columns, related values joined in
  the same statement), search forms filter a relation to a growing table by the
  related record's id instead of a drop-down of the whole table, and what FAB rebuilds
  on every request but never changes (filter lists, search inputs) is built once.
- Forms at scale: an add/edit form's relation to a growing table is a searched picker
  (``app.views.relation_picker``, served by ``AtriumModelView.picker``), never a
  drop-down of the whole table.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import re
from decimal import Decimal, InvalidOperation

import logging

from flask import (
    Response, abort, current_app, flash, g, jsonify, redirect, request, session, stream_with_context, url_for,
)
from flask_appbuilder.exceptions import DatabaseException
from flask_appbuilder.urltools import get_page_args, get_page_size_args
from flask_appbuilder import ModelView, expose, has_access
from flask_appbuilder.fields import QuerySelectField
from flask_appbuilder.models.filters import Filters
from flask_appbuilder.models.sqla.filters import (
    FilterEqualFunction, FilterIn, FilterInFunction, FilterNotIn, FilterRelation, FilterRelationOneToManyEqual,
    FilterRelationOneToManyNotEqual, SQLAFilterConverter,
)
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.urltools import get_filter_args, get_order_args
from flask_appbuilder.widgets import ListWidget, SearchWidget
from flask_appbuilder.fieldwidgets import BS3TextAreaFieldWidget
import sqlalchemy as sa
from flask_appbuilder.fieldwidgets import Select2Widget
from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
from markupsafe import Markup, escape
from sqlalchemy.orm import joinedload, lazyload, load_only
from wtforms import BooleanField, Field, IntegerField, SelectField, StringField, TextAreaField, ValidationError
from wtforms.utils import unset_value
from wtforms.widgets import TextInput
from wtforms.validators import InputRequired, Optional

from app.models.base import UTCDateTime, integer_range, number_bounds
from app.services import tiers, validation
from app.services.errors import AtriumError, InvalidInput
from app.views import relation_picker

log = logging.getLogger(__name__)

READ_METHODS = ("list", "show", "download", "export", "api", "api_read", "api_get", "api_readvalues")
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
    """A stored limit in words, whatever is stored (a page showing it never fails): a
    number of GB to three decimals for storage, or the stored value as it is."""
    if limit is None:
        return "unlimited"
    if isinstance(limit, bool) or not isinstance(limit, int):
        return str(limit)
    if unit == 1:
        return str(limit)
    thousandths = (abs(limit) * 1000 + unit // 2) // unit  # integer arithmetic: no precision limit
    whole, fraction = divmod(thousandths, 1000)
    text = f"{whole}.{fraction:03d}".rstrip("0").rstrip(".")
    return f"-{text}" if limit < 0 else text


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
            most = tiers.MAX_OVERRIDES[key]
            if number > Decimal(most) / unit:  # compared before multiplying: 1e999999 stays cheap
                problems.append(f"{label}: at most {_limit_text(most, unit)}, or “unlimited”.")
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


def literal_message(message):
    """``message`` as Flask-AppBuilder's form template must receive it: the template shows
    each field error through ``_()``, and Jinja's gettext formats its text with ``%``
    (always, even without arguments), so an error quoting what was typed (“%d” is not a
    valid email address) would fail to render. ``%`` doubled comes out as typed."""
    return message.replace("%", "%%") if isinstance(message, str) else message


class LiteralErrorsForm:
    """Mixed into every add/edit form of ``AtriumModelView``: once validated, each field's
    errors go through ``literal_message`` (the one place; messages themselves may quote
    input freely)."""

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators=extra_validators)
        for field in self:
            if field.errors and isinstance(field.errors, list):
                field.errors = [literal_message(error) for error in field.errors]
        return valid


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


def _bound_numbers(model, columns, validators) -> None:
    """Every number column of a form gets ``validation.bounded_number`` with what the
    column holds (``models.base.number_bounds``): NaN, infinity and overflowing numbers
    are a message on the field, never a database error or a stored NaN."""
    for name in dict.fromkeys(columns or list(model.__table__.columns.keys())):
        column = model.__table__.columns.get(name)
        bounds = number_bounds(column.type) if column is not None else None
        if bounds is not None:
            minimum, maximum, whole = bounds
            validators.setdefault(name, []).append(service_validator(
                validation.bounded_number, minimum=minimum, maximum=maximum, whole=whole, field=name))


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def viewer_timezone():
    """The timezone times are shown and typed in: the client's (``Client.timezone``) for a
    client user, UTC for staff (staff have no timezone of their own yet)."""
    from zoneinfo import ZoneInfo

    from app.services import tenancy

    try:
        scope = tenancy.current_scope()
        if scope.is_client and scope.client_id is not None:
            from app.extensions import db
            from app.models import Client

            name = db.session.execute(sa.select(Client.timezone).where(Client.id == scope.client_id)).scalar()
            if name:
                return ZoneInfo(name)
    except Exception:  # an unknown zone name, no request: UTC
        pass
    return dt.UTC


class _TimePickerWidget:
    """FAB's date-time picker, showing the field's ``_value()`` (FAB's shows ``data``)."""

    def __call__(self, field, **kwargs):
        from flask_appbuilder.fieldwidgets import DateTimePickerWidget
        from wtforms.widgets import html_params

        kwargs.setdefault("id", field.id)
        kwargs.setdefault("name", field.name)
        return Markup(DateTimePickerWidget.data_template % {
            "text": html_params(type="text", value=field._value(), **kwargs)})


class UTCDateTimeField(Field):
    """A stored (aware, UTC) time as typed and shown in the viewer's timezone, to the
    second, in the format the date picker writes (``YYYY-MM-DD HH:MM:SS``). FAB's
    DateTimeField rendered ``str(value)`` (microseconds and ``+00:00``), which its own
    parser refused: an edit form saved unchanged answered "Not a valid datetime value".
    Accepted: that format, without seconds, with a ``T``, with a trailing ``UTC``. An
    unchanged value keeps the stored one (its microseconds)."""

    FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M")

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("widget", _TimePickerWidget())
        super().__init__(label, validators, **kwargs)

    def _value(self):
        if self.raw_data:
            return " ".join(self.raw_data)
        if isinstance(self.data, dt.datetime):
            value = self.data if self.data.tzinfo else self.data.replace(tzinfo=dt.UTC)
            return value.astimezone(viewer_timezone()).strftime("%Y-%m-%d %H:%M:%S")
        return ""

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        text = " ".join(valuelist).strip()
        if text.upper().endswith(" UTC"):
            text, zone = text[:-4].strip(), dt.UTC
        else:
            zone = viewer_timezone()
        if not text:
            self.data = None
            return
        for fmt in self.FORMATS:
            try:
                parsed = dt.datetime.strptime(text, fmt)
            except ValueError:
                continue
            self.data = parsed.replace(tzinfo=zone).astimezone(dt.UTC)
            return
        self.data = None
        raise ValueError(f"{text!r} is not a time: write it as YYYY-MM-DD HH:MM (seconds optional).")

    def populate_obj(self, obj, name):
        current = getattr(obj, name, None)
        if isinstance(current, dt.datetime) and isinstance(self.data, dt.datetime):
            stored = current if current.tzinfo else current.replace(tzinfo=dt.UTC)
            if stored.replace(microsecond=0) == self.data:
                return  # unchanged as shown: the stored value stays
        setattr(obj, name, self.data)


def _generated_fields(model, columns, existing, validators=None) -> dict:
    """Form fields Atrium builds itself instead of FAB's converter:

    - times (``UTCDateTime``) as ``UTCDateTimeField`` (round-trip in the viewer's zone),
      with the view's ``validators_columns``;
    - non-null booleans as plain checkboxes (FAB would require the box to be ticked);
    - checked enumerations as select boxes that report an unknown value as a field error
      (FAB's EnumField raises a bare ValueError, which would be a 500).
    """
    fields = {}
    for name in columns or []:
        column = model.__table__.columns.get(name)
        if column is None or name in (existing or {}):
            continue
        if isinstance(column.type, UTCDateTime):
            required = not column.nullable and column.default is None and column.server_default is None
            fields[name] = UTCDateTimeField(
                _label(name), validators=[InputRequired() if required else Optional(),
                                                         *(validators or {}).get(name, [])])
        elif isinstance(column.type, sa.Boolean):
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


_MAX_ID = 2**31 - 1  # an INTEGER key


def _typed_id(value) -> int | None:
    try:
        number = int(str(value).strip())
    except ValueError:
        return None
    return number if 1 <= number <= _MAX_ID else None


def _foreign_key(filter_):
    rel = sa.inspect(filter_.model).relationships.get(filter_.column_name)
    columns = list(rel.local_columns) if rel is not None else []
    return getattr(filter_.model, columns[0].key) if len(columns) == 1 else None


class FilterRelationIdEqual(FilterRelationOneToManyEqual):
    """FAB's "Relation" filter on a many-to-one relation, by the related row's id: the
    foreign key is compared with the id chosen or typed (FAB first loads the related
    row, one more statement, and a value that is not an id ends in a database error
    message); a value that is not an id matches nothing."""

    arg_name = None  # views only; FAB's own class keeps serving the REST filters

    def apply(self, query, value):
        key = _foreign_key(self)
        if key is None:
            return super().apply(query, value)
        number = _typed_id(value)
        return query.filter(key == number if number is not None else sa.false())


class FilterRelationIdNotEqual(FilterRelationOneToManyNotEqual):
    """FAB's "No Relation" filter, by id: rows related to another row (as FAB's,
    rows without a related row are not listed); a value that is not an id excludes
    nothing of them."""

    arg_name = None

    def apply(self, query, value):
        key = _foreign_key(self)
        if key is None:
            return super().apply(query, value)
        number = _typed_id(value)
        return query.filter(key != number if number is not None else key.is_not(None))


_ID_FILTERS = {FilterRelationOneToManyEqual: FilterRelationIdEqual,
               FilterRelationOneToManyNotEqual: FilterRelationIdNotEqual}

_LIST_FILTERS = (FilterIn, FilterNotIn)  # their value is a list of values
MAX_FILTER_VALUES = 1000
MAX_FILTER_NUMBER = Decimal(10) ** 15  # beyond every Numeric column (12 digits)


def _filter_value_error(label: str, problem: str):
    abort(400, description=f"The “{label}” filter {problem}")


def typed_filter_value(datamodel, column_name: str, value):
    """A list filter's value as its column can compare it, or a 400 naming the filter:
    one value (not a list or an object), an enumeration's own values, whole numbers
    within the column's range, finite numbers, yes or no for a boolean; a blank number
    is no value, as FAB reads it. Text columns compare text (a number is read as its
    digits). Dates are left to FAB's parser (unreadable: no condition)."""
    label = column_name.replace("_", " ")
    if isinstance(value, (list, dict, tuple)):
        _filter_value_error(label, "takes one value, not a list or an object.")
    column = datamodel.list_columns.get(column_name)
    column_type = getattr(column, "type", None)
    if value is None or column_type is None:
        return value
    if isinstance(column_type, sa.Boolean):  # FAB's filters read "y" as true
        text = str(value).strip().lower()
        if text in ("y", "yes", "true", "1"):
            return "y"
        if text in ("n", "no", "false", "0", ""):
            return False
        _filter_value_error(label, "takes y (yes) or n (no).")
    if isinstance(column_type, sa.Enum):
        if str(value) not in column_type.enums:
            _filter_value_error(label, f"is one of: {', '.join(column_type.enums)}.")
        return str(value)
    allowed = integer_range(column_type)
    if (allowed is not None or isinstance(column_type, sa.Numeric)) and str(value).strip() == "":
        return None
    if allowed is not None:
        text = str(value).strip()
        if isinstance(value, bool) or not (text.isascii() and text.lstrip("-").isdigit()) or int(text) not in allowed:
            _filter_value_error(label, "takes a whole number within its column's range.")
        return int(text)
    if isinstance(column_type, (sa.Numeric, sa.Float)):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            number = None
        if isinstance(value, bool) or number is None or not number.is_finite() or abs(number) >= MAX_FILTER_NUMBER:
            _filter_value_error(label, "takes a number.")
        return value
    if isinstance(column_type, sa.String) and not isinstance(value, str):
        return str(value)
    return value


class TypedValueFilter:
    """Mixed into each list filter of a plain column (``MemoizedFilterConverter``): the
    value is ``typed_filter_value`` before FAB's filter compares it, in the console's
    search forms and the API's rison filters alike (a list, an unknown enumeration
    value or a number beyond the column is a 400, not a database error)."""

    def apply(self, query, value):
        if isinstance(self, _LIST_FILTERS):
            values = value if isinstance(value, list) else [value]
            if len(values) > MAX_FILTER_VALUES:
                _filter_value_error(self.column_name.replace("_", " "), f"takes at most {MAX_FILTER_VALUES} values.")
            value = [typed_filter_value(self.datamodel, self.column_name, v) for v in values]
        else:
            value = typed_filter_value(self.datamodel, self.column_name, value)
        return super().apply(query, value)


_TYPED_FILTERS: dict = {}


def _typed_filter_class(cls):
    if issubclass(cls, TypedValueFilter):
        return cls
    if cls not in _TYPED_FILTERS:
        _TYPED_FILTERS[cls] = type(f"Typed{cls.__name__}", (TypedValueFilter, cls), {})
    return _TYPED_FILTERS[cls]


class TypedFilters(Filters):
    """FAB's active filters of a list, every filter added on a plain column typed
    (``TypedValueFilter``): the search form's (already typed by the converter) and the
    API's rison ``filters``, which FAB resolves through a process-wide table of operator
    names to whichever class registered the name last."""

    def add_filter(self, column_name, filter_class, value):
        if (not self.datamodel.is_relation(column_name)
                and not issubclass(filter_class, (FilterEqualFunction, FilterInFunction, FilterRelation))):
            filter_class = _typed_filter_class(filter_class)
        return super().add_filter(column_name, filter_class, value)


class MemoizedFilterConverter(SQLAFilterConverter):
    """FAB's filter converter, remembering per interface which filters a column gets,
    with many-to-one relations filtered by id (``FilterRelationIdEqual``).

    FAB builds a ``Filters`` object several times per list request (joined filters,
    inner filters for the count and for the page, ...) and each one converts every
    column of the model into filter instances (about 70 per ticket list). The answer
    depends only on the model and the column, and the filter instances hold no state
    (column name, interface, model), so each list is built once and copied.
    """

    def convert(self, col_name):
        cache = self.datamodel.__dict__.setdefault("_atrium_filter_cache", {})
        if col_name not in cache:
            filters = super().convert(col_name)
            if filters and self.datamodel.is_relation_many_to_one(col_name):
                filters = [_ID_FILTERS.get(type(f), type(f))(col_name, self.datamodel) for f in filters]
            elif filters and not self.datamodel.is_relation(col_name):
                filters = [f if isinstance(f, (FilterEqualFunction, FilterInFunction))  # computed values
                           else _typed_filter_class(type(f))(col_name, self.datamodel) for f in filters]
            cache[col_name] = filters
        filters = cache[col_name]
        return None if filters is None else list(filters)


# The columns the list page being built shows: set by ``AtriumModelView._get_list_widget``
# around FAB's list query (a context variable, so threads never see each other's).
_LIST_COLUMNS = contextvars.ContextVar("atrium_list_columns", default=None)


def list_load_options(model, columns) -> tuple:
    """SQLAlchemy loader options for a list page showing ``columns`` of ``model``.

    - ``rel.leaf`` of a many-to-one relation: joined in the same statement, with only
      the leaf column (and the key) of the related row, instead of a lazy load per row
      or a full related row;
    - a relation shown as such (``author``): joined in full (its ``str()`` is shown);
    - when every other column is a plain table column, only those columns (and the
      keys) of the model are loaded, and joined relations the page does not show are
      not joined. A computed property may read any column, so with one the model's
      columns are loaded in full.
    """
    mapper = sa.inspect(model)
    own, leaves, plain = [], {}, True  # leaves: relation -> its columns shown (None: the whole row)
    for name in columns:
        root, _, leaf = name.partition(".")
        rel = mapper.relationships.get(root)
        if rel is not None:
            if rel.uselist:
                plain = False
                continue
            own.extend(getattr(model, c.key) for c in rel.local_columns if c.key in mapper.column_attrs)
            shown = leaves.setdefault(root, [])
            if shown is not None and leaf and leaf in rel.mapper.column_attrs:
                shown.append(getattr(rel.mapper.class_, leaf))
            else:
                leaves[root] = None
        elif not leaf and root in mapper.column_attrs:
            own.append(getattr(model, root))
        else:
            plain = False
    options = []
    for root, shown in leaves.items():
        option = joinedload(getattr(model, root))
        options.append(option.load_only(*shown) if shown else option)
    if plain:
        if own:
            options.append(load_only(*own))
        options.extend(lazyload(getattr(model, rel.key)) for rel in mapper.relationships
                       if rel.key not in leaves and rel.lazy == "joined")
    return tuple(options)


class AtriumInterface(SQLAInterface):
    """FAB's SQLAlchemy interface; a domain error raised on flush (a tier limit, a
    membership rule) rolls the session back before FAB shows its message, so the page
    that follows is not rendered from a failed transaction.

    List pages load light rows (``list_load_options``): the page's columns only, with
    the related values it shows joined in the same statement.
    """

    filter_converter_class = MemoizedFilterConverter

    def get_filters(self, search_columns=None, search_filters=None):
        return TypedFilters(self.filter_converter_class, self, search_columns=search_columns or [],
                            search_filters=search_filters)

    def query(self, filters=None, order_column="", order_direction="", page=None, page_size=None,
              select_columns=None, outer_default_load=False):
        columns = _LIST_COLUMNS.get()
        if select_columns or not columns:
            return super().query(filters, order_column, order_direction, page, page_size, select_columns,
                                 outer_default_load)
        cache = self.__dict__.setdefault("_atrium_list_options", {})
        key = tuple(columns)
        if key not in cache:
            cache[key] = list_load_options(self.obj, key)
        count = self.query_count(self.session.query(self.obj), filters)
        query = self.apply_all(self.session.query(self.obj).options(*cache[key]), filters, order_column,
                               order_direction, page, page_size)
        return count, query.all()

    def get(self, id, filters=None, select_columns=None, outer_default_load=False):
        """No row has an id its primary-key column cannot hold (or that is not an
        integer): such an id is "not found" (404), not a database overflow (500)."""
        try:
            pk = int(id)
        except (TypeError, ValueError):
            return None
        if pk not in (integer_range(self.list_columns[self.get_pk_name()].type) or range(pk, pk + 1)):
            return None
        return super().get(pk, filters, select_columns, outer_default_load)

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


class AtriumSearchWidget(SearchWidget):
    """FAB's search (filter) widget, with the input of each filterable column rendered
    once per process instead of on every list request.

    The inputs are rendered from an empty search form, so they are the same on every
    request (the active filters' values travel separately, as JSON), except:

    - an input whose default is computed (a timestamp column's default is "now"): its
      markup is kept with a placeholder where the value goes, and the value of this
      request's form is put in (escaped as WTForms escapes it);
    - a relation's drop-down: its options come from the database, rendered each time.
    """

    _VALUE = "\x00atrium-value\x00"

    def __call__(self, **kwargs):
        form, dict_filters = self.template_args["form"], self.filters.get_search_filters()
        locale = request.args.get("_l_") or session.get("locale")  # what FAB's locale selector reads
        # Kept on the view's search form class: it lives as long as the view.
        cache = type(form).__dict__.get("_atrium_search_inputs")
        if cache is None:
            cache = {}
            type(form)._atrium_search_inputs = cache
        label_columns, form_fields, search_filters = {}, {}, {}
        for col in self.template_args["include_cols"]:
            key = (col, locale)
            cached = cache.get(key)
            field = form[col]
            if cached is None:
                # Labels and filter names are lazy translations: resolved once here.
                cached = (str(field.label.text), self._markup(field), [str(flt.name) for flt in dict_filters[col]])
                if cached[1] is not None:
                    cache[key] = cached
            label, markup, names = cached
            if markup is None:
                markup = field()
            elif self._VALUE in markup:
                markup = Markup(markup.replace(self._VALUE, escape(field._value())))
            label_columns[col], form_fields[col], search_filters[col] = label, markup, names
        kwargs.update(label_columns=label_columns, form_fields=form_fields, search_filters=search_filters,
                      active_filters=self.filters.get_filters_values_tojson())
        return super(SearchWidget, self).__call__(**kwargs)

    def _markup(self, field):
        """The field's markup to keep (``None``: render it every time)."""
        if isinstance(field, QuerySelectField):
            return None
        html = field()
        if not callable(field.default):
            return html
        value = f'value="{escape(field._value())}"'
        if html.count(value) != 1 or self._VALUE in html:
            return None
        return html.replace(value, f'value="{self._VALUE}"')


# Relations whose target is a lookup list small enough for a drop-down of every row in a
# search form. Every other relation (tickets, projects, domains, campaigns, monitors,
# incidents, users, ...) grows with the data: its filter takes the record's id instead
# of a <select> of the whole table.
DROPDOWN_LOOKUPS = frozenset({"Client"})


class IdInputWidget(TextInput):
    """A text input for a record's id, styled as FAB's inputs ("Ticket id (#)")."""

    def __call__(self, field, **kwargs):
        kwargs["class"] = "form-control"
        kwargs.setdefault("placeholder", f"{field.label.text} id (#)")
        kwargs.setdefault("inputmode", "numeric")
        return super().__call__(field, **kwargs)


def _id_search_fields(model, search_columns, existing, labels) -> dict:
    mapper = sa.inspect(model)
    fields = {}
    for name in search_columns or []:
        rel = mapper.relationships.get(name)
        if (rel is None or rel.uselist or name in (existing or {})
                or rel.mapper.class_.__name__ in DROPDOWN_LOOKUPS):
            continue
        fields[name] = IntegerField(str(labels.get(name) or _label(name)), validators=[Optional()],
                                    widget=IdInputWidget())
    return fields


def _export_value(value, formatter):
    """A list cell's value for an export: the list's own formatter when it gives plain
    text (a size in words, overrides in words); the raw value for times (exported as
    ISO 8601), and where the list shows markup (a link or a button)."""
    if formatter is None or isinstance(value, (dt.date, dt.datetime)):
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
    from flask import g

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
        from app.extensions import db

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
    label = str(labels.get(field, field.replace("_", " ").capitalize())) if field else None
    if "unique" in lowered or "duplicate" in lowered:
        message = f"{label}: another record already has this value." if label else \
            "Another record already has the same values; change one of them."
    elif "foreign key" in lowered:
        message = f"{label}: the chosen record does not exist any more." if label else \
            "A chosen record does not exist any more, or other records still depend on this one."
    elif "not null" in lowered or "null value" in lowered:
        message = f"{label}: this field is required." if label else "A required field is missing."
    elif "check" in lowered:
        message = f"{label}: the value is outside its allowed range." if label else \
            "A value is outside its allowed range."
    else:
        message = "The change conflicts with existing data; nothing was written."
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


class AtriumModelView(ModelView):
    """Base for every staff model view."""

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
        from sqlalchemy.exc import IntegrityError, SQLAlchemyError

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
            self._refuse_on_form(form, None, "The change could not be saved; nothing was written. "
                                             "Check the values (numbers within range).")
            return False
        g.atrium_saved_pk = self.datamodel.get_pk_value(item)
        flash(self.add_row_message if is_add else self.edit_row_message, "success")
        return True

    def _refusal_text(self, exc, item) -> str:
        """The refusal's message; for staff, a plan limit also says the way past it (the
        client's limit override, with the address of the client's edit page)."""
        from app.services import tenancy

        message = exc.message
        if isinstance(exc, tiers.LimitReached) and tenancy.current_scope().is_staff:
            client_id = getattr(item, "client_id", None) or getattr(getattr(item, "client", None), "id", None)
            where = ""
            if client_id is not None and "ClientView.edit" in current_app.view_functions:
                where = f" ({url_for('ClientView.edit', pk=client_id)})"
            message += (" As staff you can let this client past it: set a limit override on the client's "
                        f"page{where}, field Limit overrides.")
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
        token = _LIST_COLUMNS.set(self.list_columns)
        try:
            return super()._get_list_widget(filters, **kwargs)
        finally:
            _LIST_COLUMNS.reset(token)

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
        client's rows); cells by ``services.audit.csv_cell`` (secrets masked, formulas
        neutralised); recorded as an audit event before the first row is sent."""
        from app.services import audit, tenancy

        columns = list(self.export_columns or self.list_columns)
        order_column, order_direction = get_order_args().get(self.__class__.__name__) or ("", "")
        if order_column not in (self.order_columns or []) or order_direction not in ("asc", "desc"):
            order_column, order_direction = self.base_order or ("", "")
        get_filter_args(self._filters)
        filters = self._filters.get_joined_filters(self._base_filters)
        datamodel = self.datamodel
        count = datamodel.query_count(datamodel.session.query(datamodel.obj), filters)
        audit.record_export(
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
                yield [audit.csv_cell(c, _export_value(v, formatters.get(c))) for c, v in zip(columns, values)]

        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
        name = re.sub(r"[^a-z0-9]+", "-", str(self.list_title or self.__class__.__name__).lower()).strip("-")
        return Response(stream_with_context(audit.csv_stream(header, rows())), mimetype="text/csv",
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
            return jsonify({"error": "You may not change these records."}), 403
        try:
            page = int(request.args.get("page") or 1)
        except ValueError:
            page = 0
        if not 1 <= page <= 10_000:
            return jsonify({"error": "page must be a whole number from 1."}), 400
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
                cls._form_fields(inherited.obj, cls.validators_columns or {})
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
        _bound_numbers(model, list(getattr(cls, "add_columns", None) or []) + list(getattr(cls, "edit_columns", None)
                                                                                  or []), validators)
        cls.validators_columns = validators
        search_extra = dict(getattr(cls, "search_form_extra_fields", None) or {})
        search_extra.update(_id_search_fields(model, getattr(cls, "search_columns", None), search_extra,
                                             getattr(cls, "label_columns", None) or {}))
        cls.search_form_extra_fields = search_extra or None
        cls._form_fields(model, validators)

    @classmethod
    def _form_fields(cls, model, validators) -> None:
        """The add/edit form fields Atrium builds: ``_generated_fields`` and a searched
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
            extra.update(_generated_fields(model, columns, extra, validators))
            pickers = relation_picker.picker_fields(
                cls, model, form, getattr(cls, columns_attr, None), extra, lookups=DROPDOWN_LOOKUPS,
                validators=validators, labels=getattr(cls, "label_columns", None) or {},
                descriptions=getattr(cls, "description_columns", None) or {},
                rel_filters=getattr(cls, f"{form}_form_query_rel_fields", None),
                search_columns=cls.picker_search_columns)
            extra.update(pickers)
            cls._pickers.update({(form, name): field.kwargs["spec"] for name, field in pickers.items()})
            setattr(cls, extra_attr, extra)
