"""Volunteers' appeals (申诉) of an audit that cut their minutes or of a no-show mark, decided one level up.

- Submitting: the volunteer's own assignment (else 404), audited with fewer minutes confirmed than
  computed ("cut") or marked a no-show ("no_show"), else 409 `appeal.not_appealable`; within
  `appeal_window_days` (setting of the assignment's site) of the audit or the mark, else 409
  `appeal.window_closed`; once per assignment (409 `appeal.already`). The moment of the audit or the
  mark is the assignment's `updated_at`: audited and no_show are end states, so nothing writes the row
  after the audit (stamped by the ORM), the manager's mark (likewise) or the sweep that settles the
  absent (which sets it explicitly).
- Deciding: the managers reaching the deciding site (the parent of the assignment's site; a center's
  own appeals: itself). Managers who reach only the audited site may read it, not decide (403
  `appeal.not_decider`); nobody decides their own appeal. An upheld appeal credits the difference
  between the total granted and the audit's minutes as a NEW transfer of kind "appeal" (reference
  "service:appeal:<id>": exactly once, whatever races), never an edit of the audit's.
- Reading: the volunteer; the managers reaching the audited site (which includes every decider, since
  the deciding site is at or above it). Anyone else: 404.

Every function that changes something commits once; every move of status goes through states.transition.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, or_, select

from volunteer_app.activities.attendance import place as activity_place
from volunteer_app.activities.models import Activity
from volunteer_app.attendance import service as attendance
from volunteer_app.attendance.models import Assignment, AssignmentStatus
from volunteer_app.db import utcnow
from volunteer_app.errors import Conflict, Forbidden, Unprocessable, register_messages
from volunteer_app.extensions import db
from volunteer_app.field_messages import register_field_messages
from volunteer_app.notifications import service as notifications
from volunteer_app.orders.common import place as order_place
from volunteer_app.orders.models import Order
from volunteer_app.pagination import paginate
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site
from volunteer_app.sites.reach import get_in_reach, reach_condition
from volunteer_app.supervision import states
from volunteer_app.supervision.common import filtered, found, is_overdue, locked, reaches
from volunteer_app.supervision.models import Appeal, AppealStatus
from volunteer_app.timebank import service as timebank

register_messages(
    {
        "appeal.not_appealable": (
            "只能对核减了时长的审核或缺席标记提出申诉",
            "Only an audit that cut the minutes or a no-show mark can be appealed",
        ),
        "appeal.window_closed": (
            "已超过申诉期限（审核或标记缺席后 {days} 天内）",
            "The time to appeal has passed ({days} days after the audit or the no-show mark)",
        ),
        "appeal.already": (
            "该任务已申诉过，每项任务只能申诉一次",
            "This assignment has already been appealed",
        ),
        "appeal.not_decider": (
            "申诉由上一级站点的管理员裁定",
            "Appeals are decided by the managers of the site one level up",
        ),
    }
)

MORE_THAN_BEFORE = "must be more than the minutes the audit confirmed"
WITHIN_WINDOW = "must not exceed the service window's minutes"
WITHIN_CLAIM = "must not exceed the minutes claimed"
register_field_messages(
    {
        MORE_THAN_BEFORE: "必须多于审核确认的时长",
        WITHIN_WINDOW: "不能超过服务时段的时长",
        WITHIN_CLAIM: "不能超过申诉请求的时长",
    }
)

SIDES = ("deciding", "audited")


def _invalid(field: str, message: str) -> Unprocessable:
    return Unprocessable("validation.failed", errors={"json": {field: [message]}})


def _owner(assignment: Assignment) -> Order | Activity:
    if assignment.order_id is not None:
        return db.session.get(Order, assignment.order_id)
    return db.session.get(Activity, assignment.activity_id)


def _service(assignment: Assignment) -> tuple[str, attendance.Place]:
    """The title and the Place (service window) of the assignment's order or activity."""
    owner = _owner(assignment)
    place = order_place(owner) if isinstance(owner, Order) else activity_place(owner)
    return owner.title, place


def _title(appeal: Appeal) -> str:
    return _titles([appeal.assignment_id])[appeal.assignment_id]


def _titles(assignment_ids: list[int]) -> dict[int, str]:
    """The order's or activity's title of each assignment, in one query (a page of appeals)."""
    if not assignment_ids:
        return {}
    rows = db.session.execute(
        select(Assignment.id, func.coalesce(Order.title, Activity.title))
        .outerjoin(Order, Order.id == Assignment.order_id)
        .outerjoin(Activity, Activity.id == Assignment.activity_id)
        .where(Assignment.id.in_(assignment_ids))
    ).all()
    return dict(rows)


