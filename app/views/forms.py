"""Form building blocks of the model views (``app.views.base``): validators that wrap
``services.validation`` rules (``service_validator``), JSON list fields, contact fields,
the client limit overrides field, messages that may quote the input
(``LiteralErrorsForm``), unique-together checks, UTC date-time fields shown in the
viewer's time zone, and the generated fields bounded by their column's type."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app, has_app_context, has_request_context, request, session
from flask_babel import gettext as _, lazy_gettext as _l
from flask_appbuilder.fieldwidgets import (
    BS3TextAreaFieldWidget,
    BS3TextFieldWidget,
    DateTimePickerWidget,
    Select2Widget,
)
from flask_babel.speaklater import LazyString
from markupsafe import Markup
from wtforms import BooleanField, Field, SelectField, StringField, TextAreaField, ValidationError
from wtforms.utils import unset_value
from wtforms.validators import InputRequired, Optional
from wtforms.widgets import html_params

from app import i18n
from app.errors import InvalidInput
from app.extensions import db
from app.models import LABELS, Client, value_labels
from app.models.base import UTCDateTime, number_bounds
from app.services import preferences, tiers, validation
from app import tenancy
from app.views.labels import column_label


def service_validator(rule, **kwargs):
    """A WTForms validator calling a ``services.validation`` rule (``validation.checker``)."""
    check = validation.checker(rule, ValidationError, skip_blank=True, **kwargs)
    return lambda form, field: check(field.data)


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
            raise ValueError(_("Not valid JSON: %(problem)s (line %(line)d, column %(column)d).",
                               problem=exc.msg, line=exc.lineno, column=exc.colno)) from None


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

    return {"contact_name": field(_l("Contact name"), validation.contact_name,
                                  _l("Who the client talks to about this.")),
            "contact_email": field(_l("Contact email"), validation.email, _l("e.g. ana@example.com")),
            "contact_phone": field(_l("Contact phone"), validation.phone, _l("e.g. +55 11 91234-5678"))}


# The inputs of ``LimitOverridesField``: (resource of ``tiers.LIMITED_RESOURCES``, label, unit).
LIMIT_INPUTS = (("projects", _l("Projects"), 1), ("domains", _l("Domains"), 1), ("team_members", _l("Team members"), 1),
                ("tickets_per_month", _l("Tickets per month"), 1), ("storage_bytes", _l("Storage (GB)"), tiers.GB))
_WHOLE = re.compile(r"^\d+$")


def format_limit_overrides(value) -> str:
    """An override document in words: ``Projects: 2 · Storage (GB): 10``; empty: plan limits."""
    if not value:
        return _("None (the plan's limits apply)")
    parts = []
    for key, label, unit in LIMIT_INPUTS:
        if key in value:
            parts.append(f"{label}: {_limit_text(value[key], unit)}")
    return " · ".join(parts)


def _limit_text(limit, unit) -> str:
    """A stored limit in words, whatever is stored (a page showing it never fails): a
    number of GB to three decimals for storage, or the stored value as it is."""
    if limit is None:
        return _("unlimited")
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
                   'placeholder="{placeholder}"></div>')

    def __call__(self, field, **kwargs):
        inputs = Markup("").join(self.INPUT.format(name=f"{field.name}-{key}", label=label, value=field.text_for(key),
                                                   placeholder=_("plan limit"))
                                 for key, label, _unit in LIMIT_INPUTS)
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
            f"{self.name}-{key}" in formdata for key, _label, _unit in LIMIT_INPUTS)
        if self.submitted:
            self.typed = {key: (formdata.get(f"{self.name}-{key}") or "").strip()
                          for key, _label, _unit in LIMIT_INPUTS}

    def text_for(self, key: str) -> str:
        if self.submitted:
            return self.typed.get(key, "")
        document = self.data or {}
        unit = next(u for k, _label, u in LIMIT_INPUTS if k == key)
        return _limit_text(document[key], unit) if key in document else ""

    def pre_validate(self, form):
        if not self.submitted:
            return
        document, problems = {}, []
        for key, label, unit in LIMIT_INPUTS:
            text = self.typed.get(key, "")
            if not text:
                continue
            if text.lower() in ("unlimited", _("unlimited").lower()):  # as shown, in English too
                document[key] = None
                continue
            try:
                number = Decimal(text) if unit != 1 or _WHOLE.match(text) else None
            except InvalidOperation:
                number = None
            if number is None or not number.is_finite() or number < 0:
                problems.append(
                    _("%(label)s: enter a number of GB (0 or more), “unlimited”, or leave it empty for the "
                      "plan's limit.", label=label) if unit != 1 else
                    _("%(label)s: enter a whole number (0 or more), “unlimited”, or leave it empty for the "
                      "plan's limit.", label=label))
                continue
            most = tiers.MAX_OVERRIDES[key]
            if number > Decimal(most) / unit:  # compared before multiplying: 1e999999 stays cheap
                problems.append(_("%(label)s: at most %(most)s, or “unlimited”.", label=label,
                                  most=_limit_text(most, unit)))
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
            names = [str(column_label(_form_name(self.model, c))).lower() for c in self.columns]
            if len(names) == 2:
                raise ValidationError(_("Another record already has this %(first)s and %(second)s.",
                                        first=names[0], second=names[1]))
            raise ValidationError(_("Another record already has these values: %(fields)s.",
                                    fields=", ".join(names)))


def _form_name(model, column) -> str:
    """The form field of a column: its relationship's name for a foreign key."""
    for rel in sa.inspect(model).relationships:
        if rel.direction.name == "MANYTOONE" and column in rel.local_columns:
            return rel.key
    return column.key


