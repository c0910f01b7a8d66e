"""The app's periodic jobs and background work, assembled: each domain declares its own in its jobs.py;
JOBS lists every periodic job (in the order `flask scheduler jobs` shows) for create_app to hand to the
scheduler, WORK every kind of queued work and DRAINS the domain queues the worker empties. The one job
spanning owners, the hourly purge, is declared here: each owner purges its own rows."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app

from volunteer_app import idempotency
from volunteer_app.activities import jobs as activities
from volunteer_app.auth import service as auth
from volunteer_app.exports import jobs as exports
from volunteer_app.notifications import jobs as notifications
from volunteer_app.notifications.delivery import purge_outbox
from volunteer_app.orders import jobs as orders
from volunteer_app.personal import jobs as personal
from volunteer_app.reports import jobs as reports
from volunteer_app.scheduler.registry import Job
from volunteer_app.scheduler.runner import purge_job_runs
from volunteer_app.supervision import jobs as supervision
from volunteer_app.timebank import jobs as timebank
from volunteer_app.worker.queue import purge_results
from volunteer_app.worker.registry import Drain, Work


def purge(now: datetime) -> dict:
    """Idempotency keys past their TTL; job runs older than `job_runs_keep_days` (never one that a
    catch-up window could still reach); finished outbox rows older than `notification_outbox_keep_days`;
    job result files past their `[worker] result_keep_days`. Each owner's purge commits."""
    settings = current_app.config["APP"]
    return {
        "idempotency_keys": idempotency.purge_older_than(int(settings["idempotency_ttl_hours"])),
        "job_runs": purge_job_runs(now),
        "outbox": purge_outbox(now - timedelta(days=int(settings["notification_outbox_keep_days"]))),
        "job_results": purge_results(now),
    }


PURGE = Job(
    id="idempotency.purge",
    run=purge,
    cron={"minute": 0},
    catch_up=timedelta(hours=3),
    coalesce=True,
    commits=True,
    description="delete idempotency keys past their TTL, old job runs, finished outbox rows and expired "
    "job result files",
)

JOBS: tuple[Job, ...] = (
    orders.DEADLINES,
    supervision.DEADLINES,
    notifications.DELIVER,
    timebank.EXPIRE_REDEMPTIONS,
    PURGE,
    activities.GENERATE,
    activities.REMIND,
    activities.ESCALATE_UNAUDITED,
    timebank.STATEMENTS,
    timebank.STAR_LEVELS,
    timebank.VERIFY,
    reports.REFRESH,
    personal.RETENTION,
)

# Kinds of queued work (worker/): exports, login codes through a network SMS sender, the managers'
# notices of a new order; statistics rebuilds will join here.
WORK: tuple[Work, ...] = (exports.EXPORT, auth.SMS_CODE_WORK, notifications.MANAGERS_WORK)

DRAINS: tuple[Drain, ...] = (notifications.OUTBOX,)
