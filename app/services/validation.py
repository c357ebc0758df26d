"""Input rules with messages written for people: domain names, DNS records per type,
nameservers, percentages, money, date order, contact data (name, email, phone).

Each function returns the normalised value or raises ``InvalidInput``. The web forms
(WTForms validators) and the API (marshmallow validators) wrap these same functions,
so a rule exists once.
"""

from __future__ import annotations

import ipaddress
import json
import re
from decimal import Decimal, InvalidOperation

import idna

from app.errors import InvalidInput

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")

DNS_TYPES = ("A", "AAAA", "CNAME", "MX", "TXT", "NS", "SRV", "CAA")


def checker(rule, error_class, *, skip_blank: bool = False, **kwargs):
    """``rule`` as a check a form or schema library runs: ``check(value)`` passes ``None``
    (and ``""`` with ``skip_blank``: left to "required"), else calls ``rule(value, **kwargs)`` and re-raises
    its ``InvalidInput`` as ``error_class(message)`` (the library's validation error), so
    the message a person reads is the rule's. The doors' adapters:
    ``app.views.forms.service_validator`` (WTForms), ``app.api.mm_validator`` (marshmallow)."""

    def check(value):
        if value is None or (skip_blank and value == ""):
            return
        try:
            rule(value, **kwargs)
        except InvalidInput as exc:
            raise error_class(exc.message) from None

    return check


def domain_name(value: str, *, field: str = "name") -> str:
    """Lower-case IDNA (punycode) form of a registrable host name."""
    raw = (value or "").strip().rstrip(".")
    if not raw:
        raise InvalidInput("Enter a domain name, e.g. example.com.br.", field)
    try:
        ascii_name = idna.encode(raw, uts46=True).decode("ascii").lower()
    except idna.IDNAError as exc:
        raise InvalidInput(f"“{raw}” is not a valid domain name: {exc}.", field) from None
    labels = ascii_name.split(".")
    if len(labels) < 2:
        raise InvalidInput(f"“{raw}” needs a top-level domain, e.g. {raw}.com.", field)
    if len(ascii_name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise InvalidInput(f"“{raw}” is not a valid domain name.", field)
    if labels[-1].isdigit():
        raise InvalidInput(f"“{raw}” looks like an IP address, not a domain name.", field)
    return ascii_name


def _host(value, what: str, field: str) -> str:
    try:
        return domain_name(str(value), field=field)
    except InvalidInput:
        raise InvalidInput(f"{what} must be a host name, got “{value}”.", field) from None


def nameservers(value, *, field: str = "nameservers") -> list[str]:
    items = _as_list(value, field)
    result = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidInput("Each nameserver must be a host name.", field)
        result.append(_host(item, "A nameserver", field))
    return result


def _as_list(value, field):
    if value is None or value == "":
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"Not valid JSON: {exc.msg} (line {exc.lineno}).", field) from None
        else:
            value = [line.strip() for line in re.split(r"[\n,]", text) if line.strip()]
    if not isinstance(value, list):
        raise InvalidInput("Expected a list.", field)
    return value


def dns_records(value, *, field: str = "dns_records") -> list[dict]:
    """Validate a list of ``{type, name, value, ttl, priority?}`` records per type."""
    items = _as_list(value, field)
    result = []
    for n, rec in enumerate(items, start=1):
        where = f"Record {n}"
        if not isinstance(rec, dict):
            raise InvalidInput(f"{where} must be an object with type, name, value and ttl.", field)
        rtype = str(rec.get("type", "")).upper()
        if rtype not in DNS_TYPES:
            raise InvalidInput(f"{where}: type must be one of {', '.join(DNS_TYPES)}.", field)
        name = str(rec.get("name", "@")).strip() or "@"
        if name != "@" and not re.match(r"^(\*\.)?[A-Za-z0-9_.-]+$", name):
            raise InvalidInput(f"{where}: name “{name}” is not a valid record name.", field)
        val = str(rec.get("value", "")).strip()
        if not val:
            raise InvalidInput(f"{where} ({rtype}): value is required.", field)
        try:
            ttl = int(rec.get("ttl", 3600))
        except (TypeError, ValueError):
            raise InvalidInput(f"{where}: ttl must be a whole number of seconds.", field) from None
        if not 60 <= ttl <= 604800:
            raise InvalidInput(f"{where}: ttl must be between 60 and 604800 seconds.", field)
        out = {"type": rtype, "name": name, "value": val, "ttl": ttl}
        if rtype == "A":
            _ip(val, ipaddress.IPv4Address, f"{where} (A): value must be an IPv4 address", field)
        elif rtype == "AAAA":
            _ip(val, ipaddress.IPv6Address, f"{where} (AAAA): value must be an IPv6 address", field)
        elif rtype in ("CNAME", "NS"):
            out["value"] = _host(val, f"{where} ({rtype}): the target", field)
        elif rtype in ("MX", "SRV"):
            priority = rec.get("priority")
            try:
                priority = int(priority)
            except (TypeError, ValueError):
                raise InvalidInput(f"{where} ({rtype}): priority is required (0–65535).", field) from None
            if not 0 <= priority <= 65535:
                raise InvalidInput(f"{where} ({rtype}): priority must be between 0 and 65535.", field)
            out["priority"] = priority
            target = val.split()[-1] if rtype == "SRV" else val
            _host(target, f"{where} ({rtype}): the target", field)
        elif rtype == "TXT" and len(val) > 2048:
            raise InvalidInput(f"{where} (TXT): value is longer than 2048 characters.", field)
        elif rtype == "CAA" and not re.match(r'^\d{1,3} (issue|issuewild|iodef) "?[^"]+"?$', val):
            raise InvalidInput(f'{where} (CAA): value must look like 0 issue "letsencrypt.org".', field)
        result.append(out)
    return result


