"""work_items: the queue of background work (worker/)

Revision ID: 0013_work_items
Revises: 0012_idempotency_lease
"""

import sqlalchemy as sa
from alembic import op

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0013_work_items"
down_revision = "0012_idempotency_lease"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "work_items",
        sa.Column("id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("owner_id", BigId, nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("run_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("result_name", sa.String(length=200), nullable=True),
        sa.Column("result_type", sa.String(length=100), nullable=True),
        sa.Column("result_bytes", sa.LargeBinary(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('queued', 'running', 'done', 'failed', 'dead')", name="state"),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name="fk_work_items_owner_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_work_items"),
    )
    op.create_index("ix_work_items_state_run_after_id", "work_items", ["state", "run_after", "id"])
    op.create_index("ix_work_items_state_lease_until", "work_items", ["state", "lease_until"])
    op.create_index("ix_work_items_owner_id", "work_items", ["owner_id"])


def downgrade():
    op.drop_table("work_items")
