"""Activities (活动): publish, sign up (报名) with a waitlist, attend, audit.

Every command that changes an activity's places locks the activity row first (PostgreSQL
`FOR UPDATE`; SQLite serialises writers with `BEGIN IMMEDIATE`), then its assignments — the same
order the order loop keeps — so sign-ups, cancellations and promotions from the waitlist are exact
however many phones press at once; CHECKs on `taken <= slots` and `waiting <= waitlist_max` and
UNIQUE(activity_id, volunteer_id) back this up. Attendance and audit go through
`volunteer_app.attendance`, exactly as for orders. Services commit once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Integer, bindparam, exists, literal, null, select

from volunteer_app.activities.models import Activity
from volunteer_app.attendance import service as attendance
from volunteer_app.attendance.models import Assignment
from volunteer_app.db import UTCDateTime, utcnow
from volunteer_app.errors import Conflict, NotFound, register_messages
from volunteer_app.extensions import db
from volunteer_app.notifications import service as notifications
from volunteer_app.notifications.service import Message
from volunteer_app.pagination import paginate
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site
from volunteer_app.sites.reach import Reacher, get_in_reach, reach_condition

register_messages(
    {
        "activity.full": ("名额和候补均已满", "All places (and the waitlist) are taken"),
        "activity.closed": ("报名已截止", "Sign-up for this activity has closed"),
        "activity.already_signed_up": ("您已报名该活动", "You have already signed up for this activity"),
        "activity.not_signed_up": ("您未报名该活动", "You have not signed up for this activity"),
        "activity.bad_state": ("活动当前状态不允许该操作", "The activity's state does not allow this"),
        "activity.not_ended": (
            "活动尚未结束，结束后才能审核",
            "The activity can be audited once it has ended",
        ),
        "activity.on_site": (
            "仍有志愿者未签退，请先为其补签",
            "Volunteers are still checked in; close their attendance first",
        ),
        "activity.started": (
            "活动已开始，不能取消",
            "The activity has started and can no longer be cancelled",
        ),
    }
)

MAX_LENGTH = timedelta(hours=24)
MAX_AHEAD = timedelta(days=366)
SIGNED_UP = ("waitlisted", "held", "checked_in", "checked_out", "audited", "no_show")


def managed_site(who: Reacher, site_id: int) -> Site:
    """A site in the manager's reach (404 otherwise, never 403)."""
    return get_in_reach(Site, site_id, Site.id, who)


# ---- publishing and reading -------------------------------------------------------------------------


def create(*, who, site_id: int, data: dict) -> Activity:
    """Publish an activity at a site in reach. Commits."""
    site = managed_site(who, site_id)
    sites.active_category(data["category_id"])
    attendance.check_window(
        data["start_at"],
        data["end_at"],
        utcnow(),
        names=("start_at", "end_at"),
        longest=MAX_LENGTH,
        ahead=MAX_AHEAD,
    )
    audit_hours = sites.effective_settings(site)["audit_window_hours"]
    activity = Activity(
        site_id=site.id,
        created_by_id=who.user_id,
        status="open",
        taken=0,
        waiting=0,
        audit_due_at=data["end_at"] + timedelta(hours=audit_hours),
        **data,
    )
    db.session.add(activity)
    db.session.commit()
    return activity


def get(activity_id: int) -> Activity:
    """Any signed-in user may read an activity (they are published to everyone nearby)."""
    activity = db.session.get(Activity, activity_id)
    if activity is None:
        raise NotFound()
    return activity


def detail(activity: Activity, who) -> dict:
    """The activity with places left and the caller's own sign-up, if any."""
    signup = db.session.scalars(
        select(Assignment).where(
            Assignment.activity_id == activity.id, Assignment.volunteer_id == who.user_id
        )
    ).first()
    return _detail(activity, signup, utcnow())


def _detail(activity: Activity, signup: Assignment | None, now: datetime) -> dict:
    return {
        **{c.key: getattr(activity, c.key) for c in Activity.__table__.columns},
        "slots_left": activity.slots - activity.taken,
        "waitlist_left": activity.waitlist_max - activity.waiting,
        "signup_open": activity.status == "open" and activity.start_at > now,
        "my_assignment": signup,
    }


def list_for_site(*, site_id: int, limit: int, cursor: str | None) -> dict:
    """A site's activities that have not ended (cancelled ones included, marked), by start. 404 for an
    unknown site."""
    if db.session.get(Site, site_id) is None:
        raise NotFound()
    stmt = select(Activity).where(Activity.site_id == site_id, Activity.end_at > utcnow())
    return paginate(stmt, [Activity.start_at, Activity.id], limit=limit, cursor=cursor)


