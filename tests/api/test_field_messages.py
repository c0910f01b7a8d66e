"""Field-level validation messages in the caller's language: Chinese under zh-CN (the default), English
unchanged under `Accept-Language: en`; and no message the code can produce is left without Chinese.

The messages are enumerated statically: every schema of the app is instantiated and each field's error
messages and each validator's are formatted as marshmallow would; the source is scanned for the texts
the project writes itself (ValidationError, `error=` of validators, the `errors` of services and the
helpers that build them). A parametrised text (an f-string) is sampled with "1" for each value, which
its registered pattern must match.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import marshmallow as ma
import pytest

import volunteer_app
from tests.api.helpers import assert_error
from volunteer_app import field_messages
from volunteer_app.field_messages import field_message, register_field_messages, translate_errors

API = "/api/v1"
SOURCE = Path(volunteer_app.__file__).parent


# ---- through the API ---------------------------------------------------------------------------------


def test_a_422_under_zh_cn_has_chinese_field_messages(client, world):
    body = {"kind": "nonsense", "title": "", "price_minutes": "ten", "stock": -1, "colour": "red"}
    url = f"{API}/sites/{world.sites['S1']}/rewards"
    r = client.post(url, json=body, headers=world.mgr_s1.headers)
    assert_error(r, 422)
    fields = r.json["errors"]["json"]
    assert fields["kind"][0].startswith("必须是以下之一：")
    assert fields["title"] == ["不能为空"]
    assert fields["price_minutes"] == ["必须是整数（JSON 数字）"]
    assert fields["stock"] == ["必须大于或等于 0 且小于或等于 1000000。"]
    assert fields["colour"] == ["未知字段。"]
    r = client.post(url, json={}, headers=world.mgr_s1.headers)
    assert r.json["errors"]["json"]["title"] == ["缺少必填字段。"]


def test_english_is_unchanged_under_accept_language_en(client, world):
    body = {"kind": "nonsense", "title": "", "price_minutes": "ten", "stock": -1, "colour": "red"}
    r = client.post(
        f"{API}/sites/{world.sites['S1']}/rewards",
        json=body,
        headers={**world.mgr_s1.headers, "Accept-Language": "en"},
    )
    fields = r.json["errors"]["json"]
    assert fields["title"] == ["must not be blank"]
    assert fields["price_minutes"] == ["must be an integer (a JSON number)"]
    assert fields["stock"] == ["Must be greater than or equal to 0 and less than or equal to 1000000."]
    assert fields["colour"] == ["Unknown field."]


def test_a_services_own_field_message_is_translated_too(client, world):
    r = client.get(f"{API}/me/timebook/transfers?month=2026-13", headers=world.vol_s1.headers)
    assert r.status_code == 422
    assert r.json["errors"]["query"]["month"] == ["格式应为 YYYY-MM"]
    r = client.post(
        f"{API}/me/notifications/read", json={"ids": [1], "all": True}, headers=world.vol_s1.headers
    )
    assert r.json["errors"]["json"]["ids"] == ["请给出 ids，或 all: true"]


def test_translation_keeps_keys_and_values_that_are_not_messages():
    details = {"json": {"assignments": {"0": {"minutes": ["Not a valid integer."]}}, "ids": [3, 5]}}
    assert translate_errors(details, "zh-CN") == {
        "json": {"assignments": {"0": {"minutes": ["不是有效的整数。"]}}, "ids": [3, 5]}
    }
    assert translate_errors(details, "en") == details
    assert field_message("something nobody registered", "zh-CN") == "something nobody registered"


def test_other_modules_register_their_own(monkeypatch):
    monkeypatch.setattr(field_messages, "FIELD_MESSAGES", dict(field_messages.FIELD_MESSAGES))
    monkeypatch.setattr(field_messages, "FIELD_PATTERNS", list(field_messages.FIELD_PATTERNS))
    register_field_messages(
        {"must not be blank": "不能为空白", re.compile(r"at most (\d+) emoji"): "最多 {0} 个表情"}
    )
    assert field_message("must not be blank", "zh-CN") == "不能为空白"
    assert field_message("at most 3 emoji", "zh-CN") == "最多 3 个表情"
    assert field_message("at most 3 emoji", "en") == "at most 3 emoji"


# ---- every message the code can produce has Chinese --------------------------------------------------


class _Sample(dict):
    """format_map values for a field's message: what marshmallow passes, with stand-ins."""

    def __init__(self, field):
        super().__init__(input="x", obj_type=getattr(field, "OBJ_TYPE", "datetime"))
        self.field = field

    def __missing__(self, key):
        return "{" + key + "}"


