"""notifications routed per channel: the outbox's channel is push, sms, wechat or console and its
`device_token` becomes a general `target`; a "skipped" status (over the daily cap); users' notification
settings (opt-outs, quiet hours); an index (user_id, created_at) for the daily cap and an admin's list

The pool-nearby selection (orders/nearby.py) needs no new index: it reads sites (kind, lat, lng),
volunteer_profiles (site_id, …) and assignments (volunteer_id, status), which exist (bench/pool_nearby.py).

Revision ID: 0021_notification_routing
Revises: 0020_certificate_links

Existing outbox rows: apns, fcm and hms rows become push rows (JPush serves all three); webpush rows
become push rows too, and any not yet sent are given up ("channel.retired": no push goes to a browser).
"""

import sqlalchemy as sa
from alembic import op

from volunteer_app.migrations import ops

revision = "0021_notification_routing"
down_revision = "0020_certificate_links"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    bind = op.get_bind()
    bind.execute(
        sa.text(
            "UPDATE notification_outbox SET status = 'dead', last_error = 'channel.retired'"
            " WHERE channel = 'webpush' AND status IN ('pending', 'sending', 'failed')"
        )
    )
    bind.execute(
        sa.text(
            "UPDATE notification_outbox SET channel = 'push'"
            " WHERE channel IN ('apns', 'fcm', 'hms', 'webpush')"
        )
    )
    with op.batch_alter_table("notification_outbox") as batch:
        batch.alter_column("device_token", new_column_name="target", existing_type=sa.String(255))
        batch.drop_constraint(batch.f("ck_notification_outbox_status"), type_="check")
        batch.create_check_constraint(
            "status", "status IN ('pending', 'sending', 'sent', 'failed', 'dead', 'skipped')"
        )
        batch.create_check_constraint("channel", "channel IN ('push', 'sms', 'wechat', 'console')")
    # The outbox holds rows already: built without blocking writes (volunteer_app/migrations/ops.py).
    ops.create_index(
        "ix_notification_outbox_user_id_created_at", "notification_outbox", ["user_id", "created_at"]
    )
    op.create_table(
        "notification_settings",
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("opt_out", sa.JSON(), nullable=False),
        sa.Column("quiet_hours", sa.Boolean(), nullable=False),
        sa.Column("quiet_start", sa.String(length=5), nullable=True),
        sa.Column("quiet_end", sa.String(length=5), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notification_settings_user_id_users")
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_notification_settings")),
    )


def downgrade():
    op.drop_table("notification_settings")
    bind = op.get_bind()
    bind.execute(sa.text("DELETE FROM notification_outbox WHERE channel IN ('sms', 'wechat')"))
    bind.execute(sa.text("UPDATE notification_outbox SET status = 'dead' WHERE status = 'skipped'"))
    ops.drop_index("ix_notification_outbox_user_id_created_at", "notification_outbox")
    with op.batch_alter_table("notification_outbox") as batch:
        batch.drop_constraint(batch.f("ck_notification_outbox_channel"), type_="check")
        batch.drop_constraint(batch.f("ck_notification_outbox_status"), type_="check")
        batch.create_check_constraint("status", "status IN ('pending', 'sending', 'sent', 'failed', 'dead')")
        batch.alter_column("target", new_column_name="device_token", existing_type=sa.String(255))
    # Which push service a push row went through is not known any more: fcm stands for them all.
    bind.execute(sa.text("UPDATE notification_outbox SET channel = 'fcm' WHERE channel = 'push'"))
