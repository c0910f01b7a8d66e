"""Helpers for the appeal tests: an assignment whose audit cut its minutes, or a no-show mark, through
the real order and activity loops."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from tests.activities.test_activities import activity_body
from tests.orders.conftest import Loop
from tests.orders.test_rating_audit import NEAR, completed
from volunteer_app.extensions import db
from volunteer_app.notifications.models import Notification

API = "/api/v1"
TITLE = "陪独居老人就医"  # tests.orders.conftest.order_body's title


def cut(app, world, loop: Loop, *, confirmed: int = 30) -> tuple[int, int]:
    """vol_s1 served 60 minutes of a 120-minute order of S1; mgr_s1's audit confirmed `confirmed`.
    Returns (order id, assignment id)."""
    order_id, _, [(_, assignment_id)] = completed(app, world, loop, [(0, 60, NEAR)])
    body = {"assignments": [{"assignment_id": assignment_id, "minutes": confirmed, "reason": "提前离开"}]}
    loop.call("POST", f"/orders/{order_id}/audit", world.mgr_s1, body)
    return order_id, assignment_id


def full_audit(app, world, loop: Loop) -> tuple[int, int]:
    """Audited at the computed 60 minutes: nothing to appeal."""
    order_id, _, [(_, assignment_id)] = completed(app, world, loop, [(0, 60, NEAR)])
    loop.call("POST", f"/orders/{order_id}/audit", world.mgr_s1, {"confirm_computed": True})
    return order_id, assignment_id


def no_show(world, loop: Loop) -> tuple[int, int]:
    """vol_s1 grabbed an order of S1 and mgr_s1 marked them absent. Returns (order id, assignment id)."""
    order = loop.submit(world.resident)
    loop.dispatch_grab(world.mgr_s1, order["id"], capacity=1)
    assignment_id = loop.grab(world.vol_s1, order["id"])["id"]
    loop.act(world.mgr_s1, assignment_id, "no-show", {"reason": "未到场"})
    return order["id"], assignment_id


def held(world, loop: Loop) -> int:
    """vol_s1 holds a place (not yet served): nothing to appeal."""
    order = loop.submit(world.resident)
    loop.dispatch_grab(world.mgr_s1, order["id"], capacity=1)
    return loop.grab(world.vol_s1, order["id"])["id"]


def activity_no_show(app, world, loop: Loop) -> int:
    """vol_s1 signed up for an activity of S1 and mgr_s1 marked them absent. Returns the assignment id."""
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    body = activity_body(app, start=start, title="社区义诊")
    activity = loop.call("POST", f"/sites/{world.sites['S1']}/activities", world.mgr_s1, body, 201)
    assignment_id = loop.call("POST", f"/activities/{activity['id']}/signup", world.vol_s1, None, 201)["id"]
    with loop.at(start + timedelta(minutes=10)):
        loop.act(world.mgr_s1, assignment_id, "no-show", {"reason": "未到场"})
    return assignment_id


def appeal(loop: Loop, person, assignment_id: int, claimed: int = 60, status: int = 201, **over) -> dict:
    body = {"minutes_claimed": claimed, "reason": "我实际服务了一小时，有居民作证", **over}
    return loop.call("POST", f"/assignments/{assignment_id}/appeal", person, body, status)


def notified(app, user_id: int, kind: str) -> list[Notification]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(Notification).where(Notification.user_id == user_id, Notification.kind == kind)
            )
        )
