"""Exactly one follow-up per order whichever paths race: the resident's rating against the deadline
job's lapse of a closed order, two audits, several sweepers, and the creation itself run twice at once
(UNIQUE(order_id), inserted ignoring the conflict). Each thread has its own app context, session and
connection (tests/race.py), as concurrent requests and the scheduler have."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import delete, select

from tests.orders.conftest import Loop
from tests.race import race
from tests.supervision.follow_up_support import API, AUDIT, audit, events_of, rate, served, set_sample
from volunteer_app.db import utcnow
from volunteer_app.extensions import db
from volunteer_app.orders.deadlines import apply_deadlines
from volunteer_app.orders.models import Order
from volunteer_app.supervision import follow_ups
from volunteer_app.supervision.models import FollowUp, SupervisionEvent


@pytest.fixture
def loop(app, client) -> Loop:
    return Loop(app, client)


def together(calls: list) -> list:
    """Run each `call()` in its own thread (with its own app context), released together."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def only_follow_up(app, order_id: int) -> FollowUp:
    with app.app_context():
        found = list(db.session.scalars(select(FollowUp).where(FollowUp.order_id == order_id)))
    assert len(found) == 1, found
    assert [e[0] for e in events_of(app, found[0].id)] == ["create"]
    return found[0]


def test_a_rating_racing_the_lapse_of_a_closed_order_creates_one(app, client, world, loop):
    set_sample(app, world.sites["S1"], 0)
    outcomes = Counter()
    for _ in range(3):
        order_id = served(app, world, loop)
        audit(loop, world, order_id)
        with app.app_context():
            lapses_at = db.session.get(Order, order_id).rating_due_at + timedelta(minutes=1)

        def rating(order_id=order_id):
            return app.test_client().post(
                f"{API}/orders/{order_id}/rating", json={"stars": 2}, headers=world.resident.headers
            )

        def lapsing(lapses_at=lapses_at):
            with app.app_context():
                return apply_deadlines(now=lapses_at)

        response, swept = together([rating, lapsing])
        follow_up = only_follow_up(app, order_id)
        with app.app_context():
            order = db.session.get(Order, order_id)
        if response.status_code == 200:
            assert (order.rating_state, follow_up.reason, swept.get("rating_lapsed")) == (
                "rated",
                "low_rating",
                None,
            )
        else:
            assert response.get_json()["error"] == "rating.closed", response.get_json()
            assert (order.rating_state, follow_up.reason, swept["rating_lapsed"]) == ("unrated", "unrated", 1)
        outcomes[follow_up.reason] += 1
    assert sum(outcomes.values()) == 3


def test_two_audits_at_once_create_one(app, client, world, loop):
    order_id = served(app, world, loop)
    rate(loop, world, order_id, 1)
    responses = race(
        app,
        [
            lambda c: c.post(f"{API}/orders/{order_id}/audit", json=AUDIT, headers=world.mgr_s1.headers),
            lambda c: c.post(f"{API}/orders/{order_id}/audit", json=AUDIT, headers=world.mgr_i1.headers),
        ],
    )
    assert sorted(r.status_code for r in responses) == [200, 409]
    assert only_follow_up(app, order_id).reason == "low_rating"


def test_sweepers_at_once_create_one_each(app, world, loop):
    set_sample(app, world.sites["S1"], 0)
    orders = [served(app, world, loop) for _ in range(3)]
    for order_id in orders:
        audit(loop, world, order_id)
    with app.app_context():
        late = max(db.session.scalars(select(Order.rating_due_at).where(Order.id.in_(orders)))) + timedelta(
            minutes=1
        )

    def sweep():
        with app.app_context():
            return apply_deadlines(now=late, batch=1)

    results = together([sweep] * 4)
    assert sum(r.get("rating_lapsed", 0) for r in results) == 3
    for order_id in orders:
        assert only_follow_up(app, order_id).reason == "unrated"


def test_the_creation_run_twice_at_once_inserts_one(app, world, loop):
    """As if two paths settled one order in two transactions: the second insert waits for the first's
    row (PostgreSQL) or for the write lock (SQLite), then inserts nothing and writes no event."""
    order_id = served(app, world, loop)
    rate(loop, world, order_id, 1)
    audit(loop, world, order_id)
    with app.app_context():  # start over: the order is settled and has none
        first = db.session.scalar(select(FollowUp.id).where(FollowUp.order_id == order_id))
        db.session.execute(delete(SupervisionEvent).where(SupervisionEvent.subject_id == first))
        db.session.execute(delete(FollowUp).where(FollowUp.id == first))
        db.session.commit()

    def create():
        with app.app_context():
            created = follow_ups.create_for([order_id], now=utcnow())
            db.session.commit()
            return created

    results = together([create] * 4)
    assert sorted(len(r) for r in results) == [0, 0, 0, 1]
    assert only_follow_up(app, order_id).reason == "low_rating"
