"""idempotency_keys: a lease (locked_until) and a fencing token (attempt) on each claim

Revision ID: 0012_idempotency_lease
Revises: 0011_notification_subjects

Claims left "in progress" by a crash before this revision get no lease (NULL), which counts as expired:
a retry may take them over at once.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_idempotency_lease"
down_revision = "0011_notification_subjects"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.add_column(sa.Column("attempt", sa.Integer(), server_default="1", nullable=False))
        batch.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.drop_column("locked_until")
        batch.drop_column("attempt")
