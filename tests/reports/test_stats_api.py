"""`GET /sites/{id}/stats`: bad input is a 4xx in the one error format and changes nothing; reach is the
house's (managers in reach, admins; others 403, out of reach 404 like "does not exist"); the default
period is this month up to today on the site's clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from sqlalchemy import select

from tests.api.helpers import assert_error
from tests.support import credit, headers_now
from volunteer_app.extensions import db
from volunteer_app.reports import rollups
from volunteer_app.reports.models import report_state


def url(world, at: str = "S1", **query) -> str:
    pairs = "&".join(f"{k}={v}" for k, v in query.items())
    return f"/api/v1/sites/{world.sites[at]}/stats" + (f"?{pairs}" if pairs else "")


def get(client, world, who: str, at: str = "S1", lang: str = "zh-CN", **query):
    headers = {**world.people[who].headers, "Accept-Language": lang}
    return client.get(url(world, at, **query), headers=headers)


@pytest.fixture
def logged(app, world):
    """Changes waiting in the log (the world's volunteers, a credit at S1 and its new book): a refused
    read must not count them."""
    with app.app_context():
        before = rollups.pending_changes()
    credit(app, world.vol_s1, world.sites["S1"], 30)
    with app.app_context():
        world.pending = rollups.pending_changes()
        assert world.pending > before
    return world


def _nothing_counted(app, world) -> None:
    with app.app_context():
        assert rollups.pending_changes() == world.pending
        assert db.session.execute(select(report_state.c.refreshed_at)).scalar() is None


BAD = [
    # (query, error, the field `errors` names)
    ({"from": "2026-11-02", "to": "2026-11-01"}, "stats.bad_period", "from"),
    ({"from": "2026-01-01", "to": "2026-04-03", "group": "day"}, "stats.period_too_long", "from"),  # 92 + 1
    ({"from": "2026-01-01", "to": "2028-01-02", "group": "week"}, "stats.period_too_long", "from"),  # 731 + 1
    (
        {"from": "2026-01-01", "to": "2029-01-03", "group": "none"},
        "stats.period_too_long",
        "from",
    ),  # 1098 + 1
    ({"from": "2026-01-01", "to": "2029-01-03", "group": "month"}, "stats.period_too_long", "from"),
    ({"group": "year"}, "validation.failed", "group"),
    ({"group": ""}, "validation.failed", "group"),
    ({"from": "2026-13-01"}, "validation.failed", "from"),
    ({"from": "2026-02-30"}, "validation.failed", "from"),
    ({"from": "20261101"}, "validation.failed", "from"),
    ({"to": "2026-W45-1"}, "validation.failed", "to"),
    ({"from": ""}, "validation.failed", "from"),
    ({"to": ""}, "validation.failed", "to"),
    ({"from": "1900-01-01", "to": "1900-01-31"}, "validation.failed", "from"),
    ({"to": "9999-12-31"}, "validation.failed", "to"),
    ({"from": "2026-11-01T00:00:00"}, "validation.failed", "from"),
]


@pytest.mark.parametrize(("query", "error", "field"), BAD, ids=[repr(b[0]) for b in BAD])
def test_bad_input_is_a_4xx_in_the_one_format_and_counts_nothing(app, client, logged, query, error, field):
    body = assert_error(get(client, logged, "mgr_s1", **query), 422, error)
    assert field in body["errors"]["query"], body
    _nothing_counted(app, logged)


def test_unknown_query_keys_are_ignored_as_everywhere_in_query_strings(client, world):
    """The house refuses unknown keys in bodies, not in query strings (README): `start` is not `from`,
    so the answer is the default period's."""
    plain = get(client, world, "mgr_s1").get_json()
    odd = get(client, world, "mgr_s1", start="2026-01-01", site="9").get_json()
    assert (odd["from"], odd["to"]) == (plain["from"], plain["to"])


def test_messages_in_both_languages(client, world):
    query = {"from": "2026-01-01", "to": "2026-04-03", "group": "day"}
    zh = assert_error(get(client, world, "mgr_s1", **query), 422, "stats.period_too_long")
    en = assert_error(get(client, world, "mgr_s1", lang="en", **query), 422, "stats.period_too_long")
    assert "92" in zh["message"] and "天" in zh["message"]
    assert en["message"] == "The period is too long: at most 92 days when grouped by day"
    en = assert_error(
        get(client, world, "mgr_s1", lang="en", **{"from": "2026-11-02", "to": "2026-11-01"}),
        422,
        "stats.bad_period",
    )
    assert en["message"] == "The period starts after it ends"


@pytest.mark.parametrize(
    ("group", "days"),
    [("day", 92), ("week", 731), ("none", 1098), ("child", 1098), ("category", 1098), ("month", 1098)],
)
def test_the_longest_period_of_each_group_is_taken(client, world, group, days):
    end = {92: "2026-04-02", 731: "2028-01-01", 1098: "2029-01-02"}[days]  # from 1 January 2026
    response = get(client, world, "mgr_s1", **{"from": "2026-01-01", "to": end, "group": group})
    assert response.status_code == 200, response.get_json()
    if group in ("day", "week", "month"):
        assert len(response.get_json()["groups"]) == {"day": 92, "week": 105, "month": 37}[group]


def test_reach(client, world):
    s = world.sites
    assert get(client, world, "mgr_s1", "S1").status_code == 200
    for who, site in (
        ("mgr_s2", "S1"),
        ("mgr_s1", "I1"),
        ("mgr_s1", "C1"),
        ("mgr_s1", "S4"),
        ("mgr_c1", "S4"),
    ):
        # A sibling, the sites above, the other center: exactly like a site that does not exist.
        out_of_reach = assert_error(get(client, world, who, site), 404, "not_found")
        missing = assert_error(
            client.get(f"/api/v1/sites/{10**9}/stats", headers=world.people[who].headers), 404
        )
        assert out_of_reach == missing
    for who in ("vol_s1", "resident"):
        assert_error(get(client, world, who, "S1"), 403)
    assert get(client, world, "mgr_i1", "S2").status_code == 200
    assert get(client, world, "mgr_c1", "S3").status_code == 200
    answer = get(client, world, "admin", "C2", group="child").get_json()
    assert answer["site"]["id"] == s["C2"]
    assert [g["key"] for g in answer["groups"]] == [str(s["I3"])]
    assert client.get(url(world, "S1")).status_code == 401


def test_the_default_period_is_this_month_to_today_on_the_sites_clock(app, client, world):
    # 17:30 UTC on 31 October is 01:30 on 1 November in Asia/Shanghai.
    with time_machine.travel(datetime(2026, 10, 31, 17, 30, tzinfo=UTC), tick=False):
        headers = headers_now(app, world.mgr_s1.id)
        answer = client.get(url(world), headers=headers).get_json()
        assert (answer["from"], answer["to"], answer["group"]) == ("2026-11-01", "2026-11-01", "none")
        only_to = client.get(url(world, to="2026-09-17"), headers=headers).get_json()
        assert (only_to["from"], only_to["to"]) == ("2026-09-01", "2026-09-17")
        only_from = client.get(url(world, **{"from": "2026-10-20"}), headers=headers).get_json()
        assert (only_from["from"], only_from["to"]) == ("2026-10-20", "2026-11-01")
        after_today = client.get(url(world, **{"from": "2026-11-02"}), headers=headers)
        assert_error(after_today, 422, "stats.bad_period")
