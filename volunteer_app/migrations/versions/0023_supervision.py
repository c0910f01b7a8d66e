"""supervision: supervision_items (督办), complaints (诉求), appeals, follow_ups (回访) and their one
timeline, supervision_events

Revision ID: 0023_supervision
Revises: 0022_wechat
"""

import sqlalchemy as sa
from alembic import op

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0023_supervision"
down_revision = "0022_wechat"
branch_labels = None
depends_on = None


def _when(condition: str) -> dict:
    return {"postgresql_where": sa.text(condition), "sqlite_where": sa.text(condition)}


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}")


def _stamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade():
    op.create_table(
        "supervision_events",
        sa.Column("id", BigId, nullable=False),
        sa.Column("subject", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(24), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("actor_id", BigId, nullable=True),
        sa.Column("note", sa.String(1000), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "subject IN ('item', 'complaint', 'appeal', 'follow_up')", name="ck_supervision_events_subject"
        ),
        _fk("supervision_events", "actor_id", "users"),
        sa.PrimaryKeyConstraint("id", name="pk_supervision_events"),
    )
    op.create_index("ix_supervision_events_subject", "supervision_events", ["subject", "subject_id", "id"])

    op.create_table(
        "supervision_items",
        sa.Column("id", BigId, nullable=False),
        sa.Column("raised_site_id", BigId, nullable=False),
        sa.Column("site_id", BigId, nullable=False),
        sa.Column("raised_by_id", BigId, nullable=False),
        sa.Column("subject", sa.String(100), nullable=False),
        sa.Column("description", sa.String(2000), nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("about_kind", sa.String(16), nullable=True),
        sa.Column("about_id", sa.BigInteger(), nullable=True),
        sa.Column("about_ref", sa.String(100), nullable=True),
        sa.Column("result", sa.String(2000), nullable=True),
        sa.Column("reopened", sa.Integer(), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        *_stamps(),
        sa.CheckConstraint(
            "status IN ('open', 'reported', 'closed', 'withdrawn')", name="ck_supervision_items_status"
        ),
        sa.CheckConstraint("level IN ('red', 'yellow', 'green')", name="ck_supervision_items_level"),
        sa.CheckConstraint(
            "about_kind IS NULL OR about_kind IN ('order', 'activity', 'figure', 'complaint')",
            name="ck_supervision_items_about_kind",
        ),
        _fk("supervision_items", "raised_site_id", "sites"),
        _fk("supervision_items", "site_id", "sites"),
        _fk("supervision_items", "raised_by_id", "users"),
        sa.PrimaryKeyConstraint("id", name="pk_supervision_items"),
    )
    op.create_index("ix_supervision_items_site_status", "supervision_items", ["site_id", "status", "id"])
    op.create_index(
        "ix_supervision_items_raised_site_status", "supervision_items", ["raised_site_id", "status", "id"]
    )
    op.create_index("ix_supervision_items_site_created_at", "supervision_items", ["site_id", "created_at"])
    op.create_index(
        "ix_supervision_items_due_at", "supervision_items", ["escalated_at", "due_at"], **_when("status = 'open'")
    )

    op.create_table(
        "complaints",
        sa.Column("id", BigId, nullable=False),
        sa.Column("order_id", BigId, nullable=False),
        sa.Column("resident_id", BigId, nullable=False),
        sa.Column("site_id", BigId, nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("text", sa.String(2000), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution", sa.String(2000), nullable=True),
        sa.Column("answered_by_id", BigId, nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reopened", sa.Integer(), nullable=False),
        sa.Column("item_id", BigId, nullable=True),
        *_stamps(),
        sa.CheckConstraint(
            "status IN ('open', 'answered', 'closed', 'withdrawn')", name="ck_complaints_status"
        ),
        sa.CheckConstraint(
            "category IN ('service_quality', 'conduct', 'no_show', 'timeliness', 'other')",
            name="ck_complaints_category",
        ),
        _fk("complaints", "order_id", "orders"),
        _fk("complaints", "resident_id", "users"),
        _fk("complaints", "site_id", "sites"),
        _fk("complaints", "answered_by_id", "users"),
        _fk("complaints", "item_id", "supervision_items"),
        sa.PrimaryKeyConstraint("id", name="pk_complaints"),
    )
    op.create_index("ix_complaints_site_status", "complaints", ["site_id", "status", "id"])
    op.create_index("ix_complaints_resident_id", "complaints", ["resident_id", "id"])
    op.create_index("ix_complaints_order_id", "complaints", ["order_id"])
    op.create_index("ix_complaints_site_created_at", "complaints", ["site_id", "created_at"])
    op.create_index("ix_complaints_due_at", "complaints", ["escalated_at", "due_at"], **_when("status = 'open'"))

    op.create_table(
        "appeals",
        sa.Column("id", BigId, nullable=False),
        sa.Column("assignment_id", BigId, nullable=False),
        sa.Column("volunteer_id", BigId, nullable=False),
        sa.Column("site_id", BigId, nullable=False),
        sa.Column("deciding_site_id", BigId, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("minutes_before", sa.Integer(), nullable=False),
        sa.Column("minutes_claimed", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(1000), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("minutes_granted", sa.Integer(), nullable=True),
        sa.Column("decision_note", sa.String(1000), nullable=True),
        sa.Column("decided_by_id", BigId, nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("transfer_id", BigId, nullable=True),
        *_stamps(),
        sa.CheckConstraint(
            "status IN ('pending', 'upheld', 'rejected', 'withdrawn')", name="ck_appeals_status"
        ),
        sa.CheckConstraint("kind IN ('cut', 'no_show')", name="ck_appeals_kind"),
        sa.CheckConstraint("minutes_granted IS NULL OR minutes_granted >= 0", name="ck_appeals_granted"),
        _fk("appeals", "assignment_id", "assignments"),
        _fk("appeals", "volunteer_id", "users"),
        _fk("appeals", "site_id", "sites"),
        _fk("appeals", "deciding_site_id", "sites"),
        _fk("appeals", "decided_by_id", "users"),
        _fk("appeals", "transfer_id", "time_transfers"),
        sa.PrimaryKeyConstraint("id", name="pk_appeals"),
        sa.UniqueConstraint("assignment_id", name="uq_appeals_assignment_id"),
    )
    op.create_index("ix_appeals_deciding_site_status", "appeals", ["deciding_site_id", "status", "id"])
    op.create_index("ix_appeals_volunteer_id", "appeals", ["volunteer_id", "id"])
    op.create_index("ix_appeals_due_at", "appeals", ["escalated_at", "due_at"], **_when("status = 'pending'"))

    op.create_table(
        "follow_ups",
        sa.Column("id", BigId, nullable=False),
        sa.Column("order_id", BigId, nullable=False),
        sa.Column("site_id", BigId, nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("reached", sa.Boolean(), nullable=True),
        sa.Column("satisfaction", sa.Integer(), nullable=True),
        sa.Column("notes", sa.String(2000), nullable=True),
        sa.Column("done_by_id", BigId, nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        *_stamps(),
        sa.CheckConstraint("status IN ('pending', 'done', 'unreachable')", name="ck_follow_ups_status"),
        sa.CheckConstraint("reason IN ('low_rating', 'unrated', 'sample')", name="ck_follow_ups_reason"),
        sa.CheckConstraint(
            "satisfaction IS NULL OR satisfaction BETWEEN 1 AND 5", name="ck_follow_ups_satisfaction"
        ),
        _fk("follow_ups", "order_id", "orders"),
        _fk("follow_ups", "site_id", "sites"),
        _fk("follow_ups", "done_by_id", "users"),
        sa.PrimaryKeyConstraint("id", name="pk_follow_ups"),
        sa.UniqueConstraint("order_id", name="uq_follow_ups_order_id"),
    )
    op.create_index("ix_follow_ups_site_status", "follow_ups", ["site_id", "status", "id"])
    op.create_index("ix_follow_ups_site_created_at", "follow_ups", ["site_id", "created_at"])


def downgrade():
    op.drop_table("follow_ups")
    op.drop_table("appeals")
    op.drop_table("complaints")
    op.drop_table("supervision_items")
    op.drop_table("supervision_events")
