"""The console's sign-in endpoints under hostile input: bodies that are not what the form sends, odd
values of the page's token, and `next=` addresses that try to leave the console. Always a 4xx in the
one error format (never a 500), no session started, and a `next` that stays under /console/."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlencode, urljoin, urlsplit

import pytest
import sqlalchemy as sa

from tests.support import PASSWORD
from volunteer_app.auth.models import AuthSession
from volunteer_app.extensions import db

SIGN_INS = ("/console/session", "/console/session/sms")
LOGIN_COOKIE = "volunteer_console_login"


def _page_token(client, query: str = "") -> str:
    response = client.get(f"/console/login{query}")
    assert response.status_code == 200
    return re.search(r'name="csrf-token" content="([^"]+)"', response.text).group(1)


def _sessions(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(AuthSession))


def _one_format(response, where) -> None:
    text = response.get_data(as_text=True)[:300]
    assert 400 <= response.status_code < 500, (where, response.status_code, text)
    body = response.get_json(silent=True)
    assert isinstance(body, dict), (where, text)
    assert {"code", "status", "error", "message"} <= set(body), (where, body)
    assert body["code"] == response.status_code, (where, body)


def _json(text: str | bytes) -> dict:
    return {"data": text, "content_type": "application/json"}


BODIES = {
    "no body": {},
    "text": {"data": "phone=1&password=2", "content_type": "text/plain"},
    "a form": {"data": {"phone": "13800000000", "password": "x"}},
    "xml": {"data": "<a/>", "content_type": "application/xml"},
    "broken JSON": _json("{"),
    "not UTF-8": _json(b"\xff\xfe{}"),
    "empty JSON": _json(""),
    "null": _json("null"),
    "an array": {"json": [1, 2]},
    "a string": {"json": "13800000000"},
    "a number": {"json": 5},
    "numbers": {"json": {"phone": 138, "password": 1.5, "code": 123456}},
    "lists": {"json": {"phone": ["13800000000"], "password": ["x"], "code": ["123456"]}},
    "nulls": {"json": {"phone": None, "password": None, "code": None}},
    "booleans": {"json": {"phone": True, "password": False, "code": True}},
    "objects": {"json": {"phone": {"a": {"b": [[[]]]}}, "password": {}, "code": {}}},
    "NaN": _json('{"phone": NaN, "password": Infinity, "code": -Infinity}'),
    "a number of 5000 digits": _json('{"phone": 1' + "0" * 5000 + ', "password": "x"}'),
    "huge strings": {"json": {"phone": "1" * 1_000_000, "password": "p" * 1_000_000}},
    "a long password": {"json": {"phone": "13800000000", "password": "p" * 50_000, "code": "1" * 50_000}},
    "NUL": {"json": {"phone": "138\x0000000000", "password": "a\x00b", "code": "12\x003456"}},
    "unicode": {"json": {"phone": "１３８００００００００", "password": "密码😀\u202e", "code": "١٢٣٤٥٦"}},
    "unknown fields": {"json": {"phone": "13800000000", "password": "x", "code": "123456", "admin": True}},
    "deep arrays": _json("[" * 5_000 + "]" * 5_000),
    "deep in a field": _json('{"phone": ' + "[" * 5_000 + "]" * 5_000 + "}"),
}


@pytest.mark.parametrize("body", sorted(BODIES))
def test_hostile_bodies_are_a_4xx_in_the_one_format(app, world, body):
    """(Deeply nested arrays were a 500: the JSON parser's RecursionError, in the login limit's key
    function and in the view.) The API's logins share the limit: they are sent the same."""
    client = app.test_client()
    token = _page_token(client)
    before = _sessions(app)
    for path in (*SIGN_INS, "/api/v1/auth/login", "/api/v1/auth/sms-login"):
        response = client.post(path, headers={"X-CSRF-Token": token}, **BODIES[body])
        _one_format(response, (path, body))
        assert response.status_code in (400, 401, 413, 415, 422), (path, body, response.status_code)
    assert _sessions(app) == before


@pytest.mark.parametrize(
    "value", ["é", "ÿ" * 32, "中".encode().decode("latin-1"), "\x7f", "", " ", "x" * 3000]
)
@pytest.mark.parametrize("where", ["header", "cookie", "both"])
def test_odd_values_of_the_pages_token_are_refused(app, world, value, where):
    """(A header or cookie beyond ASCII was a 500: compare_digest raises TypeError on such text. The
    same value in both was taken: a planted cookie matched its own header.)"""
    client = app.test_client()
    token = _page_token(client)
    if where in ("cookie", "both"):
        client.set_cookie(LOGIN_COOKIE, value, path="/console/")
    sent = value if where in ("header", "both") else token
    before = _sessions(app)
    for path in SIGN_INS:
        response = client.post(
            path, json={"phone": world.mgr_s1.phone, "password": PASSWORD}, headers={"X-CSRF-Token": sent}
        )
        _one_format(response, (path, where, value[:10]))
        assert response.status_code == 403 and response.json["error"] == "auth.csrf"
    assert _sessions(app) == before


