"""`flask doctor` on a good deployment (production settings, Redis answering, the worker and the scheduler
beating, the queues keeping up, the ledger verified last night) and on broken ones, through click's
CliRunner and once as a real `flask doctor` process: one line per check, each problem said in words with
what to do, exit 1 when anything is off, 0 when nothing is."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import make_app
from volunteer_app.db import utcnow
from volunteer_app.extensions import db
from volunteer_app.heartbeats import Heartbeat
from volunteer_app.scheduler.models import JobFailure, JobRun
from volunteer_app.worker.models import WorkItem

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s" * 40
PII_KEY = "p" * 40
PUBLIC = "https://volunteer.example.cn"
REDIS = "redis://127.0.0.1:6379/15"


def _redis_answers() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS, socket_connect_timeout=1).ping())
    except Exception:
        return False


# A Redis to check against when this machine has one (the "redis" line is then ok, else a note).
REDIS_URL = REDIS if _redis_answers() else None


def production_app(database_url: str, **ops):
    app = make_app(
        database_url, SECRET_KEY=SECRET, JWT_SECRET_KEY=SECRET, PII_KEY=PII_KEY, REDIS_URL=REDIS_URL
    )
    app.config["ENV_NAME"] = "production"  # (after the start-up check: the rest is set below)
    app.config["APP"] = {**app.config["APP"], "sms_sender": "tencent", "public_base_url": PUBLIC}
    app.config["TENCENT_SMS"] = {**app.config["TENCENT_SMS"], "secret_id": "id", "secret_key": "key"}
    app.config["OPS"] = {**app.config["OPS"], "metrics_token": "t" * 32, **ops}
    return app


def healthy_rows(app, *, verified_ago=timedelta(hours=3), ok=True) -> None:
    now = utcnow()
    with app.app_context():
        for kind in ("worker", "scheduler"):
            db.session.add(Heartbeat(kind=kind, instance="host-a:42", started_at=now, beat_at=now))
        db.session.add(
            WorkItem(kind="export", args={}, state="queued", run_after=now - timedelta(seconds=20))
        )
        result = (
            {"ok": True, "transfers": 3}
            if ok
            else {"ok": False, "problems": 1, "first": "transfer 9 differs"}
        )
        db.session.add(
            JobRun(
                job="timebank.verify",
                occurrence_key="2026-01-01T19:00:00Z",
                started_at=now - verified_ago,
                finished_at=now - verified_ago,
                result=result,
            )
        )
        db.session.commit()


def run_doctor(app):
    return app.test_cli_runner().invoke(args=["doctor"])


def lines(output: str) -> dict[str, tuple[str, str]]:
    """check name -> (state, text), from the doctor's aligned lines."""
    found = {}
    for line in output.splitlines():
        state, _, rest = line.partition(" ")
        if state in ("ok", "PROBLEM", "note", "skipped"):
            check, _, text = rest.strip().partition("  ")
            found[check.strip()] = (state, text.strip())
    return found


def test_a_good_deployment_passes(database_url):
    app = production_app(database_url)
    healthy_rows(app)
    result = run_doctor(app)
    assert result.exit_code == 0, result.output
    found = lines(result.output)
    assert {name for name, (state, _) in found.items() if state != "ok"} <= {"error reports", "redis"}, (
        result.output
    )
    for check in ("environment", "secrets", "public base URL", "database", "worker", "scheduler"):
        assert found[check][0] == "ok", result.output
    assert found["redis"][0] == ("ok" if REDIS_URL else "note"), result.output
    assert found["work queue"] == ("ok", found["work queue"][1]) and "1 due" in found["work queue"][1]
    assert found["ledger"][0] == "ok" and "sound" in found["ledger"][1]
    assert "all checks passed" in result.output


def test_a_development_configuration_with_nothing_running_fails_saying_what_to_do(app):
    """The test app as it is: development secrets and URL, no heartbeats, never verified."""
    result = run_doctor(app)
    assert result.exit_code == 1, result.output
    found = lines(result.output)
    assert found["environment"][0] == "PROBLEM" and "VOLUNTEER_ENV=production" in found["environment"][1]
    assert found["secrets"][0] == "PROBLEM"
    assert "VOLUNTEER_SECRET_KEY" in found["secrets"][1] and "VOLUNTEER_PII_KEY" in found["secrets"][1]
    assert (
        found["public base URL"][0] == "PROBLEM"
        and "VOLUNTEER_PUBLIC_BASE_URL" in found["public base URL"][1]
    )
    assert found["database"][0] == "ok"
    assert found["worker"][0] == "PROBLEM" and "flask worker run" in found["worker"][1]
    assert found["scheduler"][0] == "PROBLEM" and "flask scheduler run" in found["scheduler"][1]
    assert found["ledger"][0] == "PROBLEM" and "never verified" in found["ledger"][1]
    assert "problem(s) found" in result.output


