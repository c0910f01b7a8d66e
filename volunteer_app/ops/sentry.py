"""Optional error reports to Sentry (or a Sentry-compatible server such as GlitchTip) when SENTRY_DSN is
set: every unhandled exception of a request, a job or a command, with its traceback, but nothing personal
or secret: no request bodies, cookies, query strings, authorization headers, local variables or user
addresses. sentry-sdk is imported only when a DSN is configured (pip install 'volunteer_app[sentry]')."""

from __future__ import annotations

import logging

from flask import Flask

log = logging.getLogger(__name__)

# The request headers a report keeps (the rest may carry tokens, cookies or CSRF values).
KEPT_HEADERS = frozenset(
    {"host", "user-agent", "accept", "accept-language", "content-type", "content-length", "x-request-id"}
)


def scrub(event: dict, hint: dict | None = None) -> dict:
    """Sentry's before_send: drop what could be personal or secret from the report."""
    request = event.get("request")
    if isinstance(request, dict):
        for key in ("data", "cookies", "query_string", "env"):
            request.pop(key, None)
        if isinstance(request.get("url"), str):
            request["url"] = request["url"].split("?", 1)[0]
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {k: v for k, v in headers.items() if k.lower() in KEPT_HEADERS}
    event.pop("user", None)
    return event


def init_app(app: Flask) -> bool:
    """Start reporting when [ops] sentry_dsn (SENTRY_DSN) is set; returns whether it did."""
    dsn = (app.config.get("OPS") or {}).get("sentry_dsn")
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.flask import FlaskIntegration

    sentry_sdk.init(
        dsn=dsn,
        integrations=[FlaskIntegration()],
        environment=app.config.get("ENV_NAME"),
        # send_default_pii stays off, its default (no user, address or cookies; newer sentry-sdk
        # deprecates passing it at all).
        include_local_variables=False,  # a frame's variables may hold a password or a token
        max_request_body_size="never",
        traces_sample_rate=None,  # errors only: no performance tracing
        before_send=scrub,
    )
    log.info("error reports go to Sentry")
    return True
