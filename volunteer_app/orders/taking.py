"""接单 and 抢单: a volunteer takes a place on an order (grabs one from an open pool, or accepts an
offer) or gives it back (declines an offer, withdraws from a held place).

A place is decided in `_take_slot`: one conditional UPDATE (`taken < capacity`), so however many
phones press at once, exactly `capacity` volunteers win; `UNIQUE(order_id, volunteer_id)` keeps one
place per volunteer.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

from sqlalchemy import and_, bindparam, case, func, or_, select, update

from volunteer_app import metrics
from volunteer_app.accounts.models import VolunteerProfile
from volunteer_app.accounts.principal import caller_rider
from volunteer_app.attendance import service as attendance
from volunteer_app.attendance.models import Assignment, AssignmentStatus
from volunteer_app.db import utcnow
from volunteer_app.errors import Conflict, DomainError, NotFound, register_messages
from volunteer_app.extensions import db, first_look, writes_begin
from volunteer_app.idempotency import key_rider
from volunteer_app.notifications import service as notifications
from volunteer_app.orders import states
from volunteer_app.orders.common import locked, my_assignment
from volunteer_app.orders.models import Order, OrderMode, OrderStatus
from volunteer_app.orders.states import VOLUNTEER, transition
from volunteer_app.sites import service as sites

register_messages(
    {
        "order.full": ("名额已满", "All places on this order are taken"),
        "order.closed": ("报名已截止", "This order is no longer open"),
        "order.already_taken": ("您已接下该订单", "You already hold a place on this order"),
        "grab.limit": (
            "您同时进行中的抢单已达上限（{limit} 单）",
            "You already hold {limit} grabbed orders that are not finished",
        ),
    }
)


def _take_slot(order_id: int, mode: OrderMode | None = None) -> tuple[int, int] | None:
    """The conditional UPDATE that makes grabbing exact: a slot is taken only while one is free.
    Returns (taken, capacity) after taking it, or None when none was free."""
    conditions = [Order.id == order_id, Order.status == OrderStatus.DISPATCHED, Order.taken < Order.capacity]
    if mode:
        conditions.append(Order.mode == mode)
    row = db.session.execute(
        update(Order)
        .where(*conditions)
        .values(taken=Order.taken + 1)
        .returning(Order.taken, Order.capacity)
        .execution_options(synchronize_session=False)
    ).first()
    return (row.taken, row.capacity) if row else None


def _filled(order: Order) -> None:
    holders = db.session.scalars(
        select(Assignment.volunteer_id).where(Assignment.order_id == order.id, Assignment.status == "held")
    ).all()
    notifications.notify(
        [*notifications.managers_of(order.dispatch_site_id), *holders],
        "order.filled",
        params={"title": order.title},
        subject=("order", order.id),
    )


@cache
def _peek_query():
    """A pool's state by order id, built once per process: every loser of a storm reads it."""
    return select(
        Order.status, Order.mode, Order.taken, Order.capacity, Order.fill_due_at, Order.site_id
    ).where(Order.id == bindparam("order_id"))


def _open_pool_site(who, order_id: int, now: datetime) -> int:
    """The site of an open pool that looks grabbable (read without a lock: `_take_slot` decides).
    404 if the order is not an open or filled pool; 409 `order.full` or `order.closed` at once. A
    deferred caller (the view's `defer=looking_first`) and an Idempotency-Key's record ride on the
    look: a loser sends that one statement."""
    peek = first_look(_peek_query(), {"order_id": order_id}, caller_rider(who), key_rider())
    if (
        peek is None
        or peek.mode != OrderMode.GRAB
        or peek.status not in (OrderStatus.DISPATCHED, OrderStatus.STAFFED)
    ):
        raise NotFound()
    if peek.status == OrderStatus.STAFFED or peek.taken >= peek.capacity:
        raise Conflict("order.full")
    if peek.fill_due_at is not None and peek.fill_due_at <= now:
        raise Conflict("order.closed")
    return peek.site_id


