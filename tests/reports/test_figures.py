"""Every figure of `GET /sites/{id}/stats` for a hand-built world (tests/reports/world.py), compared with
numbers worked out by hand from docs/statistics.md, never with the code under test.

The world, in the sites' clock (UTC+8). Sites: center C → institutes I1 (stations S1, S2) and I2 (station
S3, which never holds a session). Bins of response times are written as their upper edge (minutes).

Orders (station, category, resident; submitted local day; what became of it):
  O1  S1 elder_care R1  1 Nov (17:30 UTC on 31 Oct)  closed; served 3 Nov: V1 120 + V2 90; 5 stars;
      独居老人 + 残疾人; dispatched after 12 min (≤15), staffed 23 min later (≤30)
  O2  S1 elder_care R1  5 Nov  closed; served 6 Nov: V1 60, V2 no-show; 3 stars; 独居老人; 4 (≤5), 46 (≤60)
  O3  S1 repairs    R2 10 Nov  closed; served 12 Nov: V5 45; unrated; 留守儿童; 30 (≤30), 90 (≤90)
  O4  S2 repairs    R3 11 Nov  closed; served 30 Nov (16:00), audited 2 Dec: V3 150; rating pending;
      120 (≤120), 180 (≤180)
  O5  S1 elder_care R2 15 Nov  rejected; 独居老人
  O6  S1 elder_care R1 16 Nov  cancelled after dispatch after 10 min (≤10)
  O7  S2 elder_care R3 17 Nov  escalated, then expired; 残疾人
  O8  S2 repairs    R3 20 Nov  dispatched 20 min (≤20), escalated, staffed 1480 min later (≤2880): staffed
      now (other); 退役军人
  O9  S1 elder_care R2 25 Nov  submitted (other)
  O10 S1 elder_care R1 26 Nov  in service (other); 1 (≤5), 59 (≤60)
  O11 S2 elder_care R3  2 Nov  completed, rated 4 stars, never audited (other: no session);
      dispatched after 10140 min (beyond 7 days), staffed 10 min later (≤10)
  O12 S1 elder_care R2 20 Oct  closed; served 22 Oct: V1 30; 2 stars; 其他; 5 (≤5), 1 (≤5)
  O13 S2 repairs    R3 31 Oct (23:30 local)  cancelled
  O14 S1 elder_care R2 28 Nov  closed; served 1 Dec (01:00 local, 17:00 UTC on 30 Nov): V2 60; 4 stars;
      15 (≤15), 30 (≤30)
Activities: A1 S1 theory_outreach 8 Nov closed: V1 100, V2 0 minutes, V5 no-show, V4 (of S3) 100;
  A2 S1 20 Nov open; A3 S2 22 Nov cancelled; A4 at I1 itself 15 Nov closed: V3 80, V7 40;
  A5 at C itself, environment, 29 Nov closed: V1 60.
Volunteers approved: V1 S1 Jan, V2 S1 May, V3 S2 Jun, V4 S3 Mar, V5 S1 10 Nov, V6 S2 5 Dec,
  V7 S2 1 Nov (16:30 UTC on 31 Oct).
Time book (posting day, site): 23 Oct credit 30 S1 (V1's book opens, S1); 4 Nov credits 120 + 90 S1
  (V2's book, S1); 7 Nov credit 60 S1; 9 Nov credits 100 + 100 S1 (V4's book, issued by S3);
  13 Nov credit 45 S1 (V5's book, S1); 16 Nov credits 80 + 40 at I1 (V3's and V7's books, S2);
  20 Nov reversal of the 7 Nov credit, 60 S1; 21 Nov adjustment +15 S1; 22 Nov adjustment −10 S2;
  23 Nov redeemed 50 S1; 24 Nov gift 30 S1 (R1's book opens, S1); 25 Nov donation 10 S1;
  26 Nov refund 50 S1; 1 Dec (16:30 UTC on 30 Nov) credit 60 at C; 2 Dec credit 150 S2; 3 Dec credit 60 S1.
"""

from __future__ import annotations

import pytest

from tests.conftest import built_once
from tests.reports import world
from tests.support import headers_now
from volunteer_app.reports import rollups

GROUP_NAMES = {  # target groups in the answer's order: code → (zh, en)
    "elderly_alone": ("独居老人", "Elderly living alone"),
    "left_behind_children": ("留守儿童", "Left-behind children"),
    "disabled": ("残疾人", "People with disabilities"),
    "low_income": ("困难家庭", "Low-income families"),
    "veterans": ("退役军人", "Veterans"),
    "pregnant": ("孕产妇", "Pregnant women"),
    "other": ("其他", "Other"),
}
N = None  # "not given for this kind of group"


