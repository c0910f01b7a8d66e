"""The feed reads a smaller circle first (feed/service.py `_first_look`): where it fills the page, the
page is the whole circle's, to the entry and the cursor; where it does not, the whole circle is read.
Every page of walks at several page sizes is compared with the same walk reading the whole circle."""

from __future__ import annotations

import pytest

from tests.orders.conftest import PLACE
from tests.orders.test_feed_filters import activity, pages, statements, three_categories
from tests.support import make_volunteer
from volunteer_app.feed import service as feed_service

HERE = f"lat={PLACE['lat']}&lng={PLACE['lng']}"

# Offsets (degrees) from PLACE: a cluster within 250 m (inside the first look of a 5 km radius, 1.25
# km) with two pools on one spot (a tie the id breaks); a ring out to 5 km, its nearest (1.22 km) just
# inside the first look; one pool beyond 5 km.
NEAR = [(0.0005 * i, 0.0004 * (i % 3)) for i in range(-3, 5)] + [(0.0011, -0.0009), (0.0011, -0.0009)]
RING = [(0.012, 0.0), (0.0, -0.02), (-0.03, 0.01), (0.02, 0.03), (0.011, 0.0001)]
BEYOND = [(0.06, 0.0)]


def _pool(world, loop, dlat: float, dlng: float) -> int:
    place = {"lat": round(PLACE["lat"] + dlat, 6), "lng": round(PLACE["lng"] + dlng, 6)}
    order_id = loop.submit(world.resident, **place)["id"]
    loop.dispatch_grab(world.mgr_s1, order_id, capacity=2)
    return order_id


@pytest.fixture
def city(app, world, loop):
    """Pools near and far, and an activity inside the cluster and another in the ring."""
    entries = [("order", _pool(world, loop, *offset)) for offset in NEAR + RING + BEYOND]
    category = three_categories(app)[0]
    entries.append(("activity", activity(world, loop, 2, category, [])))  # 220 m north
    entries.append(("activity", activity(world, loop, 25, category, [])))  # 2.8 km north
    return entries


@pytest.mark.parametrize("limit", [1, 3, 5, 7, 11, 20, 100])
def test_every_page_is_the_whole_circles(app, world, loop, city, monkeypatch, limit):
    volunteer = make_volunteer(app, world.sites["S1"], 41, "志愿者四一")
    loop.grab(volunteer, city[1][1])  # one of theirs: left out of their feed in both ways
    for query in ("", "&radius_m=2000", "&radius_m=800"):
        looked_first = pages(loop, volunteer, query, limit)
        monkeypatch.setattr(feed_service, "FIRST_LOOK", None)
        whole = pages(loop, volunteer, query, limit)
        monkeypatch.setattr(feed_service, "FIRST_LOOK", 0.25)
        assert looked_first == whole, (limit, query)
    entries = [(t["kind"], t["id"]) for page in pages(loop, volunteer, "", limit) for t in page["items"]]
    # Everything within 5 km but their own, once: 10 + 5 pools and two activities, less the one taken.
    assert len(entries) == len(NEAR) + len(RING) + 2 - 1 and city[1] not in entries
    assert city[len(NEAR) + len(RING)] not in entries  # the pool beyond 5 km


def _feed_statements(app, client, person, query: str) -> list[str]:
    with statements(app) as seen:
        answer = client.get(f"/api/v1/tasks/available?{HERE}{query}", headers=person.headers)
    assert answer.status_code == 200, answer.json
    return [s for s in seen if "FROM orders" in s and "FROM activities" in s]


def test_one_statement_where_the_smaller_circle_fills_the_page_two_where_it_does_not(
    app, client, world, loop, city
):
    person = world.vol_s1
    client.get(f"/api/v1/tasks/available?{HERE}", headers=person.headers)  # warm
    # 12 entries lie within 1.25 km (the cluster's 11 and the ring's nearest): a page of 5 fills there.
    assert len(_feed_statements(app, client, person, "&limit=5")) == 1
    # A page of 20 does not: the same statement again over the whole circle.
    twice = _feed_statements(app, client, person, "&limit=20")
    assert len(twice) == 2 and twice[0] == twice[1]
    # A page after the 220 m activity looks a quarter radius beyond its cursor, out to 1.47 km: three
    # entries there (the cluster's last, the ring's two nearest), enough for a page of 2 and the sign
    # that more follow, not for a page of 3.
    page = loop.call("GET", f"/tasks/available?{HERE}&limit=10", person)
    assert page["items"][-1]["kind"] == "activity"
    assert len(_feed_statements(app, client, person, f"&limit=2&cursor={page['next_cursor']}")) == 1
    assert len(_feed_statements(app, client, person, f"&limit=3&cursor={page['next_cursor']}")) == 2
    # A radius of 300 m looks first within 75 m, where two pools lie: enough for a page of 1, not of 2.
    assert len(_feed_statements(app, client, person, "&limit=1&radius_m=300")) == 1
    assert len(_feed_statements(app, client, person, "&limit=2&radius_m=300")) == 2
    # A first look reaching past half the radius is not tried: one statement, even when it is short.
    far = loop.call("GET", f"/tasks/available?{HERE}&limit=16", person)["items"][-1]
    assert far["distance_m"] > 2500
    last = loop.call("GET", f"/tasks/available?{HERE}&limit=15", person)["next_cursor"]
    assert len(_feed_statements(app, client, person, f"&limit=5&cursor={last}")) == 1
