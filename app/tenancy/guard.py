"""The session guard: the one place the scope is enforced, below every door.

Flask-AppBuilder applies ``base_filters`` to list/show/edit/delete but not to actions,
``MasterDetailView`` master rows, add, related views or relation drop-downs, and a view
can always forget a filter. So the scope is applied where every door meets: the
SQLAlchemy session (hooked up by ``app.services.pipeline``, in its order).

1. **Reads** (``filter_statement``, on ``do_orm_execute``): for a client user every ORM
   SELECT/UPDATE/DELETE gets ``client_id = <their client>`` on every tenant-owned entity
   it touches (joins, relationship loads, counts, drop-down choices, exports included);
   internal ticket messages, staff-only audit events and staff-only tables (billing
   events, job runs, daily analytics, the outbox) vanish. Asking for another client's row
   by id finds nothing, which the doors turn into 404.
2. **Writes** (``check_flush``, the pipeline's first step): a client user's new rows are
   forced onto their client, rows of another client cannot be written, the
   membership-role rule (``rules.check_write``) refuses what their role does not allow,
   and an update of a model in ``rules.CLIENT_EDITABLE_FIELDS`` may change only those
   attributes (``rules.check_fields``: projects and domains, contact data only). Whoever
   writes, every tenant row links only to rows of its own client (``check_same_client``).
3. **PostgreSQL row-level security** (``app.tenancy.database``): before the first tenant
   statement or flush of a transaction the scope's settings are set.

``ATRIUM_TENANT_FILTER = False`` switches (1) off. It exists for the test that proves the
database alone still isolates tenants; never set it in production.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app, has_app_context
from flask_babel import gettext as _
from sqlalchemy.orm import Session, with_loader_criteria

from app import models as m
from app.errors import InvalidInput
from app.tenancy.database import apply_database_scope
from app.tenancy.rules import CLIENT_EDITABLE_FIELDS, NotFound, check_fields, check_write
from app.tenancy.binding import current_scope, resolving_scope
from app.tenancy.scope import Scope

# Tables only staff may ever read.
STAFF_ONLY_MODELS = (m.BillingEvent, m.JobRun, m.DailyAnalytics, m.OutboxEmail, m.TicketMacro, m.StaffAlert,
                     m.TicketPresence)
# A user's own rows (their settings): a client user reads and writes only theirs.
OWN_ROW_MODELS = (m.UserPreference,)
# Tenant-owned rows with a nullable client: staff-only when it is NULL.
CLIENT_OPTIONAL_MODELS = (m.AuditEvent, m.ImpersonationSession)
SCOPED_MODELS = (*m.TENANT_MODELS, *CLIENT_OPTIONAL_MODELS)
GUARDED_CLASSES = frozenset((*SCOPED_MODELS, m.Client, *STAFF_ONLY_MODELS, *OWN_ROW_MODELS))
_MODEL_BY_TABLE = {model.__tablename__: model for model in GUARDED_CLASSES}
# Tenant rows a client never sees even in its own client: internal ticket messages and
# staff-only audit events (model → the boolean column that hides them).
_FLAGGED = {m.TicketMessage: "internal", m.AuditEvent: "staff_only"}


def _tenant_filter_enabled() -> bool:
    return not has_app_context() or current_app.config.get("ATRIUM_TENANT_FILTER", True)


def _criteria(client_id: int, user_id: int) -> list:
    """The loader criteria that keep a client user inside ``client_id`` and their own
    rows (``user_id``)."""
    options = [with_loader_criteria(model, lambda cls: cls.client_id == client_id, include_aliases=True)
               for model in SCOPED_MODELS if model not in _FLAGGED]
    options.append(with_loader_criteria(
        m.TicketMessage, lambda cls: sa.and_(cls.client_id == client_id, cls.internal.is_(False)),
        include_aliases=True))
    options.append(with_loader_criteria(
        m.AuditEvent, lambda cls: sa.and_(cls.client_id == client_id, cls.staff_only.is_(False)),
        include_aliases=True))
    options.append(with_loader_criteria(m.Client, lambda cls: cls.id == client_id, include_aliases=True))
    options.extend(with_loader_criteria(model, sa.false(), include_aliases=True) for model in STAFF_ONLY_MODELS)
    options.extend(with_loader_criteria(model, lambda cls: cls.user_id == user_id, include_aliases=True)
                   for model in OWN_ROW_MODELS)
    return options


def filter_statement(state) -> None:
    """``do_orm_execute``: pin a client user's statement to their client (see (1) above)."""
    if state.execution_options.get("atrium_scope_lookup") or resolving_scope():
        return
    reads_rows = state.is_select or state.is_update or state.is_delete
    mappers = state.all_mappers if reads_rows else ()
    if mappers and not any(mapper.class_ in GUARDED_CLASSES for mapper in mappers):
        return  # FAB's users, roles and permissions: not tenant data
    scope = current_scope()
    apply_database_scope(state.session, scope)  # text() and Core statements too
    if not reads_rows or scope.is_staff or state.is_column_load or not _tenant_filter_enabled():
        return  # (a refresh of loaded rows keeps the criteria it was loaded with)
    # Nobody (signed out, or a client user without a membership) sees no tenant row.
    client_id = scope.client_id if scope.is_client else -1
    user_id = scope.user_id if scope.is_client and scope.user_id is not None else -1
    statement = state.statement.options(*_criteria(client_id, user_id))
    # Loader criteria follow ORM entities; a table reached only through columns (e.g. an
    # aggregate's FILTER clause) is pinned here with an explicit WHERE as well.
    tables = ([statement.table] if not state.is_select else list(_inner_tables(statement.get_final_froms())))
    conditions = [_table_condition(t, client_id, user_id) for t in tables if t.name in _MODEL_BY_TABLE]
    state.statement = statement.where(*conditions) if conditions else statement


