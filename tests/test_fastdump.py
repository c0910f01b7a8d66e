"""volunteer_app.fastdump: a planned dump answers exactly what marshmallow's own dump answers, for every
kind of field, value and object the plan handles, and falls back to marshmallow for what it does not.
(The suite also runs with fastdump.CHECK set, so every hot response is compared as it is served.)"""

from __future__ import annotations

from collections import namedtuple
from datetime import UTC, date, datetime, timedelta

import marshmallow as ma
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from volunteer_app import fastdump
from volunteer_app.fastdump import fast


@pytest.fixture(autouse=True)
def no_check(monkeypatch):
    """These tests compare the two dumps themselves."""
    monkeypatch.setattr(fastdump, "CHECK", False)


class Inner(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String(allow_none=True)


class Kinds(ma.Schema):
    n = ma.fields.Integer(allow_none=True)
    text = ma.fields.Integer(as_string=True, allow_none=True)
    x = ma.fields.Float(allow_none=True)
    s = ma.fields.String(allow_none=True)
    flag = ma.fields.Boolean(allow_none=True)
    at = ma.fields.AwareDateTime(allow_none=True)
    naive = ma.fields.DateTime(allow_none=True)
    stamp = ma.fields.DateTime(format="%Y/%m/%d", allow_none=True)
    day = ma.fields.Date(allow_none=True)
    tags = ma.fields.List(ma.fields.String(), allow_none=True)
    numbers = ma.fields.List(ma.fields.Integer(allow_none=True), allow_none=True)
    one = ma.fields.Nested(Inner, allow_none=True)
    many = ma.fields.List(ma.fields.Nested(Inner), allow_none=True)
    also_many = ma.fields.Nested(Inner, many=True, allow_none=True)
    only_id = ma.fields.Nested(Inner, only=("id",), allow_none=True)
    renamed = ma.fields.Integer(data_key="renamedKey", allow_none=True)
    sourced = ma.fields.String(attribute="elsewhere", allow_none=True)
    dotted = ma.fields.Integer(attribute="one.id", allow_none=True)
    defaulted = ma.fields.Integer(dump_default=7)
    called = ma.fields.String(dump_default=lambda: "made")
    method = ma.fields.Method("twice")
    function = ma.fields.Function(lambda obj: "f")
    raw = ma.fields.Raw(allow_none=True)
    secret = ma.fields.String(load_only=True)

    def twice(self, obj):
        n = obj.get("n") if isinstance(obj, dict) else getattr(obj, "n", None)
        return None if n is None else 2 * n


moments = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.sampled_from([None, UTC])
)
maybe = lambda strategy: st.one_of(st.none(), strategy)  # noqa: E731
inner = st.fixed_dictionaries({}, optional={"id": st.integers(-(2**40), 2**40), "name": maybe(st.text())})
values = {
    "n": maybe(st.one_of(st.integers(-(2**70), 2**70), st.booleans(), st.floats(-1e9, 1e9))),
    "text": maybe(st.integers()),
    "x": maybe(st.one_of(st.floats(allow_nan=False), st.integers(-(2**50), 2**50))),
    "s": maybe(st.one_of(st.text(), st.integers(), st.binary(max_size=8).map(lambda b: b.hex().encode()))),
    "flag": maybe(st.one_of(st.booleans(), st.sampled_from([0, 1, "true", "off", "x", 2]))),
    "at": maybe(moments),
    "naive": maybe(moments),
    "stamp": maybe(moments),
    "day": maybe(st.dates()),
    "tags": maybe(st.lists(st.text(max_size=5), max_size=3)),
    "numbers": maybe(st.lists(maybe(st.integers()), max_size=3)),
    "one": maybe(inner),
    "many": maybe(st.lists(inner, max_size=3)),
    "also_many": maybe(st.lists(inner, max_size=3)),
    "only_id": maybe(inner),
    "renamed": maybe(st.integers()),
    "elsewhere": maybe(st.text()),
    "defaulted": st.integers(),
    "called": st.text(),
    "raw": maybe(st.one_of(st.integers(), st.text(), st.lists(st.integers(), max_size=2))),
    "secret": st.text(),
}
objects = st.fixed_dictionaries({}, optional=values)


def as_object(data: dict):
    class Thing:
        pass

    thing = Thing()
    for key, value in data.items():
        setattr(thing, key, value)
    return thing


@settings(max_examples=300, deadline=None)
@given(objects)
def test_a_planned_dump_equals_marshmallows_for_dicts_and_objects(data):
    planned, plain = fast(Kinds), Kinds()
    assert planned.dump(data) == plain.dump(data)
    if "one" not in data or isinstance(data["one"], dict | type(None)):
        thing = as_object(data)
        assert planned.dump(thing) == plain.dump(thing)


@settings(max_examples=100, deadline=None)
@given(st.lists(objects, max_size=4))
def test_many_at_once(items):
    assert fast(Kinds, many=True).dump(items) == Kinds(many=True).dump(items)
    assert fast(Kinds).dump(items, many=True) == Kinds().dump(items, many=True)


def test_rows_and_named_tuples_are_read_by_name():
    engine = sa.create_engine("sqlite://")
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT 5 AS id, 'five' AS name")).first()
    pair = namedtuple("Pair", "id name")(6, "six")
    for obj in (row, pair, {"id": 7, "name": None}):
        assert fast(Inner).dump(obj) == Inner().dump(obj)
    assert fast(Inner).dump(row) == {"id": 5, "name": "five"}


def test_what_cannot_be_planned_is_marshmallows_own():
    class Hooked(ma.Schema):
        n = ma.fields.Integer()

        @ma.post_dump
        def add(self, data, **_kwargs):
            return {**data, "hooked": True}

    class OwnField(ma.fields.Integer):
        def serialize(self, attr, obj, accessor=None, **kwargs):
            return "own"

    class WithOwnField(ma.Schema):
        n = OwnField()
        m = ma.fields.Integer()

    assert fast(Hooked).dump({"n": 1}) == {"n": 1, "hooked": True}
    assert type(fast(Hooked)).dump is Hooked.dump and "dump" not in vars(fast(Hooked))
    assert fast(WithOwnField).dump({"n": 1, "m": 2}) == {"n": "own", "m": 2}


def test_check_mode_raises_on_a_difference(monkeypatch):
    monkeypatch.setattr(fastdump, "CHECK", True)
    assert fast(Inner).dump({"id": 1}) == {"id": 1}
    monkeypatch.setattr(Inner, "dump", lambda self, obj, many=None: {"id": "different"})
    with pytest.raises(AssertionError, match="fast dump of Inner differs"):
        fast(Inner).dump({"id": 1})


def test_the_openapi_document_names_the_schema_not_the_plan():
    planned = fast(Kinds)
    assert type(planned) is Kinds
    assert planned.dump({"at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC) + timedelta(0)})["at"] == (
        "2026-01-02T03:04:05+00:00"
    )
    assert planned.dump({"day": date(2026, 1, 2)})["day"] == "2026-01-02"
