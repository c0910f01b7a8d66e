"""notifications: the kind and id of what each is about (subject_type, subject_id)

Revision ID: 0011_notification_subjects
Revises: 0010_ledger_truncate_guard

Existing rows get what can be recovered: an order notice its order, a statement notice its month, a
star-level notice the book's number, a ledger alert the ledger. An activity notice written before this
revision did not keep its activity: its subject_type is "activity" and its subject_id stays null.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_notification_subjects"
down_revision = "0010_ledger_truncate_guard"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("notifications", sa.Column("subject_type", sa.String(length=20), nullable=True))
    op.add_column("notifications", sa.Column("subject_id", sa.String(length=40), nullable=True))
    bind = op.get_bind()
    month = "params->>'month'" if bind.dialect.name == "postgresql" else "json_extract(params, '$.month')"
    for statement in (
        "UPDATE notifications SET subject_type = 'order', subject_id = CAST(order_id AS VARCHAR(40))"
        " WHERE order_id IS NOT NULL",
        f"UPDATE notifications SET subject_type = 'statement', subject_id = {month}"
        " WHERE kind = 'timebank.statement'",
        "UPDATE notifications SET subject_type = 'timebook', subject_id = (SELECT a.book_no FROM time_accounts a"
        " WHERE a.kind = 'book' AND a.user_id = notifications.user_id) WHERE kind = 'star.up'",
        "UPDATE notifications SET subject_type = 'ledger' WHERE kind = 'ledger.mismatch'",
        "UPDATE notifications SET subject_type = 'activity' WHERE kind LIKE 'activity.%'",
    ):
        bind.execute(sa.text(statement))


def downgrade():
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("subject_id")
        batch.drop_column("subject_type")
