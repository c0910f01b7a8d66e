"""Fixtures of the API-wide tests: the app's own OpenAPI document."""

from __future__ import annotations

import pytest

from tests.api.endpoints import wechat_fake
from tests.api.helpers import OPENAPI


@pytest.fixture(autouse=True)
def _wechat(app, monkeypatch):
    """WeChat sign-in speaks to the run's fake WeChat (any code it was not told about is 401)."""
    fake = wechat_fake()
    monkeypatch.setitem(
        app.config,
        "WECHAT",
        {**app.config["WECHAT"], "api_base": fake.url, "appid": fake.appid, "secret": fake.secret},
    )
    app.extensions.pop("wechat_client", None)
    yield
    app.extensions.pop("wechat_client", None)


@pytest.fixture(scope="module")
def document(app) -> dict:
    """The OpenAPI document the app serves."""
    return app.test_client().get(OPENAPI).get_json()
