"""The monthly report's look (``app.reports.pdf``): page geometry, colours, how numbers,
dates and changes are written, text fitting, and the ``Theme`` (the agency's colours, or
a client's brand on Enterprise)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase.pdfmetrics import stringWidth

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


def format_date(value: dt.date) -> str:
    return f"{value.day} {value:%b %Y}"


def format_when(value: dt.datetime | None) -> str:
    return "—" if value is None else f"{value.day} {value:%b %H:%M}"


def days_left_text(days: int) -> str:
    if days < 0:
        return f"expired {-days} day{'s' if days != -1 else ''} ago"
    if days == 0:
        return "today"
    return f"in {days} day{'s' if days != 1 else ''}"


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
