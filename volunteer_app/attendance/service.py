"""Attendance: check-in and check-out against place and time, computed minutes, manager closing, audit.

Shared by orders and activities: callers pass the place and time window they are checked against and
own the transaction (every function here flushes only). Raw locations are never stored: a check
keeps the distance in metres. A check-in or check-out from beyond the site's check-in radius is
refused (422 `attendance.too_far`, with the distance and the radius) and records nothing, so the
volunteer tries again from the right place; `checkin_ok`/`checkout_ok` stay for rows recorded before
that rule (they may be false there, and such a row computes 0 minutes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select, update

from volunteer_app import changes
from volunteer_app.attendance import codes
from volunteer_app.attendance.models import Assignment
from volunteer_app.attendance.models import AssignmentStatus as S
from volunteer_app.db import utcnow
from volunteer_app.errors import Conflict, NotFound, Unprocessable, register_messages
from volunteer_app.extensions import db
from volunteer_app.geo import distance_m
from volunteer_app.schemas import AUDIT_UNNAMED
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site
from volunteer_app.timebank import service as timebank

register_messages(
    {
        "attendance.too_early": (
            "还未到签到时间（服务开始前 {grace} 分钟起可签到）",
            "Too early to check in (check-in opens {grace} minutes before the start)",
        ),
        "attendance.too_late": ("已超过签到时间，请联系站点管理员", "Too late to check in; ask the station"),
        "attendance.checkout_late": (
            "已超过签退时间，请联系站点管理员补签",
            "Too late to check out; the station can close it for you",
        ),
        "audit.unnamed": (
            "审核须逐一列出所确认的服务记录，或明确确认按计算时长（confirm_computed: true）",
            "Name every assignment you confirm, or confirm the computed minutes (confirm_computed: true)",
        ),
        "attendance.too_far": (
            "您距服务地点 {distance_m} 米，超出 {radius_m} 米的签到范围，请到达现场后重试",
            "You are {distance_m} m from the service location, beyond the {radius_m} m check-in radius; "
            "try again on site",
        ),
        "attendance.not_checked_in": ("尚未签到", "Not checked in"),
        "attendance.already_checked_in": ("已签到", "Already checked in"),
        "attendance.not_held": ("该任务当前不能签到", "This assignment cannot be checked in now"),
        "attendance.not_checked_out": ("尚未签退", "Not checked out"),
        "attendance.reason_required": (
            "与系统计算的时长不同，请填写原因",
            "A reason is required when the minutes differ from the computed figure",
        ),
    }
)

# The assignment's state table, (from, action) → to, for orders' offers and grabs and activities'
# sign-ups alike. Every status change of an assignment goes through `move` (one row) or the
# set-based `end_open` and `settle_absent` below: this module is the only writer of the status. A new
# assignment starts as offered (an offer), held (a grab or sign-up) or waitlisted (a full activity).
MOVES: dict[tuple[S, str], S] = {
    (S.OFFERED, "accept"): S.HELD,
    (S.OFFERED, "decline"): S.DECLINED,
    (S.HELD, "withdraw"): S.WITHDRAWN,  # an order's place given back before check-in
    (S.HELD, "cancel"): S.CANCELLED,  # an activity's sign-up cancelled
    (S.WAITLISTED, "cancel"): S.CANCELLED,
    (S.WAITLISTED, "promote"): S.HELD,  # a place freed: the oldest waiting moves up
    (S.CANCELLED, "rejoin"): S.HELD,  # signing up again after cancelling
    (S.CANCELLED, "rejoin_waitlist"): S.WAITLISTED,
    (S.HELD, "check_in"): S.CHECKED_IN,
    (S.CHECKED_IN, "check_out"): S.CHECKED_OUT,
    (S.CHECKED_IN, "close"): S.CHECKED_OUT,  # a manager closes a missed check-out
    (S.HELD, "no_show"): S.NO_SHOW,
    (S.CHECKED_OUT, "audit"): S.AUDITED,
}
# Statuses that end with their order or activity: offers lapse, places and waitlist places are void.
OPEN = (S.OFFERED, S.HELD, S.WAITLISTED)


def move(assignment: Assignment, action: str, *, now: datetime, error: str = "attendance.not_held") -> S:
    """Apply `action` to one assignment as the table says (409 `error` if it does not allow it); stamps
    when a place was taken or a waitlist place joined. Returns the new status. Callers move first and
    check the rest after: a later refusal raises, and the command commits nothing."""
    to = MOVES.get((assignment.status, action))
    if to is None:
        raise Conflict(error)
    assignment.status = to
    if to == S.HELD:
        assignment.held_at = now
    elif to == S.WAITLISTED:
        assignment.queued_at = now
    return to


def end_open(owner_ids: list[int], now: datetime, *, owner=Assignment.order_id) -> list[int]:
    """The order or activity ended before service (cancelled, rejected, expired unstaffed): its offers,
    places and waitlist places are void. Set-based; flushes only; returns the volunteers concerned."""
    rows = db.session.execute(
        update(Assignment)
        .where(owner.in_(owner_ids), Assignment.status.in_(OPEN))
        .values(status=S.CANCELLED, updated_at=now)
        .returning(Assignment.volunteer_id)
        .execution_options(synchronize_session=False)
    ).all()
    _record(owner, owner_ids)
    return [r.volunteer_id for r in rows]


def _record(owner, owner_ids: list[int]) -> None:
    """Statistics count the owners again (the ORM does not see set-based UPDATEs; changes.py)."""
    changes.record("order" if owner is Assignment.order_id else "activity", owner_ids)


@dataclass(frozen=True)
class Place:
    """Where and when the service happens, and the site's tolerances."""

    lat: float
    lng: float
    start: datetime
    end: datetime
    radius_m: int
    grace_minutes: int
    # The activity this is the place of (None: an order's): its own check-in code counts there.
    activity_id: int | None = None

    @property
    def grace(self) -> timedelta:
        return timedelta(minutes=self.grace_minutes)


