"""Run the same kind of request from many threads at once, each through its own test client."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor


def race(app, calls: list[Callable]) -> list:
    """Call each `call(client)` in its own thread, released together; return the responses in order.

    Each thread gets its own `app.test_client()`, so every request has its own app context and
    database session, as concurrent requests do in production.
    """
    barrier = threading.Barrier(len(calls))

    def run(call):
        client = app.test_client()
        barrier.wait(timeout=30)
        return call(client)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))
