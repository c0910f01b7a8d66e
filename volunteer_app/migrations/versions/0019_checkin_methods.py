"""assignments: how a check-in and a check-out were shown on site (gps | qr); checkin_code_uses: one row
per volunteer per rotating check-in code used (replays refused)

Revision ID: 0019_checkin_methods
Revises: 0018_order_skills
"""

import sqlalchemy as sa
from alembic import op

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0019_checkin_methods"
down_revision = "0018_order_skills"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("assignments") as batch:
        batch.add_column(sa.Column("checkin_method", sa.String(length=4), nullable=True))
        batch.add_column(sa.Column("checkout_method", sa.String(length=4), nullable=True))
        batch.create_check_constraint(
            op.f("ck_assignments_checkin_method"), "checkin_method IN ('gps', 'qr')"
        )
        batch.create_check_constraint(
            op.f("ck_assignments_checkout_method"), "checkout_method IN ('gps', 'qr')"
        )
    # Every check-in and check-out so far was by position; a manager's close is not the volunteer's.
    op.execute("UPDATE assignments SET checkin_method = 'gps' WHERE checkin_at IS NOT NULL")
    op.execute(
        "UPDATE assignments SET checkout_method = 'gps' WHERE checkout_at IS NOT NULL AND closed_by_id IS NULL"
    )
    op.create_table(
        "checkin_code_uses",
        sa.Column("id", BigId, nullable=False),
        sa.Column("volunteer_id", BigId, nullable=False),
        sa.Column("place_kind", sa.String(length=8), nullable=False),
        sa.Column("place_id", sa.BigInteger(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("assignment_id", BigId, nullable=False),
        sa.Column("action", sa.String(length=9), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("place_kind IN ('site', 'activity')", name=op.f("ck_checkin_code_uses_place_kind")),
        sa.CheckConstraint("action IN ('check_in', 'check_out')", name=op.f("ck_checkin_code_uses_action")),
        sa.ForeignKeyConstraint(
            ["volunteer_id"], ["users.id"], name=op.f("fk_checkin_code_uses_volunteer_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["assignment_id"], ["assignments.id"], name=op.f("fk_checkin_code_uses_assignment_id_assignments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkin_code_uses")),
        sa.UniqueConstraint(
            "volunteer_id",
            "place_kind",
            "place_id",
            "issued_at",
            name=op.f("uq_checkin_code_uses_volunteer_id_place_kind_place_id_issued_at"),
        ),
    )
    op.create_index(
        op.f("ix_checkin_code_uses_assignment_id"), "checkin_code_uses", ["assignment_id"], unique=False
    )


def downgrade():
    op.drop_index(op.f("ix_checkin_code_uses_assignment_id"), table_name="checkin_code_uses")
    op.drop_table("checkin_code_uses")
    with op.batch_alter_table("assignments") as batch:
        batch.drop_constraint(op.f("ck_assignments_checkout_method"), type_="check")
        batch.drop_constraint(op.f("ck_assignments_checkin_method"), type_="check")
        batch.drop_column("checkout_method")
        batch.drop_column("checkin_method")
