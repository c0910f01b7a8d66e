"""site cache: cache_generations, the token that names the current state of the sites table (the
per-process site cache of sites/cache.py is valid while it is unchanged)

Revision ID: 0028_site_cache
Revises: 0027_personal
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0028_site_cache"
down_revision = "0027_personal"
branch_labels = None
depends_on = None


def upgrade():
    table = op.create_table(
        "cache_generations",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_cache_generations"),
    )
    op.bulk_insert(table, [{"name": "sites", "token": secrets.randbits(62)}])


def downgrade():
    op.drop_table("cache_generations")
