"""Helpers shared by the tests: where the OpenAPI document is served, and the one error format
(architecture.md rule 5) with its checker."""

from __future__ import annotations

import re

OPENAPI = "/api/v1/openapi.json"

# The one error format's keys; `errors` is added when there are details.
ERROR_KEYS = frozenset({"code", "status", "error", "message"})
STATUS_NAMES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    410: "Gone",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def assert_error(response, status: int, error: str | None = None) -> dict:
    """The response is an error in the one format with this status (and error code); returns the body."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:300])
    body = response.get_json()
    assert body is not None, response.get_data(as_text=True)[:300]
    assert set(body) in (ERROR_KEYS, ERROR_KEYS | {"errors"}), sorted(body)
    assert body["code"] == status
    assert body["status"] == STATUS_NAMES[status], body
    assert isinstance(body["message"], str) and body["message"]
    if error is not None:
        assert body["error"] == error, body
    if status == 401:  # RFC 7235: a 401 says how to authenticate; RFC 6750 names a refused token
        challenge = response.headers.get("WWW-Authenticate", "")
        assert challenge.startswith('Bearer realm="volunteer_app"'), dict(response.headers)
        refused_token = body["error"].startswith("token.") and body["error"] != "token.missing"
        assert ('error="invalid_token"' in challenge) == refused_token, challenge
    return body


_LATIN = re.compile(r"[A-Za-z]")
_CJK = re.compile(r"[\u2e80-\u9fff\uff00-\uffef]")


def english_messages(errors) -> list[str]:
    """The messages in an error body's `errors` (or any nesting of lists and dicts) written only in
    Latin letters: under zh-CN each one is a message left untranslated. Keys, numbers and messages with
    Chinese in them (which may quote a field name or a format, like "格式应为 YYYY-MM") pass."""
    found, stack = [], [errors]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, str) and _LATIN.search(item) and not _CJK.search(item):
            found.append(item)
    return sorted(found)
