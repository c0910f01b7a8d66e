"""volunteer_app.readplan: a planned read gives exactly the rows SQLAlchemy gives, binds what it binds,
fires the same events, raises the same errors, and never plans what SQLAlchemy rewrites per call."""

from __future__ import annotations

import gc
from datetime import datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

from volunteer_app import readplan
from volunteer_app.accounts.models import User
from volunteer_app.extensions import db


class Shout(TypeDecorator):
    """A type with a bind processor and a result processor of its own."""

    impl = sa.String
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else value.upper()

    def process_result_value(self, value, dialect):
        return None if value is None else f"{value}!"


def _statement():
    """Labelled columns, a UTC time (a result processor), JSON, a bound value with its own bind and
    result processors, and a literal embedded in the statement."""
    return (
        sa.select(
            User.id,
            User.name.label("who"),
            User.created_at,
            sa.literal({"a": [1, 2]}, sa.JSON).label("doc"),
            sa.type_coerce(sa.bindparam("word", type_=Shout), Shout).label("word"),
        )
        .where(User.id >= sa.bindparam("from_id"), User.name != "nobody")
        .order_by(User.id)
    )


@pytest.fixture
def connection(app, world):
    with app.app_context(), db.engine.connect() as conn:
        yield conn


def _through_sqlalchemy(conn, stmt, params):
    return conn.execute(stmt, params).all()


def _a_user_id(conn) -> int:
    return conn.execute(sa.select(sa.func.min(User.id))).scalar()


def _planned(stmt):
    return type(readplan._PLANS.get(stmt)) is readplan.Plan


def test_planned_rows_are_sqlalchemys_rows(connection, path):
    stmt = _statement()
    params = {"from_id": 0, "word": "hi"}
    expected = _through_sqlalchemy(connection, stmt, params)
    assert expected and expected[0].word == "HI!" and expected[0].doc == {"a": [1, 2]}
    assert isinstance(expected[0].created_at, datetime) and expected[0].created_at.tzinfo is not None
    first = readplan.read(connection, stmt, params)  # through SQLAlchemy, marked
    assert not _planned(stmt)
    second = readplan.read(connection, stmt, params)  # through SQLAlchemy, planned from it
    postgres = connection.dialect.name == "postgresql"
    assert _planned(stmt) is postgres  # SQLite's driver takes positional parameters: never planned
    third = readplan.read(connection, stmt, {"from_id": expected[1].id, "word": "yo"})
    assert first == second == expected
    assert [tuple(row) for row in third] == [(*row[:4], "YO!") for row in expected[1:]]
    assert third[0]._mapping["who"] == expected[1].who and third[0].created_at == expected[1].created_at
    assert [type(value) for value in third[0]] == [type(value) for value in expected[1]]
    assert third.first() == third[0] and third.scalar() == expected[1].id and third.all() is third
    empty = readplan.read(connection, stmt, {"from_id": 10**12, "word": "x"})
    assert empty == [] and empty.first() is None and empty.scalar() is None


def test_each_statement_binds_its_own_literals(connection):
    """Two statements that differ only in a literal share SQLAlchemy's compiled form; each plan is
    compiled from its own statement, so each binds its own value."""
    names = [row.name for row in connection.execute(sa.select(User.name).order_by(User.id).limit(2))]
    statements = [sa.select(User.name).where(User.name == name) for name in names]
    for _ in range(3):
        for name, stmt in zip(names, statements, strict=True):
            assert [row.name for row in readplan.read(connection, stmt, {})] == [name]


def test_expanding_parameters_are_never_planned(connection):
    ids = [row.id for row in connection.execute(sa.select(User.id).order_by(User.id).limit(3))]
    stmt = sa.select(User.id).where(User.id.in_(sa.bindparam("ids", expanding=True))).order_by(User.id)
    for size in (1, 2, 3, 1):
        assert [row.id for row in readplan.read(connection, stmt, {"ids": ids[:size]})] == ids[:size]
    assert readplan._PLANS.get(stmt) is readplan._NEVER or connection.dialect.name != "postgresql"


