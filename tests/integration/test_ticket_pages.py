"""The ticket workspace as people receive it (issue 20): the staff ticket page (what it
shows, what its buttons and options are, what each POST changes), queues and alerts,
the client's ticket page (reply that reopens or follows up, attachments, rating), and
the same moves through the API and the CLI."""

from __future__ import annotations

import datetime as dt
import io
import re

import sqlalchemy as sa

from app import models as m
from app.extensions import db
from app.models.base import utcnow
from tests.conftest import PASSWORD, csrf_token, login, run_cli


def _user(username):
    return db.session.execute(sa.select(m.User).filter_by(username=username)).scalar_one()


def _ticket(slug="pro-co", opener="pro-co-owner", **values):
    client = db.session.execute(sa.select(m.Client).filter_by(slug=slug)).scalar_one()
    ticket = m.Ticket(client=client, subject=values.pop("subject", "Checkout page is blank"),
                      description="Since this morning.", priority="high", opened_by=_user(opener), **values)
    db.session.add(ticket)
    db.session.commit()
    return ticket.id


def _fresh(ticket_id):
    db.session.expire_all()
    return db.session.get(m.Ticket, ticket_id)


def _options(html, select_id):
    select = re.search(rf'<select[^>]*id="{select_id}"[^>]*>(.*?)</select>', html, re.S).group(1)
    return re.findall(r"<option[^>]*>([^<]*)</option>", select)


def test_the_staff_page_shows_the_thread_the_clock_and_only_staff_to_assign(client):
    ticket_id = _ticket()
    db.session.add_all([
        m.TicketMessage(ticket_id=ticket_id, author=_user("pro-co-owner"), body="Still blank for us."),
        m.TicketMessage(ticket_id=ticket_id, author=_user("developer"), body="CDN purge pending.", internal=True)])
    db.session.commit()
    login(client, "operator")
    html = client.get(f"/ticketview/show/{ticket_id}").get_data(as_text=True)
    assert "Checkout page is blank" in html and "Still blank for us." in html
    note = re.search(r'<div class="panel panel-warning atrium-note[^"]*"[^>]*>(.*?)</div>\s*</div>', html, re.S).group(1)
    assert "Internal note" in note and "CDN purge pending." in note
    assert re.search(r'id="ticket-sla">First response due in (3 h 5\d|4 h 0) min', html)
    assert ">Open<" in html and "High priority" in html and "Pro Co</a> · Pro plan" in html
    staff_names = {f"{u.first_name} {u.last_name}" for u in db.session.execute(
        sa.select(m.User).join(m.User.roles).where(m.Role.name.in_(["Admin", "Operator", "Developer"]))).scalars()}
    assert set(_options(html, "assignee")) == {"Unassigned", *staff_names}
    assert "Owner" not in " ".join(_options(html, "assignee"))  # no client user offered
    assert re.findall(r'id="move-(\w+)"', html) == ["start", "wait", "resolve", "close"]
    assert 'id="send-reply"' in html and 'id="send-note"' in html and 'id="view-as-requester"' in html
    assert set(_options(html, "macro")) >= {"Choose a canned reply…", "Acknowledge", "Need more information", "Fixed"}


def test_a_reply_with_an_attachment_records_the_first_response_and_a_note_does_not(client):
    ticket_id = _ticket()
    login(client, "operator")
    token = csrf_token(client, f"/ticketview/show/{ticket_id}")
    client.post(f"/ticketview/reply/{ticket_id}", data={"csrf_token": token, "kind": "note", "body": "Checking logs."})
    assert _fresh(ticket_id).first_response_at is None
    answer = client.post(f"/ticketview/reply/{ticket_id}", content_type="multipart/form-data", data={
        "csrf_token": token, "kind": "reply", "body": "Fixed the cache rule.",
        "attachment": (io.BytesIO(b"cache rule: bypass /checkout\n"), "rule.txt")})
    assert answer.status_code == 302
    ticket = _fresh(ticket_id)
    assert ticket.first_response_at is not None and ticket.sla_state == "ok"
    [note, reply] = sorted(ticket.messages, key=lambda x: x.id)
    assert note.internal and not reply.internal and [f.file_name for f in reply.attachments] == ["rule.txt"]
    html = client.get(f"/ticketview/show/{ticket_id}").get_data(as_text=True)
    link = re.search(r'href="(/storagefileview/file/\d+)"><i class="fa fa-paperclip"></i> rule.txt', html).group(1)
    assert client.get(link).data == b"cache rule: bypass /checkout\n"


