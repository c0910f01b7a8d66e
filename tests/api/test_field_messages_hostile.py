"""Every field message the API sends is in the caller's language, found by asking: hostile query
strings and headers at every operation of the app's own OpenAPI document (which flask-smorest builds
from the url_map), under `Accept-Language: zh-CN`. No message in `errors` may be Latin letters alone
(an English text left untranslated); under `en` the same requests answer in English.

(Hostile JSON bodies at every operation are tests/api/test_bad_input.py, which checks the same;
test_field_messages.py enumerates the messages statically.)
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.api.helpers import english_messages
from tests.api.test_bad_input import BY_PATH, DOCUMENT, _caller
from volunteer_app.extensions import limiter

# What a query parameter of each type must refuse (or take): wrong types, bounds, formats, junk.
BAD_QUERY = {
    "integer": ["x", "1.5", "-1", "0", "99999999999999999999999", "", "1e3", "true", "\u0661"],
    "number": ["x", "nan", "inf", "-inf", "1e999", "", "１"],
    "boolean": ["maybe", "2", "", "TRUE!"],
    "string": ["", " ", "\u200b", "x" * 2000, "\x00", "%00", "2026-13-45", "不存在"],
}
BAD_FORMAT = {
    "date": ["2026-13-45", "20260101", "x", "2026-02-30"],
    "date-time": ["x", "2026-05-01 09:00", "2026-05-01T09:00:00", "1714525200"],
}
BAD_HEADERS = [
    {"Idempotency-Key": "x" * 300},
    {"Idempotency-Key": ""},
    {"If-None-Match": "garbage"},
]


def _operations():
    found = []
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete") and (method.upper(), path) in BY_PATH:
                found.append((method.upper(), path, operation))
    return sorted(found, key=lambda found: found[:2])


OPERATIONS = _operations()


def _query_cases(operation: dict) -> list[tuple[str, dict]]:
    cases = [("unknown parameter", {"unexpected_parameter": "1"})]
    for parameter in operation.get("parameters", []):
        if parameter.get("in") != "query":
            continue
        schema = parameter.get("schema", {})
        kind = schema.get("type", "string")
        values = BAD_QUERY.get(kind, BAD_QUERY["string"]) + BAD_FORMAT.get(schema.get("format"), [])
        if schema.get("enum"):
            values = [*values, "nonsense"]
        cases += [(f"{parameter['name']}={v[:20]!r}", {parameter["name"]: v}) for v in values]
    return cases


def _headers(app, world, method: str, path: str):
    endpoint = BY_PATH[(method, path)]
    caller, target = _caller(endpoint)
    url, body = endpoint.request(app, world, target)
    headers = {}
    if caller != "anonymous":
        person = world.people[caller]
        headers["Authorization"] = f"Bearer {person.refresh if endpoint.token == 'refresh' else person.token}"
    return url, body, headers


@pytest.mark.parametrize(
    ("method", "path", "operation"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS]
)
def test_every_field_message_is_chinese_under_zh_cn(app, client, world, method, path, operation):
    url, body, headers = _headers(app, world, method, path)
    parts = urlsplit(url)
    url, valid_query = parts.path, dict(parse_qsl(parts.query))
    english, failed = [], []
    cases = [(label, query, {}) for label, query in _query_cases(operation)]
    if method != "GET":
        cases += [(f"header {h}", {}, h) for h in BAD_HEADERS]
    for label, query, extra in cases:
        with app.app_context():
            limiter.reset()
        for language in ("zh-CN", "zh-CN,zh;q=0.9,en;q=0.8", "zh"):
            r = client.open(
                url,
                method=method,
                query_string={**valid_query, **query},
                headers={**headers, **extra, "Accept-Language": language},
                json=body,
            )
            r.get_data()  # a streamed download is read to its end, and closed
            r.close()
            if r.status_code >= 500:
                failed.append(f"{label}: {r.status_code}")
            answer = r.get_json(silent=True)
            if isinstance(answer, dict) and r.status_code >= 400:
                found = english_messages([answer.get("message"), answer.get("errors")])
                if found:
                    english.append(f"{label} ({language}): {found}")
    assert not failed, failed
    assert not english, f"{method} {path}: English under zh-CN:\n" + "\n".join(english)


def test_the_hostile_requests_do_reach_field_messages(app, client, world):
    """The test above is not vacuous: a list's bad limit gives field messages, Chinese under zh-CN and
    English under en; and the checker catches an English one."""
    url, _body, headers = _headers(app, world, "GET", "/api/v1/me/certificates")
    zh = client.get(url, query_string={"limit": "x"}, headers={**headers, "Accept-Language": "zh-CN"})
    en = client.get(url, query_string={"limit": "x"}, headers={**headers, "Accept-Language": "en"})
    assert zh.status_code == en.status_code == 422
    assert zh.json["errors"]["query"]["limit"] and not english_messages(zh.json["errors"])
    assert english_messages(en.json["errors"]) == en.json["errors"]["query"]["limit"]
    mixed = {"json": {"a": ["Not a valid integer."], "b": ["不是有效的整数。"], "c": [3]}}
    assert english_messages(mixed) == ["Not a valid integer."]
    assert english_messages({"json": {"month": ["格式应为 YYYY-MM"]}}) == []
