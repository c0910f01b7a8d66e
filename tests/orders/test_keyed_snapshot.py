"""`idempotency.keyed_snapshot`: a keyed POST whose caller is read as a snapshot reads its caller in the
transaction that claims the key (one connection, one BEGIN), and gives every connection back whatever
refuses it, on the way in or in the service."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from tests.orders.conftest import order_body
from volunteer_app.extensions import db

API = "/api/v1"


@pytest.fixture
def sent(app):
    """(connection id, statement) of each statement sent, and the pool's checkouts."""
    with app.app_context():
        engine = db.engine
    seen: dict[str, list] = {"statements": [], "checkouts": []}

    def on_execute(conn, _cursor, statement, *_args):
        seen["statements"].append((id(conn.connection.dbapi_connection), statement))

    def on_checkout(dbapi_connection, *_args):
        seen["checkouts"].append(id(dbapi_connection))

    def on_commit(conn):  # the DBAPI's commit: no statement goes through before_cursor_execute
        seen["statements"].append((id(conn.connection.dbapi_connection), "COMMIT"))

    def on_rollback(conn):
        seen["statements"].append((id(conn.connection.dbapi_connection), "ROLLBACK"))

    listeners = [
        (engine, "before_cursor_execute", on_execute),
        (engine.pool, "checkout", on_checkout),
        (engine, "commit", on_commit),
        (engine, "rollback", on_rollback),
    ]
    for target, name, listener in listeners:
        event.listen(target, name, listener)
    yield seen
    for target, name, listener in listeners:
        event.remove(target, name, listener)


def _checked_out(app) -> int:
    with app.app_context():
        return db.engine.pool.checkedout()


def _post(client, app, who, key: str | None, body: dict | None = None, **headers):
    sent_headers = {**who.headers, **({"Idempotency-Key": key} if key is not None else {}), **headers}
    return client.post(f"{API}/orders", json=body or order_body(app), headers=sent_headers)


def test_a_keyed_order_reads_its_caller_in_the_claims_transaction(app, client, world, sent):
    """One checkout; the caller's read, the claim and the order on one connection with no ROLLBACK or
    COMMIT between them, and the key's record committed with the order."""
    body = order_body(app)
    assert _post(client, app, world.resident, None, body).status_code == 201  # caches warm
    sent["statements"].clear()
    sent["checkouts"].clear()
    made = _post(client, app, world.resident, "early-1", body)
    assert made.status_code == 201
    assert len(sent["checkouts"]) == 1, sent["checkouts"]
    connections = {connection for connection, _statement in sent["statements"]}
    assert len(connections) == 1
    texts = [statement for _connection, statement in sent["statements"]]
    principal = next(i for i, text in enumerate(texts) if "auth_sessions" in text)
    claim = next(i for i, text in enumerate(texts) if text.startswith("INSERT INTO idempotency_keys"))
    assert principal < claim
    assert not any(text in ("ROLLBACK", "COMMIT") for text in texts[principal:claim])
    assert texts[-1] == "COMMIT" and texts.count("COMMIT") == 1
    again = _post(client, app, world.resident, "early-1", body)
    assert (again.status_code, again.json) == (201, made.json)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _checked_out(app) == 0


@pytest.mark.parametrize(
    ("case", "status"),
    [("no token", 401), ("revoked", 401), ("bad key", 422), ("bad body", 422), ("wrong type", 415)],
)
def test_a_keyed_request_refused_anywhere_gives_its_connection_back(app, client, world, case, status):
    """Refused before the claim (authentication, a malformed key) or after it (validation): the answer
    is the refusal, nothing is kept, and no connection stays checked out."""
    from tests.support import make_user

    who = world.resident
    headers: dict = {}
    body = None
    key = f"refused-{case}"
    if case == "no token":
        who = type("Nobody", (), {"headers": {}})()
    elif case == "revoked":
        who = make_user(app, home_site_id=world.sites["S1"])
        assert client.post(f"{API}/auth/logout", headers=who.headers).status_code == 200
    elif case == "bad key":
        key = "x" * 101
    elif case == "bad body":
        body = {"title": ""}
    if case == "wrong type":
        answer = client.post(
            f"{API}/orders",
            data="title=x",
            headers={**who.headers, "Idempotency-Key": key, "Content-Type": "text/plain"},
        )
    else:
        answer = _post(client, app, who, key, body, **headers)
    assert answer.status_code == status, answer.json
    assert _checked_out(app) == 0
    with app.app_context():
        from volunteer_app.idempotency import IdempotencyKey

        assert db.session.query(IdempotencyKey).filter_by(key=key).count() == 0
    # The same key then works at once: nothing of the refusal holds it.
    if case in ("bad body", "wrong type"):
        made = _post(client, app, world.resident, key)
        assert made.status_code == 201 and "Idempotent-Replayed" not in made.headers


def test_a_refused_keyed_command_costs_no_second_connection(app, client, world, sent):
    """A grab of a full pool with a key (the storm's loser): one checkout, at most one transaction, no
    COMMIT. On PostgreSQL the grab looks before it claims (extensions.reads_first): no claim at all;
    on SQLite the claim's transaction is rolled back."""
    made = _post(client, app, world.resident, None)
    assert made.status_code == 201
    sent["statements"].clear()
    sent["checkouts"].clear()
    refused = client.post(
        f"{API}/orders/{made.json['id']}/grab",
        headers={**world.vol_s1.headers, "Idempotency-Key": "grab-early-1"},
    )
    assert refused.status_code in (404, 409), refused.json  # submitted, not dispatched: no pool
    assert len(sent["checkouts"]) == 1, sent["checkouts"]
    texts = [statement for _connection, statement in sent["statements"]]
    assert "COMMIT" not in texts
    with app.app_context():
        postgresql = db.engine.dialect.name == "postgresql"
    if postgresql:
        assert not any(text.startswith("INSERT INTO idempotency_keys") for text in texts), texts
    else:
        assert texts[-1] == "ROLLBACK"
    assert texts.count("BEGIN") + texts.count("BEGIN IMMEDIATE") <= 1  # SQLite's (PostgreSQL's is implicit)
    assert _checked_out(app) == 0
