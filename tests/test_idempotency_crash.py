"""The issue's check: a web process killed between the Idempotency-Key claim and the commit; the retry
with the same key, against a fresh process, succeeds once, at once (the claim died with the
transaction: nothing waits for a lease).

Two real processes (tests/idempotency_crash_server.py) share the test's database: the first SIGKILLs
itself just before committing the volunteer application, the second serves the retries.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path

from tests.test_idempotency import application, count
from tests.test_idempotency_lease import key_rows

ROOT = Path(__file__).resolve().parents[1]
KEY = "crash-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(stack: ExitStack, env: dict[str, str], log: Path) -> tuple[str, subprocess.Popen]:
    """Start a web process; return its base URL and the process once it answers."""
    port = free_port()
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.idempotency_crash_server", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    stack.callback(stop, process)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=2).close()
            return base, process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the web process did not start:\n{log.read_text()}") from None
            time.sleep(0.2)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(timeout=30)


def post(base: str, person, body: dict) -> tuple[int, dict, dict]:
    request = urllib.request.Request(
        f"{base}/api/v1/me/volunteer-application",
        data=json.dumps(body).encode(),
        headers=person.headers | {"Idempotency-Key": KEY, "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.loads(r.read()), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), dict(e.headers)


def test_a_retry_after_a_crash_between_claim_and_commit_succeeds_once_at_once(
    app, world, database_url, tmp_path
):
    env = {k: v for k, v in os.environ.items() if not k.endswith("SCHEDULER_MODE")}
    env.update(
        DATABASE_URL=database_url,
        VOLUNTEER_INSTANCE_DIR=str(tmp_path / "instance"),
        PYTHONUNBUFFERED="1",
    )
    body = application(world)
    with ExitStack() as stack:
        doomed, first = serve(
            stack, env | {"CRASH_BEFORE_COMMIT_INSERTING": "volunteer_applications"}, tmp_path / "1.log"
        )
        fresh, _ = serve(stack, env, tmp_path / "2.log")
        try:
            post(doomed, world.resident, body)
            raise AssertionError("the first process answered instead of dying")
        except OSError:  # the connection dropped: the process is gone
            pass
        assert first.wait(timeout=10) == -signal.SIGKILL, (tmp_path / "1.log").read_text()
        assert count(app, "volunteer_applications", user_id=world.resident.id) == 0
        assert key_rows(app, KEY) == []  # the claim died with the dead request's transaction

        status, payload, headers = post(fresh, world.resident, body)
        assert status == 201, payload  # the first retry: no lease to wait out
        assert "Idempotent-Replayed" not in headers
        assert key_rows(app, KEY) == [(1, 201)]

        replay = post(fresh, world.resident, body)
        assert (replay[0], replay[1], replay[2].get("Idempotent-Replayed")) == (201, payload, "true")
    assert count(app, "volunteer_applications", user_id=world.resident.id) == 1
