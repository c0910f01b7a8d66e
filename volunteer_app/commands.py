"""Command-line entry points: `flask deploy`, `flask demo load`, `flask users …`, `flask timebank …`,
`flask notifications …`, `flask orders …`, the scheduler's `flask scheduler …` and the worker's
`flask worker run`; `flask doctor` (volunteer_app/ops/doctor.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup
from flask_migrate import upgrade

from volunteer_app.ops.doctor import doctor
from volunteer_app.scheduler.cli import scheduler_cli
from volunteer_app.sites import service as sites
from volunteer_app.worker.cli import worker_cli

demo_cli = AppGroup("demo", help="Demo data for trying the whole loop.")
users_cli = AppGroup("users", help="Operator commands for accounts.")
timebank_cli = AppGroup("timebank", help="The time book (ledger of hours).")
orders_cli = AppGroup("orders", help="The order loop.")
notifications_cli = AppGroup("notifications", help="The notification outbox.")
reports_cli = AppGroup("reports", help="The statistics' rollups (docs/statistics.md).")

DELIVER_BATCH = 50  # outbox rows per claim of `flask notifications deliver` (the bar moves per batch)


def progress(length: int, label: str):
    """A progress bar in a terminal (click's); elsewhere (logs, cron) one plain line per update."""
    if sys.stdout.isatty():
        return click.progressbar(length=length, label=label, show_pos=True)
    return _Lines(length, label)


def _moved(bar):
    """A `progress(done, total)` callback that moves `bar` (its length set by the first call)."""

    def tell(done: int, total: int) -> None:
        bar.length = total
        if done > bar.pos:
            bar.update(done - bar.pos)

    return tell


class _Lines:
    """click.progressbar's interface, printing a `label: done/total` line at every tenth of the way
    (and at the end) instead of redrawing a bar."""

    def __init__(self, length: int, label: str):
        self.length, self.label, self.pos, self.tenth = length, label, 0, 0

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return None

    def update(self, steps: int) -> None:
        self.pos += steps
        tenth = self.pos * 10 // max(self.length, 1)
        if tenth > self.tenth or self.pos >= self.length:
            self.tenth = tenth
            click.echo(f"{self.label}: {self.pos}/{self.length}")


def register_commands(app: Flask) -> None:
    app.cli.add_command(deploy)
    app.cli.add_command(demo_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(timebank_cli)
    app.cli.add_command(notifications_cli)
    app.cli.add_command(orders_cli)
    app.cli.add_command(reports_cli)
    app.cli.add_command(scheduler_cli)
    app.cli.add_command(worker_cli)
    app.cli.add_command(doctor)


@click.command("deploy")
def deploy() -> None:
    """Bring the database to the newest migration and seed the service catalogue (idempotent)."""
    from volunteer_app.reports import rollups

    upgrade()
    added = sites.ensure_catalogue()
    click.echo(f"database migrated; {added} catalogue entries added")
    if rollups.state()["rebuilt_at"] is None:
        # The statistics were never counted here (a new database, or an upgrade from before them).
        click.echo(f"statistics: {rollups.rebuild()} sites counted")


@demo_cli.command("load")
def demo_load() -> None:
    """Load the demo center, stations, managers, volunteers, residents, hours and rewards (idempotent)."""
    from volunteer_app import demo

    created = demo.load()
    click.echo(demo.summary(created))


@reports_cli.command("refresh")
def reports_refresh() -> None:
    """Count the logged changes into the rollups now (the scheduler does it every minute)."""
    from volunteer_app.reports import rollups

    click.echo(f"{rollups.refresh_all()} changes counted")


@reports_cli.command("rebuild")
def reports_rebuild() -> None:
    """Count every site's figures again from the raw rows (safe while the service runs)."""
    from volunteer_app.reports import rollups

    with progress(0, "sites") as bar:
        n = rollups.rebuild(progress=_moved(bar))
    click.echo(f"{n} sites counted")


@reports_cli.command("verify")
def reports_verify() -> None:
    """Recount every figure from the raw rows and compare with the rollups; exit 1 on any difference."""
    from volunteer_app.reports import rollups

    with progress(0, "sites") as bar:
        result = rollups.verify(progress=_moved(bar))
    for d in result.differences:
        click.echo(f"{d.table} {d.key}: stored {d.stored} counted {d.counted}", err=True)
    if result.differences:
        click.echo(f"the rollups differ from the raw rows ({len(result.differences)} shown)", err=True)
        sys.exit(1)
    click.echo(f"rollups verified: {result.sites} sites, equal to a recount of the raw rows")


@users_cli.command("create-admin")
@click.option("--phone", required=True)
@click.option("--name", required=True)
@click.password_option()
def create_admin(phone: str, name: str, password: str) -> None:
    """Create a deployment admin (or grant admin to an existing phone)."""
    from volunteer_app.auth import service as auth

    user = auth.create_admin(phone=phone, name=name, password=password)
    click.echo(f"admin: user {user.id} ({user.phone})")


@timebank_cli.command("verify")
@click.option(
    "--checkpoints",
    "checkpoint_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Published checkpoints to compare against [default: the configured file, if it exists].",
)
def timebank_verify(checkpoint_file: Path | None) -> None:
    """Recompute the hash chain, every transfer's entries, every entry's balance after it, every balance
    and lifetime, the global zero sum, and compare the chain with the published checkpoints."""
    from volunteer_app.timebank import checkpoints
    from volunteer_app.timebank.verify import verify

    checkpoint_file = checkpoint_file or checkpoints.published_file()
    with progress(0, "verifying") as bar:
        report = verify(checkpoint_file=checkpoint_file, progress=_moved(bar))
    click.echo(f"checked {report.transfers} transfers and {report.accounts} accounts")
    if checkpoint_file is None:
        click.echo("no checkpoints given: removing the newest transfers and rewinding the head would pass")
    else:
        click.echo(f"against {report.checkpoints} checkpoints in {checkpoint_file}")
    if not report.ok:
        for problem in report.problems:
            click.echo(f"MISMATCH {problem}", err=True)
        raise SystemExit(1)
    click.echo(
        "ledger ok: chain intact, entries, balances and lifetimes equal their recomputation, total is zero"
    )


@timebank_cli.command("checkpoint")
@click.option(
    "--file",
    "checkpoint_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Append to this file [default: [app] ledger_checkpoint_file, or the instance directory's].",
)
def timebank_checkpoint(checkpoint_file: Path | None) -> None:
    """Publish the chain head now: append (transfer id, hash, time) to the checkpoint file and log it."""
    from volunteer_app.timebank import checkpoints

    try:
        head = checkpoints.current_head()
    except checkpoints.CheckpointError as exc:
        click.echo(f"MISMATCH {exc}; not published (run `flask timebank verify`)", err=True)
        raise SystemExit(1) from exc
    if head is None:
        click.echo("the ledger is empty: nothing to publish")
        return
    checkpoints.publish(head, checkpoint_file)
    click.echo(
        f"checkpoint: transfer {head.transfer_id} hash {head.hash} at {head.at.isoformat(timespec='seconds')}"
        f" -> {checkpoint_file or checkpoints.configured_file()}"
    )


@timebank_cli.command("expire-redemptions")
@click.option("--batch", default=500, show_default=True, type=click.IntRange(1, 10_000))
def timebank_expire_redemptions(batch: int) -> None:
    """Expire the redemption codes past their time and refund them (safe to run again at any time)."""
    from volunteer_app.timebank.rewards import expire_redemptions

    expired = expire_redemptions(batch=batch)
    click.echo(f"{expired} redemption codes expired and refunded")


@notifications_cli.command("deliver")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10_000))
def notifications_deliver(limit: int) -> None:
    """Send due notifications from the outbox (at most --limit), with a progress bar in a terminal;
    failed ones back off and retry. Safe beside running workers: each message is sent once."""
    from volunteer_app.notifications.delivery import count_due, deliver_pending

    sent = tried = 0
    due = min(count_due(), limit)
    with progress(due, "sending") as bar:
        while tried < due:
            batch = min(DELIVER_BATCH, due - tried)
            sent += deliver_pending(limit=batch)
            tried += batch
            bar.update(batch)
    click.echo(f"{sent} notifications sent")


@orders_cli.command("apply-deadlines")
@click.option("--batch", default=1000, show_default=True, type=click.IntRange(1, 100_000))
def orders_apply_deadlines(batch: int) -> None:
    """Escalate, expire, close pools, lapse ratings and send reminders due now, and escalate overdue
    督办 items, complaints and appeals (safe to run concurrently)."""
    from volunteer_app.orders.deadlines import apply_deadlines
    from volunteer_app.supervision.deadlines import apply_deadlines as supervision_deadlines

    counts = {**apply_deadlines(batch=batch), **supervision_deadlines(batch=batch)}
    click.echo(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "nothing due")
