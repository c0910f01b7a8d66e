"""Running background work: a `Worker` empties the drains (the notification outbox) and claims and runs
due items one by one, keeping each item's lease alive from a side thread while its handler runs;
`run_once` does everything due and returns (tests, `flask worker run --once`)."""

from __future__ import annotations

import contextvars
import logging
import os
import secrets
import socket
import threading
from datetime import datetime

from flask import Flask

from volunteer_app import logs
from volunteer_app.extensions import db
from volunteer_app.worker import queue
from volunteer_app.worker.registry import registered

log = logging.getLogger(__name__)


class Worker:
    """One worker: `step()` does a round (drains, then one item); `stopping` makes it take no more."""

    def __init__(self, app: Flask, name: str | None = None):
        self.app = app
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.stopping = threading.Event()

    def drain(self) -> int:
        """One batch of each drain; returns how many rows they processed. A failing drain is logged."""
        total = 0
        for drain in registered(self.app).drains:
            try:
                with logs.bound_contextvars(drain=drain.id):
                    total += drain.run(limit=drain.batch)
            except Exception:
                log.exception("drain %s failed", drain.id)
                db.session.rollback()
        return total

    def run_one(self, now: datetime | None = None) -> bool:
        """Claim one due item and run it to its outcome; False when nothing was due."""
        claim = queue.claim(self.name, now)
        if claim is None:
            return False
        if self.stopping.is_set():
            queue.release(claim)  # claimed as the stop came: leave it to another worker, untried
            return False
        # Every line the item causes (its handler's too) carries its id, kind and attempt.
        with logs.bound_contextvars(work_id=claim.id, work_kind=claim.kind, attempt=claim.attempt):
            self._run(claim, now)
        return True

    def _run(self, claim: queue.Claim, now: datetime | None) -> None:
        work = registered(self.app).kinds.get(claim.kind)
        if work is None:
            queue.fail(claim, f"unknown work kind {claim.kind!r} (not registered in this worker)", now)
            return
        context = queue.Context(claim)
        with _Heartbeat(context):
            try:
                outcome = work.run(context, **claim.args)
            except Exception as exc:
                state = queue.fail(claim, f"{type(exc).__name__}: {exc}", now)
                log.warning(
                    "work %s (%s) attempt %s failed: %s; now %s",
                    claim.id,
                    claim.kind,
                    claim.attempt,
                    exc,
                    state,
                )
                return
            if queue.complete(claim, outcome, now):
                log.info("work %s (%s) done", claim.id, claim.kind)

    def step(self, now: datetime | None = None) -> int:
        """One round: a batch of every drain, then one item. Returns how much it did (0: nothing due)."""
        return self.drain() + int(self.run_one(now))

    def run_once(self, now: datetime | None = None) -> int:
        """Everything due, until nothing is (or the worker is stopped). Returns how much it did."""
        total = 0
        while not self.stopping.is_set():
            did = self.step(now)
            if not did:
                return total
            total += did
        return total


class _Heartbeat:
    """While a handler runs, renew its lease every third of the lease from a side thread, so a long
    item is never taken over from a live worker (a dead worker's lease runs out)."""

    def __init__(self, context: queue.Context):
        self.context = context
        self.done = threading.Event()
        # (in a copy of the item's context: its lines carry the item's id too)
        self.thread = threading.Thread(
            target=contextvars.copy_context().run, args=(self._beat,), name=f"lease-{context.id}", daemon=True
        )

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.done.set()
        self.thread.join()

    def _beat(self) -> None:
        every = self.context.lease.total_seconds() / 3
        while not self.done.wait(every):
            try:
                if not queue.renew(self.context.engine, self.context.claim, self.context.lease):
                    log.warning("work %s: lease lost while running", self.context.id)
                    return
            except Exception:  # a database hiccup: try again at the next beat
                log.exception("work %s: renewing the lease failed", self.context.id)
