"""The flush pipeline: what runs, in which order, whenever the session writes.

Every door (UI, API, CLI, jobs) writes through the SQLAlchemy session, so every rule that
must hold on every write is a step here, run once per flush in this order:

before the flush (``before_flush``)
  0. **read-only "view as"**: a read-only impersonation writes nothing (``services.identity``);
  1. **tenancy guard** (``app.tenancy.guard.check_flush``): the scope's RLS settings,
     same-client links, the membership-role rule, the client-editable fields, a client
     user's new rows stamped with their client;
  2. **derived values** (``lifecycle.derive``): SLA clock and state, first staff reply,
     message authors, incident durations, performance grades, normalised domain names,
     limit-override stamps, sessions ended by a new password or a deactivation;
  3. **tier limits** (``lifecycle.enforce_limits``): new rows against the client's plan;
  4. **notifications** (``lifecycle.notify``): outbox rows for the other side of a reply.
  After each of steps 2–4, the rows it added or newly changed go through the tenancy
  guard again: derived values under the acting scope (they are the user's writes),
  notifications under the system's (the agency's outbox, which no client may write but
  a client's reply fills).
after the flush (``after_flush``)
  5. **audit** (``audit.capture_flush``): one chained event per changed audited row;
  6. **announcements** (``lifecycle.announce``): a client's new ticket to the Operators,
     an assignment to the assignee (e-mail and in-app alert; they name the ticket's
     number, which exists only now).

Statements (``do_orm_execute``): the tenancy read filter first, then audit's bulk capture,
which records the statement as the filter pinned it. Transactions
(``after_transaction_end``): the RLS settings of the ending transaction are forgotten. Rows (``before_insert`` /
``before_update`` of tenant children): the client comes from the parent
(``lifecycle.stamp_client``), at INSERT time, when a new parent has its id.

Switches are context variables, not process-wide flags: ``audit.disabled()``,
``notifications.suppressed()``, ``app.tenancy.acting_as()``.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app import tenancy
from app.models import TENANT_MODELS
from app.services import audit, identity, lifecycle
from app.tenancy import guard

READ_ONLY_MESSAGE = _l("Read-only view: you are viewing as a client user and cannot make changes. "
                       "End the session to make changes as yourself.")

# Steps 2-4: (step, whose write its added rows are: the acting scope's or the system's).
ACTING, SYSTEM = "acting", "system"
STEPS = ((lifecycle.derive, ACTING), (lifecycle.enforce_limits, ACTING), (lifecycle.notify, SYSTEM))


def _changed(session: Session) -> list:
    return [o for o in session.dirty if session.is_modified(o, include_collections=False)]


def _writes(session: Session) -> bool:
    return bool(session.new or session.deleted or any(session.is_modified(o) for o in session.dirty))


def before_flush(session: Session, flush_context, instances) -> None:
    if identity.current().read_only and _writes(session):
        raise tenancy.Forbidden(str(READ_ONLY_MESSAGE))  # a read-only "view as" session writes nothing
    scope = tenancy.current_scope()
    tenancy.apply_database_scope(session, scope)  # the flush's statements run as the actor
    new, dirty = list(session.new), _changed(session)
    guard.check_flush(session, scope, new, list(session.dirty), list(session.deleted))
    checked = {id(o) for o in (*new, *session.dirty)}  # by identity: some rows (FAB's) are unhashable
    for step, whose in STEPS:
        step(session, new, dirty)
        added_new = [o for o in session.new if id(o) not in checked]
        added_dirty = [o for o in session.dirty if id(o) not in checked]
        if added_new or added_dirty:
            guard.check_flush(session, scope if whose == ACTING else tenancy.SYSTEM, added_new, added_dirty, [])
            checked.update(id(o) for o in (*added_new, *added_dirty))


# (event target, event name, handler), in the order they must run.
HOOKS = (
    (Session, "before_flush", before_flush),
    (Session, "after_flush", audit.capture_flush),
    (Session, "after_flush", lifecycle.announce),
    (Session, "do_orm_execute", guard.filter_statement),
    (Session, "do_orm_execute", audit.capture_statement),
    (Session, "after_transaction_end", tenancy.forget_database_scope),
)


def register() -> None:
    """Hook the pipeline onto every session (idempotent: ``create_app`` runs per app)."""
    for target, name, handler in HOOKS:
        if not sa.event.contains(target, name, handler):
            sa.event.listen(target, name, handler)
    for model in TENANT_MODELS:
        if hasattr(model, "__tenant_parent__"):
            for name in ("before_insert", "before_update"):
                if not sa.event.contains(model, name, lifecycle.stamp_client):
                    sa.event.listen(model, name, lifecycle.stamp_client)
    audit.track_old_values()
