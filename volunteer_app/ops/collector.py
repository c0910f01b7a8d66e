"""The figures /metrics reads from the database at each scrape (the worker and the scheduler are other
processes, maybe on other machines, so their state is taken from the rows they leave): the queues, the
job runs, the last ledger verification, the heartbeats. docs/ops/metrics.md names each metric."""

from __future__ import annotations

import logging
import time

from prometheus_client.core import GaugeMetricFamily

from volunteer_app.db import utcnow
from volunteer_app.extensions import db
from volunteer_app.heartbeats import KINDS
from volunteer_app.logs import first_line
from volunteer_app.ops import readings

log = logging.getLogger(__name__)


def _ts(moment) -> float:
    return moment.timestamp() if moment is not None else 0.0


class DatabaseCollector:
    """A prometheus_client collector reading the database once per scrape (made per scrape)."""

    def collect(self):
        up = GaugeMetricFamily(
            "volunteer_ops_database_up", "1 when the scrape could read the queues, jobs and heartbeats"
        )
        started = time.perf_counter()
        try:
            families = self._read()
        except Exception as exc:  # the database is away: say so, serve the web processes' own figures
            log.warning("metrics: database figures unavailable: %s", first_line(exc))
            families = []
            up.add_metric([], 0)
        else:
            up.add_metric([], 1)
        yield from families
        yield up
        took = GaugeMetricFamily("volunteer_ops_scrape_seconds", "Time the database figures took to read")
        took.add_metric([], time.perf_counter() - started)
        yield took

    def _read(self) -> list:
        now = utcnow()
        with db.engine.connect() as conn:
            queues = readings.queues(conn, now)
            jobs = readings.jobs(conn, now)
            verification = readings.last_verification(conn)
            beats = readings.beats(conn)
        return [
            *_queue_families(queues, now),
            *_job_families(jobs),
            *_verification_families(verification),
            *_heartbeat_families(beats, now),
        ]


def _queue_families(queues, now):
    items = GaugeMetricFamily(
        "volunteer_queue_items",
        "Unfinished rows of each queue by state (work: work_items; outbox)",
        labels=["queue", "state"],
    )
    depth = GaugeMetricFamily(
        "volunteer_queue_depth", "Rows due now (what a worker would take)", labels=["queue"]
    )
    age = GaugeMetricFamily(
        "volunteer_queue_oldest_due_age_seconds",
        "How long the longest-waiting due row has waited (0: none due)",
        labels=["queue"],
    )
    dead = GaugeMetricFamily(
        "volunteer_queue_dead_items", "Rows given up after their last attempt", labels=["queue"]
    )
    states = {"work": readings.WORK_STATES, "outbox": readings.OUTBOX_STATES}
    for queue in queues:
        for state in states[queue.name]:
            items.add_metric([queue.name, str(state)], queue.states.get(str(state), 0))
        depth.add_metric([queue.name], queue.due)
        age.add_metric([queue.name], queue.oldest_due_age(now))
        dead.add_metric([queue.name], queue.dead)
    return [items, depth, age, dead]


def _job_families(jobs):
    runs = GaugeMetricFamily(
        "volunteer_job_runs",
        "Job occurrences of the past 24 hours by outcome (ok, failed, unfinished)",
        labels=["job", "outcome"],
    )
    mean = GaugeMetricFamily(
        "volunteer_job_duration_seconds_mean",
        "Mean run time of the past 24 hours' finished runs",
        labels=["job"],
    )
    longest = GaugeMetricFamily(
        "volunteer_job_duration_seconds_max", "Longest run time of the past 24 hours", labels=["job"]
    )
    success = GaugeMetricFamily(
        "volunteer_job_last_success_timestamp_seconds",
        "When the job last finished (Unix time; 0: never)",
        labels=["job"],
    )
    failure = GaugeMetricFamily(
        "volunteer_job_last_failure_timestamp_seconds",
        "When the job last raised (Unix time; 0: never)",
        labels=["job"],
    )
    for job_id in sorted(jobs):
        entry = jobs[job_id]
        runs.add_metric([job_id, "ok"], entry.ok)
        runs.add_metric([job_id, "failed"], entry.failed)
        runs.add_metric([job_id, "unfinished"], entry.unfinished)
        if entry.mean_seconds is not None:
            mean.add_metric([job_id], entry.mean_seconds)
            longest.add_metric([job_id], entry.max_seconds)
        success.add_metric([job_id], _ts(entry.last_success))
        failure.add_metric([job_id], _ts(entry.last_failure))
    return [runs, mean, longest, success, failure]


def _verification_families(verification):
    at = GaugeMetricFamily(
        "volunteer_ledger_verify_last_timestamp_seconds",
        "When the last ledger verification finished (0: never)",
    )
    ok = GaugeMetricFamily(
        "volunteer_ledger_verify_last_ok",
        "1: the last verification found the ledger sound; 0: it found problems or never ran",
    )
    problems = GaugeMetricFamily(
        "volunteer_ledger_verify_last_problems", "Problems the last verification found"
    )
    at.add_metric([], _ts(verification.at))
    ok.add_metric([], 1 if verification.ok else 0)
    problems.add_metric([], verification.problems)
    return [at, ok, problems]


def _heartbeat_families(beats, now):
    age = GaugeMetricFamily(
        "volunteer_heartbeat_age_seconds",
        "Seconds since the newest heartbeat of a worker or the scheduler (absent: never beat)",
        labels=["kind"],
    )
    alive = GaugeMetricFamily(
        "volunteer_heartbeat_processes",
        "Processes of the kind whose heartbeat is fresh ([ops] heartbeat_stale_seconds)",
        labels=["kind"],
    )
    for kind in KINDS:
        newest, fresh = beats.get(kind, (None, 0))
        if newest is not None:
            age.add_metric([kind], max((now - newest).total_seconds(), 0.0))
        alive.add_metric([kind], fresh)
    return [age, alive]


def collector() -> DatabaseCollector:
    return DatabaseCollector()
