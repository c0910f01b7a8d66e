"""`extensions.reads_only`: the hot reads run without BEGIN/ROLLBACK on PostgreSQL (autocommit), and the
connection goes back to the pool out of autocommit, so the next request's writes are transactional."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from volunteer_app.extensions import db

API = "/api/v1"


@pytest.fixture
def autocommit_seen(app):
    """For each statement sent: whether its connection was in autocommit."""
    with app.app_context():
        engine = db.engine
        if engine.dialect.name != "postgresql":
            pytest.skip("SQLite keeps its deferred BEGIN")
    seen: list[bool] = []

    def on_execute(conn, *_args):
        seen.append(conn.connection.dbapi_connection.autocommit)

    event.listen(engine, "before_cursor_execute", on_execute)
    yield seen
    event.remove(engine, "before_cursor_execute", on_execute)


@pytest.mark.parametrize("path", ["/me", "/me/timebook", "/me/timebook/transfers"])
def test_a_hot_read_sends_no_transaction(client, world, autocommit_seen, path):
    assert client.get(API + path, headers=world.vol_s1.headers).status_code == 200
    assert autocommit_seen and all(autocommit_seen)  # the authentication's query included


def test_a_write_after_a_hot_read_is_a_transaction_again(client, world, autocommit_seen):
    assert client.get(f"{API}/me", headers=world.vol_s1.headers).status_code == 200
    autocommit_seen.clear()
    r = client.patch(f"{API}/me", json={"name": "改个名"}, headers=world.vol_s1.headers)
    assert r.status_code == 200
    assert autocommit_seen and not any(autocommit_seen)


def test_an_unmarked_read_keeps_its_transaction(client, world, autocommit_seen):
    assert client.get(f"{API}/rewards", headers=world.vol_s1.headers).status_code == 200
    assert autocommit_seen and not any(autocommit_seen)
