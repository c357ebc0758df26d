"""List and search widgets of the model views: row links by permission (``ListLinks``),
the list with its export link (``AtriumListWidget``), the search form with relations to
growing tables searched by id (``AtriumSearchWidget``, ``IdInputWidget``)."""

from __future__ import annotations

import re


from flask import (
    current_app, request, url_for,
)
from flask_appbuilder.fields import QuerySelectField
from flask_babel import gettext as _, get_locale
from flask_appbuilder.widgets import ListWidget, SearchWidget
import sqlalchemy as sa
from markupsafe import Markup, escape
from wtforms import IntegerField, StringField
from wtforms.widgets import TextInput
from wtforms.validators import Optional
from app.views.forms import shown_value, column_label


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
             placeholder, labels, link_column=None):
        """The ``<tr>`` of every row: the markup the template's per-cell loop produced,
        every value and URL escaped exactly as ``{{ }}`` escapes it (``markupsafe``), but
        without Jinja's per-expression overhead (about 50 µs a row). The ``link_column``
        cell (the record's name) links to the record's page."""
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
                shown = escape(shown_value(formatter(value) if formatter else value))
                if name == link_column and show_url:
                    shown = f'<a href="{escape(show_url.replace(placeholder, pk))}">{shown}</a>'
                add(f"\n            <td>{shown}</td>")
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
        locale = str(get_locale())  # the page's language (``app.views.language``): labels are in it
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
        kwargs.setdefault("placeholder", _("%(label)s id (#)", label=field.label.text))
        kwargs.setdefault("inputmode", "numeric")
        return super().__call__(field, **kwargs)


class PersonInputWidget(TextInput):
    """A text input for a person: a name, a username or an id ("Actor: name or id (#)")."""

    def __call__(self, field, **kwargs):
        kwargs["class"] = "form-control"
        kwargs.setdefault("placeholder", _("%(label)s: name or id (#)", label=field.label.text))
        return super().__call__(field, **kwargs)


def id_search_fields(model, search_columns, existing, labels) -> dict:
    """The search fields of many-to-one relations to growing tables: an id box, and for
    people (user accounts) a box that takes a name too (``interface._people_named``)."""
    mapper = sa.inspect(model)
    fields = {}
    for name in search_columns or []:
        rel = mapper.relationships.get(name)
        if (rel is None or rel.uselist or name in (existing or {})
                or rel.mapper.class_.__name__ in DROPDOWN_LOOKUPS):
            continue
        label = labels.get(name) or column_label(name)
        if rel.mapper.class_.__tablename__ == "ab_user":
            fields[name] = StringField(label, validators=[Optional()], widget=PersonInputWidget())
        else:
            fields[name] = IntegerField(label, validators=[Optional()], widget=IdInputWidget())
    return fields
