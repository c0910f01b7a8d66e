"""The app's JSON (`app.json`): Flask's provider, writing with orjson.

Every response body is written once, and an `@blp.etag` view's once more (flask-smorest hashes the
dumped result with `flask.json.dumps(…, sort_keys=True)`); the standard library's encoder was a few
per cent of a hot read's CPU (the statement page: 3 encodes, 0.1 ms under cProfile), orjson's a tenth
of it. What is written is what Flask's provider writes, compactly (`separators=(",", ":")`, as
responses are): the same values and key order, non-ASCII as UTF-8, dates through Flask's `default`
(HTTP dates), a namedtuple as a list. Where orjson cannot write a value (an integer past 64 bits) or is
asked for an option it does not have, the standard library writes it, as before. NaN is written as
`null` (the standard library wrote `NaN`, which is not JSON).
"""

from __future__ import annotations

import orjson
from flask.json.provider import DefaultJSONProvider

_ALWAYS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
_COMPACT = (",", ":")


class OrjsonProvider(DefaultJSONProvider):
    ensure_ascii = False
    sort_keys = False

    def dumps(self, obj, **kwargs) -> str:
        option = _options(kwargs, self.sort_keys)
        if option is None:
            return super().dumps(obj, **kwargs)
        try:
            return orjson.dumps(obj, default=_default, option=option).decode()
        except orjson.JSONEncodeError:
            return super().dumps(obj, **kwargs)


def _options(kwargs: dict, sort_keys: bool) -> int | None:
    """orjson's options for the standard library's keyword arguments, or None where it has none."""
    option = _ALWAYS
    for key, value in kwargs.items():
        if key == "sort_keys":
            sort_keys = value
        elif key == "separators" and tuple(value) == _COMPACT:
            continue
        elif key == "indent" and value == 2:
            option |= orjson.OPT_INDENT_2
        else:
            return None
    return option | orjson.OPT_SORT_KEYS if sort_keys else option


def _default(value):
    if isinstance(value, tuple):  # a namedtuple (orjson writes plain tuples itself)
        return list(value)
    return DefaultJSONProvider.default(value)
