"""certificates: a public share link's token (existing certificates get theirs here) and revocation

Revision ID: 0020_certificate_links
Revises: 0019_checkin_methods
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0020_certificate_links"
down_revision = "0019_checkin_methods"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("certificates") as batch:
        batch.add_column(sa.Column("share_token", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("revoked_by", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("revoked_reason", sa.String(length=200), nullable=True))
    # Every certificate already issued gets its token now (128 random bits each), so the column can be
    # NOT NULL and a read never writes.
    conn = op.get_bind()
    certificates = sa.table("certificates", sa.column("id", sa.BigInteger), sa.column("share_token", sa.String))
    ids = conn.execute(sa.select(certificates.c.id)).scalars().all()
    for certificate_id in ids:
        conn.execute(
            certificates.update()
            .where(certificates.c.id == certificate_id)
            .values(share_token=secrets.token_urlsafe(16))
        )
    with op.batch_alter_table("certificates") as batch:
        batch.alter_column("share_token", existing_type=sa.String(length=32), nullable=False)
        batch.create_unique_constraint(op.f("uq_certificates_share_token"), ["share_token"])


def downgrade():
    with op.batch_alter_table("certificates") as batch:
        batch.drop_constraint(op.f("uq_certificates_share_token"), type_="unique")
        batch.drop_column("revoked_reason")
        batch.drop_column("revoked_by")
        batch.drop_column("revoked_at")
        batch.drop_column("share_token")
