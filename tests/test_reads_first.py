"""`extensions.reads_first` on the grab and the redemption: a loser of a full pool or of a reward's last
unit is answered from its first reads (the caller, the pool or the reward) in autocommit, with no BEGIN
and no ROLLBACK; a winner's writes are one transaction as before; a keyed grab keeps its key's
transaction, its first look on the key's connection with no savepoint; every connection goes back."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from tests.orders.conftest import Loop
from tests.orders.test_keyed_snapshot import _checked_out
from tests.orders.test_races import assignments, grab, open_pool
from tests.race import race
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


def test_a_loser_of_a_full_pool_sends_one_read_and_no_transaction(app, client, world, loop, sent):
    """PostgreSQL: the pool, and whether the caller's session is live and a volunteer's, in one
    statement in autocommit. SQLite: the caller, then the pool."""
    order_id = open_pool(loop, world, capacity=1)
    assert grab(client, world.vol_s1, order_id).status_code == 201
    loser = make_volunteer(app, world.sites["S1"], 71, "晚到者")
    for _ in range(2):  # caches warm, the look planned (readplan: from its second run)
        assert grab(client, loser, order_id).status_code == 409
    sent.clear()
    r = grab(client, loser, order_id)
    assert (r.status_code, r.json["error"]) == (409, "order.full")
    texts = [text for text, _ in sent if not text.startswith("BEGIN")]  # (SQLite's explicit BEGIN)
    if _postgresql(app):
        assert len(texts) == 1, texts
        assert all(t in texts[0] for t in ("FROM orders", "auth_sessions", "role_grants", "caller_live"))
        assert all(autocommit for _text, autocommit in sent), sent
        assert not any(text in ("COMMIT", "ROLLBACK") for text, _ in sent), sent
    else:
        assert len([t for t in texts if t.startswith("SELECT")]) == 2, texts  # the caller, the pool
        assert "auth_sessions" in texts[0] and "FROM orders" in texts[1]
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


def test_a_keyed_loser_looks_before_it_claims(app, client, world, loop, sent):
    """PostgreSQL: a keyed grab refused by its look claims nothing: the pool, the caller and the key,
    read in one statement in autocommit, no write. SQLite: the claim's transaction first, as before."""
    order_id = open_pool(loop, world, capacity=1)
    assert grab(client, world.vol_s1, order_id).status_code == 201
    loser = make_volunteer(app, world.sites["S1"], 72, "带钥匙的")
    for warm in ("late-a", "late-b"):  # the statements planned (readplan: from their second run)
        assert grab(client, loser, order_id, key=warm).status_code == 409
    sent.clear()
    r = grab(client, loser, order_id, key="late-1")
    assert (r.status_code, r.json["error"]) == (409, "order.full")
    texts = [text for text, _ in sent]
    if _postgresql(app):  # the pool, the caller and the key in one statement
        assert all(autocommit for _text, autocommit in sent), sent
        assert len(texts) == 1, texts
        assert all(t in texts[0] for t in ("FROM orders", "caller_live", "idempotency_keys")), texts
    else:
        claim = next(i for i, text in enumerate(texts) if text.startswith("INSERT INTO idempotency_keys"))
        assert any("auth_sessions" in text for text in texts[:claim])  # in the claim's transaction
        assert "COMMIT" not in texts and texts[-1] == "ROLLBACK"  # a refusal takes its claim back
    assert not any("SAVEPOINT" in text for text in texts), texts
    again = grab(client, loser, order_id, key="late-1")
    assert (again.status_code, again.json) == (409, r.json)
    assert "Idempotent-Replayed" not in again.headers
    assert _checked_out(app) == 0


