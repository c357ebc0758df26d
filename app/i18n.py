"""Languages and the formats of numbers, money and dates in them.

Atrium speaks English and Brazilian Portuguese (the ``LANGUAGES`` setting) through Flask-Babel,
which Flask-AppBuilder already uses (its own strings come with its ``pt_BR`` catalogue;
Atrium's are in ``app/translations``, kept complete by ``tests/unit/test_translations``).
Which language a page is in is chosen by ``app.views.language``; PDF reports and
e-mails take their recipient's (``recipient_language``) through ``flask_babel.force_locale``.

Every figure a person reads goes through the functions here, so that it follows the
locale: ``R$ 1.234,56`` and ``07/12/2026`` in pt-BR, ``R$ 1,234.56`` and ``2026-12-07``
in English. English dates stay ISO (year first): the agency's staff read them beside
logs and exports, and ``12/7/26`` means two different days to its two audiences.
"""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal

from babel.dates import format_date as babel_format_date
from babel.dates import format_skeleton
from flask import current_app
from flask_babel import format_currency, format_datetime, format_decimal, get_locale
from flask_babel.speaklater import LazyString

DEFAULT_LANGUAGE = "en"
CURRENCY = "BRL"  # the agency bills and reports in reais
DATE_PATTERNS = {"en": "yyyy-MM-dd", "pt_BR": "dd/MM/yyyy"}
MONTH_SKELETON = "yMMMM"
EMPTY = "—"


def N_(message: str) -> str:
    """Marks a message for extraction (``make translations``) where it is not translated
    yet: it is translated where it is shown."""
    return message


def languages() -> dict:
    """code -> {"name", "flag"} of every language Atrium speaks (the ``LANGUAGES`` setting)."""
    return current_app.config["LANGUAGES"]


def language() -> str:
    """The code of the language in effect now."""
    locale = get_locale()
    return str(locale) if locale is not None and str(locale) in languages() else DEFAULT_LANGUAGE


def known_language(code: str | None) -> str | None:
    """``code`` if Atrium speaks it (``pt-BR``, ``pt_br`` and ``pt`` mean ``pt_BR``), else None."""
    if not code:
        return None
    wanted = code.replace("-", "_").lower()
    for known in languages():
        if known.lower() == wanted or known.split("_")[0] == wanted:
            return known
    return None


MONEY_PATTERN = "¤ #,##0.00"  # the symbol, a space, the amount: R$ 1,234.56 as Atrium has always shown it


def money(value) -> str:
    """``R$ 1.234,56`` (pt-BR), ``R$ 1,234.56`` (en); "—" for nothing."""
    return EMPTY if value is None else format_currency(Decimal(value), CURRENCY, MONEY_PATTERN)


def number(value, places: int | None = None) -> str:
    """Grouped digits in the locale: ``places`` decimals, or as many as the value needs
    (whole numbers without any, others two); "—" for nothing."""
    if value is None:
        return EMPTY
    value = Decimal(value)
    if places is None:
        places = 0 if value == value.to_integral_value() else 2
    pattern = "#,##0" + ("." + "0" * places if places else "")
    return format_decimal(value, pattern)


def percent(value, places: int = 1) -> str:
    """``value`` (already in percent: 12.5 is 12,5 %) in the locale."""
    return EMPTY if value is None else f"{number(value, places)}%"


def ratio(value) -> str:
    """A ratio such as ROAS: two decimals and ×."""
    return EMPTY if value is None else f"{number(value, 2)}×"


def date(value) -> str:
    """A calendar date: ``07/12/2026`` (pt-BR), ``2026-12-07`` (en). Babel's own
    ``format_date`` with the locale at hand (Flask-Babel's wrapper looks the locale and
    timezone up again on every call: a list page formats hundreds of dates)."""
    if value is None:
        return EMPTY
    if isinstance(value, dt.datetime):
        value = value.date()
    return formatted_date(language(), value)


@functools.lru_cache(maxsize=4096)
def formatted_date(code: str, value: dt.date) -> str:
    """A list shows the same few days over and over: each is formatted once per language."""
    return babel_format_date(value, DATE_PATTERNS.get(code, DATE_PATTERNS[DEFAULT_LANGUAGE]), locale=code)


_TEXTS: dict = {}  # (language, message) -> its translation; catalogues do not change while running


def text(value) -> str:
    """``str(value)``, a lazy translation (``_l``) kept once translated per language: a
    list page shows the same status words hundreds of times, and each Flask-Babel lookup
    resolves the request's catalogue again (914 lookups made a 100-row page twice as slow)."""
    if not isinstance(value, LazyString) or value._kwargs:
        return str(value)
    key = (language(), value._args)
    found = _TEXTS.get(key)
    if found is None:
        found = _TEXTS[key] = str(value)
    return found


def month(value) -> str:
    """A month as words, as the locale writes it: ``dezembro de 2026``, ``December 2026``."""
    return EMPTY if value is None else format_skeleton(MONTH_SKELETON, value, locale=get_locale() or DEFAULT_LANGUAGE)


def clock(value: dt.datetime) -> str:
    """A time of day, 24-hour, in the time's own zone (the caller converts)."""
    return format_datetime(value, "HH:mm", rebase=False)
