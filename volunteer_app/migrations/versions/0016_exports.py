"""exports: export_records, job results in chunks (work_result_chunks) and their expiry

Revision ID: 0016_exports
Revises: 0015_leaderboard_opt_in
"""

import sqlalchemy as sa
from alembic import op

from volunteer_app.migrations import ops

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0016_exports"
down_revision = "0015_leaderboard_opt_in"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("work_items") as batch:
        batch.add_column(sa.Column("result_size", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("result_chunks", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("result_expires_at", sa.DateTime(timezone=True), nullable=True))
    ops.create_index("ix_work_items_result_expires_at", "work_items", ["result_expires_at"])
    op.create_table(
        "work_result_chunks",
        sa.Column("item_id", BigId, nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["work_items.id"], name="fk_work_result_chunks_item_id_work_items"),
        sa.PrimaryKeyConstraint("item_id", "seq", name="pk_work_result_chunks"),
    )
    op.create_table(
        "export_records",
        sa.Column("id", BigId, nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("site_id", BigId, nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("job_id", BigId, nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=True),
        sa.Column("file_name", sa.String(length=200), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('requested', 'done')", name="status"),
        sa.CheckConstraint("format IN ('csv', 'xlsx')", name="format"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_export_records_user_id_users"),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name="fk_export_records_site_id_sites"),
        sa.ForeignKeyConstraint(["job_id"], ["work_items.id"], name="fk_export_records_job_id_work_items"),
        sa.PrimaryKeyConstraint("id", name="pk_export_records"),
    )
    op.create_index("ix_export_records_site_id_id", "export_records", ["site_id", "id"])
    op.create_index("ix_export_records_user_id_id", "export_records", ["user_id", "id"])


def downgrade():
    op.drop_table("export_records")
    op.drop_table("work_result_chunks")
    op.drop_index("ix_work_items_result_expires_at", table_name="work_items")
    with op.batch_alter_table("work_items") as batch:
        batch.drop_column("result_expires_at")
        batch.drop_column("result_chunks")
        batch.drop_column("result_size")
