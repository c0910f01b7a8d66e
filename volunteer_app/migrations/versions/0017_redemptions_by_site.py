"""redemptions: one index (site_id, status, id) for a site's list by state, in place of (site_id)

Revision ID: 0017_redemptions_by_site
Revises: 0016_exports
"""

from alembic import op

revision = "0017_redemptions_by_site"
down_revision = "0016_exports"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("redemptions") as batch:
        batch.create_index("ix_redemptions_site_id_status_id", ["site_id", "status", "id"], unique=False)
        batch.drop_index("ix_redemptions_site_id")


def downgrade():
    with op.batch_alter_table("redemptions") as batch:
        batch.create_index("ix_redemptions_site_id", ["site_id"], unique=False)
        batch.drop_index("ix_redemptions_site_id_status_id")
