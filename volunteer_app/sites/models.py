"""The practice-site tree (center → institute → station), teams and the service catalogue."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, Float, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from volunteer_app.db import BigId, UTCDateTime, utcnow
from volunteer_app.extensions import db

SITE_KINDS = ("center", "institute", "station")
# The kind a child of each kind must have; a center has no parent.
CHILD_KIND = {"center": "institute", "institute": "station"}
# 考核: what a site's child sites are ranked by (reports/rankings.py); each is weighted by the
# `ranking_weights` setting.
RANKING_COMPONENTS = (
    "sessions",
    "service_minutes",
    "attendances",
    "satisfaction",
    "response",
    "coverage",
    "no_show_rate",
    "expired_share",
    "supervision",
    "follow_up",
)


class Site(db.Model):
    """A practice center, institute or station. `path` is the materialised path "/1/5/23/"."""

    __tablename__ = "sites"
    __table_args__ = (
        CheckConstraint("kind IN ('center', 'institute', 'station')", name="kind"),
        Index("ix_sites_path", "path", postgresql_ops={"path": "text_pattern_ops"}),
        Index("ix_sites_kind_lat_lng", "kind", "lat", "lng"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(80))
    code: Mapped[str | None] = mapped_column(String(32), unique=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    path: Mapped[str] = mapped_column(String(255), default="")
    address: Mapped[str | None] = mapped_column(String(200))
    lat: Mapped[float | None] = mapped_column(Float)
    lng: Mapped[float | None] = mapped_column(Float)
    # Overrides of the deployment's site defaults for this site and every site below it.
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def ancestor_ids(self) -> list[int]:
        """Ids from the root center down to this site (inclusive)."""
        return path_ids(self.path)


def path_ids(path: str) -> list[int]:
    """The site ids a path names, from the root center down ("/1/4/9/" → [1, 4, 9])."""
    return [int(part) for part in path.strip("/").split("/") if part]


class Team(db.Model):
    """A volunteer team owned by a site; teams nest (总队 → 队 → 大队 → 分队)."""

    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Category(db.Model):
    """An entry of the service catalogue (服务类别)."""

    __tablename__ = "categories"
    __table_args__ = (UniqueConstraint("code"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(40))
    name_zh: Mapped[str] = mapped_column(String(40))
    name_en: Mapped[str] = mapped_column(String(80))
    sort: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
