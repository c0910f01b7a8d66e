"""A grab checks its caller in its first look (auth_required("volunteer", defer=looking_first),
accounts.principal.caller_rider): on PostgreSQL the session is not read before the view; the look at the
pool says whether the session is live, the account active and the volunteer's role granted. Whatever
the look finds, a revoked session or a closed account is 401 and a caller who is no volunteer 403,
before any other answer, and nothing is written for them: a caller the look did not confirm is read
before the first write (extensions.writes_begin). On SQLite (no deferral) the same answers."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select

from tests.api.helpers import assert_error
from tests.orders.conftest import Loop
from tests.orders.test_races import assignments, grab, open_pool
from tests.support import make_volunteer
from tests.timebank.test_deferred_redeemer import _close, _revoke
from volunteer_app.accounts.models import RoleGrant
from volunteer_app.extensions import db
from volunteer_app.idempotency import IdempotencyKey


@pytest.fixture
def loop(app, client) -> Loop:
    return Loop(app, client)


@pytest.fixture
def pools(app, client, world, loop):
    full = open_pool(loop, world, capacity=1)
    assert grab(client, world.vol_s4, full).status_code == 201
    return {"open": open_pool(loop, world, capacity=2), "full": full, "missing": 987_654}


def _keys(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(IdempotencyKey))


@pytest.mark.parametrize("gone", ["revoked", "closed"])
@pytest.mark.parametrize("which", ["open", "full", "missing"])
@pytest.mark.parametrize("keyed", [False, True])
def test_a_caller_gone_is_401_and_takes_nothing(app, client, world, pools, gone, which, keyed):
    volunteer = make_volunteer(app, world.sites["S1"], 81, "将离开的")
    for _ in range(2):  # the look planned (readplan: from its second run)
        assert grab(client, volunteer, pools["full"]).status_code == 409
    (_revoke if gone == "revoked" else _close)(app, volunteer)
    keys = _keys(app)
    r = grab(client, volunteer, pools[which], key=f"gone-{which}" if keyed else None)
    assert_error(r, 401, "token.revoked")
    assert [a.volunteer_id for a in assignments(app, pools["open"])] == []
    assert _keys(app) == keys  # no key claimed


@pytest.mark.parametrize("which", ["open", "full", "missing"])
def test_a_caller_without_the_role_is_403_and_takes_nothing(app, client, world, pools, which):
    assert_error(grab(client, world.resident, pools[which]), 403, "auth.forbidden")
    volunteer = make_volunteer(app, world.sites["S1"], 82, "卸任的")
    with app.app_context():  # the role withdrawn after the token was issued
        db.session.execute(delete(RoleGrant).where(RoleGrant.user_id == volunteer.id))
        db.session.commit()
    assert_error(grab(client, volunteer, pools[which]), 403, "auth.forbidden")
    assert assignments(app, pools["open"]) == []


def test_a_live_volunteer_gets_each_answer_as_before(app, client, world, pools):
    assert_error(grab(client, world.vol_s1, pools["full"]), 409, "order.full")
    assert grab(client, world.vol_s1, pools["missing"]).status_code == 404
    made = grab(client, world.vol_s1, pools["open"])
    assert made.status_code == 201 and made.json["volunteer_id"] == world.vol_s1.id
    assert [a.volunteer_id for a in assignments(app, pools["open"])] == [world.vol_s1.id]
