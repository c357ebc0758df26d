"""The staff ticket page (issue 20): the thread, one reply box, one-click moves.

``TicketPage`` is mixed into ``TicketView``: its ``show`` is the workspace
(``templates/staff/ticket.html``) and its POST routes are thin doors onto the same
service calls the API and CLI make (``services.tickets``): ``reply`` (a public reply or
an internal note, attachments, a macro's status/priority), ``move`` (waiting on client,
resolve, close, reopen, start), ``assign``; ``macro`` fills the reply box (JSON) and
``presence`` answers who else is here (JSON, polled by the page). Every change is
committed in one transaction, audited by the flush pipeline; a refusal is a flashed
message and nothing written.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, g, jsonify, redirect, request, url_for
from flask_appbuilder import expose, has_access
from flask_babel import gettext as _
from sqlalchemy.orm import joinedload

from app import models as m
from app import tenancy
from app.errors import AtriumError, InvalidInput
from app.extensions import db
from app.views.files import discard, store_request_file
from app.views.staff.common import staff_choices
from app.services import ticket_macros, ticket_presence, tickets

MAX_ATTACHMENTS = 10


class TicketPage:
    """Routes of the staff ticket page (mixed into ``TicketView``)."""

    page_permissions = {"show": "read", "macro": "read", "presence": "read",
                        "reply": "write", "move": "write", "assign": "write"}

    def _ticket_or_404(self, pk) -> m.Ticket:
        try:
            ticket = db.session.get(m.Ticket, int(pk))
        except (TypeError, ValueError):
            ticket = None
        if ticket is None:
            abort(404)
        return ticket

    @expose("/show/<pk>")
    @has_access
    def show(self, pk):
        """The workspace, in a number of statements that does not grow with the thread:
        the ticket with its client, assignee, requester, project and attachments; the
        messages with theirs; their authors with their roles; macros; staff."""
        try:
            ticket_id = int(pk)
        except ValueError:
            abort(404)
        ticket = db.session.execute(
            sa.select(m.Ticket).where(m.Ticket.id == ticket_id)
            .options(joinedload(m.Ticket.project), joinedload(m.Ticket.opened_by),
                     joinedload(m.Ticket.attachments))).unique().scalar_one_or_none()
        if ticket is None:
            abort(404)
        messages = db.session.execute(
            sa.select(m.TicketMessage).where(m.TicketMessage.ticket_id == ticket.id)
            .options(joinedload(m.TicketMessage.attachments))
            .order_by(m.TicketMessage.created_at, m.TicketMessage.id)).unique().scalars().all()
        people = {u.id: u for u in db.session.execute(
            sa.select(m.User).where(m.User.id.in_({x.author_id for x in messages} | {ticket.opened_by_id} - {None}))
            .options(joinedload(m.User.roles))).unique().scalars()}
        may_write = self.appbuilder.sm.has_access("can_write", self.class_permission_name)
        requester = ticket.opened_by
        state, sla_words = tickets.sla_summary(ticket)
        macros = db.session.execute(sa.select(m.TicketMacro.id, m.TicketMacro.name).order_by(m.TicketMacro.name)).all()
        return self.render_template(
            "staff/ticket.html", ticket=ticket, messages=messages, may_write=may_write,
            title=f"#{ticket.id} {ticket.subject}",
            requester=requester, requester_is_client=requester is not None and not tenancy.is_staff_user(requester),
            may_view_as=self.appbuilder.sm.has_access("can_write", "Impersonation"),
            sla_state=state, sla_words=sla_words, moves=tickets.moves_for(ticket) if may_write else [],
            staff=staff_choices() if may_write else [], macros=macros if may_write else [],
            labels=m.LABELS, poll_seconds=ticket_presence.POLL_SECONDS, me=g.user.id,
            client_authors={i for i, u in people.items() if not tenancy.is_staff_user(u)},
            may_reply_publicly=ticket.status not in tickets.CLOSED_STATUSES)

    def _done(self, ticket_id, change, message: str):
        """Run ``change()`` and commit; a refusal is flashed and nothing is written.
        Returns ``(committed, the redirect to the ticket's page)``."""
        try:
            result = change()
            db.session.commit()
        except AtriumError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
            return False, redirect(url_for(".show", pk=ticket_id))
        flash(message, "success")
        return True, redirect(url_for(".show", pk=getattr(result, "id", None) or ticket_id))

    @expose("/reply/<int:pk>", methods=["POST"])
    @has_access
    def reply(self, pk):
        ticket = self._ticket_or_404(pk)
        internal = request.form.get("kind") == "note"
        uploads = [f for f in request.files.getlist("attachment") if f and f.filename]
        stored = []

        def change():
            if len(uploads) > MAX_ATTACHMENTS:
                raise InvalidInput(_("At most %(num)d attachments per message.", num=MAX_ATTACHMENTS), field="attachment")
            for upload in uploads:
                stored.append(store_request_file(upload, ticket.client, g.user, project_id=ticket.project_id))
            _reply, landed = tickets.reply(db.session, ticket, g.user, request.form.get("body", ""), internal=internal,
                                           attachments=stored)
            if not internal:  # a macro's moves go with the public reply they filled
                ticket_macros.apply_moves(ticket, request.form.get("set_status"), request.form.get("set_priority"))
            return landed

        committed, answer = self._done(pk, change, _("Internal note added.") if internal else _("Reply sent."))
        if not committed:
            discard(stored)
        return answer

    @expose("/move/<int:pk>", methods=["POST"])
    @has_access
    def move(self, pk):
        ticket = self._ticket_or_404(pk)
        name = request.form.get("move", "")
        label = tickets.MOVES.get(name, ("",))[0]
        return self._done(pk, lambda: tickets.move(ticket, name), _("%(move)s: done.", move=label))[1]

    @expose("/assign/<int:pk>", methods=["POST"])
    @has_access
    def assign(self, pk):
        ticket = self._ticket_or_404(pk)
        raw = str(g.user.id) if request.form.get("take") else request.form.get("assignee", "")
        try:
            assignee = int(raw) if raw else None
        except ValueError:
            assignee = -1

        def change():
            if assignee == -1:
                raise InvalidInput(_("Choose a staff member."), field="assignee")
            tickets.assign(db.session, ticket, assignee)

        return self._done(pk, change, _("Assignee saved."))[1]

    @expose("/macro/<int:pk>/<int:macro_id>")
    @has_access
    def macro(self, pk, macro_id):
        ticket = self._ticket_or_404(pk)
        macro = db.session.get(m.TicketMacro, macro_id)
        if macro is None:
            return jsonify({"error": _("No such macro.")}), 404
        try:
            return jsonify(ticket_macros.apply(macro, ticket, g.user))
        except AtriumError as exc:
            return jsonify({"error": exc.message}), 422

    @expose("/presence/<int:pk>", methods=["POST"])
    @has_access
    def presence(self, pk):
        ticket = self._ticket_or_404(pk)
        others = ticket_presence.seen(db.session, ticket.id, g.user.id, request.form.get("composing") == "1")
        db.session.commit()
        response = jsonify({"others": others, "poll_seconds": ticket_presence.POLL_SECONDS})
        response.headers["Cache-Control"] = "private, no-store"
        return response
