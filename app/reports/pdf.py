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

import datetime as dt
import logging
from decimal import Decimal
from xml.sax.saxutils import escape

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing, Line, Rect, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.utils import ImageReader, simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import (
    BaseDocTemplate, CondPageBreak, Flowable, Frame, KeepTogether, NextPageTemplate, PageBreak, PageTemplate,
    Paragraph, Spacer, Table, TableStyle,
)

log = logging.getLogger(__name__)

PAGE_W, PAGE_H = A4
MARGIN = 40
CONTENT_W = PAGE_W - 2 * MARGIN
BAND_H = 150
FOOTER_Y = 26
FONT, BOLD = "Helvetica", "Helvetica-Bold"

INK = colors.HexColor("#1d2733")
MUTED = colors.HexColor("#6b7785")
RULE = colors.HexColor("#d9dee4")
CARD = colors.HexColor("#f4f6f8")
GOOD = colors.HexColor("#1e8449")
BAD = colors.HexColor("#c0392b")
UP = colors.HexColor("#cdeccf")
ZEBRA = colors.HexColor("#f7f9fa")
SEVERITY_COLORS = {"high": BAD, "medium": colors.HexColor("#d68910"), "low": MUTED}
PLATFORMS = {"google_ads": "Google Ads", "meta_ads": "Meta Ads", "linkedin_ads": "LinkedIn Ads",
             "tiktok_ads": "TikTok Ads"}


# --------------------------------------------------------------------------- formatting

def money(value) -> str:
    return "—" if value is None else f"R$ {Decimal(value):,.2f}"


def count(value) -> str:
    if value is None:
        return "—"
    value = Decimal(value)
    return f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.2f}"


def percent(value) -> str:
    return "—" if value is None else f"{Decimal(value):,}%"


def ratio(value) -> str:
    return "—" if value is None else f"{Decimal(value):.2f}x"


FORMATS = {"money": money, "count": count, "minutes": count, "percent": percent, "ratio": ratio}


def kpi_value(kpi) -> str:
    return FORMATS[kpi.kind](kpi.value)


def change_text(kpi, previous_label: str) -> str:
    month = previous_label.split()[0]
    if kpi.change is None:
        if kpi.previous is None:
            return f"no figure for {month}"
        if Decimal(kpi.previous) == 0:
            return f"same as {month}" if not kpi.value else f"up from 0 in {month}"
        return f"no comparison with {month}"
    if kpi.change == 0:
        return f"same as {month}"
    sign = "+" if kpi.change > 0 else "-"
    unit = "%" if kpi.change_unit == "%" else " pp"
    return f"{sign}{abs(kpi.change)}{unit} vs {month}"


def _date(value: dt.date) -> str:
    return f"{value.day} {value:%b %Y}"


def _when(value: dt.datetime | None) -> str:
    return "—" if value is None else f"{value.day} {value:%b %H:%M}"


def _days_left(days: int) -> str:
    if days < 0:
        return f"expired {-days} day{'s' if days != -1 else ''} ago"
    if days == 0:
        return "today"
    return f"in {days} day{'s' if days != 1 else ''}"


def _luminance(color) -> float:
    return 0.2126 * color.red + 0.7152 * color.green + 0.0722 * color.blue


def _fit(text: str, font: str, size: float, width: float, smallest: float = 7) -> float:
    while size > smallest and stringWidth(text, font, size) > width:
        size -= 0.5
    return size


def _clip_text(text: str, font: str, size: float, width: float) -> str:
    if stringWidth(text, font, size) <= width:
        return text
    while text and stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text.rstrip() + "…"


# --------------------------------------------------------------------------- styles

