"""Real `flask worker run` processes against the test database (FLASK_APP=tests.worker.fakes:create_app:
the app with the test kinds): two workers share 200 deliveries and 100 queued items, each done once;
a worker killed with SIGKILL mid-item leaves it to another after its lease, never before, and it is
done once; SIGTERM lets a worker finish the item in hand and exit 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import sqlalchemy as sa

from tests.notifications.conftest import notify
from tests.scheduler.test_processes import wait_for
from tests.support import many_volunteers
from tests.worker.conftest import enqueue, item
from volunteer_app.extensions import db
from volunteer_app.notifications.models import OutboxMessage
from volunteer_app.worker.models import WorkItem

ROOT = Path(__file__).resolve().parents[2]
FLASK = str(Path(sys.executable).with_name("flask"))
LEASE = 3  # seconds: short, so a killed worker's item comes back soon


def environment(database_url: str, tmp_path: Path) -> dict[str, str]:
    overlay = tmp_path / "worker.toml"
    overlay.write_text(f"[worker]\nlease_seconds = {LEASE}\npoll_seconds = 0.5\nsqlite_poll_seconds = 0.2\n")
    env = {k: v for k, v in os.environ.items() if not k.endswith(("SCHEDULER_MODE", "WORKER_MODE"))}
    env.update(
        FLASK_APP="tests.worker.fakes:create_app",
        PYTHONPATH=str(ROOT),
        DATABASE_URL=database_url,
        VOLUNTEER_CONFIG=str(overlay),
        VOLUNTEER_INSTANCE_DIR=str(tmp_path / "instance"),
        VOLUNTEER_NOTIFICATION_SENDER="tests.worker.fakes:FileSender",
        WORKER_SENT_FILE=str(tmp_path / "sent.txt"),
        PYTHONUNBUFFERED="1",
    )
    return env


def start(env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen(
            [FLASK, "worker", "run"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )


def stop(processes: list[subprocess.Popen]) -> list[int]:
    for p in processes:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    codes = []
    for p in processes:
        try:
            codes.append(p.wait(timeout=30))
        except subprocess.TimeoutExpired:
            p.kill()
            codes.append(p.wait())
    return codes


def sent_lines(env: dict[str, str]) -> list[str]:
    path = Path(env["WORKER_SENT_FILE"])
    return path.read_text().splitlines() if path.exists() else []


def outbox_states(app) -> Counter:
    with app.app_context():
        return Counter(db.session.scalars(sa.select(OutboxMessage.status)))


def test_two_workers_send_200_notifications_and_run_100_items_each_once(
    app, world, database_url, tmp_path, kinds
):
    env = environment(database_url, tmp_path)
    marker = tmp_path / "marks.txt"
    logs = [tmp_path / f"worker{i}.log" for i in range(2)]
    processes = [start(env, log) for log in logs]
    try:
        wait_for(lambda: all("running" in log.read_text() for log in logs), 60, "both workers to start")
        people = many_volunteers(app, world.sites["S1"], 100)
        notify(app, people)  # 100 outbox rows, woken at this commit
        items = [enqueue(app, "test.slow", {"seconds": 0.01, "marker": str(marker)}) for _ in range(100)]
        # and 100 more by the external channels' route (push|wechat|sms): an urgent kind, which quiet hours
        # never hold back (order.cancelled, on the same route, waited for the morning when the suite ran
        # in the deployment's quiet hours, 22:00-07:00 in Shanghai)
        notify(app, people, "order.reminder")
        wait_for(lambda: len(sent_lines(env)) >= 200, 60, lambda: f"200 sends, got {len(sent_lines(env))}")
        wait_for(lambda: work_states(app) == Counter({"done": 100}), 60, lambda: work_states(app))
        time.sleep(1)  # anything done twice would show now
    finally:
        codes = stop(processes)
    output = "\n".join(log.read_text() for log in logs)
    assert codes == [0, 0], output
    ids = [line.split()[0] for line in sent_lines(env)]
    assert len(ids) == len(set(ids)) == 200, Counter(ids).most_common(3)
    assert outbox_states(app) == Counter({"sent": 200})
    starts = [line.split()[1:3] for line in marker.read_text().splitlines() if line.startswith("start")]
    assert sorted(int(i) for i, _attempt in starts) == sorted(items)  # each item ran once, at attempt 1
    assert {attempt for _i, attempt in starts} == {"1"}
    pids = Counter(line.split()[1] for line in sent_lines(env))
    if database_url.startswith("postgres"):
        assert len(pids) == 2, pids  # both took part (SKIP LOCKED: each claims its own rows)


def work_states(app) -> Counter:
    with app.app_context():
        return Counter(db.session.scalars(sa.select(WorkItem.state)))


def test_a_worker_killed_mid_item_leaves_it_to_another_after_the_lease(app, database_url, tmp_path, kinds):
    env = environment(database_url, tmp_path)
    marker = tmp_path / "marks.txt"
    item_id = enqueue(app, "test.slow", {"seconds": 2, "marker": str(marker)})
    first = start(env, tmp_path / "first.log")
    second = None
    try:
        wait_for(
            lambda: marker.exists() and "start" in marker.read_text(), 60, "the first worker to start it"
        )
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        killed_at = time.time()
        held = item(app, item_id)
        assert held.state == "running" and held.attempts == 1
        lease_until = held.lease_until.timestamp()
        second = start(env, tmp_path / "second.log")
        wait_for(lambda: "running" in (tmp_path / "second.log").read_text(), 60, "the second worker")
        ready_at = time.time()  # a loaded machine (CI runs two suites at once) takes seconds to start one
        wait_for(lambda: item(app, item_id).state == "done", 60, lambda: marker.read_text())
    finally:
        codes = stop([p for p in (first, second) if p is not None])
    marks = [line.split() for line in marker.read_text().splitlines()]
    assert [(m[0], m[2]) for m in marks] == [("start", "1"), ("start", "2"), ("end", "2")], marks
    retaken_at = float(marks[1][3])
    assert retaken_at >= lease_until - 0.05, (retaken_at, lease_until)  # never before the lease ran out
    # and soon after it, once a worker is there to take it: within a poll or two, not another lease
    assert retaken_at - max(lease_until, ready_at) < 5, (retaken_at, lease_until, ready_at, killed_at)
    done = item(app, item_id)
    assert (done.state, done.attempts, done.result) == ("done", 2, {"slept": 2})
    assert codes[-1] == 0


def test_sigterm_finishes_the_item_in_hand_and_exits_0(app, database_url, tmp_path, kinds):
    env = environment(database_url, tmp_path)
    marker = tmp_path / "marks.txt"
    item_id = enqueue(app, "test.slow", {"seconds": 2, "marker": str(marker)})
    later = enqueue(app, "test.count", {"n": 1})
    worker = start(env, tmp_path / "worker.log")
    try:
        wait_for(lambda: marker.exists() and "start" in marker.read_text(), 60, "the worker to start it")
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(30)
    finally:
        stop([worker])
    assert code == 0, (tmp_path / "worker.log").read_text()
    assert item(app, item_id).state == "done"
    left = item(app, later)
    assert (left.state, left.attempts) == ("queued", 0)  # no more work was taken after the signal