def _inner_tables(froms):
    """Tables of ``froms`` whose rows reach the result unconditionally (not the optional
    side of an outer join, where a WHERE would drop the unmatched rows)."""
    for item in froms:
        if isinstance(item, sa.Join):
            yield from _inner_tables([item.left])
            if not item.isouter:
                yield from _inner_tables([item.right])
        elif isinstance(item, sa.Table):
            yield item


def _table_condition(table, client_id: int, user_id: int):
    model = _MODEL_BY_TABLE[table.name]
    if model in STAFF_ONLY_MODELS:
        return sa.false()
    if model in OWN_ROW_MODELS:
        return table.c.user_id == user_id
    if model is m.Client:
        return table.c.id == client_id
    if model in _FLAGGED:
        return sa.and_(table.c.client_id == client_id, table.c[_FLAGGED[model]].is_(False))
    return table.c.client_id == client_id


# --------------------------------------------------------------------------- writes

def _operation(session, obj) -> str:
    if obj in session.new:
        return "create"
    if obj in session.deleted:
        return "delete"
    return "update"


def _check_references(session: Session, obj, scope: Scope) -> None:
    """Every tenant row ``obj`` points at (its ticket, project, folder...) must be one the
    user can see: a forged id of another client's row is "not found", whatever the door."""
    mapper = sa.inspect(type(obj))
    state = sa.inspect(obj)
    for fk in obj.__table__.foreign_keys:
        target = _MODEL_BY_TABLE.get(fk.column.table.name)
        if target is None or fk.parent.name == "client_id":
            continue
        key = mapper.get_property_by_column(fk.parent).key
        value = getattr(obj, key)
        if value is None or (state.persistent and not state.attrs[key].history.has_changes()):
            continue
        with session.no_autoflush:
            visible = session.execute(sa.select(target.id).where(target.id == value)).scalar_one_or_none()
        if visible is None:
            raise NotFound(_("Not found."))


def _changed_attributes(obj) -> set[str]:
    """What this flush would write on ``obj`` itself: changed columns and many-to-one or
    many-to-many links (one-to-many children are rows of their own, guarded as such)."""
    state = sa.inspect(obj)
    changed = {attr.key for attr in state.mapper.column_attrs if state.attrs[attr.key].history.has_changes()}
    changed.update(rel.key for rel in state.mapper.relationships
                   if rel.direction.name in ("MANYTOONE", "MANYTOMANY")
                   and state.attrs[rel.key].history.has_changes())
    return changed


# --------------------------------------------------------------------------- same-client links

_TENANT_TABLES = {model.__tablename__: model for model in m.TENANT_MODELS}


def _label(key: str) -> str:
    return key.replace("_", " ").capitalize()


def _tenant_links(model) -> list:
    """The relations of ``model`` to tenant rows that must share its client, derived from
    its foreign keys (and many-to-many links) to tenant tables: ``(relationship key,
    local foreign-key attribute or None, target model)``. The client link itself and the
    tenant parent (``__tenant_parent__``, which the row's client is taken from) are not
    checked: they define the client."""
    found = _LINKS.get(model)
    if found is not None:
        return found
    mapper = sa.inspect(model)
    parent = getattr(model, "__tenant_parent__", None)
    links = []
    for rel in mapper.relationships:
        target = rel.mapper.class_
        if target not in _TENANT_TABLES.values() or rel.key == parent or rel.viewonly:
            continue
        if rel.direction.name == "MANYTOONE":
            columns = list(rel.local_columns)
            if len(columns) != 1 or columns[0].name == "client_id":
                continue
            links.append((rel.key, mapper.get_property_by_column(columns[0]).key, target))
        elif rel.direction.name == "MANYTOMANY":
            links.append((rel.key, None, target))
    _LINKS[model] = links
    return links


_LINKS: dict = {}


def _client_id_of(session, obj, cache) -> int | None:
    """The client a tenant row belongs to (or will belong to once its parent stamps it)."""
    if obj.__dict__.get("client_id") is not None:
        return obj.__dict__["client_id"]
    client = obj.__dict__.get("client")
    if client is not None and getattr(client, "id", None) is not None:
        return client.id
    parent_key = getattr(type(obj), "__tenant_parent__", None)
    if parent_key is not None:
        parent = obj.__dict__.get(parent_key)
        if parent is not None:
            return _client_id_of(session, parent, cache)
        rel = sa.inspect(type(obj)).relationships[parent_key]
        fk_value = obj.__dict__.get(sa.inspect(type(obj)).get_property_by_column(next(iter(rel.local_columns))).key)
        if fk_value is not None:
            return _stored_client_id(session, rel.mapper.class_, fk_value, cache)
    state = sa.inspect(obj)
    if state.persistent and "client_id" not in obj.__dict__:
        return _stored_client_id(session, type(obj), state.identity[0], cache)
    return None


