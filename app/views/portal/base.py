"""The portal's base view and what every portal view shares: which endpoints write
(``WRITE_ENDPOINTS``, asked of ``app.tenancy.check_write`` before they run), the
permission names, the list widget, and sending a stored file. The package docstring
(``app.views.portal``) says what the portal is."""

from __future__ import annotations


from flask import abort, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_appbuilder.urltools import get_filter_args
from markupsafe import Markup

from app import models as m
from app.extensions import db
from app.services import tiers
from app import tenancy
from app.errors import AtriumError
from app.views.base import METHOD_PERMISSIONS, AtriumModelView
from app.views.widgets import AtriumListWidget


# Endpoint name → the operation ``check_write`` is asked about, and on which model
# (``None``: the view's own model).
WRITE_ENDPOINTS = {"add": ("create", None), "edit": ("update", None), "delete": ("delete", None),
                   "action_post": ("update", None), "reply": ("create", "TicketMessage"),
                   "close": ("update", None), "reopen": ("update", None), "rate": ("update", None), "role": ("update", None), "remove": ("delete", None), "upload": ("create", None), "invite": ("create", None)}
PORTAL_PERMISSIONS = {**METHOD_PERMISSIONS, "reply": "write", "close": "write", "reopen": "write", "rate": "write",
                      "role": "write", "remove": "write", "upload": "write",
                      "invite": "write", "download": "read"}


def portal_scope():
    return tenancy.current_scope()


# Generated routes a portal view does not have unless it says so (``portal_routes``):
# a client adds, changes and deletes only through the doors SPEC gives them (the ticket
# form, replies and closing; the Files upload and delete; the Team invite; the contact
# form of projects and domains). FAB's generic file ``download/<filename>`` and bulk
# actions are not portal doors either.
GENERATED_ROUTES = frozenset({"add", "edit", "delete", "action", "action_post", "download"})
# The declarations every portal view makes itself (issue 16): nothing falls back to FAB's
# "every column of the model" default.
DECLARED = ("list_columns", "show_columns", "search_columns")


class PortalListWidget(AtriumListWidget):
    """The staff list table (``templates/atrium/list_widget.html``) with the portal's
    buttons: the view passes ``portal`` (``PortalModelView.portal_buttons``), so show,
    pencil and trash appear only where this person may use them and "+" is the view's
    real way of adding, or the plan's reason when its limit is reached."""


