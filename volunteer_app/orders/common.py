"""What several order commands share: finding an order (or an order's assignment) and locking it, in
the caller's reach, and the order's place as attendance measures it.

Every command locks the order row first (PostgreSQL `FOR UPDATE`; on SQLite writers are serialised by
`BEGIN IMMEDIATE`); an order or assignment the caller may not act on is 404, never 403.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from volunteer_app.attendance import service as attendance
from volunteer_app.attendance.models import Assignment
from volunteer_app.errors import NotFound
from volunteer_app.extensions import db
from volunteer_app.orders.models import Order
from volunteer_app.sites.reach import Reacher, reach_condition


def locked(order_id: int, *conditions) -> Order:
    """The order matching `conditions`, locked and read afresh (404 otherwise)."""
    stmt = select(Order).where(Order.id == order_id, *conditions).with_for_update()
    order = db.session.scalars(stmt.execution_options(populate_existing=True)).first()
    if order is None:
        raise NotFound()
    return order


def managed(order_id: int, who: Reacher, *, dispatching: bool = False) -> Order:
    """An order of a station in the manager's reach, locked; dispatching also needs the dispatch site."""
    conditions = [reach_condition(Order.site_id, who)]
    if dispatching:
        conditions.append(reach_condition(Order.dispatch_site_id, who))
    return locked(order_id, *conditions)


def _assignment_and_order(assignment_id: int, *conditions) -> tuple[Assignment, Order]:
    """An order's assignment matching `conditions` and its order, both locked: the order first."""
    return attendance.locked_with_owner(assignment_id, Assignment.order_id, locked, *conditions)


def my_assignment(who, assignment_id: int) -> tuple[Assignment, Order]:
    """The caller's own assignment and its order, both locked (someone else's is 404)."""
    return _assignment_and_order(assignment_id, Assignment.volunteer_id == who.user_id)


def managed_assignment(who, assignment_id: int) -> tuple[Assignment, Order]:
    """An assignment of a station in the manager's reach and its order, both locked (404 otherwise)."""
    return _assignment_and_order(assignment_id, reach_condition(Assignment.site_id, who))


def close_default(order: Order, now: datetime) -> datetime:
    """When a missed check-out closes unless the manager says otherwise: the window's end, or now if
    the window has not ended yet."""
    return min(order.window_end, now)


def place(order: Order, settings: dict | None = None) -> attendance.Place:
    """Where and when the order's service is, as check-in, check-out and the audit measure it."""
    return attendance.place_at(
        order.site_id,
        lat=order.lat,
        lng=order.lng,
        start=order.window_start,
        end=order.window_end,
        settings=settings,
    )
