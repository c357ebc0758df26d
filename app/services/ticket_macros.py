"""Macros: canned replies with placeholders, managed by Admin, applied by staff.

A macro's body may name ``{client_name}``, ``{requester_first_name}``,
``{ticket_number}`` and ``{agent_name}``; anything else in braces is refused when the
macro is saved (``check_body``), so a reply never goes out with a stray ``{placeholder}``.
Applying a macro (``apply``) fills the reply box for review and says which status and
priority the reply will also set; nothing is sent or changed until the person sends.
"""

from __future__ import annotations

import re
import string

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.errors import InvalidInput
from app.models import LABELS, TicketPriority, TicketStatus

PLACEHOLDERS = {
    "client_name": _l("the client's name"),
    "requester_first_name": _l("the first name of whoever opened the ticket"),
    "ticket_number": _l("the ticket's number (#123)"),
    "agent_name": _l("your full name"),
}
_BRACES = re.compile(r"[{}]")


def check_body(body: str) -> str:
    """``body`` if its placeholders are all known; else ``InvalidInput`` naming them."""
    try:
        names = [name for _text, name, _spec, _conversion in string.Formatter().parse(body or "") if name is not None]
    except ValueError:
        raise InvalidInput(_("body: a brace is not closed; write placeholders as {client_name} "
                             "(a literal brace is written twice: {{ or }})."), field="body") from None
    unknown = sorted({n for n in names if n not in PLACEHOLDERS})
    if unknown:
        raise InvalidInput(_("body: unknown placeholder(s) %(unknown)s; known: %(known)s.",
                             unknown=", ".join("{" + n + "}" for n in unknown),
                             known=", ".join("{" + n + "}" for n in PLACEHOLDERS)), field="body")
    return body


def values_for(ticket, agent) -> dict[str, str]:
    requester = ticket.opened_by
    return {
        "client_name": ticket.client.name if ticket.client else "",
        "requester_first_name": (requester.first_name or requester.username) if requester else "there",
        "ticket_number": f"#{ticket.id}",
        "agent_name": " ".join(filter(None, [agent.first_name, agent.last_name])) or agent.username,
    }


def apply(macro, ticket, agent) -> dict:
    """What applying ``macro`` to ``ticket`` puts in the reply box, for ``agent``."""
    body = check_body(macro.body).format(**values_for(ticket, agent))
    return {"body": body, "set_status": macro.set_status, "set_priority": macro.set_priority,
            "summary": ", ".join(filter(None, [
                _("status → %(status)s", status=LABELS[macro.set_status]) if macro.set_status else "",
                _("priority → %(priority)s", priority=LABELS[macro.set_priority]) if macro.set_priority else ""]))}


def apply_moves(ticket, status: str | None, priority: str | None) -> None:
    """The status and priority a macro sets, applied with the public reply it filled
    (values the reply box carried: checked like any other input)."""
    if status:
        if status not in {s.value for s in TicketStatus}:
            raise InvalidInput(_("The macro's status is not a ticket status."), field="set_status")
        ticket.status = status
    if priority:
        if priority not in {p.value for p in TicketPriority}:
            raise InvalidInput(_("The macro's priority is not a ticket priority."), field="set_priority")
        ticket.priority = priority