def _stored_client_id(session, model, pk, cache) -> int | None:
    key = (model, pk)
    if key not in cache:
        with session.no_autoflush:
            cache[key] = session.execute(
                sa.select(model.client_id).where(model.id == pk),
                execution_options={"atrium_scope_lookup": True}).scalar_one_or_none()
    return cache[key]


def _client_name(session, client_id) -> str:
    with session.no_autoflush:
        name = session.execute(sa.select(m.Client.name).where(m.Client.id == client_id),
                               execution_options={"atrium_scope_lookup": True}).scalar_one_or_none()
    return name or _("client #%(id)s", id=client_id)


def check_same_client(session: Session, obj, cache: dict | None = None) -> None:
    """Every tenant row ``obj`` links to (a ticket's project, an incident's monitor, a
    message's attachments...) belongs to ``obj``'s client, whoever writes it and through
    whichever door; otherwise ``InvalidInput`` naming the field. Links unchanged on a
    stored row are not re-checked, unless the row's client changed."""
    links = _tenant_links(type(obj))
    if not links:
        return
    cache = {} if cache is None else cache
    state = sa.inspect(obj)
    client_moved = state.persistent and state.attrs.client_id.history.has_changes()
    row_client = None
    for key, fk_key, target in links:
        if state.persistent and not client_moved and not state.attrs[key].history.has_changes() and (
                fk_key is None or not state.attrs[fk_key].history.has_changes()):
            continue
        if fk_key is None:
            others = [o for o in (obj.__dict__.get(key) or ()) if o is not None]
        else:
            # The relation when it was set; the id when it was (a loaded relation can be stale).
            other = obj.__dict__.get(key) if (not state.persistent or state.attrs[key].history.has_changes()) \
                else None
            if other is not None:
                others = [other]
            else:
                value = obj.__dict__.get(fk_key) if not state.persistent else getattr(obj, fk_key)
                others = [] if value is None else [(target, value)]
        for other in others:
            if isinstance(other, tuple):
                other_client = _stored_client_id(session, other[0], other[1], cache)
            else:
                other_client = _client_id_of(session, other, cache)
            if other_client is None:
                continue
            if row_client is None:
                row_client = _client_id_of(session, obj, cache)
                if row_client is None:
                    return  # a row without a client yet: its parent decides (checked there)
            if other_client != row_client:
                own = _client_name(session, row_client)
                raise InvalidInput(
                    _("%(field)s: that %(record)s belongs to %(other)s, not to %(own)s. Choose one of %(own)s's.",
                      field=_label(key), record=target.__name__.lower(), other=_client_name(session, other_client),
                      own=own), field=key)


def check_flush(session: Session, scope: Scope, new, dirty, deleted) -> None:
    """The write guard over these rows of the flush, for ``scope`` (see (2) above). The
    caller has set the transaction's RLS settings (``apply_database_scope``)."""
    links_cache: dict = {}
    for obj in [*new, *dirty]:
        if type(obj) in _TENANT_TABLES.values() and obj not in session.deleted:
            check_same_client(session, obj, links_cache)
    if scope.is_staff:
        return
    changed = [o for o in dirty if session.is_modified(o, include_collections=False)]
    for obj in [*new, *changed, *deleted]:
        if type(obj) not in GUARDED_CLASSES:
            continue
        operation = _operation(session, obj)
        if isinstance(obj, OWN_ROW_MODELS):  # any client user's own settings, viewers' too
            if obj.user_id != scope.user_id or sa.inspect(obj).attrs.user_id.history.deleted:
                raise NotFound(_("Not found."))
            continue
        check_write(scope, type(obj).__name__, operation)
        if isinstance(obj, m.Client):
            if obj.id != scope.client_id:
                raise NotFound(_("Not found."))
            continue
        if operation != "delete":
            _check_references(session, obj, scope)
        owner = obj.client_id if obj.client_id is not None else getattr(obj.__dict__.get("client"), "id", None)
        if owner is None and operation == "create":
            obj.client_id = owner = scope.client_id  # the client comes from the session, never a form
        if owner != scope.client_id:
            raise NotFound(_("Not found."))
        if operation != "create":
            history = sa.inspect(obj).attrs.client_id.history
            if history.deleted and history.deleted[0] != scope.client_id:
                raise NotFound(_("Not found."))
    # Field allowlist, over every changed row (collection-only changes included: a
    # project's team is a many-to-many link written on the project's behalf).
    for obj in dirty:
        name = type(obj).__name__
        if name in CLIENT_EDITABLE_FIELDS:
            check_fields(scope, name, _changed_attributes(obj))