def test_moves_are_posts_that_set_the_clock_and_a_refused_one_writes_nothing(client):
    ticket_id = _ticket()
    login(client, "operator")
    token = csrf_token(client, f"/ticketview/show/{ticket_id}")
    client.post(f"/ticketview/move/{ticket_id}", data={"csrf_token": token, "move": "wait"})
    assert _fresh(ticket_id).status == "waiting_client" and _fresh(ticket_id).sla_paused_since is not None
    page = client.post(f"/ticketview/move/{ticket_id}", data={"csrf_token": token, "move": "wait"},
                       follow_redirects=True).get_data(as_text=True)
    assert "not possible while the ticket is waiting on client" in page
    client.post(f"/ticketview/move/{ticket_id}", data={"csrf_token": token, "move": "resolve"})
    assert _fresh(ticket_id).resolved_at is not None
    assert client.get(f"/ticketview/move/{ticket_id}").status_code == 405  # a move is never a GET


def test_take_it_and_a_forged_client_assignee_is_refused(client):
    ticket_id = _ticket()
    login(client, "operator")
    token = csrf_token(client, f"/ticketview/show/{ticket_id}")
    client.post(f"/ticketview/assign/{ticket_id}", data={"csrf_token": token, "assignee": "", "take": "1"})
    assert _fresh(ticket_id).assignee_id == _user("operator").id
    page = client.post(f"/ticketview/assign/{ticket_id}", follow_redirects=True, data={
        "csrf_token": token, "assignee": str(_user("pro-co-owner").id)}).get_data(as_text=True)
    assert "Choose an active staff member" in page and _fresh(ticket_id).assignee_id == _user("operator").id


def test_a_macro_fills_the_reply_and_its_status_goes_with_the_reply(client):
    ticket_id = _ticket()
    macro = db.session.execute(sa.select(m.TicketMacro).filter_by(name="Need more information")).scalar_one()
    login(client, "operator")
    filled = client.get(f"/ticketview/macro/{ticket_id}/{macro.id}").get_json()
    assert filled["body"].startswith("Hi Pro,") and f"#{ticket_id}" in filled["body"] and "Pro Co" in filled["body"]
    assert filled["set_status"] == "waiting_client" and filled["summary"] == "status → Waiting on client"
    assert _fresh(ticket_id).status == "open"  # applying changes nothing
    token = csrf_token(client, f"/ticketview/show/{ticket_id}")
    client.post(f"/ticketview/reply/{ticket_id}", data={"csrf_token": token, "kind": "reply", "body": filled["body"],
                                                      "set_status": filled["set_status"]})
    ticket = _fresh(ticket_id)
    assert ticket.status == "waiting_client" and ticket.messages[-1].body == filled["body"]
    assert client.get(f"/ticketview/macro/{ticket_id}/999999").status_code == 404
    forged = client.post(f"/ticketview/reply/{ticket_id}", follow_redirects=True, data={
        "csrf_token": token, "kind": "reply", "body": "Forged move", "set_status": "deleted"}).get_data(as_text=True)
    assert "The macro&#39;s status is not a ticket status." in forged
    assert [x.body for x in _fresh(ticket_id).messages].count("Forged move") == 0  # nothing written


def test_an_admin_macro_with_an_unknown_placeholder_is_refused_on_the_form(client):
    login(client, "admin")
    token = csrf_token(client, "/ticketmacroview/add")
    answer = client.post("/ticketmacroview/add", data={"csrf_token": token, "name": "Typo", "body": "Hi {frist_name}"})
    assert answer.status_code == 422 and "unknown placeholder(s) {frist_name}" in answer.get_data(as_text=True)
    login(client, "operator")
    assert client.get("/ticketmacroview/add").status_code in (302, 403)  # Operators apply, Admin writes