def _page(page: dict) -> dict:
    titles = _titles([a.assignment_id for a in page["items"]])
    return {**page, "items": [_out(a, title=titles[a.assignment_id]) for a in page["items"]]}


def deciding_site_id(site: Site) -> int:
    """One level up: the parent of the audited site; a center decides its own."""
    return site.parent_id or site.id


# ---- the volunteer -------------------------------------------------------------------------------


def submit(*, who, assignment_id: int, minutes_claimed: int, reason: str, now: datetime | None = None):
    """POST /assignments/{id}/appeal. Locks the assignment (so two submissions queue: the second sees
    the first). Commits. Returns the appeal as `read` shows it."""
    now = now or utcnow()
    assignment = locked(Assignment, assignment_id, Assignment.volunteer_id == who.user_id)
    if db.session.scalar(select(Appeal.id).where(Appeal.assignment_id == assignment.id)) is not None:
        raise Conflict("appeal.already")
    computed = assignment.minutes_computed or 0
    if assignment.status == AssignmentStatus.NO_SHOW:
        kind, before = "no_show", 0
    elif assignment.status == AssignmentStatus.AUDITED and (assignment.minutes_confirmed or 0) < computed:
        kind, before = "cut", assignment.minutes_confirmed or 0
    else:
        raise Conflict("appeal.not_appealable")
    site = db.session.get(Site, assignment.site_id)
    days = int(sites.effective_settings(site)["appeal_window_days"])
    if now > assignment.updated_at + timedelta(days=days):
        raise Conflict("appeal.window_closed", params={"days": days})
    title, place = _service(assignment)
    if minutes_claimed <= before:
        raise _invalid("minutes_claimed", MORE_THAN_BEFORE)
    if minutes_claimed > attendance.window_minutes(place):
        raise _invalid("minutes_claimed", WITHIN_WINDOW)
    deciding = db.session.get(Site, deciding_site_id(site))
    hours = int(sites.effective_settings(deciding)["appeal_decide_hours"])
    appeal = Appeal(
        assignment_id=assignment.id,
        volunteer_id=who.user_id,
        site_id=site.id,
        deciding_site_id=deciding.id,
        kind=kind,
        minutes_before=before,
        minutes_claimed=minutes_claimed,
        reason=reason,
        due_at=now + timedelta(hours=hours),
        created_at=now,
        updated_at=now,
    )
    states.transition(states.APPEALS, appeal, "submit", by=states.VOLUNTEER, actor_id=who.user_id, at=now)
    notifications.notify(
        notifications.managers_of(deciding.id),
        "appeal.submitted",
        subject=("appeal", appeal.id),
        params={"title": title, "name": who.user.name},
    )
    db.session.commit()
    return _out(appeal, title=title)


def withdraw(*, who, appeal_id: int):
    """POST /appeals/{id}/withdraw: the volunteer takes a pending appeal back. Commits."""
    appeal = locked(Appeal, appeal_id, Appeal.volunteer_id == who.user_id)
    states.transition(states.APPEALS, appeal, "withdraw", by=states.VOLUNTEER, actor_id=who.user_id)
    db.session.commit()
    return _out(appeal)


def my_appeals(*, who, limit: int, cursor: str | None) -> dict:
    """GET /me/appeals: the caller's appeals, newest first."""
    page = paginate(
        select(Appeal).where(Appeal.volunteer_id == who.user_id),
        [Appeal.id],
        limit=limit,
        cursor=cursor,
        descending=True,
    )
    return _page(page)


# ---- reading -------------------------------------------------------------------------------------


def _readable(who):
    """Condition: the caller's own appeal, or one of a site in their reach (the audited site; the
    deciding site is at or above it, so every decider reads too)."""
    return or_(Appeal.volunteer_id == who.user_id, reach_condition(Appeal.site_id, who))


def read(*, who, appeal_id: int) -> dict:
    """GET /appeals/{id}: the appeal with its timeline."""
    appeal = found(Appeal, appeal_id, _readable(who))
    return {**_out(appeal), "timeline": states.timeline(states.APPEALS, appeal.id)}


