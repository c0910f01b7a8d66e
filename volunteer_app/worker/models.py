"""The queue's one table: `work_items`, an item of background work from enqueue to done or dead."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from volunteer_app.db import BigId, UTCDateTime, utcnow
from volunteer_app.extensions import db


class WorkState(enum.StrEnum):
    """queued (waits for run_after), running (claimed until lease_until), done, failed (the last try
    failed: tried again from run_after, after a backoff), dead (out of attempts, with the last error)."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    DEAD = "dead"


class WorkItem(db.Model):
    """One piece of background work: what to run (kind, args), for whom, and how it went."""

    __tablename__ = "work_items"
    __table_args__ = (
        CheckConstraint("state IN ('queued', 'running', 'done', 'failed', 'dead')", name="state"),
        # The claim: queued or failed work that is due, in order; running work whose lease ran out.
        Index("ix_work_items_state_run_after_id", "state", "run_after", "id"),
        Index("ix_work_items_state_lease_until", "state", "lease_until"),
        Index("ix_work_items_owner_id", "owner_id"),
        Index("ix_work_items_result_expires_at", "result_expires_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    args: Mapped[dict] = mapped_column(JSON, default=dict)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    state: Mapped[str] = mapped_column(String(12), default=WorkState.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=5)
    run_after: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int | None] = mapped_column()
    result: Mapped[dict | None] = mapped_column(JSON)
    # A downloadable result (an export): GET /jobs/{id}/result serves it to the owner. A small one is
    # held in result_bytes; a large one in `result_chunks` rows of work_result_chunks (1 MiB each).
    result_name: Mapped[str | None] = mapped_column(String(200))
    result_type: Mapped[str | None] = mapped_column(String(100))
    result_bytes: Mapped[bytes | None] = mapped_column(LargeBinary)
    result_size: Mapped[int | None] = mapped_column(BigInteger)
    result_chunks: Mapped[int | None] = mapped_column()
    # After this the file is gone (the hourly purge deletes it; the download answers 410 at once).
    result_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WorkResultChunk(db.Model):
    """One piece (`queue.CHUNK` bytes, the last one shorter) of a large result file, in order: the file
    lives in the database, so any web server can serve what any worker made, without holding it whole."""

    __tablename__ = "work_result_chunks"

    item_id: Mapped[int] = mapped_column(ForeignKey("work_items.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)