def test_statements_with_options_or_writes_are_never_planned(connection):
    optioned = sa.select(User.id).limit(1).execution_options(yield_per=10)
    for _ in range(3):
        readplan.read(connection, optioned, {})
    assert not _planned(optioned)


def test_a_planned_read_fires_the_engines_events(connection):
    stmt = sa.select(User.id).where(User.id == sa.bindparam("id"))
    user_id = _a_user_id(connection)
    seen = []

    def on_execute(_conn, _cursor, statement, parameters, *_args):
        seen.append((statement, parameters))

    sa.event.listen(connection.engine, "before_cursor_execute", on_execute)
    try:
        for _ in range(3):
            readplan.read(connection, stmt, {"id": user_id})
    finally:
        sa.event.remove(connection.engine, "before_cursor_execute", on_execute)
    selects = [(statement, parameters) for statement, parameters in seen if statement.startswith("SELECT")]
    assert len(selects) == 3 and selects[0] == selects[2]


def test_a_dropped_statement_takes_its_plan_with_it(connection):
    """A plan does not keep its statement alive (on an engine without SQLAlchemy's compiled cache,
    which keeps the statements it compiled until it forgets them)."""
    if connection.dialect.name != "postgresql":
        pytest.skip("SQLite's statements are never planned")
    uncached = sa.create_engine(connection.engine.url, poolclass=sa.pool.NullPool, query_cache_size=0)
    try:
        with uncached.connect() as conn:
            before = len(readplan._PLANS)
            stmt = sa.select(User.id).where(User.name != "nobody").limit(1)
            expected = readplan.read(conn, stmt, {})
            assert readplan.read(conn, stmt, {}) == readplan.read(conn, stmt, {}) == expected
            assert _planned(stmt) and len(readplan._PLANS) == before + 1
            del stmt
            gc.collect()
            assert len(readplan._PLANS) == before
    finally:
        uncached.dispose()


def test_another_engines_dialect_plans_again(connection):
    if connection.dialect.name != "postgresql":
        pytest.skip("SQLite's statements are never planned")
    stmt = sa.select(User.id).order_by(User.id).limit(1)
    for _ in range(3):
        expected = readplan.read(connection, stmt, {})
    assert readplan._PLANS[stmt].dialect is connection.dialect
    other = sa.create_engine(connection.engine.url, poolclass=sa.pool.NullPool)
    try:
        with other.connect() as conn:
            for _ in range(3):
                assert readplan.read(conn, stmt, {}) == expected
            assert readplan._PLANS[stmt].dialect is other.dialect
    finally:
        other.dispose()


def test_a_dead_connection_is_a_dbapi_error_and_is_invalidated(app, connection, path):
    """A planned read on a connection whose server process died raises SQLAlchemy's wrapped error (the
    one error format answers an outage with a 503) and the connection is invalidated, as through
    SQLAlchemy."""
    if connection.dialect.name != "postgresql":
        pytest.skip("a server process to kill is PostgreSQL's")
    stmt = sa.select(User.id).limit(1)
    for _ in range(2):
        readplan.read(connection, stmt, {})
    assert _planned(stmt)
    pid = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar()
    with db.engine.connect() as other:
        other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        other.commit()
    with pytest.raises(sa.exc.DBAPIError) as caught:
        readplan.read(connection, stmt, {})
    assert caught.value.connection_invalidated and connection.invalidated


