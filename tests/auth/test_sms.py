"""SMS-code login: sending, cooldown, attempts, expiry, replacement, and codes kept only as hashes."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
import time_machine

from tests.api.helpers import assert_error
from tests.auth.conftest import me, sent_codes
from tests.support import make_user
from volunteer_app.accounts import identity
from volunteer_app.accounts.models import User
from volunteer_app.auth import service as auth_service
from volunteer_app.extensions import db


@pytest.fixture
def user(app):
    return make_user(app, phone="13912345678")


@pytest.fixture
def fixed_codes(monkeypatch):
    """Make the service draw these codes in turn (codes are random otherwise, so could collide)."""
    codes = iter([924613, 385107, 770042])
    monkeypatch.setattr(auth_service.secrets, "randbelow", lambda _n: next(codes))
    return ["924613", "385107", "770042"]


@pytest.fixture
def clock():
    """Frozen time that a test moves forward with clock.shift(seconds)."""
    with time_machine.travel(datetime.now(UTC), tick=False) as traveller:
        yield traveller


def request_code(client, phone):
    return client.post("/api/v1/auth/sms-code", json={"phone": phone})


def sms_login(client, phone, code):
    return client.post("/api/v1/auth/sms-login", json={"phone": phone, "code": code})


def test_request_code_sends_six_digits(client, app, user):
    r = request_code(client, "139 1234 5678")
    assert r.status_code == 200, r.json
    assert r.json == {"sent": True, "expires_in": 300, "resend_after": 60}
    [(phone, code)] = sent_codes(app)
    assert phone == user.phone == "+8613912345678"
    assert re.fullmatch(r"\d{6}", code)


def test_resend_waits_60_seconds(client, app, user, clock):
    assert request_code(client, user.phone).status_code == 200
    clock.shift(30)
    r = request_code(client, user.phone)
    assert_error(r, 429, "sms.cooldown")
    assert r.headers["Retry-After"] == "31"
    assert len(sent_codes(app)) == 1
    clock.shift(30)
    assert request_code(client, user.phone).status_code == 200
    assert len(sent_codes(app)) == 2


def test_an_invalid_phone_is_422(client, app, user):
    body = assert_error(request_code(client, "12345678901"), 422, "phone.invalid")
    assert "phone" in body["errors"]["json"]
    assert sent_codes(app) == []


def test_an_unregistered_phone_gets_the_same_answer_and_no_code(client, app, user):
    """A stranger cannot tell whether a number has an account: same status, body and headers that
    matter; only a registered account's phone is sent a code."""
    known = request_code(client, user.phone)
    unknown = request_code(client, "13900000000")
    assert (unknown.status_code, unknown.json) == (known.status_code, known.json) == (200, known.json)
    assert unknown.json == {"sent": True, "expires_in": 300, "resend_after": 60}
    assert [phone for phone, _ in sent_codes(app)] == [user.phone]


def test_the_cooldown_holds_for_unregistered_phones_alike(client, app, user, clock):
    for phone in (user.phone, "13900000000"):
        assert request_code(client, phone).status_code == 200
    clock.shift(30)
    answers = [request_code(client, phone) for phone in (user.phone, "13900000000")]
    for r in answers:
        assert_error(r, 429, "sms.cooldown")
        assert r.headers["Retry-After"] == "31"
    assert answers[0].json == answers[1].json


def test_a_code_for_an_unregistered_phone_logs_nobody_in(client, app, user, fixed_codes):
    assert request_code(client, "13900000000").status_code == 200
    for code in [fixed_codes[0], "000000"]:
        assert_error(sms_login(client, "13900000000", code), 401, "sms.code_invalid")


def test_code_logs_in_once(client, app, user):
    request_code(client, user.phone)
    [(_, code)] = sent_codes(app)
    r = sms_login(client, "139-1234-5678", code)
    assert r.status_code == 200, r.json
    assert r.json["user"]["id"] == user.id
    assert me(client, r.json["access_token"]).json["id"] == user.id
    assert_error(sms_login(client, user.phone, code), 401, "sms.code_invalid")


def test_code_is_bound_to_its_phone(client, app, user, fixed_codes):
    other = make_user(app)
    request_code(client, user.phone)
    request_code(client, other.phone)
    code = fixed_codes[0]
    assert_error(sms_login(client, other.phone, code), 401, "sms.code_invalid")
    assert sms_login(client, user.phone, code).status_code == 200