def unique_together_validators(model, columns) -> dict:
    shown = set(columns or [])
    result = {}
    for constraint in model.__table__.constraints:
        if isinstance(constraint, sa.UniqueConstraint) and len(constraint.columns) > 1:
            cols = list(constraint.columns)
            target = next((_form_name(model, c) for c in reversed(cols) if _form_name(model, c) in shown), None)
            if target:
                result.setdefault(target, []).append(UniqueTogether(model, cols))
    return result


def format_time(value) -> str:
    """A stored (UTC) time in the viewer's timezone (``viewer_timezone``), to the minute,
    with the zone: ``2026-12-07 14:30 UTC``, ``2026-12-07 11:30 (UTC-03:00)``."""
    if value is None:
        return ""
    zone, code = _viewer_zone_and_language()
    local = value.astimezone(zone)
    # The day in the locale's format (``i18n.date``: 2026-12-07 in English, 07/12/2026
    # in pt-BR), then the 24-hour time and the zone, the same in every language.
    day = i18n.formatted_date(code, local.date()) if code else local.strftime("%Y-%m-%d")
    if zone is dt.UTC:
        return f"{day} {local:%H:%M} UTC"
    offset = local.utcoffset() or dt.timedelta(0)
    sign, minutes = ("-" if offset < dt.timedelta(0) else "+"), abs(int(offset.total_seconds())) // 60
    return f"{day} {local:%H:%M} (UTC{sign}{minutes // 60:02d}:{minutes % 60:02d})"


def _viewer_zone_and_language():
    """(zone, language code or None outside an app) for this request, looked up once: a
    list formats two times a row, and each lookup goes through the session and Babel."""
    if not has_request_context():
        return viewer_timezone(), (i18n.language() if has_app_context() else None)
    found = request.environ.get("atrium.zone_language")
    if found is None:
        found = request.environ["atrium.zone_language"] = (viewer_timezone(), i18n.language())
    return found


def format_date(value) -> str:
    """A calendar date (a ``Date`` column) in the locale's format (``i18n.date``):
    ``2026-12-07`` in English, ``07/12/2026`` in pt-BR. An export keeps the ISO date."""
    if value is None:
        return ""
    return i18n.date(value) if has_app_context() else value.isoformat()


def bound_numbers(model, columns, validators) -> None:
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