def test_a_plan_that_would_bind_otherwise_is_refused(connection, monkeypatch):
    """The self-check: a plan whose parameters differ from what SQLAlchemy sent is never used."""
    real = readplan._binder

    def off_by_one(compiled):
        bind = real(compiled)

        def wrong(params):
            values, sent = bind(params)
            return values, {**sent, "x": 1}

        return wrong

    monkeypatch.setattr(readplan, "_binder", off_by_one)
    stmt = sa.select(User.id).where(User.id == sa.bindparam("id"))
    user_id = _a_user_id(connection)
    for _ in range(3):
        assert readplan.read(connection, stmt, {"id": user_id}).scalar() == user_id
    assert readplan._PLANS.get(stmt) is readplan._NEVER


def test_sentrys_listeners_record_planned_reads(connection):
    """Sentry's SQLAlchemy integration keeps each query's span on the execution context: a planned read
    hands its listeners one of the dialect's own class, and each read is a span."""
    sentry_sdk = pytest.importorskip("sentry_sdk")
    from sentry_sdk.integrations.sqlalchemy import SqlalchemyIntegration

    sent: list[dict] = []

    def keep(event, _hint):
        sent.append(event)
        return None  # nothing leaves the process

    sentry_sdk.init(
        dsn="http://public-key@127.0.0.1:9/1",
        integrations=[SqlalchemyIntegration()],
        traces_sample_rate=1.0,
        before_send_transaction=keep,
    )
    try:
        stmt = sa.select(User.id).where(User.id == sa.bindparam("id"))
        user_id = _a_user_id(connection)
        with sentry_sdk.start_transaction(name="reads"):
            for _ in range(3):
                assert readplan.read(connection, stmt, {"id": user_id}).scalar() == user_id
    finally:
        sentry_sdk.init()
    assert connection.dialect.name != "postgresql" or _planned(stmt)
    spans = [span["description"] for event in sent for span in event["spans"] if span["op"] == "db"]
    spans = [description for description in spans if description.startswith("SELECT")]
    assert spans == [str(stmt.compile(dialect=connection.dialect))] * 3


@pytest.fixture(params=["quiet", "listened"])
def path(request, monkeypatch):
    """Planned reads on the quiet path (straight to the driver, as with no listener and no echo) or
    through SQLAlchemy's _cursor_execute (as with a listener: the tests' counters, Sentry's spans)."""
    monkeypatch.setattr(readplan, "_quiet", lambda _connection: request.param == "quiet")
    return request.param


def test_only_a_connection_nothing_listens_to_is_quiet(connection):
    def on_execute(*_args):
        pass

    sa.event.listen(connection.engine, "before_cursor_execute", on_execute)
    try:
        assert not readplan._quiet(connection)
    finally:
        sa.event.remove(connection.engine, "before_cursor_execute", on_execute)
    with db.engine.connect() as echoed:
        echoed._echo = True
        assert not readplan._quiet(echoed)


def test_a_plan_binds_what_sqlalchemy_binds(connection, path):
    """Each plan's written-out binder: values by key, a parameter's own value or its callable's when
    the call gives none, the processors' output under the escaped names, and SQLAlchemy's error for a
    required parameter left out; on either path."""
    if connection.dialect.name != "postgresql":
        pytest.skip("SQLite's statements are never planned")
    stmt = sa.select(
        User.id,
        sa.type_coerce(sa.bindparam("word", type_=Shout), Shout).label("word"),
        sa.bindparam("fixed", value=5, type_=sa.Integer).label("fixed"),
        sa.bindparam("called", callable_=lambda: 7, type_=sa.Integer).label("called"),
        sa.bindparam("odd-name", value="x", type_=sa.String).label("odd"),
    ).where(User.id == sa.bindparam("id"))
    user_id = _a_user_id(connection)
    for _ in range(2):
        readplan.read(connection, stmt, {"id": user_id, "word": "a"})
    assert _planned(stmt)
    plan = readplan._PLANS[stmt]
    seen = []

    def on_execute(_conn, _cursor, _statement, parameters, *_args):
        seen.append(parameters)

    for params in ({"id": user_id, "word": "a"}, {"id": user_id, "word": "b", "fixed": 6, "odd-name": "y"}):
        values, sent = plan.bind(params)
        assert values == plan.compiled.construct_params(params, escape_names=False)
        sa.event.listen(connection.engine, "before_cursor_execute", on_execute)
        try:
            connection.execute(stmt, params)  # (what SQLAlchemy sends for the same call)
        finally:
            sa.event.remove(connection.engine, "before_cursor_execute", on_execute)
        assert (
            sent == seen[-1]
            and sent["word"] == params["word"].upper()
            and sent["odd-name"] == values["odd-name"]
        )
        row = readplan.read(connection, stmt, params).first()
        assert tuple(row) == tuple(_through_sqlalchemy(connection, stmt, params)[0])
    with pytest.raises(sa.exc.StatementError, match="A value is required for bind parameter 'id'") as planned:
        readplan.read(connection, stmt, {"word": "a"})
    with pytest.raises(sa.exc.StatementError, match="A value is required for bind parameter 'id'") as through:
        connection.execute(stmt, {"word": "a"})
    assert type(planned.value.orig) is type(through.value.orig) is sa.exc.InvalidRequestError


