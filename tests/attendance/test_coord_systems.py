"""`coord_system` on every coordinate the API takes: a point sent in GCJ-02 or BD-09 is stored (and
returned) as WGS-84, the default stays WGS-84 for today's clients, and a bad system is a 422 naming the
field in the one error format."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.activities.test_activities import activity_body
from tests.api.helpers import assert_error
from tests.orders.conftest import PLACE, Loop, order_body
from tests.orders.test_attendance import staffed
from volunteer_app import geo
from volunteer_app.geo import distance_m, from_wgs84


@pytest.fixture
def loop(app, client) -> Loop:
    return Loop(app, client)


def shown(point: dict, system: str) -> dict:
    """`point` (WGS-84) as a phone map of `system` reports it, with the system named."""
    lat, lng = from_wgs84(point["lat"], point["lng"], system)
    return {"lat": lat, "lng": lng, "coord_system": system}


def assert_at(got: dict, point: dict, within_m: int = 0) -> None:
    assert distance_m(got["lat"], got["lng"], point["lat"], point["lng"]) <= within_m, (got, point)


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
def test_an_order_sent_from_a_chinese_map_is_stored_in_wgs84(loop, world, system):
    sent = shown(PLACE, system)
    assert distance_m(sent["lat"], sent["lng"], PLACE["lat"], PLACE["lng"]) > 400  # the offset is real
    order = loop.call("POST", "/orders", world.resident, order_body(loop.app, **sent), 201)
    assert_at(order, PLACE)
    assert "coord_system" not in order
    assert_at(loop.get(world.mgr_s1, order["id"]), PLACE)


def test_without_coord_system_a_point_is_wgs84_as_before(loop, world):
    order = loop.call("POST", "/orders", world.resident, order_body(loop.app), 201)
    assert (order["lat"], order["lng"]) == (PLACE["lat"], PLACE["lng"])
    explicit = loop.call("POST", "/orders", world.resident, order_body(loop.app, coord_system="wgs84"), 201)
    assert (explicit["lat"], explicit["lng"]) == (PLACE["lat"], PLACE["lng"])


def test_activity_rule_and_site_take_coord_system(loop, world):
    activity = loop.call(
        "POST",
        f"/sites/{world.sites['S1']}/activities",
        world.mgr_s1,
        activity_body(loop.app, **shown(PLACE, "bd09")),
        201,
    )
    assert_at(activity, PLACE)
    site = loop.call(
        "POST",
        "/sites",
        world.admin,
        {"kind": "station", "name": "新站", "parent_id": world.sites["I1"], **shown(PLACE, "gcj02")},
        201,
    )
    assert_at(site, PLACE)
    # A site without a position stays without one, whatever the system says.
    bare = {"kind": "station", "name": "无址站", "parent_id": world.sites["I1"], "coord_system": "gcj02"}
    site = loop.call("POST", "/sites", world.admin, bare, 201)
    assert site["lat"] is None and site["lng"] is None


def test_the_feed_query_takes_coord_system(loop, world):
    order = loop.submit(world.resident)
    loop.dispatch_grab(world.mgr_s1, order["id"])
    sent = shown(PLACE, "gcj02")
    query = f"lat={sent['lat']}&lng={sent['lng']}&limit=100"
    plain = loop.call("GET", f"/tasks/available?{query}", world.vol_s1)["items"]
    converted = loop.call("GET", f"/tasks/available?{query}&coord_system=gcj02", world.vol_s1)["items"]
    distance = {t["id"]: t["distance_m"] for t in converted if t["kind"] == "order"}
    assert distance[order["id"]] == 0
    assert {t["id"]: t["distance_m"] for t in plain if t["kind"] == "order"}[order["id"]] > 400


def test_registration_finds_the_nearest_station_from_a_gcj02_point(client, world):
    """Half way between S1 (30.27, 120.17) and S2 (30.28, 120.18), a little nearer S1: sent in GCJ-02,
    the same numbers read as WGS-84 would be nearer S2."""
    point = {"lat": 30.2745, "lng": 120.1745}
    sent = shown(point, "gcj02")

    def home(phone: str, **extra) -> int:
        body = {"phone": phone, "password": "correct horse battery", "name": "新居民", **extra}
        r = client.post("/api/v1/auth/register", json=body)
        assert r.status_code == 201, r.get_json()
        return r.get_json()["user"]["home_site"]["id"]

    assert home("13911110001", **sent) == world.sites["S1"]
    unconverted = {"lat": sent["lat"], "lng": sent["lng"]}
    assert home("13911110002", **unconverted) == world.sites["S2"]


BAD_SYSTEMS = ["GCJ02", "mars", "", "wgs-84", 5, None, True, ["gcj02"], "gcj02\u0000"]


@pytest.mark.parametrize("bad", BAD_SYSTEMS)
def test_a_bad_coord_system_is_a_422_naming_the_field_and_changes_nothing(loop, client, world, bad):
    before = loop.call("GET", "/orders?limit=100", world.resident)["items"]
    r = client.post(
        "/api/v1/orders", json=order_body(loop.app, coord_system=bad), headers=world.resident.headers
    )
    body = assert_error(r, 422, "validation.failed")
    assert list(body["errors"]["json"]) == ["coord_system"], body
    assert loop.call("GET", "/orders?limit=100", world.resident)["items"] == before


@pytest.mark.parametrize("bad", ["GCJ02", "mars", "", "bd09%00"])
def test_a_bad_coord_system_in_a_query_string_is_a_422(client, world, bad):
    r = client.get(
        f"/api/v1/tasks/available?lat=30.27&lng=120.17&coord_system={bad}", headers=world.vol_s1.headers
    )
    body = assert_error(r, 422, "validation.failed")
    assert list(body["errors"]["query"]) == ["coord_system"], body


def test_a_gcj02_check_in_at_a_wgs84_place_passes_where_the_unconverted_reading_fails(app, world, loop):
    """The order is stored in WGS-84 (PLACE); the volunteer's WeChat reports the same spot in GCJ-02,
    ~518 m east-south-east in Hangzhou, beyond the 500 m radius if taken as WGS-84."""
    _, start, [(vol, a)] = staffed(app, world, loop)
    sent = shown(PLACE, geo.GCJ02)
    unconverted = {"lat": sent["lat"], "lng": sent["lng"]}
    with loop.at(start):
        body = loop.act(vol, a["id"], "check-in", unconverted, status=422)
        assert body["error"] == "attendance.too_far" and body["errors"]["position"]["distance_m"] > 500
        checked = loop.act(vol, a["id"], "check-in", sent)
    assert checked["status"] == "checked_in" and checked["checkin_distance_m"] == 0
    with loop.at(start + timedelta(minutes=60)):
        out = loop.act(vol, a["id"], "check-out", shown(PLACE, geo.BD09))
    assert out["checkout_distance_m"] == 0 and out["minutes_computed"] == 60
    assert isinstance(datetime.fromisoformat(out["checkout_at"]), datetime)


@pytest.mark.parametrize("half, missing", [({"lat": 30.27}, "lng"), ({"lng": 120.17}, "lat")])
@pytest.mark.parametrize("system", [None, "gcj02"])
def test_half_a_site_position_is_a_422_on_the_missing_half(loop, client, world, half, missing, system):
    # It was stored as given (a lone lat, never converted from the system it claimed).
    sites = loop.call("GET", "/sites?limit=100", world.admin)["items"]
    body = {"kind": "station", "name": "半个坐标站", "parent_id": world.sites["I1"], **half}
    if system:
        body["coord_system"] = system
    r = client.post("/api/v1/sites", json=body, headers=world.admin.headers)
    assert assert_error(r, 422, "validation.failed")["errors"]["json"] == {missing: ["lat 与 lng 须同时提供"]}
    assert loop.call("GET", "/sites?limit=100", world.admin)["items"] == sites
