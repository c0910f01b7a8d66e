"""Request bodies, checked once for every endpoint before any view runs.

- A write (POST, PUT, PATCH, DELETE) under /api/ with a non-empty body must say it is JSON
  (`application/json` or `application/*+json`, any charset): anything else is 415
  `request.unsupported_media_type`. Without this, the body parser took a text/plain body for no body
  at all, and a command ran with its defaults (an audit closed an order with 0 minutes).
- The body must be UTF-8 JSON nested at most MAX_DEPTH levels: else 400 `request.malformed`. Deep
  nesting (10,000 levels fit in the size limit) made the JSON parser overflow the stack (a 500); now
  it is refused with one log line and no traceback.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask, g, request

from volunteer_app.errors import BadRequest, UnsupportedMediaType
from volunteer_app.schemas import NESTED_TOO_DEEPLY, NOT_JSON

log = logging.getLogger(__name__)

MAX_DEPTH = 32  # the deepest body the API takes is 3 levels (an audit's items, a rule's spec)
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_json(mimetype: str) -> bool:
    """application/json or application/<anything>+json (the media type, parameters aside)."""
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def _depth(value: Any) -> int:
    """How deeply arrays and objects nest in a parsed JSON value (iterative: no recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if deepest > MAX_DEPTH:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def _malformed(why: str) -> BadRequest:
    return BadRequest("request.malformed", errors={"json": [why]})


def check_body() -> None:
    """before_request: refuse a body that is not JSON (415) or not well-formed, shallow JSON (400)."""
    if request.method not in WRITES or not request.path.startswith("/api/"):
        return
    if request.routing_exception is not None:
        return  # unknown URL or method: its own 404 / 405 first
    body = request.get_data(cache=True)
    if not body:
        return
    if not is_json(request.mimetype):
        raise UnsupportedMediaType(
            "request.unsupported_media_type", errors={"headers": {"Content-Type": [NOT_JSON]}}
        )
    try:
        value = json.loads(body.decode("utf-8"))
    except RecursionError:
        log.warning("refused a request body nested too deeply: %s %s", request.method, request.path)
        raise _malformed(NESTED_TOO_DEEPLY) from None
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        raise _malformed("Invalid JSON body.") from None
    if _depth(value) > MAX_DEPTH:
        log.warning("refused a request body nested too deeply: %s %s", request.method, request.path)
        raise _malformed(NESTED_TOO_DEEPLY)
    g.checked_json = value  # the view's body parser takes it rather than parse the body again


def checked_json() -> Any:
    """The request's JSON body as check_body parsed it, once (a second call gets None): the view's
    body parser loads it instead of parsing the body again (extensions._Parser). None when
    check_body did not parse one (no body, not a write under /api/)."""
    return g.pop("checked_json", None)


def init_app(app: Flask) -> None:
    app.before_request(check_body)