def test_a_keyed_winner_claims_before_it_writes_and_replays_after(app, client, world, loop, sent):
    order_id = open_pool(loop, world, capacity=1)
    sent.clear()
    first = grab(client, world.vol_s1, order_id, key="first-1")
    assert first.status_code == 201
    texts = [text for text, _ in sent]
    claim = next(i for i, text in enumerate(texts) if text.startswith("INSERT INTO idempotency_keys"))
    take = next(i for i, text in enumerate(texts) if text.startswith("UPDATE orders"))
    assert claim < take and texts.count("COMMIT") == 1
    # the pool is full now: the retry's look refuses, and the key's record answers it
    again = grab(client, world.vol_s1, order_id, key="first-1")
    assert (again.status_code, again.json) == (201, first.json)
    assert again.headers["Idempotent-Replayed"] == "true"
    other = open_pool(loop, world, capacity=1)
    reused = grab(client, world.vol_s1, other, key="first-1")  # another path: another request
    assert (reused.status_code, reused.json["error"]) == (422, "idempotency.key_reused")
    assert [a.volunteer_id for a in assignments(app, order_id)] == [world.vol_s1.id]
    assert assignments(app, other) == []
    assert _checked_out(app) == 0


def test_a_keyed_redemption_refused_after_a_first_answer_replays_it(app, client, world):
    """The last unit went to this very key: the retry's look finds no stock, the key its first answer;
    the same key with another reward (another body) is 422, even when that reward is out of stock."""
    credit(app, world.vol_s1, world.sites["S1"], 500)
    reward = add_reward(client, world.mgr_s1, world.sites["S1"], stock=1)
    empty = add_reward(client, world.mgr_s1, world.sites["S1"], stock=0)
    first = redeem(client, world.vol_s1, reward["id"], headers={"Idempotency-Key": "r-1"})
    assert first.status_code == 201
    again = redeem(client, world.vol_s1, reward["id"], headers={"Idempotency-Key": "r-1"})
    assert (again.status_code, again.json) == (201, first.json)
    assert again.headers["Idempotent-Replayed"] == "true"
    reused = redeem(client, world.vol_s1, empty["id"], headers={"Idempotency-Key": "r-1"})
    assert (reused.status_code, reused.json["error"]) == (422, "idempotency.key_reused")
    assert (balance(app, world.vol_s1), stock(app, reward["id"])) == (440, 0)
    assert _checked_out(app) == 0


def test_a_keyed_loser_of_a_rewards_last_unit_sends_one_read(app, client, world, sent):
    """PostgreSQL: a keyed redemption refused by its look reads the caller, the reward and its key in
    one statement, in autocommit, and claims nothing; its retry gets the same refusal."""
    credit(app, world.vol_s1, world.sites["S1"], 500)
    reward = add_reward(client, world.mgr_s1, world.sites["S1"], stock=0)
    for warm in ("warm-a", "warm-b"):  # the statement planned (readplan: from its second run)
        assert (
            redeem(client, world.vol_s1, reward["id"], headers={"Idempotency-Key": warm}).status_code == 409
        )
    sent.clear()
    r = redeem(client, world.vol_s1, reward["id"], headers={"Idempotency-Key": "late-1"})
    assert (r.status_code, r.json["error"]) == (409, "reward.out_of_stock")
    texts = [text for text, _ in sent]
    if _postgresql(app):
        assert len(texts) == 1, texts
        assert all(t in texts[0] for t in ("FROM rewards", "caller_live", "idempotency_keys")), texts
        assert all(autocommit for _text, autocommit in sent), sent
    else:
        assert "COMMIT" not in texts and texts[-1] == "ROLLBACK"  # its claim taken back
    again = redeem(client, world.vol_s1, reward["id"], headers={"Idempotency-Key": "late-1"})
    assert (again.status_code, again.json) == (409, r.json)
    assert "Idempotent-Replayed" not in again.headers
    assert balance(app, world.vol_s1) == 500
    assert _checked_out(app) == 0


def test_refusals_before_the_pool_give_the_connection_back(app, client, world, loop):
    """401, 403 (a resident), 404 (no such pool): refused in the first reads, nothing left checked out."""
    order_id = open_pool(loop, world, capacity=1)
    assert client.post(f"/api/v1/orders/{order_id}/grab").status_code == 401
    assert grab(client, world.resident, order_id).status_code == 403
    assert grab(client, world.vol_s1, 999_999).status_code == 404
    assert _checked_out(app) == 0


