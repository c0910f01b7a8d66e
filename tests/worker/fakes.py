"""Kinds of work only the tests register, a sender that writes to a file (visible across processes),
and `create_app` for worker processes started by tests (FLASK_APP=tests.worker.fakes:create_app)."""

from __future__ import annotations

import os
import time

from volunteer_app.worker import registry
from volunteer_app.worker.queue import ResultFile
from volunteer_app.worker.registry import Work


def count(ctx, n: int, pause: float = 0.0) -> dict:
    """Count to n in steps, reporting each one."""
    for i in range(n):
        ctx.progress(i, n, force=True)
        time.sleep(pause)
    return {"counted": n}


def numbers(ctx, n: int) -> ResultFile:
    """An 'export': the numbers 1..n as CSV, with progress."""
    lines = []
    for i in range(1, n + 1):
        lines.append(f"{i}\n")
        ctx.progress(i, n)
    return ResultFile("numbers.csv", "text/csv", "".join(["n\n", *lines]).encode(), {"rows": n})


def boom(ctx, message: str = "boom") -> None:
    raise RuntimeError(message)


def slow(ctx, seconds: float, marker: str) -> dict:
    """Write `start <id> <attempt> <time>` to the marker file, sleep, write `end …`: what a kill cut."""
    with open(marker, "a") as out:
        out.write(f"start {ctx.id} {ctx.attempt} {time.time():.3f}\n")
    time.sleep(seconds)
    with open(marker, "a") as out:
        out.write(f"end {ctx.id} {ctx.attempt} {time.time():.3f}\n")
    return {"slept": seconds}


KINDS = (
    Work(kind="test.count", run=count, description="count to n", max_attempts=3),
    Work(kind="test.numbers", run=numbers, description="the numbers as CSV"),
    Work(kind="test.boom", run=boom, description="always fails", max_attempts=3),
    Work(kind="test.slow", run=slow, description="sleeps, leaving marks", max_attempts=3),
)


class FileSender:
    """Appends `<outbox id> <pid>` per message to $WORKER_SENT_FILE (one short O_APPEND write each)."""

    def send(self, message) -> None:
        line = f"{message['id']} {os.getpid()}\n".encode()
        fd = os.open(os.environ["WORKER_SENT_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


def create_app():
    """The app with the test kinds: what `flask worker run` runs in the process tests."""
    from volunteer_app import create_app as create

    app = create()
    registry.add(app, *KINDS)
    return app
