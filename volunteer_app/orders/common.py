"""What several order commands share: the orders' reach (who reads an order, who acts on it), finding
an order (or an order's assignment) and locking it, in the caller's reach, and the order's place as
attendance measures it.

Every command locks the order row first (PostgreSQL `FOR UPDATE`; on SQLite writers are serialised by
`BEGIN IMMEDIATE`); an order or assignment the caller may not act on is 404, never 403.

The orders' reach, in one place (built on sites/reach.py):
- act: a manager reaching the order's dispatch site (its holder) acts on it; until the order was
  handed over (orders/handover.py), so does one reaching its station (a center may dispatch a
  station's orders while the station still audits them). The dispatching moves (dispatch, offer,
  reject, passing it on) need the dispatch site itself.
- read: those, and the managers of every site the order was handed over from (they keep its history,
  not the right to act), and of a site asked to take it over while that is pending or once accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, select

from volunteer_app.attendance import service as attendance
from volunteer_app.attendance.models import Assignment
from volunteer_app.errors import NotFound
from volunteer_app.extensions import db
from volunteer_app.orders.models import HandoverStatus, Order, OrderHandover
from volunteer_app.sites.reach import Reacher, reach_condition


def _handovers(*conditions) -> ColumnElement[bool]:
    return exists().where(OrderHandover.order_id == Order.id, *conditions)


def acting(
    site_in: Callable[[Any], ColumnElement[bool]], *, dispatching: bool = False
) -> ColumnElement[bool]:
    """Condition on Order: the sites `site_in(site column)` holds act on it (the rule above); the
    managers' queues ask it of a site's subtree, the commands of the caller's reach."""
    holder = site_in(Order.dispatch_site_id)
    if dispatching:
        return holder
    handed_over = _handovers(OrderHandover.status == HandoverStatus.ACCEPTED)
    return or_(holder, and_(site_in(Order.site_id), ~handed_over))


def act_condition(who: Reacher, *, dispatching: bool = False) -> ColumnElement[bool]:
    """Condition on Order: a manager who may act on it (dispatching: a dispatching move)."""
    return acting(lambda column: reach_condition(column, who), dispatching=dispatching)


def read_condition(who: Reacher, *, one_row: bool = False) -> ColumnElement[bool]:
    """Condition on Order: a manager who may read it and its timeline (a superset of acting).
    `one_row`: for a query about one order (sites/reach.py's `reach_condition`)."""

    def reach(column):
        return reach_condition(column, who, one_row=one_row)

    return or_(
        reach(Order.site_id),
        reach(Order.dispatch_site_id),
        # A site that held it (every handover is asked by the holder), or one asked to take it over.
        # (An accepted handover's receiver is the holder now, or held it and asked a later one.)
        _handovers(
            or_(
                reach(OrderHandover.from_site_id),
                and_(OrderHandover.status == HandoverStatus.PENDING, reach(OrderHandover.to_site_id)),
            )
        ),
    )


def may(order_id: int, condition: ColumnElement[bool]) -> bool:
    """Whether the order matches `condition` (a page asking what to offer; no lock)."""
    return bool(db.session.scalar(select(exists().where(Order.id == order_id, condition))))


def readable(order_id: int, who: Reacher) -> Order:
    """An order the manager may read (`read_condition`), not locked; 404 otherwise (a page's, a
    matching's lookup: an open pool a manager could see as a volunteer is not theirs to run)."""
    order = db.session.scalars(select(Order).where(Order.id == order_id, read_condition(who))).first()
    if order is None:
        raise NotFound()
    return order


def locked(order_id: int, *conditions) -> Order:
    """The order matching `conditions`, locked and read afresh (404 otherwise)."""
    stmt = select(Order).where(Order.id == order_id, *conditions).with_for_update()
    order = db.session.scalars(stmt.execution_options(populate_existing=True)).first()
    if order is None:
        raise NotFound()
    return order


def managed(order_id: int, who: Reacher, *, dispatching: bool = False) -> Order:
    """An order the manager may act on (`act_condition`), locked; 404 otherwise."""
    return locked(order_id, act_condition(who, dispatching=dispatching))


def _assignment_and_order(assignment_id: int, *conditions) -> tuple[Assignment, Order]:
    """An order's assignment matching `conditions` and its order, both locked: the order first."""
    return attendance.locked_with_owner(assignment_id, Assignment.order_id, locked, *conditions)


def my_assignment(who, assignment_id: int) -> tuple[Assignment, Order]:
    """The caller's own assignment and its order, both locked (someone else's is 404)."""
    return _assignment_and_order(assignment_id, Assignment.volunteer_id == who.user_id)


def managed_assignment(who, assignment_id: int) -> tuple[Assignment, Order]:
    """An assignment of an order the manager may act on and its order, both locked (404 otherwise)."""
    return _assignment_and_order(
        assignment_id, exists().where(Order.id == Assignment.order_id, act_condition(who))
    )


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
