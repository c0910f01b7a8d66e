"""The issue's test: two real `flask scheduler run` processes at once, then restarts with `--once`.

Both processes catch up the last 1st-of-month statement (its window widened by a config overlay; the
other jobs' windows closed, so the statements are all they catch up). On PostgreSQL the test holds a
lock on job_runs until both processes wait on it with their claim, so they truly race for every
occurrence; SQLite serialises writers, so there the second simply finds the claims. Either way each
occurrence must run once and each book that moved get exactly one notice.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from tests.support import credit, make_user
from volunteer_app.extensions import db
from volunteer_app.jobs import JOBS
from volunteer_app.notifications.models import Notification
from volunteer_app.scheduler.models import JobRun
from volunteer_app.scheduler.runner import occurrence_key, occurrences
from volunteer_app.timebank.jobs import STATEMENTS, previous_month

ROOT = Path(__file__).resolve().parents[2]
FLASK = str(Path(sys.executable).with_name("flask"))
WINDOW = timedelta(days=40)


def environment(database_url: str, tmp_path: Path) -> dict[str, str]:
    # The statements' window is widened; the other jobs' closed, so they catch nothing up.
    windows = {job.id: 0 for job in JOBS} | {STATEMENTS.id: int(WINDOW.total_seconds() // 60)}
    overlay = tmp_path / "scheduler.toml"
    lines = [f'"{job_id}" = {minutes}' for job_id, minutes in windows.items()]
    overlay.write_text("\n".join(["[scheduler.catch_up_minutes]", *lines, ""]))
    env = {k: v for k, v in os.environ.items() if not k.endswith("SCHEDULER_MODE")}
    env.update(
        FLASK_APP="wsgi.py",
        DATABASE_URL=database_url,
        VOLUNTEER_CONFIG=str(overlay),
        VOLUNTEER_INSTANCE_DIR=str(tmp_path / "instance"),
        PYTHONUNBUFFERED="1",
    )
    return env


def statement_runs(app) -> list[tuple[str, bool]]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(JobRun.occurrence_key, JobRun.finished_at)
            .where(JobRun.job == STATEMENTS.id)
            .order_by(JobRun.occurrence_key)
        ).all()
        return [(key, finished is not None) for key, finished in rows]


def statement_notices(app) -> list[tuple[int, str]]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(Notification.user_id, Notification.params)
            .where(Notification.kind == "timebank.statement")
            .order_by(Notification.user_id, Notification.id)
        ).all()
        return [(user_id, params["month"]) for user_id, params in rows]


def wait_for(condition, timeout: float, what) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")
        time.sleep(0.3)


def once(env: dict[str, str], now: datetime) -> str:
    result = subprocess.run(
        [FLASK, "scheduler", "run", "--once", "--now", now.strftime("%Y-%m-%dT%H:%M:%SZ")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_two_scheduler_processes_run_each_occurrence_once_and_restarts_add_nothing(
    app, world, database_url, tmp_path
):
    now = datetime.now(UTC)
    expected = [occurrence_key(f) for f in occurrences(STATEMENTS, now - WINDOW, now, tz="Asia/Shanghai")]
    newest = occurrences(STATEMENTS, now - WINDOW, now, tz="Asia/Shanghai")[-1]
    last_month, month_start, _ = previous_month_of(app, newest)
    s1 = world.sites["S1"]
    a, b, c = (make_user(app, name=n) for n in ("甲", "乙", "丙"))
    credit(app, a, s1, 30, at=month_start + timedelta(days=10))
    credit(app, b, s1, 45, at=month_start + timedelta(days=20))
    with app.app_context():
        next_fire = STATEMENTS.trigger("Asia/Shanghai").get_next_fire_time(None, now).astimezone(UTC)
    this_month = previous_month_of(app, next_fire)[0]
    credit(app, c, s1, 60, at=next_fire - timedelta(days=2))  # moves in this month, reported next month

    env = environment(database_url, tmp_path)
    logs = [tmp_path / f"scheduler{i}.log" for i in range(2)]
    processes = []
    postgres = database_url.startswith("postgres")
    try:
        with claims_held_until_both_wait(database_url) if postgres else contextlib.nullcontext():
            for log in logs:
                with open(log, "w") as out:
                    processes.append(
                        subprocess.Popen(
                            [FLASK, "scheduler", "run"],
                            cwd=ROOT,
                            env=env,
                            stdout=out,
                            stderr=subprocess.STDOUT,
                        )
                    )
        wait_for(
            lambda: all("catch-up:" in log.read_text() for log in logs),
            timeout=90,
            what=lambda: "both catch-ups:\n" + "\n".join(log.read_text() for log in logs),
        )
        assert all(p.poll() is None for p in processes), "a scheduler process died"
    finally:
        for p in processes:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in processes:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    output = "\n".join(log.read_text() for log in logs)

    assert statement_runs(app) == [(key, True) for key in expected]
    for key in expected:  # each occurrence ran in exactly one of the two processes
        assert output.count(f"job timebank.statements occurrence {key} done") == 1, output
    tried = [int(n) for n in re.findall(r"catch-up: (\d+) occurrences tried", output)]
    if postgres:  # both raced for every occurrence: one ran it, the other found it claimed
        assert tried == [len(expected), len(expected)], output
    assert statement_notices(app) == sorted([(a.id, last_month), (b.id, last_month)])

    # A restart after a missed fire time runs the newly due occurrence, and only that; again later: nothing.
    assert f"occurrence {occurrence_key(next_fire)} done" in once(env, next_fire + timedelta(hours=1))
    once(env, next_fire + timedelta(hours=2))
    assert statement_runs(app) == [(key, True) for key in [*expected, occurrence_key(next_fire)]]
    assert statement_notices(app) == sorted([(a.id, last_month), (b.id, last_month), (c.id, this_month)])


def previous_month_of(app, moment: datetime):
    with app.app_context():
        return previous_month(moment)


@contextlib.contextmanager
def claims_held_until_both_wait(database_url: str):
    """Hold a lock that blocks every INSERT into job_runs (reads go on) until two other sessions wait
    on it — both schedulers have listed their due occurrences and are claiming — then let go."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("LOCK TABLE job_runs IN SHARE ROW EXCLUSIVE MODE")

            def both_wait() -> bool:
                waiting = conn.exec_driver_sql(
                    "SELECT count(*) FROM pg_locks WHERE relation = 'job_runs'::regclass AND NOT granted"
                ).scalar()
                return waiting >= 2

            yield
            wait_for(both_wait, timeout=90, what="both schedulers to wait on their claims")
            conn.commit()
    finally:
        engine.dispose()
