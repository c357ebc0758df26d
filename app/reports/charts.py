"""The monthly report's charts (``app.reports.pdf``): spend and revenue, ROAS, the
uptime timeline and tickets per day, drawn with reportlab.graphics from
``ReportData``; a placeholder line where there is nothing to draw. Words and axis figures
follow the language in effect (``app.i18n``)."""

from __future__ import annotations

import datetime as dt

from flask_babel import gettext as _
from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing, Line, Rect, String
from reportlab.lib import colors
from reportlab.pdfbase.pdfmetrics import stringWidth

from app.i18n import number
from app.reports.style import (
    BAD, BOLD, CONTENT_W, FONT, GOOD, INK, MUTED, RULE, UP, ZEBRA, Theme, clip_text, percent,
)

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
    return number(value, 0)


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
    return number(value, 0)


def _axis_ratio(value) -> str:
    return f"{number(value, 1)}x"


def spend_chart(data, theme: Theme, width: float, height: float = 165):
    if not any(day.spend for day in data.days):
        return _placeholder(_("No ad spend in %(month)s.", month=data.period_label), width)
    d = Drawing(width, height)
    _title(d, _("Daily ad spend (R$)"), height)
    _bar_chart(d, [[float(day.spend) for day in data.days]], _day_labels(data.days), [theme.brand], width, height,
               _axis_money)
    return d


def roas_chart(data, theme: Theme, width: float, height: float = 165):
    points = [(day.date.day, float(day.roas)) for day in data.days if day.roas is not None]
    if not points:
        return _placeholder(_("No ROAS to show: no ad spend in %(month)s.", month=data.period_label), width)
    d = Drawing(width, height)
    title = _("Daily ROAS (revenue / spend)")
    _title(d, title, height)
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
    plot.yValueAxis.labelTextFormat = _axis_ratio
    plot.yValueAxis.visibleGrid = True
    plot.yValueAxis.gridStrokeColor = RULE
    plot.yValueAxis.gridStrokeWidth = 0.3
    for axis in (plot.xValueAxis, plot.yValueAxis):
        axis.labels.fontName = FONT
        axis.labels.fontSize = 7
        axis.labels.fillColor = MUTED
        axis.strokeColor = RULE
    d.add(plot)
    note = _("dashed: break-even (%(ratio)s)", ratio=_axis_ratio(1))
    beside = stringWidth(title, BOLD, 9) + 8 + stringWidth(note, FONT, 6.5) <= width  # else on a line of its own, under the title
    d.add(String(width, height - (11 if beside else 21), note, fontName=FONT, fontSize=6.5, fillColor=MUTED,
                 textAnchor="end"))
    return d


def uptime_timeline(data, theme: Theme, width: float = CONTENT_W):
    """One row per site: the month as a green bar, each outage drawn in red (at least a
    hairline wide, so a 3-minute incident is still visible), uptime % at the right."""
    if not data.sites:
        return _placeholder(_("No site has uptime monitoring."), width)
    row_h, top_pad, bottom_pad = 18, 22, 22
    height = top_pad + bottom_pad + row_h * len(data.sites)
    d = Drawing(width, height)
    _title(d, _("Uptime timeline (UTC)"), height)
    label_w, value_w = 130, 58
    x0, bar_w = label_w, width - label_w - value_w
    start = dt.datetime.combine(data.first_day, dt.time(), tzinfo=dt.UTC)
    span = (dt.datetime.combine(data.last_day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC) - start).total_seconds()
    for index, site in enumerate(data.sites):
        y = height - top_pad - (index + 1) * row_h + 4
        d.add(String(0, y + 2, clip_text(site.name, FONT, 8, label_w - 8), fontName=FONT, fontSize=8, fillColor=INK))
        d.add(Rect(x0, y, bar_w, 10, fillColor=UP, strokeColor=None))
        for lo, hi in site.outages:
            left = x0 + (lo - start).total_seconds() / span * bar_w
            wide = max(1.5, (hi - lo).total_seconds() / span * bar_w)
            d.add(Rect(min(left, x0 + bar_w - wide), y - 1, wide, 12, fillColor=BAD, strokeColor=None))
        d.add(String(width, y + 2, percent(site.uptime_percent), fontName=BOLD, fontSize=8,
                     fillColor=GOOD if not site.outages else BAD, textAnchor="end"))
    base = bottom_pad - 6
    d.add(Line(x0, base + 8, x0 + bar_w, base + 8, strokeColor=RULE, strokeWidth=0.5))
    last = data.last_day.day
    for day in sorted({1, 5, 10, 15, 20, 25, last}):
        x = x0 + (day - 1) / last * bar_w
        d.add(Line(x, base + 8, x, base + 5, strokeColor=MUTED, strokeWidth=0.5))
        d.add(String(x, base - 3, str(day), fontName=FONT, fontSize=7, fillColor=MUTED, textAnchor="middle"))
    d.add(Rect(x0, 0, 8, 6, fillColor=UP, strokeColor=None))
    up = _("up")
    d.add(String(x0 + 11, 0, up, fontName=FONT, fontSize=7, fillColor=MUTED))
    after = x0 + 11 + stringWidth(up, FONT, 7) + 12
    d.add(Rect(after, 0, 8, 6, fillColor=BAD, strokeColor=None))
    d.add(String(after + 11, 0, _("incident"), fontName=FONT, fontSize=7, fillColor=MUTED))
    return d


def tickets_chart(data, theme: Theme, width: float = CONTENT_W, height: float = 150):
    if not any(day.tickets_opened or day.tickets_resolved for day in data.days):
        return _placeholder(_("No tickets opened or resolved in %(month)s.", month=data.period_label), width)
    d = Drawing(width, height)
    _title(d, _("Tickets per day"), height)
    _bar_chart(d, [[day.tickets_opened for day in data.days], [day.tickets_resolved for day in data.days]],
               _day_labels(data.days), [theme.brand, colors.HexColor("#9aa5b1")], width, height, _axis_count)
    legend = Legend()
    legend.x, legend.y = width - 150, height - 6
    legend.dx, legend.dy, legend.deltax = 7, 7, 70
    legend.columnMaximum, legend.alignment = 1, "right"
    legend.fontName, legend.fontSize = FONT, 7.5
    legend.colorNamePairs = [(theme.brand, _("opened")), (colors.HexColor("#9aa5b1"), _("resolved"))]
    legend.strokeColor = None
    d.add(legend)
    return d
