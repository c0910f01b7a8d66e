"""The statistics' `supervision` block and the ranking's supervision and follow_up components, on the
world of tests/reports/supervision_world.py, every figure counted by hand from its tables:

November 2026 at I1 (S1, S2 and I1 itself; S3 under I2 never counts):
  items: raised IT1 IT4 IT5 IT6 IT8 = 5 (IT2 was raised at 23:59 on 31 Oct local, IT3 at 00:00 on
    1 Dec local); closed IT1, IT2 (销号 at 23:59 on 30 Nov local) = 2, on time IT1 only (IT2 reported
    after its deadline); reopened: IT5's send-back = 1; overdue now IT4; reported now IT5; open now IT3
    (yellow), IT4 (red), IT8 (green).
  complaints: received CP1 CP2 CP5 = 3; answered CP1 twice, on time once (the second answer after its
    due time); reopened 1; open now CP2 CP3, overdue CP2.
  appeals: filed AP1 AP2 AP3; upheld AP1 and AP5 (decided at 00:00 on 1 Nov local) with 30 + 60
    minutes; rejected AP2; pending and overdue AP3.
  follow-ups: created FU1 FU2 FU3 FU4 (low_rating 1, unrated 1, sample 2); done FU1 FU2 (FU5 at 23:59
    on 31 Oct local is October's), unreachable FU3; rate 2 of 4; reached share 2 of 3; satisfaction
    (4 + 5) ÷ 2; pending and overdue FU4.
Ranking at I1 for November (default weights; no order, so every other component scores 0):
  S1: items IT1 (on time), IT5 (sent back) → 1 of 2 bad → supervision 50 → 2.5 points; follow-ups FU1
      FU2 both done → 100 → 5 points; score 7.5.
  S2: IT4 (unreported past due) → 1 of 1 → 0; FU3 FU4 none done → 0; score 0.
"""

from __future__ import annotations

import re

import pytest
import time_machine

from tests.conftest import built_once
from tests.reports import supervision_world as world
from tests.support import console_sign_in, headers_now

NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}


@pytest.fixture
def town(app):
    return built_once(app, world.build)


def stats(app, client, town, who: str, site: str, **query) -> dict:
    with time_machine.travel(world.utc(world.NOW), tick=False):
        response = client.get(
            f"/api/v1/sites/{town.sites[site]}/stats",
            query_string=query,
            headers=headers_now(app, town.people[who]),
        )
    assert response.status_code == 200, response.get_json()
    return response.get_json()["supervision"]


def test_november_at_the_institute(app, client, town):
    answer = stats(app, client, town, "mgr_i1", "I1", **NOVEMBER)
    assert answer["items"] == {
        "raised": 5,
        "closed": 2,
        "closed_on_time": 1,
        "reopened": 1,
        "overdue_now": 1,
        "reported_now": 1,
        "open_now": {"total": 3, "red": 1, "yellow": 1, "green": 1},
    }
    assert answer["complaints"] == {
        "received": 3,
        "answered": 2,
        "answered_on_time": 1,
        "reopened": 1,
        "open_now": 2,
        "overdue_now": 1,
    }
    assert answer["appeals"] == {
        "filed": 3,
        "upheld": 2,
        "rejected": 1,
        "minutes_credited": 90,
        "pending_now": 1,
        "overdue_now": 1,
    }
    assert answer["follow_ups"] == {
        "created": 4,
        "by_reason": {"low_rating": 1, "unrated": 1, "sample": 2},
        "done": 2,
        "unreachable": 1,
        "rate": 0.5,
        "reached_share": 0.6667,
        "mean_satisfaction": 4.5,
        "pending_now": 1,
        "overdue_now": 1,
    }


