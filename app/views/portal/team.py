"""The portal's team view: a client's members, their roles, invitations."""

from __future__ import annotations


from flask import current_app, flash, redirect, request, url_for
from flask_appbuilder import expose, has_access
from flask_babel import gettext as _, lazy_gettext as _l

from app import models as m
from app.extensions import db
from app.services import team
from app import tenancy
from app.errors import AtriumError
from app.views.interface import AtriumInterface
from app.views.portal.base import PortalModelView, int_or_404, portal_scope

class PortalTeamView(PortalModelView):
    datamodel = AtriumInterface(m.ClientMember)
    class_permission_name = "PortalTeam"
    route_base = "/portal/team"
    base_permissions = ["can_read", "can_write"]
    list_title = _l("Team")
    show_title = _l("Show Client Member")
    list_columns = ["user", "user.email", "role", "created_at"]
    show_columns = list_columns
    search_columns = ["role"]  # no filter on users: their list is everyone's
    # Memberships change through ``services.team`` only (the invite below; the owner's
    # role rules live there): no generated add/edit/delete route, no form.
    add_columns = edit_columns = ["role"]  # no route serves these forms
    portal_add = ("invite", _l("Invite a team member"), "ClientMember", "team_members")
    label_columns = {"user": _l("Name"), "user.email": _l("Email"), "role": _l("Role"), "created_at": _l("Member since")}
    show_template = "portal/member_show.html"

    def render_template(self, template, **kwargs):
        """The member's page offers the owner the role change and removal (not on the
        owner's own membership: ``services.team`` refuses that)."""
        if template == self.show_template and kwargs.get("pk") is not None:
            member = db.session.get(m.ClientMember, int_or_404(kwargs["pk"]))
            if (member is not None and member.role != m.MemberRole.OWNER
                    and tenancy.may_write(portal_scope(), "ClientMember", "update")):
                kwargs.update(manage_member=member, member_roles=team.INVITABLE_ROLES)
        return super().render_template(template, **kwargs)

    @expose("/role/<int:pk>", methods=["POST"])
    @has_access
    def role(self, pk):
        return self._apply(m.ClientMember, pk, lambda member: team.change_role(
            db.session, portal_scope(), member, request.form.get("role", "")), _("The role was changed."))

    @expose("/remove/<int:pk>", methods=["POST"])
    @has_access
    def remove(self, pk):
        return self._apply(m.ClientMember, pk, lambda member: team.remove_member(db.session, portal_scope(), member),
                           _("The member was removed; they can no longer sign in."), then=url_for(".list"))
    base_order = ("created_at", "asc")

    @expose("/invite", methods=["GET", "POST"])
    @has_access
    def invite(self):
        form = request.form
        if request.method == "POST":
            try:
                member = team.add_member(db.session, current_app.appbuilder.sm, portal_scope(), username=form.get("username", ""),
                                email=form.get("email", ""), first_name=form.get("first_name", ""),
                                last_name=form.get("last_name", ""), role=form.get("role", ""),
                                password=form.get("password", ""))
                db.session.commit()
                flash(_("%(username)s can now sign in.", username=form.get("username")), "success")
                return redirect(url_for(".show", pk=member.id))
            except AtriumError as exc:
                db.session.rollback()
                flash(exc.message, "danger")
                return self.render_template("portal/invite.html", form=form, roles=team.INVITABLE_ROLES), exc.status
        return self.render_template("portal/invite.html", form={}, roles=team.INVITABLE_ROLES)
