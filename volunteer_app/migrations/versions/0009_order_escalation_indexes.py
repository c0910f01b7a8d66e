"""orders: an index per waiting state led by escalated_at, for the deadline sweep's escalate and expire

Revision ID: 0009_order_escalation_indexes
Revises: 0008_activity_audit_due

On PostgreSQL each index is built with CREATE INDEX CONCURRENTLY (volunteer_app/migrations/ops.py), so
writes to a large orders table go on meanwhile (tests/ops/test_migrations_online.py); an index of the
same name that exists and is valid already (made by hand beforehand) is kept.
"""

from volunteer_app.migrations import ops

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
    for state, column in DEADLINES.items():
        name = f"ix_orders_escalation_{column}"
        ops.create_index(name, "orders", ["escalated_at", column], where=f"status = '{state}'")


def downgrade():
    for column in DEADLINES.values():
        ops.drop_index(f"ix_orders_escalation_{column}", "orders")
