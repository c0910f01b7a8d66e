"""wechat: wechat_bindings (an account's mini-program openid) and wechat_consents (subscription consents)

Revision ID: 0022_wechat
Revises: 0021_notification_routing
"""

import sqlalchemy as sa
from alembic import op

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0022_wechat"
down_revision = "0021_notification_routing"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "wechat_bindings",
        sa.Column("user_id", BigId, autoincrement=False, nullable=False),
        sa.Column("appid", sa.String(length=32), nullable=False),
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("unionid", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_wechat_bindings_user_id_users"),
        sa.PrimaryKeyConstraint("user_id", name="pk_wechat_bindings"),
        sa.UniqueConstraint("appid", "openid", name="uq_wechat_bindings_appid_openid"),
    )
    op.create_table(
        "wechat_consents",
        sa.Column("user_id", BigId, autoincrement=False, nullable=False),
        sa.Column("template_id", sa.String(length=64), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_wechat_consents_user_id_users"),
        sa.PrimaryKeyConstraint("user_id", "template_id", name="pk_wechat_consents"),
    )


def downgrade():
    op.drop_table("wechat_consents")
    op.drop_table("wechat_bindings")
