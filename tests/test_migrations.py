"""Migrations agree with the models, and walk down to nothing and back up again."""

from __future__ import annotations

import contextlib
import os

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from flask_migrate import downgrade, upgrade

from tests.conftest import _postgres_database, make_app
from volunteer_app.extensions import db


def schema_differences() -> list:
    """What autogenerate would put in a new migration for the current app's database (empty if none)."""
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def current_revision() -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    return ScriptDirectory(current_app.extensions["migrate"].directory).get_current_head()


def test_the_migrated_database_matches_the_models(app):
    with app.app_context():
        assert schema_differences() == []
        assert current_revision() == head_revision()


@contextlib.contextmanager
def throwaway_database(tmp_path):
    server = os.environ.get("TEST_DATABASE_URL")
    if server and server.startswith("postgres"):
        with contextlib.contextmanager(_postgres_database)(server) as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'migrations.db'}"


def test_downgrade_to_base_and_upgrade_again(tmp_path):
    with throwaway_database(tmp_path) as url:
        app = make_app(url)
        try:
            with app.app_context():
                upgrade()
                assert current_revision() == head_revision()
                downgrade(revision="base")
                assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
                assert current_revision() is None
                upgrade()
                assert current_revision() == head_revision()
                assert schema_differences() == []
        finally:
            with app.app_context():
                db.engine.dispose()
