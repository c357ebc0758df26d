"""The monthly client report as a PDF (ReportLab): ``render(data, out)``.

Only drawing lives here: every figure, rule and insight arrives computed in
``app.services.report_data.ReportData``; this module lays it out and formats it. It is
drawn in the language in effect (``services.reports`` renders inside ``force_locale``
with the client's language): every word is ``gettext``'s, money, numbers and dates are
``app.i18n``'s (``R$ 1,234.56`` and ``2026-12-07`` in English, ``R$ 1.234,56`` and
``07/12/2026`` in Portuguese); times are UTC.

Layout (A4): a cover band in the brand colour with the client, the month and the
plan, then KPI cards with the change against last month (reliability, support,
advertising) and, on Pro and Enterprise, the insights; then advertising (daily spend,
ROAS trend, campaigns by spend), reliability (uptime timeline per site, incidents),
support (ticket volume) and sites (performance grades, traffic, domains and
certificates expiring). Enterprise reports are white-label: the client's logo and
colour, and no agency name anywhere (text or document properties); every other plan
carries the agency's name and colour.

Charts are ``reportlab.graphics`` drawings; a chart with nothing to show is replaced by
a sentence saying so. Text uses the PDF base fonts (Helvetica), so names must be in
Latin-1/Windows-1252, which Portuguese and the other Western languages are.
"""

from __future__ import annotations

import datetime as dt
import logging
from xml.sax.saxutils import escape

from flask_babel import format_date as babel_format_date
from flask_babel import gettext as _
from flask_babel import ngettext
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import ImageReader, simpleSplit
from reportlab.platypus import (
    BaseDocTemplate, CondPageBreak, Flowable, Frame, KeepTogether, NextPageTemplate, PageBreak, PageTemplate,
    Paragraph, Spacer, Table, TableStyle,
)

from app.reports.charts import roas_chart, spend_chart, tickets_chart, uptime_timeline
from app.reports.style import (
    BAD, BAND_H, BOLD, CARD, CONTENT_W, FONT, FOOTER_Y, GOOD, INK, MARGIN, MUTED, PAGE_H, PAGE_W, PLATFORMS, RULE,
    SEVERITY_COLORS, ZEBRA, Theme, change_text, clip_text, count, days_left_text, fit_size, format_date, format_when,
    kpi_value, money, percent, places, ratio,
)
from app.i18n import number

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- KPI cards

class KpiRow(Flowable):
    """A row of up to four KPI cards: label, value, change against last month (drawn in
    that order, so a text extractor reads each card's label just before its value)."""

    HEIGHT = 64
    GAP = 8

    def __init__(self, kpis, previous: dt.date, theme: Theme):
        super().__init__()
        self.kpis, self.previous, self.theme = kpis, previous, theme

    def wrap(self, avail_width, avail_height):
        return CONTENT_W, self.HEIGHT

    def draw(self):
        c = self.canv
        width = (CONTENT_W - 3 * self.GAP) / 4
        for index, kpi in enumerate(self.kpis):
            x = index * (width + self.GAP)
            c.setFillColor(CARD)
            c.roundRect(x, 0, width, self.HEIGHT, 4, stroke=0, fill=1)
            c.setFillColor(self.theme.brand)
            c.rect(x, 0, 3, self.HEIGHT, stroke=0, fill=1)
            inner = width - 18
            c.setFillColor(MUTED)
            c.setFont(FONT, 7.5)
            c.drawString(x + 11, self.HEIGHT - 15, clip_text(kpi.label, FONT, 7.5, inner))
            text = kpi_value(kpi) if kpi.value is not None or kpi.note is None else _("n/a")
            size = fit_size(text, BOLD, 16, inner, 9)
            c.setFillColor(INK)
            c.setFont(BOLD, size)
            c.drawString(x + 11, self.HEIGHT - 36, text)
            if kpi.note and kpi.value is None:
                c.setFillColor(MUTED)
                c.setFont(FONT, 7)
                for n, line in enumerate(simpleSplit(kpi.note, FONT, 7, inner)[:2]):
                    c.drawString(x + 11, 17 - n * 8.5, line)
            elif kpi.key == "sites":
                c.setFillColor(MUTED)
                c.setFont(FONT, 7.5)
                c.drawString(x + 11, 12, clip_text(_("with uptime monitoring"), FONT, 7.5, inner))
            else:
                c.setFillColor({True: GOOD, False: BAD}.get(kpi.good, MUTED))
                c.setFont(FONT, 7.5)
                c.drawString(x + 11, 12, clip_text(change_text(kpi, self.previous), FONT, 7.5, inner))


