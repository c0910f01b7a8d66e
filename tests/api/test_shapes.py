"""One shape for every resource (issue 11): DELETE answers 204 with no body everywhere; time fields
have one naming; orders and activities come back in the same style."""

from __future__ import annotations

import pytest

from tests.api.endpoints import CREDITED_ON, ENDPOINTS
from tests.api.test_authz_matrix import COLUMNS, MATRIX
from tests.support import credit

API = "/api/v1"


def _operations(document: dict):
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method in ("get", "put", "post", "patch", "delete"):
                yield path, method, operation


def test_every_delete_is_documented_as_204_without_a_body(document):
    deletes = [(path, op) for path, method, op in _operations(document) if method == "delete"]
    assert len(deletes) >= 4, deletes
    for path, operation in deletes:
        ok = {status: r for status, r in operation["responses"].items() if status.startswith("2")}
        assert set(ok) == {"204"}, (path, sorted(ok))
        assert not ok["204"].get("content"), (path, ok["204"])


DELETES = sorted(key for key in ENDPOINTS if key.startswith("DELETE "))


@pytest.mark.parametrize("endpoint", DELETES)
def test_every_delete_answers_204_with_no_body(app, client, world, endpoint):
    """Each DELETE done by a caller the authorization matrix lets do it."""
    caller, target = next(
        column for column, cell in zip(COLUMNS, MATRIX[endpoint], strict=True) if cell in (200, 204)
    )
    url, body = ENDPOINTS[endpoint].request(app, world, target)
    response = client.delete(url, json=body, headers=world.people[caller].headers)
    assert (response.status_code, response.data) == (204, b""), response.get_data(as_text=True)[:300]


# ---- time fields: start_at/end_at for a service window, created_at for when something happened ----

OLD_TIME_NAMES = {"window_start", "window_end", "at"}


def _properties(document: dict, schema: dict, seen: set) -> set[str]:
    """Every property name in a schema, nested ones included (following $refs once)."""
    names: set[str] = set()
    if "$ref" in schema:
        ref = schema["$ref"].rsplit("/", 1)[-1]
        if ref in seen:
            return names
        seen.add(ref)
        return _properties(document, document["components"]["schemas"][ref], seen)
    for name, sub in schema.get("properties", {}).items():
        names.add(name)
        names |= _properties(document, sub, seen)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            names |= _properties(document, schema[key], seen)
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(key, []):
            names |= _properties(document, sub, seen)
    return names


def test_no_operation_uses_the_old_time_names(document):
    """Bodies in and out, and query parameters: a window is start_at/end_at (orders as activities), a
    moment something happened is created_at (events, statement lines), never `at`."""
    for path, method, operation in _operations(document):
        names = {p.get("name") for p in operation.get("parameters", [])}
        body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
        if "schema" in body:
            names |= _properties(document, body["schema"], set())
        for response in operation.get("responses", {}).values():
            content = response.get("content", {}).get("application/json", {})
            if "schema" in content:
                names |= _properties(document, content["schema"], set())
        assert not names & OLD_TIME_NAMES, (method.upper(), path, sorted(names & OLD_TIME_NAMES))


def test_orders_and_activities_speak_the_same_times_and_style(app, client, world):
    from tests.api.endpoints import _activity_body, _order, _order_body, _step

    body = _order_body(app, "S1", starts_now=False)
    order = _step(app, world.resident, "POST", "/orders", body)
    assert (order["start_at"], order["end_at"]) == (body["start_at"], body["end_at"])
    activity = _step(
        app, world.mgr_s1, "POST", f"/sites/{world.sites['S1']}/activities", _activity_body(app, "S1")
    )
    # One style: the object's own fields at the top, the caller's assignment beside them.
    for detail in (order, activity):
        assert {"id", "status", "start_at", "end_at", "my_assignment"} <= set(detail), sorted(detail)
        assert "order" not in detail and "activity" not in detail
    assert order["my_assignment"] is None and activity["my_assignment"] is None
    listed = _step(app, world.resident, "GET", "/orders")["items"][0]
    assert listed["start_at"] == order["start_at"]
    events = _step(app, world.resident, "GET", f"/orders/{order['id']}/events")["items"]
    assert events and all("created_at" in e and "at" not in e for e in events)
    pool_id, _ = _order(app, world, "S1", "pool")
    feed = _step(app, world.vol_s1, "GET", "/tasks/available?lat=30.2712&lng=120.1712&radius_m=2000")["items"]
    task = next(t for t in feed if (t["kind"], t["id"]) == ("order", pool_id))
    assert {"start_at", "end_at"} <= set(task) and not {"window_start", "window_end"} & set(task)


def test_a_statement_line_says_created_at(app, client, world):
    credit(app, world.vol_s1, world.sites["S1"], 90, day=CREDITED_ON)
    lines = client.get(f"{API}/me/timebook/transfers", headers=world.vol_s1.headers).get_json()["items"]
    assert lines and all("created_at" in line and "at" not in line for line in lines)