def list_for_site(
    *,
    who,
    site_id: int,
    side: str = "deciding",
    status: str | None = None,
    overdue: bool | None = None,
    limit: int,
    cursor: str | None,
    now: datetime | None = None,
) -> dict:
    """The appeals a site decides (`side="deciding"`) or whose audit it made (`"audited"`), newest
    first; the site must be in the caller's reach (404). `overdue`: pending past due (True) or not
    (False)."""
    site = get_in_reach(Site, site_id, Site.id, who)
    column = Appeal.deciding_site_id if side == "deciding" else Appeal.site_id
    stmt = filtered(
        select(Appeal).where(column == site.id), states.APPEALS, status=status, overdue=overdue, now=now
    )
    return _page(paginate(stmt, [Appeal.id], limit=limit, cursor=cursor, descending=True))


def _out(appeal: Appeal, *, title: str | None = None) -> dict:
    fields = {column.key: getattr(appeal, column.key) for column in Appeal.__table__.columns}
    return {
        **fields,
        "title": title or _title(appeal),
        "overdue": is_overdue(states.APPEALS, appeal),
        "minutes_credited": (appeal.minutes_granted - appeal.minutes_before)
        if appeal.status == AppealStatus.UPHELD and appeal.minutes_granted is not None
        else None,
    }


# ---- deciding ------------------------------------------------------------------------------------


def _for_decision(who, appeal_id: int) -> Appeal:
    """The appeal, locked, for a decider: 404 out of reach (as missing), 403 `appeal.not_decider` when
    the caller may read it but not decide (a manager of the audited site only, or its own volunteer)."""
    appeal = locked(Appeal, appeal_id, _readable(who))
    if not reaches(who, appeal.deciding_site_id) or appeal.volunteer_id == who.user_id:
        raise Forbidden("appeal.not_decider")
    return appeal


def uphold(*, who, appeal_id: int, minutes_granted: int, note: str | None = None):
    """POST /appeals/{id}/uphold: grant a new total (> the audit's minutes, ≤ the claim) and credit the
    difference as an "appeal" transfer, once. Commits."""
    appeal = _for_decision(who, appeal_id)
    states.target(states.APPEALS, appeal.status, "uphold", by=states.DECIDER)  # 409 bad_state first
    if minutes_granted <= appeal.minutes_before:
        raise _invalid("minutes_granted", MORE_THAN_BEFORE)
    if minutes_granted > appeal.minutes_claimed:
        raise _invalid("minutes_granted", WITHIN_CLAIM)
    now = utcnow()
    states.transition(
        states.APPEALS,
        appeal,
        "uphold",
        by=states.DECIDER,
        actor_id=who.user_id,
        note=note,
        at=now,
        minutes_granted=minutes_granted,
        decision_note=note,
        decided_by_id=who.user_id,
        decided_at=now,
    )
    assignment = db.session.get(Assignment, appeal.assignment_id)
    title, place = _service(assignment)
    site = db.session.get(Site, appeal.site_id)
    what = f"审核入账 #{assignment.transfer_id}" if assignment.transfer_id else "未入账"
    if appeal.kind == "no_show":
        what = "缺席标记"
    transfer = timebank.credit_service(
        kind="appeal",
        record_key=f"appeal:{appeal.id}",
        user_id=appeal.volunteer_id,
        site_id=appeal.site_id,
        minutes=minutes_granted - appeal.minutes_before,
        memo=f"申诉改判：{title}（任务 #{assignment.id}，{what}）",
        service_date=sites.local_time(site, place.start).date(),
        actor_id=who.user_id,
    )
    appeal.transfer_id = transfer.id
    _tell_volunteer(appeal, title)
    db.session.commit()
    return _out(appeal, title=title)


def reject(*, who, appeal_id: int, note: str):
    """POST /appeals/{id}/reject: the audit or the mark stands. Commits."""
    appeal = _for_decision(who, appeal_id)
    now = utcnow()
    states.transition(
        states.APPEALS,
        appeal,
        "reject",
        by=states.DECIDER,
        actor_id=who.user_id,
        note=note,
        at=now,
        decision_note=note,
        decided_by_id=who.user_id,
        decided_at=now,
    )
    title = _title(appeal)
    _tell_volunteer(appeal, title)
    db.session.commit()
    return _out(appeal, title=title)


def _tell_volunteer(appeal: Appeal, title: str) -> None:
    notifications.notify(
        [appeal.volunteer_id], "appeal.decided", subject=("appeal", appeal.id), params={"title": title}
    )
