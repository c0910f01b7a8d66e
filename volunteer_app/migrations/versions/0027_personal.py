"""personal: users.closed_at (a closed account), id_number_viewers (who may see unmasked ID numbers) and
id_number_access_log (every look: who, whose, when, why; append-only)

Revision ID: 0027_personal
Revises: 0026_ops
"""

import sqlalchemy as sa
from alembic import op

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0027_personal"
down_revision = "0026_ops"
branch_labels = None
depends_on = None

# The access log is append-only: an UPDATE is refused (the retention job's DELETE of old rows is not).
PG_FUNCTION = """
CREATE FUNCTION id_number_access_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'id_number_access_log is append-only: % refused', TG_OP;
END;
$$
"""


def upgrade():
    # A nullable column without a default: no table rewrite on PostgreSQL, whatever the users' count.
    op.add_column("users", sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "id_number_viewers",
        sa.Column("user_id", BigId, autoincrement=False, nullable=False),
        sa.Column("granted_by_id", BigId, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_id_number_viewers_user_id_users"),
        sa.ForeignKeyConstraint(
            ["granted_by_id"], ["users.id"], name="fk_id_number_viewers_granted_by_id_users"
        ),
        sa.PrimaryKeyConstraint("user_id", name="pk_id_number_viewers"),
    )
    op.create_table(
        "id_number_access_log",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("viewer_id", BigId, nullable=False),
        sa.Column("subject_id", BigId, nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["viewer_id"], ["users.id"], name="fk_id_number_access_log_viewer_id_users"),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["users.id"], name="fk_id_number_access_log_subject_id_users"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_id_number_access_log"),
    )
    op.create_index("ix_id_number_access_log_created_at", "id_number_access_log", ["created_at"])
    op.create_index("ix_id_number_access_log_viewer_id", "id_number_access_log", ["viewer_id"])
    op.create_index("ix_id_number_access_log_subject_id", "id_number_access_log", ["subject_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute(
            "CREATE TRIGGER id_number_access_log_append_only BEFORE UPDATE ON id_number_access_log "
            "FOR EACH ROW EXECUTE FUNCTION id_number_access_log_append_only()"
        )
    else:
        op.execute(
            "CREATE TRIGGER id_number_access_log_append_only BEFORE UPDATE ON id_number_access_log "
            "BEGIN SELECT RAISE(ABORT, 'id_number_access_log is append-only'); END"
        )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS id_number_access_log_append_only ON id_number_access_log")
        op.execute("DROP FUNCTION IF EXISTS id_number_access_log_append_only()")
    op.drop_table("id_number_access_log")
    op.drop_table("id_number_viewers")
    # A plain ALTER TABLE … DROP COLUMN (SQLite has it since 3.35): batch mode would copy and drop the
    # users table, which SQLite refuses while other tables' rows refer to it (foreign keys are on).
    op.drop_column("users", "closed_at")
