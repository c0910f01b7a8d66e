"""The job scheduler: the registry of periodic jobs (data), the exactly-once runner, the process.

Occurrences. A job's occurrences are the fire times of its cron trigger (APScheduler's `CronTrigger`
in the scheduler time zone, `[scheduler] timezone`), so every process computes the same ones. An
occurrence is named by its fire time in UTC, `"2026-11-01T00:00:00Z"`.

Exactly once. `run_occurrence` INSERTs the claim `(job, occurrence_key)` into `job_runs` (unique) in
the same transaction as the job's effects and commits both together. A second process that tries the
same occurrence fails on the unique key (on PostgreSQL it waits for the first to commit or roll back)
and skips; a job that raises is rolled back with its claim, so it is retried at the next firing while
the occurrence is still inside the job's catch-up window. A process killed mid-job leaves nothing.

Honest exception: jobs marked `commits=True` (order deadlines, notification delivery, redemption expiry,
the purge) commit per batch themselves and may roll back when they find nothing, so their claim is
committed on its own just before the job starts. If such a job raises, its claim is deleted again (it
is retried); if the process dies mid-job, the claim stays and that occurrence is not retried. That is
safe because each of these jobs is conditional and idempotent (it moves only rows still due) and runs
every few minutes: the next occurrence finishes the work. No batch is ever applied twice by them anyway.

Catch-up. `run_due(now)` runs, for each job, the occurrences in `(now - catch_up, now]` not yet
claimed: all of them (at most MAX_OCCURRENCES) for monthly-style jobs, only the newest for the sweeps
(`coalesce=True`: one sweep at 12:05 does what 12:03 would have). `flask scheduler run` calls it at
start-up, and every APScheduler firing of a job calls it for that job, so a firing also repairs what
an earlier stop missed. Windows can be widened per job in `[scheduler.catch_up_minutes]`.
"""

from __future__ import annotations

import importlib
import json
import logging
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import JSON, String, UniqueConstraint, delete, func, insert, null, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from volunteer_app.db import BigId, UTCDateTime, utcnow
from volunteer_app.extensions import db

log = logging.getLogger(__name__)

KEY_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# Most occurrences of one job run by one run_due (the newest are kept): bounds memory and work when
# a window is wide (a monthly job has one or two in any sane window).
MAX_OCCURRENCES = 50
# Most fire times enumerated for one job per run_due (an every-minute job over a wide window).
MAX_STEPS = 100_000
DEFAULT_TIMEZONE = "Asia/Shanghai"


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


@dataclass(frozen=True)
class Job:
    """A periodic job. `target` is "module:function", imported at run time and called as fn(now=…)
    with the occurrence's fire time (aware UTC)."""

    id: str
    target: str
    cron: dict[str, int | str] = field(hash=False)  # CronTrigger fields, read in the scheduler zone
    catch_up: timedelta
    coalesce: bool
    description: str
    commits: bool = False  # the job commits per batch itself (see the module docstring)

    def trigger(self, tz: str):
        from apscheduler.triggers.cron import CronTrigger

        return CronTrigger(timezone=ZoneInfo(tz), **self.cron)

    @property
    def schedule(self) -> str:
        return " ".join(f"{name}={value}" for name, value in self.cron.items())


REGISTRY: tuple[Job, ...] = (
    Job(
        "orders.deadlines",
        "volunteer_app.orders.deadlines:apply_deadlines",
        {"minute": "*"},
        timedelta(minutes=10),
        True,
        "escalate and expire late orders, close grab pools, lapse ratings, remind volunteers",
        commits=True,
    ),
    Job(
        "notifications.deliver",
        "volunteer_app.scheduler:deliver_notifications",
        {"minute": "*"},
        timedelta(minutes=10),
        True,
        "send due outbox messages (and retry failed ones)",
        commits=True,
    ),
    Job(
        "timebank.expire_redemptions",
        "volunteer_app.timebank.rewards:expire_redemptions",
        {"minute": "*/5"},
        timedelta(minutes=30),
        True,
        "expire redemption codes past their time and refund them",
        commits=True,
    ),
    Job(
        "idempotency.purge",
        "volunteer_app.scheduler:purge_expired",
        {"minute": 0},
        timedelta(hours=3),
        True,
        "delete idempotency keys past their TTL, old job runs and finished outbox rows",
        commits=True,
    ),
    Job(
        "activities.generate",
        "volunteer_app.activities.jobs:generate_next_month",
        {"day": 20, "hour": 2, "minute": 0},
        timedelta(days=10),
        False,
        "generate next month's activities from their recurrence rules",
    ),
    Job(
        "activities.remind",
        "volunteer_app.activities.jobs:remind_upcoming",
        {"minute": 0},
        timedelta(hours=1),
        True,
        "remind signed-up volunteers of upcoming activities",
    ),
    Job(
        "activities.escalate_unaudited",
        "volunteer_app.activities.jobs:escalate_unaudited",
        {"minute": 30},
        timedelta(hours=1),
        True,
        "tell the managers of activities still unaudited past their audit deadline (once each)",
    ),
    Job(
        "timebank.statements",
        "volunteer_app.timebank.jobs:monthly_statements",
        {"day": 1, "hour": 8, "minute": 0},
        timedelta(days=7),
        False,
        "tell every book holder whose book moved last month that the statement is ready",
    ),
    Job(
        "timebank.star_levels",
        "volunteer_app.timebank.jobs:update_star_levels",
        {"hour": 1, "minute": 0},
        timedelta(days=1),
        True,
        "store each book's star level; notify the volunteers whose level rose",
    ),
    Job(
        "timebank.verify",
        "volunteer_app.timebank.jobs:verify_and_alert",
        {"hour": 3, "minute": 0},
        timedelta(days=1),
        True,
        "verify the ledger against its checkpoints; publish the head as a checkpoint, or alert on a mismatch",
    ),
)
JOBS: dict[str, Job] = {job.id: job for job in REGISTRY}