def mine(*, who, limit: int, cursor: str | None) -> dict:
    """The caller's sign-ups (held, waitlisted, on site or done) on activities that ended less than a
    day ago or are still to come, by start: where a volunteer finds the assignment to check in with."""
    now = utcnow()
    signed = (
        select(Assignment.activity_id)
        .where(
            Assignment.volunteer_id == who.user_id,
            Assignment.activity_id.is_not(None),
            Assignment.status.in_(("waitlisted", "held", "checked_in", "checked_out", "audited")),
        )
        .scalar_subquery()
    )
    stmt = select(Activity).where(Activity.id.in_(signed), Activity.end_at > now - timedelta(days=1))
    page = paginate(stmt, [Activity.start_at, Activity.id], limit=limit, cursor=cursor)
    assignments = {
        a.activity_id: a
        for a in db.session.scalars(
            select(Assignment).where(
                Assignment.volunteer_id == who.user_id,
                Assignment.activity_id.in_([activity.id for activity in page["items"]]),
            )
        )
    }
    return {
        "items": [_detail(activity, assignments.get(activity.id), now) for activity in page["items"]],
        "next_cursor": page["next_cursor"],
    }


def signups(*, who, activity_id: int, limit: int, cursor: str | None) -> dict:
    """The sign-ups of an activity in reach (manager), in sign-up order."""
    activity = get_in_reach(Activity, activity_id, Activity.site_id, who)
    stmt = select(Assignment).where(Assignment.activity_id == activity.id)
    return paginate(stmt, [Assignment.id], limit=limit, cursor=cursor)


# ---- 报名: sign-up, cancel, waitlist ----------------------------------------------------------------


def _locked(activity_id: int, *conditions) -> Activity:
    stmt = select(Activity).where(Activity.id == activity_id, *conditions).with_for_update()
    activity = db.session.scalars(stmt.execution_options(populate_existing=True)).first()
    if activity is None:
        raise NotFound()
    return activity


def signup(*, who, activity_id: int) -> Assignment:
    """报名: a place if one is free, else a place on the waitlist, else 409 `activity.full`. Signing up
    closes at the start. Signing up again after cancelling reuses the same row. Commits."""
    now = utcnow()
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
    if peek.status != "open" or peek.start_at <= now:
        raise Conflict("activity.closed")
    if peek.taken >= peek.slots and peek.waiting >= peek.waitlist_max:
        # At once and unlocked, so a crowd's losers never queue on the row (someone already on it is
        # told so instead).
        mine = db.session.scalar(
            select(Assignment.status).where(
                Assignment.activity_id == activity_id, Assignment.volunteer_id == who.user_id
            )
        )
        raise Conflict("activity.already_signed_up" if mine not in (None, "cancelled") else "activity.full")
    activity = _locked(activity_id)
    if activity.status != "open" or activity.start_at <= now:
        raise Conflict("activity.closed")
    assignment = db.session.scalars(
        select(Assignment)
        .where(Assignment.activity_id == activity.id, Assignment.volunteer_id == who.user_id)
        .with_for_update()
    ).first()
    if assignment is not None and assignment.status != "cancelled":
        raise Conflict("activity.already_signed_up")
    if activity.taken < activity.slots:
        activity.taken += 1
        status = "held"
    elif activity.waiting < activity.waitlist_max:
        activity.waiting += 1
        status = "waitlisted"
    else:
        raise Conflict("activity.full")
    if assignment is None:
        assignment = Assignment(
            activity_id=activity.id,
            site_id=activity.site_id,
            volunteer_id=who.user_id,
            kind="signup",
            status=status,
            **({"held_at": now} if status == "held" else {"queued_at": now}),
        )
        db.session.add(assignment)
    else:
        attendance.move(assignment, "rejoin" if status == "held" else "rejoin_waitlist", now=now)
    db.session.commit()
    return assignment


