"""Migrations are safe on a live database: an index on a table that already holds rows is built without
blocking writes (volunteer_app/migrations/ops.py: CREATE INDEX CONCURRENTLY on PostgreSQL).

Two parts: a scan of the migration files that keeps the convention for every future migration (plain
create_index only on a table the same migration creates), and, on PostgreSQL, the migrations from
0007_activities to head run by `flask db upgrade` in a subprocess against a database filled with a
city's volume of orders and time-book transfers while threads keep writing to those tables: no write
waits a second, the writes go on during the upgrade, and every index ends valid."""

from __future__ import annotations

import ast
import contextlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import _postgres_database, make_app

ROOT = Path(__file__).resolve().parents[2]
VERSIONS = ROOT / "volunteer_app" / "migrations" / "versions"


# ---- the convention, for every migration file ----


def _literal(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return f"<name {node.id}>"  # a loop variable: it counts when create_table got the same name
    return None


def _arg(call: ast.Call, position: int, keyword: str) -> ast.AST | None:
    if len(call.args) > position:
        return call.args[position]
    return next((k.value for k in call.keywords if k.arg == keyword), None)


def _is_call(node: ast.AST, owner: str, method: str) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == method
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == owner
    )


def blocking_index_calls(source: str) -> list[str]:
    """The plain create_index calls of a migration's source on a table the migration does not create
    (each as "line N: table"): on PostgreSQL they block writes to that table while the index builds."""
    tree = ast.parse(source)
    created: set[str] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "create_table"
        ):
            name = _literal(_arg(node, 0, "table_name"))
            if name:
                created.add(name)
    found = []

    def check(call: ast.Call, table: str | None) -> None:
        if table is None or table not in created:
            found.append((call.lineno, table or "a table named by an expression"))

    for node in ast.walk(tree):
        if _is_call(node, "op", "create_index"):
            check(node, _literal(_arg(node, 1, "table_name")))
        # with op.batch_alter_table("t") as batch: batch.create_index(...) is on t
        if isinstance(node, ast.With):
            for item in node.items:
                if _is_call(item.context_expr, "op", "batch_alter_table") and isinstance(
                    item.optional_vars, ast.Name
                ):
                    table = _literal(_arg(item.context_expr, 0, "table_name"))
                    for inner in (n for statement in node.body for n in ast.walk(statement)):
                        if _is_call(inner, item.optional_vars.id, "create_index"):
                            check(inner, table)
    return [f"line {line}: {table}" for line, table in sorted(found)]


def test_no_migration_builds_a_blocking_index_on_an_existing_table():
    offenders = {}
    for path in sorted(VERSIONS.glob("*.py")):
        calls = blocking_index_calls(path.read_text(encoding="utf-8"))
        if calls:
            offenders[path.name] = calls
    assert offenders == {}, (
        "a migration adds an index with op.create_index to a table an earlier migration created; on "
        "PostgreSQL that blocks every write to the table while it builds. Use "
        "volunteer_app.migrations.ops.create_index (CREATE INDEX CONCURRENTLY; README 'The database in "
        "production')"
    )


def test_the_scan_finds_a_blocking_index_and_lets_the_online_one_and_a_new_tables_pass():
    source = """
from alembic import op
from volunteer_app.migrations import ops

def upgrade():
    op.create_table("fresh", sa.Column("id", sa.Integer()))
    op.create_index("ix_fresh_id", "fresh", ["id"])
    for table in ("a_days", "a_months"):
        op.create_table(table, sa.Column("id", sa.Integer()))
        op.create_index(op.f(f"ix_{table}_id"), table, ["id"])
    op.create_index("ix_orders_x", "orders", ["x"])
    op.create_index("ix_orders_y", table_name="orders", columns=["y"])
    with op.batch_alter_table("users") as batch:
        batch.create_index("ix_users_z", ["z"])
    with op.batch_alter_table("fresh") as batch:
        batch.create_index("ix_fresh_z", ["z"])
    ops.create_index("ix_orders_w", "orders", ["w"])
"""
    assert blocking_index_calls(source) == ["line 11: orders", "line 12: orders", "line 14: users"]


# ---- on PostgreSQL: the upgrade under a write load ----

START = "0007_activities"  # before every migration that adds an index to an existing table (0008 on)
ORDERS = 600_000
TRANSFERS = 300_000
USERS = 20_000
SITES = 40
WRITE_LIMIT = 1.0  # seconds a single write may wait