def test_two_staff_on_one_ticket_see_each_other(app):
    ticket_id = _ticket()
    first, second = app.test_client(), app.test_client()
    login(first, "operator")
    login(second, "developer")
    token_first = csrf_token(first, f"/ticketview/show/{ticket_id}")
    token_second = csrf_token(second, f"/ticketview/show/{ticket_id}")
    assert first.post(f"/ticketview/presence/{ticket_id}", data={"csrf_token": token_first,
                                                                 "composing": "0"}).get_json()["others"] == []
    seen = second.post(f"/ticketview/presence/{ticket_id}", data={"csrf_token": token_second, "composing": "1"})
    assert seen.get_json()["others"] == [{"name": "Otávio Operator", "composing": False}]
    again = first.post(f"/ticketview/presence/{ticket_id}", data={"csrf_token": token_first, "composing": "0"})
    assert again.get_json()["others"] == [{"name": "Débora Developer", "composing": True}]


def test_a_client_user_reaches_none_of_the_staff_workspace(client):
    ticket_id = _ticket()
    login(client, "pro-co-owner")
    for path in (f"/ticketview/show/{ticket_id}", f"/ticketview/macro/{ticket_id}/1", "/support/queues/mine",
                 "/support/queues/counts", "/support/alerts/", "/ticketmacroview/list/"):
        assert client.get(path).status_code in (302, 403), path


def test_queues_list_their_tickets_with_counts_and_filters(client):
    ticket_id = _ticket(subject="Nobody has this yet")
    login(client, "operator")
    html = client.get("/support/queues/unassigned").get_data(as_text=True)
    assert f'data-ticket="{ticket_id}"' in html and "Nobody has this yet" in html
    counts = client.get("/support/queues/counts").get_json()
    assert set(counts["queues"]) == {"mine", "unassigned", "at-risk", "waiting", "open"}
    assert re.search(rf'id="queue-unassigned">\s*Unassigned <span class="badge"[^>]*>{counts["queues"]["unassigned"]}<', html)
    free = db.session.execute(sa.select(m.Client.id).filter_by(slug="free-co")).scalar_one()
    narrowed = client.get(f"/support/queues/unassigned?client={free}").get_data(as_text=True)
    assert f'data-ticket="{ticket_id}"' not in narrowed
    assert client.get("/support/queues/unassigned?client=abc").status_code == 400
    assert client.get("/support/queues/nothing").status_code == 404


def test_a_client_ticket_with_an_attachment_alerts_the_operators(client):
    login(client, "operator")
    unread_before = client.get("/support/queues/counts").get_json()["unread_alerts"]
    login(client, "free-co-owner")
    token = csrf_token(client, "/portal/tickets/add")
    answer = client.post("/portal/tickets/add", content_type="multipart/form-data", data={
        "csrf_token": token, "subject": "Form broken", "description": "The contact form says error 500.",
        "priority": "high", "attachment": (io.BytesIO(b"error 500 at 10:02\n"), "error.txt")})
    assert answer.status_code == 302
    ticket = db.session.execute(sa.select(m.Ticket).filter_by(subject="Form broken")).scalar_one()
    assert [f.file_name for f in ticket.attachments] == ["error.txt"]
    operators = db.session.execute(sa.select(m.User.email).join(m.User.roles).where(m.Role.name == "Operator")
                                   ).scalars().all()
    queued = db.session.execute(sa.select(m.OutboxEmail.to_address).where(
        m.OutboxEmail.subject == f"[Atrium] New ticket #{ticket.id}: Form broken")).scalars().all()
    assert sorted(queued) == sorted(operators)
    login(client, "operator")
    assert client.get("/support/queues/counts").get_json()["unread_alerts"] == unread_before + 1
    alerts = client.get("/support/alerts/").get_data(as_text=True)
    assert f"New ticket #{ticket.id} from Free Owner: Form broken" in alerts


