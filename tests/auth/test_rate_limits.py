"""Rate limits on login and SMS codes: per phone number tried (failures, backing off) with a loose
ceiling per address, per phone and per address for SMS codes, answered in the one error format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from tests.api.helpers import assert_error
from tests.auth.conftest import login, sent_codes
from tests.support import PASSWORD, make_user


def addr(n: int) -> dict:
    return {"environ_base": {"REMOTE_ADDR": f"10.0.{n // 250}.{n % 250 + 1}"}}


def request_code(client, phone, n: int = 1):
    return client.post("/api/v1/auth/sms-code", json={"phone": phone}, **addr(n))


def sms_login(client, phone, code="000000", n: int = 1):
    return client.post("/api/v1/auth/sms-login", json={"phone": phone, "code": code}, **addr(n))


def assert_rate_limited(response, window: int, longer_than: int = 0) -> int:
    """429 in the one format, telling the phone to wait no longer than the limit's window (seconds)
    (and longer than `longer_than`); returns the wait."""
    assert_error(response, 429, "rate_limited")
    wait = int(response.headers["Retry-After"])
    assert longer_than < wait <= window, (wait, longer_than, window)
    return wait


@pytest.fixture
def per_phone(app, monkeypatch):
    monkeypatch.setitem(app.config["APP"], "login_limit_per_phone", "3/minute")


@pytest.fixture
def per_ip(app, monkeypatch):
    monkeypatch.setitem(app.config["APP"], "login_limit_per_ip", "3/minute")


@pytest.fixture
def no_cooldown(app, monkeypatch):
    """Codes may be re-requested at once, so only the rate limits stop them."""
    monkeypatch.setitem(app.config["APP"], "sms_resend_cooldown_seconds", 0)


# ---- logins: per phone, per address --------------------------------------------------------------


def test_fifty_people_behind_one_address_all_log_in(client, app):
    """Issue 11, defect 10: a whole neighbourhood shares one carrier-NAT address; the per-address
    limit (10 a minute) refused the 11th of them. The default configuration lets 50 in."""
    people = [make_user(app) for _ in range(50)]
    for person in people:
        r = login(client, person.phone, PASSWORD, **addr(1))
        assert r.status_code == 200, (person.phone, r.json)
    # A few of them mistype once: still no 429 for anyone.
    for person in people[:10]:
        assert_error(login(client, person.phone, "wrong-password", **addr(1)), 401, "auth.bad_credentials")


def test_wrong_passwords_for_one_phone_back_off_with_growing_waits(client, app):
    """Issue 11, defect 10: failures per phone (default 5/minute;10/hour;20/day), from any address:
    after 5 the phone waits at most a minute, after 10 up to the hour, after 20 up to the day."""
    user = make_user(app)
    other = make_user(app)
    t0 = datetime.now(UTC)
    n = iter(range(1, 1000))  # a new address for every attempt: the phone is what is counted

    def fail_five():
        for _ in range(5):
            r = login(client, user.phone, "wrong-password", **addr(next(n)))
            assert_error(r, 401, "auth.bad_credentials")

    with time_machine.travel(t0, tick=False):
        fail_five()
        assert_rate_limited(login(client, user.phone, "wrong-password", **addr(next(n))), 60)
        # Even the right password waits, and the refusal did not count.
        assert_rate_limited(login(client, user.phone, PASSWORD, **addr(next(n))), 60)
        assert login(client, other.phone, PASSWORD, **addr(1)).status_code == 200
    with time_machine.travel(t0 + timedelta(seconds=61), tick=False):
        fail_five()
        assert_rate_limited(login(client, user.phone, PASSWORD, **addr(next(n))), 3600, longer_than=60)
    with time_machine.travel(t0 + timedelta(seconds=3601), tick=False):
        fail_five()
    with time_machine.travel(t0 + timedelta(seconds=3662), tick=False):
        fail_five()
        assert_rate_limited(login(client, user.phone, PASSWORD, **addr(next(n))), 86400, longer_than=3600)
    with time_machine.travel(t0 + timedelta(days=1, seconds=1), tick=False):
        assert login(client, user.phone, PASSWORD, **addr(next(n))).status_code == 200


def test_successful_logins_do_not_count_against_the_phone(client, app, per_phone):
    user = make_user(app)
    for n in range(6):  # six devices of one family, one number
        assert login(client, user.phone, PASSWORD, **addr(n)).status_code == 200


def test_the_phone_is_counted_however_it_is_written(client, app, per_phone):
    user = make_user(app)
    other = make_user(app)
    local = user.phone.removeprefix("+86")
    for n, phone in enumerate([user.phone, local, f"{local[:3]} {local[3:7]} {local[7:]}"]):
        assert_error(login(client, phone, "wrong-password", **addr(n)), 401, "auth.bad_credentials")
    assert_rate_limited(login(client, user.phone, PASSWORD, **addr(9)), 60)
    assert login(client, other.phone, PASSWORD, **addr(10)).status_code == 200


def test_wrong_sms_codes_for_one_phone_are_limited(client, app, per_phone):
    user = make_user(app)
    for n in range(3):
        assert_error(sms_login(client, user.phone, n=n), 401, "sms.code_invalid")
    assert_rate_limited(sms_login(client, user.phone, n=9), 60)


def test_password_failures_do_not_block_sms_login(client, app, per_phone, no_cooldown):
    """Someone spending a phone's password attempts cannot keep its owner out: the SMS code needs
    the phone itself, and counts apart."""
    user = make_user(app)
    for n in range(3):
        login(client, user.phone, "wrong-password", **addr(n))
    assert_rate_limited(login(client, user.phone, PASSWORD, **addr(5)), 60)
    assert request_code(client, user.phone, 6).status_code == 200
    code = sent_codes(app)[-1][1]
    assert sms_login(client, user.phone, code, n=7).status_code == 200


def test_the_address_ceiling_counts_every_login_attempt(client, app, per_ip):
    people = [make_user(app) for _ in range(4)]
    assert login(client, people[0].phone, PASSWORD, **addr(1)).status_code == 200
    assert_error(login(client, people[1].phone, "wrong-password", **addr(1)), 401, "auth.bad_credentials")
    assert_error(sms_login(client, people[2].phone, n=1), 401, "sms.code_invalid")  # shares the count
    assert_rate_limited(login(client, people[3].phone, PASSWORD, **addr(1)), 60)
    assert_rate_limited(sms_login(client, people[3].phone, n=1), 60)
    assert login(client, people[3].phone, PASSWORD, **addr(2)).status_code == 200


# ---- SMS codes ------------------------------------------------------------------------------------


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


def test_rate_limit_message_follows_accept_language(client, app, per_phone):
    for _ in range(3):
        login(client, "+8613900000000", "wrong-password")
    r = login(client, "+8613900000000", "wrong-password", headers={"Accept-Language": "en"})
    assert assert_error(r, 429, "rate_limited")["message"] == "Too many requests, try again later"


def test_only_a_429_says_retry_after(client, app, per_ip):
    """Flask-Limiter's window reset must not appear as Retry-After on answers that were not refused."""
    user = make_user(app)
    r = login(client, user.phone, PASSWORD)
    assert r.status_code == 200
    assert "X-RateLimit-Limit" in r.headers
    assert "Retry-After" not in r.headers