def _schemas() -> list[type[ma.Schema]]:
    found, todo = [], [ma.Schema]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("volunteer_app"):
            found.append(cls)
    return found


def _validator_messages(validator) -> set[str]:
    if not isinstance(validator, ma.validate.Validator):
        return set()  # a function: its ValidationError texts are found in the source
    if hasattr(validator, "min") and hasattr(validator, "max"):  # Range, Length: one message per bounds
        if getattr(validator, "equal", None) is not None:
            chosen = validator.message_equal
        elif validator.min is None:
            chosen = validator.message_max
        elif validator.max is None:
            chosen = validator.message_min
        else:
            chosen = validator.message_all
        texts = {validator.error or chosen}
    else:
        texts = {
            getattr(validator, name)
            for name in ("error", "default_message")
            if isinstance(getattr(validator, name, None), str)
        }
    out = set()
    for text in texts:
        try:
            out.add(validator._format_error(1, text))
        except TypeError:  # OneOf, Regexp, …: their own message only
            out.add(validator._format_error(1))
    return out


def _field_messages(field, seen: set[int]) -> set[str]:
    if id(field) in seen:
        return set()
    seen.add(id(field))
    out = set()
    for key, text in field.error_messages.items():
        if key == "format":  # only when dumping, never in a request's errors
            continue
        if key == "invalid_awareness":
            out |= {text.format_map({**_Sample(field), "awareness": a}) for a in ("naive", "aware")}
        else:
            out.add(text.format_map(_Sample(field)))
    for validator in field.validators:
        out |= _validator_messages(validator)
    inner = [getattr(field, name, None) for name in ("inner", "key_field", "value_field")]
    inner += list(getattr(field, "tuple_fields", None) or [])
    for sub in inner:
        if isinstance(sub, ma.fields.Field):
            out |= _field_messages(sub, seen)
    if isinstance(field, ma.fields.Nested) and isinstance(field.schema, ma.Schema):
        out |= _schema_messages(field.schema, seen)
    return out


def _schema_messages(schema: ma.Schema, seen: set[int]) -> set[str]:
    out = set(schema.error_messages.values())
    for field in schema.load_fields.values():
        out |= _field_messages(field, seen)
    return out


def marshmallow_messages(app) -> set[str]:
    out: set[str] = set()
    with app.app_context():
        for cls in _schemas():
            out |= _schema_messages(cls(), set())
    return out


