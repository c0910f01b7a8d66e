"""The admins' view of deliveries: who may see it, what it shows (targets masked), its filters, walking
it to its end."""

from __future__ import annotations

import pytest

from tests.notifications.conftest import deliver, notify, outbox
from tests.notifications.test_routing import add_device
from volunteer_app.notifications.channels import DeliveryError

API = "/api/v1"
LIST = f"{API}/admin/notifications/deliveries"


@pytest.fixture
def refusing_sms(app):
    class Refusing:
        def send(self, message):
            raise DeliveryError("tencent:InvalidParameterValue.IncorrectPhoneNumber", retry=False)

    app.extensions["notification_senders"] = {"sms": Refusing()}
    yield
    app.extensions.pop("notification_senders", None)


def test_only_admins_see_deliveries(app, client, world):
    notify(app, [world.resident], "order.filled")
    (row,) = outbox(app)
    for person in (world.mgr_c1, world.mgr_s1, world.vol_s1, world.resident):
        for url in (LIST, f"{API}/admin/notifications/{row.notification_id}/deliveries"):
            r = client.get(url, headers=person.headers)
            assert (r.status_code, r.json["error"]) == (403, "auth.forbidden"), url
    assert client.get(LIST).status_code == 401


@pytest.mark.usefixtures("quiet_hours_off")
def test_deliveries_show_status_error_and_masked_targets(app, client, world, refusing_sms, sent):
    token = "1a0018970a8f5cd2e35"
    add_device(app, world.vol_s1, token)
    notify(app, [world.vol_s1, world.resident], "order.rejected")  # "wechat|sms": both by SMS
    notify(app, [world.vol_s1], "order.filled")  # push
    deliver(app)
    r = client.get(LIST, headers=world.admin.headers)
    assert r.status_code == 200, r.json
    items = r.json["items"]
    assert [i["id"] for i in items] == sorted((i["id"] for i in items), reverse=True)  # newest first
    push = next(i for i in items if i["channel"] == "push")
    assert (push["target"], push["status"], push["kind"], push["attempts"]) == (
        "1a0018…",
        "sent",
        "order.filled",
        1,
    )
    sms = next(i for i in items if i["channel"] == "sms" and i["user_id"] == world.resident.id)
    assert sms["target"] == "***" + world.resident.phone[-4:]
    assert (sms["status"], sms["last_error"]) == (
        "dead",
        "tencent:InvalidParameterValue.IncorrectPhoneNumber",
    )
    text = r.get_data(as_text=True)
    assert token not in text and world.resident.phone not in text
    # Filters
    mine = client.get(f"{LIST}?user_id={world.vol_s1.id}&channel=sms", headers=world.admin.headers).json[
        "items"
    ]
    assert [(i["user_id"], i["channel"]) for i in mine] == [(world.vol_s1.id, "sms")]
    dead = client.get(f"{LIST}?status=dead", headers=world.admin.headers).json["items"]
    assert {i["channel"] for i in dead} == {"sms"} and len(dead) == 2
    own = client.get(
        f"{API}/admin/notifications/{push['notification_id']}/deliveries", headers=world.admin.headers
    )
    assert [i["id"] for i in own.json["items"]] == [push["id"]]


@pytest.mark.parametrize(
    "query",
    ["channel=pager", "status=lost", "user_id=abc", "user_id=0", "limit=0", "limit=101", "cursor=xyz"],
)
def test_bad_filters_are_4xx(client, world, query):
    r = client.get(f"{LIST}?{query}", headers=world.admin.headers)
    assert r.status_code in (400, 422), r.json


def test_an_unknown_notification_is_404(client, world):
    r = client.get(f"{API}/admin/notifications/999999/deliveries", headers=world.admin.headers)
    assert r.status_code == 404


def test_the_list_is_walked_to_its_end(app, client, world):
    for _ in range(7):
        notify(app, [world.resident, world.vol_s4], "order.filled")
    seen, cursor = [], None
    while True:
        url = f"{LIST}?limit=3" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url, headers=world.admin.headers).json
        seen += [i["id"] for i in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == sorted((m.id for m in outbox(app)), reverse=True)


def test_a_batch_stops_before_its_lease_runs_out_and_hands_the_rest_back(app, world, monkeypatch):
    """A blocked provider makes each send wait out its timeouts: a batch must not outlive its claim, or
    another deliverer takes over rows this one is still sending and they go twice."""
    import time
    from datetime import timedelta

    from tests.notifications.conftest import deliver, notify, outbox
    from volunteer_app.notifications import delivery
    from volunteer_app.notifications.models import OutboxStatus

    class Slow:
        def __init__(self):
            self.ids = []

        def send(self, message):
            time.sleep(0.4)
            self.ids.append(message["id"])

    slow = Slow()
    app.extensions["notification_senders"] = {"push": slow, "sms": slow}
    monkeypatch.setattr(delivery, "SENDING_LEASE", timedelta(seconds=2))
    monkeypatch.setattr(delivery, "LEASE_MARGIN", timedelta(seconds=1))
    try:
        people = [world.vol_s1, world.vol_s4, world.resident, world.mgr_s1, world.mgr_s2]
        notify(app, people, "order.offered")  # urgent (never held by quiet hours): push|sms
        first = deliver(app)
        rows = outbox(app)
        assert 1 <= first < len(rows) == 5
        assert sorted(r.id for r in rows if r.status == OutboxStatus.SENT) == sorted(slow.ids)
        handed_back = [r for r in rows if r.status != OutboxStatus.SENT]
        assert {(r.status, r.attempts) for r in handed_back} == {(OutboxStatus.PENDING, 0)}
        while deliver(app):
            pass
        assert {r.status for r in outbox(app)} == {OutboxStatus.SENT}
        assert sorted(slow.ids) == sorted(r.id for r in rows)  # each once
    finally:
        app.extensions.pop("notification_senders", None)