# ---- configuration -----------------------------------------------------------------------------------


def _config() -> dict:
    return current_app.config.get("SCHEDULER") or {}


def scheduler_timezone() -> str:
    return _config().get("timezone") or DEFAULT_TIMEZONE


def catch_up(job: Job) -> timedelta:
    """The job's catch-up window, unless `[scheduler.catch_up_minutes]` overrides it."""
    minutes = (_config().get("catch_up_minutes") or {}).get(job.id)
    return job.catch_up if minutes is None else timedelta(minutes=float(minutes))


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


def resolve(target: str) -> Callable[..., Any]:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _jsonable(result: Any) -> dict | None:
    if result is None:
        return None
    if not isinstance(result, dict):
        result = {"count": result} if isinstance(result, int) else {"value": result}
    return json.loads(json.dumps(result, default=str))


def run_occurrence(job: Job, fire_time: datetime) -> str:
    """Run one occurrence exactly once (see the module docstring). Returns "ran", "skipped" (claimed
    by someone else) or "failed" (rolled back and logged, retried while inside the window)."""
    fire_time = fire_time.astimezone(UTC)
    key = occurrence_key(fire_time)
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
        result = _jsonable(resolve(job.target)(now=fire_time))
        _finish(job.id, key, started_at, result)
        session.commit()
    except Exception:
        session.rollback()
        log.exception("job %s occurrence %s failed after %.2fs", job.id, key, time.monotonic() - started)
        if job.commits:
            _release(job.id, key)
        return "failed"
    log.info(
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


def run_due(now: datetime | None = None, *, jobs: Iterable[Job] | None = None) -> list[tuple[str, str, str]]:
    """Run every due, unclaimed occurrence of `jobs` (default all) at `now`; returns
    (job id, occurrence key, outcome) for each tried. Never raises for a job's failure."""
    now = (now or utcnow()).astimezone(UTC)
    outcomes = []
    for job in REGISTRY if jobs is None else jobs:
        try:
            fires = due(job, now)
        except Exception:
            db.session.rollback()
            log.exception("job %s: could not list its due occurrences", job.id)
            continue
        for fire in fires:
            outcomes.append((job.id, occurrence_key(fire), run_occurrence(job, fire)))
    return outcomes


# ---- adapters: jobs whose functions do not take `now` ------------------------------------------------

DELIVER_LIMIT = 500
DELIVER_BUDGET_SECONDS = 50  # leave the minute to the next occurrence


def deliver_notifications(now: datetime) -> dict:
    """Send due outbox rows batch by batch until a batch is short or the minute's budget is spent.
    Sends are stamped with the clock, not the (possibly caught-up) fire time."""
    from volunteer_app.notifications.delivery import deliver_pending

    sent = 0
    deadline = time.monotonic() + DELIVER_BUDGET_SECONDS
    while True:
        batch = deliver_pending(limit=DELIVER_LIMIT)
        sent += batch
        if batch < DELIVER_LIMIT or time.monotonic() > deadline:
            return {"sent": sent}


def purge_expired(now: datetime) -> dict:
    """Idempotency keys past their TTL; job runs older than `job_runs_keep_days` (never one that a
    catch-up window could still reach); finished outbox rows older than `notification_outbox_keep_days`.
    Commits."""
    from volunteer_app.idempotency import purge_older_than
    from volunteer_app.notifications.delivery import purge_outbox

    keys = purge_older_than(int(current_app.config["APP"]["idempotency_ttl_hours"]))
    keep = timedelta(days=float(_config().get("job_runs_keep_days", 90)))
    widest = max(catch_up(job) for job in REGISTRY) + timedelta(days=1)
    cutoff = now - max(keep, widest)
    runs = _rowcount(delete(JobRun).where(JobRun.started_at < cutoff))
    db.session.commit()
    outbox = purge_outbox(
        now - timedelta(days=int(current_app.config["APP"]["notification_outbox_keep_days"]))
    )
    return {"idempotency_keys": keys, "job_runs": runs, "outbox": outbox}


# ---- the process -------------------------------------------------------------------------------------


def _fire(app: Flask, job_id: str) -> None:
    """An APScheduler firing: run this job's due occurrences (its current one and any missed)."""
    try:
        with app.app_context():
            run_due(jobs=[JOBS[job_id]])
    except Exception:  # never let one firing take the scheduler down
        log.exception("job %s: firing failed", job_id)


def _catch_up(app: Flask) -> None:
    with app.app_context():
        run_due()


def build_scheduler(app: Flask, scheduler_class):
    """An APScheduler instance with one cron job per registry entry (not started)."""
    tz = ZoneInfo(app.config.get("SCHEDULER", {}).get("timezone") or DEFAULT_TIMEZONE)
    scheduler = scheduler_class(
        timezone=tz, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60}
    )
    for job in REGISTRY:
        scheduler.add_job(_fire, job.trigger(str(tz)), args=[app, job.id], id=job.id, name=job.id)
    return scheduler