def test_a_loser_of_a_rewards_last_unit_sends_one_read_and_no_transaction(app, client, world, sent):
    """PostgreSQL: the loser's caller is checked by the look at the reward itself (one statement, in
    autocommit). SQLite: the caller, then the reward."""
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
    if _postgresql(app):
        assert len(texts) == 1, texts  # the reward's stock and whether the caller's session is live
        assert "FROM rewards" in texts[0] and "auth_sessions" in texts[0] and "caller_live" in texts[0]
        assert all(autocommit for _text, autocommit in sent), sent
    else:  # the caller, the reward's stock (and the transaction's end)
        assert "auth_sessions" in texts[0] and "FROM rewards" in texts[1]
    assert balance(app, world.vol_s1) == 440
    assert _checked_out(app) == 0


def test_a_reward_withdrawn_between_the_look_and_the_lock_is_still_refused(app, client, world, monkeypatch):
    """The first look found it available; the request's transaction reads it again and refuses."""
    from volunteer_app.timebank import rewards

    credit(app, world.vol_s1, world.sites["S1"], 500)
    reward = add_reward(client, world.mgr_s1, world.sites["S1"], stock=3)
    look = rewards.first_look

    def look_then_withdraw(stmt, params, *riders):
        row = look(stmt, params, *riders)
        r = client.patch(
            f"/api/v1/rewards/{reward['id']}", json={"active": False}, headers=world.mgr_s1.headers
        )
        assert r.status_code == 200
        return row

    monkeypatch.setattr(rewards, "first_look", look_then_withdraw)
    r = redeem(client, world.vol_s1, reward["id"])
    assert (r.status_code, r.json["error"]) == (409, "reward.unavailable")
    assert (balance(app, world.vol_s1), stock(app, reward["id"])) == (500, 3)


def test_duplicates_racing_for_the_last_place_all_get_the_first_answer(app, world, loop):
    """One key sent six times at once for a pool's only place: one grab, and every other answer replays
    it (or is told to wait), never the look's `order.full`, even when the look comes after the first
    answer committed."""
    order_id = open_pool(loop, world, capacity=1)
    responses = race(app, [lambda c: grab(c, world.vol_s1, order_id, key="last")] * 6)
    assert {r.status_code for r in responses} <= {201, 409}, [r.get_json() for r in responses]
    assert {r.get_json()["error"] for r in responses if r.status_code == 409} <= {"idempotency.in_progress"}
    created = [r for r in responses if r.status_code == 201]
    assert len([r for r in created if r.headers.get("Idempotent-Replayed") != "true"]) == 1
    assert all(r.get_json() == created[0].get_json() for r in created)
    assert [a.volunteer_id for a in assignments(app, order_id)] == [world.vol_s1.id]


def test_duplicates_racing_for_a_rewards_last_unit_all_get_the_first_answer(app, world, client):
    credit(app, world.vol_s1, world.sites["S1"], 500)
    reward = add_reward(client, world.mgr_s1, world.sites["S1"], stock=1, price_minutes=60)
    key = {"Idempotency-Key": "last-unit"}
    responses = race(app, [lambda c: redeem(c, world.vol_s1, reward["id"], headers=key)] * 6)
    assert {r.status_code for r in responses} <= {201, 409}, [r.get_json() for r in responses]
    assert {r.get_json()["error"] for r in responses if r.status_code == 409} <= {"idempotency.in_progress"}
    created = [r for r in responses if r.status_code == 201]
    assert len([r for r in created if r.headers.get("Idempotent-Replayed") != "true"]) == 1
    assert all(r.get_json()["code"] == created[0].get_json()["code"] for r in created)
    assert (balance(app, world.vol_s1), stock(app, reward["id"])) == (440, 0)