# --------------------------------------------------------------------------- tables

def _table(rows, widths, theme: Theme, numeric_from: int = 1, total: bool = False) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1)
    style = [
        ("FONT", (0, 0), (-1, 0), BOLD, 7.5),
        ("TEXTCOLOR", (0, 0), (-1, 0), theme.on_brand),
        ("BACKGROUND", (0, 0), (-1, 0), theme.brand),
        ("FONT", (0, 1), (-1, -1), FONT, 8),
        ("TEXTCOLOR", (0, 1), (-1, -1), INK),
        ("ALIGN", (numeric_from, 0), (-1, -1), "RIGHT"),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 3.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3.5),
        ("LINEBELOW", (0, 1), (-1, -1), 0.3, RULE),
    ]
    for index in range(2, len(rows), 2):
        style.append(("BACKGROUND", (0, index), (-1, index), ZEBRA))
    if total:
        style += [("FONT", (0, -1), (-1, -1), BOLD, 8), ("LINEABOVE", (0, -1), (-1, -1), 0.8, INK),
                  ("BACKGROUND", (0, -1), (-1, -1), colors.white)]
    table.setStyle(TableStyle(style))
    return table


def _p(text: str, style) -> Paragraph:
    return Paragraph(escape(str(text)), style)


def _decimal(value) -> str:
    """A measured figure with its own decimals (``2.4``, ``0.12``), in the locale."""
    return number(value, places(value))


def campaigns_table(data, theme: Theme):
    rows = [[_("Campaign"), _("Platform"), _("Spend"), _("Conversions"), _("CPA"), _("ROAS"), _("Of budget")]]
    for c in data.campaigns:
        rows.append([_p(c.name, theme.cell), PLATFORMS.get(c.platform, c.platform), money(c.spend),
                     count(c.conversions), money(c.cpa), ratio(c.roas),
                     percent(c.pacing_percent)])
    k = data.kpis
    rows.append([_p(_("All campaigns"), theme.cell_bold), "", money(k["spend"].value), count(k["conversions"].value),
                 money(k["cpa"].value), ratio(k["roas"].value), ""])
    return _table(rows, [150, 62, 78, 62, 62, 45, 56], theme, numeric_from=2, total=True)


def incidents_table(data, theme: Theme):
    rows = [[_("Site"), _("Incident"), _("Severity"), _("Started"), _("Resolved"), _("Downtime (min)")]]
    severities = {"low": _("low"), "medium": _("medium"), "high": _("high"), "critical": _("critical")}
    for i in data.incidents:
        rows.append([_p(i.project, theme.cell), _p(i.title, theme.cell), severities.get(i.severity, i.severity),
                     format_when(i.started_at), format_when(i.resolved_at) if i.resolved_at else _("ongoing"),
                     count(i.downtime_minutes)])
    table = _table(rows, [95, 140, 50, 80, 80, 70], theme, numeric_from=5)
    return table


def grades_table(data, theme: Theme):
    rows = [[_("Project"), _("Grade"), _("Score"), "LCP", "INP", "CLS", _("Perf."), _("Access."), _("Best pr."), "SEO",
             _("Measured")]]
    for g in data.grades:
        rows.append([_p(g.project, theme.cell), g.grade, _decimal(g.score),
                     "—" if g.lcp_s is None else f"{_decimal(g.lcp_s)} s",
                     "—" if g.inp_ms is None else f"{count(g.inp_ms)} ms",
                     "—" if g.cls is None else _decimal(g.cls), str(g.performance), str(g.accessibility),
                     str(g.best_practices), str(g.seo), format_date(g.measured_at.date())])
    table = _table(rows, [96, 34, 34, 38, 44, 36, 40, 38, 40, 30, 65], theme, numeric_from=1)
    style = []
    for index, g in enumerate(data.grades, start=1):
        color = GOOD if g.grade.startswith("A") else BAD if g.grade in ("D", "F") else INK
        style.append(("TEXTCOLOR", (1, index), (1, index), color))
        style.append(("FONT", (1, index), (1, index), BOLD, 8.5))
    table.setStyle(TableStyle(style))
    return table


