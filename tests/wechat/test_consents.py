"""Subscription consents (POST /me/wechat/subscriptions) and the "wechat" reacher that spends them:
once each, in the notifying transaction, in two statements for any number of users, and never twice
under concurrent notifications."""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa

from tests.api.helpers import assert_error
from tests.support import make_user
from tests.wechat.conftest import wechat_login
from volunteer_app.auth.models import WechatBinding
from volunteer_app.extensions import db
from volunteer_app.notifications import channels
from volunteer_app.notifications.wechat import WechatConsent

URL = "/api/v1/me/wechat/subscriptions"


def bound_user(app, fake, client, n: int):
    person = make_user(app)
    fake.codes[f"JS-{n}"] = f"o-{n}"
    fake.phone_codes[f"PH-{n}"] = person.phone.removeprefix("+86")
    assert wechat_login(client, f"JS-{n}", f"PH-{n}").status_code == 200
    return person


def left(body: dict) -> dict[str, int]:
    return {s["kind"]: s["remaining"] for s in body["subscriptions"]}


def reach(app, user_ids, kind):
    with app.app_context():
        found = channels.REACHERS["wechat"](user_ids, kind)
        db.session.commit()
        return found


def test_consents_count_per_template_up_to_the_cap(wechat_app, fake, client):
    person = bound_user(wechat_app, fake, client, 1)
    response = client.post(URL, json={"kinds": ["order.reminder"]}, headers=person.headers)
    assert response.status_code == 200
    assert left(response.get_json()) == {"order.cancelled": 0, "order.expired": 0, "order.reminder": 1}
    # What wx.requestSubscribeMessage answered, as is: only the accepted ones count.
    answer = {
        "errMsg": "requestSubscribeMessage:ok",
        "TPL-REMIND": "reject",
        "TPL-STATUS": "accept",
        "T-X": "accept",
    }
    body = client.post(URL, json={"results": answer}, headers=person.headers).get_json()
    # Two kinds share the status template: one consent serves either.
    assert left(body) == {"order.cancelled": 1, "order.expired": 1, "order.reminder": 1}
    for _ in range(5):
        body = client.post(URL, json={"kinds": ["order.reminder"]}, headers=person.headers).get_json()
    assert left(body)["order.reminder"] == 3  # the cap (3 in these tests)
    assert left(client.get("/api/v1/me/wechat", headers=person.headers).get_json())["order.reminder"] == 3


def test_a_retried_report_counts_once(wechat_app, fake, client):
    person = bound_user(wechat_app, fake, client, 1)
    headers = {**person.headers, "Idempotency-Key": "consent-1"}
    first = client.post(URL, json={"kinds": ["order.reminder"]}, headers=headers)
    again = client.post(URL, json={"kinds": ["order.reminder"]}, headers=headers)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert left(again.get_json()) == left(first.get_json())
    assert left(client.get("/api/v1/me/wechat", headers=person.headers).get_json())["order.reminder"] == 1


def test_refused_reports(wechat_app, fake, client):
    person = make_user(wechat_app)
    assert_error(
        client.post(URL, json={"kinds": ["order.reminder"]}, headers=person.headers), 409, "wechat.not_bound"
    )
    assert_error(client.post(URL, json={"kinds": ["order.reminder"]}), 401)
    person = bound_user(wechat_app, fake, client, 2)
    for body in (
        {},
        {"kinds": []},
        {"kinds": ["star.up"]},  # no template: WeChat does not carry it
        {"kinds": ["order.reminder", "order.reminder"]},
        {"kinds": "order.reminder"},
        {"results": ["TPL-REMIND"]},
        {"results": {"TPL-REMIND": 1}},
        {"kinds": ["order.reminder"], "other": 1},
    ):
        assert_error(client.post(URL, json=body, headers=person.headers), 422)
    assert_error(client.post(URL, data="kinds", content_type="text/plain", headers=person.headers), 415)
    with wechat_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(WechatConsent)) == 0


def test_the_reacher_spends_one_consent_per_message(wechat_app, fake, client):
    a = bound_user(wechat_app, fake, client, 1)
    b = bound_user(wechat_app, fake, client, 2)
    unbound = make_user(wechat_app)
    client.post(URL, json={"kinds": ["order.reminder", "order.cancelled"]}, headers=a.headers)
    client.post(URL, json={"kinds": ["order.reminder"]}, headers=a.headers)
    client.post(URL, json={"kinds": ["order.cancelled"]}, headers=b.headers)
    everyone = [a.id, b.id, unbound.id]
    assert reach(wechat_app, everyone, "order.reminder") == {a.id: ["o-1"]}
    assert reach(wechat_app, everyone, "order.reminder") == {a.id: ["o-1"]}
    assert reach(wechat_app, everyone, "order.reminder") == {}  # a's two are spent
    # The shared template: a consent to it goes to whichever of its kinds comes first.
    assert reach(wechat_app, everyone, "order.expired") == {a.id: ["o-1"], b.id: ["o-2"]}
    assert reach(wechat_app, everyone, "order.cancelled") == {}
    assert reach(wechat_app, everyone, "star.up") == {}  # no template
    assert reach(wechat_app, [], "order.reminder") == {}