def fig(
    *,
    sessions=(0, 0),
    att=0,
    minutes=0,
    hours=0.0,
    served=0,
    orders=(0, 0, 0, 0, 0, 0, 0),
    groups=None,
    sat=(0, 0, 0, None, None, None),
    dispatch=(0, None, None, 0),
    staffing=(0, None, None, 0),
    shares=(None, None),
    vols=(0, 0, 0, 0, None),
    tb=(0, 0, 0, 0, 0, 0, 0),
    en=False,
) -> dict:
    """The answer's figures from numbers written by hand, in compact form:
    sessions (orders, activities); orders (submitted, rejected, cancelled, expired, escalated, closed,
    other); sat (rated, unrated, pending, mean stars, share 4–5, rating rate); dispatch/staffing (count,
    median, p90, beyond 7 days); shares (escalated, expired); vols (approved, new, active, no-shows,
    no-show rate); tb (books issued, credited, adjusted, reversed, redeemed, refunded, gifted)."""
    groups = groups or {}
    keys = ("submitted", "rejected", "cancelled", "expired", "escalated", "closed", "other")
    return {
        "sessions": {"total": sessions[0] + sessions[1], "orders": sessions[0], "activities": sessions[1]},
        "attendances": att,
        "service_minutes": minutes,
        "service_hours": hours,
        "people_served": served,
        "orders": dict(zip(keys, orders, strict=True)),
        "target_groups": [
            {"code": code, "name": names[1 if en else 0], "submitted": groups.get(code, 0)}
            for code, names in GROUP_NAMES.items()
        ],
        "satisfaction": dict(
            zip(
                ("rated", "unrated", "pending", "mean_stars", "share_4_5_stars", "rating_rate"),
                sat,
                strict=True,
            )
        ),
        "response": {
            "dispatch": _response(dispatch),
            "staffing": _response(staffing),
            "escalated_share": shares[0],
            "expired_share": shares[1],
        },
        "volunteers": dict(zip(("approved", "new", "active", "no_shows", "no_show_rate"), vols, strict=True)),
        "timebank": dict(
            zip(
                (
                    "books_issued",
                    "credited_minutes",
                    "adjusted_minutes",
                    "reversed_minutes",
                    "redeemed_minutes",
                    "refunded_minutes",
                    "gifted_minutes",
                ),
                tb,
                strict=True,
            )
        ),
    }


def _response(t) -> dict:
    return dict(
        zip(("count", "median_within_minutes", "p90_within_minutes", "beyond_7_days"), t, strict=True)
    )


# ---- November 2026, the center's whole tree ---------------------------------------------------------