# Stored values in words (beyond the ticket ones, ``models.LABELS``): every value of the
# models' enumerations but those shown as written (GET, A+). Lazy translations, read in
# the language of the page; an export keeps the stored value (``display_only``).
VALUE_WORDS = {
    "google_ads": _l("Google Ads"), "meta_ads": _l("Meta Ads"), "linkedin_ads": _l("LinkedIn Ads"),
    "tiktok_ads": _l("TikTok Ads"), "ok": _l("OK"), "cdn": _l("CDN"), "ssl": _l("SSL"),
    # states and statuses
    "active": _l("Active"), "paused": _l("Paused"), "ended": _l("Ended"), "suspended": _l("Suspended"),
    "churned": _l("Churned"), "trialing": _l("Trialing"), "past_due": _l("Past due"), "canceled": _l("Canceled"),
    "expired": _l("Expired"), "pending": _l("Pending"), "none": _l("None"), "up": _l("Up"), "down": _l("Down"),
    "unknown": _l("Unknown"), "investigating": _l("Investigating"), "identified": _l("Identified"),
    "monitoring": _l("Monitoring"), "resolved": _l("Resolved"), "queued": _l("Queued"), "running": _l("Running"),
    "done": _l("Done"), "failed": _l("Failed"), "succeeded": _l("Succeeded"), "sent": _l("Sent"),
    "discovery": _l("Discovery"), "development": _l("Development"), "testing": _l("Testing"),
    "staging": _l("Staging"), "live": _l("Live"), "maintenance": _l("Maintenance"), "online": _l("Online"),
    "offline": _l("Offline"),
    # severities (a ticket's priorities are ``models.LABELS``)
    "low": _l("Low"), "medium": _l("Medium"), "high": _l("High"), "critical": _l("Critical"),
    # plans and roles
    "free": _l("Free"), "basic": _l("Basic"), "pro": _l("Pro"), "enterprise": _l("Enterprise"),
    "owner": _l("Owner"), "admin": _l("Admin"), "member": _l("Member"), "viewer": _l("Viewer"),
    # where things come from, and sessions
    "manual": _l("Manual"), "monitor": _l("Monitor"), "read-only": _l("Read-only"), "full": _l("Full"),
    "logout": _l("Logout"), "sign-in": _l("Sign-in"), "view-as": _l("View-as"),
    "view-as ended": _l("View-as ended"), "password changed": _l("Password changed"),
    "deactivated": _l("Deactivated"), "sign-in ended": _l("Sign-in ended"),
}


def display_only(formatter):
    """Mark a list formatter as words for the screen: a CSV export keeps the raw value."""
    formatter.display_only = True
    return formatter


def shown_value(value):
    """A list cell as a person reads it: "—" for nothing, ✓ / ✗ for yes and no, numbers
    with two decimals grouped in the page's locale (``i18n.number``: 1,234.56 in English,
    1.234,56 in pt-BR); words in the page's language; anything else as it is."""
    if isinstance(value, LazyString):  # first: comparing a lazy string translates it
        return i18n.text(value)
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, (Decimal, float)):
        if not has_request_context() or not Decimal(value).is_finite():  # NaN, infinity: as Python writes them
            return f"{value:,.2f}"
        return i18n.number(value, 2)  # grouped in the locale: 1,234.56 / 1.234,56
    return value


def enum_words(values):
    """The list formatter of an enum column: each stored value as a word ("Waiting on
    client", "Google Ads", "In progress"), "—" for none."""
    labels = value_labels(values)

    def words(value):
        return "—" if value is None else value_words(value, labels)

    return display_only(words)


def value_words(value, labels=None):
    """A stored value as a person reads it: its word in ``labels`` (the column's,
    ``models.value_labels``) or ``VALUE_WORDS`` (lazy, in the page's language), upper-case
    values as written (GET, A+), anything else capitalised ("Waiting on client")."""
    for table in (labels or {}, VALUE_WORDS, LABELS):  # ``is not None``: a lazy word's truth translates it
        word = table.get(value)
        if word is not None:
            return word
    text = str(value)
    return text if text.isupper() else text.replace("_", " ").capitalize()


STAFF_TIMEZONE_KEY = "atrium_tz"  # the signed session cookie: a staff member's zone, as saved


def remember_staff_timezone(user) -> None:
    """At sign-in: a staff member's chosen zone into the session cookie (one statement
    then, none on each page after)."""
    if tenancy.is_staff_user(user):
        session[STAFF_TIMEZONE_KEY] = _chosen_zone(user.id)