class Theme:
    """Colours and paragraph styles of one report (the brand colour varies)."""

    def __init__(self, branding):
        self.brand = colors.HexColor(branding.primary_color)
        # A light brand colour is kept for fills; text and lines use a darker shade.
        self.brand_text = self.brand if _luminance(self.brand) < 0.6 else INK
        self.on_brand = colors.white if _luminance(self.brand) < 0.6 else INK
        self.h1 = ParagraphStyle("h1", fontName=BOLD, fontSize=15, leading=19, textColor=self.brand_text,
                                 spaceBefore=4, spaceAfter=2)
        self.h2 = ParagraphStyle("h2", fontName=BOLD, fontSize=10.5, leading=14, textColor=INK, spaceBefore=8,
                                 spaceAfter=4)
        self.body = ParagraphStyle("body", fontName=FONT, fontSize=9, leading=12, textColor=INK)
        self.muted = ParagraphStyle("muted", parent=self.body, textColor=MUTED, fontSize=8.5, leading=11)
        self.cell = ParagraphStyle("cell", fontName=FONT, fontSize=8, leading=10, textColor=INK, alignment=TA_LEFT)
        self.cell_bold = ParagraphStyle("cellb", parent=self.cell, fontName=BOLD)
        self.insight_title = ParagraphStyle("it", fontName=BOLD, fontSize=9.5, leading=12, textColor=INK)
        self.insight_body = ParagraphStyle("ib", fontName=FONT, fontSize=8.5, leading=11, textColor=INK)


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
            c.drawString(x + 11, self.HEIGHT - 15, _clip_text(kpi.label, FONT, 7.5, inner))
            text = kpi_value(kpi) if kpi.value is not None or kpi.note is None else "n/a"
            size = _fit(text, BOLD, 16, inner, 9)
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
                c.drawString(x + 11, 12, _clip_text(change_text(kpi, self.previous_label), FONT, 7.5, inner))


# --------------------------------------------------------------------------- charts

def _placeholder(text: str, width: float, height: float = 40) -> Drawing:
    d = Drawing(width, height)
    d.add(Rect(0, 0, width, height, fillColor=ZEBRA, strokeColor=RULE, strokeWidth=0.5))
    d.add(String(width / 2, height / 2 - 3, text, fontName=FONT, fontSize=8.5, fillColor=MUTED, textAnchor="middle"))
    return d


def _title(d: Drawing, text: str, height: float) -> None:
    d.add(String(0, height - 11, text, fontName=BOLD, fontSize=9, fillColor=INK))


def _day_labels(days) -> list[str]:
    last = days[-1].date.day if days else 0
    return [str(d.date.day) if d.date.day in (1, 5, 10, 15, 20, 25) or d.date.day == last else "" for d in days]


def _axis_money(value) -> str:
    return f"{value:,.0f}"


def _bar_chart(d: Drawing, series, names, fills, width, height, label_format) -> VerticalBarChart:
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 42, 20, width - 50, height - 46
    chart.data = series
    chart.categoryAxis.categoryNames = names
    chart.categoryAxis.labels.fontName = FONT
    chart.categoryAxis.labels.fontSize = 7
    chart.categoryAxis.labels.fillColor = MUTED
    chart.categoryAxis.strokeColor = RULE
    chart.categoryAxis.tickDown = 0
    chart.valueAxis.valueMin = 0
    chart.valueAxis.labels.fontName = FONT
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.labels.fillColor = MUTED
    chart.valueAxis.strokeColor = RULE
    chart.valueAxis.visibleGrid = True
    chart.valueAxis.gridStrokeColor = RULE
    chart.valueAxis.gridStrokeWidth = 0.3
    chart.valueAxis.labelTextFormat = label_format
    chart.valueAxis.forceZero = True
    top = max((max(s) for s in series if s), default=0)
    if top <= 4 and label_format is _axis_count:
        chart.valueAxis.valueMax, chart.valueAxis.valueStep = 4, 1
    chart.barSpacing = 0.5
    chart.groupSpacing = 2
    for index, fill in enumerate(fills):
        chart.bars[index].fillColor = fill
        chart.bars[index].strokeColor = None
    d.add(chart)
    return chart


def _axis_count(value) -> str:
    return f"{value:,.0f}"


