"""The base of every fake provider: a threaded HTTP server on 127.0.0.1 (port 0: the OS picks) that
records each request and answers through the subclass's `handle`, with scripted trouble on demand.

    with FakeWeChat() as fake:          # started; fake.url is "http://127.0.0.1:<port>"
        fake.fail_next("rate_limited")   # the next request gets the provider's rate-limit answer
        ...
        fake.requests                    # every request seen: Request(method, path, query, headers, body)

Run one alone (for .ci/smoke.py or by hand): `python -m tests.fakes.<name> --port 8701`. A fake run
alone is told things over HTTP under /_fake/ (no provider has such paths):
  POST /_fake/state {"attr": "codes", "key": "c1", "value": "openid-1"}   fake.codes["c1"] = "openid-1"
  POST /_fake/state {"attr": "devices", "value": "regid-1"}               fake.devices.add("regid-1")
  GET  /_fake/state?attr=sent                                            fake.sent, as JSON
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list → JSON; bytes → as is
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (a provider that hangs)


class FakeServer:
    """Subclass and implement `handle(request) -> Reply`; `trouble` (set by fail_next) names the scripted
    failure the next request must get, which `handle` interprets in the provider's own terms."""

    name = "fake"

    def __init__(self, port: int = 0) -> None:
        self.requests: list[Request] = []
        self._trouble: list[str] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query={key: values[-1] for key, values in parse_qs(parts.query).items()},
                    headers={key.lower(): value for key, value in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                if request.path == "/_fake/state":
                    self._reply(fake.control(request))
                    return
                with fake._lock:
                    fake.requests.append(request)
                    trouble = fake._trouble.pop(0) if fake._trouble else None
                self._reply(fake.handle(request, trouble))

            def _reply(self, reply: Reply) -> None:
                if reply.delay:
                    time.sleep(reply.delay)
                body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    headers = {"Content-Type": "application/json", **reply.headers}
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (its timeout)
                    pass

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, *args: Any) -> None:  # quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread: threading.Thread | None = None

    def handle(self, request: Request, trouble: str | None) -> Reply:  # pragma: no cover - abstract
        raise NotImplementedError

    def control(self, request: Request) -> Reply:
        """/_fake/state: set an item of a dict attribute, add to a set or list attribute (POST), or read
        one attribute (GET ?attr=). Only attributes the fake already has."""
        try:
            ask = request.json() if request.method == "POST" else dict(request.query)
            value = getattr(self, str(ask["attr"]))
        except (AttributeError, KeyError, TypeError, ValueError):
            return Reply(400, {"error": "name an attribute the fake has: {attr, key?, value?}"})
        if request.method == "GET":
            with self._lock:
                return Reply(200, list(value) if isinstance(value, set | tuple) else value)
        with self._lock:
            if isinstance(value, dict) and "key" in ask:
                value[ask["key"]] = ask.get("value")
            elif isinstance(value, set):
                value.add(ask.get("value"))
            elif isinstance(value, list):
                value.append(ask.get("value"))
            else:
                return Reply(400, {"error": f"{ask['attr']} is not a dict, set or list"})
        return Reply(200, {"ok": True})

    def fail_next(self, *troubles: str) -> None:
        """The next len(troubles) requests get these scripted failures, in order."""
        with self._lock:
            self._trouble.extend(troubles)

    def start(self) -> FakeServer:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=self.name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def main(make: type[FakeServer]) -> None:
    """`python -m tests.fakes.<name> --port N`: serve until killed, printing the URL once ready."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = make(args.port)
    print(server.url, flush=True)
    server.httpd.serve_forever()