def _chosen_zone(user_id: int) -> str:
    return preferences.saved_timezone(db.session, user_id)


def viewer_client():
    """The signed-in client user's client, as the pages need it (timezone, plan, name,
    brand), read once per request; ``None`` for staff and outside requests."""
    if not has_request_context():
        return None
    try:
        scope = tenancy.current_scope()
    except Exception:  # noqa: BLE001 - no scope here
        return None
    if not scope.is_client or scope.client_id is None:
        return None
    cached = request.environ.get("atrium.viewer_client")  # this request's (``g`` can outlive one: tests, CLI)
    if cached is None or cached[0] != scope.client_id:
        row = db.session.execute(sa.select(
            Client.id, Client.timezone, Client.tier, Client.name, Client.brand_primary_color, Client.brand_logo_path,
            Client.language)
            .where(Client.id == scope.client_id)).one_or_none()
        cached = request.environ["atrium.viewer_client"] = (scope.client_id, row)
    return cached[1]


def viewer_timezone():
    """The timezone times are shown and typed in: the client's (``Client.timezone``) for a
    client user; for staff their own (``UserPreference``, "My settings"), UTC until they
    choose one. A staff member's zone rides in the signed session cookie once read, so
    their pages cost no statement for it; a client's is read with ``viewer_client``."""
    if not has_request_context():
        return dt.UTC
    try:
        scope = tenancy.current_scope()
        name = None
        if scope.is_client:
            client = viewer_client()
            name = client.timezone if client is not None else None
        elif scope.is_staff and scope.user_id is not None:
            name = session.get(STAFF_TIMEZONE_KEY)
            if name is None:
                name = session[STAFF_TIMEZONE_KEY] = _chosen_zone(scope.user_id)
        return ZoneInfo(name) if name and name != "UTC" else dt.UTC
    except Exception:  # noqa: BLE001 - an unknown zone name, no signed-in user: UTC
        return dt.UTC


class _TimePickerWidget:
    """FAB's date-time picker, showing the field's ``_value()`` (FAB's shows ``data``)."""

    def __call__(self, field, **kwargs):
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
        raise ValueError(_("%(value)s is not a time: write it as YYYY-MM-DD HH:MM (seconds optional).",
                           value=repr(text)))

    def populate_obj(self, obj, name):
        current = getattr(obj, name, None)
        if isinstance(current, dt.datetime) and isinstance(self.data, dt.datetime):
            stored = current if current.tzinfo else current.replace(tzinfo=dt.UTC)
            if stored.replace(microsecond=0) == self.data:
                return  # unchanged as shown: the stored value stays
        setattr(obj, name, self.data)


def generated_fields(model, columns, existing, validators=None) -> dict:
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
                column_label(name), validators=[InputRequired() if required else Optional(),
                                                         *(validators or {}).get(name, [])])
        elif isinstance(column.type, sa.Boolean):
            fields[name] = BooleanField(column_label(name))
        elif isinstance(column.type, sa.Enum):
            labels = value_labels(column.type.enums)
            choices = [(v, value_words(v, labels)) for v in column.type.enums]
            if column.nullable:
                fields[name] = SelectField(column_label(name), choices=[("", "—"), *choices],
                                           validators=[Optional()], filters=[lambda v: v or None],
                                           widget=Select2Widget())
            else:
                fields[name] = SelectField(column_label(name), choices=choices, validators=[InputRequired()],
                                           widget=Select2Widget(), default=_default(column))
    return fields


def _default(column):
    default = column.default.arg if column.default is not None else None
    return None if callable(default) else default



def safe_return(url: str | None) -> str:
    """A local path to come back to: a path of this site (a full URL of this host, as a
    browser's Referer gives it, is cut to its path); anything else goes to the index."""
    if url:
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.netloc == request.host:
            url = parts.path + (f"?{parts.query}" if parts.query else "")
        if url.startswith("/") and not url.startswith("//") and "\\" not in url:
            return url
    return current_app.appbuilder.get_url_for_index
