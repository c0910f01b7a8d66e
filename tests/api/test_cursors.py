"""Cursors: page 2 of a list keyed on a time (the activity lists) is served, and any cursor the server
did not write is one 400 `pagination.bad_cursor` in the usual body, never a 500 (issue 11, defect 1)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from tests.activities.test_activities import activity_body
from tests.api.helpers import assert_error
from volunteer_app.activities.models import Activity

API = "/api/v1"


def forged(values) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def raw(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _activities(app, client, world, n: int) -> list[int]:
    """n activities at S1, a day apart, each with vol_s1 signed up."""
    ids = []
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    for i in range(n):
        body = activity_body(app, start=start + timedelta(days=i), title=f"活动{i}")
        created = client.post(
            f"{API}/sites/{world.sites['S1']}/activities", json=body, headers=world.mgr_s1.headers
        )
        assert created.status_code == 201, created.get_json()
        ids.append(created.json["id"])
        signed = client.post(f"{API}/activities/{ids[-1]}/signup", headers=world.vol_s1.headers)
        assert signed.status_code == 201, signed.get_json()
    return ids


def _walk(client, path: str, person, limit: int) -> list[int]:
    seen, cursor = [], None
    for _ in range(50):
        query = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        page = client.get(f"{API}{path}", query_string=query, headers=person.headers)
        assert page.status_code == 200, (page.status_code, page.get_json())
        seen += [item["id"] for item in page.json["items"]]
        cursor = page.json["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("the walk never ended")


@pytest.mark.parametrize("mine", [False, True], ids=["site activities", "my activities"])
def test_the_activity_lists_walk_to_their_end(app, client, world, mine):
    ids = _activities(app, client, world, 5)
    path = "/me/activities" if mine else f"/sites/{world.sites['S1']}/activities"
    assert _walk(client, path, world.vol_s1, limit=2) == ids  # by start time, each once


def test_a_time_key_is_read_back_as_an_aware_utc_datetime():
    from volunteer_app.pagination import _decode, _reader

    readers = [_reader(Activity.start_at), _reader(Activity.id)]
    assert _decode(forged(["2026-01-02T03:04:05+08:00", 7]), readers) == [
        datetime(2026, 1, 1, 19, 4, 5, tzinfo=UTC),
        7,
    ]


FORGED = {
    "not base64": "%%%",
    "base64 of no JSON": raw("not json"),
    "an object": forged({"start_at": "2026-01-01T00:00:00+00:00", "id": 1}),
    "empty list": forged([]),
    "one value": forged(["2026-01-01T00:00:00+00:00"]),
    "three values": forged(["2026-01-01T00:00:00+00:00", 1, 2]),
    "swapped": forged([1, "2026-01-01T00:00:00+00:00"]),
    "naive time": forged(["2026-01-01T00:00:00", 1]),
    "garbage time": forged(["yesterday", 1]),
    "time as a number": forged([1767225600, 1]),
    "time as null": forged([None, 1]),
    "nested time": forged([["2026-01-01T00:00:00+00:00"], 1]),
    "object time": forged([{"t": 1}, 1]),
    "float id": forged(["2026-01-01T00:00:00+00:00", 1.5]),
    "string id": forged(["2026-01-01T00:00:00+00:00", "1"]),
    "boolean id": forged(["2026-01-01T00:00:00+00:00", True]),
    "huge id": forged(["2026-01-01T00:00:00+00:00", 2**70]),
    "NaN id": raw('["2026-01-01T00:00:00+00:00",NaN]'),
    "year 0": forged(["0000-01-01T00:00:00+00:00", 1]),
    "overlong": "A" * 201,
    "deeply nested": raw("[" * 5000 + "]" * 5000)[:200],
    "deep within the limit": raw("[" * 140 + "]" * 140)[:200],
}


@pytest.mark.parametrize("cursor", list(FORGED.values()), ids=list(FORGED))
@pytest.mark.parametrize("mine", [False, True], ids=["site activities", "my activities"])
def test_a_forged_time_cursor_is_400(app, client, world, mine, cursor):
    path = "/me/activities" if mine else f"/sites/{world.sites['S1']}/activities"
    response = client.get(
        f"{API}{path}",
        query_string={"cursor": cursor},
        headers={**world.vol_s1.headers, "Accept-Language": "en"},
    )
    error = assert_error(response, 400, "pagination.bad_cursor")
    assert error["errors"] == {"query": {"cursor": ["invalid"]}}


FORGED_OTHERS = {
    "float for an id": forged([1.5]),
    "string for an id": forged(["3"]),
    "huge id": forged([2**64]),
    "Infinity": raw("[Infinity]"),
    "object": forged([{"id": 1}]),
    "list": forged([[1]]),
    "overlong": "A" * 201,
}


@pytest.mark.parametrize("cursor", list(FORGED_OTHERS.values()), ids=list(FORGED_OTHERS))
@pytest.mark.parametrize(
    ("path", "who"),
    [
        ("/sites", "resident"),
        ("/orders", "resident"),
        ("/me/notifications", "resident"),
        ("/me/timebook/transfers", "vol_s1"),
        ("/tasks/available?lat=30.27&lng=120.17", "vol_s1"),
    ],
)
def test_a_forged_cursor_is_400_on_other_lists(client, world, path, who, cursor):
    url = f"{API}{path}{'&' if '?' in path else '?'}cursor={quote(cursor)}"
    response = client.get(url, headers=world.people[who].headers)
    assert_error(response, 400, "pagination.bad_cursor")
