"""The app's JSON (`app.json`): Flask's provider, writing with orjson.

Every response body is written once (an `@blp.etag` view's ETag hashes that body: extensions.Blueprint;
flask-smorest's own encodes the data once more, keys sorted, where it still applies); the standard
library's encoder was a few per cent of a hot read's CPU (the statement page: 3 encodes, 0.1 ms under
cProfile), orjson's a tenth of it. What is written is what Flask's provider writes, compactly
(`separators=(",", ":")`, as responses are): the same values and key order, non-ASCII as UTF-8, dates
through Flask's `default` (HTTP dates), a namedtuple as a list. Where orjson cannot write a value (an
integer past 64 bits) or is asked for an option it does not have, the standard library writes it, as
before. NaN is written as `null` (the standard library wrote `NaN`, which is not JSON).

`loads` reads the database's JSON columns (the engine's `json_deserializer`: a feed page's entries
carry two lists each, 40 reads a page) and the log lines are written with `dumps_line`.
"""

from __future__ import annotations

import json
import re

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


# 19 digits in a row: an integer that may not fit 64 bits, which orjson reads as a float (it would
# lose digits); such a text is read by the standard library.
_LONG_DIGITS = re.compile(r"\d{19}")
_LONG_DIGITS_BYTES = re.compile(rb"\d{19}")


def loads(text: str | bytes):
    """JSON read with orjson, or by the standard library where orjson would read it otherwise (an
    integer of 19 digits or more, which orjson makes a float) or refuses it (`NaN`): it reads what the
    standard library reads, the same."""
    long_digits = _LONG_DIGITS_BYTES if isinstance(text, bytes) else _LONG_DIGITS
    if long_digits.search(text) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


_LINE = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def dumps_line(obj) -> str:
    """A log line's JSON as the standard library wrote it with `default=str` (non-ASCII as UTF-8;
    dates and dataclasses as their `str`), compactly; what orjson cannot write (an integer past 64
    bits) by the standard library."""
    try:
        return orjson.dumps(obj, default=str, option=_LINE).decode()
    except orjson.JSONEncodeError:
        return json.dumps(obj, ensure_ascii=False, default=str, separators=(",", ":"))
