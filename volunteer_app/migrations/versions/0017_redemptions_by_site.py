"""redemptions: one index (site_id, status, id) for a site's list by state, in place of (site_id)

Revision ID: 0017_redemptions_by_site
Revises: 0016_exports
"""

from volunteer_app.migrations import ops

revision = "0017_redemptions_by_site"
down_revision = "0016_exports"
branch_labels = None
depends_on = None


def upgrade():
    # redemptions holds rows already: built (and dropped) without blocking writes (migrations/ops.py).
    ops.create_index("ix_redemptions_site_id_status_id", "redemptions", ["site_id", "status", "id"])
    ops.drop_index("ix_redemptions_site_id", "redemptions")


def downgrade():
    ops.create_index("ix_redemptions_site_id", "redemptions", ["site_id"])
    ops.drop_index("ix_redemptions_site_id_status_id", "redemptions")
