"""评单 and 审核 of a completed order: the resident rates it once while the rating window is open; a
manager confirms each volunteer's minutes, which closes the order and credits the time book."""

from __future__ import annotations

from volunteer_app.attendance import service as attendance
from volunteer_app.attendance.models import Assignment
from volunteer_app.db import utcnow
from volunteer_app.errors import Conflict, register_messages
from volunteer_app.extensions import db
from volunteer_app.notifications import service as notifications
from volunteer_app.notifications.service import Message
from volunteer_app.orders import states
from volunteer_app.orders.common import locked, managed, place
from volunteer_app.orders.models import Order, RatingState
from volunteer_app.orders.states import MANAGER, RESIDENT, transition
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site

register_messages(
    {
        "rating.closed": ("评价期已过或尚不能评价", "This order cannot be rated now"),
        "rating.already": ("该订单已评价", "This order has already been rated"),
    }
)


def rate(*, who, order_id: int, stars: int, comment: str | None) -> Order:
    """评单: the ordering resident rates once, while the rating window is open. Commits."""
    order = locked(order_id, Order.resident_id == who.user_id)
    states.target(order.status, "rate", by=RESIDENT)  # 409 before the rating's own
    if order.rating_state == RatingState.RATED:
        raise Conflict("rating.already")
    now = utcnow()
    if order.rating_state != RatingState.PENDING or order.rating_due_at is None or order.rating_due_at <= now:
        raise Conflict("rating.closed")
    transition(
        order,
        "rate",
        by=RESIDENT,
        actor_id=who.user_id,
        at=now,
        note=f"{stars}★",
        rating_state=RatingState.RATED,
        rating_stars=stars,
        rating_comment=comment,
        rated_at=now,
    )
    db.session.commit()
    return order


def audit(
    *, who, order_id: int, items: list[dict], note: str | None, confirm_computed: bool = False
) -> Order:
    """审核: confirm each volunteer's minutes (a change from the computed figure needs a reason); the
    order closes and the minutes are credited to each book, once, in this transaction. Commits."""
    order = managed(order_id, who)
    transition(
        order,
        "audit",
        by=MANAGER,
        actor_id=who.user_id,
        note=note,
        audited_by_id=who.user_id,
        audit_note=note,
        closed_at=utcnow(),
    )
    site = db.session.get(Site, order.site_id)
    credited = attendance.audit_all(
        Assignment.order_id,
        order.id,
        items,
        place=place(order),
        memo=order.title,
        service_date=sites.local_time(site, order.window_start).date(),
        actor_id=who.user_id,
        what="order",
        confirm_computed=confirm_computed,
    )
    notifications.notify_many(
        Message(
            [volunteer], "hours.credited", {"title": order.title, "minutes": minutes}, ("order", order.id)
        )
        for volunteer, minutes in credited
    )
    db.session.commit()
    return order
