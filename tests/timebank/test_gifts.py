"""转赠 through the API: family links and their review, gifts to family or a pool, limits and races."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
import time_machine

from tests.race import race
from tests.support import credit, headers_now, make_user
from tests.timebank.conftest import ledger_ok
from volunteer_app.extensions import db
from volunteer_app.timebank.models import FamilyLink, TimeAccount, Transfer

API = "/api/v1"


def link(client, person, phone, relation="parent", headers=None):
    return client.post(
        f"{API}/me/family-links",
        json={"relative_phone": phone, "relation": relation},
        headers={**person.headers, **(headers or {})},
    )


def approved_link(client, world, relative) -> int:
    link_id = link(client, world.vol_s1, relative.phone).json["id"]
    r = client.post(f"{API}/family-links/{link_id}/approve", headers=world.mgr_s1.headers)
    assert r.status_code == 200, r.json
    return link_id


def gift(client, person, body, headers=None):
    return client.post(f"{API}/me/timebook/gifts", json=body, headers={**person.headers, **(headers or {})})


def balance(app, key: str) -> int | None:
    with app.app_context():
        return db.session.scalar(sa.select(TimeAccount.balance).where(TimeAccount.key == key))


def settings(client, world, **values):
    r = client.patch(f"{API}/sites/{world.sites['S1']}/settings", json=values, headers=world.mgr_s1.headers)
    assert r.status_code == 200, r.json


# ---- family links ----------------------------------------------------------------------------------


def test_a_volunteer_links_a_registered_relative_for_the_home_station_to_review(client, world):
    r = link(client, world.vol_s1, world.resident.phone, "spouse")
    assert r.status_code == 201, r.json
    body = r.json
    assert (body["status"], body["relation"], body["site_id"], body["relative_id"]) == (
        "pending",
        "spouse",
        world.sites["S1"],
        world.resident.id,
    )
    assert body["relative_phone_masked"] != world.resident.phone and "****" in body["relative_phone_masked"]
    mine = client.get(f"{API}/me/family-links", headers=world.vol_s1.headers).json["items"]
    assert [i["id"] for i in mine] == [body["id"]]
    assert client.get(f"{API}/me/family-links", headers=world.vol_s4.headers).json["items"] == []


def test_a_family_link_request_is_checked(app, client, world):
    cases = [
        (world.vol_s1.phone, 422, "family.self"),
        ("13900000000", 422, "family.relative_unknown"),
        ("12345", 422, "phone.invalid"),
    ]
    for phone, status, error in cases:
        r = link(client, world.vol_s1, phone)
        assert (r.status_code, r.json["error"]) == (status, error), phone
        assert "relative_phone" in r.json["errors"]["json"]
    assert link(client, world.vol_s1, world.resident.phone).status_code == 201
    r = link(client, world.vol_s1, world.resident.phone, "child")
    assert (r.status_code, r.json["error"]) == (409, "family.link_exists")
    r = link(client, world.resident, world.vol_s1.phone)  # residents have no hours to give
    assert r.status_code == 403
    for body in (
        {"relative_phone": world.resident.phone, "relation": "neighbour"},
        {"relative_phone": "1" * 21, "relation": "parent"},
        {"relation": "parent"},
    ):
        r = client.post(f"{API}/me/family-links", json=body, headers=world.vol_s1.headers)
        assert r.status_code == 422, body
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(FamilyLink)) == 1


def test_managers_in_reach_review_family_links_once(client, world):
    link_id = link(client, world.vol_s1, world.resident.phone).json["id"]
    for who, site in (("mgr_s1", "S1"), ("mgr_i1", "I1"), ("mgr_c1", "C1")):
        r = client.get(
            f"{API}/sites/{world.sites[site]}/family-links?status=pending", headers=world.people[who].headers
        )
        assert [i["id"] for i in r.json["items"]] == [link_id], who
        assert r.json["items"][0]["requester_phone"] == world.vol_s1.phone
    r = client.get(
        f"{API}/sites/{world.sites['S1']}/family-links?status=approved", headers=world.mgr_s1.headers
    )
    assert r.json["items"] == []
    for who, site in (("mgr_s4", "S1"), ("mgr_s1", "S4"), ("mgr_s1", "I1")):
        r = client.get(f"{API}/sites/{world.sites[site]}/family-links", headers=world.people[who].headers)
        assert (r.status_code, r.json["error"]) == (404, "not_found"), (who, site)
    r = client.get(f"{API}/sites/{world.sites['S2']}/family-links", headers=world.mgr_s2.headers)
    assert r.json["items"] == []
    for who in ("mgr_s2", "mgr_s4"):
        r = client.post(f"{API}/family-links/{link_id}/approve", headers=world.people[who].headers)
        assert (r.status_code, r.json["error"]) == (404, "not_found"), who
        assert world.vol_s1.phone not in r.get_data(as_text=True)
    assert (
        client.post(f"{API}/family-links/{link_id}/approve", headers=world.vol_s1.headers).status_code == 403
    )
    r = client.post(f"{API}/family-links/{link_id}/approve", headers=world.mgr_s1.headers)
    assert (r.status_code, r.json["status"]) == (200, "approved")
    assert r.json["reviewed_at"] is not None
    r = client.post(
        f"{API}/family-links/{link_id}/reject", json={"reason": "迟了"}, headers=world.mgr_i1.headers
    )
    assert (r.status_code, r.json["error"]) == (409, "family.not_pending")


def test_a_rejection_carries_its_reason(client, world):
    link_id = link(client, world.vol_s1, world.resident.phone).json["id"]
    url = f"{API}/family-links/{link_id}/reject"
    assert client.post(url, json={}, headers=world.mgr_s1.headers).status_code == 422
    assert client.post(url, json={"reason": "长" * 501}, headers=world.mgr_s1.headers).status_code == 422
    r = client.post(url, json={"reason": "请提供户口本"}, headers=world.mgr_s1.headers)
    assert (r.status_code, r.json["status"], r.json["reason"]) == (200, "rejected", "请提供户口本")
    mine = client.get(f"{API}/me/family-links", headers=world.vol_s1.headers).json["items"]
    assert (mine[0]["status"], mine[0]["reason"]) == ("rejected", "请提供户口本")
    r = client.post(f"{API}/family-links/{link_id}/approve", headers=world.mgr_s1.headers)
    assert (r.status_code, r.json["error"]) == (409, "family.not_pending")


def test_concurrent_reviews_decide_once(app, world):
    link_id = link(app.test_client(), world.vol_s1, world.resident.phone).json["id"]
    reviewers = [world.mgr_s1, world.mgr_i1, world.mgr_c1, world.admin] * 2
    responses = race(
        app,
        [
            lambda c, m=m, i=i: c.post(
                f"{API}/family-links/{link_id}/{'approve' if i % 2 else 'reject'}",
                json=None if i % 2 else {"reason": "不符"},
                headers=m.headers,
            )
            for i, m in enumerate(reviewers)
        ],
    )
    assert sorted(r.status_code for r in responses) == [200] + [409] * (len(reviewers) - 1)


# ---- gifts ----------------------------------------------------------------------------------------


def test_a_gift_to_an_approved_relative_opens_their_book(app, client, world):
    relative = make_user(app, name="老父亲", home_site_id=world.sites["S2"])
    link_id = approved_link(client, world, relative)
    credit(app, world.vol_s1, world.sites["S1"], 300)
    r = gift(client, world.vol_s1, {"minutes": 90, "family_link_id": link_id})
    assert r.status_code == 201, r.json
    assert (r.json["kind"], r.json["minutes"], r.json["family_link_id"], r.json["balance_minutes"]) == (
        "gift",
        90,
        link_id,
        210,
    )
    book = client.get(f"{API}/me/timebook", headers=relative.headers).json
    assert (book["balance_minutes"], book["lifetime_minutes"]) == (90, 0)  # a gift is not service
    assert book["issuing_site"]["id"] == world.sites["S2"]  # the relative's own home station
    lines = client.get(f"{API}/me/timebook/transfers", headers=world.vol_s1.headers).json["items"]
    assert (lines[0]["kind"], lines[0]["minutes"]) == ("gift", -90)
    assert ledger_ok(app)


def test_gifts_go_only_to_my_approved_links(app, client, world):
    credit(app, world.vol_s1, world.sites["S1"], 300)
    credit(app, world.vol_s4, world.sites["S4"], 300)
    pending = link(client, world.vol_s1, world.resident.phone).json["id"]
    r = gift(client, world.vol_s1, {"minutes": 10, "family_link_id": pending})
    assert (r.status_code, r.json["error"]) == (409, "gift.link_not_approved")
    client.post(f"{API}/family-links/{pending}/reject", json={"reason": "不符"}, headers=world.mgr_s1.headers)
    r = gift(client, world.vol_s1, {"minutes": 10, "family_link_id": pending})
    assert (r.status_code, r.json["error"]) == (409, "gift.link_not_approved")
    someone = make_user(app, name="家人", home_site_id=world.sites["S1"])
    approved = approved_link(client, world, someone)
    r = gift(client, world.vol_s4, {"minutes": 10, "family_link_id": approved})  # another's link
    assert (r.status_code, r.json["error"]) == (404, "not_found")
    r = gift(client, world.vol_s1, {"minutes": 10, "family_link_id": 999_999})
    assert (r.status_code, r.json["error"]) == (404, "not_found")
    assert balance(app, f"book:{world.resident.id}") is None
    assert balance(app, f"book:{world.vol_s1.id}") == balance(app, f"book:{world.vol_s4.id}") == 300


def test_donations_go_to_a_sites_pool(app, client, world):
    credit(app, world.vol_s1, world.sites["S1"], 300)
    r = gift(client, world.vol_s1, {"minutes": 30, "to_pool": True})
    assert (r.status_code, r.json["kind"], r.json["pool_site_id"]) == (201, "donate", world.sites["S1"])
    r = gift(client, world.vol_s1, {"minutes": 20, "to_pool": True, "pool_site_id": world.sites["S4"]})
    assert (r.status_code, r.json["pool_site_id"], r.json["balance_minutes"]) == (201, world.sites["S4"], 250)
    assert balance(app, f"donation:{world.sites['S1']}") == 30
    assert balance(app, f"donation:{world.sites['S4']}") == 20
    r = gift(client, world.vol_s1, {"minutes": 20, "to_pool": True, "pool_site_id": 999_999})
    assert (r.status_code, r.json["error"]) == (422, "gift.bad_pool")
    assert "pool_site_id" in r.json["errors"]["json"]
    assert ledger_ok(app)


@pytest.mark.parametrize(
    "body",
    [
        {"minutes": 10},
        {"minutes": 10, "to_pool": False},
        {"minutes": 10, "to_pool": True, "family_link_id": 1},
        {"minutes": 10, "family_link_id": 1, "pool_site_id": 1},
        {"minutes": 0, "to_pool": True},
        {"minutes": -5, "to_pool": True},
        {"minutes": 100_001, "to_pool": True},
        {"minutes": "10", "to_pool": True},
        {"minutes": 10.5, "to_pool": True},
        {"minutes": 10, "to_pool": True, "pool_site_id": 0},
        {"minutes": 10, "family_link_id": 2**63},
    ],
)
def test_gift_input_is_checked(app, client, world, body):
    credit(app, world.vol_s1, world.sites["S1"], 300)
    r = gift(client, world.vol_s1, body)
    assert (r.status_code, r.json["error"]) == (422, "validation.failed"), r.json
    assert balance(app, f"book:{world.vol_s1.id}") == 300


def test_a_gift_never_takes_a_book_below_zero(app, client, world):
    relative = make_user(app, name="家人", home_site_id=world.sites["S1"])
    link_id = approved_link(client, world, relative)
    credit(app, world.vol_s1, world.sites["S1"], 50)
    r = gift(client, world.vol_s1, {"minutes": 60, "family_link_id": link_id})
    assert (r.status_code, r.json["error"]) == (409, "timebook.insufficient")
    assert balance(app, f"book:{world.vol_s1.id}") == 50
    assert balance(app, f"book:{relative.id}") is None  # nothing half-written, not even the new book
    r = gift(client, world.vol_s4, {"minutes": 10, "to_pool": True})  # a book that never moved
    assert (r.status_code, r.json["error"]) == (409, "timebook.insufficient")
    r = gift(client, world.resident, {"minutes": 10, "to_pool": True})  # no book at all
    assert (r.status_code, r.json["error"]) == (404, "timebook.not_volunteer")


def test_one_gift_is_bounded_by_the_station_setting(app, client, world):
    settings(client, world, gift_max_minutes=50)
    credit(app, world.vol_s1, world.sites["S1"], 300)
    r = gift(client, world.vol_s1, {"minutes": 51, "to_pool": True}, headers={"Accept-Language": "en"})
    assert (r.status_code, r.json["error"]) == (422, "gift.over_limit")
    assert "50" in r.json["message"] and "minutes" in r.json["errors"]["json"]
    assert gift(client, world.vol_s1, {"minutes": 50, "to_pool": True}).status_code == 201


def test_a_month_of_gifts_is_bounded_in_the_station_time_zone(app, client, world):
    settings(client, world, gift_month_max_minutes=150)
    relative = make_user(app, name="家人", home_site_id=world.sites["S1"])
    link_id = approved_link(client, world, relative)
    # 2026-10-31 15:30 UTC is 23:30 on 31 October in Asia/Shanghai; 16:30 UTC is already 1 November.
    with time_machine.travel(datetime(2026, 10, 31, 15, 30, tzinfo=UTC), tick=False):
        credit(app, world.vol_s1, world.sites["S1"], 1000)
        me = headers_now(app, world.vol_s1.id)
        assert gift(client, world.vol_s1, {"minutes": 100, "family_link_id": link_id}, me).status_code == 201
        r = gift(client, world.vol_s1, {"minutes": 60, "to_pool": True}, me)  # gifts and donations add up
        assert (r.status_code, r.json["error"]) == (409, "gift.over_limit")
        assert "150" in r.json["message"]
        assert r.json["errors"]["json"]["minutes"] == ["本月还剩 50 分钟"]
        assert gift(client, world.vol_s1, {"minutes": 50, "to_pool": True}, me).status_code == 201
    with time_machine.travel(datetime(2026, 10, 31, 16, 30, tzinfo=UTC), tick=False):
        me = headers_now(app, world.vol_s1.id)
        r = gift(client, world.vol_s1, {"minutes": 150, "family_link_id": link_id}, me)
        assert r.status_code == 201, r.json  # a new month in Shanghai, though not yet in UTC
    assert balance(app, f"book:{world.vol_s1.id}") == 700
    assert ledger_ok(app)


def test_the_same_idempotency_key_gives_once(app, client, world):
    credit(app, world.vol_s1, world.sites["S1"], 300)
    body = {"minutes": 40, "to_pool": True}
    first = gift(client, world.vol_s1, body, headers={"Idempotency-Key": "g-1"})
    again = gift(client, world.vol_s1, body, headers={"Idempotency-Key": "g-1"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json["transfer_id"] == first.json["transfer_id"]
    assert balance(app, f"book:{world.vol_s1.id}") == 260
    other = gift(client, world.vol_s1, {"minutes": 41, "to_pool": True}, headers={"Idempotency-Key": "g-1"})
    assert (other.status_code, other.json["error"]) == (422, "idempotency.key_reused")


# ---- races ------------------------------------------------------------------------------------------


def _given(app, person) -> int:
    with app.app_context():
        book_id = db.session.scalar(sa.select(TimeAccount.id).where(TimeAccount.key == f"book:{person.id}"))
        return db.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(Transfer.minutes), 0)).where(
                Transfer.from_account_id == book_id, Transfer.kind.in_(("gift", "donate"))
            )
        )


def test_concurrent_gifts_never_overdraw_the_book(app, world):
    client = app.test_client()
    relative = make_user(app, name="家人", home_site_id=world.sites["S1"])
    link_id = approved_link(client, world, relative)
    credit(app, world.vol_s1, world.sites["S1"], 500)
    bodies = [{"minutes": 100, "family_link_id": link_id}, {"minutes": 100, "to_pool": True}] * 6
    responses = race(app, [lambda c, b=b: gift(c, world.vol_s1, b) for b in bodies])
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 5 + [409] * 7, statuses
    assert {r.json["error"] for r in responses if r.status_code == 409} == {"timebook.insufficient"}
    assert balance(app, f"book:{world.vol_s1.id}") == 0
    assert _given(app, world.vol_s1) == 500
    assert ledger_ok(app)


def test_concurrent_gifts_never_pass_the_monthly_limit(app, world):
    client = app.test_client()
    settings(client, world, gift_month_max_minutes=1000, gift_max_minutes=300)
    credit(app, world.vol_s1, world.sites["S1"], 5000)
    responses = race(app, [lambda c: gift(c, world.vol_s1, {"minutes": 300, "to_pool": True})] * 10)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 3 + [409] * 7, statuses
    assert {r.json["error"] for r in responses if r.status_code == 409} == {"gift.over_limit"}
    assert _given(app, world.vol_s1) == 900
    assert balance(app, f"book:{world.vol_s1.id}") == 4100
    assert ledger_ok(app)
