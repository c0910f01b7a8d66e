"""Supervision's scheduled job: escalate overdue 督办 items, complaints and appeals
(supervision/deadlines.py), every minute, beside the orders' deadline sweep."""

from __future__ import annotations

from datetime import timedelta

from volunteer_app.scheduler.registry import Job
from volunteer_app.supervision.deadlines import apply_deadlines

DEADLINES = Job(
    id="supervision.deadlines",
    run=apply_deadlines,
    cron={"minute": "*"},
    catch_up=timedelta(minutes=10),
    coalesce=True,
    commits=True,
    description="escalate overdue 督办 items, complaints and appeals one level up (an item turns red)",
)
