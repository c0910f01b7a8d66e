"""签到 and 签退 on an order's assignment: a volunteer checks in and out on site; a manager closes a
missed check-out or records a no-show. The last one to leave completes the order (the rating window
opens, the audit is due)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from volunteer_app.attendance import service as attendance
from volunteer_app.attendance.models import Assignment
from volunteer_app.db import utcnow
from volunteer_app.extensions import db
from volunteer_app.notifications import service as notifications
from volunteer_app.orders import states
from volunteer_app.orders.common import close_default, managed_assignment, my_assignment, place
from volunteer_app.orders.models import Order, OrderStatus, RatingState
from volunteer_app.orders.states import MANAGER, VOLUNTEER, transition
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site


def _still_on_site(order: Order) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(Assignment)
        .where(Assignment.order_id == order.id, Assignment.status == "checked_in")
    )


def _completion(order: Order, settings: dict, now: datetime) -> dict:
    """What completing an order sets: the rating window opens and the audit is due."""
    return {
        "completed_at": now,
        "rating_state": RatingState.PENDING,
        "rating_due_at": now + timedelta(hours=settings["rating_window_hours"]),
        "audit_due_at": now + timedelta(hours=settings["audit_window_hours"]),
    }


def _after_leaving(
    order: Order, action: str, *, by: str, actor_id: int, assignment: Assignment, note=None
) -> None:
    """Apply a check-out, close or no-show to the order; the last one off site completes it."""
    now = utcnow()
    last = order.status == OrderStatus.IN_SERVICE and _still_on_site(order) == 0
    settings = sites.effective_settings(db.session.get(Site, order.site_id))
    changes = _completion(order, settings, now) if last else {}
    transition(
        order,
        action,
        by=by,
        actor_id=actor_id,
        last=last,
        assignment_id=assignment.id,
        note=note,
        at=now,
        **changes,
    )
    if last:
        attendance.settle_absent([order.id], now)
        notifications.notify(
            [order.resident_id],
            "order.rate_request",
            params={"title": order.title},
            subject=("order", order.id),
        )


def check_in(
    *, who, assignment_id: int, lat: float | None = None, lng: float | None = None, qr_code: str | None = None
) -> Assignment:
    """签到 on site: time within the window (from `grace` before), within the check-in radius (the
    distance is kept). Commits."""
    assignment, order = my_assignment(who, assignment_id)
    now = utcnow()
    transition(order, "check_in", by=VOLUNTEER, actor_id=who.user_id, assignment_id=assignment.id, at=now)
    settings = sites.effective_settings(db.session.get(Site, order.site_id))
    attendance.check_in(assignment, lat=lat, lng=lng, qr_code=qr_code, place=place(order, settings), now=now)
    db.session.commit()
    return assignment


def check_out(
    *, who, assignment_id: int, lat: float | None = None, lng: float | None = None, qr_code: str | None = None
) -> Assignment:
    """签退: minutes are computed from the two times, within the window. Commits."""
    assignment, order = my_assignment(who, assignment_id)
    states.target(order.status, "check_out", by=VOLUNTEER)  # 409 first; it moves once the assignment has
    attendance.check_out(assignment, lat=lat, lng=lng, qr_code=qr_code, place=place(order), now=utcnow())
    db.session.flush()
    _after_leaving(order, "check_out", by=VOLUNTEER, actor_id=who.user_id, assignment=assignment)
    db.session.commit()
    return assignment


def close_attendance(*, who, assignment_id: int, checkout_at: datetime | None, reason: str) -> Assignment:
    """A manager closes a missed check-out (default: at the window's end), with a reason. Commits."""
    assignment, order = managed_assignment(who, assignment_id)
    states.target(order.status, "close_attendance", by=MANAGER)  # as in check_out
    attendance.close(
        assignment,
        place=place(order),
        checkout_at=checkout_at or close_default(order, utcnow()),
        actor_id=who.user_id,
        reason=reason,
    )
    db.session.flush()
    _after_leaving(
        order, "close_attendance", by=MANAGER, actor_id=who.user_id, assignment=assignment, note=reason
    )
    db.session.commit()
    return assignment


def mark_no_show(*, who, assignment_id: int, reason: str) -> Assignment:
    """A manager records that a holder never came (recorded on the assignment and the timeline). Commits."""
    assignment, order = managed_assignment(who, assignment_id)
    states.target(order.status, "no_show", by=MANAGER)  # as in check_out
    attendance.no_show(assignment, actor_id=who.user_id, reason=reason)
    db.session.flush()
    if order.status == OrderStatus.IN_SERVICE:
        _after_leaving(order, "no_show", by=MANAGER, actor_id=who.user_id, assignment=assignment, note=reason)
    else:
        transition(
            order, "no_show", by=MANAGER, actor_id=who.user_id, assignment_id=assignment.id, note=reason
        )
    db.session.commit()
    return assignment
