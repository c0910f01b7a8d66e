"""Test fixtures: one migrated database per run (SQLite file, or a fresh PostgreSQL database), emptied
after every test; an app, a client, and a small world of sites and people to act in."""

from __future__ import annotations

import contextlib
import copy
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from volunteer_app import create_app, fastdump
from volunteer_app.auth import passwords
from volunteer_app.extensions import db, limiter
from volunteer_app.sites import cache as site_cache
from volunteer_app.sites import service as sites

passwords.use_cheap_hashing()
fastdump.CHECK = True  # every fast dump is compared with marshmallow's own (volunteer_app/fastdump.py)


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
    # Ledger checkpoints go to a file of the test run's own (emptied after every test, like the database).
    checkpoints = os.path.join(tempfile.mkdtemp(prefix="ledger-checkpoints-"), "checkpoints.jsonl")
    app.config["APP"] = {**app.config["APP"], "sms_sender": "memory", "ledger_checkpoint_file": checkpoints}
    return app


@pytest.fixture(scope="session")
def app(database_url):
    """The app, on a database migrated from empty with `flask db upgrade` (so migrations are tested)."""
    app = make_app(database_url)
    with app.app_context():
        upgrade()
        sites.ensure_catalogue()
        _BASE[:] = _added_rows(_no_rows(), _rows())
    yield app
    with app.app_context():
        db.engine.dispose()


# ---- snapshots: rows of every table, to put back with one INSERT per table ----

Rows = list[tuple[sa.Table, list[dict]]]  # in dependency order, only tables with rows
_BASE: Rows = []  # the database as migrated, with the catalogue (set by the `app` fixture)
WORLD_MAX_AGE = 60.0  # seconds a snapshot of build_world is reused before it runs again
_WORLD: dict = {}


@dataclass
class _CachedWorld:
    key: str
    taken: float
    rows: Rows
    world: object


def _world_key(app) -> str:
    """What the world's rows and tokens depend on besides the code: the app's settings and keys."""
    return repr(
        (sorted(app.config["APP"].items()), app.config.get("JWT_SECRET_KEY"), app.config["SECRET_KEY"])
    )


_SNAPSHOTS: dict[str, tuple[dict, _CachedWorld]] = {}


def replayed(app, name: str, build, *, max_age: float = WORLD_MAX_AGE):
    """`build()`'s rows, put back instead of built again (call inside an app context).

    The first call runs build() on the database as it stands and keeps the rows it added and a copy of
    what it returned; a later call within `max_age` seconds (by the clock, travelled or not), with the
    same settings and on a database in the very state the first one found, inserts those rows (ids and
    all, one INSERT per table) and returns a copy. Anything else runs build() for real: a build that
    changes rows it did not add is not kept. For builders that write only to the database and always
    write the same, like the demo's load (tests/api/demo_data.py)."""
    key = _world_key(app)
    before = _rows()
    db.session.commit()  # no read transaction left open while build() writes from its own contexts
    kept = _SNAPSHOTS.get(name)
    if kept is not None:
        found, cached = kept
        if cached.key == key and 0 <= time.time() - cached.taken < max_age and found == before:
            _insert(cached.rows)
            return copy.deepcopy(cached.world)
    taken = time.time()
    result = build()
    db.session.commit()
    try:
        rows = _added_rows(before, _rows())
    except AssertionError:
        _SNAPSHOTS.pop(name, None)
        return result
    _SNAPSHOTS[name] = (before, _CachedWorld(key, taken, rows, copy.deepcopy(result)))
    return result


def built_once(app, build):
    """`build(app)` (a builder of test data that opens its own app contexts, such as
    tests/reports/world.py's), replayed like the `world` fixture's: for real at most once a minute."""
    with app.app_context():
        return replayed(app, f"{build.__module__}.{build.__qualname__}", lambda: build(app))


def _no_rows() -> dict:
    return {table.name: {} for table in db.metadata.sorted_tables if table.name != "cache_generations"}


def _rows() -> dict[str, dict[tuple, dict]]:
    """Every row of every table: table name -> primary key (the whole row if none) -> row."""
    state = {}
    for table in db.metadata.sorted_tables:
        if table.name == site_cache.CacheGeneration.__tablename__:
            continue  # not a snapshot's: every restore writes a fresh token (_insert)
        key = list(table.primary_key.columns) or list(table.columns)
        state[table.name] = {
            tuple(row[c.name] for c in key): dict(row)
            # In key order: a self-referencing table (sites' parent_id) replays parents first, whatever
            # order an UPDATE left the rows in on disk (PostgreSQL checks the foreign key per row).
            for row in db.session.execute(table.select().order_by(*key)).mappings()
        }
    return state


