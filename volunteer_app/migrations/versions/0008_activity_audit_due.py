"""activities: audit deadline and escalation (an unaudited activity's managers are told once)

Revision ID: 0008_activity_audit_due
Revises: 0007_activities
"""

import sqlalchemy as sa
from alembic import op

from volunteer_app.migrations import ops

revision = "0008_activity_audit_due"
down_revision = "0007_activities"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("audit_due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True))
    # Existing activities: the default audit window (config/default.toml audit_window_hours = 168).
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE activities SET audit_due_at = end_at + INTERVAL '168 hours'")
    else:
        op.execute("UPDATE activities SET audit_due_at = datetime(end_at, '+168 hours')")
    # activities holds rows already: built without blocking writes (volunteer_app/migrations/ops.py).
    ops.create_index(
        "ix_activities_audit_due",
        "activities",
        ["audit_due_at"],
        where="status = 'open' AND escalated_at IS NULL",
    )


def downgrade():
    ops.drop_index("ix_activities_audit_due", "activities")
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.drop_column("escalated_at")
        batch_op.drop_column("audit_due_at")
