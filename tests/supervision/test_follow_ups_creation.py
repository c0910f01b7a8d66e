"""回访 tasks are created when an order is settled (closed and rated or unrated), in that transaction,
once per order, for the serving station: low ratings and unrated orders always, the rest by sample."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.orders.conftest import Loop
from tests.supervision.follow_up_support import (
    audit,
    events_of,
    follow_ups_of,
    lapse,
    rate,
    served,
    set_sample,
)
from volunteer_app.extensions import db
from volunteer_app.orders.models import Order
from volunteer_app.supervision import follow_ups
from volunteer_app.supervision.models import FollowUp, SupervisionEvent


@pytest.fixture
def loop(app, client) -> Loop:
    return Loop(app, client)


def _one(app, world, order_id: int, reason: str) -> FollowUp:
    found = follow_ups_of(app, order_id)
    assert len(found) == 1, found
    follow_up = found[0]
    assert (follow_up.reason, follow_up.status, follow_up.site_id) == (reason, "pending", world.sites["S1"])
    assert follow_up.attempts == 0
    assert events_of(app, follow_up.id) == [("create", None, "pending", None)]
    return follow_up


@pytest.mark.parametrize("stars", [1, 2])
def test_a_low_rating_then_the_audit(app, world, loop, stars):
    order_id = served(app, world, loop)
    set_sample(app, world.sites["S1"], 0, due_hours=24)
    rate(loop, world, order_id, stars)
    assert follow_ups_of(app, order_id) == []  # rated, not yet closed
    audit(loop, world, order_id)
    follow_up = _one(app, world, order_id, "low_rating")
    with app.app_context():
        closed_at = db.session.get(Order, order_id).closed_at
    assert abs(follow_up.due_at - (follow_up.created_at + timedelta(hours=24))) < timedelta(seconds=1)
    assert abs(follow_up.created_at - closed_at) < timedelta(seconds=5)


def test_the_audit_then_a_rating_of_2(app, world, loop):
    order_id = served(app, world, loop)
    set_sample(app, world.sites["S1"], 0)
    audit(loop, world, order_id)
    assert follow_ups_of(app, order_id) == []  # closed, the rating still open
    rate(loop, world, order_id, 2)
    _one(app, world, order_id, "low_rating")


def test_the_audit_then_the_rating_lapses(app, world, loop):
    order_id = served(app, world, loop)
    set_sample(app, world.sites["S1"], 0)
    audit(loop, world, order_id)
    assert lapse(app, order_id).get("rating_lapsed") == 1
    _one(app, world, order_id, "unrated")
    assert lapse(app, order_id).get("rating_lapsed") is None  # again: nothing to move, nothing created
    assert len(follow_ups_of(app, order_id)) == 1


def test_a_lapse_before_the_audit_is_followed_up_at_the_audit(app, world, loop):
    order_id = served(app, world, loop)
    set_sample(app, world.sites["S1"], 0)
    lapse(app, order_id)
    assert follow_ups_of(app, order_id) == []  # unrated, not yet closed
    audit(loop, world, order_id)
    _one(app, world, order_id, "unrated")


@pytest.mark.parametrize("stars", [3, 4, 5])
def test_good_ratings_only_by_sample(app, world, loop, stars):
    none, every = served(app, world, loop), served(app, world, loop)
    set_sample(app, world.sites["S1"], 0)
    rate(loop, world, none, stars)
    audit(loop, world, none)
    assert follow_ups_of(app, none) == []
    set_sample(app, world.sites["S1"], 100)
    audit(loop, world, every)
    rate(loop, world, every, stars)
    _one(app, world, every, "sample")


def test_the_sample_is_a_function_of_the_order_id():
    chosen = [i for i in range(1, 10_001) if follow_ups.sampled(i, 10)]
    assert 900 < len(chosen) < 1100  # about 10 %
    assert chosen == [i for i in range(1, 10_001) if follow_ups.sampled(i, 10)]  # the same every time
    assert set(chosen) <= {i for i in range(1, 10_001) if follow_ups.sampled(i, 30)}  # a larger one holds it
    assert not any(follow_ups.sampled(i, 0) for i in range(1000))
    assert all(follow_ups.sampled(i, 100) for i in range(1000))


def test_nothing_is_created_while_the_order_is_not_closed(app, world, loop):
    order_id = served(app, world, loop)
    set_sample(app, world.sites["S1"], 100)
    rate(loop, world, order_id, 1)
    lapse(app, order_id)  # rated: nothing lapses
    assert follow_ups_of(app, order_id) == []


def test_exactly_once_per_order(app, world, loop):
    """A second audit is refused by the order's table; asked again for the same settled order (as a
    racing path would), the creation inserts nothing and writes no event."""
    order_id = served(app, world, loop)
    set_sample(app, world.sites["S1"], 0)
    rate(loop, world, order_id, 1)
    audit(loop, world, order_id)
    audit(loop, world, order_id, status=409)
    rate(loop, world, order_id, 1, status=409)
    follow_up = _one(app, world, order_id, "low_rating")
    with app.app_context():
        events = db.session.scalar(select(func.count()).select_from(SupervisionEvent))
        assert follow_ups.create_for([order_id, order_id], now=follow_up.created_at) == []
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(SupervisionEvent)) == events
    _one(app, world, order_id, "low_rating")


def test_a_refused_audit_creates_nothing(app, world, loop):
    """The follow-up is in the settling transaction: when the audit fails after the order's move, both
    are rolled back."""
    order_id = served(app, world, loop)
    rate(loop, world, order_id, 1)
    bad = {"assignments": [{"assignment_id": 999999, "minutes": 30}], "note": "x"}
    response = loop.client.post(f"/api/v1/orders/{order_id}/audit", json=bad, headers=world.mgr_s1.headers)
    assert 400 <= response.status_code < 500
    assert follow_ups_of(app, order_id) == []
    with app.app_context():
        assert db.session.get(Order, order_id).status == "completed"


def test_without_receivers_the_signal_costs_nothing_and_orders_still_close(app, world, loop):
    from volunteer_app.orders import states as order_states

    order_id = served(app, world, loop)
    rate(loop, world, order_id, 1)
    order_states.settled.disconnect(follow_ups._on_settled)
    try:
        audit(loop, world, order_id)
    finally:
        order_states.settled.connect(follow_ups._on_settled)
    assert follow_ups_of(app, order_id) == []
    with app.app_context():
        assert db.session.get(Order, order_id).status == "closed"
        assert db.session.scalar(select(func.count()).select_from(FollowUp)) == 0
