"""Building complaints through the API for the complaint tests (and the notification walk)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from tests.orders.conftest import NEAR, Loop
from volunteer_app.extensions import db
from volunteer_app.supervision.models import Complaint, SupervisionEvent

BODY = {"category": "service_quality", "text": "志愿者迟到了半小时，也没有提前打电话说明"}


def cancelled_order(loop: Loop, resident) -> dict:
    """An order of the resident, cancelled by them (ended now)."""
    order = loop.submit(resident)
    return loop.call("POST", f"/orders/{order['id']}/cancel", resident, {"reason": "不需要了"})


def served_order(loop: Loop, world, *, audit: bool = False) -> tuple[dict, datetime]:
    """An order of the resident served by vol_s1 (completed; closed if `audit`), and when it ended."""
    order = loop.submit(world.resident)
    start = datetime.fromisoformat(order["start_at"])
    loop.dispatch_grab(world.mgr_s1, order["id"], capacity=1)
    held = loop.grab(world.vol_s1, order["id"])["id"]
    with loop.at(start):
        loop.act(world.vol_s1, held, "check-in", NEAR)
    end = start + timedelta(minutes=45)
    with loop.at(end):
        loop.act(world.vol_s1, held, "check-out", NEAR)
        if audit:
            loop.call("POST", f"/orders/{order['id']}/audit", world.mgr_s1, {"confirm_computed": True})
    return loop.get(world.resident, order["id"]), end


def complain(loop: Loop, resident, order_id: int, status: int = 201, body: dict | None = None):
    return loop.call("POST", f"/orders/{order_id}/complaints", resident, body or BODY, status)


def complaint_in(loop: Loop, world, state: str) -> int:
    """A complaint (about a fresh cancelled order) brought into `state` through the API."""
    order = cancelled_order(loop, world.resident)
    complaint_id = complain(loop, world.resident, order["id"])["id"]
    if state in ("answered", "closed"):
        loop.call(
            "POST", f"/complaints/{complaint_id}/answer", world.mgr_s1, {"resolution": "已向志愿者核实并致歉"}
        )
    if state == "closed":
        loop.call("POST", f"/complaints/{complaint_id}/accept", world.resident)
    if state == "withdrawn":
        loop.call("POST", f"/complaints/{complaint_id}/withdraw", world.resident)
    return complaint_id


def snapshot(app, complaint_id: int) -> tuple[dict, int]:
    """The complaint's columns and how many events it has."""
    with app.app_context():
        complaint = db.session.get(Complaint, complaint_id)
        columns = {c.key: getattr(complaint, c.key) for c in Complaint.__table__.columns}
        events = db.session.scalar(
            select(func.count())
            .select_from(SupervisionEvent)
            .where(SupervisionEvent.subject == "complaint", SupervisionEvent.subject_id == complaint_id)
        )
    return columns, events
