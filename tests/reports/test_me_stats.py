"""A volunteer's own summary (GET /me/stats) on tests/reports/rank_world.py, by hand, at 10 December 2026
on V1's clock (UTC+8), three months (October, November, December):

Service by month of service: October none; November O1 120 + O2 60 + A2 30 = 210 in 3 sessions;
December O7 45 (01:00 on 1 December local, 17:00 UTC on 30 November) in 1.
Credited by posting month: October 20 (23:00 on 31 October local); November 30 (00:30 on 1 November
local) + 120 + 60 + 30 = 240; December 45. Lifetime 305 minutes.
"""

from __future__ import annotations

import pytest
import time_machine

from tests.api.helpers import assert_error
from tests.conftest import built_once
from tests.reports import rank_world
from tests.support import headers_now

NOW = rank_world.utc("2026-12-10T04:00")


@pytest.fixture
def town(app):
    return built_once(app, rank_world.build)


def my_stats(app, client, town, who: str, **query):
    with time_machine.travel(NOW, tick=False):
        return client.get("/api/v1/me/stats", query_string=query, headers=headers_now(app, town.people[who]))


def month(name, minutes, hours, sessions, credited, credited_hours) -> dict:
    return {
        "month": name,
        "service_minutes": minutes,
        "service_hours": hours,
        "sessions": sessions,
        "credited_minutes": credited,
        "credited_hours": credited_hours,
    }


def test_three_months_with_the_star_progress(app, client, town):
    # S1 (V1's issuing station) counts stars at 2, 5 and 10 hours: 305 minutes is level 2.
    r = client.patch(
        f"/api/v1/sites/{town.sites['S1']}/settings",
        json={"star_thresholds_hours": [2, 5, 10]},
        headers=headers_now(app, town.people["mgr_s1"]),
    )
    assert r.status_code == 200
    r = my_stats(app, client, town, "V1", months=3)
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {
        "timezone": "Asia/Shanghai",
        "from": "2026-10-01",
        "to": "2026-12-31",
        "months": [
            month("2026-10", 0, 0.0, 0, 20, 0.33),
            month("2026-11", 210, 3.5, 3, 240, 4.0),
            month("2026-12", 45, 0.75, 1, 45, 0.75),
        ],
        "totals": {
            "service_minutes": 255,
            "service_hours": 4.25,
            "sessions": 4,
            "credited_minutes": 305,
            "credited_hours": 5.08,
        },
        "star": {
            "level": 2,
            "lifetime_minutes": 305,
            "lifetime_hours": 5.08,
            "next_level": 3,
            "next_threshold_hours": 10,
            "minutes_to_next": 295,
        },
    }


def test_default_twelve_months_and_the_top_level(app, client, town):
    r = client.patch(
        f"/api/v1/sites/{town.sites['S1']}/settings",
        json={"star_thresholds_hours": [1, 5]},
        headers=headers_now(app, town.people["mgr_s1"]),
    )
    assert r.status_code == 200
    answer = my_stats(app, client, town, "V1").get_json()
    assert (answer["from"], answer["to"], len(answer["months"])) == ("2026-01-01", "2026-12-31", 12)
    assert answer["months"][0]["month"] == "2026-01" and answer["totals"]["sessions"] == 4
    assert answer["star"] == {
        "level": 2,
        "lifetime_minutes": 305,
        "lifetime_hours": 5.08,
        "next_level": None,
        "next_threshold_hours": None,
        "minutes_to_next": None,
    }


def test_a_volunteer_with_no_book_yet(app, client, town):
    """V7 served in October (O6, never credited): service without a book; default thresholds."""
    answer = my_stats(app, client, town, "V7", months=3).get_json()
    assert answer["months"][0] == month("2026-10", 45, 0.75, 1, 0, 0.0)
    assert answer["totals"]["credited_minutes"] == 0
    assert answer["star"] == {
        "level": 0,
        "lifetime_minutes": 0,
        "lifetime_hours": 0.0,
        "next_level": 1,
        "next_threshold_hours": 100,
        "minutes_to_next": 6000,
    }


def test_only_volunteers_and_bad_input(app, client, town):
    assert_error(my_stats(app, client, town, "mgr_c"), 403, "auth.forbidden")
    assert_error(my_stats(app, client, town, "resident"), 403, "auth.forbidden")
    assert_error(client.get("/api/v1/me/stats"), 401, "token.missing")
    for months in (0, 37, "x", "1.5"):
        error = assert_error(my_stats(app, client, town, "V1", months=months), 422, "validation.failed")
        assert set(error["errors"]["query"]) == {"months"}