def _ip(value, cls, message, field):
    try:
        cls(value)
    except ValueError:
        raise InvalidInput(f"{message}, got “{value}”.", field) from None


def _finite(value) -> Decimal | None:
    """``value`` as a finite ``Decimal``; ``None`` if it is not a number, or is NaN or
    infinite (which ``Decimal`` and ``float`` accept, and no column should hold)."""
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def percent(value, *, field: str = "percent"):
    if value is None:
        return None
    number = _finite(value)
    if number is None:
        raise InvalidInput("Enter a number between 0 and 100.", field)
    if not 0 <= number <= 100:
        raise InvalidInput(f"Must be between 0 and 100 (got {value}).", field)
    return value


# Money columns are ``Numeric(12, 2)``.
MAX_MONEY = Decimal("9999999999.99")


def money(value, *, field: str = "amount"):
    if value is None:
        return None
    amount = _finite(value)
    if amount is None:
        raise InvalidInput("Enter an amount like 1500.00.", field)
    if amount < 0:
        raise InvalidInput(f"Must be zero or more (got {value}).", field)
    if amount > MAX_MONEY:
        raise InvalidInput(f"Must be at most {MAX_MONEY:,}.", field)
    if amount.as_tuple().exponent < -2:
        raise InvalidInput("Use at most two decimal places.", field)
    return value


def bounded_number(value, *, minimum, maximum, whole: bool = False, field: str = "number"):
    """A finite number within ``minimum``..``maximum`` (what its column can hold): NaN,
    infinity and numbers beyond the column are refused with a message, not left to the
    database (an overflow) or stored as NaN."""
    if value is None or value == "":
        return value
    number = _finite(value)
    if number is None or (whole and number != number.to_integral_value()):
        raise InvalidInput("Enter a whole number." if whole else "Enter a number.", field)
    if not minimum <= number <= maximum:
        raise InvalidInput(f"Enter a number from {minimum:,} to {maximum:,}.", field)
    return value


def record_id(value, *, field: str = "id", what: str = "record") -> int | None:
    """An optional record id typed or sent in a form: blank is none; otherwise a whole
    number an INTEGER key can hold (1..2**31-1), or ``InvalidInput`` ("Choose a <what>
    from the list."). Whether the caller may use that record is the caller's lookup."""
    text = "" if value is None else str(value).strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 2**31 - 1:
        raise InvalidInput(f"Choose a {what} from the list.", field)
    return int(text)


def dates_in_order(earlier, later, *, earlier_label: str, later_label: str, field: str):
    if earlier is not None and later is not None and later < earlier:
        raise InvalidInput(f"{later_label} cannot be before {earlier_label}.", field)


# --------------------------------------------------------------------------- contact data

_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
_PHONE = re.compile(r"^\+?[0-9(][0-9 ().\-]*$")


def _blank_to_none(value) -> str | None:
    text = "" if value is None else str(value).strip()
    return text or None


def contact_name(value, *, field: str = "contact_name") -> str | None:
    """A person's name: inner whitespace collapsed, at most 120 characters; blank: none."""
    text = _blank_to_none(value)
    if text is None:
        return None
    text = " ".join(text.split())
    if len(text) > 120:
        raise InvalidInput(f"Use at most 120 characters for the name (this one has {len(text)}).", field)
    return text


def email(value, *, field: str = "contact_email") -> str | None:
    """An email address (one ``@``, a dotted domain, no spaces, at most 254 characters)."""
    text = _blank_to_none(value)
    if text is None:
        return None
    if len(text) > 254 or not _EMAIL.match(text):
        raise InvalidInput(f"“{text}” is not a valid email address; use one like ana@example.com.", field)
    return text


def phone(value, *, field: str = "contact_phone") -> str | None:
    """A phone number: 6–15 digits (E.164 allows 15), an optional leading ``+``, and
    spaces, dots, hyphens or brackets between them; at most 32 characters."""
    text = _blank_to_none(value)
    if text is None:
        return None
    digits = sum(ch.isdigit() for ch in text)
    if len(text) > 32 or not _PHONE.match(text) or not 6 <= digits <= 15:
        raise InvalidInput("Enter a phone number such as +55 11 91234-5678 (6–15 digits; spaces, dots, "
                           "hyphens, brackets and a leading + are allowed).", field)
    return text


# The contact fields of ``models.base.ContactMixin`` and the rule of each.
CONTACT_RULES = {"contact_name": contact_name, "contact_email": email, "contact_phone": phone}
