"""Planned reads: a select that a process runs again and again (the hot paths' statements, built once
per process and bound at each call) sent by its SQL string straight to the driver's cursor, past
SQLAlchemy's per-execution machinery.

Each execution through `Connection.execute` costs about as much Python again as the round trip
itself, even for a statement compiled long ago: a cache key, an execution context, the driver's column
description (psycopg builds one object per column; the principal's query has 29), the result object.
A plan is made from a statement's second execution through SQLAlchemy, of the same statement object
on the same engine's dialect, and keeps what that execution worked out: the statement compiled for
this very object (so bound literals are its own), its bind processors, and the result's metadata (the
row keys and result processors the rows are built with, SQLAlchemy's own `Row`s).

A plan checks itself when it is made: the SQL it would send and the parameters it would bind must be
exactly those SQLAlchemy sent for the same call, or the statement is never planned and keeps going
through SQLAlchemy. Statements SQLAlchemy rewrites per call (expanding IN lists, literal-execute
parameters, schema translation), anything but a select, and statements with execution options are
never planned. Where something listens (`before_cursor_execute`, which counts statements in the tests;
Sentry's spans) or echo is on, a plan goes through SQLAlchemy's own `Connection._cursor_execute`, with
an execution context of the dialect's own class for the listeners; where nothing does, that comes down
to the driver's `execute`, which a plan then calls itself (the quiet path), with its SQL in
PostgreSQL's own form (`$1`, …: `_dollar`, written once; psycopg's `RawCursor` sends it unparsed).
Either way an error is wrapped by SQLAlchemy's `_handle_dbapi_exception` (an outage stays a
DBAPIError, a dead connection is invalidated).

Plans are held weakly by statement: a statement built for one request and dropped takes its mark
with it; only a statement run twice is ever compiled here.

One write goes this way too: a new order's statement (orders.states.create) is a SELECT over
data-modifying CTEs (the INSERTs with their RETURNING), so it is planned as a select is: SQLAlchemy's
execution context and the result it builds from the driver's description of the 40 columns returned
were 0.25 ms of a new order's CPU (in-process, interleaved: 1.69 → 1.44 ms a request).
"""

from __future__ import annotations

import re
import weakref

from psycopg import RawCursor
from sqlalchemy import Connection
from sqlalchemy.engine.row import Row

_SEEN = object()  # executed once through SQLAlchemy: planned if it comes again
_NEVER = object()  # refused: always through SQLAlchemy
_PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class Rows(list):
    """A read's rows (SQLAlchemy `Row`s) with the Result methods its callers use."""

    def all(self) -> list:
        return self

    def first(self):
        return self[0] if self else None

    def scalar(self):
        return self[0][0] if self else None


