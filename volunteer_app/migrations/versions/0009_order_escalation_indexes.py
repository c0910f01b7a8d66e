"""orders: an index per waiting state led by escalated_at, for the deadline sweep's escalate and expire

Revision ID: 0009_order_escalation_indexes
Revises: 0008_activity_audit_due

On a large existing orders table, PostgreSQL's CREATE INDEX blocks writes to orders while it builds
(not measured here); an operator who cannot have that creates them by hand first with CREATE INDEX
CONCURRENTLY under the same names and definitions, which this migration then skips.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_order_escalation_indexes"
down_revision = "0008_activity_audit_due"
branch_labels = None
depends_on = None

# The state each deadline column belongs to (volunteer_app.orders.models.DEADLINES at this revision).
DEADLINES = {
    "submitted": "dispatch_due_at",
    "dispatched": "fill_due_at",
    "staffed": "checkin_due_at",
    "in_service": "checkout_due_at",
    "completed": "audit_due_at",
}


def upgrade():
    existing = {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes("orders")}
    for state, column in DEADLINES.items():
        name = f"ix_orders_escalation_{column}"
        if name in existing:
            continue
        op.create_index(
            name,
            "orders",
            ["escalated_at", column],
            unique=False,
            postgresql_where=sa.text(f"status = '{state}'"),
            sqlite_where=sa.text(f"status = '{state}'"),
        )


def downgrade():
    for column in DEADLINES.values():
        op.drop_index(f"ix_orders_escalation_{column}", table_name="orders")
