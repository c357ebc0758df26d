"""The monthly client report as a PDF (ReportLab): ``render(data, out)``.

Only drawing lives here: every figure, rule and insight arrives computed in
``app.services.report_data.ReportData``; this module lays it out and formats it. Money is
shown as the rest of the app shows it, ``R$ 1,234.56``; times are UTC.

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

import logging
from xml.sax.saxutils import escape

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
    kpi_value, money, percent, ratio,
)

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- KPI cards

class KpiRow(Flowable):
    """A row of up to four KPI cards: label, value, change against last month (drawn in
    that order, so a text extractor reads each card's label just before its value)."""

    HEIGHT = 64
    GAP = 8

    def __init__(self, kpis, previous_label: str, theme: Theme):
        super().__init__()
        self.kpis, self.previous_label, self.theme = kpis, previous_label, theme

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
            text = kpi_value(kpi) if kpi.value is not None or kpi.note is None else "n/a"
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
                c.drawString(x + 11, 12, "with uptime monitoring")
            else:
                c.setFillColor({True: GOOD, False: BAD}.get(kpi.good, MUTED))
                c.setFont(FONT, 7.5)
                c.drawString(x + 11, 12, clip_text(change_text(kpi, self.previous_label), FONT, 7.5, inner))


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


def campaigns_table(data, theme: Theme):
    rows = [["Campaign", "Platform", "Spend", "Conversions", "CPA", "ROAS", "Of budget"]]
    for c in data.campaigns:
        rows.append([_p(c.name, theme.cell), PLATFORMS.get(c.platform, c.platform), money(c.spend),
                     count(c.conversions), money(c.cpa), ratio(c.roas),
                     percent(c.pacing_percent)])
    k = data.kpis
    rows.append([_p("All campaigns", theme.cell_bold), "", money(k["spend"].value), count(k["conversions"].value),
                 money(k["cpa"].value), ratio(k["roas"].value), ""])
    return _table(rows, [160, 62, 78, 62, 62, 45, 46], theme, numeric_from=2, total=True)


def incidents_table(data, theme: Theme):
    rows = [["Site", "Incident", "Severity", "Started", "Resolved", "Downtime (min)"]]
    for i in data.incidents:
        rows.append([_p(i.project, theme.cell), _p(i.title, theme.cell), i.severity, format_when(i.started_at),
                     format_when(i.resolved_at) if i.resolved_at else "ongoing", count(i.downtime_minutes)])
    table = _table(rows, [105, 170, 50, 65, 65, 60], theme, numeric_from=5)
    return table


def grades_table(data, theme: Theme):
    rows = [["Project", "Grade", "Score", "LCP", "INP", "CLS", "Perf.", "Access.", "Best pr.", "SEO", "Measured"]]
    for g in data.grades:
        rows.append([_p(g.project, theme.cell), g.grade, str(g.score),
                     "—" if g.lcp_s is None else f"{g.lcp_s} s", "—" if g.inp_ms is None else f"{g.inp_ms} ms",
                     "—" if g.cls is None else str(g.cls), str(g.performance), str(g.accessibility),
                     str(g.best_practices), str(g.seo), format_date(g.measured_at.date())])
    table = _table(rows, [112, 34, 34, 38, 44, 36, 34, 38, 40, 30, 55], theme, numeric_from=1)
    style = []
    for index, g in enumerate(data.grades, start=1):
        color = GOOD if g.grade.startswith("A") else BAD if g.grade in ("D", "F") else INK
        style.append(("TEXTCOLOR", (1, index), (1, index), color))
        style.append(("FONT", (1, index), (1, index), BOLD, 8.5))
    table.setStyle(TableStyle(style))
    return table


def traffic_table(data, theme: Theme):
    rows = [["Site", "Days", "Bandwidth (GB)", "Requests", "4xx", "5xx", "5xx rate", "Peak req/s"]]
    for t in [*data.traffic, data.traffic_total]:
        rows.append([_p(t.project, theme.cell_bold if t is data.traffic_total else theme.cell), str(t.days),
                     f"{t.bandwidth_gb:,.3f}", count(t.requests), count(t.requests_4xx), count(t.requests_5xx),
                     percent(t.error_percent), count(t.peak_rps)])
    return _table(rows, [135, 35, 70, 75, 55, 50, 45, 50], theme, numeric_from=1, total=True)


def expiring_table(data, theme: Theme):
    rows = [["Domain", "What", "Expires on", "When", "Auto-renew"]]
    for e in data.expiring:
        rows.append([_p(e.domain, theme.cell), "TLS certificate" if e.what == "certificate" else "Registration",
                     format_date(e.expires_on), days_left_text(e.days_left),
                     "—" if e.auto_renew is None else ("yes" if e.auto_renew else "no")])
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
                         title=f"{data.client_name} — monthly report, {data.period_label}",
                         author=b.name, creator=b.name, subject=f"Monthly report {data.period:%Y-%m}",
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
        c.drawString(MARGIN, FOOTER_Y, f"{data.client_name} · Monthly report · {data.period_label}")
        if not data.branding.white_label:
            c.drawCentredString(PAGE_W / 2, FOOTER_Y, f"Prepared by {data.branding.name}")
        c.drawRightString(PAGE_W - MARGIN, FOOTER_Y, f"Page {c.getPageNumber()}")

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
        label = "MONTHLY REPORT"
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
        c.drawString(MARGIN, top + 14, f"1–{last.day} {last:%B %Y} · {data.plan_label} plan · generated "
                                       f"{format_date(data.generated_at.date())}")
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
    story += [Paragraph("Highlights", theme.h1),
              Paragraph(escape(f"{data.period_label} compared with {data.previous_label}."), theme.muted),
              Spacer(1, 4)]
    groups = (("Reliability", ["uptime", "incidents", "downtime", "sites"]),
              ("Support", ["tickets_opened", "tickets_resolved", "sla", "breaches"]),
              ("Advertising", ["spend", "conversions", "cpa", "roas"]))
    for title, keys in groups:
        story += [Paragraph(title, theme.h2), KpiRow([k[key] for key in keys], data.previous_label, theme)]
    if data.insights is not None:
        story += [Spacer(1, 10), Paragraph("Insights", theme.h1)]
        if data.insights:
            story.append(Paragraph(escape(f"What stood out in {data.period_label}, most important first."),
                                   theme.muted))
            for insight in data.insights:
                story += [Spacer(1, 5), InsightBox(insight, theme)]
        else:
            story.append(Paragraph(escape(f"Nothing needs your attention in {data.period_label}: no rule "
                                          "flagged a problem."), theme.body))

    half = (CONTENT_W - 15) / 2
    story += [PageBreak(), *_section("Advertising", theme, "Spend and results of every campaign, platform figures "
                                                            "per day.")]
    if data.campaigns:
        charts = Table([[spend_chart(data, theme, half), roas_chart(data, theme, half)]], colWidths=[half + 15, half])
        charts.setStyle(TableStyle([("LEFTPADDING", (0, 0), (-1, -1), 0), ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                                    ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        story += [charts, Spacer(1, 10), Paragraph("Campaigns by spend", theme.h2), campaigns_table(data, theme)]
    else:
        story.append(Paragraph(escape(f"No ad campaign ran in {data.period_label}." if data.ads_included else
                                      f"Ad platform figures are not part of the {data.plan_label} plan."), theme.body))

    story += [Spacer(1, 14), CondPageBreak(200),
              *_section("Reliability", theme, "Outages come from the uptime monitors and incident records; "
                                              "times in UTC."),
              uptime_timeline(data, theme)]
    if data.incidents:
        story += [Paragraph("Incidents", theme.h2), incidents_table(data, theme)]
    else:
        story += [Spacer(1, 6), Paragraph(escape(f"No incidents in {data.period_label}."), theme.body)]

    support = [*_section("Support", theme, _support_line(data)), tickets_chart(data, theme)]
    story += [Spacer(1, 14), KeepTogether(support)]

    story += [Spacer(1, 14), CondPageBreak(260),
              *_section("Sites", theme, "Performance, traffic, domains and certificates.")]
    story.append(Paragraph("Performance grades (latest measurement per project)", theme.h2))
    if data.grades:
        story += [grades_table(data, theme), Spacer(1, 3),
                  Paragraph("Grade: 40 % Lighthouse performance + 20 % each of accessibility, best practices and SEO "
                            "(A from 90, B from 80, C from 70, D from 50); a poor Core Web Vital (LCP over 4 s, INP "
                            "over 500 ms, CLS over 0.25) caps it at C.", theme.muted)]
    else:
        story.append(Paragraph("No performance measurement yet.", theme.muted))
    story.append(Paragraph("Network usage", theme.h2))
    story.append(traffic_table(data, theme) if data.traffic else
                 Paragraph(escape(f"No traffic figures for {data.period_label}."), theme.muted))
    story.append(Paragraph(escape(f"Domains and certificates expiring by {format_date(data.expiry_horizon)}"), theme.h2))
    if data.expiring:
        story += [expiring_table(data, theme), Spacer(1, 3),
                  Paragraph(escape(f"60 days after the end of {data.period_label}; days counted from "
                                   f"{format_date(data.generated_at.date())}, when this report was generated."),
                            theme.muted)]
    else:
        story.append(Paragraph(escape(f"Nothing expires before {format_date(data.expiry_horizon)}."), theme.muted))
    return story


def _support_line(data) -> str:
    k = data.kpis
    if data.sla_hours:
        sla = (f"first-response SLA {data.sla_hours} h: {percent(k['sla'].value)} on time"
               if k["sla"].value is not None else f"first-response SLA {data.sla_hours} h: no ticket fell due")
    else:
        sla = f"no first-response SLA on the {data.plan_label} plan"
    opened = k["tickets_opened"].value
    return (f"{count(opened)} ticket{'s' if opened != 1 else ''} opened, {count(k['tickets_resolved'].value)} "
            f"resolved; {sla}.")


def render(data, out) -> None:
    """Draw ``data`` (``services.report_data.ReportData``) as a PDF into the binary file ``out``."""
    theme = Theme(data.branding)
    ReportDocument(out, data, theme).build(_story(data, theme))