NOV_TOTAL = dict(
    sessions=(4, 3),  # O1 O2 O3 O4; A1 A4 A5
    att=10,  # O1 2, O2 1, O3 1, O4 1, A1 2 (V2's 0 minutes is no attendance), A4 2, A5 1
    minutes=845,
    hours=14.08,
    served=3,  # R1 R2 R3
    orders=(12, 1, 1, 1, 2, 5, 4),  # O1–O11 and O14; closed: O1 O2 O3 O4 O14; other: O8 O9 O10 O11
    groups={"elderly_alone": 3, "disabled": 2, "left_behind_children": 1, "veterans": 1},
    sat=(2, 1, 1, 4.0, 0.5, 0.5),
    dispatch=(9, 15, None, 1),  # 5 5 10 15 15 20 30 120 >7d
    staffing=(8, 60, 2880, 0),  # 10 30 30 60 60 90 180 2880
    shares=(0.1667, 0.0833),  # 2/12, 1/12
    vols=(6, 2, 6, 2, 0.1538),  # V1–V5 V7; V5 V7; V1 V2 V3 V4 V5 V7; 2 of 13 due
    tb=(6, 635, 5, 60, 50, 50, 40),  # books: V2 V5 R1 (S1), V4 (S3), V3 V7 (S2)
)
NOV_I1 = {
    **NOV_TOTAL,
    "sessions": (4, 2),
    "att": 9,
    "minutes": 785,
    "hours": 13.08,
    "vols": (5, 2, 6, 2, 0.1667),  # V1 V2 V3 V5 V7; V5 V7; V4 served at S1; 2 of 12 due
    "tb": (5, 635, 5, 60, 50, 50, 40),
}
NOV_I2 = dict(vols=(1, 0, 0, 0, None), tb=(1, 0, 0, 0, 0, 0, 0))  # V4 and the book S3 issued
NOV_C_ITSELF = dict(sessions=(0, 1), att=1, minutes=60, hours=1.0, vols=(0, 0, 1, 0, 0.0))
NOV_S1 = dict(
    sessions=(3, 1),  # O1 O2 O3; A1
    att=6,
    minutes=515,
    hours=8.58,
    served=2,
    orders=(8, 1, 1, 0, 0, 4, 2),  # O1 O2 O3 O5 O6 O9 O10 O14
    groups={"elderly_alone": 3, "disabled": 1, "left_behind_children": 1},
    sat=(2, 1, 0, 4.0, 0.5, 0.6667),
    dispatch=(6, 10, 30, 0),  # 5 5 10 15 15 30
    staffing=(5, 60, 90, 0),  # 30 30 60 60 90
    shares=(0.0, 0.0),
    vols=(3, 1, 4, 2, 0.2222),  # V1 V2 V5; V5; V1 V2 V4 V5; 2 of 9
    tb=(3, 515, 15, 60, 50, 50, 40),
)
NOV_S2 = dict(
    sessions=(1, 0),
    att=1,
    minutes=150,
    hours=2.5,
    served=1,
    orders=(4, 0, 0, 1, 2, 1, 2),  # O4 O7 O8 O11
    groups={"disabled": 1, "veterans": 1},
    sat=(0, 0, 1, None, None, 0.0),
    dispatch=(3, 120, None, 1),  # 20 120 >7d
    staffing=(3, 180, 2880, 0),  # 10 180 2880
    shares=(0.5, 0.25),
    vols=(2, 1, 1, 0, 0.0),
    tb=(2, 0, -10, 0, 0, 0, 0),
)
NOV_I1_ITSELF = dict(
    sessions=(0, 1), att=2, minutes=120, hours=2.0, vols=(0, 0, 2, 0, 0.0), tb=(0, 120, 0, 0, 0, 0, 0)
)

OCT_TOTAL = dict(
    sessions=(1, 0),
    att=1,
    minutes=30,
    hours=0.5,
    served=1,
    orders=(2, 0, 1, 0, 0, 1, 0),  # O12, and O13 at 23:30 on 31 October
    groups={"other": 1},
    sat=(1, 0, 0, 2.0, 0.0, 1.0),
    dispatch=(1, 5, 5, 0),
    staffing=(1, 5, 5, 0),
    shares=(0.0, 0.0),
    vols=(4, 0, 1, 0, 0.0),  # V7 is November's (00:30 on 1 November)
    tb=(1, 30, 0, 0, 0, 0, 0),
)
DEC_POINT = dict(
    sessions=(1, 0),  # O14 at 01:00 on 1 December
    att=1,
    minutes=60,
    hours=1.0,
    served=1,
    sat=(1, 0, 0, 4.0, 1.0, 1.0),
    vols=(N, 1, 1, 0, 0.0),  # V6, approved on 5 December
    tb=(0, 270, 0, 0, 0, 0, 0),  # no book opened; A5's 60 (1 Dec local), O4's 150 (2 Dec), O14's 60 (3 Dec)
)
Q4_TOTAL = dict(  # 1 October – 31 December, and 15 October – 10 December (the same rows)
    sessions=(6, 3),
    att=12,
    minutes=935,
    hours=15.58,
    served=3,
    orders=(14, 1, 2, 1, 2, 6, 4),
    groups={"elderly_alone": 3, "disabled": 2, "left_behind_children": 1, "veterans": 1, "other": 1},
    sat=(4, 1, 1, 3.5, 0.5, 0.6667),  # 2 5 3 4 stars
    dispatch=(10, 15, 120, 1),  # 5 5 5 10 15 15 20 30 120 >7d
    staffing=(9, 60, 2880, 0),  # 5 10 30 30 60 60 90 180 2880
    shares=(0.1429, 0.0714),
    vols=(7, 3, 6, 2, 0.1333),  # all seven; V5 V6 V7; 2 of 15
    tb=(7, 935, 5, 60, 50, 50, 40),
)


def series(d: dict) -> dict:
    """A point of a series: everything its own period shows but the volunteers approved by its end."""
    vols = d.get("vols", (0, 0, 0, 0, None))
    return {**d, "vols": (N, *vols[1:])}


