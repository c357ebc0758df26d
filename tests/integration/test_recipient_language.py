"""PDF reports and e-mails are written in their recipient's language (issue 21).

A monthly report goes to a client: it is written in the client's language
(``Client.language``, else English), figures and dates included (``R$ 1.234,56`` and
``31/10/2026`` in Portuguese). An e-mail goes to a person: their own choice, else their
client's default, else English; a message to several people is written once per
language among them. The PDF is read back with pypdf, as ``test_reports`` does.

The Portuguese words need the compiled catalogue (``app/translations``, ``make
translations``); figures and dates need only Babel.
"""

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pypdf
import pytest
import sqlalchemy as sa

from app import models as m
from app import tenancy
from app.extensions import db
from app.services import tickets
from tests.conftest import PASSWORD, run_cli


@pytest.fixture
def report_app(app, tmp_path):
    app.config.update(REPORT_DIR=str(tmp_path / "reports"), UPLOAD_DIR=str(tmp_path / "uploads"))
    return app


def _last_month() -> dt.date:
    today = dt.datetime.now(dt.UTC).date()
    return (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def _client(slug) -> m.Client:
    return db.session.execute(sa.select(m.Client).filter_by(slug=slug)).scalar_one()


def _user(username) -> m.User:
    return db.session.execute(sa.select(m.User).filter_by(username=username)).scalar_one()


def _choose_language(username, code) -> None:
    """``username`` chose ``code`` (as the navbar's menu saves it)."""
    db.session.add(m.UserPreference(user_id=_user(username).id, language=code))
    db.session.commit()


def _pdf_text(app, slug, period) -> str:
    result = run_cli(app, "reports", "generate", "--client", slug, "--month", f"{period:%Y-%m}")
    if result.exit_code != 0:
        run = db.session.execute(sa.select(m.JobRun).order_by(m.JobRun.id.desc()).limit(1)).scalar_one()
        pytest.fail(f"{result.output}\n{run.traceback}")
    path = Path(re.search(r": (/\S+\.pdf) \(JobRun \d+\)", result.output).group(1))
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(path).pages)


def _card(text: str, label: str) -> str:
    """The value printed right under a KPI card's label."""
    lines = text.splitlines()
    return lines[lines.index(label) + 1]


