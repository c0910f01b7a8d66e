"""The whole loop through the API: 点单 → 派单 → 抢单 → 签到/签退 → 评单 → 审核 → hours in the book."""

from __future__ import annotations

from datetime import timedelta

from tests.orders.conftest import NEAR
from tests.support import make_volunteer


def test_resident_to_hours_in_the_book(app, client, world, loop):
    vol2 = make_volunteer(app, world.sites["S1"], 21, "志愿者二")
    order = loop.submit(world.resident)
    assert order["status"] == "submitted" and order["site_id"] == world.sites["S1"]

    order = loop.dispatch_grab(world.mgr_s1, order["id"], capacity=2)
    assert order["status"] == "dispatched" and order["mode"] == "grab"

    a1 = loop.grab(world.vol_s1, order["id"])
    assert loop.get(world.mgr_s1, order["id"])["status"] == "dispatched"
    a2 = loop.grab(vol2, order["id"])
    assert loop.get(world.mgr_s1, order["id"])["status"] == "staffed"

    start = loop.get(world.mgr_s1, order["id"])["start_at"]
    from datetime import datetime

    start = datetime.fromisoformat(start)
    with loop.at(start - timedelta(minutes=5)):
        loop.act(world.vol_s1, a1["id"], "check-in", NEAR)
        loop.act(vol2, a2["id"], "check-in", NEAR)
    assert loop.get(world.mgr_s1, order["id"])["status"] == "in_service"
    with loop.at(start + timedelta(minutes=90)):
        out1 = loop.act(world.vol_s1, a1["id"], "check-out", NEAR)
        assert out1["minutes_computed"] == 90
        loop.act(vol2, a2["id"], "check-out", NEAR)
        assert loop.get(world.resident, order["id"])["status"] == "completed"
        rated = loop.call(
            "POST", f"/orders/{order['id']}/rating", world.resident, {"stars": 5, "comment": "很好"}
        )
        assert rated["rating"]["stars"] == 5
        audited = loop.call(
            "POST",
            f"/orders/{order['id']}/audit",
            world.mgr_s1,
            {
                "assignments": [{"assignment_id": a2["id"], "minutes": 60, "reason": "提前离开"}],
                "confirm_computed": True,
            },
        )
    assert audited["status"] == "closed"
    book1 = loop.call("GET", "/me/timebook", world.vol_s1)
    book2 = loop.call("GET", "/me/timebook", vol2)
    assert (book1["balance_minutes"], book2["balance_minutes"]) == (90, 60)
    actions = [e["action"] for e in loop.events(world.resident, order["id"])]
    assert actions == [
        "submit",
        "dispatch",
        "grab",
        "grab",
        "check_in",
        "check_in",
        "check_out",
        "check_out",
        "rate",
        "audit",
    ]
    notes = loop.call("GET", "/me/notifications", world.vol_s1)["items"]
    assert any(n["kind"] == "hours.credited" for n in notes)