@pytest.mark.parametrize(
    "breakage, check, words",
    [
        ("stale_worker", "worker", "last heartbeat"),
        ("backlog", "work queue", "the oldest waiting"),
        ("outbox_backlog", "notification outbox", "the oldest waiting"),
        ("verification_failed", "ledger", "found 1 problem(s), first: transfer 9 differs"),
        ("verification_old", "ledger", "did not run"),
        ("verification_crashed", "ledger", "failed to run"),
        ("job_failed", "jobs", "orders.deadlines (1x)"),
        ("redis_down", "redis", "does not answer"),
        ("http_url", "public base URL", "plain http"),
    ],
)
def test_each_broken_part_is_named(database_url, breakage, check, words):
    app = production_app(database_url)
    now = utcnow()
    healthy_rows(
        app,
        ok=breakage != "verification_failed",
        verified_ago=timedelta(hours=40 if breakage == "verification_old" else 3),
    )
    with app.app_context():
        if breakage == "stale_worker":
            db.session.get(Heartbeat, ("worker", "host-a:42")).beat_at = now - timedelta(minutes=10)
        elif breakage == "backlog":
            db.session.add(
                WorkItem(kind="export", args={}, state="failed", run_after=now - timedelta(hours=1))
            )
        elif breakage == "outbox_backlog":
            from tests.support import make_user
            from volunteer_app.notifications.models import Notification, OutboxMessage

            db.session.commit()
            person = make_user(app, name="收件人")
            note = Notification(user_id=person.id, kind="order.filled", params={})
            db.session.add(note)
            db.session.flush()
            db.session.add(
                OutboxMessage(
                    notification_id=note.id,
                    user_id=person.id,
                    channel="console",
                    status="pending",
                    next_try_at=now - timedelta(hours=2),
                )
            )
        elif breakage == "verification_crashed":
            db.session.add(
                JobFailure(job="timebank.verify", occurrence_key="k", started_at=now, failed_at=now)
            )
        elif breakage == "job_failed":
            db.session.add(
                JobFailure(job="orders.deadlines", occurrence_key="k", started_at=now, failed_at=now)
            )
        elif breakage == "redis_down":
            app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
        elif breakage == "http_url":
            app.config["APP"] = {**app.config["APP"], "public_base_url": "http://volunteer.example.cn"}
        db.session.commit()
    result = run_doctor(app)
    assert result.exit_code == 1, result.output
    found = lines(result.output)
    assert found[check][0] == "PROBLEM" and words in found[check][1], result.output
    also = {"jobs"} if breakage == "verification_crashed" else set()  # (a job that failed, too)
    assert {name for name, (state, _) in found.items() if state == "PROBLEM"} == {check} | also, result.output


def test_an_unmigrated_database_is_named_and_the_rest_skipped(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'empty.db'}")
    result = run_doctor(app)
    assert result.exit_code == 1
    found = lines(result.output)
    assert found["database"][0] == "PROBLEM" and "flask deploy" in found["database"][1]
    assert found["worker"][0] == found["ledger"][0] == "skipped"


def test_flask_doctor_as_a_process(app, database_url, tmp_path):
    """A real `flask doctor`, configured by the environment as an operator would, on the test database:
    all good (exit 0), then the worker's heartbeat too old (exit 1, the line says so)."""
    healthy_rows(app)
    env = {k: v for k, v in os.environ.items() if not k.endswith(("SCHEDULER_MODE", "WORKER_MODE"))}
    env.pop("VOLUNTEER_CONFIG", None)
    env.update(
        FLASK_APP="volunteer_app",
        PYTHONPATH=str(ROOT),
        DATABASE_URL=database_url,
        VOLUNTEER_INSTANCE_DIR=str(tmp_path / "instance"),
        VOLUNTEER_ENV="production",
        VOLUNTEER_SECRET_KEY=SECRET,
        VOLUNTEER_PII_KEY=PII_KEY,
        VOLUNTEER_PUBLIC_BASE_URL=PUBLIC,
        VOLUNTEER_SMS_SENDER="tests.fakes.tencent_sms:NoSuchSender",  # a dotted path: not looked up here
        VOLUNTEER_METRICS_TOKEN="t" * 32,
    )
    env.pop("REDIS_URL", None)
    command = [str(Path(sys.executable).with_name("flask")), "doctor"]
    good = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert good.returncode == 0, good.stdout + good.stderr
    assert lines(good.stdout)["worker"][0] == "ok"
    with app.app_context():
        db.session.get(Heartbeat, ("worker", "host-a:42")).beat_at = utcnow() - timedelta(hours=2)
        db.session.commit()
    bad = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    state, text = lines(bad.stdout)["worker"]
    assert state == "PROBLEM" and "2 h ago" in text and "flask worker run" in text
    assert "1 problem(s) found" in bad.stderr


@pytest.mark.parametrize(
    "table, words",
    [
        ("heartbeat_seconds = 0", "heartbeat_seconds must be a whole number >= 1"),
        ('queue_backlog_seconds = "10"', "queue_backlog_seconds must be a whole number >= 1"),
        ("heartbeat_seconds = 60\nheartbeat_stale_seconds = 60", "longer than heartbeat_seconds"),
    ],
)
def test_the_ops_settings_are_checked(tmp_path, table, words):
    from volunteer_app.settings import ConfigError, build_config

    overlay = tmp_path / "ops.toml"
    overlay.write_text(f"[ops]\n{table}\n")
    with pytest.raises(ConfigError, match=words):
        build_config(environ={"VOLUNTEER_CONFIG": str(overlay), "VOLUNTEER_INSTANCE_DIR": str(tmp_path)})


def test_the_secrets_come_from_the_environment_only(tmp_path):
    from volunteer_app.settings import build_config

    overlay = tmp_path / "ops.toml"
    overlay.write_text('[ops]\nmetrics_token = "in-a-file"\nsentry_dsn = "http://k@h/1"\n')
    environ = {"VOLUNTEER_CONFIG": str(overlay), "VOLUNTEER_INSTANCE_DIR": str(tmp_path)}
    assert build_config(environ=environ)["OPS"]["metrics_token"] == ""
    assert build_config(environ=environ)["OPS"]["sentry_dsn"] == ""
    environ["VOLUNTEER_METRICS_TOKEN"] = "from-the-environment"
    assert build_config(environ=environ)["OPS"]["metrics_token"] == "from-the-environment"
