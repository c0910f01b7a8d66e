"""users.show_name_on_leaderboard: a volunteer's opt-in to appear by name on leaderboards

Revision ID: 0015_leaderboard_opt_in
Revises: 0014_reports
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_leaderboard_opt_in"
down_revision = "0014_reports"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("show_name_on_leaderboard", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade():
    with op.batch_alter_table("users") as batch:
        batch.drop_column("show_name_on_leaderboard")