def _sample(node) -> str | None:
    """The text of a message expression: a string, an f-string (values as "1"), or "text" + anything."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "1" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left = _sample(node.left)
        return None if left is None else left + "1"
    return None


def _in_lists(node) -> list:
    """Message expressions inside list literals within `node` (an `errors` structure)."""
    return [e for sub in ast.walk(node) if isinstance(sub, ast.List) for e in sub.elts]


def _name(func) -> str:
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def source_messages() -> dict[str, str]:
    """Every field message the project writes itself: text → where it is written."""
    found: dict[str, str] = {}
    validators = {name for name in dir(ma.validate) if name[:1].isupper()}
    trees = {path: ast.parse(path.read_text(encoding="utf-8")) for path in sorted(SOURCE.rglob("*.py"))}
    # Helpers anywhere in the package that take a `message` (e.g. errors.invalid(field, message)).
    takes_message = {
        f.name: [a.arg for a in f.args.args].index("message")
        for tree in trees.values()
        for f in ast.walk(tree)
        if isinstance(f, ast.FunctionDef) and "message" in [a.arg for a in f.args.args]
    }
    for path, tree in trees.items():
        if path.name == "field_messages.py" and path.parent == SOURCE:
            continue
        candidates = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = _name(node.func)
                if name == "ValidationError" and node.args:
                    first = node.args[0]
                    candidates += _in_lists(first) if isinstance(first, ast.Dict) else [first]
                if name in validators:
                    candidates += [k.value for k in node.keywords if k.arg == "error"]
                candidates += [e for k in node.keywords if k.arg == "errors" for e in _in_lists(k.value)]
                if name in takes_message:
                    at = takes_message[name]
                    candidates += node.args[at : at + 1] + [
                        k.value for k in node.keywords if k.arg == "message"
                    ]
                receiver = node.func.value if isinstance(node.func, ast.Attribute) else None
                if (
                    name == "append"
                    and isinstance(receiver, ast.Call)
                    and _name(receiver.func) == "setdefault"
                ):
                    candidates += node.args  # errors.setdefault(key, []).append("…")
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.List):
                if any(isinstance(t, ast.Subscript) for t in node.targets):
                    candidates += node.value.elts  # errors["days"] = ["…"]
            elif (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Tuple)
                and any(getattr(t, "id", "") == "problem" for t in node.targets)
            ):
                candidates += node.value.elts[1:]  # problem = (field, "…")
        # Inside functions: {field: ["…"]} assigned or returned (an errors structure being built).
        for function in ast.walk(tree):
            if isinstance(function, ast.FunctionDef):
                for node in ast.walk(function):
                    if isinstance(node, ast.Assign | ast.Return) and isinstance(node.value, ast.Dict):
                        candidates += [
                            e for v in node.value.values if isinstance(v, ast.List) for e in v.elts
                        ]
        for node in candidates:
            text = _sample(node)
            if text is not None:
                found.setdefault(text, f"{path.relative_to(SOURCE.parent)}:{node.lineno}")
    return found


def test_the_scan_finds_the_kinds_of_messages_it_is_meant_to():
    found = source_messages()
    for text in (
        "give ids, or all: true",  # ValidationError in a schema
        "printable ASCII without spaces",  # a validator's error=
        "no such site",  # a service's errors=
        "not a station you manage",  # a helper's message
        "must be integers",  # appended, and assigned
        "must be between 1 and 5 or -1",  # a helper's positional message
        "at most 1 hours after 1",  # an f-string in a tuple
        "not volunteers you manage: 1",  # an f-string
        "must be one of: 1",  # text + a join
    ):
        assert text in found, text


def test_every_field_message_the_code_can_produce_has_chinese(app):
    missing = {
        text: where
        for text, where in {
            **{m: "marshmallow" for m in marshmallow_messages(app)},
            **source_messages(),
        }.items()
        if text.strip() and field_message(text, "zh-CN") == text
    }
    assert not missing, "no zh-CN for these field messages (see volunteer_app/field_messages.py):\n" + (
        "\n".join(f"  {where}: {text!r}" for text, where in sorted(missing.items(), key=lambda kv: kv[1]))
    )


@pytest.mark.parametrize(
    ("english", "chinese"),
    [
        ("Must be one of: ios, android.", "必须是以下之一：ios, android。"),
        ("Not a valid naive datetime.", "不是有效的不带时区的日期时间。"),
        ("Not a valid date.", "不是有效的日期。"),
        (
            "Must be greater than or equal to -90 and less than or equal to 90.",
            "必须大于或等于 -90 且小于或等于 90。",
        ),
        ("Must be less than 5.", "必须小于 5。"),
        ("Shorter than minimum length 6.", "长度不能少于 6。"),
        ("not a checked-out assignment of this activity", "不是本活动中已签退的分配"),
    ],
)
def test_parametrised_messages(english, chinese):
    assert field_message(english, "zh-CN") == chinese
