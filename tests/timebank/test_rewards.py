"""回报 through the API: the catalogue, redeeming (stock, age, balance, code), 核销, expiry and races."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine

from tests.race import race
from tests.support import credit, headers_now, make_user, make_volunteer
from tests.timebank.conftest import ledger_ok
from volunteer_app.extensions import db
from volunteer_app.timebank import ledger, rewards
from volunteer_app.timebank.models import Redemption, Reward, TimeAccount, Transfer

API = "/api/v1"
CODE = re.compile(r"^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{8}$")


def add_reward(client, manager, site_id, **fields):
    body = {"kind": "goods", "title": "爱心超市：大米一袋", "price_minutes": 60, "stock": 5, **fields}
    r = client.post(f"{API}/sites/{site_id}/rewards", json=body, headers=manager.headers)
    assert r.status_code == 201, r.json
    return r.json


def redeem(client, person, reward_id, headers=None):
    return client.post(
        f"{API}/redemptions", json={"reward_id": reward_id}, headers={**person.headers, **(headers or {})}
    )


def balance(app, person) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(TimeAccount.balance).where(TimeAccount.user_id == person.id))


def stock(app, reward_id) -> int:
    with app.app_context():
        return db.session.get(Reward, reward_id).stock


# ---- the catalogue --------------------------------------------------------------------------------


def test_a_manager_adds_rewards_to_sites_in_reach_only(client, world):
    body = add_reward(client, world.mgr_s1, world.sites["S1"], kind="service", min_age=60, stock=3)
    assert (body["site_id"], body["kind"], body["stock"], body["min_age"], body["active"]) == (
        world.sites["S1"],
        "service",
        3,
        60,
        True,
    )
    assert body["price_hours"] == 1.0
    add_reward(client, world.mgr_i1, world.sites["S1"])  # reach runs down the tree
    body = {"kind": "goods", "title": "毛巾", "price_minutes": 30, "stock": 1}
    for manager, site in (("mgr_s4", "S1"), ("mgr_s2", "S1"), ("mgr_s1", "I1")):
        r = client.post(
            f"{API}/sites/{world.sites[site]}/rewards", json=body, headers=world.people[manager].headers
        )
        assert (r.status_code, r.json["error"]) == (404, "not_found"), (manager, site)
    r = client.post(f"{API}/sites/{world.sites['S1']}/rewards", json=body, headers=world.vol_s1.headers)
    assert r.status_code == 403


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("kind", "money"),
        ("title", ""),
        ("title", "长" * 81),
        ("description", "长" * 501),
        ("price_minutes", 0),
        ("price_minutes", 100_001),
        ("price_minutes", "60"),
        ("stock", -1),
        ("stock", 1_000_001),
        ("min_age", 0),
        ("min_age", 121),
    ],
)
def test_reward_fields_are_bounded(client, world, field, value):
    body = {"kind": "goods", "title": "大米", "price_minutes": 60, "stock": 5, field: value}
    r = client.post(f"{API}/sites/{world.sites['S1']}/rewards", json=body, headers=world.mgr_s1.headers)
    assert r.status_code == 422
    assert field in r.json["errors"]["json"]


def test_a_manager_in_reach_changes_price_stock_and_withdraws(client, world):
    reward = add_reward(client, world.mgr_s1, world.sites["S1"])
    url = f"{API}/rewards/{reward['id']}"
    r = client.patch(url, json={"price_minutes": 90, "stock": 12}, headers=world.mgr_i1.headers)
    assert (r.status_code, r.json["price_minutes"], r.json["stock"]) == (200, 90, 12)
    for manager in ("mgr_s2", "mgr_s4"):
        r = client.patch(url, json={"stock": 0}, headers=world.people[manager].headers)
        assert (r.status_code, r.json["error"]) == (404, "not_found")
    assert client.patch(url, json={"stock": -5}, headers=world.mgr_s1.headers).status_code == 422
    r = client.patch(url, json={"active": False}, headers=world.mgr_s1.headers)
    assert (r.status_code, r.json["active"], r.json["stock"]) == (200, False, 12)


def test_a_volunteer_sees_the_catalogues_of_home_and_above(client, world):
    s = world.sites
    ids = {site: add_reward(client, world.admin, s[site], title=f"回报{site}")["id"] for site in s}
    mine = {ids["S1"], ids["I1"], ids["C1"]}
    withdrawn = add_reward(client, world.admin, s["S1"], title="下架")["id"]
    client.patch(f"{API}/rewards/{withdrawn}", json={"active": False}, headers=world.admin.headers)

    r = client.get(f"{API}/rewards", headers=world.vol_s1.headers)
    assert {item["id"] for item in r.json["items"]} == mine
    r = client.get(f"{API}/rewards?site_id={s['S4']}", headers=world.vol_s1.headers)
    assert [item["id"] for item in r.json["items"]] == [ids["S4"]]
    r = client.get(f"{API}/rewards", headers=world.vol_s4.headers)
    assert {item["id"] for item in r.json["items"]} == {ids["S4"], ids["I3"], ids["C2"]}

    page1 = client.get(f"{API}/rewards?limit=2", headers=world.vol_s1.headers).json
    page2 = client.get(f"{API}/rewards?limit=2&cursor={page1['next_cursor']}", headers=world.vol_s1.headers)
    assert len(page1["items"]) == 2 and page2.json["next_cursor"] is None
    assert {i["id"] for i in page1["items"] + page2.json["items"]} == mine


def test_catalogue_filters_by_kind_and_shows_withdrawn_rewards_to_managers_in_reach(client, world):
    s1 = world.sites["S1"]
    goods = add_reward(client, world.mgr_s1, s1)["id"]
    service = add_reward(client, world.mgr_s1, s1, kind="service", title="理发")["id"]
    client.patch(f"{API}/rewards/{service}", json={"active": False}, headers=world.mgr_s1.headers)
    r = client.get(f"{API}/rewards?site_id={s1}&kind=goods", headers=world.vol_s1.headers)
    assert [i["id"] for i in r.json["items"]] == [goods]
    url = f"{API}/rewards?site_id={s1}&include_inactive=true"
    assert [i["id"] for i in client.get(url, headers=world.mgr_s1.headers).json["items"]] == [goods, service]
    assert [i["id"] for i in client.get(url, headers=world.mgr_s4.headers).json["items"]] == [goods]
    assert [i["id"] for i in client.get(url, headers=world.vol_s1.headers).json["items"]] == [goods]
    assert client.get(f"{API}/rewards?kind=money", headers=world.vol_s1.headers).status_code == 422
    assert client.get(f"{API}/rewards").status_code == 401


# ---- redeeming ------------------------------------------------------------------------------------


def test_redeeming_debits_the_book_takes_stock_and_issues_a_code(app, client, world):
    client.patch(
        f"{API}/sites/{world.sites['S1']}/settings",
        json={"redemption_ttl_hours": 48},
        headers=world.mgr_s1.headers,
    )
    reward = add_reward(client, world.mgr_s1, world.sites["S1"], price_minutes=90, stock=2)
    credit(app, world.vol_s1, world.sites["S1"], 200)
    with time_machine.travel(datetime.now(UTC), tick=False):
        r = redeem(client, world.vol_s1, reward["id"])
        now = datetime.now(UTC)
    assert r.status_code == 201, r.json
    body = r.json
    assert CODE.match(body["code"])
    assert (body["status"], body["minutes"], body["hours"], body["reward"]["title"]) == (
        "issued",
        90,
        1.5,
        reward["title"],
    )
    assert datetime.fromisoformat(body["expires_at"]) == now + timedelta(hours=48)
    assert balance(app, world.vol_s1) == 110
    assert stock(app, reward["id"]) == 1
    lines = client.get(f"{API}/me/timebook/transfers", headers=world.vol_s1.headers).json["items"]
    assert (lines[0]["kind"], lines[0]["minutes"], lines[0]["balance_after_minutes"]) == ("redeem", -90, 110)
    assert ledger_ok(app)


def test_my_redemptions_newest_first_and_a_code_is_seen_only_by_its_owner_and_managers_in_reach(
    app, client, world
):
    reward = add_reward(client, world.mgr_s1, world.sites["S1"], price_minutes=10)
    credit(app, world.vol_s1, world.sites["S1"], 100)
    first = redeem(client, world.vol_s1, reward["id"]).json
    second = redeem(client, world.vol_s1, reward["id"]).json
    r = client.get(f"{API}/me/redemptions", headers=world.vol_s1.headers)
    assert [i["code"] for i in r.json["items"]] == [second["code"], first["code"]]
    assert client.get(f"{API}/me/redemptions", headers=world.vol_s4.headers).json["items"] == []
    url = f"{API}/redemptions/{first['code']}"
    for who in ("vol_s1", "mgr_s1", "mgr_i1", "admin"):
        r = client.get(url, headers=world.people[who].headers)
        assert (r.status_code, r.json["code"]) == (200, first["code"]), who
    for who in ("vol_s4", "mgr_s2", "mgr_s4", "resident"):
        r = client.get(url, headers=world.people[who].headers)
        assert (r.status_code, r.json["error"]) == (404, "not_found"), who
        assert first["code"] not in r.get_data(as_text=True)


@pytest.mark.parametrize("price", [150, 100_000])
def test_not_enough_minutes_refuses_and_keeps_the_stock(app, client, world, price):
    reward = add_reward(client, world.mgr_s1, world.sites["S1"], price_minutes=price, stock=1)
    credit(app, world.vol_s1, world.sites["S1"], 100)
    r = redeem(client, world.vol_s1, reward["id"])
    assert (r.status_code, r.json["error"]) == (409, "timebook.insufficient")
    assert stock(app, reward["id"]) == 1
    assert balance(app, world.vol_s1) == 100
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Redemption)) == 0
    assert ledger_ok(app)


def test_who_cannot_redeem(app, client, world):
    reward = add_reward(client, world.mgr_s1, world.sites["S1"])
    r = redeem(client, world.vol_s4, reward["id"])  # a volunteer whose book never moved
    assert (r.status_code, r.json["error"]) == (409, "timebook.insufficient")
    r = redeem(client, world.resident, reward["id"])  # no book at all
    assert (r.status_code, r.json["error"]) == (404, "timebook.not_volunteer")
    assert redeem(client, world.vol_s1, 999_999).status_code == 404
    assert client.post(f"{API}/redemptions", json={"reward_id": reward["id"]}).status_code == 401
    for body in ({}, {"reward_id": "1"}, {"reward_id": 0}, {"reward_id": 2**63}):
        r = client.post(f"{API}/redemptions", json=body, headers=world.vol_s1.headers)
        assert r.status_code == 422 and "reward_id" in r.json["errors"]["json"], body


def test_out_of_stock_and_withdrawn_rewards_are_refused_without_a_debit(app, client, world):
    credit(app, world.vol_s1, world.sites["S1"], 500)
    empty = add_reward(client, world.mgr_s1, world.sites["S1"], stock=0)
    r = redeem(client, world.vol_s1, empty["id"])
    assert (r.status_code, r.json["error"]) == (409, "reward.out_of_stock")
    withdrawn = add_reward(client, world.mgr_s1, world.sites["S1"])
    client.patch(f"{API}/rewards/{withdrawn['id']}", json={"active": False}, headers=world.mgr_s1.headers)
    r = redeem(client, world.vol_s1, withdrawn["id"])
    assert (r.status_code, r.json["error"]) == (409, "reward.unavailable")
    assert balance(app, world.vol_s1) == 500
    assert stock(app, withdrawn["id"]) == 5


def test_minimum_age_comes_from_the_id_number(app, client, world):
    # tests/support.id_number(n) is born in 1960 + n % 40: vol_s1 (n=1) in 1961, the young one in 1999.
    young = make_volunteer(app, world.sites["S1"], 39, "小李")
    for person in (world.vol_s1, young):
        credit(app, person, world.sites["S1"], 100)
    reward = add_reward(client, world.mgr_s1, world.sites["S1"], kind="service", min_age=60, price_minutes=30)
    r = redeem(client, young, reward["id"], headers={"Accept-Language": "en"})
    assert (r.status_code, r.json["error"]) == (409, "reward.not_eligible")
    assert "60" in r.json["message"]
    assert (balance(app, young), stock(app, reward["id"])) == (100, 5)
    assert redeem(client, world.vol_s1, reward["id"]).status_code == 201


def test_the_same_idempotency_key_redeems_once(app, client, world):
    reward = add_reward(client, world.mgr_s1, world.sites["S1"], price_minutes=40)
    credit(app, world.vol_s1, world.sites["S1"], 100)
    first = redeem(client, world.vol_s1, reward["id"], headers={"Idempotency-Key": "r-1"})
    again = redeem(client, world.vol_s1, reward["id"], headers={"Idempotency-Key": "r-1"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json["code"] == first.json["code"]
    assert (balance(app, world.vol_s1), stock(app, reward["id"])) == (60, 4)


def test_a_code_collision_is_retried(app, client, world, monkeypatch):
    reward = add_reward(client, world.mgr_s1, world.sites["S1"], price_minutes=10)
    credit(app, world.vol_s1, world.sites["S1"], 100)
    taken = redeem(client, world.vol_s1, reward["id"]).json["code"]
    codes = iter([taken, taken, "ABCDEFGH"])
    monkeypatch.setattr(rewards, "new_code", lambda: next(codes))
    r = redeem(client, world.vol_s1, reward["id"])
    assert (r.status_code, r.json["code"]) == (201, "ABCDEFGH")
    assert (balance(app, world.vol_s1), stock(app, reward["id"])) == (80, 3)
    assert ledger_ok(app)


def test_when_no_free_code_is_found_nothing_is_spent(app, client, world, monkeypatch):
    reward = add_reward(client, world.mgr_s1, world.sites["S1"], price_minutes=10)
    credit(app, world.vol_s1, world.sites["S1"], 100)
    taken = redeem(client, world.vol_s1, reward["id"]).json["code"]
    monkeypatch.setattr(rewards, "new_code", lambda: taken)
    r = redeem(client, world.vol_s1, reward["id"])
    assert (r.status_code, r.json["error"]) == (503, "redemption.code_exhausted")
    assert (balance(app, world.vol_s1), stock(app, reward["id"])) == (90, 4)
    assert ledger_ok(app)


def test_redemptions_are_rate_limited_per_person(app, client, world):
    reward = add_reward(client, world.mgr_s1, world.sites["S1"], price_minutes=1, stock=100)
    other = make_volunteer(app, world.sites["S1"], 2, "志愿者二")
    for person in (world.vol_s1, other):
        credit(app, person, world.sites["S1"], 100)
    statuses = [redeem(client, world.vol_s1, reward["id"]).status_code for _ in range(21)]
    assert statuses == [201] * 20 + [429]
    assert redeem(client, other, reward["id"]).status_code == 201


# ---- 核销 ----------------------------------------------------------------------------------------------


def test_a_manager_in_reach_fulfils_a_code_once(app, client, world):
    reward = add_reward(client, world.mgr_s1, world.sites["S1"], price_minutes=10)
    credit(app, world.vol_s1, world.sites["S1"], 100)
    code = redeem(client, world.vol_s1, reward["id"]).json["code"]
    url = f"{API}/redemptions/{code.lower()}/fulfil"  # typed from the phone screen in lower case
    for who in ("mgr_s2", "mgr_s4"):
        r = client.post(url, headers=world.people[who].headers)
        assert (r.status_code, r.json["error"]) == (404, "not_found"), who
    assert client.post(url, headers=world.vol_s1.headers).status_code == 403
    r = client.post(url, headers=world.mgr_i1.headers)
    assert (r.status_code, r.json["status"]) == (200, "fulfilled")
    assert r.json["fulfilled_at"] is not None
    r = client.post(url, headers=world.mgr_s1.headers)
    assert (r.status_code, r.json["error"]) == (409, "redemption.not_issued")
    assert balance(app, world.vol_s1) == 90  # fulfilling moves no minutes


def test_a_code_shows_its_holder_masked(app, client, world):
    reward = add_reward(client, world.mgr_s1, world.sites["S1"], price_minutes=10)
    credit(app, world.vol_s1, world.sites["S1"], 100)
    code = redeem(client, world.vol_s1, reward["id"]).json["code"]
    for who in ("mgr_s1", "vol_s1"):
        body = client.get(f"{API}/redemptions/{code}", headers=world.people[who].headers).json
        assert body["holder_name_masked"] == "志***"  # 志愿者一
        masked = body["holder_phone_masked"]
        assert "****" in masked and masked[-4:] == world.vol_s1.phone[-4:] and masked != world.vol_s1.phone


def test_a_site_lists_the_redemptions_of_its_subtree_by_state_oldest_first_without_the_codes(
    app, client, world
):
    s1 = add_reward(client, world.mgr_s1, world.sites["S1"], price_minutes=10)
    s2 = add_reward(client, world.mgr_s2, world.sites["S2"], price_minutes=10, title="理发")
    s4 = add_reward(client, world.mgr_s4, world.sites["S4"], price_minutes=10)
    credit(app, world.vol_s1, world.sites["S1"], 100)
    credit(app, world.vol_s4, world.sites["S4"], 100)
    first = redeem(client, world.vol_s1, s1["id"]).json
    second = redeem(client, world.vol_s1, s2["id"]).json
    third = redeem(client, world.vol_s1, s1["id"]).json
    redeem(client, world.vol_s4, s4["id"])

    def listed(who, site, query="?status=issued"):
        url = f"{API}/sites/{world.sites[site]}/redemptions{query}"
        r = client.get(url, headers=world.people[who].headers)
        assert r.status_code == 200, r.json
        return r.json["items"]

    assert [i["id"] for i in listed("mgr_i1", "I1")] == [first["id"], second["id"], third["id"]]
    assert [i["id"] for i in listed("mgr_s1", "S1")] == [first["id"], third["id"]]
    assert [i["id"] for i in listed("mgr_s2", "S2")] == [second["id"]]
    item = listed("mgr_s1", "S1")[0]
    assert "code" not in item and item["code_hint"] == first["code"][-3:]
    assert (item["reward"]["title"], item["site_name"], item["holder_name_masked"]) == (
        s1["title"],
        "站点S1",
        "志***",
    )
    assert (item["status"], item["minutes"], item["user_id"]) == ("issued", 10, world.vol_s1.id)
    r = client.get(f"{API}/sites/{world.sites['S1']}/redemptions", headers=world.mgr_s1.headers)
    assert first["code"] not in r.get_data(as_text=True)

    client.post(f"{API}/redemptions/{first['code']}/fulfil", headers=world.mgr_s1.headers)
    assert [i["id"] for i in listed("mgr_s1", "S1")] == [third["id"]]
    fulfilled = listed("mgr_s1", "S1", "?status=fulfilled")
    assert [(i["id"], i["status"]) for i in fulfilled] == [(first["id"], "fulfilled")]
    assert fulfilled[0]["fulfilled_at"] is not None
    assert [i["id"] for i in listed("mgr_s1", "S1", "")] == [first["id"], third["id"]]


def test_a_sites_redemptions_are_for_its_managers_in_reach_only(app, client, world):
    reward = add_reward(client, world.mgr_s1, world.sites["S1"], price_minutes=10)
    credit(app, world.vol_s1, world.sites["S1"], 100)
    assert redeem(client, world.vol_s1, reward["id"]).status_code == 201
    url = f"{API}/sites/{world.sites['S1']}/redemptions"
    for who in ("mgr_s2", "mgr_s4"):
        r = client.get(url, headers=world.people[who].headers)
        assert (r.status_code, r.json["error"]) == (404, "not_found"), who
    r = client.get(f"{API}/sites/{world.sites['I1']}/redemptions", headers=world.mgr_s1.headers)
    assert r.status_code == 404  # reach runs down, never up
    assert client.get(url, headers=world.vol_s1.headers).status_code == 403
    assert client.get(url).status_code == 401
    r = client.get(f"{url}?status=lost", headers=world.mgr_s1.headers)
    assert r.status_code == 422 and "status" in r.json["errors"]["query"]
    assert client.get(f"{API}/sites/999999/redemptions", headers=world.admin.headers).status_code == 404


@pytest.mark.parametrize("code", ["SHORT", "ABCDEFGHJ", "ABCDEFG0", "%00%00%00%00", "x" * 500])
def test_codes_that_cannot_exist_are_not_found(client, world, code):
    for method, url in (("POST", f"{API}/redemptions/{code}/fulfil"), ("GET", f"{API}/redemptions/{code}")):
        r = client.open(url, method=method, headers=world.admin.headers)
        assert (r.status_code, r.json["error"]) == (404, "not_found"), (method, code)


def test_concurrent_fulfilments_succeed_once(app, world):
    client = app.test_client()
    reward = add_reward(client, world.mgr_s1, world.sites["S1"], price_minutes=10)
    credit(app, world.vol_s1, world.sites["S1"], 100)
    code = redeem(client, world.vol_s1, reward["id"]).json["code"]
    managers = [world.mgr_s1, world.mgr_i1, world.mgr_c1, world.admin] * 2
    responses = race(
        app, [lambda c, m=m: c.post(f"{API}/redemptions/{code}/fulfil", headers=m.headers) for m in managers]
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * (len(managers) - 1)


# ---- expiry -----------------------------------------------------------------------------------------


def test_an_expired_code_is_refunded_once_and_cannot_be_fulfilled(app, client, world):
    reward = add_reward(client, world.mgr_s1, world.sites["S1"], price_minutes=40, stock=1)
    credit(app, world.vol_s1, world.sites["S1"], 100)
    start = datetime.now(UTC)
    code = redeem(client, world.vol_s1, reward["id"]).json["code"]
    assert (balance(app, world.vol_s1), stock(app, reward["id"])) == (60, 0)
    with time_machine.travel(start + timedelta(hours=167), tick=False), app.app_context():
        assert rewards.expire_redemptions() == 0  # not yet: the default is 168 hours
    with time_machine.travel(start + timedelta(hours=168, minutes=1), tick=False):
        manager = headers_now(app, world.mgr_s1.id)
        r = client.post(f"{API}/redemptions/{code}/fulfil", headers=manager)
        assert (r.status_code, r.json["error"]) == (409, "redemption.expired")  # even before the job ran
        with app.app_context():
            assert rewards.expire_redemptions() == 1
        with app.app_context():
            assert rewards.expire_redemptions() == 0
        r = client.post(f"{API}/redemptions/{code}/fulfil", headers=manager)
        assert (r.status_code, r.json["error"]) == (409, "redemption.expired")
        mine = client.get(f"{API}/me/redemptions", headers=headers_now(app, world.vol_s1.id)).json["items"]
    assert mine[0]["status"] == "expired"
    assert (balance(app, world.vol_s1), stock(app, reward["id"])) == (100, 1)
    with app.app_context():
        refunds = db.session.scalars(sa.select(Transfer).where(Transfer.kind == "refund")).all()
        redemption = db.session.scalars(sa.select(Redemption)).one()
        assert [(t.minutes, t.reference) for t in refunds] == [(40, f"refund:redemption:{redemption.id}")]
        assert redemption.refund_transfer_id == refunds[0].id
    assert ledger_ok(app)


def test_expiry_leaves_fulfilled_and_unexpired_codes_alone(app, client, world):
    client.patch(
        f"{API}/sites/{world.sites['S2']}/settings",
        json={"redemption_ttl_hours": 500},
        headers=world.mgr_i1.headers,
    )
    s1 = add_reward(client, world.mgr_s1, world.sites["S1"], price_minutes=10)
    s2 = add_reward(client, world.mgr_s2, world.sites["S2"], price_minutes=10)
    credit(app, world.vol_s1, world.sites["S1"], 100)
    fulfilled = redeem(client, world.vol_s1, s1["id"]).json["code"]
    client.post(f"{API}/redemptions/{fulfilled}/fulfil", headers=world.mgr_s1.headers)
    longer = redeem(client, world.vol_s1, s2["id"]).json["code"]  # S2 keeps codes 500 hours
    lapsing = redeem(client, world.vol_s1, s1["id"]).json["code"]
    with app.app_context():
        assert rewards.expire_redemptions(now=datetime.now(UTC) + timedelta(hours=200)) == 1
        status = dict(db.session.execute(sa.select(Redemption.code, Redemption.status)).all())
    assert status == {fulfilled: "fulfilled", longer: "issued", lapsing: "expired"}
    assert balance(app, world.vol_s1) == 80
    assert ledger_ok(app)


def test_concurrent_expiry_runs_refund_each_code_once(app, world):
    client = app.test_client()
    reward = add_reward(client, world.mgr_s1, world.sites["S1"], price_minutes=7, stock=20)
    credit(app, world.vol_s1, world.sites["S1"], 100)
    for _ in range(12):
        assert redeem(client, world.vol_s1, reward["id"]).status_code == 201
    later = datetime.now(UTC) + timedelta(days=30)

    def run(_client):
        with app.app_context():
            return rewards.expire_redemptions(now=later, batch=5)

    assert sum(race(app, [run] * 6)) == 12
    assert (balance(app, world.vol_s1), stock(app, reward["id"])) == (100, 20)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).where(Transfer.kind == "refund")) == 12
    assert ledger_ok(app)


def test_the_expiry_command(app, client, world):
    reward = add_reward(client, world.mgr_s1, world.sites["S1"], price_minutes=10)
    credit(app, world.vol_s1, world.sites["S1"], 100)
    redeem(client, world.vol_s1, reward["id"])
    runner = app.test_cli_runner()
    with time_machine.travel(datetime.now(UTC) + timedelta(days=8), tick=False):
        first = runner.invoke(args=["timebank", "expire-redemptions", "--batch", "1"])
        again = runner.invoke(args=["timebank", "expire-redemptions"])
    assert first.exit_code == 0 and "1 redemption codes expired" in first.output
    assert again.exit_code == 0 and "0 redemption codes expired" in again.output
    assert balance(app, world.vol_s1) == 100


# ---- the race ----------------------------------------------------------------------------------------


def test_twenty_people_redeem_the_last_unit_at_once(app, world):
    client = app.test_client()
    reward = add_reward(client, world.mgr_s1, world.sites["S1"], price_minutes=50, stock=1)
    people = [make_volunteer(app, world.sites["S1"], 100 + i, f"抢兑{i}") for i in range(20)]
    for person in people:
        credit(app, person, world.sites["S1"], 60)
    responses = race(app, [lambda c, p=p: redeem(c, p, reward["id"]) for p in people])
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 19, statuses
    assert {r.json["error"] for r in responses if r.status_code == 409} == {"reward.out_of_stock"}
    assert stock(app, reward["id"]) == 0
    assert sorted(balance(app, p) for p in people) == [10] + [60] * 19
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Redemption)) == 1
    assert ledger_ok(app)


# ---- the unit of stock before the chain head -----------------------------------------------------------


def watch_the_head(monkeypatch, reward_id: int) -> list[int]:
    """Record, at each lock of the chain head, the reward's stock as the locking transaction sees it."""
    seen: list[int] = []
    lock_head = ledger.lock_head

    def watched():
        seen.append(db.session.scalar(sa.select(Reward.stock).where(Reward.id == reward_id)))
        return lock_head()

    monkeypatch.setattr(ledger, "lock_head", watched)
    return seen