def _added_rows(before: dict, after: dict) -> Rows:
    """The rows in `after` that were not in `before`; every row of `before` must be unchanged."""
    changed = sorted(
        name for name, rows in before.items() if any(after[name].get(k) != r for k, r in rows.items())
    )
    assert not changed, f"the snapshot cannot be replayed: rows it did not add changed in {changed}"
    return [
        (table, added)
        for table in db.metadata.sorted_tables
        if table.name in after
        and (added := [row for k, row in after[table.name].items() if k not in before[table.name]])
    ]


def _insert(rows: Rows) -> None:
    """Insert the rows (one executemany per table) and commit.

    PostgreSQL: the rows were consistent when they were taken, so they skip the foreign-key check per
    row (triggers off for this transaction only, as in _empty_database; keys and unique constraints
    are still checked), and every table's INSERT goes in one pipeline instead of a round trip each:
    together about half the time of a world's replay, which nearly every test does."""
    if rows and db.engine.dialect.name == "postgresql":
        connection = db.session.connection()
        connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
        try:
            with connection.connection.driver_connection.pipeline():
                for table, table_rows in rows:
                    connection.execute(table.insert(), table_rows)
        except psycopg.IntegrityError as error:  # raised when the pipeline syncs, unwrapped
            raise sa.exc.IntegrityError("INSERT (a snapshot's rows)", None, error) from error
    else:
        for table, table_rows in rows:
            db.session.execute(table.insert(), table_rows)
    # Rows written past the session: the site cache's token changes with them (sites/cache.py), so no
    # process keeps settings read from the database as it was before.
    site_cache.bump()
    db.session.commit()


def _empty_database() -> None:
    """Delete every row of every table (and commit)."""
    tables = [t for t in reversed(db.metadata.sorted_tables)]
    if db.engine.dialect.name == "postgresql":
        # DELETE, not TRUNCATE: on tables this small TRUNCATE's fixed cost per table (new files for
        # each table and index) was ~0.3 s a test, most of the PostgreSQL run. Triggers are off for
        # this transaction only, so the ledger's append-only guard does not refuse the cleanup. All in
        # one round trip (psycopg sends a parameterless string as is): half the time of one per table.
        quote = db.engine.dialect.identifier_preparer.format_table
        statements = ["SET LOCAL session_replication_role = replica"]
        statements += [f"DELETE FROM {quote(table)}" for table in tables]
        db.session.connection().exec_driver_sql("; ".join(statements))
    else:
        for table in tables:
            db.session.execute(table.delete())
    db.session.commit()


@pytest.fixture(autouse=True)
def _clean(app) -> Iterator[None]:
    """Each test starts with an empty database (plus the catalogue, always with the same ids) and fresh
    rate-limit counters.

    No app context stays pushed during a test: each request gets its own, as in production
    (a shared one would share `g` and the session between requests and hide bugs).
    """
    yield
    with app.app_context():
        _empty_database()
        _insert(_BASE)  # what `flask db upgrade` and ensure_catalogue() left, ids and all
        limiter.reset()
    app.extensions.pop("sms_sender", None)
    with contextlib.suppress(FileNotFoundError):
        os.remove(app.config["APP"].get("ledger_checkpoint_file") or "")


@pytest.fixture
def quiet_hours_off(app, monkeypatch):
    """The deployment's quiet window emptied for this test (start == end): for tests about delivery, not
    about quiet hours, whose rows would otherwise wait for the morning whenever the suite runs inside
    22:00-07:00 in Shanghai (14:00-23:00 UTC)."""
    monkeypatch.setitem(app.config["NOTIFICATIONS"], "quiet_start", "00:00")
    monkeypatch.setitem(app.config["NOTIFICATIONS"], "quiet_end", "00:00")


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def world(app):
    """Sites and people in known places (see tests/support.py build_world).

    build_world runs for real at most once a minute; the tests in between get the rows it added put back
    with one INSERT per table (ids, encrypted fields and tokens as it made them) and a copy of its World.
    Its tokens stay well inside their 15 minutes. A rebuild happens whenever the snapshot is older than
    WORLD_MAX_AGE by the (possibly travelled) clock, the app's settings differ, or the rows do not fit
    (a fixture of the test added rows first).
    """
    from tests.support import build_world

    key = _world_key(app)
    cached = _WORLD.get("cached")
    if cached is not None and cached.key == key and 0 <= time.time() - cached.taken < WORLD_MAX_AGE:
        with app.app_context():
            try:
                _insert(cached.rows)
                return copy.deepcopy(cached.world)
            except sa.exc.IntegrityError:
                db.session.rollback()
    with app.app_context():
        before = _rows()
    taken = time.time()
    world = build_world(app)
    with app.app_context():
        rows = _added_rows(before, _rows())
    _WORLD["cached"] = _CachedWorld(key, taken, rows, copy.deepcopy(world))
    return world
