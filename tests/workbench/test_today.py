"""Today: GET /sites/{id}/today (workbench.today.counts) counts what waits on a site's managers, and
each count's list shows exactly what it counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.api.helpers import assert_error
from tests.workbench.conftest import API, as_caller, fill_today, read_all
from volunteer_app.workbench import today

KEYS = [
    "orders_to_review",
    "orders_to_dispatch",
    "pools_not_filling",
    "checkouts_overdue",
    "audits_overdue",
    "escalations_received",
    "applications_pending",
    "family_links_pending",
    "redemptions_to_fulfil",
    "activities_unaudited",
]


def counts(client, person, site_id: int, lang: str = "zh-CN") -> dict[str, dict]:
    response = client.get(f"{API}/sites/{site_id}/today", headers={**person.headers, "Accept-Language": lang})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["site_id"] == site_id and [c["key"] for c in body["counts"]] == KEYS
    return {c["key"]: c for c in body["counts"]}


def figures(client, person, site_id: int) -> dict[str, int]:
    return {key: c["count"] for key, c in counts(client, person, site_id).items()}


@pytest.fixture
def busy(app, client, world, loop):
    return fill_today(app, world, loop)


def test_counts_down_the_tree(app, client, world, busy):
    s1 = {
        "orders_to_review": 2,
        "orders_to_dispatch": 1,
        "pools_not_filling": 1,
        "checkouts_overdue": 1,
        "audits_overdue": 1,
        "escalations_received": 0,  # a station's lateness is told to the institute above
        "applications_pending": 1,
        "family_links_pending": 1,
        "redemptions_to_fulfil": 1,
        "activities_unaudited": 1,
    }
    assert figures(client, world.mgr_s1, world.sites["S1"]) == s1
    above = {**s1, "orders_to_review": 3, "escalations_received": 1, "applications_pending": 2}
    assert figures(client, world.mgr_i1, world.sites["I1"]) == above
    assert figures(client, world.mgr_c1, world.sites["C1"]) == above
    assert figures(client, world.admin, world.sites["C1"]) == above
    s2 = dict.fromkeys(KEYS, 0) | {"orders_to_review": 1, "applications_pending": 1}
    assert figures(client, world.mgr_s2, world.sites["S2"]) == s2
    assert figures(client, world.mgr_i1, world.sites["S2"]) == s2
    assert figures(client, world.admin, world.sites["C2"]) == dict.fromkeys(KEYS, 0) | {
        "applications_pending": 1
    }
    assert figures(client, world.mgr_c1, world.sites["I2"]) == dict.fromkeys(KEYS, 0)


@pytest.mark.parametrize(
    ("manager", "site"), [("mgr_s1", "S1"), ("mgr_i1", "I1"), ("mgr_c1", "C1"), ("mgr_s2", "S2")]
)
def test_each_count_is_the_length_of_its_list(app, client, world, busy, manager, site):
    person = world.people[manager]
    listed = 0
    for key, entry in counts(client, person, world.sites[site]).items():
        items = read_all(client, person, entry["path"], entry["query"])
        assert len(items) == entry["count"], (key, entry, [i.get("id") for i in items])
        listed += len(items)
    assert listed > 0


def test_the_order_lists_are_the_queue_filters(app, client, world, busy):
    s1 = str(world.sites["S1"])
    entries = counts(client, world.mgr_s1, world.sites["S1"])
    assert {k: (e["path"], e["query"]) for k, e in entries.items() if k.startswith(("orders", "pools"))} == {
        "orders_to_review": ("/api/v1/orders", {"site_id": s1, "need": "review", "status": "submitted"}),
        "orders_to_dispatch": ("/api/v1/orders", {"site_id": s1, "need": "dispatch", "status": "dispatched"}),
        "pools_not_filling": (
            "/api/v1/orders",
            {"site_id": s1, "need": "pool_not_filling", "status": "dispatched"},
        ),
    }
    assert entries["escalations_received"]["query"] == {"site_id": s1, "need": "escalated_to_me"}
    assert entries["applications_pending"]["path"] == f"/api/v1/sites/{s1}/volunteer-applications"
    assert entries["family_links_pending"]["query"] == {"status": "pending"}
    review = read_all(client, world.mgr_s1, "/api/v1/orders", entries["orders_to_review"]["query"])
    assert sorted(o["id"] for o in review) == sorted(busy["review"])
    for key, made in (
        ("orders_to_dispatch", "dispatch"),
        ("pools_not_filling", "pool"),
        ("checkouts_overdue", "checkout"),
        ("audits_overdue", "audit"),
    ):
        assert [o["id"] for o in read_all(client, world.mgr_s1, "/api/v1/orders", entries[key]["query"])] == [
            busy[made]
        ]
    codes = entries["redemptions_to_fulfil"]
    assert (codes["path"], codes["query"]) == (f"/api/v1/sites/{s1}/redemptions", {"status": "issued"})
    # The code past its time is not waiting (fulfilling it is refused) though the job has not run yet.
    assert [r["id"] for r in read_all(client, world.mgr_s1, codes["path"], codes["query"])] == [busy["code"]]
    lapsed = read_all(client, world.mgr_s1, codes["path"], {"status": "expired"})
    assert [(r["id"], r["status"]) for r in lapsed] == [(busy["lapsed_code"], "expired")]
    audits = entries["activities_unaudited"]
    assert (audits["path"], audits["query"]) == (
        f"/api/v1/sites/{s1}/activities",
        {"when": "to_audit", "subtree": "true"},
    )
    ended = read_all(client, world.mgr_s1, audits["path"], audits["query"])
    assert [a["id"] for a in ended] == [busy["ended"]]
    escalated = counts(client, world.mgr_i1, world.sites["I1"])["escalations_received"]
    assert [o["id"] for o in read_all(client, world.mgr_i1, "/api/v1/orders", escalated["query"])] == [
        busy["review_s2"]
    ]


def test_labels_follow_the_language(app, client, world):
    zh = counts(client, world.mgr_s1, world.sites["S1"])
    en = counts(client, world.mgr_s1, world.sites["S1"], lang="en")
    assert zh["orders_to_review"]["label"] == "待审核订单（派单或驳回）"
    assert en["orders_to_review"]["label"] == "Orders to review (dispatch or reject)"
    assert en["pools_not_filling"]["label"] == "Grab pools not filling (closing within 6 h)"


def test_the_service_for_the_console(app, world, busy):
    """The console calls the function itself: the same figures, at the moment it is asked about."""
    now = datetime.now(UTC)
    result = as_caller(app, world.mgr_s1, today.counts, site_id=world.sites["S1"], now=now)
    assert result["site_id"] == world.sites["S1"] and result["as_of"] == now
    got = {c["key"]: c["count"] for c in result["counts"]}
    assert got["orders_to_review"] == 2 and got["redemptions_to_fulfil"] == 1
    # Fifteen hours on, the later pool's deadline (in 20 hours) has come within six hours too; the first
    # one's has passed, and until the sweep closes it, it still counts.
    later = as_caller(
        app, world.mgr_s1, today.counts, site_id=world.sites["S1"], now=now + timedelta(hours=15)
    )
    assert {c["key"]: c["count"] for c in later["counts"]}["pools_not_filling"] == 2


def test_reach_and_roles(app, client, world):
    url = f"{API}/sites/{world.sites['S1']}/today"
    for person in (world.mgr_s2, world.mgr_s4):
        assert_error(client.get(url, headers=person.headers), 404, "not_found")
    assert_error(client.get(f"{API}/sites/{world.sites['I1']}/today", headers=world.mgr_s1.headers), 404)
    assert_error(client.get(f"{API}/sites/987654321/today", headers=world.admin.headers), 404)
    for person in (world.vol_s1, world.resident):
        assert_error(client.get(url, headers=person.headers), 403, "auth.forbidden")
    assert_error(client.get(url), 401)
