"""Routing (which channels each kind goes by, alternatives, opt-outs, quiet hours, the daily cap) and
delivery per channel (each channel's sender, providers' error codes, retry or dead at once)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine

from tests.notifications.conftest import deliver, notify, outbox, run_worker
from tests.orders.conftest import order_body
from tests.support import caller, make_user
from volunteer_app.db import utcnow
from volunteer_app.extensions import db
from volunteer_app.notifications import channels, devices, routing, senders
from volunteer_app.notifications.channels import DeliveryError
from volunteer_app.notifications.models import Notification
from volunteer_app.settings import NOTIFICATION_CHANNELS, NOTIFICATION_SENDERS, ConfigError, build_config

API = "/api/v1"


def add_device(app, person, token, platform="android"):
    with app.app_context():
        devices.register_device(who=caller(person.id), platform=platform, token=token, app_version=None)


@pytest.fixture
def wechat(monkeypatch):
    """A WeChat reacher (the real one is another module's): reaches the users in `reachable`, at an
    openid of their own; records each call (users, kind)."""
    reachable: set[int] = set()
    calls: list[tuple[list[int], str]] = []

    def reach(user_ids, kind):
        calls.append((list(user_ids), kind))
        return {u: [f"openid-{u}"] for u in user_ids if u in reachable}

    monkeypatch.setitem(channels.REACHERS, "wechat", reach)
    reach.reachable, reach.calls = reachable, calls
    return reach


def rows(app, person=None):
    return sorted(
        (m.channel, m.target, m.status)
        for m in outbox(app)
        if person is None or m.user_id == getattr(person, "id", person)
    )


# ---- the routing table --------------------------------------------------------------------------------


def test_a_kind_not_named_goes_to_the_devices_else_the_console(app, world):
    add_device(app, world.vol_s1, "tok-1")
    add_device(app, world.vol_s1, "web-1", "web")  # a browser reads its inbox: no push
    notify(app, [world.vol_s1, world.resident], "order.filled")
    assert rows(app, world.vol_s1) == [("push", "tok-1", "pending")]
    assert rows(app, world.resident) == [("console", None, "pending")]


def test_alternatives_take_the_first_channel_that_reaches(app, world, wechat):
    wechat.reachable.add(world.resident.id)
    other = make_user(app, name="居民二")
    notify(app, [world.resident, other], "order.rejected")  # "wechat|sms"
    assert rows(app, world.resident) == [("wechat", f"openid-{world.resident.id}", "pending")]
    assert rows(app, other) == [("sms", None, "pending")]
    # WeChat was asked about both; SMS only about the one WeChat did not reach.
    assert wechat.calls == [(sorted([world.resident.id, other.id]), "order.rejected")]


def test_a_channel_with_no_reacher_reaches_nobody(app, world, monkeypatch):
    monkeypatch.delitem(channels.REACHERS, "wechat", raising=False)
    notify(app, [world.resident], "order.rejected")
    assert rows(app) == [("sms", None, "pending")]
    monkeypatch.setitem(app.config["NOTIFICATIONS"]["routes"], "order.rejected", [("wechat",)])
    notify(app, [world.resident], "order.rejected")
    assert len(rows(app)) == 1  # the second notice: no outbox row at all
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 2  # both inboxed


def test_a_pool_nearby_goes_by_push_and_wechat_both(app, world, wechat):
    add_device(app, world.vol_s1, "tok-1")
    wechat.reachable.update({world.vol_s1.id, world.vol_s4.id})
    with time_machine.travel(datetime(2026, 5, 6, 4, 0, tzinfo=UTC), tick=False):  # 12:00 in Shanghai
        notify(app, [world.vol_s1, world.vol_s4], "order.pool_nearby")
    assert rows(app, world.vol_s1) == [
        ("push", "tok-1", "pending"),
        ("wechat", f"openid-{world.vol_s1.id}", "pending"),
    ]
    assert rows(app, world.vol_s4) == [("wechat", f"openid-{world.vol_s4.id}", "pending")]


def test_an_inactive_user_gets_no_sms(app, world):
    with app.app_context():
        db.session.execute(
            sa.text("UPDATE users SET is_active = false WHERE id = :id"), {"id": world.resident.id}
        )
        db.session.commit()
    notify(app, [world.resident], "order.rejected")
    assert rows(app) == []


def test_the_configuration_is_checked(tmp_path):
    assert tuple(channels.CHANNEL_NAMES) == NOTIFICATION_CHANNELS
    assert set(NOTIFICATION_SENDERS) == set(senders.BUILTINS) | set(senders.PROVIDERS)
    for bad in (
        {"senders": {"push": "jpusj"}},  # a misspelt sender would stop every channel's delivery
        {"senders": {"sms": "my module:Sender"}},
        {"routes": {"order.filled": ["push|pager"]}},
        {"routes": {"order.filled": "push"}},
        {"senders": {"fax": "console"}},
        {"daily_cap": -1},
        {"quiet_start": "24:00"},
        {"quiet_end": "7:00"},
    ):
        path = _toml(bad, tmp_path)
        with pytest.raises(ConfigError):
            build_config(environ={"VOLUNTEER_CONFIG": path})
    good = _toml({"senders": {"push": "jpush", "sms": "my_pkg.gateway:Sms"}}, tmp_path)
    assert (
        build_config(environ={"VOLUNTEER_CONFIG": good})["NOTIFICATIONS"]["senders"]["sms"]
        == "my_pkg.gateway:Sms"
    )
    routes = build_config(environ={})["NOTIFICATIONS"]["routes"]
    assert routes["order.rejected"] == [("wechat", "sms")]
    assert routes["order.pool_nearby"] == [("push",), ("wechat",)]


def _toml(table: dict, directory) -> str:
    lines = ["[notifications]"]
    for key, value in table.items():
        if isinstance(value, dict):
            inner = ", ".join(f'"{k}" = {_value(v)}' for k, v in value.items())
            lines.append(f"{key} = {{ {inner} }}")
        else:
            lines.append(f"{key} = {_value(value)}")
    path = directory / f"overlay-{len(list(directory.iterdir()))}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def _value(value) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return str(value)


# ---- opt-outs ------------------------------------------------------------------------------------------


def put_settings(client, person, body, method="put"):
    return getattr(client, method)(f"{API}/me/notification-settings", json=body, headers=person.headers)


QUIET_OFF = {"enabled": False}


def test_my_settings_start_as_the_defaults_and_list_what_i_may_turn_off(client, world):
    r = client.get(f"{API}/me/notification-settings", headers=world.vol_s1.headers)
    assert r.status_code == 200, r.json
    body = r.json
    assert body["opt_out"] == {}
    assert body["quiet_hours"] == {
        "enabled": True,
        "start": "22:00",
        "end": "07:00",
        "timezone": "Asia/Shanghai",
    }
    kinds = {k["kind"]: k["channels"] for k in body["kinds"]}
    assert kinds["order.pool_nearby"] == ["push", "wechat"]
    assert kinds["order.rejected"] == ["sms", "wechat"]
    assert "ledger.mismatch" not in kinds  # a security alert always comes


def test_opting_out_of_a_channel_skips_it_and_alternatives_go_on(app, client, world, wechat):
    add_device(app, world.vol_s1, "tok-1")
    wechat.reachable.add(world.vol_s1.id)
    body = {
        "opt_out": {"order.pool_nearby": ["push"], "order.rejected": ["wechat"]},
        "quiet_hours": QUIET_OFF,
    }
    r = put_settings(client, world.vol_s1, body)
    assert r.status_code == 200, r.json
    assert r.json["opt_out"] == body["opt_out"]
    notify(app, [world.vol_s1], "order.pool_nearby")
    notify(app, [world.vol_s1], "order.rejected")
    assert rows(app) == [("sms", None, "pending"), ("wechat", f"openid-{world.vol_s1.id}", "pending")]
    # WeChat was not asked for the rejected notice (a consent is not used up for nothing).
    assert [kind for _users, kind in wechat.calls] == ["order.pool_nearby"]


def test_security_kinds_ignore_opt_outs_and_cannot_be_opted_out_of(app, client, world):
    add_device(app, world.admin, "tok-admin")
    r = put_settings(
        client, world.admin, {"opt_out": {"ledger.mismatch": ["push"]}, "quiet_hours": QUIET_OFF}
    )
    assert r.status_code == 422 and "opt_out" in r.json["errors"]["json"]
    with app.app_context():  # even a stored opt-out (from an older route) is ignored
        from volunteer_app.notifications.models import NotificationSetting

        db.session.add(
            NotificationSetting(user_id=world.admin.id, opt_out={"ledger.mismatch": ["push", "sms"]})
        )
        db.session.commit()
    notify(app, [world.admin], "ledger.mismatch")
    assert rows(app) == [("push", "tok-admin", "pending"), ("sms", None, "pending")]


def test_patch_changes_only_what_it_names(client, world):
    put_settings(client, world.vol_s1, {"opt_out": {"order.filled": ["push"]}, "quiet_hours": QUIET_OFF})
    r = put_settings(client, world.vol_s1, {"opt_out": {"order.cancelled": ["sms", "push"]}}, "patch")
    assert r.status_code == 200, r.json
    assert r.json["opt_out"] == {"order.cancelled": ["push", "sms"], "order.filled": ["push"]}
    assert r.json["quiet_hours"]["enabled"] is False
    r = put_settings(client, world.vol_s1, {"opt_out": {"order.filled": []}}, "patch")
    assert r.json["opt_out"] == {"order.cancelled": ["push", "sms"]}
    r = put_settings(
        client, world.vol_s1, {"quiet_hours": {"enabled": True, "start": "23:30", "end": "06:00"}}, "patch"
    )
    assert r.json["quiet_hours"] == {
        "enabled": True,
        "start": "23:30",
        "end": "06:00",
        "timezone": "Asia/Shanghai",
    }
    # PUT replaces the whole
    r = put_settings(client, world.vol_s1, {"opt_out": {}, "quiet_hours": {"enabled": True}})
    assert (r.json["opt_out"], r.json["quiet_hours"]["start"]) == ({}, "22:00")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"opt_out": {"order.filled": ["push"]}},  # PUT needs both
        {"opt_out": {"order.teleported": ["push"]}, "quiet_hours": QUIET_OFF},
        {"opt_out": {"order.filled": ["pager"]}, "quiet_hours": QUIET_OFF},
        {"opt_out": {"order.filled": ["sms"]}, "quiet_hours": QUIET_OFF},  # its route never uses SMS
        {"opt_out": {"order.filled": ["push", "push"]}, "quiet_hours": QUIET_OFF},
        {"opt_out": {"order.filled": "push"}, "quiet_hours": QUIET_OFF},
        {"opt_out": [], "quiet_hours": QUIET_OFF},
        {"opt_out": {}, "quiet_hours": {"enabled": "yes"}},
        {"opt_out": {}, "quiet_hours": {"enabled": True, "start": "25:00"}},
        {"opt_out": {}, "quiet_hours": {"enabled": True, "start": "22:00", "end": "22:00"}},
        {"opt_out": {}, "quiet_hours": {"enabled": True, "extra": 1}},
        {"opt_out": {}, "quiet_hours": QUIET_OFF, "unknown": 1},
    ],
)
def test_bad_settings_are_422_and_change_nothing(client, world, body):
    r = put_settings(client, world.vol_s1, body)
    assert r.status_code == 422, r.json
    assert client.get(f"{API}/me/notification-settings", headers=world.vol_s1.headers).json["opt_out"] == {}


def test_settings_need_a_json_body_and_a_patch_that_changes_nothing_is_422(client, world):
    r = client.put(f"{API}/me/notification-settings", data="opt_out=1", headers=world.vol_s1.headers)
    assert r.status_code == 415
    r = put_settings(client, world.vol_s1, {}, "patch")
    assert (r.status_code, r.json["error"]) == (422, "validation.nothing_to_change")
    assert client.get(f"{API}/me/notification-settings").status_code == 401


# ---- quiet hours ---------------------------------------------------------------------------------------


def at(moment: str):
    return time_machine.travel(datetime.fromisoformat(moment), tick=False)


def test_quiet_hours_hold_external_rows_until_the_window_ends_in_the_users_zone(app, client, world):
    add_device(app, world.vol_s1, "tok-s1")  # home S1: Asia/Shanghai
    add_device(app, world.vol_s4, "tok-s4")  # home S4: set to America/New_York below
    r = client.patch(
        f"{API}/sites/{world.sites['S4']}/settings",
        json={"timezone": "America/New_York"},
        headers=world.mgr_s4.headers,
    )
    assert r.status_code == 200, r.json
    # 23:30 in Shanghai is 11:30 in New York (EDT): one is quiet, the other not.
    with at("2026-05-06T23:30:00+08:00"):
        notify(app, [world.vol_s1, world.vol_s4, world.resident], "order.filled")
    by_user = {m.user_id: m for m in outbox(app)}
    assert by_user[world.vol_s1.id].next_try_at == datetime.fromisoformat("2026-05-07T07:00:00+08:00")
    assert by_user[world.vol_s4.id].next_try_at == datetime.fromisoformat("2026-05-06T23:30:00+08:00")
    # A console row is no message to hold back.
    assert by_user[world.resident.id].next_try_at == datetime.fromisoformat("2026-05-06T23:30:00+08:00")
    # Nothing is dropped: held until 07:00, then sent.
    assert deliver(app, now=datetime.fromisoformat("2026-05-07T06:59:00+08:00")) == 2
    assert deliver(app, now=datetime.fromisoformat("2026-05-07T07:00:00+08:00")) == 1


def test_quiet_hours_after_midnight_end_the_same_morning_and_urgent_kinds_go_at_once(app, world):
    add_device(app, world.vol_s1, "tok-s1")
    with at("2026-05-07T03:10:00+08:00"):
        notify(app, [world.vol_s1], "order.filled")
        notify(app, [world.vol_s1], "order.offered")
        notify(app, [world.vol_s1], "order.reminder")
    times = sorted(m.next_try_at for m in outbox(app))
    now = datetime.fromisoformat("2026-05-07T03:10:00+08:00")
    assert times == [now, now, datetime.fromisoformat("2026-05-07T07:00:00+08:00")]


def test_my_own_window_and_quiet_hours_off(app, client, world):
    add_device(app, world.vol_s1, "tok-s1")
    put_settings(
        client,
        world.vol_s1,
        {"opt_out": {}, "quiet_hours": {"enabled": True, "start": "12:00", "end": "13:30"}},
    )
    with at("2026-05-07T12:15:00+08:00"):
        notify(app, [world.vol_s1], "order.filled")
    put_settings(client, world.vol_s1, {"opt_out": {}, "quiet_hours": QUIET_OFF})
    with at("2026-05-07T23:15:00+08:00"):
        notify(app, [world.vol_s1], "order.filled")
    assert sorted(m.next_try_at for m in outbox(app)) == [
        datetime.fromisoformat("2026-05-07T13:30:00+08:00"),
        datetime.fromisoformat("2026-05-07T23:15:00+08:00"),
    ]


def test_quiet_until():
    now = datetime(2026, 5, 6, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai
    assert routing.quiet_until(now, "Asia/Shanghai", "22:00", "07:00") == datetime(
        2026, 5, 6, 23, 0, tzinfo=UTC
    )
    assert routing.quiet_until(now - timedelta(minutes=1), "Asia/Shanghai", "22:00", "07:00") is None
    assert routing.quiet_until(now, "Asia/Shanghai", "08:00", "08:00") is None  # an empty window
    assert routing.quiet_until(now, "Asia/Shanghai", "21:00", "23:00") == datetime(
        2026, 5, 6, 15, 0, tzinfo=UTC
    )
    assert routing.quiet_until(now, "Asia/Shanghai", "23:00", "21:00") is None


# ---- the daily cap -------------------------------------------------------------------------------------


def test_beyond_the_daily_cap_rows_are_skipped_and_the_inbox_stays(app, world, monkeypatch, sent):
    monkeypatch.setitem(app.config["NOTIFICATIONS"], "daily_cap", 2)
    add_device(app, world.vol_s1, "tok-1")
    add_device(app, world.vol_s1, "tok-2")
    with at("2026-05-07T09:00:00+08:00"):
        for _ in range(3):
            notify(app, [world.vol_s1, world.resident], "order.filled")
        notify(app, [world.vol_s1], "ledger.mismatch")  # never capped
    statuses = [(m.channel, m.status, m.last_error) for m in outbox(app) if m.user_id == world.vol_s1.id]
    # Two notices a day (each to both phones), the third skipped on both; the console rows are not capped.
    assert statuses == [
        *[("push", "pending", None)] * 4,
        *[("push", "skipped", "cap")] * 2,
        *[("push", "pending", None)] * 2,
        ("sms", "pending", None),  # ledger.mismatch: "push|console", "sms"
    ]
    assert {m.status for m in outbox(app) if m.user_id == world.resident.id} == {"pending"}
    with app.app_context():
        inbox = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Notification)
            .where(Notification.user_id == world.vol_s1.id)
        )
    assert inbox == 4
    with at("2026-05-07T23:59:00+08:00"):  # the same local day (quiet hours hold it, the cap skips it)
        notify(app, [world.vol_s1], "order.filled")
    with at("2026-05-08T00:01:00+08:00"):  # a new day in Shanghai (still the 7th in UTC)
        notify(app, [world.vol_s1], "order.filled")
    last = [m.status for m in outbox(app) if m.user_id == world.vol_s1.id][-4:]
    assert last == ["skipped", "skipped", "pending", "pending"]
    # Sent: the first two notices (4), the alert (3), the resident's console rows (3), the new day's (2).
    assert deliver(app, now=datetime.fromisoformat("2026-05-09T00:00:00+08:00")) == 12
    assert {m["channel"] for m in sent} == {"push", "console", "sms"}


# ---- delivery per channel -------------------------------------------------------------------------------


class Recording:
    def __init__(self, error: Exception | None = None):
        self.messages, self.error = [], error

    def send(self, message):
        self.messages.append(message)
        if self.error is not None:
            raise self.error


@pytest.fixture
def channel_senders(app):
    """Each channel its own recording sender (as `[notifications] senders` would build them)."""
    own = {name: Recording() for name in ("push", "sms", "wechat")}
    app.extensions["notification_senders"] = own
    yield own
    app.extensions.pop("notification_senders", None)


def test_each_channel_goes_through_its_own_sender(app, world, wechat, channel_senders, sent):
    add_device(app, world.vol_s1, "tok-1")
    wechat.reachable.add(world.vol_s4.id)
    with at("2026-05-07T09:00:00+08:00"):
        notify(app, [world.vol_s1, world.vol_s4, world.resident], "order.cancelled")  # push|wechat|sms
        notify(app, [world.resident], "order.filled")  # console
        assert deliver(app) == 4
    got = {name: [(m["user_id"], m["target"]) for m in s.messages] for name, s in channel_senders.items()}
    assert got == {
        "push": [(world.vol_s1.id, "tok-1")],
        "wechat": [(world.vol_s4.id, f"openid-{world.vol_s4.id}")],
        "sms": [(world.resident.id, world.resident.phone)],
    }
    assert [(m["channel"], m["target"]) for m in sent] == [("console", None)]  # the fallback sender


@pytest.mark.usefixtures("quiet_hours_off")
def test_a_configured_sender_is_built_by_name_and_a_missing_one_strands_nothing(app, world, monkeypatch):
    monkeypatch.setitem(
        app.config["NOTIFICATIONS"], "senders", {"sms": "memory", "push": "no.such.module:Sender"}
    )
    app.extensions.pop("notification_senders", None)
    notify(app, [world.resident], "order.rejected")
    try:
        with pytest.raises(ModuleNotFoundError):
            deliver(app)
        assert rows(app) == [("sms", None, "pending")]  # not claimed
        monkeypatch.setitem(app.config["NOTIFICATIONS"], "senders", {"sms": "memory"})
        senders.SENT.clear()
        assert deliver(app) == 1
        assert [m["channel"] for m in senders.SENT] == ["sms"]
        with app.app_context():
            assert isinstance(app.extensions["notification_senders"]["sms"], senders.MemorySender)
    finally:
        app.extensions.pop("notification_senders", None)
        senders.SENT.clear()


def test_a_refusal_that_cannot_change_is_dead_at_once_with_the_providers_code(app, world, channel_senders):
    add_device(app, world.vol_s1, "tok-1")
    channel_senders["push"].error = DeliveryError("jpush:1011", "no such registration id", retry=False)
    notify(app, [world.vol_s1], "order.offered")
    assert deliver(app) == 0
    (row,) = outbox(app)
    assert (row.status, row.attempts, row.last_error) == ("dead", 1, "jpush:1011: no such registration id")
    assert deliver(app, now=utcnow() + timedelta(days=1)) == 0
    assert len(channel_senders["push"].messages) == 1


@pytest.mark.usefixtures("quiet_hours_off")
def test_a_retryable_refusal_backs_off_then_dies_after_the_attempts(app, world, channel_senders):
    channel_senders["sms"].error = DeliveryError("tencent:LimitExceeded.PhoneNumberDailyLimit")
    notify(app, [world.resident], "order.rejected")
    now = utcnow()
    for attempt in range(1, 6):
        assert deliver(app, now=now) == 0
        (row,) = outbox(app)
        assert (row.attempts, row.last_error) == (attempt, "tencent:LimitExceeded.PhoneNumberDailyLimit")
        now += timedelta(hours=2)
    assert row.status == "dead"
    channel_senders["sms"].error = TimeoutError("read timed out")  # not a DeliveryError: retried too
    notify(app, [world.resident], "order.rejected")
    deliver(app, now=now)
    assert [(m.status, m.last_error) for m in outbox(app)][-1] == ("failed", "TimeoutError: read timed out")


@pytest.mark.usefixtures("quiet_hours_off")
def test_sms_goes_to_the_phone_the_user_has_when_it_is_sent(app, client, world, channel_senders):
    notify(app, [world.resident], "order.rejected")
    with app.app_context():
        db.session.execute(
            sa.text("UPDATE users SET phone = '+8613999990000' WHERE id = :id"), {"id": world.resident.id}
        )
        db.session.commit()
    assert deliver(app) == 1
    assert channel_senders["sms"].messages[0]["target"] == "+8613999990000"


@pytest.mark.usefixtures("quiet_hours_off")
def test_rows_of_a_user_deactivated_before_sending_are_dropped(app, world, channel_senders):
    notify(app, [world.resident], "order.rejected")
    with app.app_context():
        db.session.execute(
            sa.text("UPDATE users SET is_active = false WHERE id = :id"), {"id": world.resident.id}
        )
        db.session.commit()
    assert deliver(app) == 0
    assert [(m.status, m.last_error) for m in outbox(app)] == [("dead", "user.inactive")]
    assert channel_senders["sms"].messages == []


class Hanging:
    def __init__(self):
        self.called = threading.Event()

    def send(self, message):
        self.called.set()
        time.sleep(10)


@pytest.mark.usefixtures("quiet_hours_off")
def test_a_request_returns_at_once_while_a_channels_sender_hangs(app, client, world, sent):
    """The new order's managers hear by push (their phone hangs the sender), but the request never
    waits on a sender: it queues the notice, which the worker writes and sends after the commit."""
    add_device(app, world.mgr_s1, "tok-mgr")
    hanging = Hanging()
    app.extensions["notification_senders"] = {"push": hanging}
    try:
        started = time.monotonic()
        r = client.post(f"{API}/orders", json=order_body(app), headers=world.resident.headers)
        elapsed = time.monotonic() - started
        assert r.status_code == 201, r.json
        assert elapsed < 3 and not hanging.called.is_set()
        assert outbox(app) == []
    finally:
        app.extensions.pop("notification_senders", None)
    assert run_worker(app) == 2  # the queued notice written, then its push row sent
    assert [(m.channel, m.status) for m in outbox(app)] == [("push", "sent")]
    assert [m["channel"] for m in sent] == ["push"]
