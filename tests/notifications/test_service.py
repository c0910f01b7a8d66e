"""Writing notifications with the change they report, and delivering the outbox exactly once."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.notifications.conftest import deliver, notify, outbox, run_worker
from tests.orders.conftest import order_body
from tests.race import race
from tests.support import caller, make_user
from volunteer_app.db import utcnow
from volunteer_app.extensions import db
from volunteer_app.notifications import delivery, devices, messages, service
from volunteer_app.notifications.models import Notification, OutboxMessage


def add_device(app, person, token, platform="android"):
    with app.app_context():
        return devices.register_device(
            who=caller(person.id), platform=platform, token=token, app_version="1.0"
        ).id


# ---- notify ----------------------------------------------------------------------------------------


def test_notify_writes_one_inbox_row_per_user_and_one_outbox_row_per_device(app, world):
    add_device(app, world.vol_s1, "tok-a", "ios")
    add_device(app, world.vol_s1, "tok-b", "harmony")
    add_device(app, world.mgr_s1, "tok-c", "android")
    people = [world.vol_s1, world.mgr_s1, world.resident, world.vol_s1]
    assert notify(app, people, "order.submitted", params={"title": "助老", "order_id": 9}, order_id=9) == 3
    with app.app_context():
        rows = db.session.scalars(sa.select(Notification).order_by(Notification.user_id)).all()
        assert sorted(n.user_id for n in rows) == sorted({p.id for p in people})
        assert {(n.kind, n.order_id, n.read_at) for n in rows} == {("order.submitted", 9, None)}
        assert rows[0].params == {"title": "助老", "order_id": 9}
    got = {(m.user_id, m.channel, m.target, m.status, m.attempts) for m in outbox(app)}
    assert got == {
        (world.vol_s1.id, "push", "tok-a", "pending", 0),
        (world.vol_s1.id, "push", "tok-b", "pending", 0),
        (world.mgr_s1.id, "push", "tok-c", "pending", 0),
        (world.resident.id, "console", None, "pending", 0),
    }


def _statements_of_notify(app, people, kind="order.offered") -> list[str]:
    statements = []

    def count(conn, cursor, statement, *args):
        if not statement.startswith("BEGIN"):
            statements.append(statement.split("(")[0].split()[0:4])

    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", count)
        try:
            ids = [p.id for p in people]
            assert service.notify(ids, kind, params={"title": "助老"}, subject=("order", 1)) == len(ids)
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", count)
        db.session.commit()
    return [" ".join(words) for words in statements]


def test_notify_is_set_based_whatever_the_number_of_users(app, world):
    homes = [world.sites["S1"], world.sites["S4"], None]
    people = [make_user(app, name=f"志愿者{i}", home_site_id=homes[i % 3]) for i in range(55)]
    for person in people[:2] + people[5:15]:
        add_device(app, person, f"tok-{person.id}")
    few = _statements_of_notify(app, people[:5])
    many = _statements_of_notify(app, people[5:])
    # The same statements for 5 and for 50 users: the inbox INSERT; the settings; push's devices, then
    # sms's phones for the rest ("push|sms"); the users' home sites and their zones (the sites, their
    # ancestors); today's counts for the cap (one time zone); the outbox INSERT; on PostgreSQL one
    # NOTIFY, which wakes the workers when the transaction commits.
    assert few == many, (few, many)
    wakes = 1 if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgres") else 0
    assert len(many) == 9 + wakes, many
    assert many[0].startswith("INSERT INTO notifications") and many[-1 - wakes].startswith("INSERT INTO")
    assert len([m for m in outbox(app) if m.user_id in {p.id for p in people[5:]}]) == 50


def test_notify_refuses_unknown_kinds_and_params_that_are_not_simple(app, world):
    with app.app_context(), pytest.raises(ValueError, match="unknown notification kind"):
        service.notify([world.vol_s1.id], "order.teleported", subject=("order", 1))
    with app.app_context(), pytest.raises(ValueError, match="start"):
        service.notify(
            [world.vol_s1.id],
            "order.reminder",
            params={"title": "x", "start": utcnow()},
            subject=("order", 1),
        )


def test_notify_nobody_does_nothing(app, world):
    assert notify(app, []) == 0
    assert outbox(app) == []


def test_managers_of_a_site_are_those_granted_on_it(app, world):
    with app.app_context():
        assert service.managers_of(world.sites["S1"]) == [world.mgr_s1.id]
        assert service.managers_of(world.sites["I1"]) == [world.mgr_i1.id]
        assert service.managers_of(world.sites["S3"]) == []


# ---- rendering -------------------------------------------------------------------------------------


def test_every_kind_has_both_languages_and_renders_without_all_params():
    for kind, (zh, en) in messages.KINDS.items():
        assert zh and en, kind
        assert messages.render(kind, {}) == zh
        assert messages.render(kind, {}, "en") == en
    assert messages.render("order.declined", {"title": "助老"}) == "志愿者{name}退出「助老」，请重新派单"
    assert messages.render("hours.credited", {"title": "助老", "minutes": 90}, "en") == (
        '"助老" was approved: 1 hour 30 minutes added to your time book'
    )
    one_minute = messages.render("hours.credited", {"title": "助老", "minutes": 1})
    assert one_minute == "「助老」审核通过，1 分钟已存入时间存折"


def test_a_reason_is_added_where_given():
    assert messages.render("order.rejected", {"title": "修电脑", "reason": "超出服务范围"}) == (
        "订单「修电脑」未被受理（原因：超出服务范围）"
    )
    assert messages.render("order.cancelled", {"title": "修电脑", "reason": ""}, "en") == (
        '"修电脑" was cancelled'
    )
    # A param's own braces are text, not placeholders.
    assert messages.render("order.filled", {"title": "{x}"}) == "「{x}」已满员"


# ---- delivery --------------------------------------------------------------------------------------


def test_delivery_sends_each_row_once_and_marks_it_sent(app, world, sent):
    add_device(app, world.vol_s1, "tok-a", "ios")
    notify(app, [world.vol_s1, world.resident], "order.offered", params={"title": "助老"}, order_id=4)
    assert deliver(app) == 2
    assert deliver(app) == 0
    assert len(sent) == 2
    by_user = {m["user_id"]: m for m in sent}
    message = by_user[world.vol_s1.id]
    assert (message["channel"], message["target"], message["kind"], message["order_id"]) == (
        "push",
        "tok-a",
        "order.offered",
        4,
    )
    assert message["title"] == "您收到服务邀请「助老」，请接单或婉拒"
    assert message["title_en"].startswith('You are invited to serve "助老"')
    # No device: an offer goes by SMS ("push|sms"), to the phone the user has when it is sent.
    assert (by_user[world.resident.id]["channel"], by_user[world.resident.id]["target"]) == (
        "sms",
        world.resident.phone,
    )
    assert [m.target for m in outbox(app) if m.channel == "sms"] == [None]  # the number is not stored
    assert {(m.status, m.attempts) for m in outbox(app)} == {("sent", 1)}
    assert all(m.sent_at is not None for m in outbox(app))


def test_delivery_honours_the_limit(app, world, sent):
    notify(app, [world.vol_s1, world.resident, world.mgr_s1])
    assert deliver(app, limit=2) == 2
    assert deliver(app, limit=2) == 1
    assert len({m["id"] for m in sent}) == 3


def test_a_failing_sender_backs_off_then_gives_up(app, world, failing):
    notify(app, [world.vol_s1])
    start = utcnow()
    now = start
    for attempt in range(1, 5):
        assert deliver(app, now=now) == 0
        (row,) = outbox(app)
        assert (row.status, row.attempts) == ("failed", attempt)
        assert row.last_error == "ConnectionError: gateway unreachable"
        delay = delivery.retry_delay(attempt)
        assert row.next_try_at == now + delay
        assert deliver(app, now=now + delay - timedelta(seconds=1)) == 0  # not yet due: untouched
        assert outbox(app)[0].attempts == attempt
        now += delay
    assert deliver(app, now=now) == 0
    (row,) = outbox(app)
    assert (row.status, row.attempts) == ("dead", 5)  # notification_max_attempts
    assert deliver(app, now=now + timedelta(days=1)) == 0
    assert outbox(app)[0].attempts == 5


def test_retry_delay_doubles_up_to_an_hour():
    assert [delivery.retry_delay(n).total_seconds() for n in range(1, 9)] == [
        30,
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
    ]


def test_a_failed_row_is_sent_when_the_gateway_is_back(app, world, sent):
    notify(app, [world.vol_s1])
    app.extensions["notification_sender"] = _Failing()
    now = utcnow()
    assert deliver(app, now=now) == 0
    app.extensions.pop("notification_sender")
    assert deliver(app, now=now + timedelta(seconds=31)) == 1
    (row,) = outbox(app)
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)
    assert len(sent) == 1


class _Failing:
    def send(self, message):
        raise TimeoutError


def test_a_claim_left_by_a_crashed_sender_is_taken_over_after_its_lease(app, world, sent):
    notify(app, [world.vol_s1])
    now = utcnow()
    with app.app_context():
        db.session.execute(
            sa.update(OutboxMessage).values(status="sending", next_try_at=now + timedelta(minutes=10))
        )
        db.session.commit()
    assert deliver(app, now=now) == 0  # another sender holds it
    assert sent == []
    assert deliver(app, now=now + timedelta(minutes=11)) == 1
    assert outbox(app)[0].status == "sent"


@pytest.mark.usefixtures("quiet_hours_off")
def test_pushes_to_a_device_that_left_the_user_are_dropped(app, world, sent):
    add_device(app, world.vol_s1, "shared-phone")
    notify(app, [world.vol_s1])
    add_device(app, world.resident, "shared-phone")  # the phone changed hands before delivery
    assert deliver(app) == 0
    assert sent == []
    (row,) = outbox(app)
    assert (row.status, row.last_error) == ("dead", "device.gone")


@pytest.mark.usefixtures("quiet_hours_off")
def test_concurrent_deliverers_never_send_a_row_twice(app, world, sent):
    people = [make_user(app, name=f"居民{i}") for i in range(40)]
    notify(app, people)
    notify(app, people, "order.cancelled")

    def deliverer(_client):
        total = 0
        with app.app_context():
            while True:
                sent_now = delivery.deliver_pending(limit=7)
                if not sent_now:
                    return total
                total += sent_now

    totals = race(app, [deliverer] * 8)
    totals.append(deliver(app))  # whatever a deliverer left when its candidates were taken
    ids = [m["id"] for m in sent]
    assert len(ids) == len(set(ids)) == 80
    assert sum(totals) == 80
    assert {m.status for m in outbox(app)} == {"sent"}


# ---- nothing is sent in a request: the worker sends it, and the command -----------------------------


class BlockingSender:
    """A gateway that takes 10 s a message: records when it was first called, then blocks."""

    def __init__(self):
        self.called = threading.Event()

    def send(self, message):
        self.called.set()
        time.sleep(10)


def test_a_request_that_notifies_returns_before_any_sender_is_called(app, client, world, sent):
    blocking = BlockingSender()
    app.extensions["notification_sender"] = blocking
    started = time.monotonic()
    r = client.post("/api/v1/orders", json=order_body(app), headers=world.resident.headers)
    elapsed = time.monotonic() - started
    assert r.status_code == 201, r.json
    assert not blocking.called.is_set()
    assert elapsed < 3, f"the request took {elapsed:.1f} s"
    assert outbox(app) == []  # queued with the order: the worker writes the managers' notice
    app.extensions.pop("notification_sender")
    assert run_worker(app) >= 2  # the worker writes it and sends it: to the station's manager
    assert world.mgr_s1.id in {m["user_id"] for m in sent}
    assert {row.status for row in outbox(app)} == {"sent"}


def test_notifications_of_a_request_that_never_committed_are_never_sent(app, world, sent):
    with app.test_request_context(method="POST"):
        service.notify([world.vol_s1.id], "order.filled", params={"title": "助老"}, subject=("order", 1))
        db.session.rollback()  # the request failed
    assert run_worker(app) == 0
    assert sent == []
    assert outbox(app) == []


def test_a_failing_sender_never_stops_the_worker(app, world, failing):
    notify(app, [world.vol_s1])
    assert run_worker(app) == 0  # tried, failed, backing off: nothing more due now
    assert [(m.status, m.attempts) for m in outbox(app)] == [("failed", 1)]


def test_the_deliver_command(app, world, sent):
    notify(app, [world.vol_s1, world.resident, world.mgr_s1])
    runner = app.test_cli_runner()
    first = runner.invoke(args=["notifications", "deliver", "--limit", "2"])
    again = runner.invoke(args=["notifications", "deliver"])
    assert first.exit_code == 0, first.output
    assert "2 notifications sent" in first.output
    assert "1 notifications sent" in again.output
    assert len(sent) == 3
    # Not a terminal: plain progress lines instead of a bar.
    assert "sending: 2/2" in first.output and "sending: 1/1" in again.output


def test_the_deliver_command_works_through_batches(app, world, sent, monkeypatch):
    from volunteer_app import commands

    monkeypatch.setattr(commands, "DELIVER_BATCH", 2)
    notify(app, [world.vol_s1, world.resident, world.mgr_s1, world.mgr_s4, world.vol_s4])
    result = app.test_cli_runner().invoke(args=["notifications", "deliver"])
    assert result.exit_code == 0, result.output
    assert [line for line in result.output.splitlines() if line.startswith("sending")] == [
        "sending: 2/5",
        "sending: 4/5",
        "sending: 5/5",
    ]
    assert "5 notifications sent" in result.output and len(sent) == 5


def test_finished_outbox_rows_are_purged_after_their_time_and_pending_ones_never(app, world):
    notify(app, [world.vol_s1.id, world.mgr_s1.id, world.resident.id], "order.offered")
    with app.app_context():
        rows = db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()
        old = utcnow() - timedelta(days=40)
        for row, status in zip(rows, ("sent", "dead", "pending"), strict=True):
            row.status, row.created_at = status, old
        db.session.commit()
        inbox = db.session.scalar(sa.select(sa.func.count()).select_from(Notification))
        assert delivery.purge_outbox(utcnow() - timedelta(days=50)) == 0
        assert delivery.purge_outbox(utcnow() - timedelta(days=30), batch=1) == 2
        assert [r.status for r in db.session.scalars(sa.select(OutboxMessage))] == ["pending"]
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == inbox
