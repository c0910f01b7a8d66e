"""What a job is (`Job`), the app's registry of them, and the scheduler's settings (time zone, windows).

A domain declares a job next to its function: `Job(id="orders.deadlines", run=apply_deadlines,
cron={"minute": "*"}, catch_up=timedelta(minutes=10), coalesce=True, commits=True, description="…")`.
The app assembles every domain's jobs (volunteer_app/jobs.py) and `init_app` keeps them on the app, so
the runner, the process and the CLI read one registry and this package imports no domain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, current_app

DEFAULT_TIMEZONE = "Asia/Shanghai"
EXTENSION = "scheduler"


@dataclass(frozen=True, kw_only=True)
class Job:
    """A periodic job: `run` is called as run(now=…) with the occurrence's fire time (aware UTC) and
    may return a count or a dict (stored as the run's result)."""

    id: str
    run: Callable[..., Any]
    cron: dict[str, int | str] = field(hash=False)  # CronTrigger fields, read in the scheduler zone
    catch_up: timedelta  # how long a missed occurrence is still run (runner.py's catch-up)
    coalesce: bool  # of several missed occurrences run only the newest (the sweeps)
    description: str
    commits: bool = False  # the job commits per batch itself (see runner.py's docstring)

    def trigger(self, tz: str):
        from apscheduler.triggers.cron import CronTrigger

        return CronTrigger(timezone=ZoneInfo(tz), **self.cron)

    @property
    def schedule(self) -> str:
        return " ".join(f"{name}={value}" for name, value in self.cron.items())


def init_app(app: Flask, jobs: Iterable[Job]) -> None:
    """Keep the app's jobs, in their listing order; an id declared twice is a programming error."""
    registry: dict[str, Job] = {}
    for job in jobs:
        if job.id in registry:
            raise ValueError(f"job {job.id!r} is declared twice")
        registry[job.id] = job
    app.extensions[EXTENSION] = MappingProxyType(registry)


def registered(app: Flask | None = None) -> Mapping[str, Job]:
    """The app's jobs by id (the current app's by default)."""
    return (app or current_app).extensions[EXTENSION]


def _config(app: Flask | None = None) -> dict:
    return (app or current_app).config.get("SCHEDULER") or {}


def scheduler_timezone(app: Flask | None = None) -> str:
    """`[scheduler] timezone`: the zone cron fields are read in."""
    return _config(app).get("timezone") or DEFAULT_TIMEZONE


def catch_up(job: Job) -> timedelta:
    """The job's catch-up window, unless `[scheduler.catch_up_minutes]` overrides it."""
    minutes = (_config().get("catch_up_minutes") or {}).get(job.id)
    return job.catch_up if minutes is None else timedelta(minutes=float(minutes))


def job_runs_keep() -> timedelta:
    """`[scheduler] job_runs_keep_days`: how long a finished claim is kept at least."""
    return timedelta(days=float(_config().get("job_runs_keep_days", 90)))
