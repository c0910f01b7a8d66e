"""Helpers shared by the auth tests: the HTTP calls they repeat (assert_error is tests/api/helpers.py's)."""

from __future__ import annotations

import pytest

from tests.support import PASSWORD, build_sites


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(client, phone: str, password: str = PASSWORD, **kwargs):
    """POST /auth/login (a new device session)."""
    return client.post("/api/v1/auth/login", json={"phone": phone, "password": password}, **kwargs)


def me(client, access_token: str):
    return client.get("/api/v1/me", headers=bearer(access_token))


def refresh(client, refresh_token: str):
    return client.post("/api/v1/auth/refresh", headers=bearer(refresh_token))


def sent_codes(app) -> list[tuple[str, str]]:
    """(phone, code) pairs the memory SMS sender has sent in this test (it is created on first send)."""
    sender = app.extensions.get("sms_sender")
    return list(sender.sent) if sender is not None else []


@pytest.fixture
def stations(app) -> dict[str, int]:
    """Only the site tree of `world` (no people, so it builds fast): code -> id.

    C1 → I1 → (S1 30.27/120.17, S2 30.28/120.18), C1 → I2 → S3 30.21/120.11; C2 → I3 → S4 31.25/121.49.
    """
    return build_sites(app)
