"""报名: signing up for an activity, cancelling a sign-up, and the waitlist (a freed place goes to the
oldest waiting). The activity is locked first, then the sign-up (see activities/service.py). Commits
once per command."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from volunteer_app.activities.models import Activity
from volunteer_app.activities.service import locked, signup_open
from volunteer_app.attendance import service as attendance
from volunteer_app.attendance.models import Assignment
from volunteer_app.attendance.models import AssignmentStatus as S
from volunteer_app.db import utcnow
from volunteer_app.errors import Conflict, NotFound, register_messages
from volunteer_app.extensions import db
from volunteer_app.notifications import service as notifications

register_messages(
    {
        "activity.full": ("名额和候补均已满", "All places (and the waitlist) are taken"),
        "activity.closed": ("报名已截止", "Sign-up for this activity has closed"),
        "activity.already_signed_up": ("您已报名该活动", "You have already signed up for this activity"),
        "activity.not_signed_up": ("您未报名该活动", "You have not signed up for this activity"),
    }
)


def _refuse_unlocked(activity_id: int, who, now: datetime) -> None:
    """Before any lock: 409 `activity.closed` or `activity.full` (or `activity.already_signed_up` for
    someone already on it) when the unlocked row says so, so a crowd's losers never queue on the row."""
    peek = db.session.execute(
        select(
            Activity.status,
            Activity.start_at,
            Activity.slots,
            Activity.taken,
            Activity.waitlist_max,
            Activity.waiting,
        ).where(Activity.id == activity_id)
    ).first()
    if peek is None:
        raise NotFound()
    if not signup_open(peek.status, peek.start_at, now):
        raise Conflict("activity.closed")
    if peek.taken >= peek.slots and peek.waiting >= peek.waitlist_max:
        mine = db.session.scalar(
            select(Assignment.status).where(
                Assignment.activity_id == activity_id, Assignment.volunteer_id == who.user_id
            )
        )
        raise Conflict("activity.already_signed_up" if mine not in (None, S.CANCELLED) else "activity.full")


def signup(*, who, activity_id: int) -> Assignment:
    """报名: a place if one is free, else a place on the waitlist, else 409 `activity.full`. Signing up
    closes at the start. Signing up again after cancelling reuses the same row. Commits."""
    now = utcnow()
    _refuse_unlocked(activity_id, who, now)
    activity = locked(activity_id)
    if not signup_open(activity.status, activity.start_at, now):
        raise Conflict("activity.closed")
    assignment = db.session.scalars(
        select(Assignment)
        .where(Assignment.activity_id == activity.id, Assignment.volunteer_id == who.user_id)
        .with_for_update()
    ).first()
    place = activity.taken < activity.slots
    if assignment is not None:
        # Only a cancelled sign-up may sign up again.
        action = "rejoin" if place else "rejoin_waitlist"
        attendance.move(assignment, action, now=now, error="activity.already_signed_up")
    if place:
        activity.taken += 1
    elif activity.waiting < activity.waitlist_max:
        activity.waiting += 1
    else:
        raise Conflict("activity.full")
    if assignment is None:
        status = S.HELD if place else S.WAITLISTED
        assignment = Assignment(
            activity_id=activity.id,
            site_id=activity.site_id,
            volunteer_id=who.user_id,
            kind="signup",
            status=status,
            **({"held_at": now} if place else {"queued_at": now}),
        )
        db.session.add(assignment)
    db.session.commit()
    return assignment


def _promote(activity: Activity, now: datetime) -> Assignment | None:
    """A place freed: the oldest waitlisted sign-up takes it (told by notification)."""
    waiting = db.session.scalars(
        select(Assignment)
        .where(Assignment.activity_id == activity.id, Assignment.status == S.WAITLISTED)
        .order_by(Assignment.queued_at, Assignment.id)
        .limit(1)
        .with_for_update()
    ).first()
    if waiting is None:
        activity.taken -= 1
        return None
    activity.waiting -= 1
    attendance.move(waiting, "promote", now=now)
    notifications.notify(
        [waiting.volunteer_id],
        "activity.promoted",
        params={"title": activity.title},
        subject=("activity", activity.id),
    )
    return waiting


def cancel_locked(activity: Activity, assignment: Assignment, now: datetime) -> Assignment:
    """Cancel a sign-up of a locked activity (the assignment locked too) before the start; a freed
    place goes to the oldest waiting. Commits."""
    if not signup_open(activity.status, activity.start_at, now):
        raise Conflict("activity.closed")
    was = assignment.status
    attendance.move(assignment, "cancel", now=now, error="activity.not_signed_up")
    if was == S.HELD:
        _promote(activity, now)
    else:
        activity.waiting -= 1
    db.session.commit()
    return assignment


def cancel_signup(*, who, activity_id: int) -> Assignment:
    """Cancel my sign-up before the start; a freed place goes to the waitlist's oldest. Commits."""
    activity = locked(activity_id)
    assignment = db.session.scalars(
        select(Assignment)
        .where(Assignment.activity_id == activity.id, Assignment.volunteer_id == who.user_id)
        .with_for_update()
    ).first()
    if assignment is None:
        raise Conflict("activity.not_signed_up")
    return cancel_locked(activity, assignment, utcnow())
