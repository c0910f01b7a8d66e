"""The app's JSON writer (volunteer_app/jsonprovider.py): orjson, writing what Flask's own provider
wrote for every value a response can hold, and falling back to it where orjson cannot."""

from __future__ import annotations

import json
from collections import namedtuple
from dataclasses import dataclass
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


# ---- reading JSON columns, writing log lines ---------------------------------------------------------

READ = [
    '{"a": [1, 2.5, null, true], "名": "王小明"}',
    "[]",
    f'{{"big": {2**70}, "neg": {-(2**63)}}}',  # past 64 bits: orjson would make them floats
    f'{{"max": {2**63 - 1}, "u": {2**64 - 1}, "in": "{2**70}", "f": 0.1234567890123456789}}',
    '{"x": NaN, "y": -Infinity}',  # not JSON, yet the standard library reads it
    '"\\u793e\\u533a"',
    "1e400",
]


@pytest.mark.parametrize("text", READ)
def test_loads_reads_what_the_standard_library_reads(text):
    from volunteer_app.jsonprovider import loads

    expected = json.loads(text)
    got = loads(text)
    assert repr(got) == repr(expected)  # NaN != NaN: compared as written
    assert loads(text.encode()) == got or repr(loads(text.encode())) == repr(expected)


def test_a_json_column_holding_an_integer_past_64_bits_reads_back(app):
    """The engine reads JSON columns with jsonprovider.loads (orjson): what orjson refuses still reads."""
    from sqlalchemy import select

    from volunteer_app.extensions import db
    from volunteer_app.worker.models import WorkItem

    with app.app_context():
        item = WorkItem(
            kind="test.big", args={"big": 2**70 + 1, "名": "社区", "list": [1.5, None]}, state="done"
        )
        db.session.add(item)
        db.session.commit()
        item_id = item.id
        db.session.expunge_all()
        args = db.session.scalar(select(WorkItem.args).where(WorkItem.id == item_id))
        assert args == {"big": 2**70 + 1, "名": "社区", "list": [1.5, None]}
        assert db.engine.dialect._json_deserializer.__module__ == "volunteer_app.jsonprovider"


@dataclass
class Seen:
    n: int


LINES = [
    {
        "time": "2026-12-06T23:00:00.000Z",
        "event": "请求",
        "status": 200,
        "duration_ms": 1.25,
        "user_id": None,
    },
    {"at": datetime(2026, 12, 6, 8, 30, tzinfo=UTC), "day": date(2026, 12, 6), "amount": Decimal("1.50")},
    {1: "int key", "s": Status.OPEN, "level": Level.ONE, "seen": Seen(3), "ids": (1, 2)},
    {"big": 2**70, "obj": object.__new__(Seen)},
]


@pytest.mark.parametrize("line", LINES)
def test_a_log_line_holds_what_the_standard_library_wrote(line):
    """Log lines are written with orjson (jsonprovider.dumps_line): the same fields and values as
    `json.dumps(…, ensure_ascii=False, default=str)` wrote, compactly."""
    from volunteer_app.jsonprovider import dumps_line

    if "obj" in line:
        line = {**line, "obj": Seen(7)}
    written = dumps_line(line)
    assert json.loads(written) == json.loads(json.dumps(line, ensure_ascii=False, default=str))
    assert "\\u" not in written and ": " not in written.replace('": "', "")
