"""Fast dumps: a marshmallow schema's `dump`, planned once, for the phone's hottest responses.

marshmallow serializes each value through four layers (the field's `serialize`, its `get_value`, the
schema's accessor, `utils.get_value`) before the field's own formatting: on the task feed's 20 items
that was 340 field calls, a sixth of the request's Python. `fast(SchemaClass)` gives an instance of the
schema (so the OpenAPI document is the same) whose `dump` walks a plan made once from its fields: per
field the key, how to read the value and the field's own `_serialize` (the formatting marshmallow
would apply), with ints, floats and strs passed through as they are (what `int()`, `float()` and
`str()` would return), and Nested and List fields planned in turn.

A dict (what services hand the hottest responses) is dumped by one function written out for the
schema (`_dict_dump`): the same reads, defaults and formatting inline, ISO dates by the function
marshmallow calls for them, lists of strings in one comprehension (a feed page: 156 → 99 µs, against
marshmallow's 393).

Only what the plan reproduces exactly is planned: a schema with dump hooks or its own `get_attribute`,
or a field that overrides `serialize` or `get_value`, is dumped by marshmallow itself (the whole schema,
or that one field). With `CHECK` set (the test suite sets it), every fast dump is compared with
marshmallow's own and a difference raises: the suite's requests are the proof that the two agree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import marshmallow as ma
from marshmallow import missing
from marshmallow.utils import _get_value_for_key
from sqlalchemy.engine import Row

CHECK = False  # compare every fast dump with marshmallow's (tests/conftest.py sets it)

_Field = ma.fields.Field
_BY_NAME = (tuple, Row)  # a namedtuple, a row: indexed by position only


def fast(schema_class: type[ma.Schema], **kwargs) -> ma.Schema:
    """An instance of `schema_class` (with `kwargs`) whose `dump` follows a plan made once."""
    schema = schema_class(**kwargs)
    plan = _plan(schema)
    if plan is None:
        return schema  # marshmallow itself: nothing here could be planned exactly
    marshmallow_dump = schema.dump

    def dump(obj, *, many: bool | None = None):
        many = schema.many if many is None else bool(many)
        result = [plan(item) for item in obj] if many and obj is not None else plan(obj)
        if CHECK:
            expected = marshmallow_dump(obj, many=many)
            if result != expected:
                raise AssertionError(
                    f"fast dump of {schema_class.__name__} differs: {result!r} != {expected!r}"
                )
        return result

    schema.dump = dump  # the instance's own: apispec still documents schema_class
    return schema


def _plain(schema: ma.Schema) -> bool:
    hooks = schema._hooks
    return (
        not any(hooks[key] for key in hooks if "dump" in str(key))
        and type(schema).get_attribute is ma.Schema.get_attribute
        and schema.dict_class is dict
    )


def _plan(schema: ma.Schema) -> Callable[[Any], dict] | None:
    """One object's dump by `schema` (many=False), or None when it cannot be planned exactly."""
    if not _plain(schema):
        return None
    fields = list(schema.dump_fields.items())
    steps = [
        (name if field.data_key is None else field.data_key, _step(name, field)) for name, field in fields
    ]
    of_dict = _dict_dump(fields, steps)

    def dump_one(obj) -> dict:
        if type(obj) is dict:
            return of_dict(obj)
        out = {}
        for key, step in steps:
            value = step(obj)
            if value is not missing:
                out[key] = value
        return out

    return dump_one


def _dict_dump(fields: list, steps: list) -> Callable[[dict], dict]:
    """The plan's dump of a dict (what services hand the hottest responses: a feed page's 20 entries),
    written out as one function: each field's read, default and formatting inline, as `_step` does
    them for a dict (the item, else an attribute of dict; the default when missing; ints, floats and
    strs passed through), instead of three calls a field. Fields `_step` hands to marshmallow, or read
    by a dotted name, call their step."""
    env: dict[str, Any] = {"missing": missing}
    lines = ["def dump(obj):", "    out = {}"]
    for i, ((name, field), (key, step)) in enumerate(zip(fields, steps, strict=True)):
        attribute = field.attribute or name
        if not getattr(step, "planned", False) or "." in attribute:  # (marshmallow's, or dotted)
            env[f"s{i}"] = step
            lines += [f"    v = s{i}(obj)", "    if v is not missing:", f"        out[{key!r}] = v"]
            continue
        lines.append(
            f"    v = obj[{attribute!r}] if {attribute!r} in obj else getattr(obj, {attribute!r}, missing)"
        )
        default = field.dump_default
        if default is not missing:
            env[f"d{i}"] = default
            lines += [
                "    if v is missing:",
                f"        v = d{i}()" if callable(default) else f"        v = d{i}",
            ]
        lines.append("    if v is not missing:")
        passes = _passes_through(field)  # (None for Nested and List: neither formats as a number or str)
        temporal = _temporal_format(field)
        inner = field.inner if isinstance(field, ma.fields.List) else None
        inner_passes = _passes_through(inner) if inner is not None else None
        if passes is not None:
            env[f"t{i}"], env[f"z{i}"] = passes, field._serialize
            value = f"v if type(v) is t{i} or v is None else z{i}(v, {name!r}, obj)"
        elif temporal is not None:  # (what _TemporalField._serialize calls: None stays None)
            env[f"iso{i}"] = temporal
            value = f"None if v is None else iso{i}(v)"
        elif inner_passes is not None and type(field)._serialize is ma.fields.List._serialize:
            env[f"t{i}"], env[f"z{i}"] = inner_passes, inner._serialize
            each = f"x if type(x) is t{i} or x is None else z{i}(x, {name!r}, obj)"
            value = f"None if v is None else [{each} for x in v]"
        else:
            env[f"f{i}"] = _formatter(field, name)
            value = f"f{i}(v, obj)"
        lines.append(f"        out[{key!r}] = {value}")
    lines.append("    return out")
    exec("\n".join(lines), env)  # (the code is this function's own, from the schema's field names)
    return env["dump"]


