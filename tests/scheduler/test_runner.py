"""Occurrences from cron triggers, exactly-once claims, catch-up windows, failures, the registry the
app assembles, the CLI listing."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

import volunteer_app
from tests.scheduler import fakes
from tests.support import make_user
from volunteer_app.activities.jobs import GENERATE
from volunteer_app.extensions import db
from volunteer_app.jobs import JOBS, PURGE
from volunteer_app.notifications.models import Notification
from volunteer_app.orders.jobs import DEADLINES
from volunteer_app.scheduler import registry
from volunteer_app.scheduler.models import JobRun
from volunteer_app.scheduler.process import start_embedded
from volunteer_app.scheduler.registry import Job
from volunteer_app.scheduler.runner import occurrence_key, occurrences, run_due, run_occurrence
from volunteer_app.timebank.jobs import STATEMENTS

SHANGHAI = "Asia/Shanghai"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def fake_job(cron=None, *, coalesce=True, catch_up=timedelta(minutes=30), commits=False, run=fakes.record):
    return Job(
        id="test.job",
        run=run,
        cron=cron or {"minute": "*"},
        catch_up=catch_up,
        coalesce=coalesce,
        description="a test job",
        commits=commits,
    )


MONTHLY = {"day": 1, "hour": 8, "minute": 0}


@pytest.fixture(autouse=True)
def _fakes():
    fakes.reset()
    yield
    fakes.reset()


def runs(app, job_id="test.job") -> list[tuple[str, bool]]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(JobRun.occurrence_key, JobRun.finished_at)
            .where(JobRun.job == job_id)
            .order_by(JobRun.id)
        ).all()
        return [(key, finished is not None) for key, finished in rows]


def notices(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Notification))


# ---- occurrences ------------------------------------------------------------------------------------------


def test_fire_times_are_read_in_the_scheduler_zone():
    # 02:00 Asia/Shanghai on the 20th is 18:00Z on the 19th.
    job = GENERATE
    fires = occurrences(job, utc(2026, 9, 1), utc(2026, 12, 31), tz=SHANGHAI)
    assert [occurrence_key(f) for f in fires] == [
        "2026-09-19T18:00:00Z",
        "2026-10-19T18:00:00Z",
        "2026-11-19T18:00:00Z",
        "2026-12-19T18:00:00Z",
    ]
    assert all(f.tzinfo is UTC for f in fires)


def test_the_window_is_open_below_and_closed_above():
    job = STATEMENTS  # the 1st at 08:00 Shanghai = 00:00Z on the 1st
    fire = utc(2026, 12, 1)
    assert occurrences(job, fire - timedelta(days=7), fire, tz=SHANGHAI) == [fire]
    assert occurrences(job, fire - timedelta(days=7), fire - timedelta(seconds=1), tz=SHANGHAI) == []
    assert occurrences(job, fire, fire + timedelta(days=7), tz=SHANGHAI) == []


def test_month_boundaries_and_the_newest_kept():
    job = STATEMENTS
    fires = occurrences(job, utc(2026, 9, 30), utc(2027, 1, 15), tz=SHANGHAI)
    assert [occurrence_key(f) for f in fires] == [
        "2026-10-01T00:00:00Z",
        "2026-11-01T00:00:00Z",
        "2026-12-01T00:00:00Z",
        "2027-01-01T00:00:00Z",
    ]
    assert occurrences(job, utc(2026, 9, 30), utc(2027, 1, 15), tz=SHANGHAI, limit=1) == [utc(2027, 1, 1)]
    # The newest of a long window, found without walking all of it; the window's ends still hold.
    minute = DEADLINES
    assert occurrences(minute, utc(2026, 1, 1), utc(2026, 11, 5, 3, 7, 59), tz=SHANGHAI, limit=1) == [
        utc(2026, 11, 5, 3, 7)
    ]
    assert occurrences(job, utc(2026, 11, 30), utc(2026, 12, 1), tz=SHANGHAI, limit=1) == [utc(2026, 12, 1)]
    assert occurrences(job, utc(2026, 11, 1), utc(2026, 11, 30), tz=SHANGHAI, limit=1) == []
    assert occurrences(job, utc(2025, 1, 1), utc(2026, 11, 30), tz=SHANGHAI, limit=1) == [utc(2026, 11, 1)]
    # Midnight in another zone moves the keys.
    assert occurrences(job, utc(2026, 9, 30), utc(2026, 10, 2), tz="UTC") == [utc(2026, 10, 1, 8)]


def test_every_job_has_a_valid_trigger_and_a_unique_id():
    assert len({job.id for job in JOBS}) == len(JOBS)
    for job in JOBS:
        assert len(job.id) <= 64 and callable(job.run)
        assert occurrences(job, utc(2026, 1, 1), utc(2026, 2, 15), tz=SHANGHAI, limit=1), job.id


def declared_jobs() -> set[Job]:
    """Every Job value declared in a `jobs` module of the app (the domains' and the app's own)."""
    names = ["volunteer_app.jobs"] + [
        f"volunteer_app.{package.name}.jobs"
        for package in pkgutil.iter_modules(volunteer_app.__path__)
        if package.ispkg and importlib.util.find_spec(f"volunteer_app.{package.name}.jobs")
    ]
    modules = [importlib.import_module(name) for name in names]
    return {value for module in modules for value in vars(module).values() if isinstance(value, Job)}


def test_the_scheduler_imports_no_domain():
    # Infrastructure: the domains import Job from it, never the other way round.
    # (heartbeats: core too, the scheduler's and the worker's sign of life)
    allowed = {
        "volunteer_app.db",
        "volunteer_app.extensions",
        "volunteer_app.heartbeats",
        "volunteer_app.logs",
    }
    for path in Path(volunteer_app.__file__).with_name("scheduler").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                if name.startswith("volunteer_app"):
                    assert name in allowed or name.startswith("volunteer_app.scheduler"), (path.name, name)


def test_the_app_registers_every_declared_job_once(app):
    with app.app_context():
        assert set(registry.registered().values()) == declared_jobs()
        assert list(registry.registered()) == [job.id for job in JOBS]
    with pytest.raises(ValueError, match="declared twice"):
        registry.init_app(app, [*JOBS, fake_job(), fake_job()])


# ---- exactly once ------------------------------------------------------------------------------------------


def test_run_due_twice_at_the_same_now_runs_once(app):
    job = fake_job()
    now = utc(2026, 11, 5, 3, 7, 30)
    with app.app_context():
        assert run_due(now, jobs=[job]) == [("test.job", "2026-11-05T03:07:00Z", "ran")]
        assert run_due(now, jobs=[job]) == []
    assert fakes.calls == [utc(2026, 11, 5, 3, 7)]
    assert runs(app) == [("2026-11-05T03:07:00Z", True)]


def test_coalesced_job_runs_only_the_newest_of_ten_missed_minutes(app):
    job = fake_job(coalesce=True)
    with app.app_context():
        run_due(utc(2026, 11, 5, 3, 0, 10), jobs=[job])
        # Ten minutes pass with nobody running: one catch-up run, for the newest minute.
        assert run_due(utc(2026, 11, 5, 3, 10, 10), jobs=[job]) == [
            ("test.job", "2026-11-05T03:10:00Z", "ran")
        ]
    assert fakes.calls == [utc(2026, 11, 5, 3, 0), utc(2026, 11, 5, 3, 10)]


def test_each_missed_monthly_occurrence_inside_the_window_runs(app):
    job = fake_job(MONTHLY, coalesce=False, catch_up=timedelta(days=45))
    with app.app_context():
        outcomes = run_due(utc(2026, 12, 3), jobs=[job])
        assert run_due(utc(2026, 12, 3, 1), jobs=[job]) == []
    assert outcomes == [
        ("test.job", "2026-11-01T00:00:00Z", "ran"),
        ("test.job", "2026-12-01T00:00:00Z", "ran"),
    ]
    assert fakes.calls == [utc(2026, 11, 1), utc(2026, 12, 1)]


def test_a_missed_occurrence_outside_the_window_is_not_run(app):
    job = fake_job(MONTHLY, coalesce=False, catch_up=timedelta(days=7))
    with app.app_context():
        assert run_due(utc(2026, 12, 8, 0, 0, 1), jobs=[job]) == []
        assert run_due(utc(2026, 12, 7, 23, 59), jobs=[job]) == [("test.job", "2026-12-01T00:00:00Z", "ran")]


def test_the_config_widens_a_window(app, monkeypatch):
    job = fake_job(MONTHLY, coalesce=False, catch_up=timedelta(days=7))
    monkeypatch.setitem(
        app.config, "SCHEDULER", {**app.config["SCHEDULER"], "catch_up_minutes": {"test.job": 14400}}
    )
    with app.app_context():
        assert [o[1] for o in run_due(utc(2026, 12, 8), jobs=[job])] == ["2026-12-01T00:00:00Z"]


def test_a_failing_job_leaves_no_claim_and_no_effect_and_runs_again(app, caplog):
    user = make_user(app)
    fakes.state.update(fail=1, user_id=user.id)
    job = fake_job()
    now = utc(2026, 11, 5, 3, 7, 30)
    with app.app_context():
        assert run_due(now, jobs=[job, PURGE]) == [
            ("test.job", "2026-11-05T03:07:00Z", "failed"),
            ("idempotency.purge", "2026-11-05T03:00:00Z", "ran"),  # the others still ran
        ]
    assert "job exploded" in caplog.text and "Traceback" in caplog.text
    assert runs(app) == [] and notices(app) == 0  # the effect went with the claim
    with app.app_context():
        assert run_due(now + timedelta(seconds=5), jobs=[job]) == [
            ("test.job", "2026-11-05T03:07:00Z", "ran")
        ]
    assert runs(app) == [("2026-11-05T03:07:00Z", True)] and notices(app) == 1


def test_a_job_that_cannot_be_called_fails_without_stopping_the_others(app):
    broken = Job(
        id="test.broken",
        run=fakes.takes_no_time,  # called as run(now=…): a TypeError, as a renamed parameter would give
        cron={"minute": "*"},
        catch_up=timedelta(minutes=5),
        coalesce=True,
        description="-",
    )
    with app.app_context():
        outcomes = run_due(utc(2026, 11, 5, 3, 7), jobs=[broken, fake_job()])
    assert [o[2] for o in outcomes] == ["failed", "ran"]
    assert runs(app, "test.broken") == []


def test_a_self_committing_job_releases_its_claim_when_it_fails(app):
    user = make_user(app)
    fakes.state.update(fail=1, user_id=user.id)
    job = fake_job(commits=True, run=fakes.record_committing)
    now = utc(2026, 11, 5, 3, 7, 30)
    with app.app_context():
        assert run_due(now, jobs=[job])[0][2] == "failed"
    assert runs(app) == [] and notices(app) == 1  # its committed batch stays: such jobs are idempotent
    with app.app_context():
        assert run_due(now, jobs=[job])[0][2] == "ran"
        assert run_due(now, jobs=[job]) == []
    assert runs(app) == [("2026-11-05T03:07:00Z", True)]


def test_a_job_that_rolls_back_inside_the_transaction_keeps_its_claim(app):
    # Not marked as committing, but its function rolls back (as a sweep finding nothing may do).
    job = fake_job(run=fakes.record_committing)
    now = utc(2026, 11, 5, 3, 7, 30)
    with app.app_context():
        assert run_due(now, jobs=[job])[0][2] == "ran"
        assert run_due(now, jobs=[job]) == []
    assert runs(app) == [("2026-11-05T03:07:00Z", True)]
    assert len(fakes.calls) == 1


def test_two_threads_racing_for_one_occurrence_run_it_once(app):
    user = make_user(app)
    fakes.state.update(user_id=user.id, sleep=0.3)
    job = fake_job()
    fire = utc(2026, 11, 5, 3, 7)
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def contender():
        with app.app_context():
            barrier.wait()
            outcomes.append(run_occurrence(job, fire))

    threads = [threading.Thread(target=contender) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["ran", "skipped"]
    assert notices(app) == 1 and fakes.calls == [fire]


def test_purge_keeps_job_runs_a_window_can_still_reach(app):
    now = utc(2026, 11, 5, 3, 0)
    with app.app_context():
        for key, age in (("old", timedelta(days=200)), ("recent", timedelta(days=10))):
            db.session.add(
                JobRun(job="test.job", occurrence_key=key, started_at=now - age, finished_at=now - age)
            )
        db.session.commit()
        run_due(now + timedelta(seconds=1), jobs=[PURGE])
    assert [key for key, _ in runs(app)] == ["recent"]


# ---- the command line --------------------------------------------------------------------------------------


def test_flask_scheduler_jobs_lists_every_job(app):
    with app.app_context():
        run_due(utc(2026, 11, 5, 3, 0, 5), jobs=[PURGE])
    result = app.test_cli_runner().invoke(args=["scheduler", "jobs"])
    assert result.exit_code == 0, result.output
    for job in JOBS:
        assert job.id in result.output
    purge_line = next(line for line in result.output.splitlines() if line.startswith("idempotency.purge"))
    assert "last 2026-11-05T03:00:00Z" in purge_line and "+08:00" in purge_line


def test_scheduler_run_once_runs_what_is_due(app):
    result = app.test_cli_runner().invoke(
        args=["scheduler", "run", "--once", "--now", "2026-11-05T03:00:05Z"]
    )
    assert result.exit_code == 0, result.output
    assert "catch-up:" in result.output
    assert runs(app, "idempotency.purge") == [("2026-11-05T03:00:00Z", True)]
    bad = app.test_cli_runner().invoke(args=["scheduler", "run", "--once", "--now", "yesterday"])
    assert bad.exit_code != 0


def test_web_apps_never_schedule(app):
    # Under test (and with the default mode "off") create_app starts nothing.
    assert start_embedded(app) is False
    assert app.config["SCHEDULER"]["mode"] == "off"
