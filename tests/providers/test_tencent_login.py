"""Login codes through Tencent SMS (`sms_sender = "tencent"`): POST /auth/sms-code answers at once and
leaves the code, sealed, to the background worker, which sends it through FakeTencentSms; unregistered
numbers get the same answer and nothing; refusals are retried or ended like the provider's codes say."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.support import make_user
from volunteer_app.accounts.models import User
from volunteer_app.db import utcnow
from volunteer_app.extensions import db
from volunteer_app.worker.models import WorkItem, WorkState
from volunteer_app.worker.runner import Worker


@pytest.fixture
def tencent_codes(app, tencent, monkeypatch):
    monkeypatch.setitem(app.config["APP"], "sms_sender", "tencent")
    app.extensions.pop("sms_sender", None)
    return tencent


@pytest.fixture
def user(app):
    return make_user(app, phone="13912345678")


def request_code(client, phone):
    return client.post("/api/v1/auth/sms-code", json={"phone": phone})


def run_worker(app, now=None) -> int:
    with app.app_context():
        return Worker(app).run_once(now)


def work_items(app) -> list[WorkItem]:
    with app.app_context():
        items = db.session.scalars(sa.select(WorkItem).order_by(WorkItem.id)).all()
        db.session.expunge_all()
        return list(items)


def test_the_code_is_sent_by_the_worker_never_in_the_request(app, client, user, tencent_codes):
    tencent_codes.fail_next("timeout")  # a provider that hangs cannot slow the request: it is not called
    started = time.monotonic()
    r = request_code(client, user.phone)
    assert r.status_code == 200, r.json
    assert time.monotonic() - started < 1.0
    assert tencent_codes.requests == []
    [item] = work_items(app)
    assert item.kind == "auth.sms_code" and item.state == WorkState.QUEUED
    assert set(item.args) == {"sms_code_id", "sealed"}

    run_worker(app)  # the hanging provider: the try times out and the item waits for its retry
    [item] = work_items(app)
    assert item.state == WorkState.FAILED
    assert "timeout" in item.last_error
    assert tencent_codes.sent == []

    run_worker(app, utcnow() + timedelta(seconds=11))
    [(phone, template, (code, minutes))] = tencent_codes.sent
    assert (phone, template, minutes) == (user.phone, "1000001", "5")
    [item] = work_items(app)
    assert item.state == WorkState.DONE
    assert item.args == {"sms_code_id": item.args["sms_code_id"]}  # the sealed code is wiped
    assert code not in repr(item.args)

    login = client.post("/api/v1/auth/sms-login", json={"phone": user.phone, "code": code})
    assert login.status_code == 200, login.json


def test_the_queued_code_is_never_in_plain_text(app, client, user, tencent_codes):
    request_code(client, user.phone)
    [item] = work_items(app)
    run_worker(app)
    [(_, _, (code, _))] = tencent_codes.sent
    assert code not in item.args["sealed"]
    with app.app_context():
        everything = db.session.execute(sa.text("SELECT * FROM work_items")).mappings().all()
    assert all(code not in str(value) for row in everything for value in row.values())


def test_an_unregistered_number_gets_the_same_answer_and_no_message(app, client, user, tencent_codes):
    known = request_code(client, user.phone)
    unknown = request_code(client, "13900000000")
    assert (unknown.status_code, unknown.json) == (known.status_code, known.json)
    assert [item.kind for item in work_items(app)] == ["auth.sms_code"] * 2  # the same work either way
    run_worker(app)
    assert [phone for phone, _t, _p in tencent_codes.sent] == [user.phone]
    assert [item.state for item in work_items(app)] == [WorkState.DONE] * 2
    assert all(set(item.args) == {"sms_code_id"} for item in work_items(app))


def test_a_refused_number_ends_the_item_without_retrying(app, client, user, tencent_codes):
    tencent_codes.fail_next("bad_number")
    request_code(client, user.phone)
    run_worker(app)
    [item] = work_items(app)
    assert item.state == WorkState.DONE
    assert item.result == {"sent": False, "error": "tencent:InvalidParameterValue.IncorrectPhoneNumber"}
    assert len(tencent_codes.requests) == 1


def test_rate_limited_by_the_provider_is_retried(app, client, user, tencent_codes):
    tencent_codes.fail_next("thirty_second_limit")
    request_code(client, user.phone)
    run_worker(app)
    [item] = work_items(app)
    assert item.state == WorkState.FAILED
    assert "tencent:LimitExceeded.PhoneNumberThirtySecondLimit" in item.last_error
    run_worker(app, utcnow() + timedelta(seconds=11))
    assert len(tencent_codes.sent) == 1


def test_a_code_that_expired_or_was_replaced_before_the_worker_came_is_not_sent(
    app, client, user, tencent_codes, monkeypatch
):
    monkeypatch.setitem(app.config["APP"], "sms_resend_cooldown_seconds", 0)
    request_code(client, user.phone)
    request_code(client, user.phone)  # replaces the first
    run_worker(app)
    assert len(tencent_codes.sent) == 1
    assert [item.result for item in work_items(app)] == [{"sent": False}, {"sent": True}]


def test_an_account_deactivated_before_the_worker_came_is_not_sent_a_code(app, client, user, tencent_codes):
    request_code(client, user.phone)
    with app.app_context():
        db.session.execute(sa.update(User).where(User.id == user.id).values(is_active=False))
        db.session.commit()
    run_worker(app)
    assert tencent_codes.sent == []
