"""Uptime checks over real HTTP(S) (SPEC §7): many monitors at once, asynchronously.

``run_checks(requests, concurrency=...)`` takes plain ``CheckRequest`` values (URL,
method, expected status, optional keyword, timeout) and returns one ``CheckResult`` per
request, in the same order: ok, final status code, latency in milliseconds and an error
text written for a person ("timed out after 10 s", "expected status 200, got 503").

- ``httpx.AsyncClient``s shared by a batch (small pools, a fresh connection per check);
  at most ``concurrency`` requests in flight.
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
import contextlib
import math
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
POOL_SIZE = 25  # connections per client pool (see check_many)


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
    # Every check opens a fresh connection (no keep-alive), so its latency includes
    # connect and TLS as a visitor's first request would, and a connection given up by a
    # timed-out check is never reused. httpcore's pool scans all its connections on each
    # event (cost grows with the square of one pool's size): several small pools keep that
    # cheap with hundreds of checks in flight (bench/monitor_checks.py: 1,000 checks on
    # loopback 4.4 s with one pool of 200, about 2-2.6 s with pools of 25).
    shards = max(1, math.ceil(concurrency / POOL_SIZE))
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
    # The per-check deadline is the asyncio timeout; httpx's own is a backstop.
    longest = max(float(r.timeout_seconds or 0) for r in requests) or 10.0
    context = ssl_context(ca_bundle)
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(httpx.AsyncClient(
            verify=context, limits=limits, max_redirects=MAX_REDIRECTS, timeout=httpx.Timeout(longest + 5),
            headers={"User-Agent": USER_AGENT}, trust_env=False)) for _ in range(shards)]

        async def bounded(index: int, request: CheckRequest) -> CheckResult:
            async with slots:
                return await _check_one(clients[index % shards], request)

        return list(await asyncio.gather(*(bounded(i, r) for i, r in enumerate(requests))))


def run_checks(requests: Sequence[CheckRequest], *, concurrency: int = 100,
               ca_bundle: str | None = None) -> list[CheckResult]:
    """Blocking entry point (a worker has no event loop of its own)."""
    return asyncio.run(check_many(requests, concurrency=concurrency, ca_bundle=ca_bundle))