# Every index the migrations after START add to a table that holds rows by then.
ONLINE_INDEXES = {
    "ix_activities_audit_due": "activities",
    **{
        f"ix_orders_escalation_{c}": "orders"
        for c in ("dispatch_due_at", "fill_due_at", "checkin_due_at", "checkout_due_at", "audit_due_at")
    },
    "ix_orders_site_id_created_at": "orders",
    "ix_orders_site_id_window_start": "orders",
    "ix_time_transfers_site_id_created_at": "time_transfers",
    "ix_time_accounts_site_id_created_at": "time_accounts",
    "ix_volunteer_profiles_site_id_approved_at": "volunteer_profiles",
    "ix_work_items_result_expires_at": "work_items",
    "ix_redemptions_site_id_status_id": "redemptions",
    "ix_notification_outbox_user_id_created_at": "notification_outbox",
    "ix_supervision_events_action_at": "supervision_events",
    "ix_appeals_site_created_at": "appeals",
}


def _orders(first: int, last: int) -> str:
    """Orders `first`..`last`, spread over two years and every state, as a city's table after some years."""
    return (
        "INSERT INTO orders (site_id, dispatch_site_id, resident_id, category_id, title, address, lat, lng,"
        " window_start, window_end, volunteers_needed, target_groups, status, mode, capacity, taken,"
        " dispatch_due_at, fill_due_at, checkin_due_at, checkout_due_at, audit_due_at, created_at,"
        " updated_at)"
        f" SELECT 1 + g % {SITES}, 1 + g % {SITES}, 1 + g % {USERS}, 1, 'order ' || g, 'address ' || g,"
        " 31 + (g % 1000) / 1000.0, 121 + (g % 997) / 1000.0, t, t + interval '2 hours', 1, '[]',"
        " (ARRAY['submitted','dispatched','staffed','in_service','completed','closed','cancelled','expired'])"
        "[1 + g % 8], 'grab', 1, 0, t, t, t, t, t, t - interval '3 days', t - interval '3 days'"
        " FROM (SELECT g, now() - (g % 730) * interval '1 day' - (g % 1440) * interval '1 minute' AS t"
        f" FROM generate_series({first}, {last}) g) s"
    )


FILL = [
    f"INSERT INTO sites (id, kind, name, path, settings, created_at) SELECT g, 'station', 'site ' || g,"
    f" '/' || g || '/', '{{}}', now() FROM generate_series(1, {SITES}) g",
    "INSERT INTO categories (id, code, name_zh, name_en, sort, active)"
    " VALUES (1, 'help', '帮扶', 'help', 1, true)",
    f"INSERT INTO users (id, phone, name, home_site_id, is_active, created_at, updated_at) SELECT g,"
    f" '139' || lpad(g::text, 8, '0'), 'user ' || g, 1 + g % {SITES}, true, now(), now()"
    f" FROM generate_series(1, {USERS}) g",
    f"INSERT INTO volunteer_profiles (user_id, site_id, volunteer_no, skills, category_ids, approved_at)"
    f" SELECT g, 1 + g % {SITES}, 'V' || g, '[]', '[]', now() - g * interval '1 hour'"
    f" FROM generate_series(1, {USERS}) g",
    f"INSERT INTO time_accounts (id, key, kind, user_id, site_id, book_no, balance, lifetime_minutes,"
    f" created_at) SELECT g, 'book:' || g, 'book', g, 1 + g % {SITES}, 'B' || g, 0, 0, now()"
    f" FROM generate_series(1, {USERS}) g",
    "INSERT INTO time_accounts (id, key, kind, balance, lifetime_minutes, created_at)"
    f" VALUES ({USERS + 1}, 'issuance', 'issuance', 0, 0, now())",
    _orders(1, ORDERS),
    f"INSERT INTO time_transfers (kind, from_account_id, to_account_id, minutes, site_id, created_at,"
    f" prev_hash, hash) SELECT 'service', {USERS + 1}, 1 + g % {USERS}, 60, 1 + g % {SITES},"
    f" now() - (g % 730) * interval '1 day', md5((g - 1)::text) || md5('p'), md5(g::text) || md5('h')"
    f" FROM generate_series(1, {TRANSFERS}) g",
]

# One statement each, each in its own transaction; :n is a fresh number per write.
WRITES = {
    "insert order": "INSERT INTO orders (site_id, dispatch_site_id, resident_id, category_id, title, address,"
    " lat, lng, window_start, window_end, volunteers_needed, target_groups, status, mode, capacity, taken,"
    " dispatch_due_at, checkin_due_at, checkout_due_at, created_at, updated_at) VALUES (1, 1, 1, 1, 'w',"
    " 'a', 31.2, 121.4, now(), now(), 1, '[]', 'submitted', 'grab', 1, 0, now(), now(), now(), now(), now())",
    "update order": f"UPDATE orders SET reminded_at = now(), updated_at = now() WHERE id = :n % {ORDERS} + 1",
    "insert transfer": "INSERT INTO time_transfers (kind, from_account_id, to_account_id, minutes, site_id,"
    f" created_at, prev_hash, hash) VALUES ('service', {USERS + 1}, :n % {USERS} + 1, 30, 1, now(),"
    " md5(CAST(:n AS text)), md5(CAST(:n AS text) || 'w') || md5('w'))",
    "update account": "UPDATE time_accounts SET lifetime_minutes = lifetime_minutes + 1"
    f" WHERE id = :n % {USERS} + 1",
}