def test_wrong_code_is_401_and_the_right_one_still_works(client, app, user, fixed_codes):
    request_code(client, user.phone)
    for _ in range(4):
        assert_error(sms_login(client, user.phone, "000000"), 401, "sms.code_invalid")
    assert sms_login(client, user.phone, fixed_codes[0]).status_code == 200


def test_five_wrong_codes_spend_the_code(client, app, user, fixed_codes, monkeypatch):
    # The phone's login limit (5 failures a minute by default) would answer the sixth try first.
    monkeypatch.setitem(app.config["APP"], "login_limit_per_phone", "10/minute")
    request_code(client, user.phone)
    for _ in range(5):
        assert_error(sms_login(client, user.phone, "000000"), 401, "sms.code_invalid")
    assert_error(sms_login(client, user.phone, fixed_codes[0]), 429, "sms.too_many_attempts")


def test_code_works_for_five_minutes(client, app, user, clock):
    request_code(client, user.phone)
    [(_, code)] = sent_codes(app)
    clock.shift(299)
    assert sms_login(client, user.phone, code).status_code == 200


@pytest.mark.parametrize("after", [300, 301, 3600])
def test_code_expires_after_five_minutes(client, app, user, clock, after):
    request_code(client, user.phone)
    [(_, code)] = sent_codes(app)
    clock.shift(after)
    assert_error(sms_login(client, user.phone, code), 401, "sms.code_invalid")


def test_new_code_replaces_the_old(client, app, user, clock, fixed_codes):
    old, new = fixed_codes[:2]
    request_code(client, user.phone)
    clock.shift(61)
    request_code(client, user.phone)
    assert [code for _, code in sent_codes(app)] == [old, new]
    assert_error(sms_login(client, user.phone, old), 401, "sms.code_invalid")
    assert sms_login(client, user.phone, new).status_code == 200


def test_code_is_stored_only_as_a_keyed_hash(client, app, user, fixed_codes):
    request_code(client, user.phone)
    code = fixed_codes[0]
    with app.app_context():
        rows = db.session.execute(sa.text("SELECT * FROM sms_codes")).mappings().all()
        expected_hash = identity.keyed_hash("sms-code", f"{user.phone}:{code}")
    assert len(rows) == 1
    assert rows[0]["code_hash"] == expected_hash
    assert all(code not in str(value) for row in rows for value in row.values())


@pytest.mark.parametrize("code", ["12345", "1234567", "12345a", "", "１２３４５６"])
def test_code_must_be_six_digits(client, user, code):
    body = assert_error(sms_login(client, user.phone, code), 422, "validation.failed")
    assert "code" in body["errors"]["json"]


def test_deactivated_user_cannot_log_in_with_a_code(client, app, user):
    request_code(client, user.phone)
    [(_, code)] = sent_codes(app)
    with app.app_context():
        db.session.get(User, user.id).is_active = False
        db.session.commit()
    assert_error(sms_login(client, user.phone, code), 401, "sms.code_invalid")


def test_no_code_is_sent_to_a_deactivated_account(client, app, user):
    with app.app_context():
        db.session.execute(sa.update(User).where(User.id == user.id).values(is_active=False))
        db.session.commit()
    r = request_code(client, user.phone)
    assert (r.status_code, r.json) == (200, {"sent": True, "expires_in": 300, "resend_after": 60})
    assert sent_codes(app) == []


def test_simultaneous_requests_send_one_code(app, user):
    """The cooldown holds when phones press "send" twice at once (the account row is locked)."""
    from concurrent.futures import ThreadPoolExecutor

    def press(_):
        return app.test_client().post("/api/v1/auth/sms-code", json={"phone": user.phone}).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(pool.map(press, range(6)))
    assert statuses == [200] + [429] * 5
    assert len(sent_codes(app)) == 1


def test_simultaneous_requests_for_an_unregistered_phone_answer_alike(app, user):
    """The same race for a number with no account (no account row to lock) gives the same answers."""
    from concurrent.futures import ThreadPoolExecutor

    def press(_):
        return app.test_client().post("/api/v1/auth/sms-code", json={"phone": "13900000000"}).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(pool.map(press, range(6)))
    assert statuses == [200] + [429] * 5
    assert sent_codes(app) == []