def place_at(
    site_id: int,
    *,
    lat: float,
    lng: float,
    start: datetime,
    end: datetime,
    settings: dict | None = None,
    activity_id: int | None = None,
) -> Place:
    """The Place of an order or activity at `site_id`, with that site's check-in radius and grace
    (`settings`: its effective settings, when the caller already has them)."""
    settings = settings or sites.effective_settings(db.session.get(Site, site_id))
    return Place(
        lat=lat,
        lng=lng,
        start=start,
        end=end,
        radius_m=settings["checkin_radius_m"],
        grace_minutes=settings["checkin_grace_minutes"],
        activity_id=activity_id,
    )


def locked_with_owner(assignment_id: int, owner_column, lock_owner, *conditions):
    """An assignment matching `conditions` and its owner (order or activity), both locked: the OWNER
    FIRST, as every path does (cancel, audit and completion lock the owner, then update its
    assignments), so two requests on one owner never wait on each other in opposite orders (a deadlock
    would be a 500). `owner_column` is Assignment.order_id or .activity_id; `lock_owner(id)` locks and
    returns the owner. 404 if there is no such assignment of that kind."""
    owner_id = db.session.scalar(
        select(owner_column).where(Assignment.id == assignment_id, owner_column.is_not(None), *conditions)
    )
    if owner_id is None:
        raise NotFound()
    owner = lock_owner(owner_id)
    assignment = db.session.scalars(
        select(Assignment)
        .where(Assignment.id == assignment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return assignment, owner


def computed_minutes(checkin_at: datetime, checkout_at: datetime, place: Place, places_ok: bool) -> int:
    """Whole minutes on site, counted only inside the service window; 0 if a place check failed (only
    rows recorded before far checks were refused; the manager may still confirm time at audit, with
    a reason)."""
    if not places_ok:
        return 0
    start, end = max(checkin_at, place.start), min(checkout_at, place.end)
    return max(0, int((end - start).total_seconds() // 60))


PAST_TOLERANCE = timedelta(minutes=10)


def check_window(
    start: datetime,
    end: datetime,
    now: datetime,
    *,
    names: tuple[str, str],
    longest: timedelta,
    ahead: timedelta,
) -> None:
    """A service window as submitted (an order's or an activity's, fields `names`): it ends after it
    starts, lasts at most `longest`, starts no earlier than a few minutes ago and at most `ahead` from
    now. 422 on the field otherwise."""
    first, last = names
    problem = None
    if end <= start:
        problem = (last, f"must be after {first}")
    elif end - start > longest:
        problem = (last, f"at most {int(longest.total_seconds() // 3600)} hours after {first}")
    elif start < now - PAST_TOLERANCE:
        problem = (first, "must not be in the past")
    elif start > now + ahead:
        problem = (first, f"at most {ahead.days} days ahead")
    if problem:
        raise Unprocessable("validation.failed", errors={"json": {problem[0]: [problem[1]]}})


def window_minutes(place: Place) -> int:
    return int((place.end - place.start).total_seconds() // 60)


def unnamed_error(errors: dict | None = None) -> Unprocessable:
    """422 `audit.unnamed`: an audit that neither names an assignment nor confirms the computed minutes."""
    return Unprocessable("audit.unnamed", errors=errors or {"json": {"assignments": [AUDIT_UNNAMED]}})


def within_radius(lat: float, lng: float, place: Place) -> int:
    """The distance in metres from `place`, if it is within the site's check-in radius; else 422
    `attendance.too_far` carrying both, in the message and as numbers in `errors.position`."""
    distance = distance_m(lat, lng, place.lat, place.lng)
    if distance > place.radius_m:
        detail = {"distance_m": distance, "radius_m": place.radius_m}
        raise Unprocessable("attendance.too_far", params=detail, errors={"position": detail})
    return distance


def on_site(
    assignment: Assignment,
    *,
    lat: float | None,
    lng: float | None,
    qr_code: str | None,
    place: Place,
    now: datetime,
    action: str,
) -> tuple[int | None, str]:
    """How the volunteer shows being on site, as (distance in metres or None, method): a check-in code
    of this place (attendance/codes.py: the position, if sent too, is only measured, since indoors it
    drifts), else the position within the radius (422 `attendance.too_far`)."""
    if qr_code is not None:
        codes.accept(
            qr_code,
            volunteer_id=assignment.volunteer_id,
            assignment_id=assignment.id,
            action=action,
            lat=place.lat,
            lng=place.lng,
            radius_m=place.radius_m,
            activity_id=place.activity_id,
            now=now,
        )
        distance = None if lat is None or lng is None else distance_m(lat, lng, place.lat, place.lng)
        return distance, "qr"
    return within_radius(lat, lng, place), "gps"


def check_in(
    assignment: Assignment,
    *,
    lat: float | None,
    lng: float | None,
    place: Place,
    now: datetime,
    qr_code: str | None = None,
) -> None:
    """Record a check-in from `grace` before the window until its end, within the site's check-in
    radius or with a valid check-in code of the place (else 422 and nothing is recorded: the volunteer
    tries again on site); the distance and the method are kept, never the position."""
    if assignment.status == S.CHECKED_IN:
        raise Conflict("attendance.already_checked_in")
    move(assignment, "check_in", now=now)
    if now < place.start - place.grace:
        raise Conflict("attendance.too_early", params={"grace": place.grace_minutes})
    if now > place.end:
        raise Conflict("attendance.too_late")
    distance, method = on_site(
        assignment, lat=lat, lng=lng, qr_code=qr_code, place=place, now=now, action="check_in"
    )
    assignment.checkin_at = now
    assignment.checkin_distance_m = distance
    assignment.checkin_ok = True
    assignment.checkin_method = method


def check_out(
    assignment: Assignment,
    *,
    lat: float | None,
    lng: float | None,
    place: Place,
    now: datetime,
    qr_code: str | None = None,
) -> None:
    """Record a check-out up to `grace` after the window, within the check-in radius or with a valid
    check-in code (else 422, nothing recorded); later, or from elsewhere, a manager closes it."""
    move(assignment, "check_out", now=now, error="attendance.not_checked_in")
    if now > place.end + place.grace:
        raise Conflict("attendance.checkout_late")
    distance, method = on_site(
        assignment, lat=lat, lng=lng, qr_code=qr_code, place=place, now=now, action="check_out"
    )
    assignment.checkout_at = now
    assignment.checkout_distance_m = distance
    assignment.checkout_ok = True
    assignment.checkout_method = method
    assignment.minutes_computed = computed_minutes(
        assignment.checkin_at, now, place, bool(assignment.checkin_ok and assignment.checkout_ok)
    )


def close(assignment: Assignment, *, place: Place, checkout_at: datetime, actor_id: int, reason: str) -> None:
    """A manager closes a missed check-out at a given time (within the window's end plus grace)."""
    move(assignment, "close", now=checkout_at, error="attendance.not_checked_in")
    if checkout_at < assignment.checkin_at or checkout_at > place.end + place.grace:
        raise Unprocessable(
            "validation.failed",
            errors={"json": {"checkout_at": ["between the check-in and the window's end"]}},
        )
    assignment.checkout_at = checkout_at
    assignment.closed_by_id = actor_id
    assignment.close_reason = reason
    assignment.minutes_computed = computed_minutes(
        assignment.checkin_at, checkout_at, place, bool(assignment.checkin_ok)
    )


def no_show(assignment: Assignment, *, actor_id: int, reason: str) -> None:
    """A manager records that a holder never came (the slot stays counted: it was promised)."""
    move(assignment, "no_show", now=utcnow())
    assignment.closed_by_id = actor_id
    assignment.close_reason = reason
    assignment.minutes_computed = 0


def settle_absent(owner_ids: list[int], now: datetime, *, owner=Assignment.order_id) -> None:
    """The service is over (completed, expired or audited): holders who never checked in did not
    come, open offers and waitlisted sign-ups lapse, so no assignment stays open on a finished order
    or activity (nor counts as an open grab). `owner` is Assignment.order_id or .activity_id.
    Set-based; flushes only."""
    for status, values in (
        (S.HELD, {"status": S.NO_SHOW, "minutes_computed": 0}),
        (S.OFFERED, {"status": S.CANCELLED}),
        (S.WAITLISTED, {"status": S.CANCELLED}),
    ):
        db.session.execute(
            update(Assignment)
            .where(owner.in_(owner_ids), Assignment.status == status)
            .values(updated_at=now, **values)
            .execution_options(synchronize_session=False)
        )
    _record(owner, owner_ids)


def _at(path: tuple[str, ...], leaf: dict) -> dict:
    """Nest a field's errors the way marshmallow does: ("assignments", "1") → {"assignments": {"1": …}}."""
    for key in reversed(path):
        leaf = {key: leaf}
    return leaf


def audit(
    assignment: Assignment,
    *,
    minutes: int | None,
    reason: str | None,
    place: Place,
    record_key: str,
    memo: str,
    service_date: date,
    actor_id: int,
    field: tuple[str, ...],
) -> int:
    """Confirm an assignment's minutes and credit them to the volunteer's book, once (idempotent by
    `record_key`). Changing the computed figure needs a reason. Returns the confirmed minutes."""
    computed = assignment.minutes_computed or 0
    confirmed = computed if minutes is None else minutes
    if confirmed > window_minutes(place):
        raise Unprocessable(
            "validation.failed", errors={"json": _at(field, {"minutes": ["more than the service window"]})}
        )
    if confirmed != computed and not reason:
        required = {"json": _at(field, {"reason": ["required"]})}
        raise Unprocessable("attendance.reason_required", errors=required)
    move(assignment, "audit", now=utcnow(), error="attendance.not_checked_out")
    assignment.minutes_confirmed = confirmed
    assignment.audit_reason = reason
    if confirmed > 0:
        transfer = timebank.credit_service(
            record_key=record_key,
            user_id=assignment.volunteer_id,
            site_id=assignment.site_id,
            minutes=confirmed,
            memo=memo,
            service_date=service_date,
            actor_id=actor_id,
        )
        assignment.transfer_id = transfer.id
    return confirmed


def audit_all(
    owner,
    owner_id: int,
    items: list[dict],
    *,
    place: Place,
    memo: str,
    service_date: date,
    actor_id: int,
    what: str,
    confirm_computed: bool = False,
) -> list[tuple[int, int]]:
    """审核 of one order or activity (`owner` is Assignment.order_id or .activity_id): every checked-out
    assignment is confirmed, at its computed minutes unless `items` (the request's list, by
    assignment id) says otherwise with a reason, and credited once. An item naming anything else is a
    422 on its index. Locks the assignments; flushes only. Returns (volunteer, minutes) credited."""
    done = {
        a.id: a
        for a in db.session.scalars(
            select(Assignment).where(owner == owner_id, Assignment.status == S.CHECKED_OUT).with_for_update()
        )
    }
    given = {}
    for i, item in enumerate(items):
        if item["assignment_id"] not in done:
            wrong = {"assignment_id": [f"not a checked-out assignment of this {what}"]}
            raise Unprocessable("validation.failed", errors={"json": {"assignments": {str(i): wrong}}})
        given[item["assignment_id"]] = (i, item)
    unnamed = sorted(set(done) - set(given))
    if unnamed and not confirm_computed:
        # An audit confirms what it names: nothing is confirmed (or the order closed) by omission.
        raise unnamed_error({"json": {"assignments": [AUDIT_UNNAMED, f"not named: {unnamed}"]}})
    credited = []
    for assignment_id, assignment in sorted(done.items()):
        index, item = given.get(assignment_id, (None, {}))
        minutes = audit(
            assignment,
            minutes=item.get("minutes"),
            reason=item.get("reason"),
            place=place,
            record_key=f"assignment:{assignment.id}",
            memo=memo,
            service_date=service_date,
            actor_id=actor_id,
            field=("assignments",) if index is None else ("assignments", str(index)),
        )
        if minutes:
            credited.append((assignment.volunteer_id, minutes))
    return credited
