"""The one error format: DomainError hierarchy, message catalogue and the handler for every error."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import marshmallow as ma
from flask import current_app, has_request_context, request
from flask_smorest import Api as SmorestApi
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from volunteer_app.db import is_outage
from volunteer_app.field_messages import translate_errors

log = logging.getLogger(__name__)

LANGUAGES = ("zh-CN", "zh", "en")

# error code -> (zh-CN, en). Domains add their own with register_messages().
MESSAGES: dict[str, tuple[str, str]] = {
    "request.malformed": ("请求格式错误", "The request could not be understood"),
    "request.too_large": ("请求体过大", "The request body is too large"),
    "request.unsupported_media_type": (
        "请求体须为 JSON（Content-Type: application/json）",
        "The request body must be JSON (Content-Type: application/json)",
    ),
    "validation.nothing_to_change": ("没有要修改的内容", "Nothing to change: give at least one field"),
    "validation.failed": ("提交的数据有误", "Some fields are invalid"),
    "auth.required": ("请先登录", "Authentication is required"),
    "auth.forbidden": ("没有权限执行此操作", "You are not allowed to do this"),
    "not_found": ("未找到该资源", "Not found"),
    "method_not_allowed": ("不支持该请求方法", "Method not allowed"),
    "conflict": ("与当前状态冲突", "Conflicts with the current state"),
    "rate_limited": ("请求过于频繁，请稍后再试", "Too many requests, try again later"),
    "server.error": ("服务器内部错误", "Internal server error"),
    "server.unavailable": ("服务暂不可用，请稍后重试", "Service unavailable, try again shortly"),
}

_HTTP_DEFAULT_CODES = {
    400: "request.malformed",
    401: "auth.required",
    403: "auth.forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "request.too_large",
    415: "request.unsupported_media_type",
    422: "validation.failed",
    429: "rate_limited",
    503: "server.unavailable",
}


# field message -> error code: a 422 whose every field message is one of these gets that code.
FIELD_CODES: dict[str, str] = {}


def register_messages(messages: dict[str, tuple[str, str]]) -> None:
    """Add a domain's error messages to the catalogue (import time)."""
    MESSAGES.update(messages)


def register_field_code(message: str, error: str) -> None:
    """A field message that names its own error code (e.g. an invalid phone is `phone.invalid`)."""
    FIELD_CODES[message] = error


def _field_code(errors: Any) -> str | None:
    """The one code every leaf message of a validation error maps to, if there is one."""
    codes, stack = set(), [errors]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        else:
            codes.add(FIELD_CODES.get(item) if isinstance(item, str) else None)
    return codes.pop() if len(codes) == 1 else None


def language() -> str:
    """The response language from Accept-Language: zh-CN by default, en on request."""
    if not has_request_context():
        return "zh-CN"
    best = request.accept_languages.best_match(LANGUAGES, default="zh-CN")
    return "en" if best == "en" else "zh-CN"


def message_for(error: str, params: dict[str, Any] | None = None) -> str:
    zh, en = MESSAGES.get(error, MESSAGES["server.error"] if error.startswith("server") else (error, error))
    text = en if language() == "en" else zh
    try:
        return text.format(**(params or {}))
    except (KeyError, IndexError):
        return text