def test_the_sibling_subtree_counts_only_its_own_and_the_center_counts_both(app, client, town):
    i2 = stats(app, client, town, "mgr_i2", "I2", **NOVEMBER)
    assert i2["items"] == {
        "raised": 1,
        "closed": 0,
        "closed_on_time": 0,
        "reopened": 1,
        "overdue_now": 1,  # IT7: sent back, due 6 Nov
        "reported_now": 0,
        "open_now": {"total": 1, "red": 1, "yellow": 0, "green": 0},
    }
    assert (i2["complaints"]["received"], i2["complaints"]["answered_on_time"]) == (1, 1)
    assert (i2["appeals"]["upheld"], i2["appeals"]["minutes_credited"]) == (1, 45)
    assert (i2["follow_ups"]["rate"], i2["follow_ups"]["mean_satisfaction"]) == (1.0, 1.0)
    center = stats(app, client, town, "mgr_c", "C", **NOVEMBER)
    assert (center["items"]["raised"], center["items"]["reopened"], center["items"]["overdue_now"]) == (
        6,
        2,
        2,
    )
    assert center["items"]["open_now"] == {"total": 4, "red": 2, "yellow": 1, "green": 1}
    assert center["appeals"]["minutes_credited"] == 135
    assert center["follow_ups"]["mean_satisfaction"] == round((4 + 5 + 1) / 3, 2)
    # A station: only its own records.
    s1 = stats(app, client, town, "mgr_s1", "S1", **NOVEMBER)
    assert (s1["items"]["raised"], s1["complaints"]["received"], s1["follow_ups"]["created"]) == (3, 1, 2)


def test_the_period_edges_are_local_midnights(app, client, town):
    december = stats(app, client, town, "mgr_i1", "I1", **{"from": "2026-12-01", "to": "2026-12-05"})
    assert (december["items"]["raised"], december["items"]["closed"]) == (1, 0)  # IT3 at 00:00 local
    assert december["complaints"]["received"] == 1  # CP3
    assert december["follow_ups"]["created"] == 0
    assert (december["follow_ups"]["rate"], december["follow_ups"]["reached_share"]) == (None, None)
    assert december["follow_ups"]["mean_satisfaction"] is None
    # "Now" figures do not depend on the period.
    assert december["items"]["open_now"]["total"] == 3 and december["appeals"]["pending_now"] == 1
    october = stats(app, client, town, "mgr_i1", "I1", **{"from": "2026-10-01", "to": "2026-10-31"})
    assert october["items"]["raised"] == 1  # IT2 at 23:59 local on 31 Oct
    assert (october["appeals"]["filed"], october["appeals"]["upheld"]) == (1, 0)  # AP5 decided in November
    assert (october["follow_ups"]["created"], october["follow_ups"]["done"]) == (1, 1)  # FU5
    assert october["follow_ups"]["mean_satisfaction"] == 1.0


def test_ranking_components_fed_by_supervision(app, client, town):
    with time_machine.travel(world.utc(world.NOW), tick=False):
        response = client.get(
            f"/api/v1/sites/{town.sites['I1']}/rankings",
            query_string={"period": "2026-11"},
            headers=headers_now(app, town.people["mgr_i1"]),
        )
    answer = response.get_json()
    assert response.status_code == 200, answer
    assert (answer["weights"]["supervision"], answer["weights"]["follow_up"]) == (5.0, 5.0)
    s1, s2 = answer["rankings"]
    assert (s1["site"]["id"], s1["rank"], s1["score"]) == (town.sites["S1"], 1, 7.5)
    assert (s2["site"]["id"], s2["rank"], s2["score"]) == (town.sites["S2"], 2, 0.0)

    def parts(entry):
        return {
            c["component"]: (c["value"], c["score"], c["points"], c["better"])
            for c in entry["components"]
            if c["component"] in ("supervision", "follow_up")
        }

    assert parts(s1) == {"supervision": (0.5, 50.0, 2.5, "lower"), "follow_up": (1.0, 100.0, 5.0, "higher")}
    assert parts(s2) == {"supervision": (1.0, 0.0, 0.0, "lower"), "follow_up": (0.0, 0.0, 0.0, "higher")}


def test_the_console_statistics_page_shows_the_block(app, client, town):
    console_sign_in(app, client, town.people["mgr_i1"])
    page = client.get(f"/console/stats?site={town.sites['I1']}&from=2026-11-01&to=2026-11-30")
    assert page.status_code == 200
    table = page.text[page.text.index('id="supervision"') :]
    rows = dict(re.findall(r"<tr><th>([^<]+)</th><td class=\"num\">([^<]+)</td></tr>", table)[:13])
    assert "督办与服务质量" in page.text
    assert (rows["督办下发"], rows["销号（按期）"], rows["退回重办"]) == ("5", "2 (1)", "1")
    assert (rows["答复（按时）"], rows["申诉支持／驳回"], rows["申诉补记时长（分钟）"]) == (
        "2 (1)",
        "2 / 1",
        "90",
    )
    assert (rows["回访生成／完成"], rows["回访率"], rows["回访平均满意度"]) == ("4 / 2", "50.0%", "4.50")