# ---- the limiter's before-request pass (extensions.Limiter skips it) --------------------------------


def test_every_limit_is_a_views_own(app):
    """extensions.Limiter skips Flask-Limiter's before-request pass, which checks only limits that are
    not a view's: there must be none (a blueprint's or a default limit would be skipped silently)."""
    from volunteer_app.extensions import limiter

    manager = limiter.limit_manager
    assert not manager._default_limits and not manager._application_limits
    assert not manager._blueprint_limits
    assert not limiter._meta_limits and not limiter._in_memory_fallback
    # and the views' own limits are there: login, SMS codes, register, grab, redeem, closing an account
    assert len(limiter._marked_for_limiting) >= 6


def test_settings_that_need_the_before_request_pass_are_refused():
    from flask import Flask

    from volunteer_app.extensions import Limiter

    app = Flask(__name__)
    app.config["RATELIMIT_DEFAULT"] = "100/minute"
    with pytest.raises(RuntimeError, match="RATELIMIT_DEFAULT"):
        Limiter(key_func=lambda: "x").init_app(app)


def test_a_limited_view_behind_no_before_request_pass_still_answers_429(client, app, per_ip):
    """The per-address login limit is checked by the view's own wrapper."""
    body = {"phone": make_user(app).phone, "password": PASSWORD}
    for n in range(3):
        assert client.post("/api/v1/auth/login", json=body).status_code == 200, n
    assert_rate_limited(client.post("/api/v1/auth/login", json=body), 60)


@pytest.mark.parametrize(
    ("setting", "path", "body"),
    [
        ("grab_limit", "/api/v1/orders/999999/grab", None),
        ("redeem_limit", "/api/v1/redemptions", {"reward_id": 999999}),
    ],
)
def test_per_user_limits_of_views_answer_429(client, app, world, monkeypatch, setting, path, body):
    """The grab's and the redemption's per-user limits are the views' own too: the third try within
    the minute is refused whatever the first two met (here: no such order or reward)."""
    monkeypatch.setitem(app.config["APP"], setting, "2/minute")
    headers = world.vol_s1.headers
    first, second = (client.post(path, json=body, headers=headers) for _ in range(2))
    assert first.status_code == second.status_code == 404, (first.json, second.json)
    assert_rate_limited(client.post(path, json=body, headers=headers), 60)
    # another volunteer is not held back
    assert client.post(path, json=body, headers=world.vol_s4.headers).status_code == 404
