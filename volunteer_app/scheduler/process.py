"""The scheduler process: an APScheduler instance firing each registered job on its cron times, run by
`flask scheduler run` (blocking) or, in development, as a background thread of `flask run`."""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

import click
from flask import Flask

from volunteer_app.db import utcnow
from volunteer_app.heartbeats import Beater, heartbeat_seconds
from volunteer_app.scheduler.registry import registered, scheduler_timezone
from volunteer_app.scheduler.runner import run_due

log = logging.getLogger(__name__)


def _fire(app: Flask, job_id: str) -> None:
    """An APScheduler firing: run this job's due occurrences (its current one and any missed)."""
    try:
        with app.app_context():
            run_due(jobs=[registered()[job_id]])
    except Exception:  # never let one firing take the scheduler down
        log.exception("job %s: firing failed", job_id)


def _catch_up(app: Flask) -> None:
    with app.app_context():
        run_due()


def _beat(app: Flask, beater: Beater) -> None:
    with app.app_context():
        beater.tick()


def build_scheduler(app: Flask, scheduler_class):
    """An APScheduler instance with one cron job per registered job, and its heartbeat (not started)."""
    tz = scheduler_timezone(app)
    scheduler = scheduler_class(
        timezone=ZoneInfo(tz), job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60}
    )
    for job in registered(app).values():
        scheduler.add_job(_fire, job.trigger(tz), args=[app, job.id], id=job.id, name=job.id)
    every = heartbeat_seconds(app)
    beater = Beater("scheduler", 0)  # (the interval trigger keeps the time)
    scheduler.add_job(
        _beat,
        "interval",
        seconds=every,
        args=[app, beater],
        id="heartbeat",
        name="heartbeat",
        next_run_time=utcnow(),
    )
    return scheduler


def development_server(app: Flask) -> bool:
    """Whether this process is the one serving `flask run` (the reloader's child when reloading), or no
    CLI at all (a WSGI server): not `flask deploy`, `flask scheduler run`, `flask worker run`, …, and
    not the reloader's watcher process."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return True
    if ctx.info_name != "run" or (ctx.parent is not None and ctx.parent.parent is not None):
        return False  # another command, or a `run` subcommand of a group (scheduler run, worker run)
    from werkzeug.serving import is_running_from_reloader

    reload = ctx.params.get("reload")
    return not ((app.debug if reload is None else reload) and not is_running_from_reloader())


def start_embedded(app: Flask) -> bool:
    """Run the scheduler in a background thread of this process when `[scheduler] mode` is embedded,
    the app is not under test, and this process serves (`flask run`, in the reloader's child when
    reloading; never other CLI commands). Returns whether it started."""
    if (app.config.get("SCHEDULER") or {}).get("mode") != "embedded" or app.testing:
        return False
    if not development_server(app):
        return False
    import atexit

    from apscheduler.schedulers.background import BackgroundScheduler

    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    scheduler = build_scheduler(app, BackgroundScheduler)
    scheduler.add_job(_catch_up, args=[app], id="catch-up", name="start-up catch-up")
    scheduler.start()
    atexit.register(lambda: scheduler.shutdown(wait=False))
    log.info("scheduler embedded in this process (%d jobs)", len(registered(app)))
    return True