class Plan:
    __slots__ = (
        "bind",
        "compiled",
        "dialect",
        "dollar",
        "key_to_index",
        "metadata",
        "order",
        "row_processors",
        "sql",
    )

    def __init__(self, dialect, compiled, metadata) -> None:
        self.dialect = dialect
        self.sql = compiled.string
        self.compiled = compiled
        self.metadata = metadata
        self.row_processors = metadata._effective_processors
        self.key_to_index = metadata._key_to_index
        self.bind = _binder(compiled)
        converted = _dollar(self.sql) if dialect.driver == "psycopg" else None
        self.dollar, self.order = converted or (None, None)

    def run(self, connection: Connection, params: dict) -> Rows:
        try:
            values, parameters = self.bind(params)
        except Exception as error:  # (a required parameter left out, a bind processor's refusal)
            connection._handle_dbapi_exception(error, self.sql, params, None, None)
        dbapi_connection = connection.connection
        quiet = QUIET_PATH and _quiet(connection)
        if quiet and self.dollar is not None:  # PostgreSQL's own form, which psycopg does not parse
            cursor = RawCursor(dbapi_connection.driver_connection)
            sql, args = self.dollar, [parameters[name] for name in self.order]
        else:
            cursor = dbapi_connection.cursor()
            sql, args = self.sql, parameters
        try:
            if quiet:
                # No listener, no echo: what _cursor_execute would do comes down to the driver's
                # execute; an error is wrapped (and its connection invalidated) as SQLAlchemy does.
                try:
                    cursor.execute(sql, args)
                    data = cursor.fetchall()
                except BaseException as error:
                    context = self._context(connection, dbapi_connection, cursor, values, parameters)
                    connection._handle_dbapi_exception(error, self.sql, parameters, cursor, context)
            else:
                context = self._context(connection, dbapi_connection, cursor, values, parameters)
                # events, echo, and a driver error wrapped (and its connection invalidated) as
                # SQLAlchemy does
                connection._cursor_execute(cursor, self.sql, parameters, context)
                try:
                    data = cursor.fetchall()
                except Exception as error:
                    connection._handle_dbapi_exception(error, self.sql, parameters, cursor, context)
        finally:
            connection._safe_close_cursor(cursor)
        metadata, processors, key_to_index = self.metadata, self.row_processors, self.key_to_index
        return Rows([Row(metadata, processors, key_to_index, values) for values in data])

    def _context(self, connection, dbapi_connection, cursor, values, parameters):
        """The execution context the events see, of the dialect's own class, made the way SQLAlchemy
        makes one (DefaultExecutionContext._init_compiled) but holding only what this execution is:
        listeners read it and keep their own state on it (Sentry's SQLAlchemy integration does)."""
        cls = self.dialect.execution_ctx_cls
        context = cls.__new__(cls)
        context.root_connection = connection
        context._dbapi_connection = dbapi_connection
        context.dialect = self.dialect
        context.execution_options = connection._execution_options
        context.compiled = self.compiled
        context.cache_hit = self.dialect.CACHE_HIT
        context.extracted_parameters = None
        context.compiled_parameters = [values]
        context.parameters = [parameters]
        context.unicode_statement = context.statement = self.sql
        context.cursor = cursor
        return context


# False: every planned read goes through Connection._cursor_execute with an execution context, as
# with listeners (bench.ablate's `quiet` mode: what the quiet path saves).
QUIET_PATH = True


def _quiet(connection: Connection) -> bool:
    """Whether nothing would see a statement go by on `connection`: no before/after cursor-execute
    listener (the tests' statement counters, Sentry's spans), no dialect do_execute hook, no echo."""
    dispatch = connection.dispatch
    return not (
        connection._echo
        or dispatch.before_cursor_execute
        or dispatch.after_cursor_execute
        or (connection.dialect._has_events and connection.dialect.dispatch.do_execute)
    )


_MISSING = object()
# SQLAlchemy's placeholders for psycopg (pyformat): `%(name)s`, and `%%` for a literal `%`.
_PLACEHOLDER = re.compile(r"%\(([^)]+)\)s|%%|%")


def _dollar(sql: str) -> tuple[bytes, tuple[str, ...]] | None:
    """`sql` with its placeholders written as PostgreSQL's own (`$1`, …; one number a name, in the
    order the names first appear, `%%` as `%`), and the names in that order, as psycopg converts a
    query (its conversion is cached only for statements up to 4,096 bytes: a new order's, checking its
    caller, is longer; psycopg's RawCursor sends this form as it is). None for anything else."""
    order: dict[str, int] = {}

    def number(match) -> str:
        name = match.group(1)
        if name is not None:
            return f"${order.setdefault(name, len(order) + 1)}"
        if match.group(0) == "%%":
            return "%"
        raise ValueError("a lone %")

    try:
        converted = _PLACEHOLDER.sub(number, sql)
    except ValueError:
        return None
    return converted.encode(), tuple(order)


