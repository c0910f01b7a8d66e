"""The WeChat tests' fake server and the app pointed at it."""

from __future__ import annotations

import pytest

from tests.fakes.wechat import FakeWeChat

# The templates the tests' mini-program has: two kinds share one template (a consent serves either).
TEMPLATES = {
    "order.reminder": {
        "id": "TPL-REMIND",
        "page": "pages/order/detail?id={subject_id}",
        "data": {"thing1": "{title}", "time2": "{start}", "thing3": "请按时签到"},
    },
    "order.cancelled": {"id": "TPL-STATUS", "data": {"thing1": "{title}", "phrase2": "已取消"}},
    "order.expired": {"id": "TPL-STATUS", "data": {"thing1": "{title}", "phrase2": "已过期"}},
}


@pytest.fixture
def fake():
    with FakeWeChat() as server:
        server.templates = {"TPL-REMIND": {"thing1", "time2", "thing3"}, "TPL-STATUS": {"thing1", "phrase2"}}
        yield server


@pytest.fixture
def wechat_app(app, fake, monkeypatch):
    """The app speaking to the fake (a fresh client: an empty token cache)."""
    cfg = {
        **app.config["WECHAT"],
        "api_base": fake.url,
        "appid": fake.appid,
        "secret": fake.secret,
        "templates": TEMPLATES,
        "consent_cap": 3,
    }
    monkeypatch.setitem(app.config, "WECHAT", cfg)
    app.extensions.pop("wechat_client", None)
    yield app
    app.extensions.pop("wechat_client", None)


def wechat_login(client, code: str, phone_code: str | None = None, **kwargs):
    body = {"code": code} if phone_code is None else {"code": code, "phone_code": phone_code}
    return client.post("/api/v1/auth/wechat", json=body, **kwargs)
