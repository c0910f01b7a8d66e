"""`flask doctor`: check a deployment and say in words what is wrong, one line per check, and what to
do about it; exit 1 when anything is (docs/ops/metrics.md). It reads the configuration and the database
only: it changes nothing and can run beside the service at any time."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime, timedelta

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import text

from volunteer_app import heartbeats
from volunteer_app.db import utcnow
from volunteer_app.extensions import db
from volunteer_app.health import code_head, database_revision
from volunteer_app.ops import readings
from volunteer_app.settings import DEV_PUBLIC_BASE_URL, production_problems
from volunteer_app.timebank.jobs import VERIFY

OK, PROBLEM, NOTE, SKIPPED = "ok", "PROBLEM", "note", "skipped"


@dataclass
class Finding:
    state: str  # OK, PROBLEM, NOTE (fine, worth knowing), SKIPPED (could not be checked: see another line)
    check: str
    text: str


def _ago(moment: datetime, now: datetime) -> str:
    seconds = max(int((now - moment).total_seconds()), 0)
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 2 * 3600:
        return f"{seconds // 60} min ago"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def _ops() -> dict:
    return current_app.config.get("OPS") or {}


def check_configuration() -> list[Finding]:
    config = current_app.config
    findings = []
    if config["ENV_NAME"] != "production":
        findings.append(
            Finding(
                PROBLEM,
                "environment",
                f"[app] env is {config['ENV_NAME']!r}: a deployment runs with VOLUNTEER_ENV=production "
                "(it then refuses development secrets at start)",
            )
        )
    else:
        findings.append(Finding(OK, "environment", "production"))
    problems = [p for p in production_problems(config) if "PUBLIC_BASE_URL" not in p]
    if problems:
        findings.append(Finding(PROBLEM, "secrets", "; ".join(problems)))
    else:
        findings.append(
            Finding(OK, "secrets", "secret key, personal-data key and senders are set for production")
        )
    url = config["APP"]["public_base_url"]
    if url == DEV_PUBLIC_BASE_URL:
        findings.append(
            Finding(
                PROBLEM,
                "public base URL",
                f"still the development {url}: set VOLUNTEER_PUBLIC_BASE_URL to the address clients reach "
                "(certificate links are built on it)",
            )
        )
    elif url.startswith("http://"):
        findings.append(
            Finding(PROBLEM, "public base URL", f"{url} is plain http: public links must be https")
        )
    else:
        findings.append(Finding(OK, "public base URL", url))
    ops = _ops()
    if ops.get("metrics_token"):
        findings.append(Finding(OK, "metrics", "/metrics answers the bearer token VOLUNTEER_METRICS_TOKEN"))
    else:
        findings.append(Finding(NOTE, "metrics", "VOLUNTEER_METRICS_TOKEN is not set: /metrics is off (404)"))
    findings.append(
        Finding(
            NOTE,
            "error reports",
            "sent to Sentry (SENTRY_DSN)" if ops.get("sentry_dsn") else "SENTRY_DSN not set: none sent",
        )
    )
    return findings


def check_redis() -> Finding:
    url = current_app.config.get("REDIS_URL")
    if not url:
        return Finding(
            NOTE,
            "redis",
            "REDIS_URL not set: rate limits count in each web worker's memory (N workers allow N times)",
        )
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3).ping()
    except Exception as exc:  # redis.RedisError, a bad URL, a refused connection
        return Finding(
            PROBLEM,
            "redis",
            f"REDIS_URL does not answer ({type(exc).__name__}: {exc}): start Redis or fix REDIS_URL",
        )
    return Finding(OK, "redis", "answers")


def check_database() -> Finding:
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            current = database_revision(conn)
    except Exception as exc:
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        return Finding(
            PROBLEM,
            "database",
            f"unreachable ({first[0] if first else type(exc).__name__}): "
            "check DATABASE_URL and that the server runs",
        )
    head = code_head(current_app.extensions["migrate"].directory)
    if current != head:
        return Finding(
            PROBLEM,
            "database",
            f"at migration {current or 'none'}, the code needs {head}: "
            "run `flask deploy` (or `flask db upgrade`)",
        )
    return Finding(OK, "database", f"reachable, at the newest migration {head}")


def check_heartbeats(conn, now: datetime) -> list[Finding]:
    stale = heartbeats.stale_after()
    beats = readings.beats(conn)
    commands = {"worker": "flask worker run", "scheduler": "flask scheduler run"}
    findings = []
    for kind, command in commands.items():
        newest, fresh = beats.get(kind, (None, 0))
        if newest is None:
            findings.append(
                Finding(
                    PROBLEM,
                    kind,
                    f"no {kind} has ever written a heartbeat: start `{command}` (its systemd unit)",
                )
            )
        elif now - newest > stale:
            findings.append(
                Finding(
                    PROBLEM,
                    kind,
                    f"last heartbeat {_ago(newest, now)} (limit {int(stale.total_seconds())} s): "
                    f"is `{command}` running and reaching the database?",
                )
            )
        else:
            findings.append(Finding(OK, kind, f"{fresh} running, last heartbeat {_ago(newest, now)}"))
    return findings


def check_queues(conn, now: datetime) -> list[Finding]:
    limit = int(_ops().get("queue_backlog_seconds", 600))
    findings = []
    names = {"work": "work queue", "outbox": "notification outbox"}
    for queue in readings.queues(conn, now):
        age = queue.oldest_due_age(now)
        dead = f"; {queue.dead} dead" if queue.dead else ""
        if age > limit:
            findings.append(
                Finding(
                    PROBLEM,
                    names[queue.name],
                    f"{queue.due} due, the oldest waiting {int(age)} s (limit {limit} s){dead}: the workers "
                    "do not keep up or do not run (start more `flask worker run`)",
                )
            )
        else:
            findings.append(
                Finding(OK, names[queue.name], f"{queue.due} due, oldest waiting {int(age)} s{dead}")
            )
    return findings


def check_jobs(conn, now: datetime) -> Finding:
    failed = {job: s for job, s in readings.jobs(conn, now).items() if s.failed}
    if failed:
        named = ", ".join(f"{job} ({s.failed}x)" for job, s in sorted(failed.items()))
        return Finding(PROBLEM, "jobs", f"failed in the past 24 h: {named}: see the scheduler's log")
    return Finding(OK, "jobs", "no job failed in the past 24 h")


def check_verification(conn, now: datetime) -> Finding:
    limit = timedelta(hours=int(_ops().get("verify_max_age_hours", 30)))
    last = readings.last_verification(conn)
    if last.failed_at is not None and (last.at is None or last.failed_at > last.at):
        return Finding(
            PROBLEM,
            "ledger",
            f"the verification job {VERIFY.id} failed to run {_ago(last.failed_at, now)}: "
            "see the scheduler's log, run `flask timebank verify`",
        )
    if last.at is None:
        return Finding(
            PROBLEM,
            "ledger",
            f"never verified by the scheduler (job {VERIFY.id}, nightly): check the scheduler runs; "
            "`flask timebank verify` checks now",
        )
    if not last.ok:
        return Finding(
            PROBLEM,
            "ledger",
            f"the last verification ({_ago(last.at, now)}) found {last.problems} problem(s), first: "
            f'{last.first_problem}: run `flask timebank verify` and see README "Time bank"',
        )
    if now - last.at > limit:
        return Finding(
            PROBLEM,
            "ledger",
            f"last verified {_ago(last.at, now)} (limit {int(limit.total_seconds() // 3600)} h): the nightly "
            f"{VERIFY.id} did not run; check the scheduler",
        )
    return Finding(OK, "ledger", f"verified {_ago(last.at, now)}, sound")


def examine() -> list[Finding]:
    """Every check, in order (needs the app's context)."""
    findings = check_configuration()
    findings.append(check_redis())
    database = check_database()
    findings.append(database)
    if database.state != OK:
        for name in ("worker", "scheduler", "work queue", "notification outbox", "jobs", "ledger"):
            findings.append(Finding(SKIPPED, name, "not checked: the database is not ready (above)"))
        return findings
    now = utcnow()
    try:
        with db.engine.connect() as conn:
            findings += check_heartbeats(conn, now)
            findings += check_queues(conn, now)
            findings.append(check_jobs(conn, now))
            findings.append(check_verification(conn, now))
    except Exception as exc:  # the database went away mid-way
        findings.append(
            Finding(PROBLEM, "database", f"stopped answering during the checks ({type(exc).__name__})")
        )
    return findings


@click.command("doctor")
@with_appcontext
def doctor() -> None:
    """Check this deployment: configuration, database, Redis, worker and scheduler heartbeats, queue
    backlog, job failures, the last ledger verification. One line each; exit 1 when anything is wrong."""
    findings = examine()
    width = max(len(f.check) for f in findings)
    for finding in findings:
        click.echo(f"{finding.state:<8} {finding.check:<{width}}  {finding.text}")
    problems = sum(1 for f in findings if f.state == PROBLEM)
    if problems:
        click.echo(f"{problems} problem(s) found", err=True)
        sys.exit(1)
    click.echo("all checks passed")
