"""The worker process: work until stopped, sleeping between rounds on PostgreSQL's LISTEN (woken at the
commit of anything enqueued, with a slow poll as a safety net) or on a short poll on SQLite; run by
`flask worker run`, or, in development, as a background thread of `flask run` (`[worker] mode`)."""

from __future__ import annotations

import logging
import threading
import time

from flask import Flask

from volunteer_app import heartbeats
from volunteer_app.extensions import db
from volunteer_app.scheduler.process import development_server
from volunteer_app.worker.registry import CHANNEL, poll_interval, settings
from volunteer_app.worker.runner import Worker

log = logging.getLogger(__name__)

SLICE = 1.0  # seconds: how often a sleeping worker looks at its stop flag


class Listener:
    """PostgreSQL: a connection of its own, LISTENing on the work channel; `wait` returns when a
    notification arrives, the poll interval passes, or the worker stops. Reconnects after an outage."""

    def __init__(self, url: str):
        self.url = url
        self.conn = None

    def connect(self) -> None:
        import psycopg

        try:
            self.conn = psycopg.connect(self.url, autocommit=True)
            self.conn.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as exc:
            log.warning("worker: cannot LISTEN (%s); polling until the database is back", exc)
            self.close()

    def wait(self, stop: threading.Event, seconds: float) -> None:
        import psycopg

        deadline = time.monotonic() + seconds
        while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
            if self.conn is None:
                stop.wait(min(SLICE, left))
                self.connect()
                continue
            try:
                for _ in self.conn.notifies(timeout=min(SLICE, left), stop_after=1):
                    return
            except psycopg.Error:
                self.close()

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = None


def work_forever(worker: Worker) -> None:
    """Rounds until `worker.stopping` is set: each round does what is due, then sleeps until woken.
    The item in hand is always finished before this returns. Needs the app's context."""
    listener = None
    if db.engine.dialect.name == "postgresql":
        listener = Listener(db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False))
        listener.connect()  # before the first look at the queue, so no commit in between goes unheard
    interval = poll_interval(worker.app, listening=listener is not None)
    beater = heartbeats.Beater("worker", heartbeats.heartbeat_seconds(worker.app))
    try:
        while not worker.stopping.is_set():
            beater.tick()  # busy or idle (a sleep below is at most `interval`)
            try:
                if worker.step():
                    continue
            except Exception:  # the database is away, …: log, sleep, try again
                log.exception("worker round failed")
                db.session.rollback()
            if listener is not None:
                listener.wait(worker.stopping, interval)
            else:
                worker.stopping.wait(interval)
    finally:
        if listener is not None:
            listener.close()
        db.session.remove()
        beater.stop()  # stopped cleanly: no longer counted as running


def start_embedded(app: Flask) -> Worker | None:
    """Run a worker in a background thread of this process when `[worker] mode` is embedded, the app is
    not under test, and this process serves (`flask run`, in the reloader's child when reloading;
    never other CLI commands, `flask worker run` included). Returns the worker it started."""
    if settings(app).get("mode") != "embedded" or app.testing:
        return None
    if not development_server(app):
        return None
    worker = Worker(app, name=f"embedded:{threading.get_native_id()}")

    def run() -> None:
        with app.app_context():
            work_forever(worker)

    threading.Thread(target=run, name="worker", daemon=True).start()
    log.info("worker embedded in this process")
    return worker
