"""Helpers for time-book tests: verify the ledger, tamper with it (credit() is in tests/support.py)."""

from __future__ import annotations

import sqlalchemy as sa

from volunteer_app.extensions import db
from volunteer_app.timebank.models import Transfer
from volunteer_app.timebank.verify import verify


def ledger_ok(app) -> bool:
    with app.app_context():
        report = verify()
        assert report.ok, report.problems
        return True


def tamper(app, *statements: str) -> None:
    """Change ledger rows behind the application's back (on PostgreSQL past the append-only trigger)."""
    with app.app_context(), db.engine.begin() as conn:
        if db.engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")  # superuser: no triggers
        for statement in statements:
            conn.exec_driver_sql(statement)


def rewind(app, transfer_id: int) -> None:
    """What a careful insider does to make a transfer never have happened: delete it and its entries, put
    both balances (and the lifetime) back, and point the chain head at the transfer before it. Every
    check that looks only at the database then passes."""
    with app.app_context():
        t = db.session.get(Transfer, transfer_id)
        previous = db.session.scalars(
            sa.select(Transfer).where(Transfer.id < transfer_id).order_by(Transfer.id.desc()).limit(1)
        ).one()
        source, destination, minutes, prev_id, prev_hash = (
            t.from_account_id,
            t.to_account_id,
            t.minutes,
            previous.id,
            previous.hash,
        )
    tamper(
        app,
        f"DELETE FROM time_entries WHERE transfer_id = {transfer_id}",
        f"DELETE FROM time_transfers WHERE id = {transfer_id}",
        f"UPDATE time_accounts SET balance = balance + {minutes} WHERE id = {source}",
        f"UPDATE time_accounts SET balance = balance - {minutes}, "
        f"lifetime_minutes = lifetime_minutes - {minutes} WHERE id = {destination}",
        f"UPDATE time_ledger_head SET last_transfer_id = {prev_id}, last_hash = '{prev_hash}' WHERE id = 1",
    )
