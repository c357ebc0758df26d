"""Column types and mixins shared by every Atrium model.

- ``UTCDateTime``: timezone-aware UTC datetimes on PostgreSQL and SQLite alike.
- ``enum_column``: a ``StrEnum`` stored as text with a CHECK constraint (one definition).
- ``money_column``: ``Numeric(12, 2)`` mapped to ``Decimal``.
- ``TimestampMixin``: ``id``, ``created_at``, ``updated_at`` on every table.
- ``ContactMixin``: the contact person of a project or domain, shown to (and editable
  by owner/admin members of) the client; see ``app.tenancy.CLIENT_EDITABLE_FIELDS``.
Business rules do not live here (see ``app/services``).
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

import sqlalchemy as sa
import sqlalchemy.dialects.postgresql
from flask_appbuilder.models.sqla import Model
from sqlalchemy.orm import declared_attr

# Constraint names are deterministic so Alembic can diff and drop them by name.
Model.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(sa.types.TypeDecorator):
    """Stores aware datetimes as UTC; always returns aware UTC datetimes."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


# Integer column types and the largest magnitude each stores (PostgreSQL int2/int4/int8;
# SQLite stores 64 bits whatever the declaration). Checked before a value reaches SQL.
_INTEGER_BOUNDS = ((sa.SmallInteger, 2**15), (sa.BigInteger, 2**63), (sa.Integer, 2**31))


def integer_range(column_type) -> range | None:
    """The values an integer column accepts (``value in integer_range(t)``), None if not an integer column."""
    for kind, bound in _INTEGER_BOUNDS:
        if isinstance(column_type, kind):
            return range(-bound, bound)
    return None


# Floats (never money: that is Numeric) are bounded like a Numeric(15) column.
_FLOAT_BOUND = Decimal(10) ** 15


def number_bounds(column_type) -> tuple[Decimal, Decimal, bool] | None:
    """``(minimum, maximum, whole)`` a numeric column holds (an integer's range, a
    ``Numeric(p, s)``'s digits), or ``None`` if it is not a number column."""
    allowed = integer_range(column_type)
    if allowed is not None:
        return Decimal(allowed.start), Decimal(allowed.stop - 1), True
    if isinstance(column_type, sa.Float):
        return -_FLOAT_BOUND, _FLOAT_BOUND, False
    if isinstance(column_type, sa.Numeric):
        precision, scale = column_type.precision or 15, column_type.scale or 0
        top = Decimal(10) ** (precision - scale) - Decimal(10) ** -scale
        return -top, top, False
    return None


def enum_column(enum_cls: type[enum.StrEnum], *, name: str, default=None, nullable=False, **kw):
    """A checked text column holding one of ``enum_cls``'s values.

    The column type lists the values (not the Python class): rows read back as plain
    strings, which compare equal to the ``StrEnum`` members, and Flask-AppBuilder's
    forms, filters and API schemas offer exactly these values.
    """
    values = [m.value for m in enum_cls]
    return sa.Column(
        sa.Enum(
            *values,
            name=name,
            native_enum=False,
            create_constraint=True,
            length=max(16, max(len(v) for v in values)),
            validate_strings=True,
        ),
        nullable=nullable,
        default=default,
        **kw,
    )


def money_column(nullable=True, default=None, **kw):
    return sa.Column(sa.Numeric(12, 2, asdecimal=True), nullable=nullable, default=default, **kw)


class TimestampMixin:
    """``id``, ``created_at`` and ``updated_at`` (UTC, aware) for every table."""

    id = sa.Column(sa.Integer, primary_key=True)

    @declared_attr
    def created_at(cls):
        return sa.Column(UTCDateTime(), nullable=False, default=utcnow)

    @declared_attr
    def updated_at(cls):
        return sa.Column(UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow)


class ContactMixin:
    """Who to talk to about this record: name, email and phone (all optional).

    Formats are checked by ``services.validation`` (``email``, ``phone``) in every form
    and API schema; the lengths here are the hard limits.
    """

    contact_name = sa.Column(sa.String(120), nullable=True)
    contact_email = sa.Column(sa.String(254), nullable=True)
    contact_phone = sa.Column(sa.String(32), nullable=True)


JSONType = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")


def client_fk(**kw):
    """The tenancy column: non-null, indexed, cascades with its client."""
    return sa.Column(
        sa.Integer, sa.ForeignKey("clients.id", ondelete="CASCADE"), nullable=False, index=True, **kw
    )


def user_fk(nullable=True, **kw):
    return sa.Column(sa.Integer, sa.ForeignKey("ab_user.id", ondelete="SET NULL"), nullable=nullable, **kw)
