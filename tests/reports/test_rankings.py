"""考核 and 红黑榜 (GET /sites/{id}/rankings) on the world of tests/reports/rank_world.py, every component
worked out by hand from its table and the normalisation in reports/rankings.py:

November at I1 (children S1, S2, S3; default weights 15 15 15 15 10 10 5 5 5 5, total 100; no 督办 item
and no follow-up in this world, so supervision and follow_up score 0 for all: tests/reports/
test_supervision_figures.py ranks them):
  S1: sessions 2, minutes 240, attendances 3, satisfaction 1 of 2 closed = 0.5, median dispatch ≤5 of
      (≤15, ≤5), coverage 1/1, no-show 0/3, expired 1/3 (O1 O2 O3)
      scores 100 100 100 50 100 100 100 66.67 0 0 → points 15 15 15 7.5 10 10 5 3.33 0 0 = 80.83
  S2: sessions 2 (O4, A1), minutes 210, attendances 3, satisfaction 1/1, median ≤30, coverage 1/1,
      no-show 1/4, expired 0/1
      scores 100 87.5 100 100 16.67 100 75 100 0 0 → points 15 13.13 15 15 1.67 10 3.75 5 0 0
      = 78.55
  S3: nothing in November (O6 is October's): every component 0.
November at C (children I1, I2, I3; A2 at I1 itself counts in I1's subtree):
  I1: sessions 5, minutes 480, attendances 7, satisfaction 2/3, median ≤15 of (5, 15, 30), coverage 2/3,
      no-show 1/8, expired 1/4
      scores 100 100 100 66.67 100 66.67 87.5 75 0 0 → points 15 15 15 10 10 6.67 4.38 3.75 0 0
      = 79.80
  I2: sessions 1, minutes 30, attendances 1, satisfaction 1/1, median ≤60, coverage 1/1, no-show 0/1,
      expired 0/1
      scores 20 6.25 14.29 100 25 100 100 100 0 0 → points 3 0.94 2.14 15 2.5 10 5 5 0 0 = 43.58
  I3: no station, no data: 0.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
import time_machine

from tests.api.helpers import assert_error
from tests.conftest import built_once
from tests.reports import rank_world
from tests.support import headers_now
from volunteer_app.reports import rankings

COMPONENTS = (
    "sessions",
    "service_minutes",
    "attendances",
    "satisfaction",
    "response",
    "coverage",
    "no_show_rate",
    "expired_share",
    "supervision",
    "follow_up",
)
DEFAULT_WEIGHTS = dict(zip(COMPONENTS, (15.0, 15.0, 15.0, 15.0, 10.0, 10.0, 5.0, 5.0, 5.0, 5.0), strict=True))
NOTHING = {"supervision": (None, 0.0, 5.0, 0.0), "follow_up": (None, 0.0, 5.0, 0.0)}


@pytest.fixture
def town(app):
    return built_once(app, rank_world.build)


def get(app, client, town, who: str, site: str, *, lang: str = "zh-CN", **query):
    return client.get(
        f"/api/v1/sites/{town.sites[site]}/rankings",
        query_string=query,
        headers={**headers_now(app, town.people[who]), "Accept-Language": lang},
    )


def ranking(app, client, town, who: str, site: str, **query) -> dict:
    response = get(app, client, town, who, site, **query)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def parts(entry: dict) -> dict:
    """component → (value, score, weight, points)."""
    return {c["component"]: (c["value"], c["score"], c["weight"], c["points"]) for c in entry["components"]}


def site(town, code: str, kind: str) -> dict:
    return {"id": town.sites[code], "kind": kind, "name": f"站点{code}"}


def test_november_at_the_institute_every_component(app, client, town):
    answer = ranking(app, client, town, "mgr_i1", "I1", period="2026-11")
    assert (answer["period"], answer["from"], answer["to"]) == ("2026-11", "2026-11-01", "2026-11-30")
    assert answer["timezone"] == "Asia/Shanghai" and answer["pending_changes"] == 0
    assert answer["weights"] == DEFAULT_WEIGHTS and answer["board_size"] == 3
    s1, s2, s3 = answer["rankings"]
    assert (s1["rank"], s1["site"], s1["score"]) == (1, site(town, "S1", "station"), 80.83)
    assert parts(s1) == {
        "sessions": (2, 100.0, 15.0, 15.0),
        "service_minutes": (240, 100.0, 15.0, 15.0),
        "attendances": (3, 100.0, 15.0, 15.0),
        "satisfaction": (0.5, 50.0, 15.0, 7.5),
        "response": (5, 100.0, 10.0, 10.0),
        "coverage": (1.0, 100.0, 10.0, 10.0),
        "no_show_rate": (0.0, 100.0, 5.0, 5.0),
        "expired_share": (0.3333, 66.67, 5.0, 3.33),
        **NOTHING,
    }
    assert (s2["rank"], s2["site"], s2["score"]) == (2, site(town, "S2", "station"), 78.55)
    assert parts(s2) == {
        "sessions": (2, 100.0, 15.0, 15.0),
        "service_minutes": (210, 87.5, 15.0, 13.13),
        "attendances": (3, 100.0, 15.0, 15.0),
        "satisfaction": (1.0, 100.0, 15.0, 15.0),
        "response": (30, 16.67, 10.0, 1.67),
        "coverage": (1.0, 100.0, 10.0, 10.0),
        "no_show_rate": (0.25, 75.0, 5.0, 3.75),
        "expired_share": (0.0, 100.0, 5.0, 5.0),
        **NOTHING,
    }
    assert (s3["rank"], s3["site"], s3["score"]) == (3, site(town, "S3", "station"), 0.0)
    assert parts(s3) == {  # no data: counts 0, shares and the median null, every score 0
        "sessions": (0, 0.0, 15.0, 0.0),
        "service_minutes": (0, 0.0, 15.0, 0.0),
        "attendances": (0, 0.0, 15.0, 0.0),
        "satisfaction": (None, 0.0, 15.0, 0.0),
        "response": (None, 0.0, 10.0, 0.0),
        "coverage": (0.0, 0.0, 10.0, 0.0),  # one station, no session
        "no_show_rate": (None, 0.0, 5.0, 0.0),
        "expired_share": (None, 0.0, 5.0, 0.0),
        **NOTHING,
    }
    labels = {c["component"]: (c["label"], c["better"], c["unit"]) for c in s1["components"]}
    assert labels["attendances"] == ("人次", "higher", "count")
    assert labels["response"] == ("派单用时中位数", "lower", "minutes")
    # Three children, boards of 3: two on the 红榜 (half, rounded up), one on the 黑榜.
    assert [e["site"]["id"] for e in answer["red"]] == [town.sites["S1"], town.sites["S2"]]
    assert answer["black"] == [{"rank": 3, "site": site(town, "S3", "station"), "score": 0.0}]


def test_november_at_the_center_counts_each_institute_subtree(app, client, town):
    answer = ranking(app, client, town, "mgr_c", "C", period="2026-11", lang="en")
    i1, i2, i3 = answer["rankings"]
    assert [(e["rank"], e["site"]["id"], e["score"]) for e in answer["rankings"]] == [
        (1, town.sites["I1"], 79.8),
        (2, town.sites["I2"], 43.58),
        (3, town.sites["I3"], 0.0),
    ]
    assert parts(i1) == {
        "sessions": (5, 100.0, 15.0, 15.0),
        "service_minutes": (480, 100.0, 15.0, 15.0),
        "attendances": (7, 100.0, 15.0, 15.0),
        "satisfaction": (0.6667, 66.67, 15.0, 10.0),
        "response": (15, 100.0, 10.0, 10.0),
        "coverage": (0.6667, 66.67, 10.0, 6.67),
        "no_show_rate": (0.125, 87.5, 5.0, 4.38),
        "expired_share": (0.25, 75.0, 5.0, 3.75),
        **NOTHING,
    }
    assert parts(i2) == {
        "sessions": (1, 20.0, 15.0, 3.0),
        "service_minutes": (30, 6.25, 15.0, 0.94),
        "attendances": (1, 14.29, 15.0, 2.14),
        "satisfaction": (1.0, 100.0, 15.0, 15.0),
        "response": (60, 25.0, 10.0, 2.5),
        "coverage": (1.0, 100.0, 10.0, 10.0),
        "no_show_rate": (0.0, 100.0, 5.0, 5.0),
        "expired_share": (0.0, 100.0, 5.0, 5.0),
        **NOTHING,
    }
    assert parts(i3)["coverage"] == (None, 0.0, 10.0, 0.0)  # no station at all
    assert {c["component"]: c["label"] for c in i1["components"]}["attendances"] == "Attendances"


def test_october_across_the_month_end_ties_and_boards(app, client, town):
    """O6 was served at 23:00 on 31 October local (15:00 UTC): October's; O7's service at 01:00 on
    1 December local (17:00 UTC on 30 November) is in no November figure."""
    answer = ranking(app, client, town, "mgr_i1", "I1", period="2026-10")
    assert [(e["rank"], e["site"]["id"], e["score"]) for e in answer["rankings"]] == [
        (1, town.sites["S3"], 75.0),  # all but satisfaction (3 stars: 0 of 1) and the two unfed
        (2, town.sites["S1"], 0.0),  # equal scores share the rank, listed by site id
        (2, town.sites["S2"], 0.0),
    ]
    assert parts(answer["rankings"][0])["satisfaction"] == (0.0, 0.0, 15.0, 0.0)
    assert [e["site"]["id"] for e in answer["red"]] == [town.sites["S3"]]  # a score of 0 is no 红榜
    assert [e["site"]["id"] for e in answer["black"]] == [town.sites["S2"]]
    # A quarter and a year hold both months.
    q4 = ranking(app, client, town, "mgr_i1", "I1", period="2026-Q4")
    assert (q4["from"], q4["to"]) == ("2026-10-01", "2026-12-31")
    year = ranking(app, client, town, "mgr_i1", "I1", period="2026")
    assert (year["from"], year["to"]) == ("2026-01-01", "2026-12-31")
    assert parts(year["rankings"][0])["sessions"][0] == 3  # S1: O1 O2 and December's O7


def test_weights_are_the_asked_sites_effective_setting(app, client, town):
    mgr_c = headers_now(app, town.people["mgr_c"])
    r = client.patch(
        f"/api/v1/sites/{town.sites['C']}/settings",
        json={"ranking_weights": {"sessions": 1}, "ranking_board_size": 1},
        headers=mgr_c,
    )
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["effective"]["ranking_weights"] == {"sessions": 1}
    answer = ranking(app, client, town, "mgr_i1", "I1", period="2026-11")  # inherited from C
    assert answer["weights"] == {**dict.fromkeys(COMPONENTS, 0.0), "sessions": 1.0}
    assert [(e["rank"], e["site"]["id"], e["score"]) for e in answer["rankings"]] == [
        (1, town.sites["S1"], 100.0),
        (1, town.sites["S2"], 100.0),
        (3, town.sites["S3"], 0.0),
    ]
    assert parts(answer["rankings"][1])["satisfaction"] == (1.0, 100.0, 0.0, 0.0)
    assert [e["site"]["id"] for e in answer["red"]] == [town.sites["S1"]]  # board of 1; a tie by id
    assert [e["site"]["id"] for e in answer["black"]] == [town.sites["S3"]]
    # A site's override replaces the inherited table whole.
    r = client.patch(
        f"/api/v1/sites/{town.sites['I1']}/settings",
        json={"ranking_weights": {"coverage": 2.5}},
        headers=mgr_c,
    )
    assert r.status_code == 200
    answer = ranking(app, client, town, "mgr_i1", "I1", period="2026-11")
    assert answer["weights"] == {**dict.fromkeys(COMPONENTS, 0.0), "coverage": 2.5}
    assert [e["score"] for e in answer["rankings"]] == [100.0, 100.0, 0.0]


def _entries(*scores) -> list[dict]:
    return [{"site": {"id": n}, "score": Decimal(str(score))} for n, score in enumerate(scores, 1)]


@pytest.mark.parametrize(
    ("scores", "size", "red", "black"),
    [
        ((90, 80, 70, 60, 50, 40, 30), 3, [1, 2, 3], [7, 6, 5]),  # enough children: N and N
        ((90, 80, 70, 60), 3, [1, 2], [4, 3]),  # fewer than 2N: halves, never both boards
        ((90, 80, 70), 3, [1, 2], [3]),
        ((90,), 3, [1], []),
        ((), 3, [], []),
        ((100, 100, 100), 1, [1], []),  # a tie with the 红榜 is never on the 黑榜
        ((100, 50, 50), 1, [1], [3]),
        ((0, 0), 1, [], [2]),  # nobody did anything: no 红榜
    ],
)
def test_boards(scores, size, red, black):
    got_red, got_black = rankings.boards(_entries(*scores), size)
    assert [e["site"]["id"] for e in got_red] == red
    assert [e["site"]["id"] for e in got_black] == black


@pytest.mark.parametrize(
    "weights",
    [
        {"sessions": -1},
        {"speed": 5},
        {"sessions": 0, "coverage": 0},
        {},
        {"sessions": "5"},
        {"sessions": True},
        [1, 2],
    ],
)
def test_bad_weights_are_refused(app, client, town, weights):
    r = client.patch(
        f"/api/v1/sites/{town.sites['C']}/settings",
        json={"ranking_weights": weights},
        headers=headers_now(app, town.people["mgr_c"]),
    )
    error = assert_error(r, 422, "validation.failed")
    assert "ranking_weights" in error["errors"]["json"]


def test_a_board_size_out_of_range_is_refused(app, client, town):
    r = client.patch(
        f"/api/v1/sites/{town.sites['C']}/settings",
        json={"ranking_board_size": 0},
        headers=headers_now(app, town.people["mgr_c"]),
    )
    assert_error(r, 422, "validation.failed")


def test_no_weight_message_in_both_languages(app, client, town):
    url = f"/api/v1/sites/{town.sites['C']}/settings"
    headers = headers_now(app, town.people["mgr_c"])
    r = client.patch(url, json={"ranking_weights": {"sessions": 0}}, headers=headers)
    assert r.get_json()["errors"]["json"]["ranking_weights"] == ["至少一个权重须大于 0"]
    r = client.patch(url, json={"ranking_weights": {}}, headers={**headers, "Accept-Language": "en"})
    assert r.get_json()["errors"]["json"]["ranking_weights"] == ["at least one weight must be above 0"]


BAD_PERIOD_ZH = "应为年份（YYYY，2000–2200）、月份（YYYY-MM）或季度（YYYY-Qn）"


@pytest.mark.parametrize(
    "period",
    ["2026-13", "2026-00", "2026-Q5", "2026-q4", "26-11", "2026-11-01", "", "1999", "2201-01", "２０２６"],
)
def test_bad_periods_are_422(app, client, town, period):
    r = get(app, client, town, "mgr_i1", "I1", period=period)
    error = assert_error(r, 422, "validation.failed")
    assert error["errors"] == {"query": {"period": [BAD_PERIOD_ZH]}}
    english = get(app, client, town, "mgr_i1", "I1", lang="en", period=period).get_json()
    assert english["errors"]["query"]["period"][0].startswith("must be a year (YYYY, 2000–2200)")


def test_default_period_is_last_month_on_the_sites_clock(app, client, town):
    # 1 December 00:30 local is still 30 November in UTC: last month is November.
    with time_machine.travel(rank_world.utc("2026-11-30T16:30"), tick=False):
        answer = ranking(app, client, town, "mgr_i1", "I1")
    assert (answer["period"], answer["from"], answer["to"]) == ("2026-11", "2026-11-01", "2026-11-30")


def test_reach(app, client, town):
    assert get(app, client, town, "mgr_i1", "C", period="2026-11").status_code == 404  # above
    assert get(app, client, town, "mgr_i2", "I1", period="2026-11").status_code == 404  # a sibling
    assert get(app, client, town, "mgr_s1", "S1", period="2026-11").get_json()["rankings"] == []  # no child
    assert_error(get(app, client, town, "V1", "S1"), 403, "auth.forbidden")
    assert_error(get(app, client, town, "resident", "S1"), 403, "auth.forbidden")
