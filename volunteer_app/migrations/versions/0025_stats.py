"""stats: the indexes the supervision statistics read by (events by subject, action and time; appeals
by audited site and creation)

Revision ID: 0025_stats
Revises: 0024_handover
"""

from volunteer_app.migrations import ops

revision = "0025_stats"
down_revision = "0024_handover"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Tables that hold rows already: built without blocking writes (volunteer_app/migrations/ops.py).
    ops.create_index("ix_supervision_events_action_at", "supervision_events", ["subject", "action", "at"])
    ops.create_index("ix_appeals_site_created_at", "appeals", ["site_id", "created_at"])


def downgrade() -> None:
    ops.drop_index("ix_appeals_site_created_at", "appeals")
    ops.drop_index("ix_supervision_events_action_at", "supervision_events")
