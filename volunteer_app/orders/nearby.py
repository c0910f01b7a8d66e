"""附近新单: when a grab pool opens, tell the volunteers near it (`order.pool_nearby`).

Who, in one SQL query (`nearby_volunteers`): approved volunteers (a profile) whose account is active,
whose home station lies within the site setting `pool_push_radius_m` of the order's place, who fit it
(orders/matching.py: its category is among theirs or they named none; they hold one of its skills when
it asks for any), who are not busy (no held or checked-in order or activity overlapping the order's
window), not the resident who ordered it; nearest first (by their station), at most `pool_push_max`.

The circle is `geo.Near`: a bounding box on the stations' (kind, lat, lng) index, then the squared
equirectangular distance. Stations are few (thousands) and volunteers many (a million), so the query
starts from the stations in the box and reaches their volunteers by `volunteer_profiles.site_id`; busy
is an anti-join on `assignments (volunteer_id, status)`. bench/pool_nearby.py measures it.
"""

from __future__ import annotations

import math

from sqlalchemy import column, exists, literal, or_, select, table, true

from volunteer_app.accounts.models import User, VolunteerProfile
from volunteer_app.attendance.models import Assignment, AssignmentStatus
from volunteer_app.db import json_list_has
from volunteer_app.extensions import db
from volunteer_app.geo import METRES_PER_DEGREE, Near
from volunteer_app.notifications import service as notifications
from volunteer_app.orders.matching import category_fits
from volunteer_app.orders.models import Order
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site

# A volunteer is busy with an assignment that holds them to a time: a place held, or on site.
BUSY = (AssignmentStatus.HELD, AssignmentStatus.CHECKED_IN)

# The activities' window, read without importing the activities domain (a sibling of orders): only the
# columns the busy test needs.
_activities = table("activities", column("id"), column("start_at"), column("end_at"))


def nearby_volunteers(order: Order, *, radius_m: int, limit: int) -> list[tuple[int, int]]:
    """The volunteers to tell of `order`'s new pool, nearest first: (user id, distance in metres from
    their home station to the order's place). One query."""
    stmt, params = selection(order, radius_m=radius_m, limit=limit)
    rows = db.session.execute(stmt, params).all()
    return [(user_id, round(math.sqrt(max(d, 0.0)) * METRES_PER_DEGREE)) for user_id, d in rows]


def selection(order: Order, *, radius_m: int, limit: int):
    """The query of `nearby_volunteers` and its parameters (bench/pool_nearby.py EXPLAINs it)."""
    dialect = db.engine.dialect.name
    near = Near(order.lat, order.lng, radius_m)
    d2 = Near.d2(Site.lat, Site.lng)
    busy_order = (
        select(literal(1))
        .select_from(Assignment)
        .join(Order, Order.id == Assignment.order_id)
        .where(
            Assignment.volunteer_id == VolunteerProfile.user_id,
            Assignment.status.in_(BUSY),
            Order.window_start < order.window_end,
            Order.window_end > order.window_start,
        )
    )
    busy_activity = (
        select(literal(1))
        .select_from(Assignment)
        .join(_activities, _activities.c.id == Assignment.activity_id)
        .where(
            Assignment.volunteer_id == VolunteerProfile.user_id,
            Assignment.status.in_(BUSY),
            _activities.c.start_at < order.window_end,
            _activities.c.end_at > order.window_start,
        )
    )
    stmt = (
        select(VolunteerProfile.user_id, d2.label("d2"))
        .select_from(Site)
        .join(VolunteerProfile, VolunteerProfile.site_id == Site.id)
        .join(User, User.id == VolunteerProfile.user_id)
        .where(
            Site.kind == "station",
            Near.within(Site.lat, Site.lng),
            User.is_active.is_(True),
            VolunteerProfile.user_id != order.resident_id,
            # Who fits the order (orders/matching.py, the feed's rule): its category, and one of the
            # skills it asks for when it names any (the order's skills are values here, not a column).
            category_fits(VolunteerProfile, order.category_id, dialect),
            or_(*[json_list_has(VolunteerProfile.skills, skill, dialect) for skill in order.skills or []])
            if order.skills
            else true(),
            ~exists(busy_order),
            ~exists(busy_activity),
        )
        .order_by(d2, VolunteerProfile.user_id)
        .limit(limit)
    )
    return stmt, near.params()


def tell_nearby(order: Order) -> int:
    """Notify the volunteers near a pool that just opened (`order.pool_nearby`, with the order's title
    and their distance), in the caller's transaction. Flushes only; returns how many were told."""
    settings = sites.effective_settings(db.session.get(Site, order.site_id))
    found = nearby_volunteers(order, radius_m=settings["pool_push_radius_m"], limit=settings["pool_push_max"])
    title, subject = order.title, ("order", order.id)
    return notifications.notify_many(
        notifications.Message([user_id], "order.pool_nearby", {"title": title, "distance_m": m}, subject)
        for user_id, m in found
    )
