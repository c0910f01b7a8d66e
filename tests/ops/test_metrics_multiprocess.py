"""/metrics under a real gunicorn with 2 workers (volunteer_app/config/gunicorn.py, app preloaded):
prometheus_client's multiprocess mode keeps each worker's counts in PROMETHEUS_MULTIPROC_DIR, emptied
when the master starts, and one scrape, answered by either worker, sums them; when a worker dies
(child_exit → mark_process_dead) its live gauges leave the sum and its counts stay."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.pg_cluster import free_port

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "multiprocess-metrics-token-0123456789"
REQUESTS = 60


def _get(port: int, path: str, headers: dict | None = None) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def _healthz_count(text: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "volunteer_http_requests_total" and s.labels.get("route") == "/healthz":
                total += s.value
    return total


def _pids(directory: Path, prefix: str) -> set[int]:
    return {
        int(m.group(1)) for p in directory.iterdir() if (m := re.fullmatch(rf"{prefix}_(\d+)\.db", p.name))
    }


def _per_worker_healthz(directory: Path, pid: int) -> float:
    """What one worker's file alone says (the collector run over a copy of only that file)."""
    alone = Path(tempfile.mkdtemp(prefix="one-worker-"))
    try:
        shutil.copy(directory / f"counter_{pid}.db", alone)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(alone))
        return sum(
            s.value
            for family in registry.collect()
            for s in family.samples
            if s.name == "volunteer_http_requests_total" and s.labels.get("route") == "/healthz"
        )
    finally:
        shutil.rmtree(alone)


def test_two_gunicorn_workers_are_summed_in_one_scrape(app, database_url, tmp_path):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"left over from a previous run, not a valid file")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.endswith(("SCHEDULER_MODE", "WORKER_MODE"))}
    env.pop("VOLUNTEER_CONFIG", None)
    env.pop("VOLUNTEER_METRICS_DIR_OWNER", None)
    env.update(
        DATABASE_URL=database_url,
        VOLUNTEER_INSTANCE_DIR=str(tmp_path / "instance"),
        BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="2",
        PYTHONPATH=str(ROOT),
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        VOLUNTEER_METRICS_TOKEN=TOKEN,
    )
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "python:volunteer_app.config.gunicorn",
        "volunteer_app:create_app()",
    ]
    log = tmp_path / "gunicorn.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log.read_text()[-2000:]
            try:
                if _get(port, "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "gunicorn did not become ready"
            time.sleep(0.2)
        assert not (metrics_dir / "counter_1.db").exists()  # the master emptied the directory

        # Concurrent requests: the two sync workers share them.
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda _: _get(port, "/healthz")[0], range(REQUESTS)))
        assert statuses == [200] * REQUESTS
        workers = _pids(metrics_dir, "counter")
        assert len(workers) == 2, workers
        shares = {pid: _per_worker_healthz(metrics_dir, pid) for pid in workers}
        assert all(share > 0 for share in shares.values()), shares  # both served some

        auth = {"Authorization": f"Bearer {TOKEN}"}
        for _ in range(4):  # whichever worker answers, the sum is the same
            status, text = _get(port, "/metrics", auth)
            assert status == 200, text[:300]
            assert _healthz_count(text) == REQUESTS == sum(shares.values())
            assert "volunteer_queue_depth" in text and "volunteer_db_pool_size" in text
        assert _get(port, "/metrics")[0] == 401

        # A worker dies: gunicorn replaces it; child_exit drops its live gauges, its counts stay.
        # (The master made the app, and so a file of its own, before it forked: it is not a worker.)
        live = _pids(metrics_dir, "gauge_livesum") & workers
        assert live, sorted(p.name for p in metrics_dir.iterdir())
        victim = sorted(live)[0]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while victim in _pids(metrics_dir, "gauge_livesum"):
            assert time.monotonic() < deadline, "the dead worker's live gauge stayed"
            time.sleep(0.2)
        while True:  # the replacement serves (the first answers may race the restart)
            try:
                status, text = _get(port, "/metrics", auth)
                if status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert _healthz_count(text) == REQUESTS
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
