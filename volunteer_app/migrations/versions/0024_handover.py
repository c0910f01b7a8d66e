"""handover: order_handovers (转派 to a sibling station, 上报 to the parent site)

Revision ID: 0024_handover
Revises: 0023_supervision
"""

import sqlalchemy as sa
from alembic import op

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0024_handover"
down_revision = "0023_supervision"
branch_labels = None
depends_on = None


def _fk(column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=f"fk_order_handovers_{column}_{target}"
    )


def upgrade():
    op.create_table(
        "order_handovers",
        sa.Column("id", BigId, nullable=False),
        sa.Column("order_id", BigId, nullable=False),
        sa.Column("from_site_id", BigId, nullable=False),
        sa.Column("to_site_id", BigId, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("requested_by_id", BigId, nullable=False),
        sa.Column("decided_by_id", BigId, nullable=True),
        sa.Column("decision_note", sa.String(500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('transfer', 'refer_up')", name="ck_order_handovers_kind"),
        sa.CheckConstraint(
            "status IN ('pending', 'accepted', 'declined', 'cancelled')", name="ck_order_handovers_status"
        ),
        sa.CheckConstraint("from_site_id <> to_site_id", name="ck_order_handovers_sites"),
        _fk("order_id", "orders"),
        _fk("from_site_id", "sites"),
        _fk("to_site_id", "sites"),
        _fk("requested_by_id", "users"),
        _fk("decided_by_id", "users"),
        sa.PrimaryKeyConstraint("id", name="pk_order_handovers"),
    )
    op.create_index("ix_order_handovers_order_id", "order_handovers", ["order_id", "status"])
    op.create_index(
        "uq_order_handovers_pending",
        "order_handovers",
        ["order_id"],
        unique=True,
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )
    op.create_index("ix_order_handovers_to_site", "order_handovers", ["to_site_id", "status", "id"])
    op.create_index("ix_order_handovers_from_site", "order_handovers", ["from_site_id", "status", "id"])


def downgrade():
    op.drop_table("order_handovers")
