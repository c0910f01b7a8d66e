"""An activity's attendance and audit: the `/assignments/{id}/…` actions on a sign-up (sent here by
volunteer_app/attendance/views.py) and 审核 after the end, through `volunteer_app.attendance` exactly as
for orders. The activity is locked first, then the sign-up. Commits once per command."""

from __future__ import annotations

from datetime import datetime

from volunteer_app.activities.models import Activity
from volunteer_app.activities.service import ended, locked, refuse_on_site, started
from volunteer_app.activities.signups import cancel_locked
from volunteer_app.activities.states import target, transition
from volunteer_app.attendance import codes
from volunteer_app.attendance import service as attendance
from volunteer_app.attendance.models import Assignment
from volunteer_app.db import utcnow
from volunteer_app.errors import Conflict, register_messages
from volunteer_app.extensions import db
from volunteer_app.notifications import service as notifications
from volunteer_app.notifications.service import Message
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site
from volunteer_app.sites.reach import get_in_reach, reach_condition

register_messages(
    {
        "activity.not_ended": (
            "活动尚未结束，结束后才能审核",
            "The activity can be audited once it has ended",
        ),
        "activity.not_started": (
            "活动尚未开始，开始后才能登记缺席",
            "A no-show can be recorded once the activity has started",
        ),
    }
)


def _my_assignment(who, assignment_id: int) -> tuple[Assignment, Activity]:
    """The caller's own sign-up and its activity, both locked, the activity first (404 otherwise)."""
    return attendance.locked_with_owner(
        assignment_id, Assignment.activity_id, locked, Assignment.volunteer_id == who.user_id
    )


def _managed_assignment(who, assignment_id: int) -> tuple[Assignment, Activity]:
    """A sign-up at a site in the manager's reach and its activity, both locked (404 otherwise)."""
    return attendance.locked_with_owner(
        assignment_id, Assignment.activity_id, locked, reach_condition(Assignment.site_id, who)
    )


def place(activity: Activity) -> attendance.Place:
    return attendance.place_at(
        activity.site_id,
        lat=activity.lat,
        lng=activity.lng,
        start=activity.start_at,
        end=activity.end_at,
        activity_id=activity.id,
    )


def checkin_code(*, who, activity_id: int) -> codes.Code:
    """`GET /activities/{id}/checkin-code`: the activity's current check-in code, for a manager in reach
    to show on site (404 otherwise; 409 while no one can check in: cancelled or audited). Reads only."""
    activity = get_in_reach(Activity, activity_id, Activity.site_id, who)
    target(activity.status, "attend")
    return codes.issue("activity", activity.id, utcnow())


def withdraw(*, who, assignment_id: int, reason: str | None = None) -> Assignment:
    """`POST /assignments/{id}/withdraw` on a sign-up: the same as cancelling it. Commits."""
    assignment, activity = _my_assignment(who, assignment_id)
    return cancel_locked(activity, assignment, utcnow())


def check_in(
    *, who, assignment_id: int, lat: float | None = None, lng: float | None = None, qr_code: str | None = None
) -> Assignment:
    """签到 at an activity: as for orders (time from the grace before the start, within the check-in
    radius, distance kept). Commits."""
    assignment, activity = _my_assignment(who, assignment_id)
    target(activity.status, "attend")
    attendance.check_in(assignment, lat=lat, lng=lng, qr_code=qr_code, place=place(activity), now=utcnow())
    db.session.commit()
    return assignment


def check_out(
    *, who, assignment_id: int, lat: float | None = None, lng: float | None = None, qr_code: str | None = None
) -> Assignment:
    """签退: minutes computed from the two times inside the window. Commits."""
    assignment, activity = _my_assignment(who, assignment_id)
    target(activity.status, "attend")
    attendance.check_out(assignment, lat=lat, lng=lng, qr_code=qr_code, place=place(activity), now=utcnow())
    db.session.commit()
    return assignment


def close_attendance(*, who, assignment_id: int, checkout_at: datetime | None, reason: str) -> Assignment:
    """A manager closes a missed check-out (default: the end, or now), with a reason. Commits."""
    assignment, activity = _managed_assignment(who, assignment_id)
    target(activity.status, "attend")
    attendance.close(
        assignment,
        place=place(activity),
        checkout_at=checkout_at or min(activity.end_at, utcnow()),
        actor_id=who.user_id,
        reason=reason,
    )
    db.session.commit()
    return assignment


def mark_no_show(*, who, assignment_id: int, reason: str) -> Assignment:
    """A manager records that a holder never came: once the activity has started (409
    `activity.not_started` before). Commits."""
    assignment, activity = _managed_assignment(who, assignment_id)
    target(activity.status, "attend")
    if not started(activity, utcnow()):
        raise Conflict("activity.not_started")
    attendance.no_show(assignment, actor_id=who.user_id, reason=reason)
    db.session.commit()
    return assignment


def audit(
    *, who, activity_id: int, items: list[dict], note: str | None, confirm_computed: bool = False
) -> Activity:
    """审核 after the end: confirm each checked-out sign-up's minutes (a change needs a reason); they
    are credited once each, in this transaction, exactly as for orders. Holders who never came become
    no-shows, the waitlist lapses, and the activity closes. Commits."""
    activity = locked(activity_id, reach_condition(Activity.site_id, who))
    now = utcnow()
    transition(activity, "audit")
    if not ended(activity, now):
        raise Conflict("activity.not_ended")
    refuse_on_site(activity)
    site = db.session.get(Site, activity.site_id)
    credited = attendance.audit_all(
        Assignment.activity_id,
        activity.id,
        items,
        place=place(activity),
        memo=activity.title,
        service_date=sites.local_time(site, activity.start_at).date(),
        actor_id=who.user_id,
        what="activity",
        confirm_computed=confirm_computed,
    )
    attendance.settle_absent([activity.id], now, owner=Assignment.activity_id)
    activity.closed_at = now
    activity.audited_by_id, activity.audit_note = who.user_id, note
    notifications.notify_many(
        Message(
            [volunteer],
            "hours.credited",
            {"title": activity.title, "minutes": minutes},
            ("activity", activity.id),
        )
        for volunteer, minutes in credited
    )
    db.session.commit()
    return activity