def spend_chart(data, theme: Theme, width: float, height: float = 165):
    if not any(day.spend for day in data.days):
        return _placeholder(f"No ad spend in {data.period_label}.", width)
    d = Drawing(width, height)
    _title(d, "Daily ad spend (R$)", height)
    _bar_chart(d, [[float(day.spend) for day in data.days]], _day_labels(data.days), [theme.brand], width, height,
               _axis_money)
    return d


def roas_chart(data, theme: Theme, width: float, height: float = 165):
    points = [(day.date.day, float(day.roas)) for day in data.days if day.roas is not None]
    if not points:
        return _placeholder(f"No ROAS to show: no ad spend in {data.period_label}.", width)
    d = Drawing(width, height)
    _title(d, "Daily ROAS (revenue / spend)", height)
    last = data.days[-1].date.day
    plot = LinePlot()
    plot.x, plot.y, plot.width, plot.height = 36, 20, width - 44, height - 46
    plot.data = [points, [(1, 1.0), (last, 1.0)]]
    plot.lines[0].strokeColor = theme.brand
    plot.lines[0].strokeWidth = 1.5
    plot.lines[1].strokeColor = MUTED
    plot.lines[1].strokeWidth = 0.6
    plot.lines[1].strokeDashArray = (3, 2)
    plot.xValueAxis.valueMin, plot.xValueAxis.valueMax = 1, last
    plot.xValueAxis.valueSteps = [v for v in (1, 5, 10, 15, 20, 25) if v < last] + [last]
    plot.xValueAxis.labelTextFormat = "%d"
    plot.yValueAxis.valueMin = 0
    plot.yValueAxis.labelTextFormat = lambda v: f"{v:.1f}x"
    plot.yValueAxis.visibleGrid = True
    plot.yValueAxis.gridStrokeColor = RULE
    plot.yValueAxis.gridStrokeWidth = 0.3
    for axis in (plot.xValueAxis, plot.yValueAxis):
        axis.labels.fontName = FONT
        axis.labels.fontSize = 7
        axis.labels.fillColor = MUTED
        axis.strokeColor = RULE
    d.add(plot)
    d.add(String(width, height - 11, "dashed: break-even (1.0x)", fontName=FONT, fontSize=6.5, fillColor=MUTED,
                 textAnchor="end"))
    return d


def uptime_timeline(data, theme: Theme, width: float = CONTENT_W):
    """One row per site: the month as a green bar, each outage drawn in red (at least a
    hairline wide, so a 3-minute incident is still visible), uptime % at the right."""
    if not data.sites:
        return _placeholder("No site has uptime monitoring.", width)
    row_h, top_pad, bottom_pad = 18, 22, 22
    height = top_pad + bottom_pad + row_h * len(data.sites)
    d = Drawing(width, height)
    _title(d, "Uptime timeline (UTC)", height)
    label_w, value_w = 130, 58
    x0, bar_w = label_w, width - label_w - value_w
    start = dt.datetime.combine(data.first_day, dt.time(), tzinfo=dt.UTC)
    span = (dt.datetime.combine(data.last_day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC) - start).total_seconds()
    for index, site in enumerate(data.sites):
        y = height - top_pad - (index + 1) * row_h + 4
        d.add(String(0, y + 2, _clip_text(site.name, FONT, 8, label_w - 8), fontName=FONT, fontSize=8, fillColor=INK))
        d.add(Rect(x0, y, bar_w, 10, fillColor=UP, strokeColor=None))
        for lo, hi in site.outages:
            left = x0 + (lo - start).total_seconds() / span * bar_w
            wide = max(1.5, (hi - lo).total_seconds() / span * bar_w)
            d.add(Rect(min(left, x0 + bar_w - wide), y - 1, wide, 12, fillColor=BAD, strokeColor=None))
        d.add(String(width, y + 2, f"{site.uptime_percent}%", fontName=BOLD, fontSize=8,
                     fillColor=GOOD if not site.outages else BAD, textAnchor="end"))
    base = bottom_pad - 6
    d.add(Line(x0, base + 8, x0 + bar_w, base + 8, strokeColor=RULE, strokeWidth=0.5))
    last = data.last_day.day
    for day in sorted({1, 5, 10, 15, 20, 25, last}):
        x = x0 + (day - 1) / last * bar_w
        d.add(Line(x, base + 8, x, base + 5, strokeColor=MUTED, strokeWidth=0.5))
        d.add(String(x, base - 3, str(day), fontName=FONT, fontSize=7, fillColor=MUTED, textAnchor="middle"))
    d.add(Rect(x0, 0, 8, 6, fillColor=UP, strokeColor=None))
    d.add(String(x0 + 11, 0, "up", fontName=FONT, fontSize=7, fillColor=MUTED))
    d.add(Rect(x0 + 30, 0, 8, 6, fillColor=BAD, strokeColor=None))
    d.add(String(x0 + 41, 0, "incident", fontName=FONT, fontSize=7, fillColor=MUTED))
    return d