def start_embedded(app: Flask) -> bool:
    """Run the scheduler in a background thread of this process when `[scheduler] mode` is embedded,
    the app is not under test, and this process serves (`flask run`, in the reloader's child when
    reloading; never other CLI commands). Returns whether it started."""
    if (app.config.get("SCHEDULER") or {}).get("mode") != "embedded" or app.testing:
        return False
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        if ctx.info_name != "run":
            return False  # `flask deploy`, `flask scheduler run`, …: not a server
        from werkzeug.serving import is_running_from_reloader

        reload = ctx.params.get("reload")
        if (app.debug if reload is None else reload) and not is_running_from_reloader():
            return False  # the reloader's watcher process: its child will schedule
    import atexit

    from apscheduler.schedulers.background import BackgroundScheduler

    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    scheduler = build_scheduler(app, BackgroundScheduler)
    scheduler.add_job(_catch_up, args=[app], id="catch-up", name="start-up catch-up")
    scheduler.start()
    atexit.register(lambda: scheduler.shutdown(wait=False))
    log.info("scheduler embedded in this process (%d jobs)", len(REGISTRY))
    return True


# ---- commands ----------------------------------------------------------------------------------------

scheduler_cli = AppGroup("scheduler", help="Periodic jobs, each occurrence exactly once (job_runs).")


def _parse_now(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter("an ISO 8601 time, e.g. 2026-12-01T00:05:00Z") from exc
    if moment.tzinfo is None:
        raise click.BadParameter("give a time zone offset, e.g. 2026-12-01T00:05:00Z")
    return moment.astimezone(UTC)


@scheduler_cli.command("run")
@click.option("--once", is_flag=True, help="Run what is due (and missed, within windows) once, then exit.")
@click.option("--now", "now_text", default=None, help="With --once: act as if it were this time (ISO 8601).")
def scheduler_run(once: bool, now_text: str | None) -> None:
    """The scheduler process: catch up on missed occurrences, then run each job at its times.
    Run one (more are harmless: each occurrence runs once), or `--once` from cron every minute."""
    now = _parse_now(now_text)
    if now is not None and not once:
        raise click.UsageError("--now only goes with --once")
    outcomes = run_due(now)
    failed = [o for o in outcomes if o[2] == "failed"]
    click.echo(f"catch-up: {len(outcomes)} occurrences tried, {len(failed)} failed")
    if once:
        return
    from apscheduler.schedulers.blocking import BlockingScheduler

    # Our own line per run says what happened; APScheduler's per-firing lines would double it.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    scheduler = build_scheduler(current_app._get_current_object(), BlockingScheduler)

    def stop(signum, _frame):
        log.info("scheduler stopping (signal %s)", signum)
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("scheduler running %d jobs in %s", len(REGISTRY), scheduler.timezone)
    scheduler.start()


@scheduler_cli.command("jobs")
def scheduler_jobs() -> None:
    """Each job: id, schedule, next run (scheduler time zone), last finished occurrence, description."""
    tz = scheduler_timezone()
    now = utcnow()
    last = dict(
        db.session.execute(
            select(JobRun.job, func.max(JobRun.occurrence_key))
            .where(JobRun.finished_at.is_not(None))
            .group_by(JobRun.job)
        ).all()
    )
    db.session.rollback()
    click.echo(f"time zone {tz}")
    for job in REGISTRY:
        nxt = job.trigger(tz).get_next_fire_time(None, now)
        click.echo(
            f"{job.id:<28} {job.schedule:<24} next {nxt.isoformat() if nxt else '-':<25} "
            f"last {last.get(job.id) or '-':<20}  {job.description}"
        )


def register(app: Flask) -> None:
    app.cli.add_command(scheduler_cli)