def _binder(compiled):
    """A function of a call's parameters to (values, parameters): what `compiled.construct_params`
    gives (each bound parameter's value by its key or its name, else its own value, or the error a
    required one gives) and what SQLAlchemy's execution context then sends (each value through its
    bind processor, under its escaped name: DefaultExecutionContext._init_compiled). Written out per
    statement: the general loops looked up each parameter's attributes, escaping and processor again
    at every call. `_plan_of` checks it against what SQLAlchemy sent before the plan is ever used."""
    processors, escaped = compiled._bind_processors, compiled.escaped_bind_names or {}
    # A required parameter left out: construct_params raises SQLAlchemy's own error for it.
    env: dict = {"MISSING": _MISSING, "construct": compiled.construct_params}
    lines, values, sent = ["def bind(params):"], [], []
    for i, (bindparam, name) in enumerate(compiled.bind_names.items()):
        env[f"k{i}"], env[f"n{i}"] = bindparam.key, name
        lines.append(f"    v{i} = params.get(k{i}, MISSING)")
        if name != bindparam.key:
            lines.append(f"    if v{i} is MISSING: v{i} = params.get(n{i}, MISSING)")
        if bindparam.required:
            lines.append(f"    if v{i} is MISSING: construct(params)")
        elif bindparam.callable:
            env[f"b{i}"] = bindparam
            lines.append(f"    if v{i} is MISSING: v{i} = b{i}.effective_value")
        else:
            env[f"d{i}"] = bindparam.value
            lines.append(f"    if v{i} is MISSING: v{i} = d{i}")
        values.append(f"n{i}: v{i}")
        env[f"e{i}"] = escaped.get(name, name)
        if name in processors:
            env[f"p{i}"] = processors[name]
            sent.append(f"e{i}: p{i}(v{i})")
        else:
            sent.append(f"e{i}: v{i}")
    lines.append(f"    return {{{', '.join(values)}}}, {{{', '.join(sent)}}}")
    exec("\n".join(lines), env)  # (its names and values are the compiled statement's own)
    return env["bind"]


def read(connection: Connection, stmt, params: dict) -> Rows:
    """`stmt`'s rows for `params` on `connection`: planned when it can be (see the module's doc)."""
    plan = _PLANS.get(stmt)
    if type(plan) is Plan and plan.dialect is connection.dialect:
        return plan.run(connection, params)
    result = connection.execute(stmt, params)
    if plan is not _NEVER:
        if plan is None:
            _PLANS[stmt] = _SEEN
        else:  # the second time (or another engine's dialect): plan from this execution
            _PLANS[stmt] = _plan_of(connection, stmt, params, result)
    return Rows(result.all())


def _plan_of(connection: Connection, stmt, params: dict, result):
    """A Plan made from `result` (this call's execution through SQLAlchemy), or _NEVER."""
    context = result.context
    if (
        not getattr(stmt, "is_select", False)
        or stmt._execution_options
        or context.executemany
        or result._metadata._tuplefilter is not None
        or context._num_sentinel_cols
    ):
        return _NEVER
    compiled = stmt.compile(dialect=connection.dialect)
    if (
        compiled.positional
        or compiled.literal_execute_params
        or compiled.post_compile_params
        or compiled.schema_translate_map
        or compiled.insert_prefetch
        or compiled.update_prefetch
    ):
        return _NEVER
    # The plan is held by its statement's weak key: it must not hold the statement itself, or the
    # entry would never go (construct_params reads neither of these).
    compiled.statement = compiled.compile_state = None
    plan = Plan(connection.dialect, compiled, result._metadata)
    # It must send what SQLAlchemy sent: the same SQL, the same bound values.
    sent = context.parameters
    if plan.sql != context.statement or len(sent) != 1:
        return _NEVER
    values, parameters = plan.bind(params)  # the values construct_params gives, the parameters sent
    if not _same(values, compiled.construct_params(params, escape_names=False)) or not _same(
        parameters, sent[0]
    ):
        return _NEVER
    return plan


def _same(mine: dict, sent: dict) -> bool:
    """The same bound values: equal, or of one type and one repr (the driver's wrappers, such as
    psycopg's Json, do not compare)."""
    return mine.keys() == sent.keys() and all(
        value == sent[key] or (type(value) is type(sent[key]) and repr(value) == repr(sent[key]))
        for key, value in mine.items()
    )
