"""The WeChat client and sender over HTTP against the fake: the cached access token, its refresh on a
token error (once), and every class of failure as the delivery contract's DeliveryError."""

from __future__ import annotations

import time

import httpx
import pytest

from volunteer_app.notifications.channels import DeliveryError
from volunteer_app.providers import wechat

OPENID = "o-user-0001"


def token_fetches(fake) -> list:
    return [r for r in fake.requests if r.path == "/cgi-bin/stable_token"]


def phone(app, fake, code="PC1", number="13700000001"):
    fake.phone_codes[code] = number
    with app.app_context():
        return wechat.client().phone_number(code)


def test_the_token_is_fetched_once_and_reused(wechat_app, fake):
    assert phone(wechat_app, fake, "PC1") == {"phone": "13700000001", "country_code": "86"}
    assert phone(wechat_app, fake, "PC2")["phone"] == "13700000001"
    fetches = token_fetches(fake)
    assert len(fetches) == 1
    assert fetches[0].json() == {
        "grant_type": "client_credential",
        "appid": fake.appid,
        "secret": fake.secret,
        "force_refresh": False,
    }
    calls = [r for r in fake.requests if r.path == "/wxa/business/getuserphonenumber"]
    assert len(calls) == 2 and calls[0].query["access_token"] == calls[1].query["access_token"]


def test_an_expired_token_is_refreshed_and_the_call_retried_once(wechat_app, fake):
    phone(wechat_app, fake, "PC1")
    fake.fail_next("expired")  # the next call with the token: 42001
    assert phone(wechat_app, fake, "PC2")["phone"] == "13700000001"
    assert len(token_fetches(fake)) == 2
    calls = [r for r in fake.requests if r.path == "/wxa/business/getuserphonenumber"]
    assert len(calls) == 3  # the first, the refused, the retry with the new token
    assert calls[1].query["access_token"] == calls[0].query["access_token"] != calls[2].query["access_token"]
    phone(wechat_app, fake, "PC3")
    assert len(token_fetches(fake)) == 2  # the new one is cached in turn


def test_a_token_refused_twice_is_not_retried_again(wechat_app, fake):
    phone(wechat_app, fake, "PC1")
    fake.fail_next("expired", "none", "expired")  # the call, the token fetch (fine), the retry
    with pytest.raises(wechat.WechatError) as caught:
        phone(wechat_app, fake, "PC2")
    assert caught.value.errcode == 42001
    assert len(token_fetches(fake)) == 2


def test_a_refused_token_handed_out_again_is_force_refreshed(wechat_app, fake):
    phone(wechat_app, fake, "PC1")
    fake.fail_next("invalid_token")  # 40001 although WeChat still hands the same token out
    assert phone(wechat_app, fake, "PC2")["phone"] == "13700000001"
    fetches = [r.json()["force_refresh"] for r in token_fetches(fake)]
    assert fetches == [False, False, True]


def test_a_token_is_fetched_again_before_it_expires(wechat_app, fake):
    fake.token_ttl = 2  # kept for half its life when shorter than the 5-minute margin
    phone(wechat_app, fake, "PC1")
    phone(wechat_app, fake, "PC2")
    assert len(token_fetches(fake)) == 1
    time.sleep(1.1)
    phone(wechat_app, fake, "PC3")
    assert len(token_fetches(fake)) == 2


def test_a_wrong_secret_is_wechats_error(wechat_app, fake):
    fake.secret = "another"
    with pytest.raises(wechat.WechatError) as caught:
        phone(wechat_app, fake)
    assert caught.value.errcode == 40125


def test_code2session_answers_openid_and_unionid(wechat_app, fake):
    fake.codes["JS1"] = (OPENID, "u-union-1")
    with wechat_app.app_context():
        assert wechat.client().code2session("JS1") == {"openid": OPENID, "unionid": "u-union-1"}
        with pytest.raises(wechat.WechatError) as caught:
            wechat.client().code2session("JS1")  # once only
    assert caught.value.errcode == 40163
    request = next(r for r in fake.requests if r.path == "/sns/jscode2session")
    assert request.query == {
        "appid": fake.appid,
        "secret": fake.secret,
        "js_code": "JS1",
        "grant_type": "authorization_code",
    }


def test_timeouts_and_outages_are_unavailable(fake):
    client = wechat.WechatClient(
        api_base=fake.url, appid=fake.appid, secret=fake.secret, timeout=httpx.Timeout(0.5)
    )
    fake.codes["JS1"] = OPENID
    fake.fail_next("timeout")
    with pytest.raises(wechat.WechatUnavailable) as caught:
        client.code2session("JS1")
    assert caught.value.code == "timeout"
    fake.fail_next("http_502")
    with pytest.raises(wechat.WechatUnavailable) as caught:
        client.code2session("JS1")
    assert caught.value.code == "http:502"
    fake.fail_next("garbage")
    with pytest.raises(wechat.WechatUnavailable) as caught:
        client.code2session("JS1")
    assert caught.value.code == "wechat:bad_answer"
    fake.stop()  # nobody listens on its port any more (a new client: no kept-alive connection)
    client = wechat.WechatClient(api_base=fake.url, appid=fake.appid, secret=fake.secret)
    with pytest.raises(wechat.WechatUnavailable) as caught:
        client.code2session("JS1")
    assert caught.value.code == "wechat:unreachable"


# ---- the sender ------------------------------------------------------------------------------------


