"""time book: refuse TRUNCATE of the ledger tables (PostgreSQL)

Revision ID: 0010_ledger_truncate_guard
Revises: 0009_order_escalation_indexes

The append-only triggers of 0002 are row-level (UPDATE, DELETE), and TRUNCATE fires no row triggers: it
emptied the ledger without a word. A statement-level BEFORE TRUNCATE trigger on each ledger table runs
the same refusing function. The accounts (cached balances) and the chain head are guarded as well: no
legitimate TRUNCATE of either exists, and emptying the head would cut the chain from its anchor.
SQLite has no TRUNCATE (its `DELETE FROM t` without WHERE is a row delete, which the code never issues).
"""

from alembic import op

revision = "0010_ledger_truncate_guard"
down_revision = "0009_order_escalation_indexes"
branch_labels = None
depends_on = None

TABLES = ("time_transfers", "time_entries", "time_accounts", "time_ledger_head")


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        # time_ledger_append_only() (0002) raises "the time ledger is append-only: TRUNCATE on … refused".
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION time_ledger_append_only()"
        )


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