requires_postgresql = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL", "").startswith("postgres"),
    reason="CREATE INDEX CONCURRENTLY and its locks are PostgreSQL's (SQLite has no concurrent build)",
)


class Writer(threading.Thread):
    """Repeats one single-row write, each timed from send to commit, until told to stop."""

    def __init__(self, engine: sa.Engine, name: str, statement: str, stop: threading.Event, offset: int):
        super().__init__(name=name, daemon=True)
        self.engine, self.statement, self.stop = engine, sa.text(statement), stop
        self.offset = offset
        self.timings: list[tuple[float, float]] = []  # (started, seconds)
        self.error: BaseException | None = None

    def run(self) -> None:
        n = self.offset
        try:
            with self.engine.connect() as conn:
                while not self.stop.is_set():
                    n += 1
                    started = time.monotonic()
                    with conn.begin():
                        conn.execute(self.statement, {"n": n})
                    self.timings.append((started, time.monotonic() - started))
                    time.sleep(0.01)
        except BaseException as error:  # reported by the test
            self.error = error


@contextlib.contextmanager
def _database():
    with contextlib.contextmanager(_postgres_database)(os.environ["TEST_DATABASE_URL"]) as url:
        yield url


def _blocking_build_seconds(engine: sa.Engine) -> float:
    """How long one of the migrations' indexes on orders (0014's (site_id, created_at)) takes to build
    with a plain CREATE INDEX, rolled back: what a write to orders would wait for if that one index were
    built so (before, with the whole upgrade in one transaction, writes waited for all of them)."""
    with engine.connect() as conn:
        started = time.monotonic()
        with conn.begin() as transaction:
            conn.exec_driver_sql("CREATE INDEX ix_probe ON orders (site_id, created_at)")
            transaction.rollback()
        return time.monotonic() - started


def _fill(engine: sa.Engine, statements: list[str] = FILL) -> None:
    """`statements` (FILL) in one transaction, quickly: foreign-key triggers off (the rows are
    consistent by construction) and the big tables' secondary indexes built once afterwards, not row by
    row."""
    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        secondary = conn.execute(
            sa.text(
                "SELECT indexname, indexdef FROM pg_indexes i WHERE tablename IN ('orders', 'time_transfers')"
                " AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conname = i.indexname)"
            )
        ).all()
        for name, _ in secondary:
            conn.exec_driver_sql(f"DROP INDEX {name}")
        for statement in statements:
            conn.execute(sa.text(statement))
        for _, definition in secondary:
            conn.exec_driver_sql(definition)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE orders, time_transfers")


