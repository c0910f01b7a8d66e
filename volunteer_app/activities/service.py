"""Activities (活动): publish, read and cancel an activity, and the helpers its sign-up and attendance
modules share (the activity's lock, whether sign-up is open, no one left on site).

Every command that changes an activity's places locks the activity row first (PostgreSQL
`FOR UPDATE`; SQLite serialises writers with `BEGIN IMMEDIATE`), then its assignments — the same
order the order loop keeps — so sign-ups, cancellations and promotions from the waitlist are exact
however many phones press at once; CHECKs on `taken <= slots` and `waiting <= waitlist_max` and
UNIQUE(activity_id, volunteer_id) back this up. Services commit once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, inspect, select

from volunteer_app.accounts.models import User
from volunteer_app.activities.models import Activity
from volunteer_app.activities.states import TABLE, ActivityStatus, transition
from volunteer_app.attendance import service as attendance
from volunteer_app.attendance.models import Assignment
from volunteer_app.attendance.models import AssignmentStatus as S
from volunteer_app.db import utcnow
from volunteer_app.errors import Conflict, NotFound, register_messages
from volunteer_app.extensions import db
from volunteer_app.notifications import service as notifications
from volunteer_app.pagination import paginate
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site
from volunteer_app.sites.reach import Reacher, get_in_reach, reach_condition, subtree_of

register_messages(
    {
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


def managed_site(who: Reacher, site_id: int) -> Site:
    """A site in the manager's reach (404 otherwise, never 403)."""
    return get_in_reach(Site, site_id, Site.id, who)


def locked(activity_id: int, *conditions) -> Activity:
    """The activity matching `conditions`, locked (404 otherwise): every command on its places takes
    this lock first."""
    stmt = select(Activity).where(Activity.id == activity_id, *conditions).with_for_update()
    activity = db.session.scalars(stmt.execution_options(populate_existing=True)).first()
    if activity is None:
        raise NotFound()
    return activity


def signup_open(status: str, start_at: datetime, now: datetime) -> bool:
    """Sign-up (and cancelling one) is open until the start of an open activity."""
    return status == ActivityStatus.OPEN and start_at > now


def started(activity: Activity, now: datetime) -> bool:
    """From its start an activity can no longer be cancelled, and a holder who is not there is a
    no-show."""
    return activity.start_at <= now


def ended(activity: Activity, now: datetime) -> bool:
    """From its end an activity can be audited."""
    return activity.end_at <= now


def phase(activity: Activity, now: datetime) -> str:
    """Where an activity stands for its managers: its status once audited or cancelled; while open,
    `signing_up` until the start, `under_way` until the end, then `to_audit` (`awaiting_audit`, for one
    activity)."""
    if activity.status != ActivityStatus.OPEN:
        return activity.status
    if ended(activity, now):
        return "to_audit"
    return "under_way" if started(activity, now) else "signing_up"


def allowed_actions(activity: Activity, now: datetime) -> dict[str, bool]:
    """Which of its managers' actions the activity allows at `now`: `cancel` (before the start),
    `audit` (after the end), and on a sign-up `close_attendance` (a missed check-out) and `no_show`
    (once started). The state table and the clock rules the commands enforce (their 409s), read
    without changing anything, for a page to offer only what would be accepted. Someone still
    checked in (`activity.on_site`) and each sign-up's own state are checked by the commands."""
    status = activity.status
    return {
        "cancel": (status, "cancel") in TABLE and not started(activity, now),
        "audit": (status, "audit") in TABLE and ended(activity, now),
        "close_attendance": (status, "attend") in TABLE,
        "no_show": (status, "attend") in TABLE and started(activity, now),
    }


def refuse_on_site(activity: Activity) -> None:
    """409 `activity.on_site` while a volunteer is still checked in (check-in opens a little before the
    start): cancelling or auditing waits until their attendance is closed."""
    if db.session.scalar(
        select(exists().where(Assignment.activity_id == activity.id, Assignment.status == S.CHECKED_IN))
    ):
        raise Conflict("activity.on_site")


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
        status=ActivityStatus.OPEN,
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
        "signup_open": signup_open(activity.status, activity.start_at, now),
        "my_assignment": signup,
    }


