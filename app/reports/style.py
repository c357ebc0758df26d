"""The monthly report's look (``app.reports.pdf``): page geometry, colours, how numbers,
dates and changes are written, text fitting, and the ``Theme`` (the agency's colours, or
a client's brand on Enterprise).

Figures and dates are written by ``app.i18n`` in the language in effect (the report is
drawn inside ``force_locale`` with the client's language): ``R$ 1,234.56`` and
``2026-12-07`` in English, ``R$ 1.234,56`` and ``07/12/2026`` in Portuguese."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from flask_babel import format_date as babel_format_date
from flask_babel import gettext as _
from flask_babel import ngettext
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase.pdfmetrics import stringWidth

from app import i18n

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

money = i18n.money  # R$ 1,234.56 / R$ 1.234,56


def count(value) -> str:
    """Whole numbers without decimals, others with two, grouped."""
    return i18n.number(value)


def places(value) -> int:
    """The decimals ``value`` was rounded to: a figure is shown with its own precision."""
    return max(0, -Decimal(value).as_tuple().exponent)


def percent(value) -> str:
    return i18n.EMPTY if value is None else i18n.percent(value, places(value))


def ratio(value) -> str:
    """ROAS and the like: two decimals and an x (``3.25x``)."""
    return i18n.EMPTY if value is None else f"{i18n.number(value, 2)}x"


FORMATS = {"money": money, "count": count, "minutes": count, "percent": percent, "ratio": ratio}


def kpi_value(kpi) -> str:
    return FORMATS[kpi.kind](kpi.value)


def month_name(value: dt.date) -> str:
    """The month alone, in words (``September``, ``setembro``)."""
    return babel_format_date(value, "LLLL")


def change_text(kpi, previous_month: dt.date) -> str:
    month = month_name(previous_month)
    if kpi.change is None:
        if kpi.previous is None:
            return _("no figure for %(month)s", month=month)
        if Decimal(kpi.previous) == 0:
            return _("same as %(month)s", month=month) if not kpi.value else _("up from 0 in %(month)s", month=month)
        return _("no comparison with %(month)s", month=month)
    if kpi.change == 0:
        return _("same as %(month)s", month=month)
    change = ("+" if kpi.change > 0 else "-") + i18n.number(abs(kpi.change), places(kpi.change))
    if kpi.change_unit == "%":
        return _("%(change)s%% vs %(month)s", change=change, month=month)
    return _("%(change)s pp vs %(month)s", change=change, month=month)


def format_date(value: dt.date) -> str:
    return i18n.date(value)


def format_when(value: dt.datetime | None) -> str:
    """A day and time (UTC): ``2026-12-07 14:05``, ``07/12/2026 14:05``."""
    return i18n.EMPTY if value is None else f"{i18n.date(value)} {i18n.clock(value)}"


def days_left_text(days: int) -> str:
    if days < 0:
        return ngettext("expired %(num)d day ago", "expired %(num)d days ago", -days)
    if days == 0:
        return _("today")
    return ngettext("in %(num)d day", "in %(num)d days", days)


def _luminance(color) -> float:
    return 0.2126 * color.red + 0.7152 * color.green + 0.0722 * color.blue


def fit_size(text: str, font: str, size: float, width: float, smallest: float = 7) -> float:
    while size > smallest and stringWidth(text, font, size) > width:
        size -= 0.5
    return size


def clip_text(text: str, font: str, size: float, width: float) -> str:
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
