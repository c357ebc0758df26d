"""Loopback HTTP(S) servers for tests and benchmarks: real sockets on 127.0.0.1.

``LoopbackServer`` is a small asyncio HTTP/1.1 server (keep-alive, many connections at
once) running its own event loop in a background thread, so a test can start it, take
it down (``stop``: the port then refuses connections) and bring it back on the same port
(``start`` again). Pass ``ssl_context`` for HTTPS/TLS.

Routes (``GET``/``HEAD``/``POST``):
- ``/ok``                       200 "Atrium OK"
- ``/status/<code>``            that status
- ``/slow/<seconds>``           200 after a pause
- ``/redirect/<n>``             302 chain of ``n`` hops ending at ``/ok``
- ``/keyword/<word>``           200 with a body containing ``<word>``
- ``/rdap/domain/<name>``       RDAP domain JSON (RFC 9083) from ``rdap_answers`` (see below)
- anything in ``routes``        a callable ``(method, path) -> (status, headers, body)``

``rdap_answers[name]``: a dict (served as ``application/rdap+json``), an int (that
status with an RDAP error body), or bytes (served as is, e.g. broken JSON). Unknown
names are 404.

Run as a program (``python -m tests.support.loopback --port 0``) it serves in the
foreground and prints ``PORT <n>`` once listening (benchmarks use it from a child
process, away from the checker's CPU).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable


def rdap_domain(name: str, expires: str, registered: str | None = None, registrar: str | None = None) -> dict:
    """An RDAP domain object shaped as registries answer (RFC 9083 §5.3)."""
    events = [{"eventAction": "last changed", "eventDate": "2024-01-10T12:00:00Z"},
              {"eventAction": "expiration", "eventDate": expires}]
    if registered:
        events.insert(0, {"eventAction": "registration", "eventDate": registered})
    answer = {"rdapConformance": ["rdap_level_0"], "objectClassName": "domain", "handle": name.upper(),
              "ldhName": name, "status": ["active"], "events": events,
              "nameservers": [{"objectClassName": "nameserver", "ldhName": "a.dns.example"}]}
    if registrar:
        answer["entities"] = [{"objectClassName": "entity", "roles": ["registrar"],
                               "vcardArray": ["vcard", [["version", {}, "text", "4.0"],
                                                        ["fn", {}, "text", registrar]]]}]
    return answer


REASONS = {200: "OK", 204: "No Content", 301: "Moved Permanently", 302: "Found", 400: "Bad Request",
           404: "Not Found", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


class LoopbackServer:
    def __init__(self, port: int = 0, ssl_context=None, routes: dict[str, Callable] | None = None):
        self.port = port
        self.ssl_context = ssl_context
        self.routes = dict(routes or {})
        self.rdap_answers: dict[str, object] = {}
        self.hits: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server = None
        self._writers: set = set()
        self._tasks: set = set()

    # ----------------------------------------------------------------- lifecycle

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_context else "http"

    def url(self, path: str = "/ok") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def start(self) -> LoopbackServer:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="loopback-http")
            self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        return self

    def stop(self) -> None:
        """Take the server down: stop listening and drop open connections."""
        if self._loop is not None and self._server is not None:
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)

    def close(self) -> None:
        self.stop()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop.close()
            self._loop = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    async def _listen(self):
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, ssl=self.ssl_context,
                                                  reuse_address=True, backlog=2048)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self):
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    # ----------------------------------------------------------------- HTTP

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self._writers.add(writer)
        self._tasks.add(asyncio.current_task())
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _version = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
                length = int(headers.get("content-length") or 0)
                if length:
                    await reader.readexactly(length)
                self.hits.append(f"{method} {target}")
                status, extra, body = await self._answer(method, target.split("?", 1)[0])
                reason = REASONS.get(status, "Status")
                out = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}"]
                out += [f"{k}: {v}" for k, v in extra.items()]
                payload = ("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + (b"" if method == "HEAD" else body)
                writer.write(payload)
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, asyncio.LimitOverrunError):
            pass
        except Exception:  # noqa: BLE001 - a broken client must not kill the server (TLS errors, resets)
            pass
        finally:
            self._writers.discard(writer)
            self._tasks.discard(asyncio.current_task())
            try:
                writer.close()
            except Exception:  # noqa: BLE001
                pass

    async def _answer(self, method: str, path: str):
        text = {"Content-Type": "text/plain; charset=utf-8"}
        if path in self.routes:
            return self.routes[path](method, path)
        parts = path.strip("/").split("/")
        if path == "/ok":
            return 200, text, b"Atrium OK"
        if parts[0] == "status" and len(parts) == 2 and parts[1].isdigit():
            return int(parts[1]), text, f"status {parts[1]}".encode()
        if parts[0] == "slow" and len(parts) == 2:
            await asyncio.sleep(float(parts[1]))
            return 200, text, b"slow but fine"
        if parts[0] == "redirect" and len(parts) == 2 and parts[1].isdigit():
            hops = int(parts[1])
            return 302, {"Location": "/ok" if hops <= 1 else f"/redirect/{hops - 1}"}, b""
        if parts[0] == "keyword" and len(parts) == 2:
            return 200, {"Content-Type": "text/html; charset=utf-8"}, f"<html><body>Welcome to {parts[1]}</body></html>".encode()
        if parts[:2] == ["rdap", "domain"] and len(parts) == 3:
            answer = self.rdap_answers.get(parts[2].lower())
            rdap = {"Content-Type": "application/rdap+json"}
            if answer is None:
                return 404, rdap, json.dumps({"errorCode": 404, "title": "Not Found",
                                              "description": ["Domain not found"]}).encode()
            if isinstance(answer, int):
                return answer, rdap, json.dumps({"errorCode": answer, "title": "Server error"}).encode()
            if isinstance(answer, bytes):
                return 200, rdap, answer
            return 200, rdap, json.dumps(answer).encode()
        return 404, text, b"no such route"


def main(argv=None) -> None:
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="Serve the loopback test routes in the foreground.")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)

    async def run():
        server = LoopbackServer(args.port)
        await server._listen()
        print(f"PORT {server.port}", flush=True)
        sys.stdout.flush()
        await asyncio.Event().wait()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
