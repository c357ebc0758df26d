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
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app import i18n
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
        raise InvalidInput(_("Enter a domain name, e.g. example.com.br."), field)
    try:
        ascii_name = idna.encode(raw, uts46=True).decode("ascii").lower()
    except idna.IDNAError as exc:
        raise InvalidInput(_("“%(name)s” is not a valid domain name: %(error)s.", name=raw, error=exc), field) from None
    labels = ascii_name.split(".")
    if len(labels) < 2:
        raise InvalidInput(_("“%(name)s” needs a top-level domain, e.g. %(name)s.com.", name=raw), field)
    if len(ascii_name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise InvalidInput(_("“%(name)s” is not a valid domain name.", name=raw), field)
    if labels[-1].isdigit():
        raise InvalidInput(_("“%(name)s” looks like an IP address, not a domain name.", name=raw), field)
    return ascii_name


def _host(value, field: str, refusal) -> str:
    """``value`` as a host name, or ``InvalidInput`` with ``refusal(value)`` (the sentence
    naming what had to be a host name)."""
    try:
        return domain_name(str(value), field=field)
    except InvalidInput:
        raise InvalidInput(refusal(value), field) from None


def nameservers(value, *, field: str = "nameservers") -> list[str]:
    items = _as_list(value, field)
    result = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidInput(_("Each nameserver must be a host name."), field)
        result.append(_host(item, field, lambda got: _("A nameserver must be a host name, got “%(value)s”.",
                                                        value=got)))
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
                raise InvalidInput(_("Not valid JSON: %(error)s (line %(line)d).", error=exc.msg, line=exc.lineno),
                                   field) from None
        else:
            value = [line.strip() for line in re.split(r"[\n,]", text) if line.strip()]
    if not isinstance(value, list):
        raise InvalidInput(_("Expected a list."), field)
    return value


def dns_records(value, *, field: str = "dns_records") -> list[dict]:
    """Validate a list of ``{type, name, value, ttl, priority?}`` records per type."""
    items = _as_list(value, field)
    result = []
    for n, rec in enumerate(items, start=1):
        if not isinstance(rec, dict):
            raise InvalidInput(_("Record %(n)d must be an object with type, name, value and ttl.", n=n), field)
        rtype = str(rec.get("type", "")).upper()
        if rtype not in DNS_TYPES:
            raise InvalidInput(_("Record %(n)d: type must be one of %(types)s.", n=n, types=", ".join(DNS_TYPES)),
                               field)
        name = str(rec.get("name", "@")).strip() or "@"
        if name != "@" and not re.match(r"^(\*\.)?[A-Za-z0-9_.-]+$", name):
            raise InvalidInput(_("Record %(n)d: name “%(name)s” is not a valid record name.", n=n, name=name), field)
        val = str(rec.get("value", "")).strip()
        if not val:
            raise InvalidInput(_("Record %(n)d (%(type)s): value is required.", n=n, type=rtype), field)
        try:
            ttl = int(rec.get("ttl", 3600))
        except (TypeError, ValueError):
            raise InvalidInput(_("Record %(n)d: ttl must be a whole number of seconds.", n=n), field) from None
        if not 60 <= ttl <= 604800:
            raise InvalidInput(_("Record %(n)d: ttl must be between 60 and 604800 seconds.", n=n), field)
        out = {"type": rtype, "name": name, "value": val, "ttl": ttl}

        def not_a_host(got, n=n, rtype=rtype):
            return _("Record %(n)d (%(type)s): the target must be a host name, got “%(value)s”.", n=n, type=rtype,
                     value=got)

        if rtype == "A":
            _ip(val, ipaddress.IPv4Address, field, lambda got, n=n: _(
                "Record %(n)d (A): value must be an IPv4 address, got “%(value)s”.", n=n, value=got))
        elif rtype == "AAAA":
            _ip(val, ipaddress.IPv6Address, field, lambda got, n=n: _(
                "Record %(n)d (AAAA): value must be an IPv6 address, got “%(value)s”.", n=n, value=got))
        elif rtype in ("CNAME", "NS"):
            out["value"] = _host(val, field, not_a_host)
        elif rtype in ("MX", "SRV"):
            priority = rec.get("priority")
            try:
                priority = int(priority)
            except (TypeError, ValueError):
                raise InvalidInput(_("Record %(n)d (%(type)s): priority is required (0–65535).", n=n, type=rtype),
                                   field) from None
            if not 0 <= priority <= 65535:
                raise InvalidInput(_("Record %(n)d (%(type)s): priority must be between 0 and 65535.", n=n,
                                     type=rtype), field)
            out["priority"] = priority
            target = val.split()[-1] if rtype == "SRV" else val
            _host(target, field, not_a_host)
        elif rtype == "TXT" and len(val) > 2048:
            raise InvalidInput(_("Record %(n)d (TXT): value is longer than 2048 characters.", n=n), field)
        elif rtype == "CAA" and not re.match(r'^\d{1,3} (issue|issuewild|iodef) "?[^"]+"?$', val):
            raise InvalidInput(_('Record %(n)d (CAA): value must look like 0 issue "letsencrypt.org".', n=n), field)
        result.append(out)
    return result


def _ip(value, cls, field, refusal):
    try:
        cls(value)
    except ValueError:
        raise InvalidInput(refusal(value), field) from None


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
        raise InvalidInput(_("Enter a number between 0 and 100."), field)
    if not 0 <= number <= 100:
        raise InvalidInput(_("Must be between 0 and 100 (got %(value)s).", value=value), field)
    return value


# Money columns are ``Numeric(12, 2)``.
MAX_MONEY = Decimal("9999999999.99")


def money(value, *, field: str = "amount"):
    if value is None:
        return None
    amount = _finite(value)
    if amount is None:
        raise InvalidInput(_("Enter an amount like 1500.00."), field)
    if amount < 0:
        raise InvalidInput(_("Must be zero or more (got %(value)s).", value=value), field)
    if amount > MAX_MONEY:
        raise InvalidInput(_("Must be at most %(most)s.", most=_figure(MAX_MONEY)), field)
    if amount.as_tuple().exponent < -2:
        raise InvalidInput(_("Use at most two decimal places."), field)
    return value


def bounded_number(value, *, minimum, maximum, whole: bool = False, field: str = "number"):
    """A finite number within ``minimum``..``maximum`` (what its column can hold): NaN,
    infinity and numbers beyond the column are refused with a message, not left to the
    database (an overflow) or stored as NaN."""
    if value is None or value == "":
        return value
    number = _finite(value)
    if number is None or (whole and number != number.to_integral_value()):
        raise InvalidInput(_("Enter a whole number.") if whole else _("Enter a number."), field)
    if not minimum <= number <= maximum:
        raise InvalidInput(_("Enter a number from %(minimum)s to %(maximum)s.", minimum=_figure(minimum),
                             maximum=_figure(maximum)), field)
    return value


def _figure(value) -> str:
    """``value`` with the locale's digit grouping and every decimal it has."""
    value = Decimal(value)
    return i18n.number(value, max(0, -value.as_tuple().exponent))


# ``record_id``'s message per kind of record (``what``), a whole sentence each.
CHOOSE_FROM_LIST = {"record": _l("Choose a record from the list."), "project": _l("Choose a project from the list.")}


def record_id(value, *, field: str = "id", what: str = "record") -> int | None:
    """An optional record id typed or sent in a form: blank is none; otherwise a whole
    number an INTEGER key can hold (1..2**31-1), or ``InvalidInput`` ("Choose a <what>
    from the list.", ``CHOOSE_FROM_LIST``). Whether the caller may use that record is the
    caller's lookup."""
    text = "" if value is None else str(value).strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 2**31 - 1:
        raise InvalidInput(str(CHOOSE_FROM_LIST.get(what, CHOOSE_FROM_LIST["record"])), field)
    return int(text)


def dates_in_order(earlier, later, *, earlier_label: str, later_label: str, field: str):
    """``later`` not before ``earlier``; the labels name the two fields (translated by the caller)."""
    if earlier is not None and later is not None and later < earlier:
        raise InvalidInput(_("%(later)s cannot be before %(earlier)s.", later=later_label, earlier=earlier_label),
                           field)


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
        raise InvalidInput(_("Use at most 120 characters for the name (this one has %(count)d).", count=len(text)),
                           field)
    return text


def email(value, *, field: str = "contact_email") -> str | None:
    """An email address (one ``@``, a dotted domain, no spaces, at most 254 characters)."""
    text = _blank_to_none(value)
    if text is None:
        return None
    if len(text) > 254 or not _EMAIL.match(text):
        raise InvalidInput(_("“%(email)s” is not a valid email address; use one like ana@example.com.", email=text),
                           field)
    return text


def phone(value, *, field: str = "contact_phone") -> str | None:
    """A phone number: 6–15 digits (E.164 allows 15), an optional leading ``+``, and
    spaces, dots, hyphens or brackets between them; at most 32 characters."""
    text = _blank_to_none(value)
    if text is None:
        return None
    digits = sum(ch.isdigit() for ch in text)
    if len(text) > 32 or not _PHONE.match(text) or not 6 <= digits <= 15:
        raise InvalidInput(_("Enter a phone number such as +55 11 91234-5678 (6–15 digits; spaces, dots, "
                             "hyphens, brackets and a leading + are allowed)."), field)
    return text


# The contact fields of ``models.base.ContactMixin`` and the rule of each.
CONTACT_RULES = {"contact_name": contact_name, "contact_email": email, "contact_phone": phone}
