"""Activities and service-day rules."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, Date, Float, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from volunteer_app.activities.states import ActivityStatus
from volunteer_app.db import BigId, UTCDateTime, utcnow
from volunteer_app.extensions import db


class Activity(db.Model):
    """A site-organised event with `slots` places and an optional waitlist of `waitlist_max`.

    `taken` and `waiting` count the sign-ups holding a place and waiting for one; CHECKs bound both,
    so no race can overfill. A rule-generated activity carries its rule and local date, unique
    together: generating a month twice creates nothing new.
    """

    __tablename__ = "activities"
    __changes__ = staticmethod(lambda activity: ("activity", activity.id))  # statistics (changes.py)
    __table_args__ = (
        CheckConstraint("status IN ('open', 'closed', 'cancelled')", name="status"),
        CheckConstraint("taken >= 0 AND taken <= slots", name="slots"),
        CheckConstraint("waiting >= 0 AND waiting <= waitlist_max", name="waitlist"),
        CheckConstraint("end_at > start_at", name="window"),
        UniqueConstraint("rule_id", "local_date"),
        Index("ix_activities_site_start", "site_id", "start_at", "id"),
        # The volunteers' feed: open activities by place (a partial index holds only those).
        Index(
            "ix_activities_open_geo",
            "lat",
            "lng",
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),
        # The audit-overdue job: open activities by audit deadline, not yet escalated.
        Index(
            "ix_activities_audit_due",
            "audit_due_at",
            postgresql_where=text("status = 'open' AND escalated_at IS NULL"),
            sqlite_where=text("status = 'open' AND escalated_at IS NULL"),
        ),
        # The reminder job: open activities by start.
        Index(
            "ix_activities_open_start",
            "start_at",
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"))
    title: Mapped[str] = mapped_column(String(60))
    theme: Mapped[str | None] = mapped_column(String(60))
    description: Mapped[str | None] = mapped_column(String(1000))
    address: Mapped[str] = mapped_column(String(200))
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The skills it asks for (a JSON list of strings, at most a few): a volunteer with one of them fits
    # (orders/matching.py). Empty: anyone.
    skills: Mapped[list] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    slots: Mapped[int] = mapped_column()
    taken: Mapped[int] = mapped_column(default=0)
    waitlist_max: Mapped[int] = mapped_column(default=0)
    waiting: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(16), default=ActivityStatus.OPEN)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("service_day_rules.id"))
    local_date: Mapped[date | None] = mapped_column(Date)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    audited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    audit_note: Mapped[str | None] = mapped_column(String(500))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The end plus the site's audit_window_hours; past it, unaudited, the site's managers and those
    # above are told once (escalated_at).
    audit_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ServiceDayRule(db.Model):
    """A site's recurring service day: when (`spec`, see activities/rules.py), a theme, and the
    template each generated activity copies. Deactivated, not deleted: generated activities keep it."""

    __tablename__ = "service_day_rules"
    __table_args__ = (
        CheckConstraint("slots >= 1", name="slots"),
        CheckConstraint("waitlist_max >= 0", name="waitlist"),
        Index("ix_service_day_rules_site", "site_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    spec: Mapped[dict] = mapped_column(JSON)
    theme: Mapped[str] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(String(60))
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"))
    description: Mapped[str | None] = mapped_column(String(1000))
    address: Mapped[str] = mapped_column(String(200))
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    slots: Mapped[int] = mapped_column()
    waitlist_max: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
