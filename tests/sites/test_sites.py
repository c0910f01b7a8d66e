"""The public site tree, site creation, inherited site settings and the service catalogue."""

from __future__ import annotations

import base64
import json

import pytest

API = "/api/v1"


def sites(client, **params):
    return client.get(f"{API}/sites", query_string=params)


def create_site(client, by, **body):
    return client.post(f"{API}/sites", json=body, headers=by.headers)


def all_pages(client, path: str, limit: int, **params) -> list[dict]:
    items, cursor = [], None
    for _ in range(1000):
        page = client.get(
            path, query_string={"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        )
        assert page.status_code == 200
        assert len(page.json["items"]) <= limit
        items += page.json["items"]
        cursor = page.json["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("paging never ended")


def forged(values) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


# ---- the tree -------------------------------------------------------------------------------------


def test_sites_are_public_and_filterable(client, world):
    everything = sites(client).json
    assert [s["id"] for s in everything["items"]] == sorted(world.sites.values())
    assert everything["next_cursor"] is None
    children = sites(client, parent_id=world.sites["I1"]).json["items"]
    assert [s["code"] for s in children] == ["S1", "S2"]
    assert {s["parent_id"] for s in children} == {world.sites["I1"]}
    stations = sites(client, kind="station").json["items"]
    assert [s["code"] for s in stations] == ["S1", "S2", "S3", "S4"]
    found = sites(client, q="点S")
    assert [s["code"] for s in found.json["items"]] == ["S1", "S2", "S3", "S4"]
    assert sites(client, q="%").json["items"] == sites(client, q="_").json["items"] == []  # not wildcards
    assert [s["code"] for s in sites(client, kind="center", q="C2").json["items"]] == ["C2"]
    # A search left empty, or of what shows nothing, does not filter.
    for blank in ("", "  ", "\x95", "\u200b"):
        assert sites(client, q=blank, limit=100).json["items"] == sites(client, limit=100).json["items"]


def test_paging_covers_every_site_once(app, client, world):
    for i in range(25):
        assert (
            create_site(
                client, world.admin, kind="station", name=f"站{i}", parent_id=world.sites["I3"]
            ).status_code
            == 201
        )
    pages = all_pages(client, f"{API}/sites", limit=7)
    ids = [s["id"] for s in pages]
    assert len(ids) == 34
    assert ids == sorted(set(ids))
    filtered = all_pages(client, f"{API}/sites", limit=10, parent_id=world.sites["I3"])
    assert len(filtered) == 26


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "e30",
        forged({"id": 1}),
        forged([]),
        forged(["3"]),
        forged([1.5]),
        forged([True]),
        forged([2**70]),
        "a" * 201,  # longer than any cursor the server writes
    ],
)
def test_a_bad_cursor_is_400(client, world, cursor):
    r = sites(client, cursor=cursor)
    assert (r.status_code, r.json["error"]) == (400, "pagination.bad_cursor")


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 101},
        {"limit": 0},
        {"limit": "x"},
        {"kind": "village"},
        {"parent_id": 0},
        {"parent_id": str(2**64)},
    ],
)
def test_bad_list_parameters_are_422_naming_them(client, world, params):
    r = sites(client, **params)
    assert r.status_code == 422
    assert set(params) <= set(r.json["errors"]["query"])


def test_a_limit_of_100_is_accepted(client, world):
    assert sites(client, limit=100).status_code == 200


def test_site_detail(client, world):
    r = client.get(f"{API}/sites/{world.sites['S1']}")
    assert r.status_code == 200
    assert (r.json["kind"], r.json["code"], r.json["parent_id"]) == ("station", "S1", world.sites["I1"])
    assert "settings" not in r.json and "path" not in r.json
    missing = client.get(f"{API}/sites/999999")
    assert (missing.status_code, missing.json["error"]) == (404, "not_found")


@pytest.mark.parametrize(("kind", "parent"), [("center", None), ("institute", "C2"), ("station", "I2")])
def test_an_admin_creates_sites_under_the_right_parent(client, world, kind, parent):
    parent_id = world.sites[parent] if parent else None
    r = create_site(
        client,
        world.admin,
        kind=kind,
        name="新站点",
        parent_id=parent_id,
        code=f"N-{kind}",
        lat=30.1,
        lng=120.2,
    )
    assert r.status_code == 201
    assert (r.json["kind"], r.json["parent_id"], r.json["code"]) == (kind, parent_id, f"N-{kind}")
    assert client.get(f"{API}/sites/{r.json['id']}").json == r.json


def test_a_new_station_is_in_reach_of_the_managers_above_it(client, world):
    station = create_site(client, world.admin, kind="station", name="新站", parent_id=world.sites["I1"]).json[
        "id"
    ]
    assert client.get(f"{API}/sites/{station}/settings", headers=world.mgr_c1.headers).status_code == 200
    assert client.get(f"{API}/sites/{station}/settings", headers=world.mgr_s1.headers).status_code == 404


