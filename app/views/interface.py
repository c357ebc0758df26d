"""The data interface of the model views: FAB's SQLAlchemy interface with list filters
that read their value as the column's type (``TypedFilters``, a 400 otherwise), relation
filters by the related record's id, filters built once (``MemoizedFilterConverter``),
light list rows (``list_load_options``) and domain errors rolled back on flush
(``AtriumInterface``)."""

from __future__ import annotations

import contextvars
from decimal import Decimal, InvalidOperation


from flask import abort, current_app
from flask_babel import gettext as _
from flask_appbuilder.models.filters import Filters
from flask_appbuilder.models.sqla.filters import (
    FilterEqualFunction, FilterIn, FilterInFunction, FilterNotIn, FilterRelation, FilterRelationOneToManyEqual,
    FilterRelationOneToManyNotEqual, SQLAFilterConverter,
)
from flask_appbuilder.models.sqla.interface import SQLAInterface
import sqlalchemy as sa
from sqlalchemy.orm import joinedload, lazyload, load_only

from app.tenancy import estimates
from app.models.base import integer_range
from app.errors import AtriumError
from app.i18n import number

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


def like_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, its wildcards taken literally (escape ``\\``)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _people_named(filter_, value):
    """For a relation to user accounts (``PEOPLE``): the ids of the people whose username
    or full name contains ``value`` (case-insensitive), as a subquery; else None."""
    rel = sa.inspect(filter_.model).relationships.get(filter_.column_name)
    text = str(value or "").strip()
    if rel is None or rel.mapper.class_.__tablename__ != "ab_user" or not text:
        return None
    people = rel.mapper.class_
    pattern = like_pattern(text[:100])
    full_name = people.first_name + " " + people.last_name
    return sa.select(people.id).where(sa.or_(people.username.ilike(pattern, escape="\\"),
                                             full_name.ilike(pattern, escape="\\")))


class FilterRelationIdEqual(FilterRelationOneToManyEqual):
    """FAB's "Relation" filter on a many-to-one relation, by the related row's id: the
    foreign key is compared with the id chosen or typed (FAB first loads the related
    row, one more statement, and a value that is not an id ends in a database error
    message). A person (a relation to user accounts) may also be typed by name: the rows
    of everyone whose username or full name contains it. Any other value that is not an
    id matches nothing."""

    arg_name = None  # views only; FAB's own class keeps serving the REST filters

    def apply(self, query, value):
        key = _foreign_key(self)
        if key is None:
            return super().apply(query, value)
        number = _typed_id(value)
        if number is not None:
            return query.filter(key == number)
        named = _people_named(self, value)
        return query.filter(key.in_(named) if named is not None else sa.false())


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
        if number is not None:
            return query.filter(key != number)
        named = _people_named(self, value)
        return query.filter(key.not_in(named) if named is not None else key.is_not(None))


_ID_FILTERS = {FilterRelationOneToManyEqual: FilterRelationIdEqual,
               FilterRelationOneToManyNotEqual: FilterRelationIdNotEqual}

_LIST_FILTERS = (FilterIn, FilterNotIn)  # their value is a list of values
MAX_FILTER_VALUES = 1000
MAX_FILTER_NUMBER = Decimal(10) ** 15  # beyond every Numeric column (12 digits)


def _filter_value_error(message: str):
    abort(400, description=message)


def typed_filter_value(datamodel, column_name: str, value):
    """A list filter's value as its column can compare it, or a 400 naming the filter:
    one value (not a list or an object), an enumeration's own values, whole numbers
    within the column's range, finite numbers, yes or no for a boolean; a blank number
    is no value, as FAB reads it. Text columns compare text (a number is read as its
    digits). Dates are left to FAB's parser (unreadable: no condition)."""
    label = column_name.replace("_", " ")
    if isinstance(value, (list, dict, tuple)):
        _filter_value_error(_("The “%(filter)s” filter takes one value, not a list or an object.", filter=label))
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
        _filter_value_error(_("The “%(filter)s” filter takes y (yes) or n (no).", filter=label))
    if isinstance(column_type, sa.Enum):
        if str(value) not in column_type.enums:
            _filter_value_error(_("The “%(filter)s” filter is one of: %(values)s.", filter=label,
                                  values=", ".join(column_type.enums)))
        return str(value)
    allowed = integer_range(column_type)
    if (allowed is not None or isinstance(column_type, sa.Numeric)) and str(value).strip() == "":
        return None
    if allowed is not None:
        text = str(value).strip()
        if isinstance(value, bool) or not (text.isascii() and text.lstrip("-").isdigit()) or int(text) not in allowed:
            _filter_value_error(_("The “%(filter)s” filter takes a whole number within its column's range.",
                                  filter=label))
        return int(text)
    if isinstance(column_type, (sa.Numeric, sa.Float)):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            number = None
        if isinstance(value, bool) or number is None or not number.is_finite() or abs(number) >= MAX_FILTER_NUMBER:
            _filter_value_error(_("The “%(filter)s” filter takes a number.", filter=label))
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
                _filter_value_error(_("The “%(filter)s” filter takes at most %(num)d values.",
                                      filter=self.column_name.replace("_", " "), num=MAX_FILTER_VALUES))
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
LIST_COLUMNS = contextvars.ContextVar("atrium_list_columns", default=None)
# Rows skipped from which a list page is found by its ids first (``AtriumInterface``);
# the setting ``LIST_DEFERRED_JOIN_OFFSET`` overrides it.
DEFERRED_JOIN_OFFSET = 1000
# Rows a list counts exactly; beyond, PostgreSQL's estimate, shown as "about N" (the
# setting ``LIST_EXACT_COUNT_LIMIT`` overrides it).
EXACT_COUNT_LIMIT = 10_000