def traffic_table(data, theme: Theme):
    rows = [[_("Site"), _("Days"), _("Bandwidth (GB)"), _("Requests"), "4xx", "5xx", _("5xx rate"), _("Peak req/s")]]
    for t in [*data.traffic, data.traffic_total]:
        rows.append([_p(t.project, theme.cell_bold if t is data.traffic_total else theme.cell), str(t.days),
                     number(t.bandwidth_gb, 3), count(t.requests), count(t.requests_4xx), count(t.requests_5xx),
                     percent(t.error_percent), count(t.peak_rps)])
    return _table(rows, [135, 35, 70, 75, 55, 50, 45, 50], theme, numeric_from=1, total=True)


def expiring_table(data, theme: Theme):
    rows = [[_("Domain"), _("What"), _("Expires on"), _("When"), _("Auto-renew")]]
    for e in data.expiring:
        rows.append([_p(e.domain, theme.cell), _("TLS certificate") if e.what == "certificate" else _("Registration"),
                     format_date(e.expires_on), days_left_text(e.days_left),
                     "—" if e.auto_renew is None else (_("yes") if e.auto_renew else _("no"))])
    table = _table(rows, [170, 95, 85, 95, 70], theme, numeric_from=2)
    style = [("TEXTCOLOR", (3, i), (3, i), BAD) for i, e in enumerate(data.expiring, start=1) if e.days_left <= 14]
    if style:
        table.setStyle(TableStyle(style))
    return table


# --------------------------------------------------------------------------- insights

class InsightBox(Flowable):
    """One insight: a severity bar, the title and the explanation."""

    def __init__(self, insight, theme: Theme):
        super().__init__()
        self.insight, self.theme = insight, theme
        self.title = Paragraph(escape(insight.title), theme.insight_title)
        self.detail = Paragraph(escape(insight.detail), theme.insight_body)

    def wrap(self, avail_width, avail_height):
        inner = CONTENT_W - 20
        self._t = self.title.wrap(inner, avail_height)[1]
        self._d = self.detail.wrap(inner, avail_height)[1]
        self.height = self._t + self._d + 12
        return CONTENT_W, self.height

    def draw(self):
        c = self.canv
        c.setFillColor(CARD)
        c.rect(0, 0, CONTENT_W, self.height, stroke=0, fill=1)
        c.setFillColor(SEVERITY_COLORS.get(self.insight.severity, MUTED))
        c.rect(0, 0, 4, self.height, stroke=0, fill=1)
        self.title.drawOn(c, 12, self.height - 5 - self._t)
        self.detail.drawOn(c, 12, 6)


# --------------------------------------------------------------------------- the document