@pytest.mark.parametrize(
    ("kind", "parent"),
    [
        ("center", "C1"),
        ("institute", None),
        ("institute", "I1"),
        ("institute", "S1"),
        ("station", "C1"),
        ("station", "S1"),
        ("station", None),
        ("station", "missing"),
    ],
)
def test_a_site_under_the_wrong_parent_is_422(client, world, kind, parent):
    parent_id = world.sites.get(parent, 999_999) if parent else None
    r = create_site(client, world.admin, kind=kind, name="错站", parent_id=parent_id)
    assert (r.status_code, r.json["error"]) == (422, "site.bad_parent")
    assert "parent_id" in r.json["errors"]["json"]


def test_a_duplicate_site_code_is_409(client, world):
    r = create_site(client, world.admin, kind="station", name="重复", parent_id=world.sites["I1"], code="S1")
    assert (r.status_code, r.json["error"]) == (409, "site.code_taken")
    assert len(sites(client, parent_id=world.sites["I1"]).json["items"]) == 2


@pytest.mark.parametrize("person", ["mgr_c1", "resident", None])
def test_only_an_admin_creates_sites(client, world, person):
    headers = world.people[person].headers if person else {}
    r = client.post(f"{API}/sites", json={"kind": "center", "name": "C9"}, headers=headers)
    assert r.status_code == (403 if person else 401)
    assert len(sites(client, kind="center").json["items"]) == 2


# ---- settings -------------------------------------------------------------------------------------


def settings(client, by, site_id: int):
    return client.get(f"{API}/sites/{site_id}/settings", headers=by.headers)


def patch_settings(client, by, site_id: int, **values):
    return client.patch(f"{API}/sites/{site_id}/settings", json=values, headers=by.headers)


def test_effective_settings_start_from_the_deployment_defaults(app, client, world):
    r = settings(client, world.mgr_s1, world.sites["S1"])
    assert r.status_code == 200
    assert r.json["overrides"] == {}
    assert r.json["effective"] == app.config["SITE_DEFAULTS"]


def test_settings_inherit_down_the_tree_and_the_nearest_override_wins(client, world):
    c1, s1, s2 = world.sites["C1"], world.sites["S1"], world.sites["S2"]
    r = patch_settings(client, world.mgr_c1, c1, grab_max_open=5, timezone="Asia/Urumqi")
    assert (r.status_code, r.json["overrides"]) == (200, {"grab_max_open": 5, "timezone": "Asia/Urumqi"})
    assert patch_settings(client, world.mgr_s1, s1, grab_max_open=2).status_code == 200
    station = settings(client, world.mgr_s1, s1).json
    assert station["overrides"] == {"grab_max_open": 2}
    assert (station["effective"]["grab_max_open"], station["effective"]["timezone"]) == (2, "Asia/Urumqi")
    sibling = settings(client, world.mgr_s2, s2).json["effective"]
    assert (sibling["grab_max_open"], sibling["timezone"]) == (5, "Asia/Urumqi")
    elsewhere = settings(client, world.mgr_s4, world.sites["S4"]).json["effective"]
    assert (elsewhere["grab_max_open"], elsewhere["timezone"]) == (3, "Asia/Shanghai")


def test_null_removes_an_override(client, world):
    c1, s1 = world.sites["C1"], world.sites["S1"]
    patch_settings(client, world.mgr_c1, c1, grab_max_open=5)
    patch_settings(client, world.mgr_s1, s1, grab_max_open=2, checkin_radius_m=800)
    r = patch_settings(client, world.mgr_s1, s1, grab_max_open=None)
    assert r.json["overrides"] == {"checkin_radius_m": 800}
    assert r.json["effective"]["grab_max_open"] == 5
    patch_settings(client, world.mgr_c1, c1, grab_max_open=None)
    assert settings(client, world.mgr_s1, s1).json["effective"]["grab_max_open"] == 3


@pytest.mark.parametrize(
    "values",
    [
        {"timezone": "Mars/Olympus"},
        {"timezone": "../../etc/passwd"},
        {"timezone": ""},
        {"dispatch_within_minutes": -1},
        {"checkin_grace_minutes": 1.5},
        {"grab_window_minutes": "60"},
        {"dispatch_level": "province"},
        {"star_thresholds_hours": [300, 100]},
        {"star_thresholds_hours": [100, 100, 300]},
        {"star_thresholds_hours": []},
        {"star_thresholds_hours": [0, 100]},
        {"nonsense": 1},
    ],
)
def test_invalid_settings_are_422_and_change_nothing(client, world, values):
    s1 = world.sites["S1"]
    r = patch_settings(client, world.mgr_s1, s1, **values)
    assert r.status_code == 422
    assert set(values) <= set(r.json["errors"]["json"])
    assert settings(client, world.mgr_s1, s1).json["overrides"] == {}