def test_a_loser_of_the_last_unit_is_refused_without_the_ledger_lock(app, client, world, monkeypatch):
    reward = add_reward(client, world.mgr_s1, world.sites["S1"], price_minutes=10, stock=1)
    other = make_volunteer(app, world.sites["S1"], 200, "后到者")
    credit(app, world.vol_s1, world.sites["S1"], 100)
    credit(app, other, world.sites["S1"], 100)
    seen = watch_the_head(monkeypatch, reward["id"])
    assert redeem(client, world.vol_s1, reward["id"]).status_code == 201
    assert seen == [0]  # the winner took the unit, then locked the head (for its debit)
    r = redeem(client, other, reward["id"])
    assert (r.status_code, r.json["error"]) == (409, "reward.out_of_stock")
    assert seen == [0]  # the loser never touched the chain head
    assert balance(app, other) == 100
    assert ledger_ok(app)


def test_a_unit_taken_by_someone_else_after_it_was_read_is_refused_before_the_ledger_lock(
    app, client, world, monkeypatch
):
    reward = add_reward(client, world.mgr_s1, world.sites["S1"], price_minutes=10, stock=1)
    credit(app, world.vol_s1, world.sites["S1"], 100)
    seen = watch_the_head(monkeypatch, reward["id"])
    paying_book = ledger.paying_book

    def and_meanwhile_the_last_unit_goes(user_id):  # between the unlocked read and the UPDATE
        db.session.execute(sa.update(Reward).where(Reward.id == reward["id"]).values(stock=0))
        return paying_book(user_id)

    monkeypatch.setattr(ledger, "paying_book", and_meanwhile_the_last_unit_goes)
    r = redeem(client, world.vol_s1, reward["id"])
    assert (r.status_code, r.json["error"]) == (409, "reward.out_of_stock")
    assert seen == []
    assert balance(app, world.vol_s1) == 100


