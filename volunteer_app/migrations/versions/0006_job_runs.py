"""scheduler job runs (one claim per job occurrence) and the stored star level of a book

Revision ID: 0006_job_runs
Revises: 0005_orders
Create Date: 2026-11-24 09:00:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0006_job_runs"
down_revision = "0005_orders"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "job_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("job", sa.String(length=64), nullable=False),
        sa.Column("occurrence_key", sa.String(length=40), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
        sa.UniqueConstraint("job", "occurrence_key", name=op.f("uq_job_runs_job_occurrence_key")),
    )
    with op.batch_alter_table("time_accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("star_level", sa.Integer(), server_default="0", nullable=False))
    # Existing books start at the level the default thresholds (config/default.toml, 100/300/600/1000/
    # 1500 h) give, so the first daily star-level job does not congratulate every volunteer at once;
    # sites with their own thresholds are corrected by that job (quietly when a level falls).
    op.execute(
        "UPDATE time_accounts SET star_level = CASE"
        " WHEN lifetime_minutes >= 90000 THEN 5 WHEN lifetime_minutes >= 60000 THEN 4"
        " WHEN lifetime_minutes >= 36000 THEN 3 WHEN lifetime_minutes >= 18000 THEN 2"
        " WHEN lifetime_minutes >= 6000 THEN 1 ELSE 0 END WHERE kind = 'book'"
    )


def downgrade():
    with op.batch_alter_table("time_accounts", schema=None) as batch_op:
        batch_op.drop_column("star_level")
    op.drop_table("job_runs")
