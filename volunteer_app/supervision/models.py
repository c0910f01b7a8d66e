"""The supervision records and their one timeline. Statuses are written only by supervision/states.py.

- SupervisionItem (督办): raised by a site's managers against a site in their reach; the acting site
  reports it done, the raising site closes it (销号) or sends it back.
- Complaint (诉求): a resident's complaint about their own order, answered by the dispatch site.
- Appeal: a volunteer's appeal of an audit that cut their minutes, or of a no-show mark; decided one
  level up; an upheld appeal credits the difference through the ledger (kind "appeal").
- FollowUp (回访): a call to the resident after an order closed, for the serving station.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from volunteer_app.db import BigId, UTCDateTime, utcnow
from volunteer_app.extensions import db


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


class Level(enum.StrEnum):
    """三色单: how urgent an item is. Each has a default deadline (`supervision_due_days` setting)."""

    RED = "red"
    YELLOW = "yellow"
    GREEN = "green"


class ItemStatus(enum.StrEnum):
    OPEN = "open"  # the acting site works on it (also after being sent back)
    REPORTED = "reported"  # the acting site reported it done; the raising site confirms
    CLOSED = "closed"  # 销号
    WITHDRAWN = "withdrawn"  # the raising site took it back


class ComplaintStatus(enum.StrEnum):
    OPEN = "open"  # waiting for the dispatch site's answer (also after the resident reopened it)
    ANSWERED = "answered"  # answered with a resolution the resident sees
    CLOSED = "closed"  # the resident accepted the answer
    WITHDRAWN = "withdrawn"  # the resident took it back


class AppealStatus(enum.StrEnum):
    PENDING = "pending"
    UPHELD = "upheld"  # in whole or in part: the difference was credited
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class FollowUpStatus(enum.StrEnum):
    PENDING = "pending"  # to call (also after a call that did not reach the resident)
    DONE = "done"  # the resident was reached and the outcome recorded
    UNREACHABLE = "unreachable"  # given up after calls that did not reach


# What an item may be about, besides the site itself.
ABOUT_KINDS = ("order", "activity", "figure", "complaint")
COMPLAINT_CATEGORIES = {
    "service_quality": ("服务质量", "Quality of the service"),
    "conduct": ("志愿者言行", "A volunteer's conduct"),
    "no_show": ("志愿者未到", "No volunteer came"),
    "timeliness": ("响应不及时", "Too slow"),
    "other": ("其他", "Other"),
}
APPEAL_KINDS = ("cut", "no_show")  # an audit that confirmed fewer minutes than computed; a no-show mark
FOLLOW_UP_REASONS = ("low_rating", "unrated", "sample")
SUBJECTS = ("item", "complaint", "appeal", "follow_up")


class SupervisionEvent(db.Model):
    """One line of the timeline of an item, complaint, appeal or follow-up: every transition writes
    exactly one (supervision/states.py). Append-only."""

    __tablename__ = "supervision_events"
    __table_args__ = (
        CheckConstraint(_in("subject", SUBJECTS), name="subject"),
        Index("ix_supervision_events_subject", "subject", "subject_id", "id"),
        # The statistics: what happened in a period (closed, answered, decided, called …).
        Index("ix_supervision_events_action_at", "subject", "action", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subject: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(24))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: the deadline job
    note: Mapped[str | None] = mapped_column(String(1000))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SupervisionItem(db.Model):
    """A 督办 item: `raised_site_id`'s managers ask `site_id`'s managers to act by `due_at`."""

    __tablename__ = "supervision_items"
    __table_args__ = (
        CheckConstraint(_in("status", ItemStatus), name="status"),
        CheckConstraint(_in("level", Level), name="level"),
        CheckConstraint(f"about_kind IS NULL OR {_in('about_kind', ABOUT_KINDS)}", name="about_kind"),
        Index("ix_supervision_items_site_status", "site_id", "status", "id"),
        Index("ix_supervision_items_raised_site_status", "raised_site_id", "status", "id"),
        Index("ix_supervision_items_site_created_at", "site_id", "created_at"),
        # The deadline sweep: open items past due not yet escalated.
        Index(
            "ix_supervision_items_due_at",
            "escalated_at",
            "due_at",
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    raised_site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))  # whose managers raised it
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))  # the site that must act
    raised_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    subject: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(2000))
    level: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set when the deadline passed and the acting site's parent was told (the level turned red);
    # cleared by every change of state.
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What it is about, besides the site: an order, an activity, a complaint, or a figure of the
    # statistics (about_ref, e.g. "expired_share:2026-11").
    about_kind: Mapped[str | None] = mapped_column(String(16))
    about_id: Mapped[int | None] = mapped_column(BigInteger)
    about_ref: Mapped[str | None] = mapped_column(String(100))
    result: Mapped[str | None] = mapped_column(String(2000))  # what was done (the report)
    reopened: Mapped[int] = mapped_column(default=0)  # times sent back
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Complaint(db.Model):
    """A resident's 诉求 about their own order, for the managers of the order's dispatch site."""

    __tablename__ = "complaints"
    __table_args__ = (
        CheckConstraint(_in("status", ComplaintStatus), name="status"),
        CheckConstraint(_in("category", COMPLAINT_CATEGORIES), name="category"),
        Index("ix_complaints_site_status", "site_id", "status", "id"),
        Index("ix_complaints_resident_id", "resident_id", "id"),
        Index("ix_complaints_order_id", "order_id"),
        Index("ix_complaints_site_created_at", "site_id", "created_at"),
        Index(
            "ix_complaints_due_at",
            "escalated_at",
            "due_at",
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    resident_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))  # the order's dispatch site when raised
    category: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution: Mapped[str | None] = mapped_column(String(2000))
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reopened: Mapped[int] = mapped_column(default=0)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("supervision_items.id"))  # 督办 it triggered
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Appeal(db.Model):
    """A volunteer's appeal of one assignment's audit cut or no-show mark: once per assignment."""

    __tablename__ = "appeals"
    __table_args__ = (
        UniqueConstraint("assignment_id"),  # once
        CheckConstraint(_in("status", AppealStatus), name="status"),
        CheckConstraint(_in("kind", APPEAL_KINDS), name="kind"),
        CheckConstraint("minutes_granted IS NULL OR minutes_granted >= 0", name="granted"),
        Index("ix_appeals_deciding_site_status", "deciding_site_id", "status", "id"),
        Index("ix_appeals_volunteer_id", "volunteer_id", "id"),
        Index("ix_appeals_site_created_at", "site_id", "created_at"),  # the statistics
        Index(
            "ix_appeals_due_at",
            "escalated_at",
            "due_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"))
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))  # the assignment's (audited) site
    deciding_site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))  # one level up
    kind: Mapped[str] = mapped_column(String(8))
    minutes_before: Mapped[int] = mapped_column()  # confirmed by the audit (0 for a no-show)
    minutes_claimed: Mapped[int] = mapped_column()  # what the volunteer asks for in all
    reason: Mapped[str] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    minutes_granted: Mapped[int | None] = mapped_column()  # the total after the decision
    decision_note: Mapped[str | None] = mapped_column(String(1000))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    transfer_id: Mapped[int | None] = mapped_column(ForeignKey("time_transfers.id"))  # the credit
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class FollowUp(db.Model):
    """A 回访 task: the serving station calls the resident after the order closed. One per order."""

    __tablename__ = "follow_ups"
    __table_args__ = (
        UniqueConstraint("order_id"),
        CheckConstraint(_in("status", FollowUpStatus), name="status"),
        CheckConstraint(_in("reason", FOLLOW_UP_REASONS), name="reason"),
        CheckConstraint("satisfaction IS NULL OR satisfaction BETWEEN 1 AND 5", name="satisfaction"),
        Index("ix_follow_ups_site_status", "site_id", "status", "id"),
        Index("ix_follow_ups_site_created_at", "site_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))  # the serving station (order.site_id)
    reason: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0)  # calls made
    reached: Mapped[bool | None] = mapped_column()  # the last call's outcome
    satisfaction: Mapped[int | None] = mapped_column()  # 1–5, from the call that reached
    notes: Mapped[str | None] = mapped_column(String(2000))
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
