"""Helpers shared by the API-wide tests: the one error format."""

from __future__ import annotations

# The one error format (architecture.md rule 5); `errors` is added when there are details.
ERROR_KEYS = frozenset({"code", "status", "error", "message"})


def assert_error(response, status: int, error: str | None = None) -> dict:
    """The response is an error in the one format with this status (and error code); returns the body."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:300])
    body = response.get_json()
    assert body is not None, response.get_data(as_text=True)[:300]
    assert set(body) in (ERROR_KEYS, ERROR_KEYS | {"errors"}), sorted(body)
    assert body["code"] == status
    assert isinstance(body["message"], str) and body["message"]
    if status == 401:  # RFC 7235: a 401 says how to authenticate (every endpoint's anonymous cell)
        assert response.headers.get("WWW-Authenticate", "").startswith("Bearer "), dict(response.headers)
    if error is not None:
        assert body["error"] == error, body
    return body