def _promote(activity: Activity, now: datetime) -> Assignment | None:
    """A place freed: the oldest waitlisted sign-up takes it (told by notification)."""
    waiting = db.session.scalars(
        select(Assignment)
        .where(Assignment.activity_id == activity.id, Assignment.status == "waitlisted")
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


def _cancel_signup(activity: Activity, assignment: Assignment, now: datetime) -> Assignment:
    if activity.status != "open" or activity.start_at <= now:
        raise Conflict("activity.closed")
    was = assignment.status
    attendance.move(assignment, "cancel", now=now, error="activity.not_signed_up")
    if was == "held":
        _promote(activity, now)
    else:
        activity.waiting -= 1
    db.session.commit()
    return assignment


def cancel_signup(*, who, activity_id: int) -> Assignment:
    """Cancel my sign-up before the start; a freed place goes to the waitlist's oldest. Commits."""
    activity = _locked(activity_id)
    assignment = db.session.scalars(
        select(Assignment)
        .where(Assignment.activity_id == activity.id, Assignment.volunteer_id == who.user_id)
        .with_for_update()
    ).first()
    if assignment is None:
        raise Conflict("activity.not_signed_up")
    return _cancel_signup(activity, assignment, utcnow())


def _anyone_checked_in(activity: Activity) -> bool:
    return db.session.scalar(
        select(exists().where(Assignment.activity_id == activity.id, Assignment.status == "checked_in"))
    )


def cancel(*, who, activity_id: int, reason: str) -> Activity:
    """A manager cancels an activity before it starts; everyone signed up is told. Commits."""
    activity = _locked(activity_id, reach_condition(Activity.site_id, who))
    now = utcnow()
    if activity.status != "open":
        raise Conflict("activity.bad_state")
    if activity.start_at <= now:
        raise Conflict("activity.started")
    if _anyone_checked_in(activity):  # check-in opens a little before the start
        raise Conflict("activity.on_site")
    told = attendance.end_open([activity.id], now, owner=Assignment.activity_id)
    activity.status, activity.cancel_reason = "cancelled", reason
    activity.taken = activity.waiting = 0
    notifications.notify(
        told,
        "activity.cancelled",
        params={"title": activity.title, "reason": reason},
        subject=("activity", activity.id),
    )
    db.session.commit()
    return activity


# ---- attendance (the /assignments/{id}/… actions, dispatched here by volunteer_app.tasks) -----------


def _assignment_and_activity(assignment_id: int, *conditions) -> tuple[Assignment, Activity]:
    """An activity's assignment matching `conditions` and its activity, both locked: activity first."""
    return attendance.locked_with_owner(assignment_id, Assignment.activity_id, _locked, *conditions)


def _mine(who, assignment_id: int) -> tuple[Assignment, Activity]:
    return _assignment_and_activity(assignment_id, Assignment.volunteer_id == who.user_id)


def _managed(who, assignment_id: int) -> tuple[Assignment, Activity]:
    return _assignment_and_activity(assignment_id, reach_condition(Assignment.site_id, who))


def place(activity: Activity) -> attendance.Place:
    return attendance.place_at(
        activity.site_id, lat=activity.lat, lng=activity.lng, start=activity.start_at, end=activity.end_at
    )


def _attending(activity: Activity) -> None:
    if activity.status != "open":
        raise Conflict("activity.bad_state")


def withdraw(*, who, assignment_id: int, reason: str | None = None) -> Assignment:
    """`POST /assignments/{id}/withdraw` on a sign-up: the same as cancelling it. Commits."""
    assignment, activity = _mine(who, assignment_id)
    return _cancel_signup(activity, assignment, utcnow())


def check_in(*, who, assignment_id: int, lat: float, lng: float) -> Assignment:
    """签到 at an activity: as for orders (time from the grace before the start, within the check-in
    radius, distance kept). Commits."""
    assignment, activity = _mine(who, assignment_id)
    _attending(activity)
    attendance.check_in(assignment, lat=lat, lng=lng, place=place(activity), now=utcnow())
    db.session.commit()
    return assignment


def check_out(*, who, assignment_id: int, lat: float, lng: float) -> Assignment:
    """签退: minutes computed from the two times inside the window. Commits."""
    assignment, activity = _mine(who, assignment_id)
    _attending(activity)
    attendance.check_out(assignment, lat=lat, lng=lng, place=place(activity), now=utcnow())
    db.session.commit()
    return assignment


def close_attendance(*, who, assignment_id: int, checkout_at: datetime | None, reason: str) -> Assignment:
    """A manager closes a missed check-out (default: the end, or now), with a reason. Commits."""
    assignment, activity = _managed(who, assignment_id)
    _attending(activity)
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
    """A manager records that a holder never came. Commits."""
    assignment, activity = _managed(who, assignment_id)
    _attending(activity)
    attendance.no_show(assignment, actor_id=who.user_id, reason=reason)
    db.session.commit()
    return assignment


def audit(
    *, who, activity_id: int, items: list[dict], note: str | None, confirm_computed: bool = False
) -> Activity:
    """审核 after the end: confirm each checked-out sign-up's minutes (a change needs a reason); they
    are credited once each, in this transaction, exactly as for orders. Holders who never came become
    no-shows, the waitlist lapses, and the activity closes. Commits."""
    activity = _locked(activity_id, reach_condition(Activity.site_id, who))
    now = utcnow()
    if activity.status != "open":
        raise Conflict("activity.bad_state")
    if activity.end_at > now:
        raise Conflict("activity.not_ended")
    if _anyone_checked_in(activity):
        raise Conflict("activity.on_site")
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
    activity.status, activity.closed_at = "closed", now
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


# ---- the volunteers' feed (merged with orders' by volunteer_app.tasks) ------------------------------


def feed_candidates(*, with_category: bool):
    """Open activities within the circle whose sign-up is open, with a place or waitlist room, that
    the caller has not signed up for, as feed entries (`attendance.FEED_COLUMNS`) for the merged feed,
    over the same bound parameters as the orders' (`who_id`, `now`, `category_id`, the circle's)."""
    who, now = bindparam("who_id", type_=Integer), bindparam("now", type_=UTCDateTime)
    mine = exists().where(
        Assignment.activity_id == Activity.id,
        Assignment.volunteer_id == who,
        Assignment.status != "cancelled",
    )
    columns = {
        "d2": attendance.Near.d2(Activity.lat, Activity.lng),
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
    }
    stmt = select(*[columns[name].label(name) for name in attendance.FEED_COLUMNS]).where(
        Activity.status == "open",
        attendance.Near.within(Activity.lat, Activity.lng),
        Activity.start_at > now,
        (Activity.taken < Activity.slots) | (Activity.waiting < Activity.waitlist_max),
        ~mine,
    )
    if with_category:
        stmt = stmt.where(Activity.category_id == bindparam("category_id", type_=Integer))
    return stmt
