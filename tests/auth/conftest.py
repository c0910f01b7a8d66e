"""Helpers shared by the auth tests: the one error format and the HTTP calls they repeat."""

from __future__ import annotations

import pytest

from tests.support import PASSWORD, build_sites

ERROR_KEYS = {"code", "status", "error", "message"}
STATUS_NAMES = {
    400: "Bad Request",
    401: "Unauthorized",
    409: "Conflict",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
}


def assert_error(response, status: int, error: str) -> dict:
    """Assert the response is the one error format with this status and stable code; return the body."""
    body = response.get_json()
    assert response.status_code == status, body
    assert ERROR_KEYS <= body.keys() <= ERROR_KEYS | {"errors"}, body
    assert body["code"] == status
    assert body["status"] == STATUS_NAMES[status]
    assert body["error"] == error, body
    assert isinstance(body["message"], str) and body["message"]
    if status == 401:  # RFC 7235: a 401 says how to authenticate; RFC 6750 names a refused token
        challenge = response.headers.get("WWW-Authenticate", "")
        assert challenge.startswith('Bearer realm="volunteer_app"'), dict(response.headers)
        refused_token = error.startswith("token.") and error != "token.missing"
        assert ('error="invalid_token"' in challenge) == refused_token, challenge
    return body


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
