"""HTTP plumbing shared by the platform adapters (Google Ads, Meta, hosting/CDN): one
``httpx`` call with a timeout, and one mapping of what went wrong to an error a job knows
how to treat.

- ``AuthenticationFailed`` (HTTP 401/403, or a platform's own "bad token" answer): the
  credentials are wrong or lack access. A ``PermanentError``: the job ends as failed at
  once with this message; retrying cannot fix it.
- ``PlatformRejected`` (other 4xx: a malformed query, an unknown campaign): permanent too.
- ``PlatformUnavailable`` (429, 5xx, timeouts, refused connections, a body that is not
  the documented JSON): transient; the job raises it and RQ retries with back-off.

Nothing here knows about campaigns, projects or the database.
"""

from __future__ import annotations

import httpx

from app.errors import PermanentError

TIMEOUT = httpx.Timeout(30.0, connect=10.0)
USER_AGENT = "Atrium-sync/1.0"


class AuthenticationFailed(PermanentError):
    """The platform refused the credentials (never retried)."""


class PlatformRejected(PermanentError):
    """The platform refused the request itself (4xx other than auth and rate limits)."""


class PlatformUnavailable(Exception):
    """A failure that may pass (rate limit, server error, timeout): retried by RQ."""


def client(**kwargs) -> httpx.Client:
    """A short-lived client: no redirects followed (a credential is never sent on to
    another host), a timeout on every phase, our user agent."""
    headers = {"User-Agent": USER_AGENT, **kwargs.pop("headers", {})}
    return httpx.Client(timeout=kwargs.pop("timeout", TIMEOUT), follow_redirects=False, headers=headers, **kwargs)


def error_text(response: httpx.Response, limit: int = 300) -> str:
    """The platform's own words about a failed request (JSON ``error.message`` /
    ``error.status`` where present, else the start of the body)."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:limit]
    if isinstance(body, list) and body:  # Google's searchStream wraps errors in an array
        body = body[0]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        parts = [str(error[k]) for k in ("status", "type", "message") if error.get(k)]
        return ": ".join(parts)[:limit]
    if isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"]:
        first = body["errors"][0]
        return str(first.get("message", first) if isinstance(first, dict) else first)[:limit]
    return response.text.strip()[:limit]


def send(http: httpx.Client, method: str, url: str, *, platform: str, auth_hint: str, **kwargs) -> httpx.Response:
    """Make one request; return the response when it is 2xx, raise the matching error
    otherwise. ``platform`` names the service in messages ("Google Ads"); ``auth_hint``
    says which settings to check when the credentials are refused."""
    try:
        response = http.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        raise PlatformUnavailable(f"{platform} did not answer in time ({type(exc).__name__}); will retry") from exc
    except httpx.TransportError as exc:
        raise PlatformUnavailable(f"{platform} could not be reached ({type(exc).__name__}: {exc}); will retry") from exc
    raise_for_status(response, platform=platform, auth_hint=auth_hint)
    return response


def raise_for_status(response: httpx.Response, *, platform: str, auth_hint: str) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    detail = error_text(response)
    if status in (401, 403):
        raise AuthenticationFailed(f"{platform} authentication failed (HTTP {status}: {detail}). {auth_hint} "
                                   "This sync is not retried until the credentials are fixed.")
    if status == 429 or status >= 500 or status == 408:
        raise PlatformUnavailable(f"{platform} is unavailable (HTTP {status}: {detail}); will retry")
    if 300 <= status < 400:
        raise PlatformRejected(f"{platform} answered with a redirect (HTTP {status} to "
                               f"{response.headers.get('location', '?')}); check the API base URL setting.")
    raise PlatformRejected(f"{platform} refused the request (HTTP {status}: {detail}).")


def json_body(response: httpx.Response, *, platform: str):
    """The response's JSON; a body that is not JSON is treated as a passing fault."""
    try:
        return response.json()
    except ValueError as exc:
        raise PlatformUnavailable(f"{platform} answered with something that is not JSON "
                                  f"({response.text[:80]!r}); will retry") from exc