class DomainError(Exception):
    """A failure the client can act on; carries a stable error code."""

    status = 400

    def __init__(
        self,
        error: str,
        *,
        errors: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(error)
        self.error = error
        self.errors = errors
        self.params = params
        self.headers = headers or {}


class BadRequest(DomainError):
    status = 400


class Unauthorized(DomainError):
    status = 401


class Forbidden(DomainError):
    status = 403


class NotFound(DomainError):
    """Not found, or out of the caller's reach: the two are indistinguishable on purpose."""

    status = 404

    def __init__(self, error: str = "not_found", **kwargs):
        super().__init__(error, **kwargs)


class Conflict(DomainError):
    status = 409


class Gone(DomainError):
    """It existed for the caller and no longer does (an expired download)."""

    status = 410


class UnsupportedMediaType(DomainError):
    status = 415


class Unprocessable(DomainError):
    status = 422


def invalid(field: str, message: str) -> Unprocessable:
    """422 `validation.failed` naming one body field, for a rule the schema cannot see (a service's)."""
    return Unprocessable("validation.failed", errors={"json": {field: [message]}})


class TooManyRequests(DomainError):
    status = 429


class ServiceUnavailable(DomainError):
    status = 503


_STATUS_NAMES = {
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


def error_body(status: int, error: str, *, errors=None, params=None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": status,
        "status": _STATUS_NAMES.get(status, "Error"),
        "error": error,
        "message": message_for(error, params),
    }
    if errors:
        body["errors"] = translate_errors(errors, language())
    return body


# Every 401 says how to authenticate (RFC 7235 § 3.1, RFC 6750 § 3): a bearer token. Token errors
# (volunteer_app.auth.tokens) add error="invalid_token" to it.
BEARER_CHALLENGE = 'Bearer realm="volunteer_app"'


def error_response(status: int, error: str, *, errors=None, params=None, headers=None):
    """A Flask response tuple in the one error format (a 401 always with a WWW-Authenticate challenge)."""
    resp_headers = {"Content-Language": language()}
    resp_headers.update(headers or {})
    if status == 401 and not any(name.lower() == "www-authenticate" for name in resp_headers):
        resp_headers["WWW-Authenticate"] = BEARER_CHALLENGE
    return error_body(status, error, errors=errors, params=params), status, resp_headers


class ErrorSchema(ma.Schema):
    """The one error format (documentation only)."""

    code = ma.fields.Integer(required=True, metadata={"description": "HTTP status code"})
    status = ma.fields.String(required=True, metadata={"description": "HTTP status name"})
    error = ma.fields.String(required=True, metadata={"description": "Stable error code to branch on"})
    message = ma.fields.String(required=True, metadata={"description": "Human message (Accept-Language)"})
    errors = ma.fields.Dict(metadata={"description": "Per-location, per-field details"})


class Api(SmorestApi):
    """flask-smorest Api whose every error, HTTP or domain, uses the one format."""

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self):
        self._app.register_error_handler(HTTPException, self.handle_http_exception)
        self._app.register_error_handler(DomainError, handle_domain_error)
        # A database that cannot serve, wherever it is met before the response (a view, the token
        # loader, a before_request hook): 503, not 500.
        for error in (DBAPIError, PoolTimeout):
            self._app.register_error_handler(error, handle_database_error)

    def handle_http_exception(self, error: HTTPException):
        status = error.code or 500
        if status == 304:  # If-None-Match matched (flask-smorest's ETag): no body, same validator
            return current_app.response_class(status=304, headers={"ETag": request.headers["If-None-Match"]})
        data = getattr(error, "data", None) or {}
        errors = data.get("errors") or data.get("messages")
        headers = dict(data.get("headers") or {})
        if status == 405:
            allow = [h for h in error.get_headers() if h[0].lower() == "allow"]
            headers.update(allow)
        if status == 422 and errors and _is_json_syntax_error(errors):
            status = 400
        if status >= 500:
            original = getattr(error, "original_exception", None)
            if original is not None and is_outage(original):  # met by an after_request hook
                return unavailable(original)
            # Anything else was logged by Flask with its traceback (app.log_exception, before this
            # handler runs), under the request's id: not again here.
        if status == 429:
            retry_after = getattr(error, "retry_after", None) or _limit_window(error)
            if retry_after:
                headers.setdefault("Retry-After", str(retry_after))
        code = data.get("error") or (status == 422 and errors and _field_code(errors)) or None
        code = code or _HTTP_DEFAULT_CODES.get(status, "server.error")
        return error_response(status, code, errors=errors, headers=headers)


def _limit_window(error: HTTPException) -> int | None:
    """Seconds until Flask-Limiter's longest breached limit resets (every limit is checked, and that
    one is the request's current limit); else the breached window's length bounds the wait."""
    limit = getattr(error, "limit", None)
    if limit is None:
        return None
    from volunteer_app.extensions import limiter  # (extensions imports this module)

    try:
        current = limiter.current_limit
        if current is not None and current.breached:
            return max(1, math.ceil(current.window[0] - time.time()))  # (reset_at adds a second)
    except Exception:  # the counter store is unreachable: the window still bounds the wait
        log.warning("rate-limit reset time unavailable", exc_info=True)
    return limit.limit.get_expiry()


def _is_json_syntax_error(errors: Any) -> bool:
    """webargs reports an unparseable JSON body as a 422 on "json"; the contract says 400."""
    if not isinstance(errors, dict):
        return False
    json_errors = errors.get("json")
    return isinstance(json_errors, list) and any("Invalid JSON" in str(m) for m in json_errors)


# How long a client waits before retrying while the database is unreachable: PostgreSQL restarts in
# seconds, and the app takes the first request after that (db.ping_when_idle replaces dead connections).
RETRY_AFTER_SECONDS = 5


def unavailable(error: BaseException):
    """503 `server.unavailable` with Retry-After, for a database that cannot serve; one log line (an
    outage meets every request: a traceback each would bury the log)."""
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()
    where = f"{request.method} {request.path}" if has_request_context() else "outside a request"
    log.warning("database unavailable (%s): %s", where, reason[0] if reason else type(error).__name__)
    return error_response(503, "server.unavailable", headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def handle_database_error(error: Exception):
    """A database outage is a 503; any other database error is a bug, Flask's 500 (logged in full)."""
    if is_outage(error):
        return unavailable(error)
    raise error


def handle_domain_error(error: DomainError):
    return error_response(
        error.status, error.error, errors=error.errors, params=error.params, headers=error.headers
    )
