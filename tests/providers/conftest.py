"""Fixtures for the providers' tests: each fake provider started on 127.0.0.1 and the app pointed at it."""

from __future__ import annotations

import pytest

from tests.fakes import jpush as fake_jpush
from tests.fakes import tencent_sms as fake_tencent
from tests.fakes.jpush import FakeJPush
from tests.fakes.tencent_sms import FakeTencentSms


@pytest.fixture
def tencent(app, monkeypatch):
    """A running FakeTencentSms with the app's [tencent_sms] pointing at it (a 0.5 s timeout)."""
    with FakeTencentSms(delay=1.5) as fake:
        monkeypatch.setitem(
            app.config,
            "TENCENT_SMS",
            {
                "endpoint": fake.url,
                "region": "ap-guangzhou",
                "sdk_app_id": fake_tencent.SDK_APP_ID,
                "sign_name": fake_tencent.SIGN_NAME,
                "secret_id": fake_tencent.SECRET_ID,
                "secret_key": fake_tencent.SECRET_KEY,
                "timeout_seconds": 0.5,
                "login_template": "1000001",
                "login_params": ["code", "minutes"],
                "templates": {"order.offered": "1000002", "order.reminder": "1000003"},
                "params": {"order.reminder": ["title", "start"]},
            },
        )
        yield fake


@pytest.fixture
def jpush(app, monkeypatch):
    """A running FakeJPush with the app's [jpush] pointing at it (a 0.5 s read timeout)."""
    with FakeJPush(delay=1.5) as fake:
        monkeypatch.setitem(
            app.config,
            "JPUSH",
            {
                "api_base": fake.url,
                "apns_production": False,
                "app_key": fake_jpush.APP_KEY,
                "master_secret": fake_jpush.MASTER_SECRET,
                "connect_timeout_seconds": 0.5,
                "timeout_seconds": 0.5,
                "time_to_live": 600,
            },
        )
        yield fake
