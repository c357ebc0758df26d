"""Every column and relationship of every model has a label people read
(``app.views.labels.COLUMN_LABELS``, issue 21): a new column without one fails here
instead of reaching the screens as its code name."""

from __future__ import annotations

import sqlalchemy as sa
from flask_appbuilder.models.sqla import Model
from flask_babel.speaklater import LazyString

import app.models  # noqa: F401 - maps every model
from app.views.audit_words import field_words
from app.views.labels import COLUMN_LABELS, column_label


def _shown_models():
    """Atrium's models, and FAB's ``User`` (its columns appear on Atrium's pages)."""
    sa.orm.configure_mappers()
    return [mapper for mapper in Model.registry.mappers
            if mapper.class_.__module__.startswith("app.models") or mapper.class_.__name__ == "User"]


def test_every_column_and_relationship_of_every_model_has_a_label():
    missing = sorted({f"{mapper.class_.__name__}.{name}"
                      for mapper in _shown_models()
                      for name in [*mapper.attrs.keys(), *(column.key for column in mapper.columns),
                                   *(column.name for column in mapper.local_table.columns)]
                      if name not in COLUMN_LABELS})
    assert not missing, "columns without a label in app/views/labels.py COLUMN_LABELS:\n" + "\n".join(missing)


def test_labels_are_lazy_translations_with_words():
    plain = sorted(name for name, label in COLUMN_LABELS.items() if not isinstance(label, LazyString))
    assert not plain, f"labels not wrapped in _l(): {plain}"
    assert all(str(label).strip() for label in COLUMN_LABELS.values())


def test_one_source_for_lists_forms_and_the_audit_history():
    assert str(column_label("sla_paused_since")) == "SLA paused since"
    assert str(field_words("internal_notes")) == "Internal notes"
    assert str(field_words("client_id")) == "Client"
    assert column_label("client.name") == "Client name"  # a name the table does not know: its words
