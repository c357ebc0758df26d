"""Uptime checks over real HTTP(S) (SPEC §7): many monitors at once, asynchronously.

``run_checks(requests, concurrency=...)`` takes plain ``CheckRequest`` values (URL,
method, expected status, optional keyword, timeout) and returns one ``CheckResult`` per
request, in the same order: ok, final status code, latency in milliseconds and an error
text written for a person ("timed out after 10 s", "expected status 200, got 503").

- One ``httpx.AsyncClient`` per batch; at most ``concurrency`` requests in flight.
- ``timeout_seconds`` bounds the whole check (connect, TLS, redirects, body), not only
  each socket operation, so a server that trickles bytes still times out.
- Redirects are followed (at most ``MAX_REDIRECTS``), except when the monitor expects a
  3xx status itself: then the first answer is the one judged.
- The keyword is searched in the first ``MAX_BODY_BYTES`` of the (decoded) body.
- TLS is always verified, against the system's trust store or ``ca_bundle`` (a PEM file
  of extra/private roots, e.g. a test CA).

What does not live here: which monitors are due, what a result changes (state,
incidents, notifications): ``app.services.monitoring``. No database access here.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

MAX_REDIRECTS = 10
MAX_BODY_BYTES = 2 * 1024 * 1024
USER_AGENT = "Atrium-Uptime/1.0"
METHODS = ("GET", "HEAD", "POST")


@dataclass(frozen=True)
class CheckRequest:
    monitor_id: int
    url: str
    method: str = "GET"
    expected_status: int = 200
    keyword: str | None = None
    timeout_seconds: float = 10


@dataclass(frozen=True)
class CheckResult:
    monitor_id: int
    ok: bool
    status_code: int | None
    latency_ms: int | None
    error: str | None


def problem_with(request: CheckRequest) -> str | None:
    """Why ``request`` cannot be checked at all (bad URL, method, timeout), or None."""
    try:
        parts = urlsplit(request.url or "")
    except ValueError as exc:
        return f"invalid URL {request.url!r}: {exc}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"invalid URL {request.url!r}: it must start with http:// or https:// and name a host"
    if request.method not in METHODS:
        return f"unsupported method {request.method!r} (use {', '.join(METHODS)})"
    if not request.timeout_seconds or request.timeout_seconds <= 0:
        return f"invalid timeout {request.timeout_seconds!r}: it must be a positive number of seconds"
    if not 100 <= int(request.expected_status or 0) <= 599:
        return f"invalid expected status {request.expected_status!r}"
    return None


def ssl_context(ca_bundle: str | None = None) -> ssl.SSLContext:
    """A verifying TLS context: the system's roots, plus ``ca_bundle`` when given."""
    context = ssl.create_default_context()
    if ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    return context


def _describe(exc: BaseException, request: CheckRequest) -> str:
    """A person's words for a transport failure."""
    if isinstance(exc, (TimeoutError, httpx.TimeoutException)):
        return f"timed out after {request.timeout_seconds:g} s"
    if isinstance(exc, httpx.TooManyRedirects):
        return f"more than {MAX_REDIRECTS} redirects"
    cause = exc
    while cause is not None:  # httpx wraps ssl/socket errors: name the root
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate not accepted: {cause.verify_message or cause}"
        if isinstance(cause, ssl.SSLError):
            return f"TLS handshake failed: {cause}"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect: {exc or type(exc).__name__}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the server broke the HTTP protocol: {exc}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def _read_text(response: httpx.Response) -> str:
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_BODY_BYTES:
            break
    raw = b"".join(chunks)[:MAX_BODY_BYTES]
    return raw.decode(response.encoding or "utf-8", errors="replace")


async def _check_one(client: httpx.AsyncClient, request: CheckRequest) -> CheckResult:
    problem = problem_with(request)
    if problem:
        return CheckResult(request.monitor_id, False, None, None, problem)
    expected = int(request.expected_status)
    follow = not 300 <= expected <= 399
    started = time.perf_counter()
    status = None
    try:
        async with asyncio.timeout(float(request.timeout_seconds)):
            async with client.stream(request.method, request.url, follow_redirects=follow) as response:
                status = response.status_code
                body = await _read_text(response) if request.keyword and request.method != "HEAD" else ""
    except Exception as exc:  # noqa: BLE001 - every failure is a result, not a crash of the batch
        latency = int((time.perf_counter() - started) * 1000)
        return CheckResult(request.monitor_id, False, status, latency, _describe(exc, request))
    latency = int((time.perf_counter() - started) * 1000)
    if status != expected:
        return CheckResult(request.monitor_id, False, status, latency, f"expected status {expected}, got {status}")
    if request.keyword:
        if request.method == "HEAD":
            return CheckResult(request.monitor_id, False, status, latency,
                               "a keyword cannot be checked with HEAD (no body): use GET")
        if request.keyword not in body:
            return CheckResult(request.monitor_id, False, status, latency,
                               f"keyword {request.keyword!r} not found in the response")
    return CheckResult(request.monitor_id, True, status, latency, None)


async def check_many(requests: Sequence[CheckRequest], *, concurrency: int = 100,
                     ca_bundle: str | None = None) -> list[CheckResult]:
    """Check every request, at most ``concurrency`` at a time; results in request order."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    if not requests:
        return []
    slots = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    # The per-check deadline is the asyncio timeout; httpx's own is a backstop.
    longest = max(float(r.timeout_seconds or 0) for r in requests) or 10.0
    async with httpx.AsyncClient(verify=ssl_context(ca_bundle), limits=limits, max_redirects=MAX_REDIRECTS,
                                 timeout=httpx.Timeout(longest + 5), headers={"User-Agent": USER_AGENT},
                                 trust_env=False) as client:

        async def bounded(request: CheckRequest) -> CheckResult:
            async with slots:
                return await _check_one(client, request)

        return list(await asyncio.gather(*(bounded(r) for r in requests)))


def run_checks(requests: Sequence[CheckRequest], *, concurrency: int = 100,
               ca_bundle: str | None = None) -> list[CheckResult]:
    """Blocking entry point (a worker has no event loop of its own)."""
    return asyncio.run(check_many(requests, concurrency=concurrency, ca_bundle=ca_bundle))
