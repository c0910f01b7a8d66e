"""Bad input to every operation with a JSON body, from the app's own OpenAPI document.

For each operation, a caller who could succeed (the first column of the authorization matrix that
gets a 2xx) on objects built for the purpose (tests/api/endpoints.py) sends, to that very URL:
deep nesting (10,000 levels), the body under other content types (text/plain, form, multipart, none),
an unknown key, and for every field of the body (nested objects and array items included) blank and
zero-width text and wrong JSON types. Every answer must be a 4xx in the one error format, never 2xx or
5xx, and every row of every table must be as before. The valid request is sent last and must succeed,
so the refusals above were decided by the input, not by who called or on what.
"""

from __future__ import annotations

import copy
import json
from urllib.parse import urlencode

import pytest

from tests.api.endpoints import ENDPOINTS, Endpoint
from tests.api.helpers import ERROR_KEYS, OPENAPI, english_messages
from tests.api.test_authz_matrix import COLUMNS, MATRIX
from tests.conftest import _rows, make_app
from volunteer_app.extensions import limiter

# The document comes from an app of the same factory that never opens its database (collection
# happens before the session's database exists; test_document_is_the_apps_own checks they agree).
DOCUMENT = make_app("sqlite://").test_client().get(OPENAPI).get_json()

DEEP_ARRAY = "[" * 10_000 + "]" * 10_000
DEEP_OBJECT = '{"a":' * 10_000 + "1" + "}" * 10_000  # 60 kB, under the 64 KiB limit
BLANKS = ("   ", "\t\n ", "\u200b", "\u200c\u200d", "\u2060", "\ufeff", " \u200b\u3000 ")
# What a field of each JSON type must refuse (a JSON type that is not its own).
WRONG = {
    "string": [12345, True, ["x"], {"x": 1}],
    "integer": ["30", "30.1", True, 30.5, None, [1]],
    "number": ["30.1", "30", True, None, [1]],
    "boolean": ["yes", "true", 1, 0, "false", None],
    "array": ["x", {"a": 1}, 1],
    "object": ["x", [1], 1],
}
WRONG_FORMAT = {
    "date": ["20260101", "2026-1-1", "2026-01-01T00:00:00+08:00", "01/02/2026"],
    "date-time": ["20260101", "2026-05-01 09:00", "2026-05-01T09:00:00", "1714525200"],
}


def _resolve(schema: dict) -> dict:
    while "$ref" in schema:
        schema = DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if "allOf" in schema:  # flask-smorest does not write these today; be safe if it starts
        merged: dict = {"type": "object", "properties": {}}
        for part in schema["allOf"]:
            merged["properties"].update(_resolve(part).get("properties", {}))
        return merged
    return schema


def _operations() -> list[tuple[str, str, dict]]:
    found = []
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if method not in ("post", "put", "patch", "delete"):
                continue  # "parameters" and the reads
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                found.append((method.upper(), path, _resolve(content["application/json"]["schema"])))
    return sorted(found)


OPERATIONS = _operations()
BY_PATH: dict[tuple[str, str], Endpoint] = {(e.method, e.path): e for e in ENDPOINTS.values()}


def _caller(endpoint: Endpoint) -> tuple[str, str]:
    """The first (caller, side) of the authorization matrix that succeeds on this endpoint."""
    for (caller, target), cell in zip(COLUMNS, MATRIX[endpoint.key], strict=True):
        if isinstance(cell, int) and cell < 300:
            return caller, target
    raise AssertionError(f"no caller succeeds on {endpoint.key}")


def _field_mutations(schema: dict, value) -> list[tuple[str, object]]:
    """(label, bad value) pairs for one field of this schema whose valid value is `value`."""
    schema = _resolve(schema)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    bad: list[tuple[str, object]] = []
    if kind == "string":
        bad += [(f"blank {b!r}", b) for b in BLANKS]
        bad += [(f"format {v!r}", v) for v in WRONG_FORMAT.get(schema.get("format"), [])]
    bad += [(f"type {wrong!r}", wrong) for wrong in WRONG.get(kind, [])]
    if kind == "array":
        items = _resolve(schema.get("items", {}))
        sample = value[0] if isinstance(value, list) and value else None
        if items.get("type") == "object" and isinstance(sample, dict):
            for label, inner in _body_mutations(items, sample):
                bad.append((f"[0] {label}", [inner, *value[1:]]))
        elif sample is not None or items.get("type") in WRONG:
            for label, inner in _field_mutations(items, sample):
                bad.append((f"[0] {label}", [inner]))
    if kind == "object" and isinstance(value, dict):
        bad += list(_body_mutations(schema, value))
    return [(label, v) for label, v in bad if not (v is None and schema.get("nullable"))]


