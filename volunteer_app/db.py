"""Declarative base, naming convention, UTC times, SQLite transaction behaviour, and what an unreachable
database raises (is_outage; the one error format answers it with a 503)."""

from __future__ import annotations

import re
import sqlite3
import time
from datetime import UTC, datetime

from flask import has_request_context, request
from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    DateTime,
    Integer,
    MetaData,
    String,
    Text,
    case,
    cast,
    event,
    exists,
    func,
    literal,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# 64-bit ids on PostgreSQL (city-scale tables outgrow 2^31 rows of ledger and events); SQLite needs
# INTEGER PRIMARY KEY for its rowid alias, which this variant gives it.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Stores UTC; always returns timezone-aware UTC datetimes on both databases."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Base of every model: one MetaData with named constraints."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


@event.listens_for(Engine, "connect")
def _sqlite_on_connect(dbapi_connection, _record):
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's implicit BEGIN is deferred and
    # breaks SAVEPOINT); see the SQLAlchemy docs "Serializable isolation / Savepoints".
    dbapi_connection.isolation_level = None
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=15000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


@event.listens_for(Engine, "begin")
def _sqlite_on_begin(conn):
    if conn.dialect.name != "sqlite":
        return
    # Reads (GET/HEAD) start deferred so they never wait on writers under WAL. Everything else
    # takes the write lock up front: a deferred transaction that later writes can fail with
    # SQLITE_BUSY immediately instead of waiting, which would turn a grab race into 500s. A connection
    # opened with `execution_options(read_only=True)` (an export's long read in the worker) also
    # starts deferred, so it never holds the write lock while it streams.
    if conn.get_execution_options().get("read_only") or (
        has_request_context() and request.method in ("GET", "HEAD", "OPTIONS")
    ):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


# PostgreSQL's error classes that mean "cannot serve now", not "this statement is wrong": connection
# exceptions (08), insufficient resources (53: too many connections, disk full, out of memory), and a
# server shutting down, crashed or still starting (57P01-57P03). A deadlock (40P01) or a cancelled
# statement (57014) is not an outage.
_PG_UNAVAILABLE = ("08", "53", "57P01", "57P02", "57P03")
# SQLite's: the file cannot be opened or read, or stayed locked past busy_timeout.
_SQLITE_UNAVAILABLE = ("SQLITE_BUSY", "SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_FULL")


def is_outage(error: BaseException) -> bool:
    """Whether `error` says the database cannot be reached or cannot serve now (a dead connection, a
    refused connect, a server shutting down, a pool with no connection to give), as opposed to a
    statement the database refused (a bug: those stay 500)."""
    if isinstance(error, PoolTimeout):
        return True
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:  # the dialect saw the connection die
        return True
    if not isinstance(error, OperationalError | InterfaceError):
        return False  # IntegrityError, ProgrammingError, DataError: the statement, not the server
    orig = error.orig
    if hasattr(orig, "sqlstate"):  # psycopg: libpq's own errors (refused, closed, lost) have none
        state = orig.sqlstate
        return state is None or state.startswith(_PG_UNAVAILABLE)
    name = getattr(orig, "sqlite_errorname", None) or ""
    return name.startswith(_SQLITE_UNAVAILABLE)


# A pooled connection unused for longer than this is checked with a ping before a request gets it.
IDLE_PING_SECONDS = 2.0


def ping_when_idle(engine: Engine, idle_seconds: float = IDLE_PING_SECONDS) -> None:
    """Check a pooled PostgreSQL connection before handing it out only if it sat idle longer than
    `idle_seconds`; on a failed ping the pool discards it (and every connection older than it) and
    hands out a fresh one, as pool_pre_ping does (this is SQLAlchemy's documented "pessimistic
    disconnect handling" with a condition added).

    pool_pre_ping paid one round trip on every checkout, about a tenth of a hot read's time. A
    connection a worker used within the last two seconds was alive then; a database restart takes
    longer than that, so every connection it killed has been idle long enough to be pinged. What is
    left: a single connection killed from outside (pg_terminate_backend, a proxy) within two seconds
    of its last use. Its next request answers 503 with Retry-After (the disconnect error invalidates
    the pool, as the outage handling does), which a phone retries; nothing half-done is kept."""
    if engine.dialect.name != "postgresql":
        return  # SQLite: a file, no connection to lose

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection, record):
        if record is not None:
            record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, _proxy):
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since <= idle_seconds:
            return  # fresh from connect, or used a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise DisconnectionError(f"idle connection failed its ping: {error}") from error