def test_the_client_replies_to_reopen_rates_and_later_follows_up(client):
    ticket_id = _ticket()
    ticket = _fresh(ticket_id)
    ticket.status = "resolved"
    db.session.commit()
    login(client, "pro-co-owner")
    page = client.get(f"/portal/tickets/show/{ticket_id}").get_data(as_text=True)
    assert 'id="rate-form"' in page and 'id="reply-reopens"' in page and "median first response" in page
    token = csrf_token(client, f"/portal/tickets/show/{ticket_id}")
    client.post(f"/portal/tickets/rate/{ticket_id}", data={"csrf_token": token, "satisfaction": "satisfied",
                                                           "comment": "Quick, thanks."})
    assert (_fresh(ticket_id).satisfaction, _fresh(ticket_id).satisfaction_comment) == ("satisfied", "Quick, thanks.")
    client.post(f"/portal/tickets/reply/{ticket_id}", data={"csrf_token": token, "body": "Broken again."})
    assert _fresh(ticket_id).status == "open"
    login(client, "operator")
    staff_page = client.get(f"/ticketview/show/{ticket_id}").get_data(as_text=True)
    assert 'id="ticket-rating"' in staff_page and "Quick, thanks." in staff_page
    # The Business dashboard counts ratings of complete days (its range ends yesterday).
    today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    db.session.execute(sa.text("UPDATE tickets SET rated_at = :t WHERE id = :id"),
                       {"t": today - dt.timedelta(hours=12), "id": ticket_id})
    db.session.commit()
    rated, satisfied = db.session.execute(sa.text(
        "SELECT count(*), count(*) FILTER (WHERE satisfaction = 'satisfied') FROM tickets "
        "WHERE rated_at >= :since AND rated_at < :until"), {"since": today - dt.timedelta(days=30), "until": today}).one()
    business = client.get("/analytics/").get_data(as_text=True)
    assert re.search(rf'id="total-ratings">{satisfied} of {rated}<', business) and rated >= 1
    # Resolved again, long ago: a reply opens a new ticket that follows this one.
    ticket = _fresh(ticket_id)
    ticket.status = "resolved"
    db.session.commit()
    ticket.resolved_at = utcnow() - dt.timedelta(days=9)
    db.session.commit()
    login(client, "pro-co-owner")
    token = csrf_token(client, f"/portal/tickets/show/{ticket_id}")
    answer = client.post(f"/portal/tickets/reply/{ticket_id}", data={"csrf_token": token, "body": "Again!"})
    follow_up = db.session.execute(sa.select(m.Ticket).filter_by(follows_id=ticket_id)).scalar_one()
    assert answer.headers["Location"].endswith(f"/portal/tickets/show/{follow_up.id}")
    assert _fresh(ticket_id).status == "resolved" and follow_up.messages[0].body == "Again!"


def test_only_the_requester_is_offered_the_rating_and_may_rate(client):
    ticket_id = _ticket(opener="operator")  # opened by staff for the client: the owner is not its requester
    ticket = _fresh(ticket_id)
    ticket.status = "resolved"
    db.session.commit()
    login(client, "pro-co-owner")
    assert 'id="rate-form"' not in client.get(f"/portal/tickets/show/{ticket_id}").get_data(as_text=True)
    token = csrf_token(client, f"/portal/tickets/show/{ticket_id}")
    client.post(f"/portal/tickets/rate/{ticket_id}", data={"csrf_token": token, "satisfaction": "unsatisfied"})
    assert _fresh(ticket_id).satisfaction is None


def test_staff_times_follow_their_own_timezone(client):
    ticket_id = _ticket()
    login(client, "operator")
    created = _fresh(ticket_id).created_at
    assert created.strftime("%Y-%m-%d %H:%M UTC") in client.get(f"/ticketview/show/{ticket_id}").get_data(as_text=True)
    token = csrf_token(client, "/support/settings/")
    assert client.post("/support/settings/", data={"csrf_token": token, "timezone": "Mars/Olympus"}).status_code == 422
    client.post("/support/settings/", data={"csrf_token": token, "timezone": "America/Sao_Paulo"})
    local = created.astimezone(dt.timezone(dt.timedelta(hours=-3))).strftime("%Y-%m-%d %H:%M (UTC-03:00)")
    assert local in client.get(f"/ticketview/show/{ticket_id}").get_data(as_text=True)


