"""My inbox and my devices through the API: paging, unread, marking read, registering, forgetting."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.api.helpers import assert_error
from tests.notifications.conftest import notify
from volunteer_app.extensions import db
from volunteer_app.notifications.models import MAX_DEVICES, Device

API = "/api/v1"


def inbox(client, person, **query):
    return client.get(f"{API}/me/notifications", query_string=query, headers=person.headers)


def mark_read(client, person, body):
    return client.post(f"{API}/me/notifications/read", json=body, headers=person.headers)


def register(client, person, token="fcm-token-1", platform="android", **fields):
    body = {"platform": platform, "token": token, **fields}
    return client.post(f"{API}/me/devices", json=body, headers=person.headers)


def devices(app, person) -> list[Device]:
    with app.app_context():
        rows = db.session.scalars(sa.select(Device).where(Device.user_id == person.id).order_by(Device.id))
        return list(rows)


# ---- the inbox -------------------------------------------------------------------------------------


def test_my_notifications_newest_first_page_by_page(app, client, world):
    for i in range(5):
        notify(app, [world.resident], "order.cancelled", params={"title": f"订单{i}"}, order_id=100 + i)
    notify(app, [world.vol_s1], "order.offered", params={"title": "别人的"})
    seen, cursor = [], None
    while True:
        r = inbox(client, world.resident, limit=2, **({"cursor": cursor} if cursor else {}))
        assert r.status_code == 200, r.json
        assert len(r.json["items"]) <= 2
        seen += r.json["items"]
        cursor = r.json["next_cursor"]
        if cursor is None:
            break
    assert [n["title"] for n in seen] == [f"「订单{i}」已取消" for i in (4, 3, 2, 1, 0)]
    ids = [n["id"] for n in seen]
    assert ids == sorted(ids, reverse=True)
    first = seen[0]
    assert set(first) == {
        "id",
        "kind",
        "title",
        "params",
        "order_id",
        "subject_type",
        "subject_id",
        "read_at",
        "created_at",
    }
    assert (first["kind"], first["params"], first["order_id"], first["read_at"]) == (
        "order.cancelled",
        {"title": "订单4"},
        104,
        None,
    )
    assert (first["subject_type"], first["subject_id"]) == ("order", "104")
    assert first["created_at"].endswith("+00:00")


def test_titles_follow_accept_language(app, client, world):
    notify(app, [world.vol_s1], "hours.credited", params={"title": "助老", "minutes": 120})
    r = client.get(
        f"{API}/me/notifications", headers={**world.vol_s1.headers, "Accept-Language": "en-US,en;q=0.9"}
    )
    assert r.json["items"][0]["title"] == '"助老" was approved: 2 hours added to your time book'
    assert inbox(client, world.vol_s1).json["items"][0]["title"] == "「助老」审核通过，2 小时已存入时间存折"


@pytest.mark.parametrize(
    ("minutes", "zh", "en"),
    [
        (1, "1 分钟", "1 minute"),
        (45, "45 分钟", "45 minutes"),
        (60, "1 小时", "1 hour"),
        (90, "1 小时 30 分钟", "1 hour 30 minutes"),
        (601, "10 小时 1 分钟", "10 hours 1 minute"),
    ],
)
def test_credited_time_under_an_hour_is_said_in_minutes(app, client, world, minutes, zh, en):
    notify(app, [world.vol_s1], "hours.credited", params={"title": "助老", "minutes": minutes})
    english = {**world.vol_s1.headers, "Accept-Language": "en"}
    assert inbox(client, world.vol_s1).json["items"][0]["title"] == f"「助老」审核通过，{zh}已存入时间存折"
    r = client.get(f"{API}/me/notifications", headers=english)
    assert r.json["items"][0]["title"] == f'"助老" was approved: {en} added to your time book'


def test_a_credit_notice_written_before_minutes_were_kept_still_reads(app, client, world):
    notify(app, [world.vol_s1], "hours.credited", params={"title": "助老", "hours": 0.8})
    assert inbox(client, world.vol_s1).json["items"][0]["title"] == "「助老」审核通过，48 分钟已存入时间存折"


def test_unread_only(app, client, world):
    for i in range(3):
        notify(app, [world.resident], params={"title": f"订单{i}"})
    oldest = inbox(client, world.resident).json["items"][-1]["id"]
    assert mark_read(client, world.resident, {"ids": [oldest]}).json == {"updated": 1}
    unread = inbox(client, world.resident, unread="true").json["items"]
    assert len(unread) == 2 and oldest not in [n["id"] for n in unread]
    everything = inbox(client, world.resident, unread="false").json["items"]
    assert len(everything) == 3
    assert next(n for n in everything if n["id"] == oldest)["read_at"] is not None


def test_marking_read_touches_only_my_own(app, client, world):
    notify(app, [world.resident, world.vol_s1], params={"title": "助老"})
    notify(app, [world.resident, world.vol_s1], "order.expired", params={"title": "修电脑"})
    theirs = [n["id"] for n in inbox(client, world.vol_s1).json["items"]]
    mine = [n["id"] for n in inbox(client, world.resident).json["items"]]
    assert mark_read(client, world.resident, {"ids": theirs}).json == {"updated": 0}
    assert len(inbox(client, world.vol_s1, unread="true").json["items"]) == 2
    assert mark_read(client, world.resident, {"ids": [*mine, *theirs]}).json == {"updated": 2}
    assert mark_read(client, world.resident, {"ids": mine}).json == {"updated": 0}  # already read
    assert mark_read(client, world.vol_s1, {"all": True}).json == {"updated": 2}
    assert mark_read(client, world.vol_s1, {"all": True}).json == {"updated": 0}
    assert inbox(client, world.vol_s1, unread="true").json["items"] == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"all": False},
        {"ids": []},
        {"ids": [1], "all": True},
        {"ids": list(range(1, 102))},
        {"ids": ["1"]},
        {"ids": [0]},
        {"ids": 5},
        {"all": "maybe"},
        {"all": 1},
        {"ids": [1], "all": 0},
    ],
)
def test_mark_read_input_is_checked(client, world, body):
    body = assert_error(mark_read(client, world.resident, body), 422, "validation.failed")
    assert "json" in body["errors"]


def test_list_arguments_are_checked(client, world):
    assert_error(inbox(client, world.resident, limit=0), 422, "validation.failed")
    assert_error(inbox(client, world.resident, unread="maybe"), 422, "validation.failed")
    assert_error(inbox(client, world.resident, cursor="not-a-cursor"), 400, "pagination.bad_cursor")


def test_the_inbox_needs_a_token(client):
    assert_error(client.get(f"{API}/me/notifications"), 401)
    assert_error(client.post(f"{API}/me/notifications/read", json={"all": True}), 401)
    assert_error(client.post(f"{API}/me/devices", json={"platform": "ios", "token": "t"}), 401)
    assert_error(client.delete(f"{API}/me/devices/1"), 401)


# ---- devices ---------------------------------------------------------------------------------------


def test_register_a_device_and_register_it_again(app, client, world):
    r = register(client, world.vol_s1, app_version="2.3.1")
    assert r.status_code == 201, r.json
    assert set(r.json) == {"id", "platform", "app_version", "created_at", "last_seen_at"}
    assert (r.json["platform"], r.json["app_version"]) == ("android", "2.3.1")
    again = register(client, world.vol_s1, app_version="2.4.0")
    assert again.status_code == 201
    assert (again.json["id"], again.json["app_version"]) == (r.json["id"], "2.4.0")
    assert again.json["last_seen_at"] >= r.json["last_seen_at"]
    assert len(devices(app, world.vol_s1)) == 1


def test_a_phone_handed_to_someone_else_moves_to_them(app, client, world):
    first = register(client, world.vol_s1, token="family-ipad", platform="ios").json
    moved = register(client, world.resident, token="family-ipad", platform="ios").json
    assert moved["id"] == first["id"]
    assert devices(app, world.vol_s1) == []
    assert [d.token for d in devices(app, world.resident)] == ["family-ipad"]


def test_a_user_keeps_at_most_ten_devices(app, client, world):
    ids = [register(client, world.vol_s1, token=f"tok-{i}").json["id"] for i in range(MAX_DEVICES + 2)]
    kept = [d.id for d in devices(app, world.vol_s1)]
    assert kept == ids[2:]  # the two seen longest ago were replaced


def test_forget_my_device_only(app, client, world):
    device_id = register(client, world.vol_s1).json["id"]
    url = f"{API}/me/devices/{device_id}"
    body = assert_error(client.delete(url, headers=world.resident.headers), 404, "not_found")
    assert set(body) == {"code", "status", "error", "message"}
    assert len(devices(app, world.vol_s1)) == 1
    r = client.delete(url, headers=world.vol_s1.headers)
    assert (r.status_code, r.data) == (204, b"")
    assert_error(client.delete(url, headers=world.vol_s1.headers), 404, "not_found")
    assert_error(client.delete(f"{API}/me/devices/{2**63}", headers=world.vol_s1.headers), 404)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("platform", "symbian"),
        ("platform", None),
        ("token", ""),
        ("token", "t" * 256),
        ("token", "has space"),
        ("token", "换行\n"),
        ("token", 12345),
        ("app_version", "v" * 33),
        ("app_version", "1.0\x00"),
    ],
)
def test_device_fields_are_checked(client, world, field, value):
    body = {"platform": "android", "token": "fcm-token-1", field: value}
    r = client.post(f"{API}/me/devices", json=body, headers=world.vol_s1.headers)
    error = assert_error(r, 422, "validation.failed")
    assert field in error["errors"]["json"]


def test_notifications_go_to_my_registered_devices(app, client, world):
    register(client, world.vol_s1, token="apns-1", platform="ios")
    register(client, world.vol_s1, token="hms-1", platform="harmony")
    register(client, world.vol_s1, token="browser-1", platform="web")  # a browser reads its inbox
    notify(app, [world.vol_s1])
    from tests.notifications.conftest import outbox

    assert sorted((m.channel, m.target) for m in outbox(app)) == [("push", "apns-1"), ("push", "hms-1")]
