"""`extensions.reads_first` on the grab and the redemption: a loser of a full pool or of a reward's last
unit is answered from its first reads (the caller, the pool or the reward) in autocommit, with no BEGIN
and no ROLLBACK; a winner's writes are one transaction as before; a keyed grab keeps its key's
transaction, its first look on the key's connection with no savepoint; every connection goes back."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from tests.orders.conftest import Loop
from tests.orders.test_races import assignments, grab, open_pool
from tests.support import credit, make_volunteer
from tests.timebank.test_rewards import add_reward, balance, redeem, stock
from volunteer_app.extensions import db


@pytest.fixture
def sent(app):
    """Each statement sent as (statement, in autocommit), and the transactions' ends."""
    with app.app_context():
        engine = db.engine
    seen: list[tuple[str, bool]] = []

    def on_execute(conn, _cursor, statement, *_args):
        seen.append((statement, bool(getattr(conn.connection.dbapi_connection, "autocommit", False))))

    def on_commit(conn):
        seen.append(("COMMIT", False))

    def on_rollback(conn):
        seen.append(("ROLLBACK", False))

    listeners = [
        (engine, "before_cursor_execute", on_execute),
        (engine, "commit", on_commit),
        (engine, "rollback", on_rollback),
    ]
    for name_target in listeners:
        event.listen(*name_target)
    yield seen
    for name_target in listeners:
        event.remove(*name_target)


@pytest.fixture
def loop(app, client) -> Loop:
    return Loop(app, client)


def _postgresql(app) -> bool:
    with app.app_context():
        return db.engine.dialect.name == "postgresql"


def _checked_out(app) -> int:
    with app.app_context():
        return db.engine.pool.checkedout()


def test_a_loser_of_a_full_pool_sends_two_reads_and_no_transaction(app, client, world, loop, sent):
    order_id = open_pool(loop, world, capacity=1)
    assert grab(client, world.vol_s1, order_id).status_code == 201
    loser = make_volunteer(app, world.sites["S1"], 71, "晚到者")
    assert grab(client, loser, order_id).status_code == 409  # caches warm
    sent.clear()
    r = grab(client, loser, order_id)
    assert (r.status_code, r.json["error"]) == (409, "order.full")
    texts = [text for text, _ in sent if not text.startswith("BEGIN")]  # (SQLite's explicit BEGIN)
    assert len([t for t in texts if t.startswith("SELECT")]) == 2, texts  # the caller, the pool
    assert "auth_sessions" in texts[0] and "FROM orders" in texts[1]
    if _postgresql(app):
        assert all(autocommit for _text, autocommit in sent), sent
        assert not any(text in ("COMMIT", "ROLLBACK") for text, _ in sent), sent
    assert _checked_out(app) == 0


def test_a_winner_writes_in_one_transaction_after_its_first_reads(app, client, world, loop, sent):
    order_id = open_pool(loop, world, capacity=2)
    sent.clear()
    r = grab(client, world.vol_s1, order_id)
    assert r.status_code == 201
    texts = [text for text, _ in sent]
    peek = next(i for i, text in enumerate(texts) if text.startswith("SELECT orders.status"))
    take = next(i for i, text in enumerate(texts) if text.startswith("UPDATE orders"))
    assert peek < take
    if _postgresql(app):
        assert all(autocommit for _text, autocommit in sent[: peek + 1])  # the caller, the pool
        after = sent[peek + 1 :]
        assert after and not any(autocommit for _text, autocommit in after)  # the profile's lock on
        assert [text for text, _ in after].count("COMMIT") == 1
    assert [a.volunteer_id for a in assignments(app, order_id)] == [world.vol_s1.id]
    assert _checked_out(app) == 0


