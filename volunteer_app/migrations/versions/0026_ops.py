"""ops: heartbeats of the worker and the scheduler; failed job occurrences; job runs by start time
(docs/ops/metrics.md)

Revision ID: 0026_ops
Revises: 0025_stats
"""

import sqlalchemy as sa
from alembic import op

from volunteer_app.migrations import ops

revision = "0026_ops"
down_revision = "0025_stats"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "heartbeats",
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("instance", sa.String(length=120), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "instance", name=op.f("pk_heartbeats")),
    )
    op.create_index(op.f("ix_heartbeats_beat_at"), "heartbeats", ["beat_at"])
    op.create_table(
        "job_failures",
        sa.Column("id", BigId, nullable=False),
        sa.Column("job", sa.String(length=64), nullable=False),
        sa.Column("occurrence_key", sa.String(length=40), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_failures")),
    )
    op.create_index("ix_job_failures_job_failed_at", "job_failures", ["job", "failed_at"])
    # job_runs holds ~90 days of every job's runs (millions of rows): its index is built without
    # blocking the scheduler's writes (volunteer_app/migrations/ops.py: CONCURRENTLY on PostgreSQL).
    ops.create_index("ix_job_runs_started_at", "job_runs", ["started_at"])


def downgrade() -> None:
    ops.drop_index("ix_job_runs_started_at", "job_runs")
    op.drop_index("ix_job_failures_job_failed_at", table_name="job_failures")
    op.drop_table("job_failures")
    op.drop_index(op.f("ix_heartbeats_beat_at"), table_name="heartbeats")
    op.drop_table("heartbeats")
