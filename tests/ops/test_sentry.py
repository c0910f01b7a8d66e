"""Error reports to Sentry when SENTRY_DSN is set, against a fake Sentry on 127.0.0.1: an unexpected
exception in a request reaches it as an envelope with the exception and the route, but without the body,
cookies, query string, authorization header or the frames' local variables; the client still gets the one
error format's 500. Without a DSN nothing is initialised."""

from __future__ import annotations

import gzip
import json
import time

import flask
import pytest

from tests.conftest import make_app
from tests.fakes.server import FakeServer, Reply, Request

sentry_sdk = pytest.importorskip("sentry_sdk")

# What the request carries that no report may (named below by constant: a report does carry the source
# lines around each frame, so the values must not be written there).
PASSWORD, TOKEN, COOKIE, PHONE, LAT = (
    "hunter2-pw",
    "abc.def.ghi",
    "session-cookie-v",
    "13912345678",
    "30.2741",
)
SECRET_BITS = (PASSWORD, TOKEN, COOKIE, PHONE, LAT)


class FakeSentry(FakeServer):
    """Sentry's ingestion endpoint: POST /api/<project>/envelope/ answers 200 {"id": …}."""

    name = "fake-sentry"

    def handle(self, request: Request, trouble: str | None) -> Reply:
        return Reply(200, {"id": "0" * 32})

    def envelopes(self) -> list[list[dict]]:
        """Each envelope received, as its lines of JSON (header, then item header and payload pairs)."""
        found = []
        for request in self.requests:
            if not request.path.endswith("/envelope/"):
                continue
            body = request.body
            if request.headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            elif request.headers.get("content-encoding") == "br":
                import brotli

                body = brotli.decompress(body)
            found.append([json.loads(line) for line in body.splitlines() if line.strip()])
        return found


@pytest.fixture
def fake_sentry():
    with FakeSentry() as fake:
        yield fake
    sentry_sdk.init()  # no DSN: later tests report nowhere


def test_an_unexpected_exception_reaches_sentry_without_personal_data(database_url, fake_sentry):
    dsn = f"http://public-key@{fake_sentry.url.removeprefix('http://')}/42"
    app = make_app(database_url, PROPAGATE_EXCEPTIONS=False)
    app.config["OPS"] = {**app.config["OPS"], "sentry_dsn": dsn}
    from volunteer_app.ops import sentry

    assert sentry.init_app(app) is True
    assert not sentry_sdk.get_client().options.get("send_default_pii")

    @app.post("/_test/boom/<int:item_id>")
    def boom(item_id):
        password = flask.request.get_json()["password"]  # a local variable a report must not carry
        raise RuntimeError(f"unexpected failure on item {item_id} ({len(password)})")

    client = app.test_client()
    client.set_cookie("volunteer_console", COOKIE)
    r = client.post(
        f"/_test/boom/7?lat={LAT}&phone={PHONE}",
        json={"password": PASSWORD, "phone": PHONE},
        headers={"Authorization": f"Bearer {TOKEN}", "X-Request-ID": "req-123"},
    )
    assert r.status_code == 500 and r.get_json()["error"] == "server.error"
    sentry_sdk.flush(timeout=10)
    deadline = time.monotonic() + 10
    while not fake_sentry.envelopes() and time.monotonic() < deadline:
        time.sleep(0.05)
    envelopes = fake_sentry.envelopes()
    assert envelopes, [(q.method, q.path) for q in fake_sentry.requests]
    events = [line for envelope in envelopes for line in envelope if "exception" in line]
    assert events, envelopes
    event = events[0]
    exception = event["exception"]["values"][-1]
    assert exception["type"] == "RuntimeError" and "unexpected failure on item 7" in exception["value"]
    assert event["request"]["url"].endswith("/_test/boom/7") and event["request"]["method"] == "POST"
    assert event["request"]["headers"].get("X-Request-Id") == "req-123" or "req-123" in json.dumps(event)
    for frame in exception["stacktrace"]["frames"]:
        assert "vars" not in frame
    raw = json.dumps(envelopes)
    for bit in SECRET_BITS:
        assert bit not in raw, bit
    # The Sentry key travels in the auth header, as Sentry's protocol has it.
    assert any("public-key" in q.headers.get("x-sentry-auth", "") for q in fake_sentry.requests)


def test_no_dsn_no_reports(app):
    from volunteer_app.ops import sentry

    assert not app.config["OPS"]["sentry_dsn"]
    assert sentry.init_app(app) is False


def test_scrub_drops_bodies_cookies_queries_and_auth_headers():
    from volunteer_app.ops.sentry import scrub

    event = {
        "request": {
            "url": "https://x/api/v1/orders?lat=1",
            "data": {"password": "p"},
            "cookies": {"a": "b"},
            "query_string": "lat=1",
            "env": {"REMOTE_ADDR": "1.2.3.4"},
            "headers": {
                "Authorization": "Bearer t",
                "Cookie": "a=b",
                "X-CSRF-Token": "c",
                "User-Agent": "ua",
            },
        },
        "user": {"ip_address": "1.2.3.4"},
    }
    scrubbed = scrub(event, {})
    assert scrubbed["request"] == {"url": "https://x/api/v1/orders", "headers": {"User-Agent": "ua"}}
    assert "user" not in scrubbed
