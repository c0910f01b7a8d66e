"""Public links (printed or sent to people): the configured base URL plus a route's path.

Never built from the request (`Host`, `X-Forwarded-Host`, `url_for(..., _external=True)`): a client
chooses those headers, and a link printed on a certificate would send its reader wherever that client
said. Works outside a request too (commands, the scheduler)."""

from __future__ import annotations

from flask import current_app


def public_url(endpoint: str, **values) -> str:
    """The public address of `endpoint` with `values`: `[app] public_base_url` (with any path prefix
    the deployment is mounted under) followed by the route's path."""
    base = current_app.config["APP"]["public_base_url"].rstrip("/")
    adapter = current_app.url_map.bind("public.invalid", script_name="/")
    return base + adapter.build(endpoint, values)