@event.listens_for(Engine, "do_connect")
def _connect_timeout(dialect, _record, _cargs, cparams):
    """A PostgreSQL that does not answer (a host gone, packets dropped) fails a connect within 5 s, a
    503 well before gunicorn's worker timeout, instead of libpq's default of waiting forever."""
    if dialect.name == "postgresql":
        cparams.setdefault("connect_timeout", 5)


def update_batch(session, model, *, where: list, order_by: tuple, values: dict, limit: int, returning=()):
    """UPDATE up to `limit` rows of `model` matching `where`, picked in `order_by` order, and return them
    (id and `returning`). The conditions are repeated in the UPDATE itself, so two concurrent sweepers
    never move one row twice: PostgreSQL re-checks them after the row lock and the second finds it
    changed; SQLite serialises writers. `order_by` should be the column order of the partial index that
    serves `where`, so each batch reads only rows it can move (bench/README.md). The ORM does not see
    this UPDATE (synchronize_session off): the caller records what it must."""
    due = select(model.id).where(*where).order_by(*order_by).limit(limit)
    return session.execute(
        update(model)
        .where(model.id.in_(due.scalar_subquery()), *where)
        .values(**values)
        .returning(model.id, *returning)
        .execution_options(synchronize_session=False)
    ).all()


_CONSTANT = re.compile(r"[a-z_]{1,32}")


def constant(value: str) -> ColumnElement[str]:
    """A fixed word of the code (a status, a mode) written into the SQL rather than bound. A prepared
    statement's generic plan (PostgreSQL plans a statement once and reuses the plan after five runs,
    unless that plan looks dearer) knows nothing of a bound value, so it cannot prove a partial index's
    predicate (`status = 'dispatched'`) and either scans otherwise or keeps planning every run afresh;
    with the word in the SQL it can. Only such words: never a value from a request."""
    if not _CONSTANT.fullmatch(value):
        raise ValueError(f"not a constant word: {value!r}")
    return literal_column(f"'{value}'", String)


def dialect_insert(dialect: str):
    """The INSERT construct of the database in use (`dialect`: its name), the one with ON CONFLICT
    (`on_conflict_do_nothing`, `on_conflict_do_update`) on both PostgreSQL and SQLite."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def json_elements(column, dialect: str):
    """The elements of the JSON array in `column` as a table with one column, `value` (text on
    PostgreSQL: json_array_elements_text; SQLite's json_each gives each element its own type). A stored
    JSON null or non-array has none. `dialect` is the engine's dialect name (`db.engine.dialect.name`)."""
    if dialect == "postgresql":
        array = case((func.json_typeof(column) == "array", column), else_=cast(literal("[]"), JSON))
        return func.json_array_elements_text(array).table_valued("value")
    array = case((func.json_type(column) == "array", column), else_=literal("[]"))
    return func.json_each(array).table_valued("value")


def json_list_has(column, value, dialect: str) -> ColumnElement[bool]:
    """SQL: the JSON array in `column` holds exactly `value` (a string or a number, or an SQL expression
    of either: a bound parameter, a column): the array's elements as a table (`json_elements`) in one
    EXISTS. A stored JSON null or non-array holds nothing."""
    elements = json_elements(column, dialect)
    if dialect == "postgresql":  # elements are text there
        value = str(value) if isinstance(value, str | int | float) else cast(value, Text)
    # Correlated to every enclosing query (not only the next one out): `value` may be a column of a
    # table two levels out (a feed entry's category inside the caller's profile subquery).
    found = select(literal(1)).select_from(elements).where(elements.c.value == value)
    return exists(found.correlate_except(elements))


def json_list_empty(column, dialect: str) -> ColumnElement[bool]:
    """SQL: the JSON array in `column` holds nothing (also a stored JSON null or non-array, or NULL)."""
    elements = json_elements(column, dialect)
    return ~exists(select(literal(1)).select_from(elements).correlate_except(elements))
