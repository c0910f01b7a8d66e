"""The statistics' periodic job: count the logged changes again every minute."""

from __future__ import annotations

from datetime import datetime, timedelta

from volunteer_app.reports import rollups
from volunteer_app.scheduler.registry import Job


def refresh(now: datetime) -> dict:
    return {"changes": rollups.refresh_all(now=None)}


REFRESH = Job(
    id="reports.refresh",
    run=refresh,
    cron={"minute": "*"},
    catch_up=timedelta(minutes=5),
    coalesce=True,
    commits=True,
    description="count the changes logged since the last refresh into the statistics' rollups",
)