# A staff list of a whole table whose statistics say more than this many times the exact
# limit shows the statistics' "about N" without counting at all.
TABLE_ESTIMATE_FACTOR = 10


class AboutCount(int):
    """A row count beyond ``EXACT_COUNT_LIMIT``: the planner's estimate, rounded to two
    significant figures. Pages compute with it like any count; it reads "about 200,000"."""

    def __str__(self) -> str:
        return _("about %(count)s", count=number(int(self)))

    @classmethod
    def of(cls, estimate: float, floor: int) -> AboutCount:
        value = max(int(estimate), floor)
        digits = len(str(value)) - 2
        return cls(max(round(value, -digits) if digits > 0 else value, floor))


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
        root, _dot, leaf = name.partition(".")
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
        columns = LIST_COLUMNS.get()
        if select_columns or not columns:
            return super().query(filters, order_column, order_direction, page, page_size, select_columns,
                                 outer_default_load)
        cache = self.__dict__.setdefault("_atrium_list_options", {})
        key = tuple(columns)
        if key not in cache:
            cache[key] = list_load_options(self.obj, key)
        count = self._list_count(filters)
        query = self.session.query(self.obj).options(*cache[key])
        if self._deferred_join(order_column, page, page_size):
            # The page's ids first (an index-only scan over the sort index, however deep),
            # then only those rows with what they show: the same rows, in the same order,
            # without joining the skipped rows' clients and users.
            pk = getattr(self.obj, self.get_pk_name())  # the ORM attribute: tenancy criteria reach the subquery
            ids = self.apply_all(self.session.query(pk), filters, order_column, order_direction, page,
                                 page_size).subquery()
            query = self.apply_all(query.filter(pk.in_(sa.select(ids.c[0]))), None, order_column, order_direction)
        else:
            query = self.apply_all(query, filters, order_column, order_direction, page, page_size)
        return count, query.all()

    def _list_count(self, filters) -> int:
        """The list's row count: exact up to ``LIST_EXACT_COUNT_LIMIT`` rows (a count that
        stops there, so it costs at most that many rows however large the table), beyond
        it PostgreSQL's estimate for the same statement as an ``AboutCount``
        (``app.tenancy.estimates``; other databases: the exact count). Through the ORM,
        so the tenancy criteria apply. A staff list of a whole table that the statistics
        put above ``TABLE_ESTIMATE_FACTOR`` x the limit is not counted at all."""
        limit = current_app.config.get("LIST_EXACT_COUNT_LIMIT", EXACT_COUNT_LIMIT)
        pk = getattr(self.obj, self.get_pk_name())
        filtered = bool(filters and filters.filters)
        postgres = self.session.get_bind().dialect.name == "postgresql"
        if postgres and not filtered:
            # Staff, the whole table, whose statistics (read when an earlier count of it
            # went past the limit) say far more rows than the limit: not even the stopped
            # count is needed. Small tables never get here, so they cost nothing more.
            known = estimates.known_table_rows(self.session, self.obj)
            if known is not None and known > TABLE_ESTIMATE_FACTOR * limit:
                return AboutCount.of(known, limit + 1)
        query = self._apply_inner_all(self.session.query(self.obj), filters, aliases_mapping={}).with_entities(pk)
        counted = query.limit(limit + 1).count()
        if counted <= limit or not postgres:
            return counted if counted <= limit else query.count()
        return AboutCount.of(estimates.estimated_rows(self.session, query, self.obj, filtered=filtered), limit + 1)

    def _deferred_join(self, order_column, page, page_size) -> bool:
        """A page that skips at least ``LIST_DEFERRED_JOIN_OFFSET`` rows (default 1,000),
        ordered by a column of the model itself (FAB adds the primary key as tie-breaker,
        so the order is total and both queries agree on it)."""
        if not page_size or not order_column or order_column not in self.list_columns:
            return False
        threshold = current_app.config.get("LIST_DEFERRED_JOIN_OFFSET", DEFERRED_JOIN_OFFSET)
        return (page or 0) * page_size >= threshold

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


def menu_title(appbuilder, path: str):
    """The label of the navbar entry that leads to ``path`` (the page's title when its
    view gives none: dashboards, queues, settings), or None."""
    for item in appbuilder.menu.get_list():
        for entry in (item, *(item.childs or ())):
            if entry and entry.name != "-" and entry.get_url() == path:
                return entry.label
    return None