def category(d: dict) -> dict:
    """A category: sums only (no people, no volunteers counted, no time bank)."""
    vols = d.get("vols", (0, 0, 0, 0, None))
    return {**d, "served": N, "vols": (N, N, N, *vols[3:]), "tb": (N, 0, 0, 0, 0, 0, 0)}


@pytest.fixture
def city(app):
    built = built_once(app, world.build)
    with app.app_context():
        assert rollups.pending_changes() > 0  # the world was logged as it was written
    return built


def stats(app, client, city, who: str, site: str, *, lang: str = "zh-CN", **query) -> dict:
    query.setdefault("group", "none")
    response = client.get(
        f"/api/v1/sites/{city.sites[site]}/stats",
        query_string=query,
        headers={**headers_now(app, city.people[who]), "Accept-Language": lang},
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_november_for_the_center_every_figure(app, client, city):
    answer = stats(app, client, city, "mgr_c", "C", **{"from": "2026-11-01", "to": "2026-11-30"})
    assert answer["site"] == {"id": city.sites["C"], "kind": "center", "name": "站点C"}
    assert (answer["from"], answer["to"], answer["timezone"]) == ("2026-11-01", "2026-11-30", "Asia/Shanghai")
    assert answer["pending_changes"] == 0 and answer["as_of"] is not None  # the read counted the log first
    assert answer["figures"] == fig(**NOV_TOTAL)
    assert answer["coverage"] == {
        "stations": 3,
        "with_sessions": 2,
        "share": 0.6667,
        "idle": [{"id": city.sites["S3"], "name": "站点S3"}],
    }
    assert (answer["group"], answer["groups"]) == ("none", [])
    with app.app_context():
        assert rollups.verify().differences == []


def test_by_child_site_with_this_site_itself(app, client, city):
    period = {"from": "2026-11-01", "to": "2026-11-30", "group": "child"}
    s = city.sites
    answer = stats(app, client, city, "mgr_c", "C", **period)
    assert answer["groups"] == [
        {"key": str(s["I1"]), "label": "站点I1", "kind": "institute", "figures": fig(**NOV_I1)},
        {"key": str(s["I2"]), "label": "站点I2", "kind": "institute", "figures": fig(**NOV_I2)},
        {"key": str(s["C"]), "label": "本级", "kind": "center", "figures": fig(**NOV_C_ITSELF)},
    ]
    assert answer["figures"] == fig(**NOV_TOTAL)

    answer = stats(app, client, city, "mgr_i1", "I1", lang="en", **period)
    assert answer["figures"] == fig(**NOV_I1, en=True)
    assert answer["groups"] == [
        {"key": str(s["S1"]), "label": "站点S1", "kind": "station", "figures": fig(**NOV_S1, en=True)},
        {"key": str(s["S2"]), "label": "站点S2", "kind": "station", "figures": fig(**NOV_S2, en=True)},
        {
            "key": str(s["I1"]),
            "label": "this site itself",
            "kind": "institute",
            "figures": fig(**NOV_I1_ITSELF, en=True),
        },
    ]
    assert answer["coverage"] == {"stations": 2, "with_sessions": 2, "share": 1.0, "idle": []}

    # A station's own figures are its row one level up; an idle one has nothing but its volunteer.
    assert stats(app, client, city, "mgr_s1", "S1", **period)["figures"] == fig(**NOV_S1)
    idle = stats(app, client, city, "mgr_s3", "S3", **period)
    assert idle["figures"] == fig(**NOV_I2)
    assert idle["coverage"] == {
        "stations": 1,
        "with_sessions": 0,
        "share": 0.0,
        "idle": [{"id": s["S3"], "name": "站点S3"}],
    }


def test_by_category_in_both_languages(app, client, city):
    c = city.categories
    expected = {  # category code → (zh, en, figures)
        "theory_outreach": (
            "理论宣讲",
            "Theory outreach",
            dict(sessions=(0, 2), att=4, minutes=320, hours=5.33, vols=(0, 0, 0, 1, 0.1667)),  # A1 A4
        ),
        "elder_care": (
            "关爱老人",
            "Elder care",
            dict(
                sessions=(2, 0),  # O1 O2 (O14 is December's service)
                att=3,
                minutes=270,
                hours=4.5,
                orders=(9, 1, 1, 1, 1, 3, 3),  # O1 O2 O5 O6 O7 O9 O10 O11 O14
                groups={"elderly_alone": 3, "disabled": 2},
                sat=(2, 0, 0, 4.0, 0.5, 1.0),
                dispatch=(6, 10, None, 1),  # 5 5 10 15 15 >7d
                staffing=(5, 30, 60, 0),  # 10 30 30 60 60
                shares=(0.1111, 0.1111),
                vols=(0, 0, 0, 1, 0.25),
            ),
        ),
        "repairs": (
            "便民维修",
            "Household repairs",
            dict(
                sessions=(2, 0),  # O3 O4
                att=2,
                minutes=195,
                hours=3.25,
                orders=(3, 0, 0, 0, 1, 2, 1),  # O3 O4 O8
                groups={"left_behind_children": 1, "veterans": 1},
                sat=(0, 1, 1, None, None, 0.0),
                dispatch=(3, 30, 120, 0),  # 20 30 120
                staffing=(3, 180, 2880, 0),  # 90 180 2880
                shares=(0.3333, 0.0),
                vols=(0, 0, 0, 0, 0.0),
            ),
        ),
        "environment": (
            "环境整治",
            "Environment clean-up",
            dict(sessions=(0, 1), att=1, minutes=60, hours=1.0, vols=(0, 0, 0, 0, 0.0)),
        ),
    }
    period = {"from": "2026-11-01", "to": "2026-11-30", "group": "category"}
    for lang, en in (("zh-CN", False), ("en", True)):
        answer = stats(app, client, city, "mgr_c", "C", lang=lang, **period)
        assert answer["groups"] == [
            {"key": str(c[code]), "label": names[1 if en else 0], "figures": fig(**category(d), en=en)}
            for code, (*names, d) in sorted(expected.items(), key=lambda item: c[item[0]])
        ]
        assert answer["figures"] == fig(**NOV_TOTAL, en=en)


def test_by_month_across_the_year_end_quarter(app, client, city):
    answer = stats(
        app, client, city, "mgr_c", "C", **{"from": "2026-10-01", "to": "2026-12-31", "group": "month"}
    )
    assert answer["figures"] == fig(**Q4_TOTAL)
    assert [(g["key"], g["label"]) for g in answer["groups"]] == [
        ("2026-10-01", "2026-10-01"),
        ("2026-11-01", "2026-11-01"),
        ("2026-12-01", "2026-12-01"),
    ]
    assert [g["figures"] for g in answer["groups"]] == [
        fig(**series(OCT_TOTAL)),
        fig(**series(NOV_TOTAL)),
        fig(**DEC_POINT),
    ]
    # Whole months from the month rollups, the days around them from the day rollups: the same rows.
    split = stats(app, client, city, "mgr_c", "C", **{"from": "2026-10-15", "to": "2026-12-10"})
    assert split["figures"] == fig(**Q4_TOTAL)
    # October alone: O13 (23:30 on 31 October) is October's; O1 (01:30 on 1 November) and V7 are not.
    october = stats(app, client, city, "mgr_c", "C", **{"from": "2026-10-01", "to": "2026-10-31"})
    assert october["figures"] == fig(**OCT_TOTAL)


def test_by_day_across_the_month_end(app, client, city):
    answer = stats(
        app, client, city, "mgr_c", "C", **{"from": "2026-11-28", "to": "2026-12-03", "group": "day"}
    )
    submitted_o14 = dict(
        orders=(1, 0, 0, 0, 0, 1, 0), dispatch=(1, 15, 15, 0), staffing=(1, 30, 30, 0), shares=(0.0, 0.0)
    )
    assert [g["key"] for g in answer["groups"]] == [
        "2026-11-28",
        "2026-11-29",
        "2026-11-30",
        "2026-12-01",
        "2026-12-02",
        "2026-12-03",
    ]
    assert [g["figures"] for g in answer["groups"]] == [
        fig(**series(submitted_o14)),
        fig(**series(dict(sessions=(0, 1), att=1, minutes=60, hours=1.0, vols=(0, 0, 1, 0, 0.0)))),  # A5
        # O4: served on 30 November, its rating still open; its 150 minutes are credited on 2 December.
        fig(
            **series(
                dict(
                    sessions=(1, 0),
                    att=1,
                    minutes=150,
                    hours=2.5,
                    served=1,
                    sat=(0, 0, 1, None, None, 0.0),
                    vols=(0, 0, 1, 0, 0.0),
                )
            )
        ),
        # O14's service, A5's credit (00:30 local); no approval that day (V6: the 5th), no book opened
        fig(**{**DEC_POINT, "vols": (N, 0, 1, 0, 0.0), "tb": (0, 60, 0, 0, 0, 0, 0)}),
        fig(**series(dict(tb=(0, 150, 0, 0, 0, 0, 0)))),
        fig(**series(dict(tb=(0, 60, 0, 0, 0, 0, 0)))),
    ]
    assert answer["figures"] == fig(
        sessions=(2, 1),
        att=3,
        minutes=270,
        hours=4.5,
        served=2,  # R3 (O4), R2 (O14)
        orders=(1, 0, 0, 0, 0, 1, 0),
        sat=(1, 0, 1, 4.0, 1.0, 0.5),
        dispatch=(1, 15, 15, 0),
        staffing=(1, 30, 30, 0),
        shares=(0.0, 0.0),
        vols=(6, 0, 3, 0, 0.0),  # approved by 3 December: all but V6 (5 December)
        tb=(0, 270, 0, 0, 0, 0, 0),
    )


def test_by_week_monday_first(app, client, city):
    answer = stats(
        app, client, city, "mgr_c", "C", **{"from": "2026-11-01", "to": "2026-11-30", "group": "week"}
    )
    assert [g["key"] for g in answer["groups"]] == [
        "2026-10-26",  # 1 November 2026 is a Sunday
        "2026-11-02",
        "2026-11-09",
        "2026-11-16",
        "2026-11-23",
        "2026-11-30",
    ]
    weeks = [
        dict(  # 1 November: O1 submitted; V7 approved
            orders=(1, 0, 0, 0, 0, 1, 0),
            groups={"elderly_alone": 1, "disabled": 1},
            dispatch=(1, 15, 15, 0),
            staffing=(1, 30, 30, 0),
            shares=(0.0, 0.0),
            vols=(0, 1, 0, 0, None),
        ),
        dict(  # 2–8: O2 O11 submitted; O1 O2 A1 served
            sessions=(2, 1),
            att=5,
            minutes=470,
            hours=7.83,
            served=1,
            orders=(2, 0, 0, 0, 0, 1, 1),
            groups={"elderly_alone": 1},
            sat=(2, 0, 0, 4.0, 0.5, 1.0),
            dispatch=(2, 5, None, 1),
            staffing=(2, 10, 60, 0),
            shares=(0.0, 0.0),
            vols=(0, 0, 3, 2, 0.25),  # V1 V2 V4; 2 of 8
            tb=(1, 270, 0, 0, 0, 0, 0),  # V2's book opens
        ),
        dict(  # 9–15: O3 O4 O5 submitted; O3 A4 served
            sessions=(1, 1),
            att=3,
            minutes=165,
            hours=2.75,
            served=1,
            orders=(3, 1, 0, 0, 0, 2, 0),
            groups={"left_behind_children": 1, "elderly_alone": 1},
            sat=(0, 1, 0, None, None, 0.0),
            dispatch=(2, 30, 120, 0),
            staffing=(2, 90, 180, 0),
            shares=(0.0, 0.0),
            vols=(0, 1, 3, 0, 0.0),  # V5 approved; V5 V3 V7 active
            tb=(2, 245, 0, 0, 0, 0, 0),  # V4's and V5's books open
        ),
        dict(  # 16–22: O6 O7 O8 submitted; credits at I1, the reversal, both adjustments
            orders=(3, 0, 1, 1, 2, 0, 1),
            groups={"disabled": 1, "veterans": 1},
            dispatch=(2, 10, 20, 0),
            staffing=(1, 2880, 2880, 0),
            shares=(0.6667, 0.3333),
            tb=(2, 120, 5, 60, 0, 0, 0),  # V3's and V7's books open
        ),
        dict(  # 23–29: O9 O10 O14 submitted; A5 served; redeemed, given, refunded
            sessions=(0, 1),
            att=1,
            minutes=60,
            hours=1.0,
            orders=(3, 0, 0, 0, 0, 1, 2),
            dispatch=(2, 5, 15, 0),
            staffing=(2, 30, 60, 0),
            shares=(0.0, 0.0),
            vols=(0, 0, 1, 0, 0.0),
            tb=(1, 0, 0, 0, 50, 50, 40),  # R1's book opens
        ),
        dict(  # 30 November: O4 served
            sessions=(1, 0),
            att=1,
            minutes=150,
            hours=2.5,
            served=1,
            sat=(0, 0, 1, None, None, 0.0),
            vols=(0, 0, 1, 0, 0.0),
        ),
    ]
    assert [g["figures"] for g in answer["groups"]] == [fig(**series(w)) for w in weeks]
    assert answer["figures"] == fig(**NOV_TOTAL)
