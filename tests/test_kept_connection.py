"""`extensions.keep_read_connection` (a gunicorn sync worker, config/gunicorn.py post_fork): the views'
autocommit connection is kept from one request to the next instead of going back to the pool; it is
pinged after an idle while, replaced when it died, and never holds a transaction. PostgreSQL only (on
SQLite the views have no connection of their own)."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from tests.orders.conftest import order_body
from tests.test_db_outage import _age_pool, _assert_unavailable, _kill_pooled_backends
from volunteer_app import extensions
from volunteer_app.extensions import db, keep_read_connection, release_kept_connection
from volunteer_app.orders.models import Order

API = "/api/v1"


@pytest.fixture
def keeping(app):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite: no connection of the views' own")
        engine = db.engine
    keep_read_connection(app)
    sent: list[tuple[int, bool, str]] = []  # (backend pid, autocommit, statement) of each statement

    def on_execute(conn, _cursor, statement, *_args):
        dbapi = conn.connection.dbapi_connection
        sent.append((dbapi.info.backend_pid, dbapi.autocommit, " ".join(statement.split())[:30]))

    event.listen(engine, "before_cursor_execute", on_execute)
    yield sent
    event.remove(engine, "before_cursor_execute", on_execute)
    app.extensions.pop(extensions._KEEP, None)
    release_kept_connection()
    with app.app_context():
        assert db.engine.pool.checkedout() == 0


def _checked_out(app) -> int:
    with app.app_context():
        return db.engine.pool.checkedout()


def test_the_kept_connection_serves_one_read_after_another(app, client, world, keeping):
    for path in ("/me", "/me/timebook", "/me/timebook/transfers", "/me"):
        assert client.get(API + path, headers=world.vol_s1.headers).status_code == 200
    keeping.clear()
    for path in ("/me", "/me/timebook/transfers"):
        assert client.get(API + path, headers=world.vol_s1.headers).status_code == 200
    assert len({pid for pid, _, _ in keeping}) == 1 and all(autocommit for _, autocommit, _ in keeping)
    # /me's one statement (its book rides on the caller's), the statement's two: no ping, no BEGIN
    assert [statement.split()[0] for _, _, statement in keeping] == ["SELECT"] * 3
    assert _checked_out(app) == 1  # kept, not in the pool


def test_a_new_order_commits_on_the_kept_connection(app, client, world, keeping):
    warm = client.post(f"{API}/orders", json=order_body(app), headers=world.resident.headers)
    assert warm.status_code == 201  # (caches filled)
    assert client.get(f"{API}/me", headers=world.resident.headers).status_code == 200
    kept = {pid for pid, _, _ in keeping[-1:]}
    keeping.clear()
    made = client.post(f"{API}/orders", json=order_body(app), headers=world.resident.headers)
    assert made.status_code == 201
    # the order's one statement (the caller checked by it), on the kept connection, in autocommit (a
    # cache refreshed meanwhile reads on a connection of its own)
    mine = [(pid, autocommit) for pid, autocommit, sql in keeping if sql.startswith(("SELECT users", "WITH"))]
    assert mine == [(kept.pop(), True)], keeping
    with app.app_context():  # committed: another connection sees it
        assert db.session.get(Order, made.json["id"]) is not None
    # … and a write through the session still gets a transaction of its own from the pool.
    keeping.clear()
    assert client.patch(f"{API}/me", json={"name": "改个名"}, headers=world.vol_s1.headers).status_code == 200
    assert keeping and not any(autocommit for _, autocommit, _ in keeping)


def test_a_dead_kept_connection_idle_for_a_while_is_pinged_and_replaced(app, client, world, keeping):
    assert client.get(f"{API}/me", headers=world.vol_s1.headers).status_code == 200
    before = {pid for pid, _, _ in keeping}
    assert _kill_pooled_backends(app) >= 1
    connection, engine, last_used = extensions._kept.connection
    extensions._kept.connection = (connection, engine, last_used - 60)  # idle for a minute
    _age_pool(app, 60)  # (so are the pool's, killed too)
    keeping.clear()
    assert client.get(f"{API}/me", headers=world.vol_s1.headers).status_code == 200  # never sees it
    assert {pid for pid, _, _ in keeping}.isdisjoint(before)


def test_a_kept_connection_killed_right_after_use_costs_one_503(app, client, world, keeping):
    """As the pool's (test_db_outage): killed within db.IDLE_PING_SECONDS of its use, it fails the next
    request with a clean 503 and is dropped; the one after is served on a new connection."""
    assert client.get(f"{API}/me", headers=world.vol_s1.headers).status_code == 200
    assert _kill_pooled_backends(app) >= 1
    _assert_unavailable(client.get(f"{API}/me", headers=world.vol_s1.headers))
    assert client.get(f"{API}/me", headers=world.vol_s1.headers).status_code == 200
    assert _checked_out(app) == 1


def test_a_kept_connection_left_in_a_transaction_is_not_kept(app, client, world, keeping):
    assert client.get(f"{API}/me", headers=world.vol_s1.headers).status_code == 200
    connection = extensions._kept.connection[0]
    connection.connection.dbapi_connection.autocommit = False
    connection.exec_driver_sql("SELECT 1")  # the driver opens a transaction: not a state to keep
    extensions._give_back(connection)
    assert getattr(extensions._kept, "connection", None) is None and connection.closed
    assert client.get(f"{API}/me", headers=world.vol_s1.headers).status_code == 200


def test_a_sync_worker_keeps_it_and_another_worker_does_not(app, monkeypatch):
    from gunicorn.workers.gthread import ThreadWorker
    from gunicorn.workers.sync import SyncWorker

    from volunteer_app.config import gunicorn

    server = type("Server", (), {"app": type("App", (), {"wsgi": staticmethod(lambda: app)})()})()
    with app.app_context():
        for engine in db.engines.values():
            monkeypatch.setattr(engine, "dispose", lambda close=True: None)  # (the tests' pool stays)
    gunicorn.post_fork(server, object.__new__(ThreadWorker))
    assert not app.extensions.get(extensions._KEEP)
    gunicorn.post_fork(server, object.__new__(SyncWorker))
    assert app.extensions.pop(extensions._KEEP) is True