class ReportDocument(BaseDocTemplate):
    def __init__(self, out, data, theme: Theme):
        b = data.branding
        super().__init__(out, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=40, bottomMargin=48,
                         title=_("%(client)s — monthly report, %(month)s", client=data.client_name,
                                 month=data.period_label),
                         author=b.name, creator=b.name,
                         subject=_("Monthly report %(month)s", month=data.period.strftime("%Y-%m")),
                         producer=b.name, invariant=0)
        self.data, self.theme = data, theme
        padding = dict(leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)
        cover = Frame(MARGIN, 48, CONTENT_W, PAGE_H - BAND_H - 48 - 18, id="cover", **padding)
        body = Frame(MARGIN, 48, CONTENT_W, PAGE_H - 48 - 52, id="body", **padding)
        self.addPageTemplates([PageTemplate("cover", [cover], onPage=self._cover),
                               PageTemplate("body", [body], onPage=self._page)])

    def _footer(self, c):
        data = self.data
        c.setStrokeColor(RULE)
        c.setLineWidth(0.5)
        c.line(MARGIN, FOOTER_Y + 12, PAGE_W - MARGIN, FOOTER_Y + 12)
        c.setFont(FONT, 7.5)
        c.setFillColor(MUTED)
        c.drawString(MARGIN, FOOTER_Y, _("%(client)s · Monthly report · %(month)s", client=data.client_name,
                                         month=data.period_label))
        if not data.branding.white_label:
            c.drawCentredString(PAGE_W / 2, FOOTER_Y, _("Prepared by %(name)s", name=data.branding.name))
        c.drawRightString(PAGE_W - MARGIN, FOOTER_Y, _("Page %(page)d", page=c.getPageNumber()))

    def _page(self, c, doc):
        c.saveState()
        c.setFillColor(self.theme.brand)
        c.rect(0, PAGE_H - 8, PAGE_W, 8, stroke=0, fill=1)
        c.setFont(BOLD, 8)
        c.setFillColor(MUTED)
        c.drawString(MARGIN, PAGE_H - 30, self.data.client_name)
        c.setFont(FONT, 8)
        c.drawRightString(PAGE_W - MARGIN, PAGE_H - 30, self.data.period_label)
        self._footer(c)
        c.restoreState()

    def _cover(self, c, doc):
        data, theme, b = self.data, self.theme, self.data.branding
        c.saveState()
        top = PAGE_H - BAND_H
        c.setFillColor(theme.brand)
        c.rect(0, top, PAGE_W, BAND_H, stroke=0, fill=1)
        c.setFillColor(theme.on_brand)
        c.setFont(BOLD, 8)
        label = _("MONTHLY REPORT")
        c.drawRightString(PAGE_W - MARGIN, PAGE_H - 34, label)
        if not (b.logo_path and self._logo(c, b.logo_path)) and not b.white_label:
            c.setFillColor(theme.on_brand)
            c.setFont(BOLD, 15)
            c.drawString(MARGIN, PAGE_H - 38, b.name)
        c.setFillColor(theme.on_brand)
        size = fit_size(data.client_name, BOLD, 26, CONTENT_W, 14)
        c.setFont(BOLD, size)
        c.drawString(MARGIN, top + 52, data.client_name)
        c.setFont(FONT, 13)
        c.drawString(MARGIN, top + 32, data.period_label)
        c.setFont(FONT, 8.5)
        last = data.last_day
        c.drawString(MARGIN, top + 14, _("1–%(last_day)d %(month)s %(year)d · %(plan)s plan · generated %(date)s",
                                         last_day=last.day, month=babel_format_date(last, "MMMM"), year=last.year,
                                         plan=data.plan_label, date=format_date(data.generated_at.date())))
        c.restoreState()
        self._footer(c)

    def _logo(self, c, path: str) -> bool:
        """The client's logo on a white plate (readable on any brand colour)."""
        try:
            image = ImageReader(path)
            w, h = image.getSize()
        except Exception as exc:  # noqa: BLE001 - an unreadable logo: the name is shown instead
            log.warning("report logo %s unreadable: %s", path, exc)
            return False
        box_w, box_h = 150, 46
        scale = min((box_w - 12) / w, (box_h - 10) / h)
        c.setFillColor(colors.white)
        c.roundRect(MARGIN, PAGE_H - 66, box_w, box_h, 4, stroke=0, fill=1)
        c.drawImage(image, MARGIN + 6, PAGE_H - 66 + (box_h - h * scale) / 2, width=w * scale, height=h * scale,
                    mask="auto")
        return True


def _section(title: str, theme: Theme, subtitle: str | None = None) -> list:
    parts = [Paragraph(escape(title), theme.h1)]
    if subtitle:
        parts.append(Paragraph(escape(subtitle), theme.muted))
    parts.append(Spacer(1, 6))
    return parts