def message(kind="order.reminder", **overrides) -> dict:
    base = {
        "id": 1,
        "notification_id": 10,
        "user_id": 5,
        "channel": "wechat",
        "target": OPENID,
        "kind": kind,
        "params": {"title": "陪同就医", "start": "15:30"},
        "title": "「陪同就医」将于15:30开始，请按时签到",
        "title_en": '"陪同就医" starts at 15:30',
        "subject_type": "order",
        "subject_id": "42",
        "order_id": 42,
        "attempts": 0,
    }
    return {**base, **overrides}


def send(app, msg: dict) -> None:
    with app.app_context():
        wechat.WechatSender().send(msg)


def test_the_sender_sends_the_template_with_its_fields_and_page(wechat_app, fake):
    fake.openids.add(OPENID)
    send(wechat_app, message())
    assert fake.sent == [
        {
            "touser": OPENID,
            "template_id": "TPL-REMIND",
            "page": "pages/order/detail?id=42",
            "data": {
                "thing1": {"value": "陪同就医"},
                "time2": {"value": "15:30"},
                "thing3": {"value": "请按时签到"},
            },
            "miniprogram_state": "formal",
            "lang": "zh_CN",
        }
    ]


def test_long_values_are_cut_to_wechats_limits(wechat_app, fake):
    fake.openids.add(OPENID)
    title = "为社区独居老人提供上门陪同就医服务并协助取药和缴费\n第二行"
    send(wechat_app, message(kind="order.cancelled", params={"title": title}))
    value = fake.sent[0]["data"]["thing1"]["value"]
    assert len(value) == 20 and value.endswith("…") and value.startswith("为社区独居老人")
    assert wechat.truncate("character_string3", "A" * 40) == "A" * 32
    assert wechat.truncate("time2", "2026年12月4日 15:30") == "2026年12月4日 15:30"
    assert wechat.truncate("phrase2", "已经取消了的") == "已经取消…"


@pytest.mark.parametrize(
    ("trouble", "code", "retry"),
    [
        ("refused", "wechat:43101", False),
        ("rate_limited", "wechat:45009", True),
        ("invalid_openid", "wechat:40003", False),
        ("busy", "wechat:-1", True),
        ("http_502", "http:502", True),
    ],
)
def test_wechats_refusals_are_delivery_errors(wechat_app, fake, trouble, code, retry):
    fake.openids.add(OPENID)
    send(wechat_app, message())  # the token is cached: the trouble meets the send itself
    fake.fail_next(trouble)
    with pytest.raises(DeliveryError) as caught:
        send(wechat_app, message())
    assert (caught.value.code, caught.value.retry) == (code, retry)
    assert len(fake.sent) == 1


def test_bad_data_is_a_final_parameter_error(wechat_app, fake):
    fake.openids.add(OPENID)
    fake.templates["TPL-REMIND"] = {"thing1", "time2", "thing3", "thing4"}  # the template changed
    with pytest.raises(DeliveryError) as caught:
        send(wechat_app, message())
    assert (caught.value.code, caught.value.retry) == ("wechat:47003", False)


def test_an_expired_token_does_not_lose_the_message(wechat_app, fake):
    fake.openids.add(OPENID)
    send(wechat_app, message())
    fake.expire_tokens()
    send(wechat_app, message())
    assert len(fake.sent) == 2 and len(token_fetches(fake)) == 2


def test_a_timeout_is_retried_later(wechat_app, fake, monkeypatch):
    fake.openids.add(OPENID)
    with wechat_app.app_context():
        wechat.client().http.timeout = httpx.Timeout(0.5)
    fake.fail_next("timeout")
    with pytest.raises(DeliveryError) as caught:
        send(wechat_app, message())
    assert (caught.value.code, caught.value.retry) == ("timeout", True)


def test_a_kind_without_a_template_or_a_row_without_openid_is_dead(wechat_app, fake):
    with pytest.raises(DeliveryError) as caught:
        send(wechat_app, message(kind="star.up"))
    assert (caught.value.code, caught.value.retry) == ("wechat:no_template", False)
    with pytest.raises(DeliveryError) as caught:
        send(wechat_app, message(target=None))
    assert (caught.value.code, caught.value.retry) == ("wechat:no_openid", False)
    assert fake.requests == []


def test_without_appid_and_secret_nothing_is_asked(app, fake, monkeypatch):
    monkeypatch.setitem(app.config, "WECHAT", {**app.config["WECHAT"], "api_base": fake.url, "secret": ""})
    app.extensions.pop("wechat_client", None)
    try:
        with app.app_context():
            assert not wechat.configured()
            with pytest.raises(wechat.WechatUnavailable):
                wechat.client().code2session("JS1")
    finally:
        app.extensions.pop("wechat_client", None)
    assert fake.requests == []


def test_an_empty_value_is_sent_as_a_dash(wechat_app, fake):
    fake.openids.add(OPENID)
    send(wechat_app, message(kind="order.cancelled", params={"title": "  "}))
    assert fake.sent[0]["data"]["thing1"] == {"value": "-"}


def test_the_fake_runs_alone():
    import subprocess
    import sys

    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.wechat", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        url = process.stdout.readline().strip()
        answer = httpx.get(f"{url}/sns/jscode2session", params={"appid": "x"}, timeout=5).json()
        assert answer["errcode"] == 40013
    finally:
        process.kill()
        process.wait(timeout=10)