def _audit(ticket_id):
    return [(e.action, {k: v for k, v in (e.changes or {}).items() if k in ("status", "resolved_at", "sla_state")}
             .keys()) for e in db.session.execute(
        sa.select(m.AuditEvent).where(m.AuditEvent.resource_type == "Ticket",
                                      m.AuditEvent.resource_id == str(ticket_id)).order_by(m.AuditEvent.seq)).scalars()]


def test_the_api_and_the_cli_make_the_same_moves_with_the_same_clock_and_audit(client, app):
    by_api, by_cli = _ticket(subject="API"), _ticket(subject="CLI")
    token = client.post("/api/v1/security/login", json={"username": "operator", "password": PASSWORD,
                                                        "provider": "db"}).get_json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    for move in ("wait", "resolve"):
        answer = client.post(f"/api/v1/ticket/{by_api}/moves", json={"move": move}, headers=headers)
        assert answer.status_code == 200, answer.get_json()
        result = run_cli(app, "tickets", "move", str(by_cli), move)
        assert result.exit_code == 0, result.output
    assert client.post(f"/api/v1/ticket/{by_api}/moves", json={"move": "wait"}, headers=headers).status_code == 422
    assert client.post(f"/api/v1/ticket/{by_api}/moves", json={"go": 1}, headers=headers).status_code == 400
    bad = run_cli(app, "tickets", "move", str(by_cli), "wait")
    assert bad.exit_code != 0 and "not possible while the ticket is resolved" in bad.output
    api, cli = _fresh(by_api), _fresh(by_cli)
    assert (api.status, api.sla_state, api.sla_hours) == (cli.status, cli.sla_state, cli.sla_hours) == \
        ("resolved", "ok", 4)
    assert api.sla_paused_since is None and cli.sla_paused_since is None
    assert abs((api.first_response_due_at - api.created_at) - (cli.first_response_due_at - cli.created_at)) < \
        dt.timedelta(seconds=5)
    assert _audit(by_api) == _audit(by_cli) and len(_audit(by_api)) == 3


def test_the_ticket_list_filters_by_client_and_assignee(client):
    login(client, "operator")
    pro = db.session.execute(sa.select(m.Client.id).filter_by(slug="pro-co")).scalar_one()
    developer = _user("developer").id
    html = client.get(f"/ticketview/list/?_flt_0_client={pro}&_flt_0_assignee={developer}&psize_TicketView=100"
                      ).get_data(as_text=True)
    shown = [int(x) for x in re.findall(r"<td>\s*(\d+)\s*</td>", html)]
    expected = db.session.execute(sa.text("SELECT id FROM tickets WHERE client_id = :c AND assignee_id = :a "
                                          "ORDER BY created_at DESC, id DESC"), {"c": pro, "a": developer}).scalars().all()
    assert shown == expected and expected


def test_view_as_requester_starts_a_read_only_view_as_with_the_ticket_as_reason(client):
    ticket_id = _ticket()
    login(client, "operator")
    page = client.get(f"/ticketview/show/{ticket_id}").get_data(as_text=True)
    form = re.search(r'<form method="post" action="([^"]+)" id="view-as-requester">(.*?)</form>', page, re.S)
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', form.group(2)))
    assert fields["reason"] == f"Ticket #{ticket_id}" and fields["mode"] == "read-only"
    answer = client.post(form.group(1), data=fields)
    assert answer.status_code == 302 and answer.headers["Location"].rstrip("/").endswith("/portal")
    row = db.session.execute(sa.select(m.ImpersonationSession).order_by(m.ImpersonationSession.id.desc())
                             .limit(1)).scalar_one()
    assert (row.reason, row.mode, row.target_user_id) == (f"Ticket #{ticket_id}", "read-only", _user("pro-co-owner").id)
