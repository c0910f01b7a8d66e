"""The volunteer leaderboard (GET /sites/{id}/leaderboard) on tests/reports/rank_world.py, by hand:

November at I1 (audited minutes, sessions): V1 210 (O1 120, O2 60, A2 at I1 itself 30; 3),
V3 150 (O4 90, A1 60; 2), V2 60 (1), V5 60 (1): V2 and V5 tie, so both are 3rd, V2 first by id.
V4 was a no-show: not on the board. V6 served at S4 (I2), V7 in October.
November at S2: V3 150 (2), V5 60 (1).
"""

from __future__ import annotations

import pytest

from tests.api.helpers import assert_error
from tests.conftest import built_once
from tests.reports import rank_world
from tests.support import headers_now


@pytest.fixture
def town(app):
    return built_once(app, rank_world.build)


def get(app, client, town, who: str, site: str, **query):
    return client.get(
        f"/api/v1/sites/{town.sites[site]}/leaderboard",
        query_string=query,
        headers=headers_now(app, town.people[who]),
    )


def board(app, client, town, who: str, site: str, **query) -> dict:
    response = get(app, client, town, who, site, **query)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def row(town, rank, code, name, masked, station, minutes, hours, sessions) -> dict:
    return {
        "rank": rank,
        "volunteer_id": town.people[code],
        "name": name,
        "name_masked": masked,
        "station": f"站点{station}",
        "minutes": minutes,
        "hours": hours,
        "sessions": sessions,
    }


def test_november_at_the_institute_ranked_masked_and_tied(app, client, town):
    answer = board(app, client, town, "mgr_i1", "I1", period="2026-11")
    assert (answer["period"], answer["from"], answer["to"]) == ("2026-11", "2026-11-01", "2026-11-30")
    assert answer["pending_changes"] == 0
    assert answer["entries"] == [
        row(town, 1, "V1", "张*", True, "S1", 210, 3.5, 3),
        row(town, 2, "V3", "王*", True, "S2", 150, 2.5, 2),
        row(town, 3, "V2", "李四", False, "S1", 60, 1.0, 1),  # opted in: the name in full
        row(town, 3, "V5", "欧***", True, "S2", 60, 1.0, 1),
    ]
    assert answer["me"] is None  # a manager is not on it
    top = board(app, client, town, "mgr_i1", "I1", period="2026-11", limit=2)["entries"]
    assert [e["volunteer_id"] for e in top] == [town.people["V1"], town.people["V3"]]


def test_the_center_and_other_periods(app, client, town):
    answer = board(app, client, town, "mgr_c", "C", period="2026-Q4")
    assert [(e["rank"], e["volunteer_id"], e["minutes"], e["sessions"]) for e in answer["entries"]] == [
        (1, town.people["V1"], 255, 4),  # and O7's 45 on 1 December local
        (2, town.people["V3"], 150, 2),
        (3, town.people["V2"], 60, 1),
        (3, town.people["V5"], 60, 1),
        (5, town.people["V7"], 45, 1),  # O6 at 23:00 on 31 October local
        (6, town.people["V6"], 30, 1),
    ]
    october = board(app, client, town, "mgr_c", "C", period="2026-10")["entries"]
    assert [(e["volunteer_id"], e["minutes"]) for e in october] == [(town.people["V7"], 45)]
    assert board(app, client, town, "mgr_c", "C", period="2026-09")["entries"] == []


def test_opting_in_through_patch_me(app, client, town):
    v1 = headers_now(app, town.people["V1"])
    assert client.get("/api/v1/me", headers=v1).get_json()["show_name_on_leaderboard"] is False
    r = client.patch("/api/v1/me", json={"show_name_on_leaderboard": True}, headers=v1)
    assert r.status_code == 200 and r.get_json()["show_name_on_leaderboard"] is True
    first = board(app, client, town, "mgr_i1", "I1", period="2026-11")["entries"][0]
    assert (first["name"], first["name_masked"]) == ("张三", False)  # the real name, not "小张"
    r = client.patch("/api/v1/me", json={"show_name_on_leaderboard": False}, headers=v1)
    assert board(app, client, town, "mgr_i1", "I1", period="2026-11")["entries"][0]["name"] == "张*"
    for bad in ("yes", 1, None):
        r = client.patch("/api/v1/me", json={"show_name_on_leaderboard": bad}, headers=v1)
        assert_error(r, 422, "validation.failed")


def test_a_volunteer_reads_their_own_stations_board_with_their_place(app, client, town):
    answer = board(app, client, town, "V5", "S2", period="2026-11", limit=1)
    assert answer["entries"] == [row(town, 1, "V3", "王*", True, "S2", 150, 2.5, 2)]
    assert answer["me"] == row(town, 2, "V5", "欧***", True, "S2", 60, 1.0, 1)  # below the top shown
    assert board(app, client, town, "V4", "S2", period="2026-11")["me"] is None  # a no-show only
    for site in ("S1", "I1", "C", "S4"):  # another station, or the tree above: absent
        assert_error(get(app, client, town, "V5", site, period="2026-11"), 404, "not_found")


def test_reach_and_bad_input(app, client, town):
    assert_error(get(app, client, town, "mgr_i2", "I1", period="2026-11"), 404, "not_found")
    assert_error(get(app, client, town, "mgr_i1", "C", period="2026-11"), 404, "not_found")
    assert_error(get(app, client, town, "resident", "S1", period="2026-11"), 403, "auth.forbidden")
    for query in ({"period": "2026-11-01"}, {"period": "Q4"}, {"limit": 0}, {"limit": 101}, {"limit": "x"}):
        error = assert_error(get(app, client, town, "mgr_i1", "I1", **query), 422, "validation.failed")
        assert set(error["errors"]["query"]) == set(query)
