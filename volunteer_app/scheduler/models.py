"""The scheduler's one table: `job_runs`, a claim per job occurrence (the runner's exactly-once key)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from volunteer_app.db import BigId, UTCDateTime, utcnow
from volunteer_app.extensions import db


class JobRun(db.Model):
    """One claimed occurrence of a job; finished_at and result are set when it finished."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job", "occurrence_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job: Mapped[str] = mapped_column(String(64))
    # The scheduled fire time as UTC ISO 8601, e.g. "2026-11-01T00:00:00Z" (sorts as time).
    occurrence_key: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[dict | None] = mapped_column(JSON)
