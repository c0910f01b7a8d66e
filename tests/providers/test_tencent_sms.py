"""The Tencent SMS sender against FakeTencentSms over real HTTP: the SDK's TC3 signature checked by the
fake's own implementation, SendSms's parameters, each kind of refusal (retry or not), timeouts."""

from __future__ import annotations

import hashlib
import json
import socket
import time

import httpx
import pytest

from tests.fakes import tencent_sms as fake_tencent
from volunteer_app.notifications import channels
from volunteer_app.providers import DeliveryError
from volunteer_app.providers.tencent_sms import TencentLoginSender, TencentSmsSender

PHONE = "+8613912345678"


def message(kind="order.offered", target=PHONE, **params):
    return {
        "id": 7,
        "notification_id": 3,
        "user_id": 1,
        "channel": "sms",
        "target": target,
        "kind": kind,
        "params": params or {"title": "助老陪护"},
        "title": "您收到服务邀请「助老陪护」，请接单或婉拒",
        "subject_type": "order",
        "subject_id": 1,
    }


def send(app, msg) -> None:
    with app.app_context():
        TencentSmsSender().send(msg)


def refused(app, msg) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        send(app, msg)
    assert isinstance(caught.value, channels.DeliveryError)  # the contract's own class
    return caught.value


def test_sends_the_kinds_template_to_the_phone(app, tencent):
    send(app, message())
    assert tencent.sent == [(PHONE, "1000002", ["助老陪护"])]
    [request] = tencent.requests
    assert request.headers["x-tc-action"] == "SendSms"
    assert request.headers["x-tc-version"] == "2021-01-11"
    assert request.headers["x-tc-region"] == "ap-guangzhou"
    assert request.headers["authorization"].startswith(
        f"TC3-HMAC-SHA256 Credential={fake_tencent.SECRET_ID}/"
    )
    body = request.json()
    assert body["SmsSdkAppId"] == fake_tencent.SDK_APP_ID
    assert body["SignName"] == fake_tencent.SIGN_NAME
    assert body["PhoneNumberSet"] == [PHONE]
    assert body["SessionContext"] == "7"  # the outbox row, echoed in Tencent's delivery receipts


def test_params_fill_the_template_in_the_configured_order(app, tencent):
    send(app, message("order.reminder", start="09:30", title="送餐"))
    assert tencent.sent == [(PHONE, "1000003", ["送餐", "09:30"])]


def test_a_kind_without_a_template_is_final_and_sends_nothing(app, tencent):
    error = refused(app, message("order.filled"))
    assert (error.code, error.retry) == ("tencent:no_template", False)
    assert tencent.requests == []


def test_a_missing_param_is_final(app, tencent):
    error = refused(app, message("order.reminder", title="送餐"))
    assert (error.code, error.retry) == ("tencent:missing_param", False)
    assert "start" in error.detail
    assert tencent.requests == []


def test_a_template_whose_params_do_not_match_is_refused_by_the_provider(app, tencent, monkeypatch):
    monkeypatch.setitem(app.config["TENCENT_SMS"], "params", {"order.offered": ["title", "title"]})
    error = refused(app, message())
    assert (error.code, error.retry) == ("tencent:InvalidParameterValue.TemplateParameterFormatError", False)


@pytest.mark.parametrize("target", ["13912345678", "+86 139 1234 5678", None, ""])
def test_a_number_not_in_e164_is_refused_before_sending(app, tencent, target):
    error = refused(app, message(target=target))
    assert error.retry is False
    assert error.code in ("tencent:bad_number", "tencent:no_target")
    assert tencent.requests == []


def test_an_invalid_number_is_final(app, tencent):
    error = refused(app, message(target="+86123"))
    assert (error.code, error.retry) == ("tencent:InvalidParameterValue.IncorrectPhoneNumber", False)
    assert tencent.sent == []


def test_a_wrong_secret_key_is_refused_by_the_signature_check(app, tencent, monkeypatch):
    monkeypatch.setitem(app.config["TENCENT_SMS"], "secret_key", "not-the-key")
    error = refused(app, message())
    assert error.code == "tencent:AuthFailure.SignatureFailure"
    assert error.retry is True  # the operator fixes the key; the message itself is fine
    assert tencent.sent == []


def test_an_unknown_secret_id_is_refused(app, tencent, monkeypatch):
    monkeypatch.setitem(app.config["TENCENT_SMS"], "secret_id", "AKIDsomeoneelse")
    assert refused(app, message()).code == "tencent:AuthFailure.SecretIdNotFound"