def _body_mutations(schema: dict, body: dict):
    """(label, mutated body) for every field of `schema` (given or not in `body`), and an unknown key."""
    schema = _resolve(schema)
    yield "unknown key", {**body, "unexpected_key": 1}
    for name, field in schema.get("properties", {}).items():
        if field.get("readOnly"):
            continue
        for label, bad in _field_mutations(field, body.get(name)):
            yield f"{name}: {label}", {**body, name: bad}


def _requests(body: dict) -> list[tuple[str, dict]]:
    """Every bad request for one operation: (label, test-client keyword arguments)."""
    plain = body or {"x": "1"}  # a non-empty body under each other content type
    text = json.dumps(plain, ensure_ascii=False)
    requests = [
        ("deep array", {"data": DEEP_ARRAY, "content_type": "application/json"}),
        ("deep object", {"data": DEEP_OBJECT, "content_type": "application/json"}),
        ("deep in a field", {"data": '{"x": ' + DEEP_ARRAY + "}", "content_type": "application/json"}),
        ("not JSON", {"data": "{'a': 1,", "content_type": "application/json"}),
        ("text/plain", {"data": text, "content_type": "text/plain"}),
        ("text/plain; charset", {"data": text, "content_type": "text/plain; charset=utf-8"}),
        ("no content type", {"data": text.encode()}),
        (
            "form",
            {
                "data": urlencode({k: str(v) for k, v in plain.items()}),
                "content_type": "application/x-www-form-urlencoded",
            },
        ),
        ("multipart", {"data": {k: str(v) for k, v in plain.items()}, "content_type": "multipart/form-data"}),
        ("a JSON array", {"json": [body]}),
        ("a JSON string", {"json": "x"}),
        ("JSON null", {"data": "null", "content_type": "application/json"}),
    ]
    return requests


def _is_one_error(response) -> str | None:
    """None if the response is a 4xx in the one error format, in Chinese (the requests ask for zh-CN:
    the message and every field message), else what is wrong with it."""
    if not 400 <= response.status_code < 500:
        return f"status {response.status_code}: {response.get_data(as_text=True)[:200]}"
    body = response.get_json(silent=True)
    if not isinstance(body, dict) or set(body) not in (ERROR_KEYS, ERROR_KEYS | {"errors"}):
        return f"not the error format: {response.get_data(as_text=True)[:200]}"
    if body["code"] != response.status_code or not body["message"]:
        return f"inconsistent error body: {body}"
    english = english_messages([body["message"], body.get("errors")])
    if english:
        return f"English under zh-CN: {english}"
    return None


@pytest.mark.parametrize(("method", "path", "schema"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS])
def test_bad_input_is_refused_and_changes_nothing(app, client, world, method, path, schema):
    endpoint = BY_PATH[(method, path)]
    caller, target = _caller(endpoint)
    url, body = endpoint.request(app, world, target)
    body = copy.deepcopy(body) if body is not None else {}
    headers = {"Accept-Language": "zh-CN"}
    if caller != "anonymous":
        person = world.people[caller]
        headers["Authorization"] = f"Bearer {person.refresh if endpoint.token == 'refresh' else person.token}"

    cases = _requests(body) + [(label, {"json": bad}) for label, bad in _body_mutations(schema, body)]
    with app.app_context():
        before = _rows()
    wrong = []
    for label, kwargs in cases:
        with app.app_context():
            limiter.reset()  # each case is judged on its input, not on a rate limit its siblings hit
        try:
            problem = _is_one_error(client.open(url, method=method, headers=headers, **kwargs))
        except Exception as exc:  # TESTING propagates what would be a 500
            problem = f"raised {exc!r}"[:200]
        if problem:
            wrong.append(f"{label}: {problem}")
    assert not wrong, f"{method} {path} as {caller}:\n" + "\n".join(wrong)
    with app.app_context():
        after = _rows()
    changed = {name: (len(before[name]), len(after[name])) for name in before if before[name] != after[name]}
    assert not changed, f"{method} {path}: bad input changed {changed}"

    with app.app_context():
        limiter.reset()
    valid = client.open(url, method=method, headers=headers, json=body)
    assert valid.status_code < 300, (label, valid.status_code, valid.get_json())


def test_every_operation_with_a_body_is_tried():
    """The document lists the operations with a body, and each has a valid request to start from."""
    assert len(OPERATIONS) >= 40, len(OPERATIONS)
    missing = [f"{m} {p}" for m, p, _ in OPERATIONS if (m, p) not in BY_PATH]
    assert not missing, f"add these to tests/api/endpoints.py: {missing}"
