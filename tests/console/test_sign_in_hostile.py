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
