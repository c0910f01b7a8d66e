"""The exactly-once runner: a job's occurrences, which are due, and running each one once.

Occurrences. A job's occurrences are the fire times of its cron trigger (APScheduler's `CronTrigger`
in the scheduler time zone, `[scheduler] timezone`), so every process computes the same ones. An
occurrence is named by its fire time in UTC, `"2026-11-01T00:00:00Z"`.

Exactly once. `run_occurrence` INSERTs the claim `(job, occurrence_key)` into `job_runs` (unique) in
the same transaction as the job's effects and commits both together. A second process that tries the
same occurrence fails on the unique key (on PostgreSQL it waits for the first to commit or roll back)
and skips; a job that raises is rolled back with its claim, so it is retried at the next firing while
the occurrence is still inside the job's catch-up window. A process killed mid-job leaves nothing.

Honest exception: jobs declared with `commits=True` (order deadlines, notification delivery,
redemption expiry, the purge) commit per batch themselves and may roll back when they find nothing, so
their claim is committed on its own just before the job starts. If such a job raises, its claim is
deleted again (it is retried); if the process dies mid-job, the claim stays and that occurrence is not
retried. That is safe because each of these jobs is conditional and idempotent (it moves only rows
still due) and runs every few minutes: the next occurrence finishes the work. No batch is ever applied
twice by them anyway.

Catch-up. `run_due(now)` runs, for each job, the occurrences in `(now - catch_up, now]` not yet
claimed: all of them (at most MAX_OCCURRENCES) for monthly-style jobs, only the newest for the sweeps
(`coalesce=True`: one sweep at 12:05 does what 12:03 would have). `flask scheduler run` calls it at
start-up, and every APScheduler firing of a job calls it for that job, so a firing also repairs what
an earlier stop missed. Windows can be widened per job in `[scheduler.catch_up_minutes]`.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, null, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from volunteer_app.db import utcnow
from volunteer_app.extensions import db
from volunteer_app.logs import bound_contextvars, is_idle, new_id
from volunteer_app.scheduler.models import JobFailure, JobRun
from volunteer_app.scheduler.registry import Job, catch_up, job_runs_keep, registered, scheduler_timezone

log = logging.getLogger(__name__)

KEY_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# Most occurrences of one job run by one run_due (the newest are kept): bounds memory and work when
# a window is wide (a monthly job has one or two in any sane window).
MAX_OCCURRENCES = 50
# Most fire times enumerated for one job per run_due (an every-minute job over a wide window).
MAX_STEPS = 100_000


# ---- occurrences -------------------------------------------------------------------------------------


def occurrence_key(fire_time: datetime) -> str:
    return fire_time.astimezone(UTC).strftime(KEY_FORMAT)


def occurrences(
    job: Job, after: datetime, until: datetime, *, tz: str, limit: int = MAX_OCCURRENCES
) -> list[datetime]:
    """The job's fire times in (after, until], oldest first, as aware UTC; only the newest `limit`."""
    trigger = job.trigger(tz)
    if limit == 1:
        # Only the newest is wanted: look back a little first, so an every-minute job over a wide
        # window does not walk every minute of it.
        for lookback in (timedelta(hours=2), timedelta(days=2), timedelta(days=64)):
            start = max(after, until - lookback)
            newest = _fire_times(job, trigger, start, until, 1)
            if newest or start == after:
                return newest
    return _fire_times(job, trigger, after, until, limit)


def _fire_times(job: Job, trigger, after: datetime, until: datetime, limit: int) -> list[datetime]:
    kept: deque[datetime] = deque(maxlen=limit)
    fire = trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
    for _ in range(MAX_STEPS):
        if fire is None or fire > until:
            break
        kept.append(fire.astimezone(UTC))
        fire = trigger.get_next_fire_time(None, fire + timedelta(microseconds=1))
    else:
        log.warning("job %s: more than %d fire times in its window; later ones dropped", job.id, MAX_STEPS)
    return list(kept)


def due(job: Job, now: datetime) -> list[datetime]:
    """Fire times of `job` inside its catch-up window ending at `now` that nobody has claimed yet."""
    fires = occurrences(
        job, now - catch_up(job), now, tz=scheduler_timezone(), limit=1 if job.coalesce else MAX_OCCURRENCES
    )
    if not fires:
        return []
    keys = [occurrence_key(f) for f in fires]
    claimed = set(
        db.session.scalars(
            select(JobRun.occurrence_key).where(JobRun.job == job.id, JobRun.occurrence_key.in_(keys))
        )
    )
    db.session.rollback()  # end the read: each occurrence runs in its own transaction
    return [f for f, key in zip(fires, keys, strict=True) if key not in claimed]


# ---- running -----------------------------------------------------------------------------------------


def _jsonable(result: Any) -> dict | None:
    if result is None:
        return None
    if not isinstance(result, dict):
        result = {"count": result} if isinstance(result, int) else {"value": result}
    return json.loads(json.dumps(result, default=str))


