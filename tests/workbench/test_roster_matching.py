"""The dispatch picker suggests who fits an order: GET /sites/{id}/volunteers?for_order=… orders the
volunteers by orders/matching.py (named the category, named none, others; then the most of the
order's skills; then id), says how each fits (`matches`), and pages on those keys to the end."""

from __future__ import annotations

import pytest

from tests.api.helpers import assert_error
from tests.workbench.conftest import API, categories, read_all, set_order, volunteer


@pytest.fixture
def picker(app, world, loop):
    a, b = categories(app)
    s1 = world.sites["S1"]
    people = {
        "named1": volunteer(app, s1, 81, "甲", ["急救"], category_ids=[a]),
        "other2": volunteer(app, s1, 82, "乙", ["急救", "陪诊"], category_ids=[b]),
        "open1": volunteer(app, s1, 83, "丙", ["陪诊", "做饭"]),
        "named2": volunteer(app, s1, 84, "丁", ["陪诊", "急救"], category_ids=[b, a]),
        "other0": volunteer(app, s1, 85, "戊", [], category_ids=[b]),
        "open0": world.vol_s1,  # named no category, no skill
    }
    order = loop.submit(world.resident, category_id=a, skills=["急救", "陪诊"])
    assert order["skills"] == ["急救", "陪诊"]
    plain = loop.submit(world.resident, category_id=a)
    assert plain["skills"] == []
    return {"people": people, "order": order["id"], "plain": plain["id"], "cats": (a, b)}


def names(picker, rows) -> list[str]:
    back = {p.id: k for k, p in picker["people"].items()}
    return [back[r["user_id"]] for r in rows]


def listing(client, person, site_id, **query):
    return read_all(client, person, f"{API}/sites/{site_id}/volunteers", query)


def test_who_fits_comes_first_page_by_page(app, client, world, picker):
    s1 = world.sites["S1"]
    rows = listing(client, world.mgr_s1, s1, for_order=str(picker["order"]))  # two a page
    assert names(picker, rows) == ["named2", "named1", "open1", "open0", "other2", "other0"]
    by = {name: row["matches"] for name, row in zip(names(picker, rows), rows, strict=True)}
    assert by["named2"] == {"category": True, "skills": ["急救", "陪诊"], "fits": True}
    assert by["named1"] == {"category": True, "skills": ["急救"], "fits": True}
    assert by["open1"] == {"category": True, "skills": ["陪诊"], "fits": True}
    assert by["open0"] == {"category": True, "skills": [], "fits": False}  # lacks every skill asked
    assert by["other2"] == {"category": False, "skills": ["急救", "陪诊"], "fits": False}
    assert by["other0"] == {"category": False, "skills": [], "fits": False}
    # Any page size walks the same list; other filters narrow it in the same order.
    for limit in ("1", "5", "100"):
        page_rows, cursor, seen = None, None, []
        while True:
            query = {"for_order": picker["order"], "limit": limit, **({"cursor": cursor} if cursor else {})}
            page_rows = client.get(
                f"{API}/sites/{s1}/volunteers", query_string=query, headers=world.mgr_s1.headers
            )
            assert page_rows.status_code == 200
            seen += page_rows.json["items"]
            cursor = page_rows.json["next_cursor"]
            if not cursor:
                break
        assert names(picker, seen) == names(picker, rows)
    narrowed = listing(client, world.mgr_s1, s1, for_order=str(picker["order"]), skill="急救")
    assert names(picker, narrowed) == ["named2", "named1", "other2"]
    # An order asking no skill: by category alone (then id); everyone of its category fits.
    rows = listing(client, world.mgr_s1, s1, for_order=str(picker["plain"]))
    assert names(picker, rows) == ["named1", "named2", "open0", "open1", "other2", "other0"]
    assert [r["matches"]["fits"] for r in rows] == [True, True, True, True, False, False]
    assert all(r["matches"]["skills"] == [] for r in rows)
    # Without for_order: by id, no matches.
    rows = listing(client, world.mgr_s1, s1)
    assert [r["user_id"] for r in rows] == sorted(r["user_id"] for r in rows)
    assert {r["matches"] is None for r in rows} == {True}


def test_an_order_out_of_reach_is_404(app, client, world, picker):
    url = f"{API}/sites/{world.sites['S1']}/volunteers"
    mine = {"for_order": picker["order"]}
    # The center above sees it; a sibling station's manager (on their own roster) does not.
    assert client.get(url, query_string=mine, headers=world.mgr_c1.headers).status_code == 200
    sibling = client.get(
        f"{API}/sites/{world.sites['S2']}/volunteers", query_string=mine, headers=world.mgr_s2.headers
    )
    assert_error(sibling, 404, "not_found")
    # An order of the other center, and one that does not exist.
    set_order(app, picker["plain"], site_id=world.sites["S4"], dispatch_site_id=world.sites["S4"])
    for order_id in (picker["plain"], 987654321):
        assert_error(client.get(url, query_string={"for_order": order_id}, headers=world.mgr_s1.headers), 404)
    # Bad ids are 422; a cursor of another ordering is 400.
    for bad in ("0", "-1", "abc", "1.5", ""):
        assert_error(client.get(url, query_string={"for_order": bad}, headers=world.mgr_s1.headers), 422)
    page = client.get(url, query_string={"limit": 1}, headers=world.mgr_s1.headers).json
    crossed = client.get(
        url, query_string={**mine, "cursor": page["next_cursor"]}, headers=world.mgr_s1.headers
    )
    assert_error(crossed, 400, "pagination.bad_cursor")