def test_a_unit_taken_before_a_refused_debit_goes_back(app, client, world, monkeypatch):
    reward = add_reward(client, world.mgr_s1, world.sites["S1"], price_minutes=150, stock=1)
    credit(app, world.vol_s1, world.sites["S1"], 100)
    seen = watch_the_head(monkeypatch, reward["id"])
    r = redeem(client, world.vol_s1, reward["id"])
    assert (r.status_code, r.json["error"]) == (409, "timebook.insufficient")
    assert seen == [0]  # taken before the head was locked …
    assert stock(app, reward["id"]) == 1  # … and given back with the refused debit
    assert balance(app, world.vol_s1) == 100
    assert ledger_ok(app)


def test_while_the_chain_head_is_held_a_loser_of_the_last_unit_is_answered_at_once(app, client, world):
    if db_dialect(app) != "postgresql":
        pytest.skip("row locks: PostgreSQL")
    reward = add_reward(client, world.mgr_s1, world.sites["S1"], price_minutes=10, stock=1)
    other = make_volunteer(app, world.sites["S1"], 200, "后到者")
    credit(app, world.vol_s1, world.sites["S1"], 100)
    credit(app, other, world.sites["S1"], 100)
    assert redeem(client, world.vol_s1, reward["id"]).status_code == 201
    answers: list = []
    with app.app_context(), db.engine.connect() as posting:
        posting.execute(sa.text("SELECT 1 FROM time_ledger_head WHERE id = 1 FOR UPDATE"))  # a long posting
        loser = threading.Thread(
            target=lambda: answers.append(redeem(app.test_client(), other, reward["id"]))
        )
        loser.start()
        loser.join(timeout=10)
        answered = not loser.is_alive()
        posting.rollback()
    loser.join()
    assert answered, "the loser queued behind the chain head"
    assert (answers[0].status_code, answers[0].json["error"]) == (409, "reward.out_of_stock")


def db_dialect(app) -> str:
    with app.app_context():
        return db.engine.dialect.name


def test_a_relative_with_gifted_minutes_may_redeem(app, client, world):
    """Anyone with a book spends it: here a resident whose only minutes are a gift."""
    relative = make_user(app, name="老母亲", home_site_id=world.sites["S1"])
    credit(app, world.vol_s1, world.sites["S1"], 100)
    link = client.post(
        f"{API}/me/family-links",
        json={"relative_phone": relative.phone, "relation": "parent"},
        headers=world.vol_s1.headers,
    ).json
    client.post(f"{API}/family-links/{link['id']}/approve", headers=world.mgr_s1.headers)
    r = client.post(
        f"{API}/me/timebook/gifts",
        json={"minutes": 60, "family_link_id": link["id"]},
        headers=world.vol_s1.headers,
    )
    assert r.status_code == 201, r.json
    reward = add_reward(client, world.mgr_s1, world.sites["S1"], kind="service", price_minutes=45)
    r = redeem(client, relative, reward["id"])
    assert r.status_code == 201, r.json
    assert balance(app, relative) == 15
    assert ledger_ok(app)
