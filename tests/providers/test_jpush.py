"""The JPush sender against FakeJPush over real HTTP: Basic auth, the v3 body, JPush's error codes
(retry or not), 429 with its rate-limit headers, timeouts; and one outbox row through deliver_pending."""

from __future__ import annotations

import base64
import time

import httpx
import pytest
import sqlalchemy as sa

from tests.fakes import jpush as fake_jpush
from tests.notifications.conftest import deliver, notify, outbox
from tests.support import caller, make_user
from volunteer_app.extensions import db
from volunteer_app.notifications import devices
from volunteer_app.notifications.models import OutboxMessage, OutboxStatus
from volunteer_app.providers import DeliveryError
from volunteer_app.providers.jpush import JPushSender

DEVICE = fake_jpush.DEVICE


def message(target=DEVICE, **extra):
    return {
        "id": 11,
        "notification_id": 5,
        "user_id": 1,
        "channel": "push",
        "target": target,
        "kind": "order.offered",
        "params": {"title": "助老陪护"},
        "title": "您收到服务邀请「助老陪护」，请接单或婉拒",
        "title_en": 'You are invited to serve "助老陪护": please accept or decline',
        "subject_type": "order",
        "subject_id": 42,
        **extra,
    }


def send(app, msg) -> None:
    with app.app_context():
        JPushSender().send(msg)


def refused(app, msg) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        send(app, msg)
    return caught.value


def test_pushes_the_alert_and_what_it_is_about_to_the_device(app, jpush):
    send(app, message())
    extras = {"kind": "order.offered", "subject_type": "order", "subject_id": 42}
    assert jpush.sent == [(DEVICE, "您收到服务邀请「助老陪护」，请接单或婉拒", extras)]
    [request] = jpush.requests
    assert request.method == "POST" and request.path == "/v3/push"
    credentials = f"{fake_jpush.APP_KEY}:{fake_jpush.MASTER_SECRET}".encode()
    assert request.headers["authorization"] == "Basic " + base64.b64encode(credentials).decode()
    body = request.json()
    assert body["audience"] == {"registration_id": [DEVICE]}
    assert body["platform"] == ["android", "ios"]
    assert body["notification"]["ios"]["extras"] == body["notification"]["android"]["extras"] == extras
    assert body["options"] == {"apns_production": False, "time_to_live": 600, "sendno": 11}


def test_a_wrong_master_secret_is_1004_and_retried(app, jpush, monkeypatch):
    monkeypatch.setitem(app.config["JPUSH"], "master_secret", "wrong")
    error = refused(app, message())
    assert (error.code, error.retry) == ("jpush:1004", True)
    assert jpush.sent == []


def test_an_unknown_registration_id_is_1011_and_final(app, jpush):
    error = refused(app, message(target="gone-device"))
    assert (error.code, error.retry) == ("jpush:1011", False)


def test_rate_limited_is_retried_and_says_when_it_resets(app, jpush):
    jpush.fail_next("rate_limited")
    error = refused(app, message())
    assert (error.code, error.retry) == ("jpush:2002", True)
    assert "42 s" in error.detail
    send(app, message())
    assert len(jpush.sent) == 1


@pytest.mark.parametrize(
    ("trouble", "code", "retry"),
    [("quota", "jpush:2003", True), ("internal", "jpush:1000", True), ("no_target", "jpush:1011", False)],
)
def test_jpush_errors_keep_their_code(app, jpush, trouble, code, retry):
    jpush.fail_next(trouble)
    error = refused(app, message())
    assert (error.code, error.retry) == (code, retry)


def test_an_answer_without_jpush_json_is_its_http_status(app, jpush):
    jpush.fail_next("http_503")
    error = refused(app, message())
    assert (error.code, error.retry) == ("http:503", True)


def test_a_bad_body_is_refused_by_the_fake(jpush):
    auth = (fake_jpush.APP_KEY, fake_jpush.MASTER_SECRET)
    r = httpx.post(
        jpush.url + "/v3/push", json={"platform": "all", "audience": {"registration_id": []}}, auth=auth
    )
    assert (r.status_code, r.json()["error"]["code"]) == (400, 1003)
    r = httpx.post(jpush.url + "/v3/push", json={"platform": "all"}, auth=auth)
    assert (r.status_code, r.json()["error"]["code"]) == (400, 1002)


def test_a_hanging_jpush_raises_a_timeout_for_the_caller_to_retry(app, jpush):
    jpush.fail_next("timeout")
    started = time.monotonic()
    with pytest.raises(httpx.TimeoutException):
        send(app, message())
    assert time.monotonic() - started < 1.4


def test_without_keys_nothing_is_sent(app, jpush, monkeypatch):
    monkeypatch.setitem(app.config["JPUSH"], "app_key", "")
    assert refused(app, message()).code == "jpush:not_configured"
    assert jpush.requests == []


def test_no_target_is_final(app, jpush):
    error = refused(app, message(target=None))
    assert (error.code, error.retry) == ("jpush:no_target", False)


# ---- through the delivery loop --------------------------------------------------------------------


@pytest.fixture
def jpush_sender(app, monkeypatch):
    """The push channel's sender is JPush, by its built-in name (as a deployment configures it)."""
    monkeypatch.setitem(app.config["NOTIFICATIONS"], "senders", {"push": "jpush"})
    app.extensions.pop("notification_senders", None)
    yield
    app.extensions.pop("notification_senders", None)


def test_deliver_pending_sends_through_jpush_and_records_its_refusal(app, jpush, jpush_sender):
    person = make_user(app)
    with app.app_context():
        devices.register_device(who=caller(person.id), platform="android", token=DEVICE, app_version="1.0")
        devices.register_device(who=caller(person.id), platform="ios", token="uninstalled", app_version="1.0")
    notify(app, [person], "order.offered")
    assert deliver(app) == 1
    rows = {row.target: row for row in outbox(app)}
    assert rows[DEVICE].status == OutboxStatus.SENT
    assert rows["uninstalled"].status == OutboxStatus.DEAD  # 1011: the device is gone, retrying cannot help
    assert "jpush:1011" in rows["uninstalled"].last_error
    assert [rid for rid, _a, _e in jpush.sent] == [DEVICE]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 2
