"""`flask scheduler run|jobs`: the scheduler process (or one pass of it from cron) and the job listing."""

from __future__ import annotations

import logging
import signal
from datetime import UTC, datetime

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from volunteer_app.db import utcnow
from volunteer_app.extensions import db
from volunteer_app.heartbeats import Beater, forget
from volunteer_app.scheduler.models import JobRun
from volunteer_app.scheduler.process import build_scheduler
from volunteer_app.scheduler.registry import registered, scheduler_timezone
from volunteer_app.scheduler.runner import run_due

log = logging.getLogger(__name__)

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
        Beater("scheduler", 0).tick()  # a cron-driven scheduler beats once a pass
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
    log.info("scheduler running %d jobs in %s", len(registered()), scheduler.timezone)
    scheduler.start()
    forget("scheduler")  # stopped cleanly: no longer counted as running


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
    for job in registered().values():
        nxt = job.trigger(tz).get_next_fire_time(None, now)
        click.echo(
            f"{job.id:<28} {job.schedule:<24} next {nxt.isoformat() if nxt else '-':<25} "
            f"last {last.get(job.id) or '-':<20}  {job.description}"
        )
