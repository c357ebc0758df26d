"""The base classes every Atrium model view derives from.

- Permissions: each view names its resource (``class_permission_name``) and maps every
  method to ``read`` or ``write``, so ``app.security.roles`` governs views and APIs alike.
- Tenancy: ``base_filters`` are derived from ``services.tenancy.current_scope()``
  (staff see every client; later issues close FAB's remaining gaps here, once).
- Validation: ``service_validator`` wraps a ``services.validation`` rule as a WTForms
  validator, so the message a person reads comes from the service.
- JSON list columns (DNS records, nameservers, tags) are edited as JSON text.
"""

from __future__ import annotations

import json

from flask_appbuilder import ModelView
from flask_appbuilder.fieldwidgets import BS3TextAreaFieldWidget
import sqlalchemy as sa
from flask_appbuilder.fieldwidgets import Select2Widget
from wtforms import BooleanField, SelectField, TextAreaField, ValidationError
from wtforms.validators import InputRequired, Optional

from app.services.errors import InvalidInput

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
        if field.data is not None and other is not None and field.data < other:
            raise ValidationError(f"{label} cannot be before {other_label}.")

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


class AtriumModelView(ModelView):
    """Base for every staff model view."""

    method_permission_name = METHOD_PERMISSIONS
    page_size = 25

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        datamodel = cls.__dict__.get("datamodel")
        if datamodel is None:
            return
        model = datamodel.obj
        for columns_attr, extra_attr in (("add_columns", "add_form_extra_fields"),
                                         ("edit_columns", "edit_form_extra_fields")):
            extra = dict(getattr(cls, extra_attr, None) or {})
            extra.update(_generated_fields(model, getattr(cls, columns_attr, None), extra))
            setattr(cls, extra_attr, extra)
