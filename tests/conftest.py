"""Test fixtures: one migrated database per run (SQLite file, or a fresh PostgreSQL database), emptied
after every test; an app, a client, and a small world of sites and people to act in."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from volunteer_app import create_app
from volunteer_app.auth import passwords
from volunteer_app.extensions import db, limiter
from volunteer_app.sites import service as sites

passwords.use_cheap_hashing()


def _postgres_database(server_url: str) -> Iterator[str]:
    """Create a uniquely named database on the server, yield its URL, drop it afterwards."""
    url = sa.make_url(server_url).set(drivername="postgresql+psycopg")
    name = f"volunteer_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        # A throwaway database need not wait for the disk on every commit (the suite commits a lot).
        conn.exec_driver_sql(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> Iterator[str]:
    server = os.environ.get("TEST_DATABASE_URL")
    if server and server.startswith("postgres"):
        yield from _postgres_database(server)
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


def make_app(database_url: str, **overrides):
    config = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
    }
    config.update(overrides)
    app = create_app(config)
    app.config["APP"] = {**app.config["APP"], "sms_sender": "memory"}
    return app


@pytest.fixture(scope="session")
def app(database_url):
    """The app, on a database migrated from empty with `flask db upgrade` (so migrations are tested)."""
    app = make_app(database_url)
    with app.app_context():
        upgrade()
        sites.ensure_catalogue()
    yield app
    with app.app_context():
        db.engine.dispose()


def _empty_database() -> None:
    tables = [t for t in reversed(db.metadata.sorted_tables)]
    if db.engine.dialect.name == "postgresql":
        # DELETE, not TRUNCATE: on tables this small TRUNCATE's fixed cost per table (new files for
        # each table and index) was ~0.3 s a test, most of the PostgreSQL run. Triggers are off for
        # this transaction only, so the ledger's append-only guard does not refuse the cleanup.
        db.session.execute(sa.text("SET LOCAL session_replication_role = replica"))
    for table in tables:
        db.session.execute(table.delete())
    db.session.commit()


@pytest.fixture(autouse=True)
def _clean(app) -> Iterator[None]:
    """Each test starts with an empty database (plus the catalogue) and fresh rate-limit counters.

    No app context stays pushed during a test: each request gets its own, as in production
    (a shared one would share `g` and the session between requests and hide bugs).
    """
    yield
    with app.app_context():
        _empty_database()
        sites.ensure_catalogue()
        limiter.reset()
    app.extensions.pop("sms_sender", None)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def world(app):
    """Sites and people in known places (see tests/support.py build_world)."""
    from tests.support import build_world

    return build_world(app)
