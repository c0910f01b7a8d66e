"""The scheduler's tables: `job_runs`, a claim per job occurrence (the runner's exactly-once key), and
`job_failures`, the occurrences that raised."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from volunteer_app.db import BigId, UTCDateTime, utcnow
from volunteer_app.extensions import db


class JobRun(db.Model):
    """One claimed occurrence of a job; finished_at and result are set when it finished."""

    __tablename__ = "job_runs"
    __table_args__ = (
        UniqueConstraint("job", "occurrence_key"),
        # The purge's cut and /metrics' window of the past day's runs.
        Index("ix_job_runs_started_at", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job: Mapped[str] = mapped_column(String(64))
    # The scheduled fire time as UTC ISO 8601, e.g. "2026-11-01T00:00:00Z" (sorts as time).
    occurrence_key: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[dict | None] = mapped_column(JSON)


class JobFailure(db.Model):
    """An occurrence that raised (its claim was rolled back or released, so job_runs does not show it):
    kept for /metrics and `flask doctor`, purged with job_runs."""

    __tablename__ = "job_failures"
    __table_args__ = (Index("ix_job_failures_job_failed_at", "job", "failed_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job: Mapped[str] = mapped_column(String(64))
    occurrence_key: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The exception's class and first line, e.g. "OperationalError: server closed the connection".
    error: Mapped[str | None] = mapped_column(String(200))