def test_a_planted_cookie_with_a_matching_header_is_refused_but_the_pages_own_token_works(app, world):
    client = app.test_client()
    token = _page_token(client)
    nonce = token.partition(".")[0]
    for planted in ("attacker-chosen", f"{nonce}.", f"{nonce}.{'0' * 32}", f".{token.partition('.')[2]}"):
        client.set_cookie(LOGIN_COOKIE, planted, path="/console/")
        response = client.post(
            "/console/session",
            json={"phone": world.mgr_s1.phone, "password": PASSWORD},
            headers={"X-CSRF-Token": planted},
        )
        assert response.status_code == 403 and response.json["error"] == "auth.csrf", planted
    client.set_cookie(LOGIN_COOKIE, token, path="/console/")
    response = client.post(
        "/console/session",
        json={"phone": world.mgr_s1.phone, "password": PASSWORD},
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == 200, response.json


# ---- next= -------------------------------------------------------------------------------------------

ESCAPES = (
    "https://evil.example/",
    "http://evil.example/console/",
    "HTTPS://evil.example/console/",
    "javascript:alert(1)//console/",
    "data:text/html,<script>alert(1)</script>",
    "//evil.example/console/",
    "///evil.example/console/",
    "/\\evil.example/console/",
    "\\\\evil.example/console/",
    "/console/../api/v1/me",
    "/console/./../api/v1/me",
    "/console/..",
    "/console/%2e%2e/api/v1/me",
    "/console/%2E%2E/api/v1/me",
    "/console/.%2e/api/v1/me",
    "/console/%2e./api/v1/me",
    "/console/..\\api/v1/me",
    "/console/\\..\\..\\api",
    "/console/.\t./api/v1/me",
    "/console/.\n./api/v1/me",
    "/console/..%5capi/v1/me",
    "/console//evil.example/",
    "/console/%2f%2fevil.example/",
    "/console/\r\nSet-Cookie: x=1",
    "/console/%0d%0aSet-Cookie:%20x=1",
    "/console/\x00",
    " /console/",
    "\t//evil.example/",
    "/console",
    "/api/v1/me",
    "",
    "中文",
    "/console/" + "x" * 10_000,
)
HOST = "https://console.example"


def _where_a_browser_goes(target: str) -> tuple[str, str]:
    """(host, path) a browser on a console page reaches by assigning `target` to location: tabs and
    newlines dropped, `\\` read as `/`, %2e read as a dot in a dot segment, dot segments resolved."""
    cleaned = re.sub(r"[\t\n\r]", "", target.strip("\x00 ")).replace("\\", "/")
    cleaned = re.sub("%2e", ".", cleaned, flags=re.IGNORECASE)
    parts = urlsplit(urljoin(HOST + "/console/login", cleaned))
    return f"{parts.scheme}://{parts.netloc}", parts.path


def _stays(target: str, where) -> None:
    host, path = _where_a_browser_goes(target)
    assert host == HOST and path.startswith("/console/"), (where, target[:60], host, path)


@pytest.mark.parametrize("target", ESCAPES, ids=lambda t: repr(t[:40]))
def test_next_never_leaves_the_console(app, world, target):
    """(A CR LF was a 500 on the signed-in redirect; `..` and %2e%2e segments went out of /console/.)"""
    query = "?" + urlencode({"next": target})
    # Signed out: the sign-in page carries it to the sign-in forms' addresses.
    client = app.test_client()
    page = client.get(f"/console/login{query}").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    for carried in re.findall(r'data-api="[^"?]*\?next=([^"]*)"', page):
        _stays(unquote(carried), "the sign-in form")
    # Signing in answers with it.
    response = client.post(
        f"/console/session{query}",
        json={"phone": world.mgr_s1.phone, "password": PASSWORD},
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == 200, response.json
    _stays(response.json["next"], "after signing in")
    # Signed in: the sign-in page redirects to it.
    response = client.get(f"/console/login{query}")
    assert response.status_code == 302
    _stays(response.headers["Location"], "the redirect when signed in")
    assert "\n" not in response.headers["Location"] and "\r" not in response.headers["Location"]


KEPT = ("/console/orders?status=submitted&site=3", "/console/volunteers?q=%E5%BC%A0", "/console/a..b/.c")


@pytest.mark.parametrize("target", KEPT)
def test_next_that_stays_in_the_console_is_kept(app, world, target):
    client = app.test_client()
    query = "?" + urlencode({"next": target})
    token = _page_token(client, query)
    response = client.post(
        f"/console/session{query}",
        json={"phone": world.mgr_s1.phone, "password": PASSWORD},
        headers={"X-CSRF-Token": token},
    )
    assert response.json == {"next": target}
    assert client.get(f"/console/login{query}").headers["Location"] == target
