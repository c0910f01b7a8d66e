"""One error format for every failure, whoever raises it (parser, router, token check, limiter, service).

`{"code", "status", "error", "message"}` plus `errors` where there are details; `code` is the HTTP
status, `error` the stable code the phone branches on, `message` in zh-CN unless Accept-Language asks
for English (architecture.md rule 5).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import NamedTuple

import jwt
import pytest

from tests.api.helpers import ERROR_KEYS, assert_error
from tests.support import PASSWORD
from volunteer_app.errors import MESSAGES

CJK = re.compile(r"[\u4e00-\u9fff]")


def _forged(key: str | None, algorithm: str) -> dict[str, str]:
    claims = {"sub": "1", "type": "access", "sid": "x", "exp": int(time.time()) + 600}
    return {"Authorization": f"Bearer {jwt.encode(claims, key, algorithm=algorithm)}"}


def _too_large(client, world, headers):
    limit = client.application.config["MAX_CONTENT_LENGTH"]
    body = '{"phone": "' + "1" * limit + '"}'
    return client.post("/api/v1/auth/login", data=body, content_type="application/json", headers=headers)


def _rate_limited(client, world, headers):
    """Wrong passwords until the per-address login limit (10/minute) answers."""
    for _ in range(20):
        r = client.post(
            "/api/v1/auth/login",
            json={"phone": world.resident.phone, "password": "wrong-password"},
            headers=headers,
        )
        if r.status_code == 429:
            return r
    return r


class Case(NamedTuple):
    name: str
    send: Callable  # (client, world, extra headers) -> response
    status: int
    error: str
    details: str | None = None  # a field `errors` must name ("json.name"), or None when no details


CASES = [
    Case(
        "400 malformed JSON",
        lambda c, w, h: c.post(
            "/api/v1/auth/login", data='{"phone": ', content_type="application/json", headers=h
        ),
        400,
        "request.malformed",
        "json",
    ),
    Case("401 no token", lambda c, w, h: c.get("/api/v1/me", headers=h), 401, "token.missing"),
    Case(
        "401 garbage token",
        lambda c, w, h: c.get("/api/v1/me", headers={"Authorization": "Bearer garbage", **h}),
        401,
        "token.invalid",
    ),
    Case(
        "401 token signed with another key",
        lambda c, w, h: c.get("/api/v1/me", headers={**_forged("not-our-secret-" * 3, "HS256"), **h}),
        401,
        "token.invalid",
    ),
    Case(
        "401 unsigned token (alg none)",
        lambda c, w, h: c.get("/api/v1/me", headers={**_forged(None, "none"), **h}),
        401,
        "token.invalid",
    ),
    Case(
        "401 not a bearer token",
        lambda c, w, h: c.get("/api/v1/me", headers={"Authorization": "Basic dXNlcjpwYXNz", **h}),
        401,
        "token.missing",
    ),
    Case(
        "403 role missing",
        lambda c, w, h: c.post(
            "/api/v1/sites", json={"kind": "center", "name": "中心"}, headers={**w.resident.headers, **h}
        ),
        403,
        "auth.forbidden",
    ),
    Case("404 unknown URL", lambda c, w, h: c.get("/api/v1/no-such-thing", headers=h), 404, "not_found"),
    Case("404 unknown id", lambda c, w, h: c.get("/api/v1/sites/987654321", headers=h), 404, "not_found"),
    Case("405 method", lambda c, w, h: c.delete("/api/v1/sites", headers=h), 405, "method_not_allowed"),
    Case(
        "409 conflict",
        lambda c, w, h: c.post(
            "/api/v1/auth/register",
            json={
                "phone": w.resident.phone,
                "password": PASSWORD,
                "name": "重复",
                "home_site_id": w.sites["S1"],
            },
            headers=h,
        ),
        409,
        "phone.taken",
        "json.phone",
    ),
    Case("413 body too large", _too_large, 413, "request.too_large"),
    Case(
        "422 validation",
        lambda c, w, h: c.post(
            "/api/v1/auth/register", json={"phone": "13812345678", "password": PASSWORD}, headers=h
        ),
        422,
        "validation.failed",
        "json.name",
    ),
    Case("429 rate limited", _rate_limited, 429, "rate_limited"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_error_has_the_one_format(client, world, case):
    r = case.send(client, world, {})
    body = assert_error(r, case.status, case.error)
    assert r.mimetype == "application/json"
    if case.details is None:
        assert set(body) == ERROR_KEYS, body
    else:
        details = body["errors"]
        for part in case.details.split("."):
            assert part in details, body["errors"]
            details = details[part]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@pytest.mark.parametrize(
    ("accept", "lang"),
    [
        (None, "zh-CN"),
        ("zh-CN", "zh-CN"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
        ("en", "en"),
        ("en-US,en;q=0.9", "en"),
    ],
)
def test_message_follows_accept_language(client, world, case, accept, lang):
    r = case.send(client, world, {"Accept-Language": accept} if accept else {})
    body = assert_error(r, case.status, case.error)
    zh, en = MESSAGES[case.error]
    assert r.headers["Content-Language"] == lang
    if lang == "en":
        assert body["message"] == en
        assert not CJK.search(body["message"]), body["message"]
    else:
        assert body["message"] == zh
        assert CJK.search(body["message"]), body["message"]


def test_405_names_the_allowed_methods(client):
    r = client.delete("/api/v1/sites")
    assert_error(r, 405, "method_not_allowed")
    allowed = {m.strip() for m in r.headers["Allow"].split(",")}
    assert {"GET", "POST"} <= allowed
    assert "DELETE" not in allowed


def test_429_says_when_to_retry(client, world):
    r = _rate_limited(client, world, {})
    assert_error(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) > 0


def test_unknown_id_and_unknown_url_look_alike(client):
    """A missing object is not told apart from a missing route (no probing for ids)."""
    unknown_id = client.get("/api/v1/sites/987654321")
    unknown_url = client.get("/api/v1/no-such-thing")
    assert unknown_id.json == unknown_url.json


def test_every_error_code_speaks_both_languages(app):
    """Every registered error code has a Chinese and an English message taking the same parameters,
    so switching Accept-Language never shows a raw "{seconds}" or a message in the other language."""
    placeholders = re.compile(r"\{(\w+)\}")
    assert len(MESSAGES) > 20  # every domain has registered its codes by the time the app exists
    for code, (zh, en) in MESSAGES.items():
        assert CJK.search(zh), f"{code}: zh-CN message has no Chinese: {zh!r}"
        assert en and not CJK.search(en), f"{code}: English message is not English: {en!r}"
        assert set(placeholders.findall(zh)) == set(placeholders.findall(en)), code