def test_a_rolled_back_notification_spends_nothing(wechat_app, fake, client):
    a = bound_user(wechat_app, fake, client, 1)
    client.post(URL, json={"kinds": ["order.reminder"]}, headers=a.headers)
    with wechat_app.app_context():
        assert channels.REACHERS["wechat"]([a.id], "order.reminder") == {a.id: ["o-1"]}
        db.session.rollback()
    assert reach(wechat_app, [a.id], "order.reminder") == {a.id: ["o-1"]}


def test_the_reacher_takes_two_statements_for_many_users(wechat_app, fake, client):
    people = [bound_user(wechat_app, fake, client, n) for n in range(12)]
    for person in people[::2]:
        client.post(URL, json={"kinds": ["order.reminder"]}, headers=person.headers)
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    with wechat_app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", count)
        try:
            found = channels.REACHERS["wechat"]([p.id for p in people], "order.reminder")
            db.session.commit()
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", count)
    assert found == {p.id: [f"o-{n}"] for n, p in enumerate(people) if n % 2 == 0}
    assert len([s for s in statements if not s.startswith(("BEGIN", "COMMIT", "SAVEPOINT"))]) == 2


def test_unbinding_forgets_the_consents(wechat_app, fake, client):
    a = bound_user(wechat_app, fake, client, 1)
    client.post(URL, json={"kinds": ["order.reminder"]}, headers=a.headers)
    assert client.delete("/api/v1/me/wechat", headers=a.headers).status_code == 204
    assert reach(wechat_app, [a.id], "order.reminder") == {}
    with wechat_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(WechatConsent)) == 0
    # Bound again: the consents start from none.
    fake.codes["JS-again"] = "o-1"
    fake.phone_codes["PH-again"] = a.phone.removeprefix("+86")
    assert wechat_login(client, "JS-again", "PH-again").status_code == 200
    assert reach(wechat_app, [a.id], "order.reminder") == {}


def test_two_notifications_at_once_spend_a_consent_once(wechat_app, fake, client):
    people = [bound_user(wechat_app, fake, client, n) for n in range(5)]
    ids = [p.id for p in people]
    for person in people:
        client.post(URL, json={"kinds": ["order.reminder"]}, headers=person.headers)
    barrier = threading.Barrier(2)
    results: list[dict] = []
    errors: list[BaseException] = []

    def notify():
        try:
            with wechat_app.app_context():
                barrier.wait(timeout=10)
                found = channels.REACHERS["wechat"](ids, "order.reminder")
                time.sleep(0.3)  # hold the transaction open: the other one meets its row locks
                db.session.commit()
                results.append(found)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=notify) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    reached = [user_id for found in results for user_id in found]
    assert sorted(reached) == sorted(ids)  # each user once, by one or the other
    with wechat_app.app_context():
        assert set(db.session.scalars(sa.select(WechatConsent.remaining))) == {0}
        assert db.session.scalar(sa.select(sa.func.count()).select_from(WechatBinding)) == 5


def test_unbinding_kills_the_messages_still_waiting_for_that_wechat(wechat_app, fake, client):
    """A message deferred (quiet hours) or being retried must not reach the openid after the unbinding:
    the same WeChat may be bound to another account next."""
    from tests.notifications.conftest import deliver, notify, outbox
    from volunteer_app.notifications import senders
    from volunteer_app.notifications.models import OutboxStatus

    a = bound_user(wechat_app, fake, client, 1)
    client.post(URL, json={"kinds": ["order.reminder"]}, headers=a.headers)
    notify(wechat_app, [a], "order.reminder")
    [row] = [r for r in outbox(wechat_app) if r.channel == "wechat"]
    assert (row.target, row.status) == ("o-1", OutboxStatus.PENDING)
    assert client.delete("/api/v1/me/wechat", headers=a.headers).status_code == 204
    senders.SENT.clear()
    deliver(wechat_app)
    [row] = [r for r in outbox(wechat_app) if r.channel == "wechat"]
    assert (row.status, row.last_error) == (OutboxStatus.DEAD, "wechat.unbound")
    assert [m for m in senders.SENT if m["channel"] == "wechat"] == []


def test_a_message_skipped_over_the_daily_cap_gives_its_consent_back(wechat_app, fake, client, monkeypatch):
    """The reacher spends a consent before routing knows the row is over the cap: a skipped row was
    never sent, so the consent it took must still let the next message through."""
    from tests.notifications.conftest import notify, outbox
    from volunteer_app.notifications.models import OutboxStatus

    monkeypatch.setitem(wechat_app.config["NOTIFICATIONS"], "daily_cap", 1)
    a = bound_user(wechat_app, fake, client, 1)
    for _ in range(2):
        client.post(URL, json={"kinds": ["order.reminder"]}, headers=a.headers)
    notify(wechat_app, [a], "order.reminder")  # sent: one consent spent
    notify(wechat_app, [a], "order.reminder")  # over the cap: skipped
    notify(wechat_app, [a], "order.reminder")  # and again
    rows = [(r.channel, r.status, r.last_error) for r in outbox(wechat_app)]
    assert rows == [
        ("wechat", OutboxStatus.PENDING, None),
        ("wechat", OutboxStatus.SKIPPED, "cap"),
        ("wechat", OutboxStatus.SKIPPED, "cap"),
    ]
    assert left(client.get("/api/v1/me/wechat", headers=a.headers).get_json())["order.reminder"] == 1
