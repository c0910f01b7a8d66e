"""The app's JSON writer (volunteer_app/jsonprovider.py): orjson, writing what Flask's own provider
wrote for every value a response can hold, and falling back to it where orjson cannot."""

from __future__ import annotations

import json
from collections import namedtuple
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import IntEnum, StrEnum

import pytest
from flask.json.provider import DefaultJSONProvider

from volunteer_app.jsonprovider import OrjsonProvider


class Status(StrEnum):
    OPEN = "open"


class Level(IntEnum):
    ONE = 1


Point = namedtuple("Point", "lat lng")

VALUES = [
    {"name": "王小明", "z": 1, "a": [1, 2.5, None, True], "nested": {"b": "社区", "a": ()}},
    {1: "int key", "s": Status.OPEN, "level": Level.ONE},
    {"at": datetime(2026, 12, 6, 8, 30, tzinfo=UTC), "day": date(2026, 12, 6), "amount": Decimal("1.50")},
    {"point": Point(31.2, 121.5), "big": 2**70, "neg": -(2**63)},
    [],
    "plain",
]


@pytest.fixture
def providers(app):
    standard = DefaultJSONProvider(app)
    standard.sort_keys, standard.ensure_ascii = False, False  # as the app's provider was configured
    return standard, OrjsonProvider(app)


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize("kwargs", [{"separators": (",", ":")}, {"sort_keys": True}, {}])
def test_it_writes_the_values_the_standard_library_wrote(app, providers, value, kwargs):
    standard, fast = providers
    with app.app_context():
        written = fast.dumps(value, **kwargs)
        try:
            expected = json.loads(standard.dumps(value, **kwargs))
        except TypeError:  # sorting int and str keys: the standard library cannot, orjson sorts them
            expected = json.loads(written)
            assert kwargs.get("sort_keys") and any(isinstance(key, int) for key in value)
        assert json.loads(written) == expected
        if kwargs.get("sort_keys") and isinstance(value, dict):
            assert list(json.loads(written)) == sorted(json.loads(written))  # keys as strings


def test_it_keeps_key_order_and_utf8_and_is_compact_in_responses(app):
    assert isinstance(app.json, OrjsonProvider)
    with app.test_request_context():
        body = app.json.response({"z": 1, "名": "志愿者"}).get_data(as_text=True)
    assert body == '{"z":1,"名":"志愿者"}\n'


def test_an_integer_past_64_bits_and_an_indent_go_through_the_standard_library(app, providers):
    _standard, fast = providers
    with app.app_context():
        assert fast.dumps({"n": 2**70}) == '{"n":1180591620717411303424}'.replace(":", ": ")
        assert fast.dumps({"a": 1}, indent=4) == '{\n    "a": 1\n}'
        with pytest.raises(TypeError):
            fast.dumps({"x": object()})


def test_an_etag_is_the_same_for_the_same_answer_and_changes_with_it(client, world):
    url = "/api/v1/me/timebook"
    first = client.get(url, headers=world.vol_s1.headers)
    again = client.get(url, headers={**world.vol_s1.headers, "If-None-Match": first.headers["ETag"]})
    assert first.status_code == 200 and again.status_code == 304