def test_a_keyed_grab_stays_in_its_keys_transaction(app, client, world, loop, sent):
    order_id = open_pool(loop, world, capacity=1)
    assert grab(client, world.vol_s1, order_id).status_code == 201
    loser = make_volunteer(app, world.sites["S1"], 72, "带钥匙的")
    sent.clear()
    r = grab(client, loser, order_id, key="late-1")
    assert (r.status_code, r.json["error"]) == (409, "order.full")
    assert not any(autocommit for _text, autocommit in sent), sent
    texts = [text for text, _ in sent]
    claim = next(i for i, text in enumerate(texts) if text.startswith("INSERT INTO idempotency_keys"))
    assert any("auth_sessions" in text for text in texts[:claim])  # the caller, in the claim's transaction
    assert "COMMIT" not in texts and texts[-1] == "ROLLBACK"  # a refusal takes its claim back with it
    assert not any("SAVEPOINT" in text for text in texts), texts  # the look is past the session
    again = grab(client, loser, order_id, key="late-1")
    assert (again.status_code, again.json) == (409, r.json)
    assert "Idempotent-Replayed" not in again.headers
    assert _checked_out(app) == 0


def test_refusals_before_the_pool_give_the_connection_back(app, client, world, loop):
    """401, 403 (a resident), 404 (no such pool): refused in the first reads, nothing left checked out."""
    order_id = open_pool(loop, world, capacity=1)
    assert client.post(f"/api/v1/orders/{order_id}/grab").status_code == 401
    assert grab(client, world.resident, order_id).status_code == 403
    assert grab(client, world.vol_s1, 999_999).status_code == 404
    assert _checked_out(app) == 0


def test_a_loser_of_a_rewards_last_unit_sends_two_reads_and_no_transaction(app, client, world, sent):
    credit(app, world.vol_s1, world.sites["S1"], 500)
    reward = add_reward(client, world.mgr_s1, world.sites["S1"], stock=1, price_minutes=60)
    sent.clear()
    assert redeem(client, world.vol_s1, reward["id"]).status_code == 201  # the winner
    texts = [text for text, _ in sent]
    if _postgresql(app):
        first_write = next(i for i, text in enumerate(texts) if text.startswith(("UPDATE", "INSERT")))
        assert not any(autocommit for _text, autocommit in sent[first_write:])
        assert texts.count("COMMIT") == 1
    assert (balance(app, world.vol_s1), stock(app, reward["id"])) == (440, 0)
    assert redeem(client, world.vol_s1, reward["id"]).status_code == 409  # the loser's statements planned
    sent.clear()
    r = redeem(client, world.vol_s1, reward["id"])
    assert (r.status_code, r.json["error"]) == (409, "reward.out_of_stock")
    texts = [text for text, _ in sent if not text.startswith("BEGIN")]
    assert len(texts) == 2 or not _postgresql(app), texts  # the caller, the reward's stock
    assert "auth_sessions" in texts[0] and "FROM rewards" in texts[1]
    if _postgresql(app):
        assert all(autocommit for _text, autocommit in sent), sent
    assert balance(app, world.vol_s1) == 440
    assert _checked_out(app) == 0


def test_a_reward_withdrawn_between_the_look_and_the_lock_is_still_refused(app, client, world, monkeypatch):
    """The first look found it available; the request's transaction reads it again and refuses."""
    from volunteer_app.timebank import rewards

    credit(app, world.vol_s1, world.sites["S1"], 500)
    reward = add_reward(client, world.mgr_s1, world.sites["S1"], stock=3)
    look = rewards.read_rows

    def look_then_withdraw(stmt, params=None):
        rows = look(stmt, params)
        if stmt is rewards._stock_query():
            r = client.patch(
                f"/api/v1/rewards/{reward['id']}", json={"active": False}, headers=world.mgr_s1.headers
            )
            assert r.status_code == 200
        return rows

    monkeypatch.setattr(rewards, "read_rows", look_then_withdraw)
    r = redeem(client, world.vol_s1, reward["id"])
    assert (r.status_code, r.json["error"]) == (409, "reward.unavailable")
    assert (balance(app, world.vol_s1), stock(app, reward["id"])) == (500, 3)
