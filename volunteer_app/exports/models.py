"""The trace of every export: who asked for what, of which site, with which parameters, when, and how
many rows left the system (written at the request, completed when the file is made)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from volunteer_app.db import BigId, UTCDateTime, utcnow
from volunteer_app.extensions import db


class ExportStatus(enum.StrEnum):
    """requested: queued or running (see the job); done: the file was made, `rows` rows."""

    REQUESTED = "requested"
    DONE = "done"


class ExportRecord(db.Model):
    """One export: the caller, the kind, the site (null for a book of someone with no station), the
    format and parameters (period, volunteer, language), the job that makes it, and once done the
    rows written and the file's name. Never deleted with the file: the trace outlives it."""

    __tablename__ = "export_records"
    __table_args__ = (
        CheckConstraint("status IN ('requested', 'done')", name="status"),
        CheckConstraint("format IN ('csv', 'xlsx')", name="format"),
        Index("ix_export_records_site_id_id", "site_id", "id"),
        Index("ix_export_records_user_id_id", "user_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    kind: Mapped[str] = mapped_column(String(40))
    format: Mapped[str] = mapped_column(String(8))
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("work_items.id"))
    status: Mapped[str] = mapped_column(String(12), default=ExportStatus.REQUESTED)
    rows: Mapped[int | None] = mapped_column()
    file_name: Mapped[str | None] = mapped_column(String(200))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
