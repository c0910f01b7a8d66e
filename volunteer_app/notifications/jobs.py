"""The notifications' background work: the worker drains the outbox as notifications are written
(`OUTBOX`), and the scheduler sends it every minute too, a safety net if no worker runs (`DELIVER`);
the worker writes the notifications a request left to it (`MANAGERS_WORK`: a site's managers told of
a new order)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from volunteer_app.notifications.delivery import deliver_pending
from volunteer_app.notifications.service import MANAGERS_KIND, notify_managers_now
from volunteer_app.scheduler.registry import Job
from volunteer_app.worker.registry import Drain, Work

DELIVER_LIMIT = 500
DELIVER_BUDGET_SECONDS = 50  # leave the minute to the next occurrence


def deliver(now: datetime) -> dict:
    """Send due outbox rows batch by batch until a batch is short or the minute's budget is spent.
    Sends are stamped with the clock, not the (possibly caught-up) fire time. Commits."""
    sent = 0
    deadline = time.monotonic() + DELIVER_BUDGET_SECONDS
    while True:
        batch = deliver_pending(limit=DELIVER_LIMIT)
        sent += batch
        if batch < DELIVER_LIMIT or time.monotonic() > deadline:
            return {"sent": sent}


DELIVER = Job(
    id="notifications.deliver",
    run=deliver,
    cron={"minute": "*"},
    catch_up=timedelta(minutes=10),
    coalesce=True,
    commits=True,
    description="send due outbox messages no worker sent yet (and retry failed ones)",
)

OUTBOX = Drain(
    id="notifications.outbox",
    run=deliver_pending,
    batch=50,
    description="send due outbox messages as they are written (woken by the writing commit)",
)

MANAGERS_WORK = Work(
    kind=MANAGERS_KIND,
    run=notify_managers_now,
    description="tell a site's managers (inbox and outbox rows) for a request that left it to the worker "
    "(notifications/service.py notify_managers_later)",
)
