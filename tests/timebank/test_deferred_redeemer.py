"""A redemption checks its caller in its first look (auth_required(defer=looking_first),
accounts.principal.caller_rider): on PostgreSQL the session is not read before the view, the look at the
reward says whether it is live too, and a keyed request's record rides on the same statement
(idempotency.key_rider). Whatever the look finds, a revoked session or a closed account is 401 before
any other answer (a 409, a 404, a replayed first answer, a 429), and nothing is spent. On SQLite (no
deferral) the same requests get the same answers."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from tests.api.helpers import assert_error
from tests.orders.test_deferred_caller import _session_of
from tests.support import credit
from tests.timebank.test_rewards import add_reward, balance, redeem, stock
from volunteer_app.accounts.models import User
from volunteer_app.auth.models import AuthSession
from volunteer_app.db import utcnow
from volunteer_app.extensions import db


def _revoke(app, person) -> None:
    with app.app_context():
        db.session.execute(
            update(AuthSession)
            .where(AuthSession.id == _session_of(app, person))
            .values(revoked_at=utcnow(), revoked_reason="test")
        )
        db.session.commit()


def _close(app, person) -> None:
    with app.app_context():
        db.session.execute(update(User).where(User.id == person.id).values(is_active=False))
        db.session.commit()


@pytest.fixture
def rewards(app, client, world):
    credit(app, world.vol_s1, world.sites["S1"], 500)
    return {
        "in_stock": add_reward(client, world.mgr_s1, world.sites["S1"], stock=2, price_minutes=60)["id"],
        "sold_out": add_reward(client, world.mgr_s1, world.sites["S1"], stock=0)["id"],
        "missing": 987_654,
    }


@pytest.mark.parametrize("gone", ["revoked", "closed"])
@pytest.mark.parametrize("which", ["in_stock", "sold_out", "missing"])
@pytest.mark.parametrize("keyed", [False, True])
def test_a_caller_gone_is_401_whatever_the_look_finds(app, client, world, rewards, gone, which, keyed):
    for _ in range(2):  # the loser's statement planned (readplan: from its second run)
        assert redeem(client, world.vol_s1, rewards["sold_out"]).status_code == 409
    (_revoke if gone == "revoked" else _close)(app, world.vol_s1)
    headers = {"Idempotency-Key": f"gone-{which}"} if keyed else None
    r = redeem(client, world.vol_s1, rewards[which], headers=headers)
    assert_error(r, 401, "token.revoked")
    assert (balance(app, world.vol_s1), stock(app, rewards["in_stock"])) == (500, 2)


def test_a_revoked_caller_is_not_replayed_a_first_answer(app, client, world, rewards):
    """The key's record rides on the look, which finds the stock gone: still 401 for a revoked session."""
    key = {"Idempotency-Key": "first"}
    first = redeem(client, world.vol_s1, rewards["in_stock"], headers=key)
    assert first.status_code == 201
    assert redeem(client, world.vol_s1, rewards["in_stock"]).status_code == 201  # the last unit
    again = redeem(client, world.vol_s1, rewards["in_stock"], headers=key)
    assert (again.status_code, again.json) == (201, first.json)  # the look refuses, the key replays
    _revoke(app, world.vol_s1)
    assert_error(redeem(client, world.vol_s1, rewards["in_stock"], headers=key), 401, "token.revoked")


def test_a_live_caller_gets_each_answer_as_before(app, client, world, rewards):
    assert_error(redeem(client, world.vol_s1, rewards["sold_out"]), 409, "reward.out_of_stock")
    assert redeem(client, world.vol_s1, rewards["missing"]).status_code == 404
    made = redeem(client, world.vol_s1, rewards["in_stock"])
    assert made.status_code == 201 and made.json["user_id"] == world.vol_s1.id
    assert made.json["holder_name_masked"]  # the caller, read once the look passed
    assert (balance(app, world.vol_s1), stock(app, rewards["in_stock"])) == (440, 1)


def test_a_limited_caller_gone_is_401_not_429(app, client, world, rewards, monkeypatch):
    monkeypatch.setitem(app.config["APP"], "redeem_limit", "1/minute")
    assert redeem(client, world.vol_s1, rewards["sold_out"]).status_code == 409
    _revoke(app, world.vol_s1)
    assert_error(redeem(client, world.vol_s1, rewards["sold_out"]), 401, "token.revoked")