def _temporal_format(field: _Field) -> Callable[[Any], Any] | None:
    """For a date or time field formatting by one of its SERIALIZATION_FUNCS (ISO 8601, a timestamp),
    that function: `_TemporalField._serialize` is then `None if v is None else func(v)`."""
    temporal = getattr(ma.fields, "_TemporalField", None)
    if (
        temporal is None
        or not isinstance(field, temporal)
        or type(field)._serialize is not temporal._serialize
    ):
        return None
    return field.SERIALIZATION_FUNCS.get(field.format or field.DEFAULT_FORMAT)


def _step(name: str, field: _Field) -> Callable[[Any], Any]:
    """obj → the field's dumped value (or `missing`, which leaves the key out). A step that reads and
    formats the value here (not marshmallow) says so (`step.planned`)."""
    kind = type(field)
    if kind.serialize is not _Field.serialize or kind.get_value is not _Field.get_value:
        return lambda obj: field.serialize(name, obj, accessor=ma.utils.get_value)
    if not field._CHECK_ATTRIBUTE:  # Method, Function: computed from the object, not read from it
        return lambda obj: field._serialize(None, name, obj)
    read = _reader(field.attribute or name)
    formatted = _formatter(field, name)
    default = field.dump_default

    def step(obj):
        value = read(obj)
        if value is missing:
            value = default() if callable(default) else default
            if value is missing:
                return missing
        return formatted(value, obj)

    step.planned = True
    return step


def _reader(key: str) -> Callable[[Any], Any]:
    """marshmallow's `utils.get_value(obj, key, missing)`, quicker for what responses are made of."""
    parts = key.split(".")
    if len(parts) > 1:
        readers = [_reader(part) for part in parts]

        def dotted(obj):
            for read in readers:
                obj = read(obj)
            return obj

        return dotted

    def read(obj):
        if type(obj) is dict:  # what get_value does for a dict: the item, else an attribute of dict
            try:
                return obj[key]
            except KeyError:
                return getattr(obj, key, missing)
        if isinstance(obj, _BY_NAME):  # obj[key] raises TypeError, and get_value falls back to this
            return getattr(obj, key, missing)
        return _get_value_for_key(obj, key, missing)

    return read


def _formatter(field: _Field, name: str) -> Callable[[Any, Any], Any]:
    """(value, obj) → what the field's `_serialize(value, name, obj)` returns."""
    kind = type(field)
    if isinstance(field, ma.fields.Nested) and kind._serialize is ma.fields.Nested._serialize:
        nested = field.schema
        plan = _plan(nested)
        if plan is not None:
            many = nested.many or field.many

            def nested_dump(value, _obj):
                if value is None:
                    return None
                return [plan(item) for item in value] if many else plan(value)  # value is not None

            return nested_dump
    if isinstance(field, ma.fields.List) and kind._serialize is ma.fields.List._serialize:
        inner = _formatter(field.inner, name)

        def each(value, obj):
            return None if value is None else [inner(item, obj) for item in value]

        return each
    passes = _passes_through(field)
    serialize = field._serialize
    if passes is not None:
        return lambda value, obj: (
            value if type(value) is passes or value is None else serialize(value, name, obj)
        )
    return lambda value, obj: serialize(value, name, obj)


def _passes_through(field: _Field) -> type | None:
    """The type whose values the field's `_serialize` returns unchanged (int for Integer: `int(v)` is v)."""
    kind = type(field)
    if kind._serialize is ma.fields.Number._serialize and not field.as_string:
        return {ma.fields.Integer: int, ma.fields.Float: float}.get(
            _base(kind, (ma.fields.Integer, ma.fields.Float))
        )
    if kind._serialize is ma.fields.String._serialize:
        return str
    return None


def _base(kind: type, bases: tuple[type, ...]) -> type | None:
    """Which of `bases` `kind` is, when it changes nothing of the base's number formatting."""
    for base in bases:
        if issubclass(kind, base) and kind._format_num is base._format_num and kind.num_type is base.num_type:
            return base
    return None
