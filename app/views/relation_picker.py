"""Searched pickers for the many-to-one relations of add/edit forms.

Flask-AppBuilder renders a relation of a form as a ``<select>`` of every row of the
related table (``QuerySelectField``): 200,000 ``<option>``s for the "Ticket" of a ticket
message. Here a relation to a growing table (anything not in ``base.DROPDOWN_LOOKUPS``)
is instead:

- a ``SearchedRelationField``: a ``<select>`` holding only the chosen row (edit form, or
  a form shown again after a validation error), initialised by
  ``static/relation_picker.js`` as a Select2 that asks the view's ``picker`` endpoint;
  on submit only the chosen row is loaded, by id (``db.session.get``, scoped to the
  tenant by the session itself, ``app.tenancy.guard``). An id that is not a number,
  does not exist, is not visible or does not satisfy the view's
  ``add_form_query_rel_fields`` / ``edit_form_query_rel_fields`` is a message on the
  field;
- answered by ``search_choices``: 20 rows per page, by exact id (a number, or ``#123``)
  and by a case-insensitive substring of the related model's text columns
  (``PickerSpec.text_columns``), one statement with a LIMIT whatever the table's size.

``AtriumModelView.__init_subclass__`` builds the fields (``picker_fields``) and the
view's ``picker`` endpoint serves them: one mechanism for every view. No rule lives
here: permissions are the view's, tenancy the session's.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field

import sqlalchemy as sa
from flask import url_for
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy.orm import joinedload
from wtforms import Field
from wtforms.validators import DataRequired, Optional, StopValidation

from app.extensions import db
from app.models import User
from app import tenancy
from app.tenancy import staff_users_condition
from app.views.interface import AtriumInterface, like_pattern
from app.views.labels import column_label

PAGE_SIZE = 20
_MAX_ID = 2**31 - 1  # an INTEGER key

# Columns a person recognises a related record by, in this order (the first one present
# orders the results); a model's own are those of its string columns named here.
TEXT_COLUMN_NAMES = ("name", "subject", "title", "username", "first_name", "last_name", "email", "url",
                     "path", "file_name")
# Records that pile up over time: the most recent first (a new ticket message is most
# likely about a recent ticket), not alphabetically.
NEWEST_FIRST = frozenset({"Ticket", "Incident"})


@dataclass(frozen=True)
class PickerSpec:
    """One relation of one form of one view, as its picker needs it."""

    view_endpoint: str
    form: str  # "add" or "edit"
    column: str  # the relationship's name on the view's model
    model: type  # the related model
    label: str  # a lazy translation: read in the page's language
    nullable: bool
    text_columns: tuple[str, ...]
    rel_filters: tuple = dataclass_field(default=())  # FAB's [[column, FilterClass, value], ...]

    def url(self) -> str:
        return url_for(f"{self.view_endpoint}.picker", column=self.column, form=self.form)

    def placeholder(self) -> str:
        words = ", ".join(str(column_label(c)).lower() for c in self.text_columns[:2])
        return _("Search by %(columns)s or #id", columns=words) if words else _("Search by #id")

    def filters(self):
        """The view's ``*_form_query_rel_fields`` for this relation as FAB ``Filters``
        over the related model (``None`` when there are none)."""
        if not self.rel_filters:
            return None
        return AtriumInterface(self.model).get_filters().add_filter_list([list(f) for f in self.rel_filters])


def default_text_columns(model) -> tuple[str, ...]:
    columns = model.__table__.columns
    return tuple(name for name in TEXT_COLUMN_NAMES
                 if name in columns and isinstance(columns[name].type, sa.String))


def typed_id(text: str) -> int | None:
    """A record id as a person types it ("42", "#42"); ``None`` if it is not one."""
    text = (text or "").strip().removeprefix("#").strip()
    if not text.isascii() or not text.isdigit():
        return None
    number = int(text)
    return number if 1 <= number <= _MAX_ID else None


# Relations to a user that only staff make sense for (the person handling a ticket): their
# pickers offer staff users only, and ``services.lifecycle`` refuses anyone else on flush.
STAFF_USER_RELATIONS = frozenset({"assignee"})


def _staff_users_only(spec: PickerSpec) -> bool:
    return spec.model.__name__ == "User" and spec.column in STAFF_USER_RELATIONS


def _filtered_query(session, spec: PickerSpec, client_id: int | None = None):
    query = session.query(spec.model)
    if _staff_users_only(spec):
        query = query.filter(staff_users_condition(User))
    if client_id is not None and "client_id" in spec.model.__table__.columns:
        query = query.filter(spec.model.client_id == client_id)  # the record's client
    filters = spec.filters()
    return filters.apply_all(query) if filters is not None else query


def choice_text(row) -> str:
    """A choice as a picker shows it: for staff, a client's row names its client
    ("Customer app — Pro Co"): names repeat across clients."""
    text = str(row)
    client_id = getattr(row, "client_id", None) if "client_id" in getattr(row, "__table__", sa.table("x")).c \
        else None
    if client_id is None:
        return text

    if not tenancy.current_scope().is_staff:
        return text
    client = getattr(row, "client", None)
    return f"{text} — {client.name}" if client is not None else text


def search_choices(session, spec: PickerSpec, text: str, page: int, client_id: int | None = None) -> tuple[list, bool]:
    """Page ``page`` (from 1) of the rows ``text`` finds, and whether more follow.

    A number (or ``#number``) finds the row with that id first, then rows whose text
    columns contain it; other text, rows whose text columns contain it (ignoring case);
    nothing typed, every row. One statement, ``PAGE_SIZE + 1`` rows at most.
    """
    model = spec.model
    key = sa.inspect(model).primary_key[0]
    query = _filtered_query(session, spec, client_id)
    if "client" in sa.inspect(model).relationships.keys():
        query = query.options(joinedload(getattr(model, "client")))  # named next to each choice
    text = (text or "").strip()
    number = typed_id(text)
    order = []
    if text:
        conditions = []
        if not text.startswith("#"):
            pattern = like_pattern(text)
            conditions = [getattr(model, c).ilike(pattern, escape="\\") for c in spec.text_columns]
        if number is not None:
            conditions.append(key == number)
            order.append(sa.case((key == number, 0), else_=1))
        query = query.filter(sa.or_(*conditions) if conditions else sa.false())
    if model.__name__ in NEWEST_FIRST or not spec.text_columns:
        order.append(key.desc())
    else:
        order.extend([getattr(model, spec.text_columns[0]), key])
    rows = query.order_by(*order).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1).all()
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


def load_choice(session, spec: PickerSpec, number: int):
    """The row chosen by id, if this user may see it and the view's filters admit it."""
    if spec.rel_filters or _staff_users_only(spec):
        key = sa.inspect(spec.model).primary_key[0]
        return _filtered_query(session, spec).filter(key == number).one_or_none()
    # Always asked of the database (not the identity map, which may hold a row this
    # request read for another purpose): the session's tenant scope applies to the query.
    return session.get(spec.model, number, populate_existing=True)


class RelationPickerWidget:
    """A ``<select>`` with only the chosen option; ``relation_picker.js`` makes it a
    Select2 searching ``data-picker-url`` (not FAB's ``my_select2``, which ab.js would
    initialise without the search)."""

    def __call__(self, field, **kwargs):
        spec = field.spec
        url = spec.url()
        narrowed = getattr(field, "client_id", None)
        if narrowed is not None and "client_id" in spec.model.__table__.columns:
            url += f"&client={int(narrowed)}"
        attrs = {"id": kwargs.pop("id", field.id), "name": field.name, "class": "form-control atrium-relation-picker",
                 "data-picker-url": url, "data-placeholder": spec.placeholder(),
                 "data-allow-clear": "true" if spec.nullable else "false"}
        if field.flags.required:
            attrs["required"] = "required"
        html = [Markup("<select {}>").format(Markup(" ").join(
            Markup('{}="{}"').format(k, v) for k, v in attrs.items())), Markup('<option value=""></option>')]
        chosen = field.data
        if chosen is not None:
            html.append(Markup('<option value="{}" selected>{}</option>').format(
                sa.inspect(chosen).identity[0], choice_text(chosen)))
        html.append(Markup("</select>"))
        return Markup("").join(html)


class SearchedRelationField(Field):
    """A many-to-one relation chosen by a searched picker; ``data`` is the related row."""

    widget = RelationPickerWidget()

    def __init__(self, label=None, validators=None, *, spec: PickerSpec, **kwargs):
        super().__init__(label, validators, **kwargs)
        self.spec = spec
        self._problem = None

    def process_formdata(self, valuelist):
        # Absent from the post (a related view's add form hides the relation it is
        # filtered by and FAB fills it in): keep what the form already holds.
        self._problem = None
        if not valuelist:
            return
        text = (valuelist[0] or "").strip()
        if not text:
            self.data = None
            return

        number = typed_id(text)
        self.data = load_choice(db.session, self.spec, number) if number is not None else None
        if self.data is None:
            shown = text if len(text) <= 40 else text[:40] + "…"
            self._problem = _("There is no %(label)s “%(value)s” you can choose here: search for it and pick "
                              "it from the list.", label=str(self.spec.label).lower(), value=shown)

    def pre_validate(self, form):
        if self._problem:
            raise StopValidation(self._problem)

    def _value(self):
        if self.data is not None:
            return str(sa.inspect(self.data).identity[0])
        return self.raw_data[0] if self.raw_data else ""


def picker_fields(view_cls, model, form: str, columns, existing, *, lookups, validators, labels, descriptions,
                  rel_filters, search_columns) -> dict:
    """``SearchedRelationField``s for the many-to-one relations among ``columns`` whose
    related model is not in ``lookups`` (small lists keep FAB's drop-down), leaving out
    the names in ``existing`` (fields a view builds itself)."""
    mapper = sa.inspect(model)
    endpoint = view_cls.__dict__.get("endpoint") or view_cls.__name__
    fields = {}
    for name in columns or []:
        rel = mapper.relationships.get(name)
        if (rel is None or rel.direction.name != "MANYTOONE" or name in existing
                or rel.mapper.class_.__name__ in lookups):
            continue
        target = rel.mapper.class_
        nullable = all(column.nullable for column in rel.local_columns)
        label = labels.get(name) or column_label(name)
        spec = PickerSpec(view_endpoint=endpoint, form=form, column=name, model=target, label=label,
                          nullable=nullable,
                          text_columns=tuple(search_columns.get(name) or default_text_columns(target)),
                          rel_filters=tuple(tuple(f) for f in (rel_filters or {}).get(name, ())))
        fields[name] = SearchedRelationField(
            label, [*validators.get(name, []), Optional() if nullable else DataRequired()],
            description=descriptions.get(name, ""), spec=spec)
    return fields


def is_picker(unbound) -> bool:
    return getattr(unbound, "field_class", None) is SearchedRelationField