def test_a_driver_error_on_a_planned_read_is_sqlalchemys(connection, path):
    """A statement the database refuses, on either path: SQLAlchemy's wrapped error, as through it."""
    if connection.dialect.name != "postgresql":
        pytest.skip("SQLite's statements are never planned")
    stmt = sa.select(sa.cast(sa.bindparam("text", type_=sa.String), sa.Integer).label("n"))
    for _ in range(2):
        assert readplan.read(connection, stmt, {"text": "1"}).scalar() == 1
    assert _planned(stmt)
    with pytest.raises(sa.exc.DataError) as planned:
        readplan.read(connection, stmt, {"text": "one"})
    connection.rollback()
    with pytest.raises(sa.exc.DataError) as through:
        connection.execute(stmt, {"text": "one"})
    connection.rollback()
    assert type(planned.value.orig) is type(through.value.orig)
    assert not connection.invalidated
    assert readplan.read(connection, stmt, {"text": "2"}).scalar() == 2


def test_a_plan_sends_the_sql_in_postgresqls_own_form_as_psycopg_would(connection, path):
    """On the quiet path a plan sends its SQL with PostgreSQL's placeholders ($1, …), written once
    (readplan._dollar), through psycopg's RawCursor, which does not parse it again (psycopg caches its
    own parsing only for statements up to 4,096 bytes). The form is psycopg's own: a name used twice
    is one number, `%%` is `%`; SQL with a lone `%` is left to psycopg."""
    from psycopg import _queries

    if connection.dialect.name != "postgresql":
        pytest.skip("SQLite's statements are never planned")
    twice = sa.bindparam("n", type_=sa.Integer)
    stmt = sa.select(
        User.id,
        (User.id % 2).label("parity"),  # `%%` in SQLAlchemy's SQL
        sa.literal_column("'100%'").label("full"),
        (twice + twice).label("doubled"),
        sa.bindparam("odd-name", value="x", type_=sa.String).label("odd"),
    ).where(User.id >= sa.bindparam("from_id"))
    params = {"from_id": 0, "n": 21}
    expected = _through_sqlalchemy(connection, stmt, params)
    for _ in range(3):
        assert readplan.read(connection, stmt, params) == expected
    assert _planned(stmt) and expected[0].full == "100%" and expected[0].doubled == 42
    plan = readplan._PLANS[stmt]
    query, _formats, order, _parts = _queries._query2pg_nocache(plan.sql.encode(), "utf-8")
    assert (plan.dollar, list(plan.order)) == (query, order)
    assert len(plan.order) == 4 and plan.dollar.count(b"$2") == 2 and b"%%" not in plan.dollar
    assert readplan._dollar("SELECT 7 % 2") is None and readplan._dollar("SELECT 1") == (b"SELECT 1", ())
