"""Users, role grants, volunteer profiles and real-name volunteer applications."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from volunteer_app.db import BigId, UTCDateTime, utcnow
from volunteer_app.extensions import db

ROLES = ("resident", "volunteer", "team_leader", "manager", "admin")


class ApplicationStatus(enum.StrEnum):
    """A volunteer application: waiting for review, then approved or rejected (stored, API strings)."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class User(db.Model):
    """Anyone registered. Phone is E.164; the ID number is stored encrypted plus a keyed hash."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(40))
    home_site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    real_name: Mapped[str | None] = mapped_column(String(40))
    id_number_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    id_number_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    id_number_masked: Mapped[str | None] = mapped_column(String(18))
    is_active: Mapped[bool] = mapped_column(default=True)
    # Leaderboards show the name in full only when its owner opted in (PATCH /me); masked otherwise.
    show_name_on_leaderboard: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Set when the person closed the account (POST /me/close, volunteer_app/personal/closing.py): the
    # personal fields are erased or pseudonymised and it signs in no more (is_active is false too).
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RoleGrant(db.Model):
    """One (role, scope) a user holds. `scope` is "-", "site:<id>" or "team:<id>" so it can be unique."""

    __tablename__ = "role_grants"
    __table_args__ = (
        UniqueConstraint("user_id", "role", "scope"),
        CheckConstraint("role IN ('resident', 'volunteer', 'team_leader', 'manager', 'admin')", name="role"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    scope: Mapped[str] = mapped_column(String(32), default="-")
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @staticmethod
    def scope_for(site_id: int | None = None, team_id: int | None = None) -> str:
        if team_id is not None:
            return f"team:{team_id}"
        if site_id is not None:
            return f"site:{site_id}"
        return "-"


class VolunteerProfile(db.Model):
    """An approved volunteer: volunteer number, home station, skills and preferred categories."""

    __tablename__ = "volunteer_profiles"
    __changes__ = staticmethod(lambda profile: ("volunteer", profile.user_id))  # statistics (changes.py)
    # The statistics count approved volunteers per site and period.
    __table_args__ = (Index("ix_volunteer_profiles_site_id_approved_at", "site_id", "approved_at"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    volunteer_no: Mapped[str] = mapped_column(String(24), unique=True)
    skills: Mapped[list] = mapped_column(JSON, default=list)
    category_ids: Mapped[list] = mapped_column(JSON, default=list)
    approved_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class VolunteerApplication(db.Model):
    """A resident's real-name application to volunteer at a station, reviewed by a manager in reach."""

    __tablename__ = "volunteer_applications"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="status"),
        # At most one pending application per person (both databases support partial indexes).
        Index(
            "uq_volunteer_applications_user_pending",
            "user_id",
            unique=True,
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index("ix_volunteer_applications_site_status_id", "site_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    real_name: Mapped[str] = mapped_column(String(40))
    id_number_enc: Mapped[bytes] = mapped_column(LargeBinary)
    id_number_hash: Mapped[str] = mapped_column(String(64), index=True)
    id_number_masked: Mapped[str] = mapped_column(String(18))
    skills: Mapped[list] = mapped_column(JSON, default=list)
    category_ids: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str | None] = mapped_column(String(500))
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    applicant: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")


class TeamMember(db.Model):
    """A volunteer's membership of a team."""

    __tablename__ = "team_members"

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)
    is_leader: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IdNumberViewer(db.Model):
    """A manager an admin allowed to see unmasked ID numbers (of volunteers in the manager's reach).
    Admins need no row: they may look, and grant this. Every look is written to IdNumberAccess."""

    __tablename__ = "id_number_viewers"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True, autoincrement=False)
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IdNumberAccess(db.Model):
    """One look at an unmasked ID number: who looked, at whose, when and why. Append-only (an UPDATE is
    refused by a trigger, migration 0027); the retention job deletes rows older than
    `[retention] id_number_access_log_days`."""

    __tablename__ = "id_number_access_log"
    __table_args__ = (Index("ix_id_number_access_log_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    viewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    reason: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
