"""Attendance: check-in and check-out against place and time, computed minutes, manager closing, audit.

Shared by orders and activities: callers pass the place and time window they are checked against and
own the transaction (every function here flushes only). Raw locations are never stored: a check
keeps the distance in metres and whether it passed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import update

from volunteer_app.attendance.models import Assignment
from volunteer_app.errors import Conflict, Unprocessable, register_messages
from volunteer_app.extensions import db
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
        "attendance.not_checked_in": ("尚未签到", "Not checked in"),
        "attendance.already_checked_in": ("已签到", "Already checked in"),
        "attendance.not_held": ("该任务当前不能签到", "This assignment cannot be checked in now"),
        "attendance.reason_required": (
            "与系统计算的时长不同，请填写原因",
            "A reason is required when the minutes differ from the computed figure",
        ),
    }
)

EARTH_RADIUS_M = 6_371_000


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> int:
    """Great-circle distance in whole metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return round(2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a))))


@dataclass(frozen=True)
class Place:
    """Where and when the service happens, and the site's tolerances."""

    lat: float
    lng: float
    start: datetime
    end: datetime
    radius_m: int
    grace_minutes: int

    @property
    def grace(self) -> timedelta:
        return timedelta(minutes=self.grace_minutes)


def computed_minutes(checkin_at: datetime, checkout_at: datetime, place: Place, places_ok: bool) -> int:
    """Whole minutes on site, counted only inside the service window; 0 if a place check failed (the
    manager may still confirm time at audit, with a reason)."""
    if not places_ok:
        return 0
    start, end = max(checkin_at, place.start), min(checkout_at, place.end)
    return max(0, int((end - start).total_seconds() // 60))


def window_minutes(place: Place) -> int:
    return int((place.end - place.start).total_seconds() // 60)


def check_in(assignment: Assignment, *, lat: float, lng: float, place: Place, now: datetime) -> None:
    """Record a check-in from `grace` before the window until its end; the distance is kept with
    pass/fail (a failed place check is recorded and shown at audit, not refused: GPS drifts indoors)."""
    if assignment.status == "checked_in":
        raise Conflict("attendance.already_checked_in")
    if assignment.status != "held":
        raise Conflict("attendance.not_held")
    if now < place.start - place.grace:
        raise Conflict("attendance.too_early", params={"grace": place.grace_minutes})
    if now > place.end:
        raise Conflict("attendance.too_late")
    distance = distance_m(lat, lng, place.lat, place.lng)
    assignment.status = "checked_in"
    assignment.checkin_at = now
    assignment.checkin_distance_m = distance
    assignment.checkin_ok = distance <= place.radius_m


def check_out(assignment: Assignment, *, lat: float, lng: float, place: Place, now: datetime) -> None:
    """Record a check-out up to `grace` after the window; later, a manager closes it."""
    if assignment.status != "checked_in":
        raise Conflict("attendance.not_checked_in")
    if now > place.end + place.grace:
        raise Conflict("attendance.checkout_late")
    distance = distance_m(lat, lng, place.lat, place.lng)
    assignment.status = "checked_out"
    assignment.checkout_at = now
    assignment.checkout_distance_m = distance
    assignment.checkout_ok = distance <= place.radius_m
    assignment.minutes_computed = computed_minutes(
        assignment.checkin_at, now, place, bool(assignment.checkin_ok and assignment.checkout_ok)
    )


def close(assignment: Assignment, *, place: Place, checkout_at: datetime, actor_id: int, reason: str) -> None:
    """A manager closes a missed check-out at a given time (within the window's end plus grace)."""
    if assignment.status != "checked_in":
        raise Conflict("attendance.not_checked_in")
    if checkout_at < assignment.checkin_at or checkout_at > place.end + place.grace:
        raise Unprocessable(
            "validation.failed",
            errors={"json": {"checkout_at": ["between the check-in and the window's end"]}},
        )
    assignment.status = "checked_out"
    assignment.checkout_at = checkout_at
    assignment.closed_by_id = actor_id
    assignment.close_reason = reason
    assignment.minutes_computed = computed_minutes(
        assignment.checkin_at, checkout_at, place, bool(assignment.checkin_ok)
    )


def no_show(assignment: Assignment, *, actor_id: int, reason: str) -> None:
    """A manager records that a holder never came (the slot stays counted: it was promised)."""
    if assignment.status != "held":
        raise Conflict("attendance.not_held")
    assignment.status = "no_show"
    assignment.closed_by_id = actor_id
    assignment.close_reason = reason
    assignment.minutes_computed = 0


def settle_absent(order_ids: list[int], now: datetime) -> None:
    """The service is over (completed or expired): holders who never checked in did not come, open
    offers lapse, so no assignment stays open on a finished order (nor counts as an open grab).
    Set-based; flushes only."""
    for status, values in (
        ("held", {"status": "no_show", "minutes_computed": 0}),
        ("offered", {"status": "cancelled"}),
    ):
        db.session.execute(
            update(Assignment)
            .where(Assignment.order_id.in_(order_ids), Assignment.status == status)
            .values(updated_at=now, **values)
            .execution_options(synchronize_session=False)
        )


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
    assignment.status = "audited"
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
