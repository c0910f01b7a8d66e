"""The feed's statement has a generic plan worth reusing (feed/entry.py `not_mine`, db.py `constant`):
PostgreSQL plans a prepared statement once and reuses the plan after five runs unless the plan it would
reuse, made without the bound values, looks dearer than planning afresh. Planning the feed cost about
as much as running it (bench/README.md, eighth pass)."""

from __future__ import annotations

import json
import re

import pytest
from psycopg import sql
from sqlalchemy import event

from tests.orders.test_feed import HERE, pool
from volunteer_app.extensions import db
from volunteer_app.orders.models import Order


def _nodes(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def _feed_statement(app, client, world, loop) -> tuple[str, dict]:
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("query plans are PostgreSQL's")
        engine = db.engine
    pool(world, loop)
    seen = []

    def capture(_conn, _cursor, statement, parameters, *_args):
        if "FROM orders" in statement and "FROM activities" in statement:
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        answer = client.get(f"/api/v1/tasks/available?{HERE}", headers=world.vol_s1.headers)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert answer.status_code == 200 and answer.json["items"], answer.json
    return seen[-1]


def _generic_plan(cursor, statement: str, parameters: dict) -> dict:
    """The plan PostgreSQL makes of `statement` without its values (PREPARE, then EXPLAIN EXECUTE
    with plan_cache_mode = force_generic_plan: PostgreSQL 15 has no EXPLAIN (GENERIC_PLAN))."""
    names: list[str] = []

    def number(match: re.Match) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    cursor.execute("PREPARE feed_generic AS " + re.sub(r"%\((\w+)\)s", number, statement))
    values = sql.SQL(", ").join(sql.Literal(parameters[name]) for name in names)
    try:
        cursor.execute("SET plan_cache_mode = force_generic_plan")
        cursor.execute(sql.SQL("EXPLAIN (FORMAT JSON) EXECUTE feed_generic ({})").format(values))
        return cursor.fetchone()[0][0]["Plan"]
    finally:
        cursor.execute("RESET plan_cache_mode")
        cursor.execute("DEALLOCATE feed_generic")


def test_the_feeds_generic_plan_uses_the_open_pool_index_and_hashes_the_callers_own(app, client, world, loop):
    statement, parameters = _feed_statement(app, client, world, loop)
    with app.app_context():
        raw = db.engine.raw_connection()
        try:
            cursor = raw.driver_connection.cursor()
            # A test's few rows are cheapest read whole: sequential scans priced out, as at city scale.
            cursor.execute("SET enable_seqscan = off")
            plan = _generic_plan(cursor, statement, parameters)
            cursor.execute("RESET enable_seqscan")
            raw.rollback()
        finally:
            raw.close()
    nodes = list(_nodes(plan))
    # The status and mode are in the SQL, so the partial index of open pools proves without values.
    assert any(n.get("Index Name") == "ix_orders_open_pool_geo" for n in nodes), plan
    # The caller's assignments are read once into a hash, not joined (or probed) once per candidate.
    assert not any(n.get("Join Type") == "Anti" for n in nodes), plan
    assert "hashed SubPlan" in json.dumps(plan), plan


def test_postgresql_keeps_the_feeds_generic_plan(app, client, world, loop):
    """Run as the app runs it (psycopg prepares a statement on its sixth run), among 10,000 open pools
    with fresh statistics: after its first five custom plans PostgreSQL settles on the generic one. (With
    the status bound and a NOT EXISTS, it kept planning afresh on every run.)"""
    statement, parameters = _feed_statement(app, client, world, loop)
    with app.app_context():
        columns = ", ".join(c.name for c in Order.__table__.c if c.name not in ("id", "lat", "lng"))
        raw = db.engine.raw_connection()
        try:
            cursor = raw.driver_connection.cursor()
            cursor.execute(
                # A city's pools: 10,000 over a degree square, about 100 of them in the feed's circle.
                f"INSERT INTO orders (lat, lng, {columns}) "
                f"SELECT o.lat - 0.5 + (g % 100) * 0.01, o.lng - 0.5 + (g / 100) * 0.01, {columns} "
                "FROM orders o, generate_series(0, 9999) g "
                "WHERE o.status = 'dispatched' AND o.mode = 'grab' AND o.id = (SELECT max(id) FROM orders)"
            )
            assert cursor.rowcount == 10_000
            cursor.execute("ANALYZE orders")
            for _ in range(12):
                cursor.execute(statement, parameters, prepare=True)
                assert cursor.fetchall()
            cursor.execute(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                "WHERE statement LIKE '%FROM activities%'"
            )
            rows = cursor.fetchall()
            raw.rollback()
        finally:
            raw.close()
    assert len(rows) == 1, rows
    # Five custom plans to learn from, then the generic one for every later run.
    assert rows[0] == (7, 5), rows
