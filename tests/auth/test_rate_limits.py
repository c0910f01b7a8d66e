"""Rate limits on login and SMS codes, per address and per phone, answered in the one error format."""

from __future__ import annotations

import pytest

from tests.auth.conftest import assert_error, login, sent_codes
from tests.support import PASSWORD, make_user


def addr(n: int) -> dict:
    return {"environ_base": {"REMOTE_ADDR": f"10.0.0.{n}"}}


def request_code(client, phone, n: int = 1):
    return client.post("/api/v1/auth/sms-code", json={"phone": phone}, **addr(n))


def assert_rate_limited(response, window: int) -> None:
    """429 in the one format, telling the phone to wait no longer than the limit's window (seconds)."""
    assert_error(response, 429, "rate_limited")
    assert 0 < int(response.headers["Retry-After"]) <= window


@pytest.fixture
def login_limit(app, monkeypatch):
    monkeypatch.setitem(app.config["APP"], "login_limit", "3/minute")


@pytest.fixture
def no_cooldown(app, monkeypatch):
    """Codes may be re-requested at once, so only the rate limits stop them."""
    monkeypatch.setitem(app.config["APP"], "sms_resend_cooldown_seconds", 0)


def test_login_is_limited_per_address(client, app, login_limit):
    user = make_user(app)
    for n in range(3):
        assert_error(
            login(client, f"+861390000000{n}", "wrong-password", **addr(1)), 401, "auth.bad_credentials"
        )
    # Even the right password: the address has spent its attempts.
    assert_rate_limited(login(client, user.phone, PASSWORD, **addr(1)), 60)
    assert login(client, user.phone, PASSWORD, **addr(2)).status_code == 200


def test_login_is_limited_per_phone(client, app, login_limit):
    user = make_user(app)
    other = make_user(app)
    # The same number however it is written, from a new address each time.
    local = user.phone.removeprefix("+86")
    for n, phone in enumerate([user.phone, local, f"{local[:3]} {local[3:7]} {local[7:]}"]):
        assert_error(login(client, phone, "wrong-password", **addr(n)), 401, "auth.bad_credentials")
    assert_rate_limited(login(client, user.phone, PASSWORD, **addr(9)), 60)
    assert login(client, other.phone, PASSWORD, **addr(10)).status_code == 200


def test_sms_login_is_limited_per_address(client, app, login_limit):
    user = make_user(app)
    for _ in range(3):
        r = client.post("/api/v1/auth/sms-login", json={"phone": user.phone, "code": "000000"}, **addr(1))
        assert_error(r, 401, "sms.code_invalid")
    r = client.post("/api/v1/auth/sms-login", json={"phone": user.phone, "code": "000000"}, **addr(1))
    assert_rate_limited(r, 60)


def test_sms_codes_are_limited_per_phone(client, app, monkeypatch, no_cooldown):
    monkeypatch.setitem(app.config["APP"], "sms_limit_per_phone", "2/hour")
    user = make_user(app)
    other = make_user(app)
    assert request_code(client, user.phone, 1).status_code == 200
    assert request_code(client, user.phone, 2).status_code == 200
    assert_rate_limited(request_code(client, user.phone, 3), 3600)
    assert [phone for phone, _ in sent_codes(app)] == [user.phone, user.phone]
    assert request_code(client, other.phone, 4).status_code == 200


def test_sms_codes_are_limited_per_address(client, app, monkeypatch, no_cooldown):
    monkeypatch.setitem(app.config["APP"], "sms_limit_per_address", "2/hour")
    users = [make_user(app) for _ in range(4)]
    assert request_code(client, users[0].phone, 1).status_code == 200
    assert request_code(client, users[1].phone, 1).status_code == 200
    assert_rate_limited(request_code(client, users[2].phone, 1), 3600)
    assert len(sent_codes(app)) == 2
    assert request_code(client, users[3].phone, 2).status_code == 200


def test_register_is_limited_per_address(client, app, monkeypatch):
    monkeypatch.setitem(app.config["APP"], "register_limit", "2/hour")
    for _ in range(2):
        r = client.post("/api/v1/auth/register", json={}, **addr(1))
        assert_error(r, 422, "validation.failed")
    assert_rate_limited(client.post("/api/v1/auth/register", json={}, **addr(1)), 3600)


def test_rate_limit_message_follows_accept_language(client, app, login_limit):
    for _ in range(3):
        login(client, "+8613900000000", "wrong-password")
    r = login(client, "+8613900000000", "wrong-password", headers={"Accept-Language": "en"})
    assert assert_error(r, 429, "rate_limited")["message"] == "Too many requests, try again later"


def test_only_a_429_says_retry_after(client, app, login_limit):
    """Flask-Limiter's window reset must not appear as Retry-After on answers that were not refused."""
    user = make_user(app)
    r = login(client, user.phone, PASSWORD)
    assert r.status_code == 200
    assert r.headers["X-RateLimit-Limit"] == "3"
    assert "Retry-After" not in r.headers
