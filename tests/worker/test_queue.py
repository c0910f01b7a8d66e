"""The queue in one process: enqueued with the change, claimed once, leases, retries, dead items,
progress and results as the owner sees them at GET /jobs/{id}."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.api.helpers import assert_error
from tests.notifications.conftest import run_worker
from tests.worker.conftest import enqueue, item
from volunteer_app.db import utcnow
from volunteer_app.extensions import db
from volunteer_app.worker import queue, registry
from volunteer_app.worker.models import WorkItem
from volunteer_app.worker.process import Listener
from volunteer_app.worker.registry import Work
from volunteer_app.worker.runner import Worker

API = "/api/v1"


def test_work_exists_only_if_the_transaction_that_enqueued_it_commits(app, world, kinds):
    with app.app_context():
        queue.enqueue("test.count", {"n": 1})
        db.session.rollback()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(WorkItem)) == 0
    item_id = enqueue(app, "test.count", {"n": 3}, owner=world.vol_s1)
    row = item(app, item_id)
    assert (row.state, row.attempts, row.owner_id, row.args) == ("queued", 0, world.vol_s1.id, {"n": 3})


def test_an_unknown_kind_is_refused_at_enqueue(app, kinds):
    with app.app_context(), pytest.raises(ValueError, match="unknown work kind"):
        queue.enqueue("test.nothing", {})


def test_a_kind_declared_twice_is_refused(app):
    with pytest.raises(ValueError, match="declared twice"):
        registry.init_app(app.__class__("x"), [Work(kind="a", run=print, description="")] * 2)


def test_the_worker_runs_an_item_to_done_with_its_result_and_progress(app, world, kinds):
    item_id = enqueue(app, "test.count", {"n": 4}, owner=world.vol_s1)
    assert run_worker(app) == 1
    row = item(app, item_id)
    assert (row.state, row.done, row.total, row.result, row.attempts) == ("done", 4, 4, {"counted": 4}, 1)
    assert row.started_at <= row.finished_at and row.lease_until is None
    assert run_worker(app) == 0  # done is done


def test_a_failing_item_backs_off_then_dies_with_its_last_error(app, kinds):
    item_id = enqueue(app, "test.boom", {"message": "gateway down"})
    now = utcnow()
    with app.app_context():
        worker = Worker(app)
        assert worker.run_one(now) is True
        row = db.session.get(WorkItem, item_id)
        assert (row.state, row.attempts, row.last_error) == ("failed", 1, "RuntimeError: gateway down")
        assert row.run_after == now + queue.retry_delay(1)
        assert worker.run_one(now + timedelta(seconds=5)) is False  # backing off
        assert worker.run_one(now + timedelta(seconds=11)) is True
        assert worker.run_one(now + timedelta(hours=2)) is True
        db.session.expire_all()
        row = db.session.get(WorkItem, item_id)
        assert (row.state, row.attempts, row.last_error) == ("dead", 3, "RuntimeError: gateway down")
        assert row.finished_at is not None
        assert worker.run_one(now + timedelta(days=1)) is False


def test_a_claimed_item_is_taken_again_after_its_lease_never_before(app, kinds):
    item_id = enqueue(app, "test.count", {"n": 1})
    now = utcnow()
    with app.app_context():
        dead = queue.claim("dead-worker", now)  # claimed, then its worker died
        assert dead.id == item_id
        lease = registry.lease()
        assert queue.claim("other", now + lease - timedelta(seconds=1)) is None
        again = queue.claim("other", now + lease)
        assert (again.id, again.attempt) == (item_id, 2)
        # The dead worker comes back to life: its claim no longer holds, its outcome is not recorded.
        assert queue.complete(dead, {"late": True}) is False
        assert queue.complete(again, {"counted": 1}) is True
    assert (item(app, item_id).state, item(app, item_id).result) == ("done", {"counted": 1})


def test_an_item_whose_workers_keep_dying_is_given_up(app, kinds):
    item_id = enqueue(app, "test.count", {"n": 1})  # max_attempts 3
    moment = utcnow()
    with app.app_context():
        for _ in range(3):
            assert queue.claim("dies", moment) is not None
            moment += registry.lease()
        assert queue.claim("next", moment) is None
    row = item(app, item_id)
    assert (row.state, row.last_error) == ("dead", "lease expired: its worker stopped")


def test_changes_of_a_handler_whose_lease_was_lost_are_rolled_back(app, world, kinds):
    def rename(ctx):
        db.session.execute(sa.text("UPDATE users SET name = 'changed' WHERE id = :id"), {"id": ctx.owner_id})
        # Meanwhile its lease ran out and another worker took the item.
        db.session.execute(sa.update(WorkItem).where(WorkItem.id == ctx.id).values(claimed_by="thief"))

    registry.add(app, Work(kind="test.rename", run=rename, description=""))
    item_id = enqueue(app, "test.rename", owner=world.vol_s1)
    run_worker(app)
    with app.app_context():
        assert (
            db.session.scalar(sa.text("SELECT name FROM users WHERE id = :id"), {"id": world.vol_s1.id})
            != "changed"
        )
    assert item(app, item_id).state == "running"  # the thief's: not overwritten


def test_a_stopping_worker_releases_what_it_claimed_untried(app, kinds):
    item_id = enqueue(app, "test.count", {"n": 1})
    with app.app_context():
        worker = Worker(app)
        worker.stopping.set()
        assert worker.run_one() is False
    row = item(app, item_id)
    assert (row.state, row.attempts, row.claimed_by) == ("queued", 0, None)


# ---- progress and the result, as the owner sees them -------------------------------------------------


def test_progress_moves_and_the_result_is_for_its_owner_only(app, client, world, kinds):
    steps = [threading.Event() for _ in range(3)]
    seen = threading.Event()

    def stepped(ctx, n):
        for i in range(n):
            ctx.progress(i, n, force=True)
            seen.set()
            assert steps[i].wait(10)
        return queue.ResultFile("steps.csv", "text/csv", b"step\n1\n2\n3\n", {"rows": n})

    registry.add(app, Work(kind="test.stepped", run=stepped, description=""))
    item_id = enqueue(app, "test.stepped", {"n": 3}, owner=world.vol_s1)
    url = f"{API}/jobs/{item_id}"
    r = client.get(url, headers=world.vol_s1.headers)
    assert (r.status_code, r.json["state"], r.json["done"], r.json["result_url"]) == (200, "queued", 0, None)
    assert_error(client.get(f"{url}/result", headers=world.vol_s1.headers), 404, "job.no_result")

    runner = threading.Thread(target=run_worker, args=(app,))
    runner.start()
    try:
        progress = []
        for step in steps:
            assert seen.wait(10)
            seen.clear()
            body = client.get(url, headers=world.vol_s1.headers).json
            progress.append((body["state"], body["done"], body["total"]))
            step.set()
    finally:
        for step in steps:
            step.set()
        runner.join(30)
    assert progress == [("running", 0, 3), ("running", 1, 3), ("running", 2, 3)]
    body = client.get(url, headers=world.vol_s1.headers).json
    assert {k: body[k] for k in ("state", "done", "total", "error", "result")} == {
        "state": "done",
        "done": 3,
        "total": 3,
        "error": None,
        "result": {"rows": 3},
    }
    assert body["result_url"] == f"{url}/result" and body["finished_at"] >= body["started_at"]
    r = client.get(f"{url}/result", headers=world.vol_s1.headers)
    assert (r.status_code, r.mimetype, r.data) == (200, "text/csv", b"step\n1\n2\n3\n")
    assert "steps.csv" in r.headers["Content-Disposition"]
    for other in (world.vol_s4, world.mgr_s1, world.admin):  # not theirs: as if it did not exist
        assert_error(client.get(url, headers=other.headers), 404, "not_found")
        assert_error(client.get(f"{url}/result", headers=other.headers), 404, "not_found")
    assert_error(client.get(url), 401)
    assert_error(client.get(f"{API}/jobs/{item_id + 1000}", headers=world.vol_s1.headers), 404)


def test_a_dead_job_shows_its_error(app, client, world, kinds):
    item_id = enqueue(app, "test.boom", {"message": "no"}, owner=world.resident)
    with app.app_context():
        worker = Worker(app)
        moment = utcnow()
        for _ in range(3):
            worker.run_one(moment)
            moment += timedelta(hours=2)
    body = client.get(f"{API}/jobs/{item_id}", headers=world.resident.headers).json
    assert (body["state"], body["error"], body["attempts"]) == ("dead", "RuntimeError: no", 3)


# ---- waking the workers on PostgreSQL ---------------------------------------------------------------


def test_a_commit_that_enqueues_wakes_a_listening_worker_and_a_rollback_does_not(app, kinds):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("LISTEN/NOTIFY is PostgreSQL's; SQLite's workers poll")
        listener = Listener(db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False))
        listener.connect()
        try:
            stop = threading.Event()
            queue.enqueue("test.count", {"n": 1})
            db.session.rollback()
            assert _woken(listener, stop) is False
            queue.enqueue("test.count", {"n": 1})
            db.session.commit()
            assert _woken(listener, stop) is True
        finally:
            listener.close()


def _woken(listener: Listener, stop: threading.Event) -> bool:
    import time

    started = time.monotonic()
    listener.wait(stop, 2.0)
    return time.monotonic() - started < 1.5


# ---- settings ---------------------------------------------------------------------------------------


def test_the_worker_mode_comes_from_the_environment_and_is_checked():
    from volunteer_app.settings import ConfigError, build_config

    assert build_config(environ={})["WORKER"]["mode"] == "off"
    assert build_config(environ={"VOLUNTEER_WORKER_MODE": "Embedded"})["WORKER"]["mode"] == "embedded"
    with pytest.raises(ConfigError, match="worker mode"):
        build_config(environ={"VOLUNTEER_WORKER_MODE": "threads"})


def test_a_test_app_never_embeds_a_worker(app):
    from volunteer_app.worker.process import start_embedded

    app.config["WORKER"] = {**app.config["WORKER"], "mode": "embedded"}
    try:
        assert start_embedded(app) is None
    finally:
        app.config["WORKER"] = {**app.config["WORKER"], "mode": "off"}
