"""The feed's activities: open activities whose sign-up is open, with a place or waitlist room, as feed
entries."""

from __future__ import annotations

from sqlalchemy import Select, literal, null, select

from volunteer_app.activities.models import Activity
from volunteer_app.activities.states import ActivityStatus
from volunteer_app.attendance.models import Assignment, AssignmentStatus
from volunteer_app.db import constant
from volunteer_app.feed import entry
from volunteer_app.geo import Near


def candidates(filters: entry.Filters) -> Select:
    """Open activities within the circle whose sign-up is open, with a place or waitlist room, that
    the caller has not signed up for, as feed entries over the feed's bound parameters (`entry`). The
    bounding box is served by the partial index of open activities (ix_activities_open_geo), which the
    status written into the SQL (`constant`) lets a generic plan use; the caller's sign-ups are read
    once (`entry.not_mine`)."""
    mine = select(Assignment.activity_id).where(
        Assignment.volunteer_id == entry.who_id(),
        Assignment.activity_id.is_not(None),
        Assignment.status != constant(AssignmentStatus.CANCELLED),
    )
    columns = {
        "d2": Near.d2(Activity.lat, Activity.lng),
        "kind": literal("activity"),
        "id": Activity.id,
        "title": Activity.title,
        "theme": Activity.theme,
        "category_id": Activity.category_id,
        "site_id": Activity.site_id,
        "address": Activity.address,
        "lat": Activity.lat,
        "lng": Activity.lng,
        "start_at": Activity.start_at,
        "end_at": Activity.end_at,
        "slots_left": Activity.slots - Activity.taken,
        "waitlist_left": Activity.waitlist_max - Activity.waiting,
        "deadline": Activity.start_at,
        "target_groups": null(),
        "skills": Activity.skills,
    }
    return entry.entries(
        columns,
        Activity.status == constant(ActivityStatus.OPEN),
        Near.within(Activity.lat, Activity.lng),
        Activity.start_at > entry.now(),
        (Activity.taken < Activity.slots) | (Activity.waiting < Activity.waitlist_max),
        entry.not_mine(Activity.id, mine),
        filters=filters,
    )
