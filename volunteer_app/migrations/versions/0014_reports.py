"""report_changes and the statistics' rollups (reports/), and the indexes their recounts read

Revision ID: 0014_reports
Revises: 0013_work_items
"""

import sqlalchemy as sa
from alembic import op

from volunteer_app.migrations import ops

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0014_reports"
down_revision = "0013_work_items"
branch_labels = None
depends_on = None

# The rollups' metric columns, as reports/counting.py METRICS had them at this revision.
METRICS = (
    "orders_submitted",
    "orders_rejected",
    "orders_cancelled",
    "orders_expired",
    "orders_closed",
    "orders_escalated",
    "orders_dispatched",
    "orders_staffed",
    "tg_elderly_alone",
    "tg_left_behind_children",
    "tg_disabled",
    "tg_low_income",
    "tg_veterans",
    "tg_pregnant",
    "tg_other",
    "dispatch_b0",
    "dispatch_b1",
    "dispatch_b2",
    "dispatch_b3",
    "dispatch_b4",
    "dispatch_b5",
    "dispatch_b6",
    "dispatch_b7",
    "dispatch_b8",
    "dispatch_b9",
    "dispatch_b10",
    "dispatch_b11",
    "dispatch_b12",
    "dispatch_b13",
    "dispatch_b14",
    "dispatch_b15",
    "dispatch_b16",
    "dispatch_b17",
    "dispatch_b18",
    "staff_b0",
    "staff_b1",
    "staff_b2",
    "staff_b3",
    "staff_b4",
    "staff_b5",
    "staff_b6",
    "staff_b7",
    "staff_b8",
    "staff_b9",
    "staff_b10",
    "staff_b11",
    "staff_b12",
    "staff_b13",
    "staff_b14",
    "staff_b15",
    "staff_b16",
    "staff_b17",
    "staff_b18",
    "sessions_orders",
    "sessions_activities",
    "attendances",
    "service_minutes",
    "no_shows",
    "attendance_due",
    "rated",
    "stars_sum",
    "stars_high",
    "unrated",
    "credited_minutes",
    "adjusted_minutes",
    "reversed_minutes",
    "redeemed_minutes",
    "refunded_minutes",
    "gifted_minutes",
    "volunteers_approved",
    "books_issued",
)


def _metrics():
    return [sa.Column(name, sa.BigInteger(), server_default="0", nullable=False) for name in METRICS]


def upgrade():
    op.create_table(
        "report_changes",
        sa.Column("id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ref_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_changes")),
    )
    for table, period in (("report_days", "day"), ("report_months", "month")):
        op.create_table(
            table,
            sa.Column("site_id", sa.BigInteger(), nullable=False),
            sa.Column(period, sa.Date(), nullable=False),
            sa.Column("category_id", sa.BigInteger(), nullable=False),
            *_metrics(),
            sa.PrimaryKeyConstraint("site_id", period, "category_id", name=op.f(f"pk_{table}")),
        )
        op.create_index(op.f(f"ix_{table}_{period}_site_id"), table, [period, "site_id"])
    op.create_table(
        "report_people",
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("site_id", sa.BigInteger(), nullable=False),
        sa.Column("person_id", sa.BigInteger(), nullable=False),
        sa.Column("minutes", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("sessions", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("kind", "day", "site_id", "person_id", name=op.f("pk_report_people")),
    )
    op.create_index(op.f("ix_report_people_site_id_day"), "report_people", ["site_id", "day"])
    op.create_index(
        op.f("ix_report_people_kind_person_id"), "report_people", ["kind", "person_id", "day", "site_id"]
    )
    op.create_table(
        "report_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rebuilt_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_state")),
    )
    # Tables that hold rows already: built without blocking writes (volunteer_app/migrations/ops.py).
    ops.create_index("ix_orders_site_id_created_at", "orders", ["site_id", "created_at"])
    ops.create_index("ix_orders_site_id_window_start", "orders", ["site_id", "window_start"])
    ops.create_index("ix_time_transfers_site_id_created_at", "time_transfers", ["site_id", "created_at"])
    ops.create_index("ix_time_accounts_site_id_created_at", "time_accounts", ["site_id", "created_at"])
    ops.create_index(
        "ix_volunteer_profiles_site_id_approved_at", "volunteer_profiles", ["site_id", "approved_at"]
    )
    # No row of state yet (the first refresh writes it): rows written before this revision are counted
    # by `flask reports rebuild`, which `flask deploy` runs while the rollups were never built.


def downgrade():
    ops.drop_index("ix_volunteer_profiles_site_id_approved_at", "volunteer_profiles")
    ops.drop_index("ix_time_accounts_site_id_created_at", "time_accounts")
    ops.drop_index("ix_time_transfers_site_id_created_at", "time_transfers")
    ops.drop_index("ix_orders_site_id_window_start", "orders")
    ops.drop_index("ix_orders_site_id_created_at", "orders")
    for table in ("report_state", "report_people", "report_months", "report_days", "report_changes"):
        op.drop_table(table)