def tickets_chart(data, theme: Theme, width: float = CONTENT_W, height: float = 150):
    if not any(day.tickets_opened or day.tickets_resolved for day in data.days):
        return _placeholder(f"No tickets opened or resolved in {data.period_label}.", width)
    d = Drawing(width, height)
    _title(d, "Tickets per day", height)
    _bar_chart(d, [[day.tickets_opened for day in data.days], [day.tickets_resolved for day in data.days]],
               _day_labels(data.days), [theme.brand, colors.HexColor("#9aa5b1")], width, height, _axis_count)
    legend = Legend()
    legend.x, legend.y = width - 150, height - 6
    legend.dx, legend.dy, legend.deltax = 7, 7, 70
    legend.columnMaximum, legend.alignment = 1, "right"
    legend.fontName, legend.fontSize = FONT, 7.5
    legend.colorNamePairs = [(theme.brand, "opened"), (colors.HexColor("#9aa5b1"), "resolved")]
    legend.strokeColor = None
    d.add(legend)
    return d


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
        rows.append([_p(i.project, theme.cell), _p(i.title, theme.cell), i.severity, _when(i.started_at),
                     _when(i.resolved_at) if i.resolved_at else "ongoing", count(i.downtime_minutes)])
    table = _table(rows, [105, 170, 50, 65, 65, 60], theme, numeric_from=5)
    return table


def grades_table(data, theme: Theme):
    rows = [["Project", "Grade", "Score", "LCP", "INP", "CLS", "Perf.", "Access.", "Best pr.", "SEO", "Measured"]]
    for g in data.grades:
        rows.append([_p(g.project, theme.cell), g.grade, str(g.score),
                     "—" if g.lcp_s is None else f"{g.lcp_s} s", "—" if g.inp_ms is None else f"{g.inp_ms} ms",
                     "—" if g.cls is None else str(g.cls), str(g.performance), str(g.accessibility),
                     str(g.best_practices), str(g.seo), _date(g.measured_at.date())])
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
                     _date(e.expires_on), _days_left(e.days_left),
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
        size = _fit(data.client_name, BOLD, 26, CONTENT_W, 14)
        c.setFont(BOLD, size)
        c.drawString(MARGIN, top + 52, data.client_name)
        c.setFont(FONT, 13)
        c.drawString(MARGIN, top + 32, data.period_label)
        c.setFont(FONT, 8.5)
        last = data.last_day
        c.drawString(MARGIN, top + 14, f"1–{last.day} {last:%B %Y} · {data.plan_label} plan · generated "
                                       f"{_date(data.generated_at.date())}")
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
    story.append(Paragraph(escape(f"Domains and certificates expiring by {_date(data.expiry_horizon)}"), theme.h2))
    if data.expiring:
        story += [expiring_table(data, theme), Spacer(1, 3),
                  Paragraph(escape(f"60 days after the end of {data.period_label}; days counted from "
                                   f"{_date(data.generated_at.date())}, when this report was generated."),
                            theme.muted)]
    else:
        story.append(Paragraph(escape(f"Nothing expires before {_date(data.expiry_horizon)}."), theme.muted))
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