class PortalModelView(AtriumModelView):
    """Base of every portal list: read-only unless a subclass opens a write endpoint.

    A subclass names the generated routes it keeps in ``portal_routes`` (default: list
    and show only), its add/edit form fields in ``add_columns``/``edit_columns``, and
    where its "+" leads in ``portal_add`` (endpoint, label, model, plan resource).
    """

    method_permission_name = PORTAL_PERMISSIONS
    base_permissions = ["can_read"]
    list_widget = PortalListWidget
    portal_routes: frozenset = frozenset()
    # (endpoint of this view, button label, model asked about, tiers resource or None)
    portal_add: tuple | None = None

    def __init_subclass__(cls, **kwargs):
        # FAB builds add/edit forms even for read-only views, from every column when none
        # are named (SQL-computed columns break that): name the plain columns shown. No
        # route serves those forms unless ``portal_routes`` keeps it.
        datamodel = cls.__dict__.get("datamodel")
        if datamodel is not None:
            missing = [name for name in DECLARED if name not in cls.__dict__
                       and not any(name in base.__dict__ for base in cls.__mro__[1:-1]
                                   if issubclass(base, PortalModelView) and base is not PortalModelView)]
            if missing:
                raise TypeError(f"{cls.__name__} must declare {', '.join(missing)} (portal views name their columns)")
            if getattr(cls, "add_columns", None) is None:
                table_columns = set(datamodel.obj.__table__.columns.keys())
                cls.add_columns = cls.edit_columns = [
                    c for c in cls.__dict__.get("show_columns", cls.__dict__.get("list_columns", []))
                    if c in table_columns and c != "id"]
            if "order_columns" not in cls.__dict__:
                # Ordering only by what the list shows: a plain column or a "relation.column".
                table_columns = set(datamodel.obj.__table__.columns.keys())
                cls.order_columns = [c for c in cls.list_columns if c in table_columns or "." in c]
            own = {name for name in ("download",) if name in cls.__dict__}  # a view's own door, not FAB's
            # A relation picker serves a form: none without an add or edit route.
            pickers = set() if {"add", "edit"} & set(cls.portal_routes) else {"picker"}
            cls.exclude_route_methods = set(GENERATED_ROUTES - set(cls.portal_routes) - own) | pickers | set(
                cls.__dict__.get("exclude_route_methods", ()))
        super().__init_subclass__(**kwargs)

    # ------------------------------------------------------------------ buttons

    def portal_buttons(self) -> dict:
        """Which of "+", show, pencil and trash this person sees on the list: only the
        ones they may use (membership role, plan limit; at the limit the reason instead)."""
        scope = portal_scope()
        model = self.datamodel.obj.__name__
        buttons = {"show": True, "edit": False, "delete": False, "add_url": None, "add_label": "", "add_reason": None}
        if not scope.is_client:
            return buttons
        buttons["edit"] = "edit" in self.portal_routes and tenancy.may_write(scope, model, "update")
        buttons["delete"] = "delete" in self.portal_routes and tenancy.may_write(scope, model, "delete")
        if self.portal_add:
            endpoint, label, add_model, resource = self.portal_add
            if tenancy.may_write(scope, add_model, "create"):
                reason = self._limit_reason(scope, resource) if resource else None
                if reason:
                    buttons["add_reason"] = reason
                else:
                    buttons["add_url"], buttons["add_label"] = url_for(f".{endpoint}"), label
        return buttons

    @staticmethod
    def _limit_reason(scope, resource: str) -> str | None:
        """The plan's message when adding one more ``resource`` would pass its limit
        (``tiers.check_can_add``, the rule every flush applies), else ``None``."""
        client = db.session.get(m.Client, scope.client_id)
        if client is None:
            return None
        try:
            tiers.check_can_add(db.session, client, resource)
        except tiers.LimitReached as exc:
            return exc.message
        return None

    def _get_list_widget(self, filters, **kwargs):
        kwargs.setdefault("portal", self.portal_buttons())
        return super()._get_list_widget(filters, **kwargs)

    # ------------------------------------------------------------------ saving

    def _add(self):
        """FAB's add, except that a refused save (a plan limit, a membership or ticket
        rule) shows the form again with what the person typed and the reason (422 by
        ``AtriumModelView.add``) instead of redirecting to an empty form."""
        if request.method != "POST":
            return super()._add()
        get_filter_args(self._filters, disallow_if_not_in_search=False)
        exclude_cols = self._filters.get_relation_cols()
        form = self.add_form.refresh()
        self._fill_form_exclude_cols(exclude_cols, form)
        if form.validate():
            self.process_form(form, True)
            item = self.datamodel.obj()
            try:
                form.populate_obj(item)
                self.pre_add(item)
                self.datamodel.add(item)
            except AtriumError as exc:
                db.session.rollback()
                flash(exc.message, "danger")
            else:
                self.post_add(item)
                flash(str(self.add_row_message), "success")  # str: a lazy text would be kept as markup
                return None
        return self._get_add_widget(form=form, exclude_cols=exclude_cols)


    def post_update(self, item):
        super().post_update(item)
        g.atrium_portal_saved = item.id

    def post_edit_redirect(self):
        """After a save, the record saved (not whatever page came before)."""
        pk = g.pop("atrium_portal_saved", None)
        return redirect(url_for(".show", pk=pk) if pk is not None else url_for(".list"))

    def create_blueprint(self, appbuilder, *args, **kwargs):
        blueprint = super().create_blueprint(appbuilder, *args, **kwargs)
        blueprint.before_request(self._membership_guard)
        return blueprint

    def _membership_guard(self):
        endpoint = (request.endpoint or "").rsplit(".", 1)[-1]
        if endpoint == "picker":  # a form's relation picker: for whoever may submit that form
            endpoint = "edit" if request.args.get("form") == "edit" else "add"
        if endpoint not in WRITE_ENDPOINTS or not getattr(g.user, "is_authenticated", False):
            return None
        operation, model_name = WRITE_ENDPOINTS[endpoint]
        try:
            tenancy.check_write(portal_scope(), model_name or self.datamodel.obj.__name__, operation)
        except tenancy.Forbidden as exc:
            abort(403, description=exc.message)
        return None

    def _get_or_404(self, model, pk):
        row = db.session.get(model, pk)  # scoped: another client's id is not found
        if row is None:
            abort(404)
        return row

    def _apply(self, model, pk, change, done: str, then: str | None = None):
        """Run ``change`` (a service's rule) on row ``pk`` and commit, flashing ``done``;
        then to ``then`` (default: the row). A refusal is rolled back and flashed, and the
        browser goes back to the row."""
        row = self._get_or_404(model, pk)
        try:
            change(row)
            db.session.commit()
        except AtriumError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
            return redirect(url_for(".show", pk=pk))
        flash(done, "success")
        return redirect(then or url_for(".show", pk=pk))


def download_link(view_name: str, pk) -> Markup:
    return Markup('<a href="{}"><i class="fa fa-download"></i> {}</a>').format(
        url_for(f"{view_name}.download", pk=pk), _("Download"))


def int_or_404(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        abort(404)