def _spend(client_id: int, period: dt.date) -> Decimal:
    last = (period.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    cm = m.CampaignMetric.__table__
    return Decimal(db.session.execute(sa.select(sa.func.sum(cm.c.cost)).where(
        cm.c.client_id == client_id, cm.c.date >= period, cm.c.date <= last)).scalar_one())


def _brazilian_money(value: Decimal) -> str:
    """``R$ 12.345,67``, written here by hand (not by Babel)."""
    whole, cents = f"{value:,.2f}".split(".")
    return f"R$ {whole.replace(',', '.')},{cents}"


def test_a_portuguese_clients_report_is_in_portuguese_with_brazilian_figures(report_app):
    period = _last_month()
    pro = _client("pro-co")
    pro.language = "pt_BR"
    db.session.commit()
    spend = _spend(pro.id, period)
    assert spend >= 1000  # the seed's month: a figure with a thousands separator

    text = _pdf_text(report_app, "pro-co", period)
    # Figures and dates by Babel's pt-BR: R$ 1.234,56 and dd/mm/yyyy.
    assert _card(text, "Investimento em anúncios") == _brazilian_money(spend)
    generated = dt.datetime.now(dt.UTC).date()
    assert f"gerado em {generated:%d/%m/%Y}" in text
    assert re.search(r"\b\d{2}/\d{2}/\d{4}\b", text) and not re.search(r"\b\d{4}-\d{2}-\d{2}\b", text)
    # Words from the catalogue (make translations).
    assert "RELATÓRIO MENSAL" in text and "\nDestaques\n" in text and "\nAnálises\n" in text
    assert "Highlights" not in text and "Monthly report" not in text and "Ad spend" not in text
    month_names = ("janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro",
                   "outubro", "novembro", "dezembro")
    assert f"{month_names[period.month - 1]} de {period.year}" in text


def test_an_english_clients_report_stays_english(report_app):
    period = _last_month()
    pro = _client("pro-co")
    assert pro.language is None  # the test seed sets no client language
    _choose_language("pro-co-owner", "pt_BR")  # an owner's own choice is theirs, not the report's
    spend = _spend(pro.id, period)

    text = _pdf_text(report_app, "pro-co", period)
    assert _card(text, "Ad spend") == f"R$ {spend:,.2f}"
    assert "MONTHLY REPORT" in text and "\nHighlights\n" in text
    assert f"generated {dt.datetime.now(dt.UTC).date():%Y-%m-%d}" in text
    assert "Destaques" not in text and "gerado em" not in text and _brazilian_money(spend) not in text


def _ticket_opened_by_nobody(slug) -> m.Ticket:
    """An open ticket of ``slug`` whose opener is unknown: a staff reply goes to the owners."""
    ticket = db.session.execute(sa.select(m.Ticket).where(
        m.Ticket.client_id == _client(slug).id, m.Ticket.status.in_(["open", "in_progress"]))
        .order_by(m.Ticket.id).limit(1)).scalar_one()
    ticket.opened_by_id = None
    db.session.commit()
    return ticket


def _emails(kind, ticket_id):
    db.session.expire_all()
    rows = db.session.execute(sa.select(m.OutboxEmail).filter_by(kind=kind).order_by(m.OutboxEmail.id)
                              ).scalars().all()
    return {e.to_address: e for e in rows if f"#{ticket_id}" in e.subject}


def test_a_ticket_email_is_in_each_recipients_language(app):
    from flask import current_app

    pro = _client("pro-co")
    pro.language = "pt_BR"
    sm = current_app.appbuilder.sm
    colleague = sm.add_user("pro-co-admin", "Ana", "Souza", "admin@pro-co.example", sm.find_role("Client"),
                            password=PASSWORD)
    db.session.add(m.ClientMember(client_id=pro.id, user_id=colleague.id, role="admin"))
    db.session.commit()
    _choose_language("pro-co-owner", "en")  # the owner chose English; the colleague chose nothing
    ticket = _ticket_opened_by_nobody("pro-co")
    staff = _user("operator")

    db.session.add(m.TicketMessage(ticket_id=ticket.id, author_id=staff.id, body="Fixed on our side.",
                                   internal=False))
    db.session.commit()

    emails = _emails("ticket_reply", ticket.id)
    owner, admin = emails["owner@pro-co.example"], emails["admin@pro-co.example"]
    assert owner.subject == f"[Atrium] Re: #{ticket.id} {ticket.subject}"
    assert f"wrote on ticket #{ticket.id}:" in owner.body and "escreveu" not in owner.body
    assert admin.subject == f"[Atrium] Re: #{ticket.id} {ticket.subject}"  # the same words in both
    assert f"escreveu no chamado #{ticket.id}:" in admin.body and "Fixed on our side." in admin.body
    assert "wrote on ticket" not in admin.body


def test_a_clients_reply_reaches_staff_in_the_language_they_chose(app):
    """The reply is written in the client user's transaction, which cannot read a staff
    member's settings (row-level security, ``atrium_own_row``): the recipients'
    languages are read as the system, and the client's own settings put back."""
    pro = _client("pro-co")
    pro.language = "en"
    ticket = db.session.execute(sa.select(m.Ticket).where(
        m.Ticket.client_id == pro.id, m.Ticket.status.in_(["open", "in_progress", "waiting_client"]),
        m.Ticket.assignee_id.is_not(None)).order_by(m.Ticket.id).limit(1)).scalar_one()
    db.session.commit()
    _choose_language(ticket.assignee.username, "pt_BR")
    owner = _user("pro-co-owner")
    ticket_id, assignee_email = ticket.id, ticket.assignee.email

    scope = tenancy.Scope(is_staff=False, client_id=pro.id, user_id=owner.id, member_role="owner")
    with tenancy.acting_as(scope):
        ticket = db.session.get(m.Ticket, ticket_id)
        tickets.reply(db.session, ticket, owner, "Ainda quebrado no celular.")
        db.session.commit()
        db.session.add(m.TicketMessage(ticket_id=ticket_id, author_id=owner.id, body="E no tablet também.",
                                       internal=False))
        db.session.flush()
        if db.engine.dialect.name == "postgresql":  # the flush wrote as the client, not as the system
            settings = db.session.connection().execute(sa.text(
                "SELECT current_setting('atrium.staff', true), current_setting('atrium.client_id', true)")).one()
            assert tuple(settings) == ("off", str(pro.id))
        db.session.commit()

    emails = db.session.execute(sa.select(m.OutboxEmail).filter_by(kind="ticket_reply", to_address=assignee_email)
                                .order_by(m.OutboxEmail.id)).scalars().all()
    assert [e.body.split(":", 1)[1].strip() for e in emails] == ["Ainda quebrado no celular.", "E no tablet também."]
    assert all(f"escreveu no chamado #{ticket_id}:" in e.body for e in emails)
