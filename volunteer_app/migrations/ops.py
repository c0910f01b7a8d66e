"""Index changes a migration makes on a table that already holds rows, done without blocking writes.

On PostgreSQL a plain CREATE INDEX holds a SHARE lock on its table until the migration's transaction
ends: every INSERT, UPDATE and DELETE on the table waits for the whole build (minutes on a city's orders
table). CREATE INDEX CONCURRENTLY takes a lock writes do not wait for, but cannot run inside a
transaction, so these helpers run it in alembic's autocommit block: the migration's work so far is
committed first (env.py runs one transaction per migration), the index is built on its own, and a new
transaction begins for the rest of the migration.

A concurrent build that is interrupted (a lost connection, a cancelled deploy, a unique violation)
leaves an INVALID index of that name behind, which is never used for reads but slows every write and
makes the next CREATE fail; create_index drops such a leftover first. An index of that name that is
valid already (built by hand beforehand, or by an earlier run of the same migration that failed later
on) is kept, so running the migration again finishes the work instead of failing.

On SQLite (development, tests) these are a plain CREATE INDEX IF NOT EXISTS and DROP INDEX.

The convention (README "The database in production"; tests/ops/test_migrations_online.py enforces
it): a migration that adds an index to a table an earlier migration created uses create_index from
here; an index on a table created in the same migration uses op.create_index (the table is empty and
nobody writes to it yet).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

_STATE = sa.text(
    "SELECT i.indisvalid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid"
    " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = :name AND n.nspname = current_schema()"
)


def _postgresql() -> bool:
    return op.get_context().dialect.name == "postgresql"


def create_index(
    name: str,
    table: str,
    columns: Sequence[str],
    *,
    unique: bool = False,
    where: str | None = None,
) -> None:
    """CREATE [UNIQUE] INDEX name ON table (columns) [WHERE where], concurrently on PostgreSQL."""
    condition = sa.text(where) if where is not None else None
    if not _postgresql():
        op.create_index(name, table, list(columns), unique=unique, sqlite_where=condition, if_not_exists=True)
        return
    context = op.get_context()
    with context.autocommit_block():
        # Offline (`flask db upgrade --sql`) nothing can be asked: the script drops and builds.
        valid = None if context.as_sql else op.get_bind().execute(_STATE, {"name": name}).scalar()
        if valid:
            return
        if valid is not None or context.as_sql:  # an interrupted concurrent build's leftover
            op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)
        op.create_index(
            name,
            table,
            list(columns),
            unique=unique,
            postgresql_where=condition,
            postgresql_concurrently=True,
        )


def drop_index(name: str, table: str) -> None:
    """DROP INDEX name, concurrently on PostgreSQL (a plain DROP INDEX waits for, and then blocks, every
    reader and writer of the table)."""
    if not _postgresql():
        op.drop_index(name, table_name=table)
        return
    with op.get_context().autocommit_block():
        op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)
