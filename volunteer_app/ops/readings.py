"""What the database says about the service's running parts, read for /metrics (collector.py) and for
`flask doctor` (doctor.py): the two queues (the work queue, work_items; the notification outbox), the
scheduler's job runs and failures, the last ledger verification, the heartbeats. Each function takes a
connection and reads with a few indexed queries (a scrape comes every few seconds)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select

from volunteer_app import heartbeats
from volunteer_app.notifications import delivery
from volunteer_app.notifications.models import OutboxMessage, OutboxStatus
from volunteer_app.scheduler.models import JobFailure, JobRun
from volunteer_app.scheduler.registry import registered
from volunteer_app.timebank.jobs import VERIFY
from volunteer_app.worker import queue as work_queue
from volunteer_app.worker.models import WorkItem, WorkState

WINDOW = timedelta(hours=24)  # job runs and failures are counted over this past window

# The unfinished states of each queue (done, sent and skipped rows are history, purged by age).
WORK_STATES = (WorkState.QUEUED, WorkState.RUNNING, WorkState.FAILED, WorkState.DEAD)
OUTBOX_STATES = (OutboxStatus.PENDING, OutboxStatus.SENDING, OutboxStatus.FAILED, OutboxStatus.DEAD)


@dataclass
class Queue:
    name: str  # "work" | "outbox"
    states: dict[str, int]  # unfinished rows by state (dead included)
    due: int  # rows a worker would take now
    oldest_due: datetime | None  # since when the longest-waiting due row has been due

    @property
    def dead(self) -> int:
        return self.states.get("dead", 0)

    def oldest_due_age(self, now: datetime) -> float:
        return max((now - self.oldest_due).total_seconds(), 0.0) if self.oldest_due else 0.0


def queues(conn, now: datetime) -> list[Queue]:
    """The work queue and the outbox: rows by state, due rows (as the workers' claims define them:
    worker.queue.due, notifications.delivery.due), and the oldest due time."""
    work_states = dict(
        conn.execute(
            select(WorkItem.state, func.count())
            .where(WorkItem.state.in_(WORK_STATES))
            .group_by(WorkItem.state)
        ).all()
    )
    # A due running item is one whose lease ran out (a dead worker's, taken again): due since then.
    work_due = conn.execute(
        select(
            func.count(),
            func.min(
                case((WorkItem.state == WorkState.RUNNING, WorkItem.lease_until), else_=WorkItem.run_after)
            ),
        ).where(work_queue.due(now))
    ).one()
    outbox_states = dict(
        conn.execute(
            select(OutboxMessage.status, func.count())
            .where(OutboxMessage.status.in_(OUTBOX_STATES))
            .group_by(OutboxMessage.status)
        ).all()
    )
    outbox_due = conn.execute(
        select(func.count(), func.min(OutboxMessage.next_try_at)).where(*delivery.due(now))
    ).one()
    return [
        Queue("work", {str(k): int(v) for k, v in work_states.items()}, int(work_due[0]), work_due[1]),
        Queue(
            "outbox", {str(k): int(v) for k, v in outbox_states.items()}, int(outbox_due[0]), outbox_due[1]
        ),
    ]


@dataclass
class JobStats:
    job: str
    ok: int = 0  # finished occurrences started in the window
    unfinished: int = 0  # claimed, not finished (running now, or a self-committing job whose process died)
    failed: int = 0  # occurrences that raised in the window (job_failures)
    mean_seconds: float | None = None  # run time of the finished ones (None: none finished)
    max_seconds: float | None = None
    last_success: datetime | None = None
    last_failure: datetime | None = None


def _seconds(conn, start, end):
    """SQL: the seconds from `start` to `end` (two timestamps) on the connection's database."""
    if conn.dialect.name == "postgresql":
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def jobs(conn, now: datetime) -> dict[str, JobStats]:
    """Per registered job: the past WINDOW's runs by outcome and run times (counted in the database, by
    the index on started_at), its last success and failure."""
    stats = {job_id: JobStats(job_id) for job_id in registered()}
    since = now - WINDOW
    took = _seconds(conn, JobRun.started_at, JobRun.finished_at)
    rows = conn.execute(
        select(JobRun.job, func.count(), func.count(JobRun.finished_at), func.avg(took), func.max(took))
        .where(JobRun.started_at >= since)
        .group_by(JobRun.job)
    )
    for job, claimed, finished, mean, longest in rows:
        entry = stats.setdefault(job, JobStats(job))
        entry.ok, entry.unfinished = int(finished), int(claimed - finished)
        if finished:
            entry.mean_seconds, entry.max_seconds = max(float(mean), 0.0), max(float(longest), 0.0)
    for job, count in conn.execute(
        select(JobFailure.job, func.count()).where(JobFailure.failed_at >= since).group_by(JobFailure.job)
    ):
        stats.setdefault(job, JobStats(job)).failed = int(count)
    for job_id, entry in stats.items():
        entry.last_success = conn.scalar(
            select(JobRun.finished_at)
            .where(JobRun.job == job_id, JobRun.finished_at.is_not(None))
            .order_by(JobRun.occurrence_key.desc())
            .limit(1)
        )
        entry.last_failure = conn.scalar(
            select(func.max(JobFailure.failed_at)).where(JobFailure.job == job_id)
        )
    return stats


@dataclass
class Verification:
    at: datetime | None  # when the last verification that finished ended (None: never)
    ok: bool | None
    problems: int
    first_problem: str | None
    failed_at: datetime | None  # the last time the job raised instead (no verdict)


def last_verification(conn) -> Verification:
    """The nightly timebank.verify job's last verdict: its result in job_runs ({"ok": true, ...} or
    {"ok": false, "problems": n, "first": "..."}), and its last failure to run at all."""
    row = conn.execute(
        select(JobRun.finished_at, JobRun.result)
        .where(JobRun.job == VERIFY.id, JobRun.finished_at.is_not(None))
        .order_by(JobRun.occurrence_key.desc())
        .limit(1)
    ).first()
    failed_at = conn.scalar(select(func.max(JobFailure.failed_at)).where(JobFailure.job == VERIFY.id))
    if row is None:
        return Verification(None, None, 0, None, failed_at)
    result = row.result or {}
    ok = bool(result.get("ok"))
    return Verification(
        row.finished_at, ok, 0 if ok else int(result.get("problems") or 1), result.get("first"), failed_at
    )


def beats(conn) -> dict[str, tuple[datetime, int]]:
    """Per kind (worker, scheduler): the newest heartbeat and how many processes beat recently."""
    return heartbeats.latest(conn)
