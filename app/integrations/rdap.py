"""Domain registration data over RDAP (RFC 9082/9083), SPEC §7.

``lookup_domain(name, base_url=...)`` asks ``GET {base_url}/domain/<name>`` (redirects
followed: bootstrap services such as rdap.org answer with a redirect to the registry's
own server) and returns a ``Registration``: the expiry from the ``events`` entry whose
``eventAction`` is ``expiration``, plus the registration date and registrar when given.

Failures raise ``RDAPError`` with a message for a person: the registry does not know the
name (404), the server failed (5xx, retryable), the answer is not RDAP JSON, or it has
no expiration event. ``RDAPError.retryable`` tells a job whether trying later may help.

What does not live here: what a result changes on a domain and who is warned
(``app.services.monitoring``). No database access here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import httpx

from app.integrations.http_check import ssl_context

USER_AGENT = "Atrium-RDAP/1.0"


class RDAPError(Exception):
    def __init__(self, message: str, *, retryable: bool = False, status: int | None = None):
        super().__init__(message)
        self.message, self.retryable, self.status = message, retryable, status


@dataclass(frozen=True)
class Registration:
    name: str
    expires_at: dt.datetime  # UTC-aware
    registered_at: dt.datetime | None = None
    registrar: str | None = None


def _parse_date(value, name: str, what: str) -> dt.datetime:
    if not isinstance(value, str) or not value:
        raise RDAPError(f"RDAP answer for {name}: the {what} event has no date")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise RDAPError(f"RDAP answer for {name}: the {what} date {value!r} is not an RFC 3339 date") from None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def _registrar(entities) -> str | None:
    for entity in entities if isinstance(entities, list) else ():
        if not isinstance(entity, dict) or "registrar" not in (entity.get("roles") or []):
            continue
        vcard = entity.get("vcardArray")
        if isinstance(vcard, list) and len(vcard) == 2 and isinstance(vcard[1], list):
            for field in vcard[1]:
                if isinstance(field, list) and len(field) >= 4 and field[0] == "fn" and isinstance(field[3], str):
                    return field[3][:100]
        handle = entity.get("handle")
        if isinstance(handle, str):
            return handle[:100]
    return None


def parse_domain(name: str, payload) -> Registration:
    """A ``Registration`` from an RDAP domain object (RFC 9083 §5.3)."""
    if not isinstance(payload, dict):
        raise RDAPError(f"RDAP answer for {name} is not a JSON object")
    events = payload.get("events")
    if not isinstance(events, list):
        raise RDAPError(f"RDAP answer for {name} has no events list")
    by_action = {}
    for event in events:
        if isinstance(event, dict) and isinstance(event.get("eventAction"), str):
            by_action.setdefault(event["eventAction"].lower(), event.get("eventDate"))
    if "expiration" not in by_action:
        raise RDAPError(f"RDAP answer for {name} has no expiration event (the registry does not publish it)")
    expires = _parse_date(by_action["expiration"], name, "expiration")
    registered = _parse_date(by_action["registration"], name, "registration") if by_action.get("registration") else None
    return Registration(name, expires, registered, _registrar(payload.get("entities")))


def lookup_domain(name: str, *, base_url: str, timeout: float = 15, ca_bundle: str | None = None) -> Registration:
    """Ask the RDAP service at ``base_url`` about domain ``name`` (IDNA/ASCII form)."""
    if not name or "/" in name or not base_url:
        raise ValueError("a domain name and an RDAP base URL are required")
    url = f"{base_url.rstrip('/')}/domain/{name}"
    verify = True
    if ca_bundle:
        verify = ssl_context(ca_bundle)
    try:
        with httpx.Client(timeout=timeout, follow_redirects=True, verify=verify, trust_env=False,
                          headers={"Accept": "application/rdap+json, application/json", "User-Agent": USER_AGENT}
                          ) as client:
            response = client.get(url)
    except httpx.TimeoutException:
        raise RDAPError(f"RDAP lookup of {name} timed out after {timeout:g} s", retryable=True) from None
    except httpx.HTTPError as exc:
        raise RDAPError(f"RDAP lookup of {name} failed: {exc or type(exc).__name__}", retryable=True) from None
    status = response.status_code
    if status == 404:
        raise RDAPError(f"RDAP: the registry has no record of {name} (404)", status=404)
    if status == 429 or status >= 500:
        raise RDAPError(f"RDAP server error for {name}: HTTP {status}", retryable=True, status=status)
    if status != 200:
        raise RDAPError(f"RDAP lookup of {name} refused: HTTP {status}", status=status)
    try:
        payload = response.json()
    except ValueError:
        raise RDAPError(f"RDAP answer for {name} is not valid JSON") from None
    return parse_domain(name, payload)
