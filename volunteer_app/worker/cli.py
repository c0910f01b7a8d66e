"""`flask worker run [--once]`: the worker process (or one pass over what is due, e.g. from cron)."""

from __future__ import annotations

import logging
import signal

import click
from flask import current_app
from flask.cli import AppGroup

from volunteer_app.worker.process import work_forever
from volunteer_app.worker.registry import registered
from volunteer_app.worker.runner import Worker

log = logging.getLogger(__name__)

worker_cli = AppGroup("worker", help="Background work: the notification outbox and queued jobs.")


@worker_cli.command("run")
@click.option("--once", is_flag=True, help="Do everything due now (outbox, queued work), then exit.")
def worker_run(once: bool) -> None:
    """The worker process: send the outbox and run queued work as it comes, woken by LISTEN/NOTIFY on
    PostgreSQL (polling on SQLite). Run as many as you like, on any machines: nothing runs twice.
    SIGTERM or Ctrl-C: take no more work, finish the item in hand, exit 0."""
    worker = Worker(current_app._get_current_object())

    def stop(signum, _frame):
        log.info("worker %s stopping (signal %s): finishing the item in hand", worker.name, signum)
        worker.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if once:
        click.echo(f"worker {worker.name}: {worker.run_once()} done")
        return
    reg = registered()
    log.info(
        "worker %s running: %d kinds of work, drains %s",
        worker.name,
        len(reg.kinds),
        ", ".join(d.id for d in reg.drains) or "none",
    )
    work_forever(worker)
    log.info("worker %s stopped", worker.name)
