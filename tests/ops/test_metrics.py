"""GET /metrics: its protection (no token configured: 404; no, a wrong or a non-bearer token: 401/403 in
the one error format; the right one: the Prometheus text), and its content: requests by route template
and status with latency histograms, grab outcomes, and the figures read from the database at scrape
time (queues, job runs, the last ledger verification, heartbeats) equal to the rows made here."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from tests.api.helpers import assert_error
from tests.orders.conftest import Loop
from tests.support import make_volunteer
from volunteer_app import heartbeats
from volunteer_app.db import utcnow
from volunteer_app.extensions import db
from volunteer_app.heartbeats import Heartbeat
from volunteer_app.notifications.models import Notification, OutboxMessage
from volunteer_app.scheduler.models import JobFailure, JobRun
from volunteer_app.scheduler.registry import Job
from volunteer_app.scheduler.runner import run_occurrence
from volunteer_app.worker.models import WorkItem

TOKEN = "metrics-token-for-tests-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
GRAB_ROUTE = "/api/v1/orders/<int:order_id>/grab"


@pytest.fixture
def token(app, monkeypatch):
    monkeypatch.setitem(app.config, "OPS", {**app.config["OPS"], "metrics_token": TOKEN})
    return TOKEN


def scrape(client) -> dict[tuple[str, tuple], float]:
    """Every sample of one authorized scrape: (name, sorted labels) -> value."""
    r = client.get("/metrics", headers=AUTH)
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    assert r.content_type.startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(r.get_data(as_text=True)):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


# ---- protection --------------------------------------------------------------------------------------


def test_metrics_does_not_exist_without_a_configured_token(app, client):
    assert not app.config["OPS"]["metrics_token"]
    assert_error(client.get("/metrics"), 404, "not_found")
    assert_error(client.get("/metrics", headers={"Authorization": "Bearer "}), 404, "not_found")


def test_metrics_refuses_a_missing_wrong_or_non_bearer_token(client, token):
    r = client.get("/metrics")
    assert_error(r, 401, "metrics.token_missing")
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert_error(
        client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}), 401, "metrics.token_missing"
    )
    assert_error(client.get("/metrics", headers={"Authorization": "Bearer"}), 401, "metrics.token_missing")
    for wrong in (TOKEN[:-1], TOKEN + "x", TOKEN.upper(), "x"):
        r = client.get("/metrics", headers={"Authorization": f"Bearer {wrong}"})
        assert_error(r, 403, "metrics.token_invalid")
        assert "volunteer_" not in r.get_data(as_text=True)
    r = client.get("/metrics", headers=AUTH)
    assert r.status_code == 200 and "volunteer_http_requests_total" in r.get_data(as_text=True)
    assert r.headers["Cache-Control"] == "no-store"


def test_a_jwt_of_an_admin_is_not_the_metrics_token(client, world, token):
    assert_error(client.get("/metrics", headers=world.admin.headers), 403, "metrics.token_invalid")


# ---- what the web processes count --------------------------------------------------------------------


def test_requests_are_counted_by_route_template_and_status_with_latency(app, client, world, token):
    before = scrape(client)
    site = world.sites["S1"]
    for _ in range(3):
        assert client.get(f"/api/v1/sites/{site}", headers=world.admin.headers).status_code == 200
    assert client.get("/api/v1/sites/987654321", headers=world.admin.headers).status_code == 404
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/no/such/page/42?lat=30.1&token=abc").status_code == 404
    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    route = "/api/v1/sites/<int:site_id>"
    total = "volunteer_http_requests_total"
    assert delta(total, method="GET", route=route, status="200") == 3
    assert delta(total, method="GET", route=route, status="404") == 1
    assert delta(total, method="GET", route="/api/v1/me", status="401") == 1
    assert delta(total, method="GET", route="<unmatched>", status="404") == 1
    hist = "volunteer_http_request_duration_seconds"
    assert delta(f"{hist}_count", method="GET", route=route) == 4
    assert delta(f"{hist}_bucket", method="GET", route=route, le="+Inf") == 4
    assert delta(f"{hist}_sum", method="GET", route=route) > 0
    # Labels are route templates: no id, no query string, no raw path ever becomes a label.
    routes = {dict(labels).get("route") for (name, labels) in after if name == total}
    assert route in routes and "<unmatched>" in routes
    assert not any(r and (str(site) in r or "42" in r or "?" in r) for r in routes), routes


def test_grabs_are_counted_won_full_and_refused(app, client, world, token):
    loop = Loop(app, client)
    before = scrape(client)
    order = loop.submit(world.resident)
    loop.dispatch_grab(world.mgr_s1, order["id"], capacity=1)
    other = make_volunteer(app, world.sites["S1"], 31, "志愿者甲")
    loop.grab(world.vol_s1, order["id"])  # won: the one place
    loop.grab(world.vol_s1, order["id"], status=409)  # refused or full: it is taken (by them)
    loop.grab(other, order["id"], status=409)  # full
    waiting = loop.submit(world.resident)  # not dispatched: no pool to grab from
    loop.grab(other, waiting["id"], status=404)  # refused
    after = scrape(client)
    grabs = "volunteer_order_grabs_total"
    won = value(after, grabs, outcome="won") - value(before, grabs, outcome="won")
    full = value(after, grabs, outcome="full") - value(before, grabs, outcome="full")
    refused = value(after, grabs, outcome="refused") - value(before, grabs, outcome="refused")
    assert won == 1
    assert full + refused == 3 and full >= 1 and refused >= 1
    requests = "volunteer_http_requests_total"
    assert (
        value(after, requests, method="POST", route=GRAB_ROUTE, status="201")
        - value(before, requests, method="POST", route=GRAB_ROUTE, status="201")
        == 1
    )


def test_the_pool_gauges_show_this_process_pool(client, token):
    samples = scrape(client)
    # The scrape itself holds one connection (the database figures) while it reads the pool.
    assert value(samples, "volunteer_db_pool_size") >= 1
    assert (
        0 <= value(samples, "volunteer_db_pool_checked_out") <= value(samples, "volunteer_db_pool_size") + 10
    )


# ---- what the database holds, read at scrape time ----------------------------------------------------


def test_queue_figures_equal_the_rows(app, client, world, token):
    now = utcnow()
    with app.app_context():
        db.session.add_all(
            [
                WorkItem(kind="export", args={}, state="queued", run_after=now - timedelta(minutes=10)),
                WorkItem(kind="export", args={}, state="failed", run_after=now - timedelta(minutes=2)),
                WorkItem(kind="export", args={}, state="queued", run_after=now + timedelta(hours=1)),
                WorkItem(kind="export", args={}, state="running", lease_until=now + timedelta(minutes=1)),
                WorkItem(kind="export", args={}, state="dead", run_after=now - timedelta(days=1)),
                WorkItem(kind="export", args={}, state="dead", run_after=now - timedelta(days=1)),
                WorkItem(kind="export", args={}, state="done", run_after=now - timedelta(days=2)),
            ]
        )
        note = Notification(user_id=world.vol_s1.id, kind="order.filled", params={})
        db.session.add(note)
        db.session.flush()
        rows = [("pending", -5), ("pending", 30), ("dead", -60), ("sent", -60), ("failed", -1)]
        for status, minutes in rows:
            db.session.add(
                OutboxMessage(
                    notification_id=note.id,
                    user_id=world.vol_s1.id,
                    channel="console",
                    status=status,
                    next_try_at=now + timedelta(minutes=minutes),
                )
            )
        db.session.commit()
    samples = scrape(client)
    assert value(samples, "volunteer_queue_depth", queue="work") == 2
    assert value(samples, "volunteer_queue_items", queue="work", state="queued") == 2
    assert value(samples, "volunteer_queue_items", queue="work", state="running") == 1
    assert value(samples, "volunteer_queue_items", queue="work", state="failed") == 1
    assert value(samples, "volunteer_queue_items", queue="work", state="dead") == 2
    assert value(samples, "volunteer_queue_dead_items", queue="work") == 2
    assert 600 <= value(samples, "volunteer_queue_oldest_due_age_seconds", queue="work") < 660
    assert value(samples, "volunteer_queue_depth", queue="outbox") == 2
    assert value(samples, "volunteer_queue_items", queue="outbox", state="pending") == 2
    assert value(samples, "volunteer_queue_dead_items", queue="outbox") == 1
    assert 300 <= value(samples, "volunteer_queue_oldest_due_age_seconds", queue="outbox") < 360
    assert value(samples, "volunteer_ops_database_up") == 1


def test_job_runs_failures_and_the_last_verification_equal_the_rows(app, client, token):
    now = utcnow().replace(microsecond=0)
    with app.app_context():
        for i, seconds in enumerate((1, 2, 6)):
            started = now - timedelta(hours=1, minutes=i)
            db.session.add(
                JobRun(
                    job="orders.deadlines",
                    occurrence_key=f"2026-01-01T00:0{i}:00Z",
                    started_at=started,
                    finished_at=started + timedelta(seconds=seconds),
                )
            )
        db.session.add(JobRun(job="orders.deadlines", occurrence_key="2026-01-01T00:09:00Z", started_at=now))
        # Older than the 24-hour window: not counted among the runs, but still the last success of its job.
        old = now - timedelta(days=3)
        db.session.add(
            JobRun(job="timebank.statements", occurrence_key="x", started_at=old, finished_at=old, result={})
        )
        db.session.add(
            JobFailure(
                job="orders.deadlines", occurrence_key="k", started_at=now, failed_at=now, error="E: x"
            )
        )
        verified = now - timedelta(hours=5)
        db.session.add(
            JobRun(
                job="timebank.verify",
                occurrence_key="2026-01-01T19:00:00Z",
                started_at=verified - timedelta(seconds=4),
                finished_at=verified,
                result={"ok": False, "problems": 2, "first": "transfer 7: hash differs"},
            )
        )
        db.session.commit()
    samples = scrape(client)
    runs = "volunteer_job_runs"
    assert value(samples, runs, job="orders.deadlines", outcome="ok") == 3
    assert value(samples, runs, job="orders.deadlines", outcome="unfinished") == 1
    assert value(samples, runs, job="orders.deadlines", outcome="failed") == 1
    assert value(samples, runs, job="timebank.statements", outcome="ok") == 0
    assert value(samples, "volunteer_job_duration_seconds_max", job="orders.deadlines") == pytest.approx(
        6, abs=0.01
    )
    assert value(samples, "volunteer_job_duration_seconds_mean", job="orders.deadlines") == pytest.approx(
        3, abs=0.01
    )
    assert (
        value(samples, "volunteer_job_last_success_timestamp_seconds", job="timebank.statements")
        == old.timestamp()
    )
    assert (
        value(samples, "volunteer_job_last_failure_timestamp_seconds", job="orders.deadlines")
        == now.timestamp()
    )
    assert value(samples, "volunteer_ledger_verify_last_timestamp_seconds") == verified.timestamp()
    assert value(samples, "volunteer_ledger_verify_last_ok") == 0
    assert value(samples, "volunteer_ledger_verify_last_problems") == 2


def test_a_failing_job_is_recorded_in_job_failures(app):
    def boom(now):
        raise RuntimeError("the database said no")

    job = Job(
        id="test.boom",
        run=boom,
        cron={"minute": "*"},
        catch_up=timedelta(minutes=5),
        coalesce=True,
        description="",
    )
    with app.app_context():
        assert run_occurrence(job, utcnow()) == "failed"
        rows = db.session.execute(select(JobFailure.job, JobFailure.error)).all()
        assert rows == [("test.boom", "RuntimeError: the database said no")]
        assert db.session.scalar(select(func.count()).select_from(JobRun)) == 0  # the claim went back


# ---- heartbeats --------------------------------------------------------------------------------------


def _beats(app, kind):
    with app.app_context():
        rows = db.session.execute(
            select(Heartbeat.instance, Heartbeat.beat_at).where(Heartbeat.kind == kind)
        ).all()
        db.session.rollback()
        return rows


def wait_until(condition, seconds: float = 15.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_beater_writes_one_row_per_process_and_upserts_it(app, client, token):
    with app.app_context():
        beater = heartbeats.Beater("worker", every=3600)
        assert beater.tick() is True
        assert beater.tick() is False  # not yet due
        first = _beats(app, "worker")
        beater.every = 0
        assert beater.tick() is True
    second = _beats(app, "worker")
    assert len(first) == len(second) == 1 and first[0][0] == second[0][0] == heartbeats.instance_name()
    assert second[0][1] >= first[0][1]
    samples = scrape(client)
    assert value(samples, "volunteer_heartbeat_processes", kind="worker") == 1
    assert value(samples, "volunteer_heartbeat_processes", kind="scheduler") == 0
    assert 0 <= value(samples, "volunteer_heartbeat_age_seconds", kind="worker") < 30


def test_the_worker_loop_beats_while_idle(app, monkeypatch):
    from volunteer_app.worker.process import work_forever
    from volunteer_app.worker.runner import Worker

    monkeypatch.setitem(app.config, "OPS", {**app.config["OPS"], "heartbeat_seconds": 1})
    worker = Worker(app)

    def run():
        with app.app_context():
            work_forever(worker)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        assert wait_until(lambda: _beats(app, "worker")), "no worker heartbeat"
        first = _beats(app, "worker")[0][1]
        assert wait_until(lambda: _beats(app, "worker")[0][1] > first), "the idle worker stopped beating"
    finally:
        worker.stopping.set()
        thread.join(30)
    # Stopped cleanly: its row is gone, so a restart is not counted as two running workers.
    assert _beats(app, "worker") == []


def test_the_scheduler_beats(app, monkeypatch):
    from apscheduler.schedulers.background import BackgroundScheduler

    from volunteer_app.scheduler.process import build_scheduler

    monkeypatch.setitem(app.config, "OPS", {**app.config["OPS"], "heartbeat_seconds": 1})
    scheduler = build_scheduler(app, BackgroundScheduler)
    for job in scheduler.get_jobs():
        if job.id != "heartbeat":
            job.remove()  # only the heartbeat: the jobs themselves are tested elsewhere
    scheduler.start()
    try:
        assert wait_until(lambda: _beats(app, "scheduler")), "no scheduler heartbeat"
        first = _beats(app, "scheduler")[0][1]
        assert wait_until(lambda: _beats(app, "scheduler")[0][1] > first), "the scheduler stopped beating"
    finally:
        scheduler.shutdown(wait=True)
