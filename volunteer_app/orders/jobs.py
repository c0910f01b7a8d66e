"""The orders' scheduled job: the deadline sweep (orders/deadlines.py), every minute. volunteer_app/jobs.py
lists the supervision deadlines (supervision/deadlines.py) as their own job beside it;
`flask orders apply-deadlines` runs both."""

from __future__ import annotations

from datetime import timedelta

from volunteer_app.orders.deadlines import apply_deadlines
from volunteer_app.scheduler.registry import Job

DEADLINES = Job(
    id="orders.deadlines",
    run=apply_deadlines,
    cron={"minute": "*"},
    catch_up=timedelta(minutes=10),
    coalesce=True,
    commits=True,
    description="escalate and expire late orders, close grab pools, lapse ratings, remind volunteers",
)