def _story(data, theme: Theme) -> list:
    k = data.kpis
    story = [NextPageTemplate("body")]
    month = data.period_label
    story += [Paragraph(escape(_("Highlights")), theme.h1),
              Paragraph(escape(_("%(month)s compared with %(previous)s.", month=month, previous=data.previous_label)),
                        theme.muted),
              Spacer(1, 4)]
    groups = ((_("Reliability"), ["uptime", "incidents", "downtime", "sites"]),
              (_("Support"), ["tickets_opened", "tickets_resolved", "sla", "breaches"]),
              (_("Advertising"), ["spend", "conversions", "cpa", "roas"]))
    for title, keys in groups:
        story += [Paragraph(escape(title), theme.h2),
                  KpiRow([k[key] for key in keys], data.period - dt.timedelta(days=1), theme)]
    if data.insights is not None:
        story += [Spacer(1, 10), Paragraph(escape(_("Insights")), theme.h1)]
        if data.insights:
            story.append(Paragraph(escape(_("What stood out in %(month)s, most important first.", month=month)),
                                   theme.muted))
            for insight in data.insights:
                story += [Spacer(1, 5), InsightBox(insight, theme)]
        else:
            story.append(Paragraph(escape(_("Nothing needs your attention in %(month)s: no rule flagged a problem.",
                                            month=month)), theme.body))

    half = (CONTENT_W - 15) / 2
    story += [PageBreak(), *_section(_("Advertising"), theme,
                                     _("Spend and results of every campaign, platform figures per day."))]
    if data.campaigns:
        charts = Table([[spend_chart(data, theme, half), roas_chart(data, theme, half)]], colWidths=[half + 15, half])
        charts.setStyle(TableStyle([("LEFTPADDING", (0, 0), (-1, -1), 0), ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                                    ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        story += [charts, Spacer(1, 10), Paragraph(escape(_("Campaigns by spend")), theme.h2),
                  campaigns_table(data, theme)]
    else:
        story.append(Paragraph(escape(_("No ad campaign ran in %(month)s.", month=month) if data.ads_included else
                                      _("Ad platform figures are not part of the %(plan)s plan.",
                                        plan=data.plan_label)), theme.body))

    story += [Spacer(1, 14), CondPageBreak(200),
              *_section(_("Reliability"), theme,
                        _("Outages come from the uptime monitors and incident records; times in UTC.")),
              uptime_timeline(data, theme)]
    if data.incidents:
        story += [Paragraph(escape(_("Incidents")), theme.h2), incidents_table(data, theme)]
    else:
        story += [Spacer(1, 6), Paragraph(escape(_("No incidents in %(month)s.", month=month)), theme.body)]

    support = [*_section(_("Support"), theme, _support_line(data)), tickets_chart(data, theme)]
    story += [Spacer(1, 14), KeepTogether(support)]

    story += [Spacer(1, 14), CondPageBreak(260),
              *_section(_("Sites"), theme, _("Performance, traffic, domains and certificates."))]
    story.append(Paragraph(escape(_("Performance grades (latest measurement per project)")), theme.h2))
    if data.grades:
        story += [grades_table(data, theme), Spacer(1, 3),
                  Paragraph(escape(_("Grade: 40 % Lighthouse performance + 20 % each of accessibility, best practices "
                                     "and SEO (A from 90, B from 80, C from 70, D from 50); a poor Core Web Vital (LCP "
                                     "over 4 s, INP over 500 ms, CLS over 0.25) caps it at C.")), theme.muted)]
    else:
        story.append(Paragraph(escape(_("No performance measurement yet.")), theme.muted))
    story.append(Paragraph(escape(_("Network usage")), theme.h2))
    story.append(traffic_table(data, theme) if data.traffic else
                 Paragraph(escape(_("No traffic figures for %(month)s.", month=month)), theme.muted))
    horizon = format_date(data.expiry_horizon)
    story.append(Paragraph(escape(_("Domains and certificates expiring by %(date)s", date=horizon)), theme.h2))
    if data.expiring:
        story += [expiring_table(data, theme), Spacer(1, 3),
                  Paragraph(escape(_("60 days after the end of %(month)s; days counted from %(date)s, when this "
                                     "report was generated.", month=month,
                                     date=format_date(data.generated_at.date()))), theme.muted)]
    else:
        story.append(Paragraph(escape(_("Nothing expires before %(date)s.", date=horizon)), theme.muted))
    return story


def _support_line(data) -> str:
    """One sentence: tickets opened and resolved, and the first-response SLA."""
    k = data.kpis
    opened = k["tickets_opened"].value or 0
    words = dict(opened=count(opened), resolved=count(k["tickets_resolved"].value), hours=data.sla_hours or 0,
                 plan=data.plan_label)
    if not data.sla_hours:
        return ngettext("%(opened)s ticket opened, %(resolved)s resolved; no first-response SLA on the %(plan)s plan.",
                        "%(opened)s tickets opened, %(resolved)s resolved; no first-response SLA on the %(plan)s "
                        "plan.", opened, **words)
    if k["sla"].value is None:
        return ngettext("%(opened)s ticket opened, %(resolved)s resolved; first-response SLA %(hours)d h: no ticket "
                        "fell due.",
                        "%(opened)s tickets opened, %(resolved)s resolved; first-response SLA %(hours)d h: no ticket "
                        "fell due.", opened, **words)
    return ngettext("%(opened)s ticket opened, %(resolved)s resolved; first-response SLA %(hours)d h: %(percent)s on "
                    "time.",
                    "%(opened)s tickets opened, %(resolved)s resolved; first-response SLA %(hours)d h: %(percent)s on "
                    "time.", opened, percent=percent(k["sla"].value), **words)


def render(data, out) -> None:
    """Draw ``data`` (``services.report_data.ReportData``) as a PDF into the binary file ``out``."""
    theme = Theme(data.branding)
    ReportDocument(out, data, theme).build(_story(data, theme))