def awaiting_audit(now: datetime) -> ColumnElement[bool]:
    """An activity waiting for its audit: still open once it has ended (auditing closes it; a
    cancelled one never is). What Today counts and `when=to_audit` lists."""
    return and_(Activity.status == ActivityStatus.OPEN, Activity.end_at <= now)


def list_for_site(
    *, who, site_id: int, limit: int, cursor: str | None, when: str = "upcoming", subtree: bool = False
) -> dict:
    """A site's activities (with `subtree`, also those of every site below it), cancelled ones
    included, marked: `upcoming` those that have not ended, by start; `past` those that have, the
    latest start first; `to_audit` those waiting for their audit (`awaiting_audit`), the oldest start
    first. Anyone signed in may read a site's upcoming activities (to sign up); the rest and the
    subtree are its managers' (they carry audit notes): out of reach, 404 like an unknown site."""
    managers_only = when != "upcoming" or subtree
    site = managed_site(who, site_id) if managers_only else db.session.get(Site, site_id)
    if site is None:
        raise NotFound()
    if subtree:
        where = Activity.site_id.in_(select(Site.id).where(subtree_of([site.path])))
    else:
        where = Activity.site_id == site.id
    now = utcnow()
    chosen = {
        "upcoming": Activity.end_at > now,
        "past": Activity.end_at <= now,
        "to_audit": awaiting_audit(now),
    }[when]
    stmt = select(Activity).where(where, chosen)
    return paginate(
        stmt, [Activity.start_at, Activity.id], limit=limit, cursor=cursor, descending=when == "past"
    )


def managed(*, who, activity_id: int) -> Activity:
    """An activity at a site in the manager's reach (404 otherwise, never 403)."""
    return get_in_reach(Activity, activity_id, Activity.site_id, who)


def mine(*, who, limit: int, cursor: str | None) -> dict:
    """The caller's sign-ups (held, waitlisted, on site or done) on activities that ended less than a
    day ago or are still to come, by start: where a volunteer finds the assignment to check in with."""
    now = utcnow()
    signed = (
        select(Assignment.activity_id)
        .where(
            Assignment.volunteer_id == who.user_id,
            Assignment.activity_id.is_not(None),
            Assignment.status.in_((S.WAITLISTED, S.HELD, S.CHECKED_IN, S.CHECKED_OUT, S.AUDITED)),
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


def signups(*, who, activity_id: int, limit: int, cursor: str | None, waitlist: bool | None = None) -> dict:
    """The sign-ups of an activity in reach (manager), each with the volunteer's name: all of them in
    sign-up order; with `waitlist` true only the waitlist, in the order it moves up (the oldest
    first, as a freed place goes); with `waitlist` false everyone but the waitlist, in sign-up order."""
    activity = managed(who=who, activity_id=activity_id)
    stmt = select(Assignment).where(Assignment.activity_id == activity.id)
    keys = [Assignment.id]
    if waitlist:
        stmt = stmt.where(Assignment.status == S.WAITLISTED)
        keys = [Assignment.queued_at, Assignment.id]
    elif waitlist is False:
        stmt = stmt.where(Assignment.status != S.WAITLISTED)
    page = paginate(stmt, keys, limit=limit, cursor=cursor)
    ids = {a.volunteer_id for a in page["items"]}
    names = dict(db.session.execute(select(User.id, User.name).where(User.id.in_(ids))).all()) if ids else {}
    columns = [c.key for c in inspect(Assignment).column_attrs]
    return {
        "items": [
            {**{key: getattr(a, key) for key in columns}, "volunteer_name": names.get(a.volunteer_id)}
            for a in page["items"]
        ],
        "next_cursor": page["next_cursor"],
    }


def cancel(*, who, activity_id: int, reason: str) -> Activity:
    """A manager cancels an activity before it starts; everyone signed up is told. Commits."""
    activity = locked(activity_id, reach_condition(Activity.site_id, who))
    now = utcnow()
    transition(activity, "cancel")
    if started(activity, now):
        raise Conflict("activity.started")
    refuse_on_site(activity)
    told = attendance.end_open([activity.id], now, owner=Assignment.activity_id)
    activity.cancel_reason = reason
    activity.taken = activity.waiting = 0
    notifications.notify(
        told,
        "activity.cancelled",
        params={"title": activity.title, "reason": reason},
        subject=("activity", activity.id),
    )
    db.session.commit()
    return activity