@requires_postgresql
def test_the_upgrade_does_not_hold_up_writes_on_a_city_sized_database():
    with _database() as url:
        app = make_app(url)
        from flask_migrate import upgrade

        with app.app_context():
            upgrade(revision=START)
            from volunteer_app.extensions import db

            db.engine.dispose()
        engine = sa.create_engine(sa.make_url(url), pool_size=len(WRITES) + 2)
        try:
            filled = time.monotonic()
            _fill(engine)
            orders = ORDERS
            blocking = _blocking_build_seconds(engine)
            while blocking < 0.4 and orders < 4 * ORDERS:  # a fast machine: more orders, until it tells
                _fill(engine, [_orders(orders + 1, orders + ORDERS)])
                orders += ORDERS
                blocking = _blocking_build_seconds(engine)
            filled = time.monotonic() - filled
            # The bar is a second; the test holds writes to half of what one blocking index
            # build takes here, so that a single plain CREATE INDEX on orders fails it (a build of one
            # index on 600k orders took 0.5 to 0.9 s on the first machines, 0.28 to 0.39 s on a later
            # one, which then gets more orders; writes that nothing blocks take under 0.15 s).
            limit = min(WRITE_LIMIT, blocking / 2)
            print(
                f"\nfilled {orders} orders and {TRANSFERS} transfers in {filled:.1f} s;"
                f" one blocking index build on orders takes {blocking:.2f} s; writes may wait {limit:.2f} s"
            )
            # Else the load is too small to tell a blocking build from a busy machine's noise.
            assert limit >= 0.2, f"a blocking index build takes only {blocking:.2f} s: fill more rows"

            stop = threading.Event()
            writers = [
                Writer(engine, name, statement, stop, offset=i * 10_000_000)
                for i, (name, statement) in enumerate(WRITES.items())
            ]
            for writer in writers:
                writer.start()
            time.sleep(0.5)
            env = {**os.environ, "DATABASE_URL": url, "FLASK_APP": "volunteer_app", "PYTHONPATH": str(ROOT)}
            env.pop("VOLUNTEER_CONFIG", None)
            began = time.monotonic()
            done = subprocess.run(
                [sys.executable, "-m", "flask", "db", "upgrade"],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=300,
            )
            ended = time.monotonic()
            time.sleep(0.3)
            stop.set()
            for writer in writers:
                writer.join(timeout=30)
            assert done.returncode == 0, done.stderr[-3000:]
            upgrade_seconds = ended - began

            for writer in writers:
                assert writer.error is None, f"{writer.name}: {writer.error!r}"
            slowest = {w.name: max(s for _, s in w.timings) for w in writers}
            during = {w.name: sum(1 for t, _ in w.timings if began <= t <= ended) for w in writers}
            print(
                f"upgrade {START} -> head took {upgrade_seconds:.1f} s; writes during it {during};"
                f" slowest write {max(slowest.values()):.3f} s"
            )
            assert all(seconds < limit for seconds in slowest.values()), (slowest, limit)
            # The writes went on through the upgrade: at least one every ~0.2 s per writer.
            assert all(count >= upgrade_seconds * 5 for count in during.values()), (during, upgrade_seconds)

            with engine.connect() as conn:
                rows = conn.execute(
                    sa.text(
                        "SELECT c.relname, t.relname, i.indisvalid, i.indisready FROM pg_index i"
                        " JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid"
                        " WHERE c.relname = ANY(:names)"
                    ),
                    {"names": list(ONLINE_INDEXES)},
                ).all()
                invalid = conn.execute(
                    sa.text("SELECT count(*) FROM pg_index WHERE NOT indisvalid OR NOT indisready")
                ).scalar()
                version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
            assert {name: table for name, table, _, _ in rows} == ONLINE_INDEXES
            assert all(valid and ready for _, _, valid, ready in rows), rows
            assert invalid == 0
            assert version == "0025_stats" or version > "0025"
        finally:
            engine.dispose()


@requires_postgresql
def test_an_interrupted_concurrent_build_is_cleaned_up_and_a_valid_index_is_kept():
    """A leftover INVALID index (what a failed CREATE INDEX CONCURRENTLY leaves) is dropped and built
    again by the migration; an index that exists and is valid already (made by hand) is kept."""
    with _database() as url:
        app = make_app(url)
        from flask_migrate import upgrade

        from volunteer_app.extensions import db

        with app.app_context():
            upgrade(revision="0024_handover")
            autocommit = db.engine.execution_options(isolation_level="AUTOCOMMIT")
            with autocommit.connect() as conn:
                conn.exec_driver_sql(
                    "INSERT INTO supervision_events (subject, subject_id, action, to_status, at)"
                    " SELECT 'item', 1, 'x', 'open', now() FROM generate_series(1, 2)"
                )
                # Two equal rows: a unique concurrent build under 0025's name fails half way, as an
                # interrupted one does, and leaves its index behind, invalid.
                with pytest.raises(sa.exc.IntegrityError):
                    conn.exec_driver_sql(
                        "CREATE UNIQUE INDEX CONCURRENTLY ix_supervision_events_action_at"
                        " ON supervision_events (subject, action)"
                    )
                conn.exec_driver_sql(
                    "CREATE INDEX ix_appeals_site_created_at ON appeals (site_id, created_at)"
                )
                before = dict(conn.execute(sa.text(INDEX_STATE)).all())
            upgrade()
            with db.engine.connect() as conn:
                after = dict(conn.execute(sa.text(INDEX_STATE)).all())
            db.engine.dispose()
    assert before == {
        "ix_supervision_events_action_at on supervision_events (subject, action) valid=False unique=True": 1,
        "ix_appeals_site_created_at on appeals (site_id, created_at) valid=True unique=False": 1,
    }
    assert after == {
        "ix_supervision_events_action_at on supervision_events (subject, action, at)"
        " valid=True unique=False": 1,
        "ix_appeals_site_created_at on appeals (site_id, created_at) valid=True unique=False": 1,
    }


INDEX_STATE = """
SELECT c.relname || ' on ' || t.relname || ' ('
       || (SELECT string_agg(a.attname, ', ' ORDER BY k.n) FROM unnest(i.indkey) WITH ORDINALITY k(attnum, n)
           JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum)
       || ') valid=' || CASE WHEN i.indisvalid THEN 'True' ELSE 'False' END
       || ' unique=' || CASE WHEN i.indisunique THEN 'True' ELSE 'False' END, 1
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
WHERE c.relname IN ('ix_supervision_events_action_at', 'ix_appeals_site_created_at')
"""
