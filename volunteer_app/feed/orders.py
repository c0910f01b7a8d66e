"""The feed's orders: open pools (grab mode) with a free place, as feed entries."""

from __future__ import annotations

from sqlalchemy import Select, literal, null, or_, select

from volunteer_app.attendance.models import Assignment
from volunteer_app.db import constant
from volunteer_app.feed import entry
from volunteer_app.geo import Near
from volunteer_app.orders.models import Order


def candidates(filters: entry.Filters) -> Select:
    """Open pools within the circle with a free place, deadline not passed, that the caller does not
    hold, as feed entries over the feed's bound parameters (`entry`). The bounding box is served by
    the partial index of open pools (ix_orders_open_pool_geo), which the status and mode written into
    the SQL (`constant`) let a generic plan use; the caller's own are read once (`entry.not_mine`)."""
    mine = select(Assignment.order_id).where(
        Assignment.volunteer_id == entry.who_id(), Assignment.order_id.is_not(None)
    )
    columns = {
        "d2": Near.d2(Order.lat, Order.lng),
        "kind": literal("order"),
        "id": Order.id,
        "title": Order.title,
        "theme": null(),
        "category_id": Order.category_id,
        "site_id": Order.site_id,
        "address": Order.address,
        "lat": Order.lat,
        "lng": Order.lng,
        "start_at": Order.window_start,
        "end_at": Order.window_end,
        "slots_left": Order.capacity - Order.taken,
        "waitlist_left": null(),
        "deadline": Order.fill_due_at,
        "target_groups": Order.target_groups,
        "skills": Order.skills,
    }
    return entry.entries(
        columns,
        Order.status == constant("dispatched"),
        Order.mode == constant("grab"),
        Near.within(Order.lat, Order.lng),
        Order.taken < Order.capacity,
        or_(Order.fill_due_at.is_(None), Order.fill_due_at > entry.now()),
        entry.not_mine(Order.id, mine),
        filters=filters,
    )