def test_the_fake_refuses_a_tampered_body(tencent):
    """The fake's check is real: a correctly signed request whose body changed afterwards fails."""
    from tests.fakes.server import Request

    timestamp = str(int(time.time()))
    date = time.strftime("%Y-%m-%d", time.gmtime(int(timestamp)))
    host = tencent.url.removeprefix("http://")
    body = json.dumps({"SmsSdkAppId": fake_tencent.SDK_APP_ID}).encode()
    headers = {"content-type": "application/json", "host": host}
    signature = fake_tencent.tc3_signature(
        fake_tencent.SECRET_KEY,
        Request("POST", "/", {}, headers, body),
        ["content-type", "host"],
        timestamp,
        date,
        "sms",
    )
    auth = (
        f"TC3-HMAC-SHA256 Credential={fake_tencent.SECRET_ID}/{date}/sms/tc3_request, "
        f"SignedHeaders=content-type;host, Signature={signature}"
    )
    common = {"Content-Type": "application/json", "Authorization": auth, "X-TC-Timestamp": timestamp}
    common |= {"X-TC-Action": "SendSms", "X-TC-Version": "2021-01-11", "X-TC-Region": "ap-guangzhou"}
    good = httpx.post(tencent.url + "/", content=body, headers=common).json()["Response"]
    assert good["Error"]["Code"] == "MissingParameter"  # past the signature, to the parameters
    tampered = httpx.post(tencent.url + "/", content=body + b" ", headers=common).json()["Response"]
    assert tampered["Error"]["Code"] == "AuthFailure.SignatureFailure"
    stale = {**common, "X-TC-Timestamp": str(int(timestamp) - 600)}
    assert httpx.post(tencent.url + "/", content=body, headers=stale).json()["Response"]["Error"]["Code"] == (
        "AuthFailure.SignatureExpire"
    )
    assert hashlib.sha256(body).hexdigest()  # (the payload hash is part of what was signed)


@pytest.mark.parametrize(
    ("trouble", "code", "retry"),
    [
        ("thirty_second_limit", "LimitExceeded.PhoneNumberThirtySecondLimit", True),
        ("daily_limit", "LimitExceeded.PhoneNumberDailyLimit", True),
        ("bad_number", "InvalidParameterValue.IncorrectPhoneNumber", False),
        ("unsupported", "UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber", False),
        ("request_limit", "RequestLimitExceeded", True),
        ("no_balance", "FailedOperation.InsufficientBalanceInSmsPackage", True),
        ("internal", "InternalError", True),
    ],
)
def test_provider_refusals_keep_their_code_and_say_whether_to_retry(app, tencent, trouble, code, retry):
    tencent.fail_next(trouble)
    error = refused(app, message())
    assert (error.code, error.retry) == (f"tencent:{code}", retry)
    assert tencent.sent == []
    send(app, message())  # the next one goes through
    assert len(tencent.sent) == 1


def test_a_gateway_error_page_is_retried(app, tencent):
    tencent.fail_next("http_502")
    error = refused(app, message())
    assert (error.code, error.retry) == ("tencent:http_error", True)


def test_a_provider_that_hangs_times_out_and_is_retried(app, tencent):
    tencent.fail_next("timeout")
    started = time.monotonic()
    error = refused(app, message())
    assert (error.code, error.retry) == ("timeout", True)
    assert time.monotonic() - started < 1.4  # the configured 0.5 s, not the fake's 1.5 s


def test_an_unreachable_provider_is_retried(app, tencent, monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    monkeypatch.setitem(app.config["TENCENT_SMS"], "endpoint", f"http://127.0.0.1:{port}")
    error = refused(app, message())
    assert (error.code, error.retry) == ("tencent:unreachable", True)


def test_without_keys_nothing_is_sent(app, tencent, monkeypatch):
    monkeypatch.setitem(app.config["TENCENT_SMS"], "secret_key", "")
    error = refused(app, message())
    assert error.code == "tencent:not_configured"
    assert "secret_key" in error.detail
    assert tencent.requests == []


def test_login_codes_use_the_login_template(app, tencent):
    with app.app_context():
        TencentLoginSender().send_login_code(PHONE, "924613")
    assert tencent.sent == [(PHONE, "1000001", ["924613", "5"])]
