"""The console's sign-in endpoints under hostile input: bodies that are not what the form sends, odd
values of the page's token, and `next=` addresses that try to leave the console. Always a 4xx in the
one error format (never a 500), no session started, and a `next` that stays under /console/."""

from __future__ import annotations

import re

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
    "value", ["é", "ÿ" * 32, "中".encode().decode("latin-1"), "\x7f", "", " ", "x" * 5000]
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