def run_occurrence(job: Job, fire_time: datetime) -> str:
    """Run one occurrence exactly once (see the module docstring). Returns "ran", "skipped" (claimed
    by someone else) or "failed" (rolled back and logged, retried while inside the window). Every line
    it causes carries the job, the occurrence and an id of this run (a retry is another run)."""
    fire_time = fire_time.astimezone(UTC)
    key = occurrence_key(fire_time)
    with bound_contextvars(job=job.id, occurrence=key, run_id=new_id()):
        return _run_occurrence(job, fire_time, key)


def _run_occurrence(job: Job, fire_time: datetime, key: str) -> str:
    started = time.monotonic()
    started_at = utcnow()
    session = db.session
    try:
        session.execute(insert(JobRun).values(job=job.id, occurrence_key=key, started_at=started_at))
        if job.commits:
            session.commit()
    except IntegrityError:
        session.rollback()
        log.debug("job %s occurrence %s: already claimed", job.id, key)
        return "skipped"
    except DBAPIError:  # SQLite busy past its timeout, a lost connection: try again next time
        session.rollback()
        log.warning("job %s occurrence %s: could not claim", job.id, key, exc_info=True)
        return "failed"
    try:
        result = _jsonable(job.run(now=fire_time))
        _finish(job.id, key, started_at, result)
        session.commit()
    except Exception:
        session.rollback()
        log.exception("job %s occurrence %s failed after %.2fs", job.id, key, time.monotonic() - started)
        if job.commits:
            _release(job.id, key)
        _record_failure(job.id, key, started_at)
        return "failed"
    # A run that found nothing to do (the every-minute sweeps, mostly) is not worth a line at INFO.
    log.log(
        logging.DEBUG if is_idle(result) else logging.INFO,
        "job %s occurrence %s done in %.2fs: %s",
        job.id,
        key,
        time.monotonic() - started,
        json.dumps(result, ensure_ascii=False),
    )
    return "ran"


def _finish(job_id: str, key: str, started_at: datetime, result: dict | None) -> None:
    """Record the end on the claim; a job that rolled its transaction back took the claim with it,
    so claim again (a conflict now means another process ran it meanwhile: the job fails, rolled back)."""
    values = {"finished_at": utcnow(), "result": null() if result is None else result}
    mine = (JobRun.job == job_id) & (JobRun.occurrence_key == key)
    if _rowcount(update(JobRun).where(mine).values(**values)) == 0:
        db.session.execute(
            insert(JobRun).values(job=job_id, occurrence_key=key, started_at=started_at, **values)
        )


def _rowcount(statement) -> int:
    return db.session.execute(statement, execution_options={"synchronize_session": False}).rowcount


def _release(job_id: str, key: str) -> None:
    """Delete a committed claim of a failed self-committing job, so it is tried again."""
    try:
        db.session.execute(delete(JobRun).where(JobRun.job == job_id, JobRun.occurrence_key == key))
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("job %s occurrence %s: could not release the claim", job_id, key)


def _record_failure(job_id: str, key: str, started_at: datetime) -> None:
    """Note the failed occurrence in job_failures (for /metrics and `flask doctor`), on its own."""
    exc = sys.exception()  # (called from the except clause)
    error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    try:
        db.session.execute(
            insert(JobFailure).values(
                job=job_id, occurrence_key=key, started_at=started_at, error=error[:200]
            )
        )
        db.session.commit()
    except Exception:  # the database that made the job fail may be away: the log line says it all
        db.session.rollback()
        log.warning("job %s occurrence %s: failure not recorded", job_id, key)


def run_due(now: datetime | None = None, *, jobs: Iterable[Job] | None = None) -> list[tuple[str, str, str]]:
    """Run every due, unclaimed occurrence of `jobs` (default the app's) at `now`; returns
    (job id, occurrence key, outcome) for each tried. Never raises for a job's failure."""
    now = (now or utcnow()).astimezone(UTC)
    outcomes = []
    for job in registered().values() if jobs is None else jobs:
        try:
            fires = due(job, now)
        except Exception:
            db.session.rollback()
            log.exception("job %s: could not list its due occurrences", job.id)
            continue
        for fire in fires:
            outcomes.append((job.id, occurrence_key(fire), run_occurrence(job, fire)))
    return outcomes


# ---- housekeeping ------------------------------------------------------------------------------------


def purge_job_runs(now: datetime) -> int:
    """Delete claims older than `job_runs_keep_days`, never one that a catch-up window could still
    reach (the widest window of the app's jobs, plus a day). Commits; returns the count."""
    widest = max(catch_up(job) for job in registered().values()) + timedelta(days=1)
    runs = _rowcount(delete(JobRun).where(JobRun.started_at < now - max(job_runs_keep(), widest)))
    _rowcount(delete(JobFailure).where(JobFailure.failed_at < now - job_runs_keep()))
    db.session.commit()
    return runs
