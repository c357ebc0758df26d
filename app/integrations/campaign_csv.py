"""Reading a platform's CSV export of one campaign's daily figures (for operators without
API access). Pure parsing and per-line validation; storing the rows is
``app.services.campaign_sync.import_csv`` (all or nothing).

What is accepted:

- Encoding UTF-8 (with or without BOM) or UTF-16 with BOM (Google Ads' "Excel .csv");
  separator comma, semicolon or tab (sniffed from the header line).
- Title lines before the header (Google Ads puts the report name and date range there)
  are skipped: the header is the first line, within the first ``MAX_PREAMBLE`` lines,
  that names a date column and a cost column. "Total" lines (``Total: Campaign``...) are
  skipped.
- Columns, matched case-insensitively by the names Google Ads, Meta Ads Manager and
  Atrium's own template use (``COLUMNS``): date (required), impressions, clicks,
  conversions, cost (required), revenue; an optional campaign id column must then name
  the campaign being imported on every line. Unknown columns are ignored.
- Values: dates as ``YYYY-MM-DD`` (also ``Jan 31, 2024`` and ``2024/01/31``); whole
  numbers for impressions and clicks; decimals with a dot (a comma may group thousands:
  ``1,234.56``; a currency symbol is dropped); ``--`` or empty means 0.
- Refused, with the line number: a bad or missing date, a date in the future, a date
  twice, a negative or malformed number, a campaign id of another campaign, more than
  ``MAX_ROWS`` lines.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from app.integrations.campaign_sources import DailyMetrics

MAX_ROWS = 5000
MAX_PREAMBLE = 10
MAX_BYTES = 5 * 1024 * 1024
MAX_AMOUNT = Decimal(10) ** 10  # money and conversions are stored as Numeric(12, 2)
MAX_COUNT = 10 ** 15  # impressions, clicks

# field -> header names (lower-case, spaces collapsed), in order of preference; a
# trailing * matches any ending (Meta writes the currency there: "Amount spent (BRL)")
COLUMNS: dict[str, tuple[str, ...]] = {
    "date": ("date", "day", "reporting starts", "data", "dia"),
    "campaign_id": ("campaign id", "campaign_id", "id da campanha"),
    "impressions": ("impressions", "impr.", "impr", "impressões"),
    "clicks": ("clicks", "link clicks", "clicks (all)", "cliques"),
    "conversions": ("conversions", "conv.", "purchases", "results", "conversões", "leads"),
    "cost": ("cost", "spend", "amount spent*", "valor usado*", "custo"),
    "revenue": ("revenue", "conv. value", "conversion value", "conversions value", "all conv. value",
                "purchases conversion value", "purchase conversion value", "receita"),
}
REQUIRED = ("date", "cost")
_WHOLE = ("impressions", "clicks")
_DECIMAL = ("conversions", "cost", "revenue")
_CURRENCY = re.compile(r"^(R\$|US\$|\$|€|£)\s*|\s*(BRL|USD|EUR|GBP)$")
_DATE_FORMATS = ("%Y-%m-%d", "%b %d, %Y", "%Y/%m/%d", "%B %d, %Y")


@dataclass
class ParsedExport:
    rows: list[DailyMetrics]
    errors: list[str]  # "Line 4: ..." in file order; rows are only usable when empty
    columns: dict[str, str]  # field -> the header it was read from


def _norm(header: str) -> str:
    return " ".join(header.strip().strip('"').lower().split())


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    return data.decode("utf-8-sig")


def _match_columns(header: list[str]) -> dict[str, int]:
    names = [_norm(h) for h in header]
    found = {}
    for field, aliases in COLUMNS.items():
        for alias in aliases:
            index = next((i for i, n in enumerate(names)
                          if (n.startswith(alias[:-1]) if alias.endswith("*") else n == alias)), None)
            if index is not None:
                found[field] = index
                break
    return found


def _number(raw: str, whole: bool) -> Decimal:
    text = _CURRENCY.sub("", raw.strip()).replace("\u00a0", "").replace(" ", "")
    if text in ("", "--", "-"):
        return Decimal(0)
    if text.endswith("%"):
        raise ValueError("a percentage")
    if "," in text:
        if not re.fullmatch(r"-?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?", text):
            raise ValueError("a number with a comma that is not a thousands separator (use a dot for decimals)")
        text = text.replace(",", "")
    if not re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", text):
        raise ValueError("not a number")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError("not a number") from None
    if value < 0:
        raise ValueError("negative")
    if value >= (MAX_COUNT if whole else MAX_AMOUNT):
        raise ValueError("too large")
    if whole and value != value.to_integral_value():
        raise ValueError("not a whole number")
    return value


def _date(raw: str) -> dt.date:
    text = raw.strip()
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError


def parse(data: bytes, *, external_id: str | None = None, today: dt.date | None = None) -> ParsedExport:
    """Read an export; every problem is reported with its line number (1 = first line of
    the file), and ``rows`` is only complete when ``errors`` is empty."""
    today = today or dt.datetime.now(dt.UTC).date()
    if len(data) > MAX_BYTES:
        return ParsedExport([], [f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB; split it by date."], {})
    try:
        text = _decode(data)
    except UnicodeDecodeError:
        return ParsedExport([], ["The file is not UTF-8 or UTF-16 text: export it again as CSV."], {})
    lines = text.splitlines()
    if not any(line.strip() for line in lines):
        return ParsedExport([], ["The file is empty."], {})

    header_at, header, columns, dialect = None, None, {}, None
    for index, line in enumerate(lines[:MAX_PREAMBLE]):
        if not line.strip():
            continue
        delimiter = max(",;\t", key=line.count)
        try:
            cells = next(csv.reader([line], delimiter=delimiter))
        except csv.Error:
            continue
        found = _match_columns(cells)
        if all(f in found for f in REQUIRED):
            header_at, header, columns, dialect = index, cells, found, delimiter
            break
    if header_at is None:
        wanted = " and ".join(f"a {f} column ({', '.join(repr(a) for a in COLUMNS[f][:3])}...)" for f in REQUIRED)
        return ParsedExport([], [f"No header line found in the first {MAX_PREAMBLE} lines: the file needs {wanted}."],
                            {})

    errors: list[str] = []
    rows: list[DailyMetrics] = []
    seen: dict[dt.date, int] = {}
    reader = csv.reader(io.StringIO("\n".join(lines[header_at + 1:])), delimiter=dialect)
    line_no = header_at + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(f"Line {line_no + 1}: cannot be read as CSV ({exc}).")
            break
        line_no += 1
        if not any(c.strip() for c in cells):
            continue
        first = cells[0].strip().lower() if cells else ""
        if first.startswith("total"):
            continue
        if len(rows) + len(errors) >= MAX_ROWS:
            errors.append(f"Line {line_no}: the file has more than {MAX_ROWS} lines; split it by date.")
            break
        problems = []

        def cell(field):
            index = columns.get(field)
            return "" if index is None or index >= len(cells) else cells[index]

        day = None
        raw_date = cell("date").strip()
        try:
            day = _date(raw_date)
        except ValueError:
            problems.append(f"date {raw_date!r} is not a date (use YYYY-MM-DD)" if raw_date else "the date is missing")
        if day is not None:
            if day > today:
                problems.append(f"date {day.isoformat()} is in the future")
            elif day in seen:
                problems.append(f"date {day.isoformat()} appears twice (also on line {seen[day]})")
            else:
                seen[day] = line_no
        if external_id is not None and "campaign_id" in columns:
            given = cell("campaign_id").strip()
            if given and given != str(external_id):
                problems.append(f"campaign id {given!r} is not this campaign ({external_id})")
        values = {}
        for field in (*_WHOLE, *_DECIMAL):
            if field not in columns:
                values[field] = None if field == "revenue" else Decimal(0)
                continue
            raw = cell(field)
            try:
                values[field] = _number(raw, field in _WHOLE)
            except ValueError as exc:
                problems.append(f"{field} {raw.strip()!r} is {exc}")
        if problems:
            errors.append(f"Line {line_no}: " + "; ".join(problems) + ".")
            continue
        rows.append(DailyMetrics(date=day, impressions=int(values["impressions"]), clicks=int(values["clicks"]),
                                 conversions=values["conversions"], spend=values["cost"], revenue=values["revenue"]))
    if not rows and not errors:
        errors.append("The file has a header but no data lines.")
    return ParsedExport(rows, errors, {f: header[i] for f, i in columns.items()})
