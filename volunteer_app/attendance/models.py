"""An assignment: one volunteer's slot on an order or an activity, and its attendance."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from volunteer_app.db import BigId, UTCDateTime, utcnow
from volunteer_app.extensions import db


class AssignmentStatus(enum.StrEnum):
    """offered: a manager named the volunteer, awaiting accept/decline. held: accepted or grabbed (a
    slot). checked_in / checked_out: on site. audited: minutes confirmed and credited. waitlisted: an
    activity's sign-up waiting for a place (moved to held, oldest first, when one frees). The rest are
    ends. The values are stored and are the API's strings."""

    OFFERED = "offered"
    WAITLISTED = "waitlisted"
    HELD = "held"
    CHECKED_IN = "checked_in"
    CHECKED_OUT = "checked_out"
    AUDITED = "audited"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"


# Statuses that occupy one of the order's slots.
SLOT_STATUSES = (
    AssignmentStatus.HELD,
    AssignmentStatus.CHECKED_IN,
    AssignmentStatus.CHECKED_OUT,
    AssignmentStatus.AUDITED,
    AssignmentStatus.NO_SHOW,
)
ASSIGNMENT_KINDS = ("offer", "grab", "signup")
# How a check-in or check-out showed the volunteer on site: a position within the radius, or a valid
# rotating check-in code (attendance/codes.py) scanned there.
CHECK_METHODS = ("gps", "qr")


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


class Assignment(db.Model):
    """A volunteer's offer or slot on an order, or sign-up on an activity; check-in/out store distance
    and pass/fail, never tracks."""

    __tablename__ = "assignments"
    # Statistics count the order or activity again (volunteer_app/changes.py).
    __changes__ = staticmethod(
        lambda a: ("order", a.order_id) if a.order_id is not None else ("activity", a.activity_id)
    )
    __table_args__ = (
        # One slot per volunteer per order, however many times the phone is pressed.
        UniqueConstraint("order_id", "volunteer_id"),
        UniqueConstraint("activity_id", "volunteer_id"),
        # Each assignment belongs to exactly one order or one activity.
        CheckConstraint("(order_id IS NULL) <> (activity_id IS NULL)", name="owner"),
        CheckConstraint(_in("status", AssignmentStatus), name="status"),
        CheckConstraint(_in("kind", ASSIGNMENT_KINDS), name="kind"),
        CheckConstraint("minutes_confirmed IS NULL OR minutes_confirmed >= 0", name="minutes"),
        CheckConstraint(_in("checkin_method", CHECK_METHODS), name="checkin_method"),
        CheckConstraint(_in("checkout_method", CHECK_METHODS), name="checkout_method"),
        Index("ix_assignments_volunteer_status", "volunteer_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))  # indexed by the unique pair
    activity_id: Mapped[int | None] = mapped_column(ForeignKey("activities.id"))  # likewise
    # The order's station (the activity's site), copied so reach is one indexed condition.
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    offered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    held_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When a sign-up joined the waitlist: the oldest moves up first.
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checkin_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checkin_distance_m: Mapped[int | None] = mapped_column()
    checkin_ok: Mapped[bool | None] = mapped_column()
    checkin_method: Mapped[str | None] = mapped_column(String(4))  # gps | qr; null before a check-in
    checkout_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checkout_distance_m: Mapped[int | None] = mapped_column()
    checkout_ok: Mapped[bool | None] = mapped_column()
    # gps | qr; null when not checked out by the volunteer (a manager's close says so in closed_by_id).
    checkout_method: Mapped[str | None] = mapped_column(String(4))
    # Set by a manager closing a missed check-out or marking a no-show.
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    close_reason: Mapped[str | None] = mapped_column(String(500))
    minutes_computed: Mapped[int | None] = mapped_column()
    minutes_confirmed: Mapped[int | None] = mapped_column()
    audit_reason: Mapped[str | None] = mapped_column(String(500))
    transfer_id: Mapped[int | None] = mapped_column(ForeignKey("time_transfers.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CheckinCodeUse(db.Model):
    """One volunteer's use of one rotating check-in code (attendance/codes.py), for a check-in or a
    check-out: a code stands for one sighting, so the same volunteer cannot use it twice (409
    `attendance.qr_replayed`). A displayed code is scanned by everyone present, so "used" is per
    volunteer. A code is named by what it was issued for (`place_kind`, `place_id`) and when
    (`issued_at`, the start of its rotation window): the same triple is the same code."""

    __tablename__ = "checkin_code_uses"
    __table_args__ = (
        UniqueConstraint("volunteer_id", "place_kind", "place_id", "issued_at"),
        CheckConstraint("place_kind IN ('site', 'activity')", name="place_kind"),
        CheckConstraint("action IN ('check_in', 'check_out')", name="action"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    place_kind: Mapped[str] = mapped_column(String(8))
    place_id: Mapped[int] = mapped_column(BigInteger)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"), index=True)
    action: Mapped[str] = mapped_column(String(9))
    used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
