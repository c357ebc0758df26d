"""What a Portuguese reader receives from the screens' own words (issue 21): every menu
entry, every view's titles and every column label it shows read in Portuguese.

These words are built at import time (class attributes, menu registrations), where a
plain string would silently stay English; ``tests/unit/test_translations`` checks the
catalogue, this checks that the screens actually go through it.
"""

from __future__ import annotations

from babel.messages.pofile import read_po
from flask_appbuilder.api import BaseApi
from flask_babel import force_locale

from tests.unit.test_translations import PO

TITLES = ("list_title", "show_title", "add_title", "edit_title")
COLUMN_SETS = ("list_columns", "show_columns", "add_columns", "edit_columns", "search_columns")


def _same_in_both():
    """Words the catalogue says are the same in Portuguese (SLA, CTR, E-mail...)."""
    with open(PO, "rb") as handle:
        return {m.id for m in read_po(handle, locale="pt_BR") if isinstance(m.id, str) and m.string == m.id}


def _untranslated(app, named_values):
    same = _same_in_both()
    found = []
    with app.test_request_context():
        for name, value in named_values:
            with force_locale("en"):
                english = str(value)
            with force_locale("pt_BR"):
                portuguese = str(value)
            if english and portuguese == english and english not in same:
                found.append(f"{name}: {english!r}")
    return found


def _menu_words(appbuilder):
    for item in appbuilder.menu.get_list():
        yield f"menu {item.name}", item.label
        for child in item.childs or ():
            if child and child.name != "-":
                yield f"menu {item.name} / {child.name}", child.label


def _view_words(appbuilder):
    for view in appbuilder.baseviews:
        if type(view).__module__.startswith("flask_appbuilder") or isinstance(view, BaseApi):
            continue  # Flask-AppBuilder's own screens come with its catalogue; APIs are not screens
        kind = type(view).__name__
        for attr in TITLES:
            value = getattr(view, attr, None)
            if value:
                yield f"{kind}.{attr}", value
        labels = getattr(view, "label_columns", None) or {}
        shown = {c for attr in COLUMN_SETS for c in (getattr(view, attr, None) or ())}
        for column in sorted(shown & set(labels)):
            yield f"{kind} column {column}", labels[column]


def test_every_menu_entry_reads_in_portuguese(app):
    assert _untranslated(app, _menu_words(app.appbuilder)) == []


def test_every_title_and_column_label_reads_in_portuguese(app):
    words = list(_view_words(app.appbuilder))
    assert len(words) > 200
    assert _untranslated(app, words) == []
