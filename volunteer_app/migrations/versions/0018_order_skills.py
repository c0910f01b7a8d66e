"""orders.skills and activities.skills: the skills a piece of work asks for (JSON lists of strings)

Revision ID: 0018_order_skills
Revises: 0017_redemptions_by_site
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_order_skills"
down_revision = "0017_redemptions_by_site"
branch_labels = None
depends_on = None


def upgrade():
    for table in ("orders", "activities"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("skills", sa.JSON(), server_default=sa.text("'[]'"), nullable=False))


def downgrade():
    for table in ("activities", "orders"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("skills")
