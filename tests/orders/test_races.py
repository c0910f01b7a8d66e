"""The order loop under concurrency: many phones grabbing, one thumb pressing repeatedly, the per-volunteer
cap, accepts racing for the last places, Idempotency-Key replays, and deadline sweepers running at once.

Every race goes through the real app (each thread its own test client, so its own app context, session
and connection), except the deadline sweepers, which are called as the scheduler calls them.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, func, select

from tests.api.helpers import assert_error
from tests.orders.conftest import order_body, timeline
from tests.race import race
from tests.support import Person, make_volunteer, many_volunteers
from volunteer_app.attendance.models import Assignment
from volunteer_app.extensions import db
from volunteer_app.notifications.models import Notification
from volunteer_app.orders.deadlines import apply_deadlines
from volunteer_app.orders.models import Order, OrderEvent

API = "/api/v1"


def grab(client, person: Person, order_id: int, key: str | None = None):
    headers = {**person.headers, **({"Idempotency-Key": key} if key else {})}
    return client.post(f"{API}/orders/{order_id}/grab", headers=headers)


def statuses(responses) -> Counter:
    return Counter(r.status_code for r in responses)


def errors(responses) -> Counter:
    return Counter(r.get_json()["error"] for r in responses if r.status_code >= 400)


def assignments(app, order_id: int) -> list[Assignment]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(Assignment).where(Assignment.order_id == order_id).order_by(Assignment.id)
            )
        )


def order_row(app, order_id: int) -> Order:
    with app.app_context():
        return db.session.get(Order, order_id)


def open_pool(loop, world, capacity: int) -> int:
    order = loop.submit(world.resident)
    loop.dispatch_grab(world.mgr_s1, order["id"], capacity=capacity)
    return order["id"]


def submit_many(app, world, count: int) -> list[int]:
    """`count` orders by the resident, sent side by side (the setup of the bigger tests)."""
    body = order_body(app)
    responses = race(
        app, [lambda c: c.post(f"{API}/orders", json=body, headers=world.resident.headers)] * count
    )
    assert statuses(responses) == {201: count}, [r.get_json() for r in responses]
    return sorted(r.get_json()["id"] for r in responses)


def open_pools(app, world, count: int, capacity: int) -> list[int]:
    """`count` grab pools of S1, dispatched side by side."""
    order_ids = submit_many(app, world, count)
    body = {"mode": "grab", "capacity": capacity}
    responses = race(
        app,
        [
            lambda c, o=o: c.post(f"{API}/orders/{o}/dispatch", json=body, headers=world.mgr_s1.headers)
            for o in order_ids
        ],
    )
    assert statuses(responses) == {200: count}, [r.get_json() for r in responses]
    return order_ids


# ---- 抢单 storms ----------------------------------------------------------------------------------------


def test_fifty_volunteers_grab_three_places_and_exactly_three_win(app, world, loop):
    people = many_volunteers(app, world.sites["S1"], 52)
    order_id = open_pool(loop, world, capacity=3)

    responses = race(app, [lambda c, p=p: grab(c, p, order_id) for p in people])

    assert statuses(responses) == {201: 3, 409: 49}, statuses(responses)
    assert errors(responses) == {"order.full": 49}
    for r in responses:
        if r.status_code == 409:
            assert_error(r, 409, "order.full")
    winners = {r.get_json()["volunteer_id"] for r in responses if r.status_code == 201}
    assert len(winners) == 3
    order = order_row(app, order_id)
    assert (order.status, order.taken, order.capacity) == ("staffed", 3, 3)
    held = assignments(app, order_id)
    assert {(a.volunteer_id, a.status, a.kind) for a in held} == {(v, "held", "grab") for v in winners}
    events = timeline(app, order_id)
    grabs = [e for e in events if e[0] == "grab"]
    assert len(grabs) == 3
    # The last place taken moves the order, once; the others leave it open.
    assert [e for e in events if e[1:] == ("dispatched", "staffed")] == [("grab", "dispatched", "staffed")]
    assert sorted(e[2] for e in grabs) == ["dispatched", "dispatched", "staffed"]
    with app.app_context():
        filled = db.session.scalars(
            select(Notification.user_id).where(
                Notification.order_id == order_id, Notification.kind == "order.filled"
            )
        ).all()
    assert sorted(filled) == sorted([world.mgr_s1.id, *winners])  # told once each


def test_a_loser_of_a_full_pool_is_answered_without_a_lock_or_a_write(app, world, loop, client):
    people = many_volunteers(app, world.sites["S1"], 3)
    order_id = open_pool(loop, world, capacity=2)
    assert [grab(client, p, order_id).status_code for p in people[:2]] == [201, 201]
    seen: list[str] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        seen.append(" ".join(statement.split()).upper())

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        r = grab(client, people[2], order_id)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert_error(r, 409, "order.full")
    assert not [s for s in seen if "FOR UPDATE" in s or s.startswith(("UPDATE", "INSERT", "DELETE"))], seen
    assert len([s for s in seen if " FROM ORDERS" in s]) == 1, seen  # the unlocked look at the places
    assert order_row(app, order_id).taken == 2


def test_one_volunteer_pressing_grab_ten_times_holds_one_place(app, world, loop):
    order_id = open_pool(loop, world, capacity=3)

    responses = race(app, [lambda c: grab(c, world.vol_s1, order_id)] * 10)

    assert statuses(responses) == {201: 1, 409: 9}, statuses(responses)
    # Places were left (capacity 3): every loser was refused as a holder, not for a full order.
    assert errors(responses) == {"order.already_taken": 9}
    [held] = assignments(app, order_id)
    assert (held.volunteer_id, held.status) == (world.vol_s1.id, "held")
    order = order_row(app, order_id)
    assert (order.status, order.taken) == ("dispatched", 1)
    assert [e[0] for e in timeline(app, order_id)] == ["submit", "dispatch", "grab"]


def test_concurrent_grabs_of_different_orders_never_pass_the_open_grab_cap(app, world, loop, client):
    r = client.patch(
        f"{API}/sites/{world.sites['S1']}/settings", json={"grab_max_open": 2}, headers=world.mgr_s1.headers
    )
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["effective"]["grab_max_open"] == 2
    order_ids = open_pools(app, world, 6, capacity=2)

    responses = race(app, [lambda c, o=o: grab(c, world.vol_s1, o) for o in order_ids])

    assert statuses(responses) == {201: 2, 409: 4}, statuses(responses)
    assert errors(responses) == {"grab.limit": 4}
    assert all(r.get_json()["message"] for r in responses if r.status_code == 409)
    with app.app_context():
        held = db.session.scalar(
            select(func.count())
            .select_from(Assignment)
            .where(Assignment.volunteer_id == world.vol_s1.id, Assignment.status == "held")
        )
        taken = db.session.scalar(select(func.sum(Order.taken)).where(Order.id.in_(order_ids)))
    assert (held, taken) == (2, 2)


def test_more_accepts_than_places_staff_exactly_capacity(app, world, loop):
    people = many_volunteers(app, world.sites["S1"], 8)
    order = loop.submit(world.resident)
    loop.dispatch_assign(world.mgr_s1, order["id"], [p.id for p in people], capacity=3)
    offers = {a.volunteer_id: a.id for a in assignments(app, order["id"])}
    assert len(offers) == 8

    responses = race(
        app,
        [
            lambda c, p=p: c.post(f"{API}/assignments/{offers[p.id]}/accept", json={}, headers=p.headers)
            for p in people
        ],
    )

    assert statuses(responses) == {200: 3, 409: 5}, statuses(responses)
    assert errors(responses) == {"order.full": 5}
    rows = assignments(app, order["id"])
    assert Counter(a.status for a in rows) == {"held": 3, "offered": 5}
    row = order_row(app, order["id"])
    assert (row.status, row.taken, row.capacity) == ("staffed", 3, 3)
    events = timeline(app, order["id"])
    assert [e for e in events if e[0] == "accept"] == [
        ("accept", "dispatched", "dispatched"),
        ("accept", "dispatched", "dispatched"),
        ("accept", "dispatched", "staffed"),
    ]


# ---- Idempotency-Key -----------------------------------------------------------------------------------


def test_a_grab_retried_with_its_idempotency_key_replays_and_takes_one_place(app, world, loop, client):
    order_id = open_pool(loop, world, capacity=2)

    first = grab(client, world.vol_s1, order_id, key="grab-1")
    assert first.status_code == 201, first.get_json()
    assert first.headers.get("Idempotent-Replayed") is None
    again = grab(client, world.vol_s1, order_id, key="grab-1")
    assert again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json() == first.get_json()
    # A new key is a new request: refused, since this volunteer already holds a place.
    assert_error(grab(client, world.vol_s1, order_id, key="grab-2"), 409, "order.already_taken")
    assert [a.id for a in assignments(app, order_id)] == [first.get_json()["id"]]

    # Retries racing the first attempt: one grab happens; each retry replays it or is told to wait.
    other = open_pool(loop, world, capacity=2)
    responses = race(app, [lambda c: grab(c, world.vol_s1, other, key="storm")] * 6)
    assert set(statuses(responses)) <= {201, 409}, statuses(responses)
    assert set(errors(responses)) <= {"idempotency.in_progress"}
    created = [r for r in responses if r.status_code == 201]
    assert len([r for r in created if r.headers.get("Idempotent-Replayed") != "true"]) == 1
    assert all(r.get_json() == created[0].get_json() for r in created)
    [held] = assignments(app, other)
    assert created[0].get_json()["id"] == held.id
    assert order_row(app, other).taken == 1


# ---- deadline sweepers ----------------------------------------------------------------------------------


def test_concurrent_deadline_runs_move_each_late_order_once(app, world, loop, client):
    r = client.patch(
        f"{API}/sites/{world.sites['S1']}/settings", json={"grab_max_open": 20}, headers=world.mgr_s1.headers
    )
    assert r.status_code == 200, r.get_json()
    submitted = submit_many(app, world, 10)
    empty_pools = open_pools(app, world, 10, capacity=2)
    staffed = open_pools(app, world, 10, capacity=1)
    assert statuses(race(app, [lambda c, o=o: grab(c, world.vol_s1, o) for o in staffed])) == {201: 10}
    everything = submitted + empty_pools + staffed
    # All start within the next 2 hours: 5 hours on, each waiting state is past its deadline.
    late = datetime.now(UTC) + timedelta(hours=5)
    escalation = timedelta(minutes=app.config["APP"]["order_escalation_minutes"])

    def sweep_together(now: datetime, sweepers: int = 4) -> list[dict]:
        barrier = threading.Barrier(sweepers)

        def run(_):
            with app.app_context():
                barrier.wait(timeout=30)
                return apply_deadlines(now=now, batch=7)  # several batches each

        with ThreadPoolExecutor(max_workers=sweepers) as pool:
            return list(pool.map(run, range(sweepers)))

    def total(results: list[dict], step: str) -> int:
        return sum(result.get(step, 0) for result in results)

    first = sweep_together(late)
    assert {step for result in first for step in result} <= {
        "escalate:submitted",
        "escalate:dispatched",
        "escalate:staffed",
    }
    assert [total(first, f"escalate:{s}") for s in ("submitted", "dispatched", "staffed")] == [10, 10, 10]

    second = sweep_together(late + escalation)
    assert {step for result in second for step in result} <= {
        "expire:submitted",
        "expire:dispatched",
        "expire:staffed",
    }
    assert [total(second, f"expire:{s}") for s in ("submitted", "dispatched", "staffed")] == [10, 10, 10]

    with app.app_context():
        events = Counter(
            db.session.execute(
                select(OrderEvent.order_id, OrderEvent.action).where(OrderEvent.order_id.in_(everything))
            ).all()
        )
        kinds = Counter(
            db.session.execute(
                select(Notification.order_id, Notification.user_id, Notification.kind).where(
                    Notification.kind.in_(("order.escalated", "order.expired"))
                )
            ).all()
        )
        states = Counter(db.session.scalars(select(Order.status).where(Order.id.in_(everything))))
        holds = Counter(db.session.scalars(select(Assignment.status).where(Assignment.order_id.in_(staffed))))
    for order_id in everything:
        assert (events[(order_id, "escalate")], events[(order_id, "expire")]) == (1, 1), order_id
        # Escalated to I1 (S1's parent), once; the resident told of the expiry, once.
        assert kinds[(order_id, world.mgr_i1.id, "order.escalated")] == 1
        assert kinds[(order_id, world.resident.id, "order.expired")] == 1
    assert sum(kinds.values()) == 60
    assert states == {"expired": 30}
    assert holds == {"no_show": 10}

    # Nothing is left to do, however many sweepers look again.
    assert sweep_together(late + 2 * escalation, sweepers=2) == [{}, {}]


def test_cancelling_while_volunteers_withdraw_and_accept_never_deadlocks(app, world, loop):
    """Cancel locks the order, then its assignments; withdraw and accept must take the same order
    (order first), or PostgreSQL would break the cycle by killing one of them: a 500."""
    extra = [make_volunteer(app, world.sites["S1"], 60 + n, f"志愿者{n}") for n in range(4)]
    for round_ in range(3):
        order_id = loop.submit(world.resident)["id"]
        people = [world.vol_s1, *extra]
        loop.dispatch_assign(world.mgr_s1, order_id, [p.id for p in people], capacity=5)
        offers = {p.id: loop.get(p, order_id)["my_assignment"]["id"] for p in people}
        for person in people[:3]:
            loop.act(person, offers[person.id], "accept")

        def post(person, path, body):
            return lambda client: client.post(f"/api/v1{path}", json=body, headers=person.headers)

        calls = [post(world.resident, f"/orders/{order_id}/cancel", {"reason": "不需要了"})]
        calls += [post(p, f"/assignments/{offers[p.id]}/withdraw", {"reason": "有事"}) for p in people[:3]]
        calls += [post(p, f"/assignments/{offers[p.id]}/accept", {}) for p in people[3:]]
        responses = race(app, calls)
        codes = [r.status_code for r in responses]
        assert all(code < 500 for code in codes), (round_, [(r.status_code, r.get_json()) for r in responses])
        assert codes[0] == 200  # the cancel always wins in the end: nothing here can block it
        assert loop.get(world.resident, order_id)["status"] == "cancelled"