def _check_may_grab(who, order_id: int, site_id: int) -> None:
    """One place per order and at most the site's `grab_max_open` unfinished grabs (409 otherwise).
    One volunteer's grabs are serialised on their profile row (locked here), so the cap is exact too."""
    profile = db.session.scalars(
        select(VolunteerProfile).where(VolunteerProfile.user_id == who.user_id).with_for_update()
    ).first()
    if profile is None:
        raise NotFound()
    open_grab = and_(Assignment.kind == "grab", Assignment.status.in_(("held", "checked_in")))
    on_this_order = Assignment.order_id == order_id
    # One statement for both: a place on this order (any state) and the unfinished grabs.
    held, open_grabs = db.session.execute(
        select(
            func.coalesce(func.sum(case((on_this_order, 1), else_=0)), 0),
            func.coalesce(func.sum(case((open_grab, 1), else_=0)), 0),
        ).where(Assignment.volunteer_id == who.user_id, or_(on_this_order, open_grab))
    ).one()
    if held:
        raise Conflict("order.already_taken")
    limit = sites.settings_for(site_id)["grab_max_open"]
    if open_grabs >= limit:
        raise Conflict("grab.limit", params={"limit": limit})


def grab(*, who, order_id: int) -> Assignment:
    """抢单: take one slot of an open pool. Exactly `capacity` winners; the rest get 409 `order.full`
    at once. A volunteer holds at most one slot per order and `grab_max_open` unfinished grabs. Commits.
    Each decided grab is counted by outcome (/metrics): won, full, or refused (any other 4xx)."""
    try:
        assignment = _grab(who, order_id)
    except DomainError as exc:
        if exc.status < 500:
            metrics.grab_outcome("full" if exc.error == "order.full" else "refused")
        raise
    metrics.grab_outcome("won")
    return assignment


def _grab(who, order_id: int) -> Assignment:
    now = utcnow()
    site_id = _open_pool_site(who, order_id, now)
    writes_begin()  # (under the view's reads_first) the rest in the request's transaction
    _check_may_grab(who, order_id, site_id)
    slot = _take_slot(order_id, OrderMode.GRAB)
    if slot is None:
        raise Conflict("order.full")
    order = locked(order_id)
    assignment = Assignment(
        order_id=order.id,
        site_id=order.site_id,
        volunteer_id=who.user_id,
        kind="grab",
        status=AssignmentStatus.HELD,
        held_at=now,
    )
    db.session.add(assignment)
    db.session.flush()
    full = slot[0] == slot[1]
    transition(
        order, "grab", by=VOLUNTEER, actor_id=who.user_id, last=full, assignment_id=assignment.id, at=now
    )
    if full:
        _filled(order)
    db.session.commit()
    return assignment


def accept(*, who, assignment_id: int) -> Assignment:
    """接单: accept an offer, taking a slot if one is free (409 `order.full` otherwise). Commits."""
    assignment, order = my_assignment(who, assignment_id)
    if order.status == OrderStatus.STAFFED and assignment.status == "offered":
        raise Conflict("order.full")  # the last place went (maybe while this request waited for the lock)
    states.target(order.status, "accept", by=VOLUNTEER)  # the order's 409 before the assignment's
    if assignment.status != "offered":
        raise Conflict("attendance.not_held" if assignment.status != "held" else "order.already_taken")
    slot = _take_slot(order.id)
    if slot is None:
        raise Conflict("order.full")
    db.session.refresh(order)
    attendance.move(assignment, "accept", now=utcnow())
    full = slot[0] == slot[1]
    transition(order, "accept", by=VOLUNTEER, actor_id=who.user_id, last=full, assignment_id=assignment.id)
    if full:
        _filled(order)
    db.session.commit()
    return assignment


def _told_managers(order: Order, who, kind: str) -> None:
    notifications.notify(
        notifications.managers_of(order.dispatch_site_id),
        kind,
        params={"title": order.title, "name": who.user.name},
        subject=("order", order.id),
    )


def decline(*, who, assignment_id: int, reason: str | None) -> Assignment:
    """Decline an offer (it held no slot). Commits."""
    assignment, order = my_assignment(who, assignment_id)
    transition(order, "decline", by=VOLUNTEER, actor_id=who.user_id, assignment_id=assignment.id, note=reason)
    attendance.move(assignment, "decline", now=utcnow())
    _told_managers(order, who, "order.declined")
    db.session.commit()
    return assignment


def withdraw(*, who, assignment_id: int, reason: str | None) -> Assignment:
    """Give back a held slot before checking in (a staffed order reopens). Commits."""
    assignment, order = my_assignment(who, assignment_id)
    transition(
        order, "withdraw", by=VOLUNTEER, actor_id=who.user_id, assignment_id=assignment.id, note=reason
    )
    attendance.move(assignment, "withdraw", now=utcnow())
    order.taken = order.taken - 1
    _told_managers(order, who, "order.declined")
    db.session.commit()
    return assignment