@pytest.mark.parametrize(("person", "site"), [("mgr_s4", "S1"), ("mgr_s1", "S2"), ("mgr_s1", "I1")])
def test_settings_out_of_reach_are_404(client, world, person, site):
    manager, site_id = world.people[person], world.sites[site]
    assert settings(client, manager, site_id).status_code == 404
    assert patch_settings(client, manager, site_id, grab_max_open=9).status_code == 404
    assert settings(client, world.admin, site_id).json["overrides"] == {}


def test_residents_cannot_read_settings(client, world):
    assert settings(client, world.resident, world.sites["S1"]).status_code == 403


@pytest.mark.parametrize(
    ("days", "said"),
    [
        ({"red": 0, "yellow": 3, "green": 7}, {"red": {"value": ["必须大于或等于 1 且小于或等于 365。"]}}),
        ({"red": 1, "yellow": "x", "green": 7}, {"yellow": {"value": ["必须是整数（JSON 数字）"]}}),
        ({"red": 1, "yellow": 3}, ["须同时设置红、黄、绿三个级别"]),
    ],
    ids=["one-out-of-range", "one-not-a-number", "one-missing"],
)
def test_supervision_due_days_say_only_what_is_wrong(client, world, days, said):
    """All three levels named, one of them refused: the answer names that level's value, not a
    missing level as well (the three were there)."""
    r = patch_settings(client, world.mgr_s1, world.sites["S1"], supervision_due_days=days)
    assert r.status_code == 422
    assert r.json["errors"]["json"]["supervision_due_days"] == said


# ---- categories -----------------------------------------------------------------------------------


def categories(client, **params):
    return client.get(f"{API}/categories", query_string=params)


def test_the_default_catalogue_is_listed_in_order(client):
    r = categories(client)
    assert r.status_code == 200
    assert len(r.json["items"]) == 12 and r.json["next_cursor"] is None
    assert [c["name_zh"] for c in r.json["items"][:4]] == ["文明交通", "理论宣讲", "助学支教", "关爱老人"]
    assert [c["sort"] for c in r.json["items"]] == sorted(c["sort"] for c in r.json["items"])
    assert all(c["active"] for c in r.json["items"])


def test_an_admin_adds_renames_and_deactivates_a_category(client, world):
    r = client.post(
        f"{API}/categories",
        json={"code": "pet_care", "name_zh": "宠物照料", "name_en": "Pet care", "sort": -1},
        headers=world.admin.headers,
    )
    assert r.status_code == 201
    new = r.json["id"]
    assert categories(client).json["items"][0]["code"] == "pet_care"
    r = client.patch(
        f"{API}/categories/{new}", json={"name_zh": "萌宠照料", "sort": 99}, headers=world.admin.headers
    )
    assert (r.status_code, r.json["name_zh"], r.json["sort"]) == (200, "萌宠照料", 99)
    assert categories(client).json["items"][-1]["id"] == new
    client.patch(f"{API}/categories/{new}", json={"active": False}, headers=world.admin.headers)
    assert new not in [c["id"] for c in categories(client).json["items"]]
    hidden = categories(client, include_inactive="true").json["items"]
    assert [c["active"] for c in hidden if c["id"] == new] == [False]
    assert len(hidden) == 13


def test_a_duplicate_category_code_is_409(client, world):
    body = {"code": "elder_care", "name_zh": "重复", "name_en": "Duplicate"}
    r = client.post(f"{API}/categories", json=body, headers=world.admin.headers)
    assert (r.status_code, r.json["error"]) == (409, "category.code_taken")


def test_patching_an_unknown_category_is_404(client, world):
    assert (
        client.patch(f"{API}/categories/999999", json={"sort": 1}, headers=world.admin.headers).status_code
        == 404
    )


@pytest.mark.parametrize("person", ["mgr_c1", "vol_s1", "resident"])
def test_only_an_admin_edits_the_catalogue(client, world, person):
    headers = world.people[person].headers
    first = categories(client).json["items"][0]["id"]
    body = {"code": "x", "name_zh": "某", "name_en": "X"}
    assert client.post(f"{API}/categories", json=body, headers=headers).status_code == 403
    assert (
        client.patch(f"{API}/categories/{first}", json={"active": False}, headers=headers).status_code == 403
    )
    assert len(categories(client).json["items"]) == 12


def test_settings_say_where_each_value_comes_from(client, world):
    c1, s1 = world.sites["C1"], world.sites["S1"]
    patch_settings(client, world.mgr_c1, c1, grab_max_open=5)
    r = patch_settings(client, world.mgr_s1, s1, checkin_radius_m=800)
    assert r.json["sources"]["checkin_radius_m"] == {"id": s1, "name": "站点S1"}
    sources = settings(client, world.mgr_s1, s1).json["sources"]
    assert set(sources) == set(settings(client, world.mgr_s1, s1).json["effective"])
    assert sources["grab_max_open"] == {"id": c1, "name": "站点C1"}  # the center's, read by the station
    assert sources["checkin_radius_m"] == {"id": s1, "name": "站点S1"}
    assert sources["dispatch_level"] is None  # the deployment default
    assert settings(client, world.mgr_s2, world.sites["S2"]).json["sources"]["checkin_radius_m"] is None
