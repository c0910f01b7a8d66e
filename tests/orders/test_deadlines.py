"""The deadline job, with the clock in the test's hands: escalate to the parent site, then expire waiting
orders; close grab pools whose deadline passed; only escalate late check-outs and audits; lapse ratings;
remind holders once; change nothing when run again; and route orders to a center that dispatches.

`apply_deadlines(now=…)` is called as the scheduler calls it; requests that must happen at a given time
travel there with `loop.at` (no sleeps anywhere).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from tests.orders.conftest import NEAR, run_worker, timeline
from tests.support import make_volunteer
from volunteer_app.attendance.models import Assignment
from volunteer_app.extensions import db
from volunteer_app.notifications.models import Notification
from volunteer_app.orders.deadlines import apply_deadlines

API = "/api/v1"


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def run(app, now: datetime) -> dict[str, int]:
    with app.app_context():
        return apply_deadlines(now=now)


def notes(app, kind: str, order_id: int | None = None) -> Counter:
    """Who was told `kind` (about `order_id`), and how many times."""
    stmt = select(Notification.user_id).where(Notification.kind == kind)
    if order_id is not None:
        stmt = stmt.where(Notification.order_id == order_id)
    with app.app_context():
        return Counter(db.session.scalars(stmt))


def assignment_states(app, order_id: int) -> dict[int, str]:
    with app.app_context():
        return dict(
            db.session.execute(
                select(Assignment.volunteer_id, Assignment.status).where(Assignment.order_id == order_id)
            ).all()
        )


def escalation(app) -> timedelta:
    return timedelta(minutes=app.config["APP"]["order_escalation_minutes"])


def test_the_escalation_delay_defaults_to_two_hours(app):
    assert app.config["APP"]["order_escalation_minutes"] == 120


# ---- submitted ------------------------------------------------------------------------------------------


def test_an_undispatched_order_escalates_to_the_parent_site_then_expires(app, world, loop):
    order = loop.submit(world.resident)
    due, esc = at(order["dispatch_due_at"]), escalation(app)
    # dispatch_within_minutes after submission
    assert abs(due - timedelta(minutes=240) - at(order["created_at"])) < timedelta(seconds=5)

    assert run(app, due - timedelta(seconds=1)) == {}
    assert run(app, due) == {"escalate:submitted": 1}
    got = loop.get(world.mgr_s1, order["id"])
    assert (got["status"], at(got["escalated_at"])) == ("submitted", due)
    # S1 dispatches; I1 (its parent) is told it is late, no one else.
    assert notes(app, "order.escalated") == {world.mgr_i1.id: 1}

    # Run again at the same moment: nothing more happens.
    assert run(app, due) == {}
    assert run(app, due + esc - timedelta(seconds=1)) == {}
    assert notes(app, "order.escalated") == {world.mgr_i1.id: 1}
    assert timeline(app, order["id"]) == [
        ("submit", None, "submitted"),
        ("escalate", "submitted", "submitted"),
    ]

    assert run(app, due + esc) == {"expire:submitted": 1}
    assert run(app, due + esc) == {}
    assert run(app, due + 10 * esc) == {}
    assert loop.get(world.resident, order["id"])["status"] == "expired"
    assert notes(app, "order.expired") == {world.resident.id: 1}
    assert notes(app, "order.escalated") == {world.mgr_i1.id: 1}
    assert timeline(app, order["id"]) == [
        ("submit", None, "submitted"),
        ("escalate", "submitted", "submitted"),
        ("expire", "submitted", "expired"),
    ]
    loop.dispatch_grab(world.mgr_s1, order["id"], status=409)


def test_a_center_that_dispatches_gets_the_orders_and_its_own_escalations(app, client, world, loop):
    r = client.patch(
        f"{API}/sites/{world.sites['C1']}/settings",
        json={"dispatch_level": "center"},
        headers=world.mgr_c1.headers,
    )
    assert r.status_code == 200, r.get_json()
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=6)
    order = loop.submit(world.resident, start=start)
    assert (order["site_id"], order["dispatch_site_id"]) == (world.sites["S1"], world.sites["C1"])
    run_worker(app)
    assert notes(app, "order.submitted") == {world.mgr_c1.id: 1}

    due, esc = at(order["dispatch_due_at"]), escalation(app)
    assert run(app, due) == {"escalate:submitted": 1}
    # A center has no parent: its own managers are told.
    assert notes(app, "order.escalated") == {world.mgr_c1.id: 1}

    # The station (and the institute between) may see the order but not dispatch it.
    with loop.at(due + timedelta(minutes=5)):
        loop.get(world.mgr_s1, order["id"])
        loop.dispatch_grab(world.mgr_s1, order["id"], status=404)
        loop.dispatch_grab(world.mgr_i1, order["id"], status=404)
        got = loop.dispatch_grab(world.mgr_c1, order["id"])
    assert (got["status"], got["escalated_at"], got["fill_due_at"]) == (
        "dispatched",
        None,
        order["start_at"],
    )

    # Dispatching ended the submitted state's lateness: the old escalation does not expire the pool;
    # the pool, now late itself, is escalated afresh.
    assert run(app, due + esc) == {"escalate:dispatched": 1}
    assert loop.get(world.mgr_c1, order["id"])["status"] == "dispatched"
    assert notes(app, "order.escalated") == {world.mgr_c1.id: 2}


# ---- dispatched ------------------------------------------------------------------------------------------


def test_a_pool_past_its_deadline_with_places_held_closes_with_those_volunteers(app, world, loop):
    order = loop.submit(world.resident)
    deadline = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=30)
    loop.dispatch_grab(world.mgr_s1, order["id"], capacity=3, deadline=deadline.isoformat())
    held = loop.grab(world.vol_s1, order["id"])

    assert run(app, deadline - timedelta(seconds=1)) == {}
    assert run(app, deadline) == {"close_pool": 1}
    assert run(app, deadline) == {}
    got = loop.get(world.mgr_s1, order["id"])
    assert (got["status"], got["capacity"], got["taken"], got["escalated_at"]) == ("staffed", 1, 1, None)
    assert timeline(app, order["id"])[-1] == ("close_pool", "dispatched", "staffed")
    assert notes(app, "order.filled", order["id"]) == {world.mgr_s1.id: 1}
    assert notes(app, "order.escalated") == {}
    assert assignment_states(app, order["id"]) == {world.vol_s1.id: "held"}
    # Nobody else can join the closed pool.
    vol2 = make_volunteer(app, world.sites["S1"], 21, "志愿者二")
    assert loop.grab(vol2, order["id"], status=409)["error"] == "order.full"
    assert held["status"] == "held"


def test_pools_and_offers_nobody_took_escalate_then_expire_and_the_offers_lapse(app, world, loop):
    vol2 = make_volunteer(app, world.sites["S1"], 21, "志愿者二")
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    pool = loop.submit(world.resident, start=start)
    pool = loop.dispatch_grab(world.mgr_s1, pool["id"], capacity=2)
    offered = loop.submit(world.resident, start=start)
    offered = loop.dispatch_assign(world.mgr_s1, offered["id"], [world.vol_s1.id, vol2.id], capacity=2)
    # Without a deadline given, both stay open until the service starts.
    assert pool["fill_due_at"] == pool["start_at"] and offered["fill_due_at"] == offered["start_at"]
    due, esc = at(pool["fill_due_at"]), escalation(app)

    assert run(app, due) == {"escalate:dispatched": 2}
    assert notes(app, "order.escalated") == {world.mgr_i1.id: 2}
    assert run(app, due + esc - timedelta(seconds=1)) == {}
    assert run(app, due + esc) == {"expire:dispatched": 2}
    assert run(app, due + esc) == {}

    for order in (pool, offered):
        assert loop.get(world.resident, order["id"])["status"] == "expired"
        assert [e[0] for e in timeline(app, order["id"])][-2:] == ["escalate", "expire"]
    assert notes(app, "order.expired") == {world.resident.id: 2}
    assert assignment_states(app, offered["id"]) == {world.vol_s1.id: "cancelled", vol2.id: "cancelled"}
    mine = loop.get(world.vol_s1, offered["id"])["my_assignment"]
    assert loop.act(world.vol_s1, mine["id"], "accept", status=409)["error"] == "order.bad_state"


def test_a_pool_filled_after_its_escalation_is_escalated_afresh_when_late_again(app, world, loop):
    """An escalation belongs to the state it was raised in: a pool that escalated empty, then got a
    volunteer and closed, is staffed anew, and a missed check-in is escalated before it expires."""
    vol2 = make_volunteer(app, world.sites["S1"], 21, "志愿者二")
    order = loop.submit(world.resident)
    deadline = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=30)
    loop.dispatch_assign(
        world.mgr_s1, order["id"], [world.vol_s1.id, vol2.id], capacity=2, deadline=deadline.isoformat()
    )
    assert run(app, deadline) == {"escalate:dispatched": 1}
    mine = loop.get(world.vol_s1, order["id"])["my_assignment"]
    loop.act(world.vol_s1, mine["id"], "accept")  # late, but welcome
    assert run(app, deadline + timedelta(minutes=1)) == {"close_pool": 1}
    got = loop.get(world.mgr_s1, order["id"])
    assert (got["status"], got["escalated_at"]) == ("staffed", None)

    checkin_due = at(got["checkin_due_at"])
    assert run(app, checkin_due) == {"escalate:staffed": 1}
    assert run(app, checkin_due + escalation(app)) == {"expire:staffed": 1}


# ---- staffed, in service, completed ----------------------------------------------------------------------


def test_a_staffed_order_nobody_came_to_expires_and_its_holders_are_no_shows(app, world, loop):
    order = loop.submit(world.resident)
    loop.dispatch_grab(world.mgr_s1, order["id"], capacity=1)
    held = loop.grab(world.vol_s1, order["id"])
    got = loop.get(world.mgr_s1, order["id"])
    assert got["status"] == "staffed"
    due, esc = at(got["checkin_due_at"]), escalation(app)
    assert due == at(got["start_at"]) + timedelta(minutes=30)  # checkin_grace_minutes

    assert run(app, due - timedelta(seconds=1)) == {}
    assert run(app, due) == {"escalate:staffed": 1}
    assert notes(app, "order.escalated") == {world.mgr_i1.id: 1}
    assert run(app, due + esc) == {"expire:staffed": 1}
    assert run(app, due + esc) == {}

    assert loop.get(world.resident, order["id"])["status"] == "expired"
    assert notes(app, "order.expired") == {world.resident.id: 1}
    mine = loop.get(world.vol_s1, order["id"])["my_assignment"]
    assert (mine["id"], mine["status"], mine["minutes_computed"]) == (held["id"], "no_show", 0)
    assert [e[0] for e in timeline(app, order["id"])] == ["submit", "dispatch", "grab", "escalate", "expire"]


def test_late_check_out_and_late_audit_are_escalated_never_expired_and_the_rating_lapses(app, world, loop):
    order = loop.submit(world.resident)
    loop.dispatch_grab(world.mgr_s1, order["id"], capacity=1)
    held = loop.grab(world.vol_s1, order["id"])
    start, esc = at(order["start_at"]), escalation(app)
    with loop.at(start):
        loop.act(world.vol_s1, held["id"], "check-in", NEAR)
    got = loop.get(world.mgr_s1, order["id"])
    checkout_due = at(got["checkout_due_at"])
    assert (got["status"], checkout_due) == ("in_service", at(got["end_at"]) + timedelta(minutes=30))

    assert run(app, checkout_due - timedelta(seconds=1)) == {}
    assert run(app, checkout_due) == {"escalate:in_service": 1}
    assert run(app, checkout_due + 10 * esc) == {}  # work was done: it never expires
    got = loop.get(world.mgr_s1, order["id"])
    assert (got["status"], at(got["escalated_at"])) == ("in_service", checkout_due)
    assert notes(app, "order.escalated") == {world.mgr_i1.id: 1}

    closed_at = checkout_due + 11 * esc
    with loop.at(closed_at):
        loop.act(world.mgr_s1, held["id"], "close", {"reason": "忘记签退"})
    got = loop.get(world.mgr_s1, order["id"])
    assert (got["status"], got["escalated_at"], at(got["completed_at"])) == ("completed", None, closed_at)
    rating_due, audit_due = at(got["rating"]["due_at"]), at(got["audit_due_at"])
    assert (rating_due, audit_due) == (closed_at + timedelta(hours=72), closed_at + timedelta(hours=168))

    assert run(app, rating_due - timedelta(seconds=1)) == {}
    assert run(app, rating_due) == {"rating_lapsed": 1}
    assert run(app, rating_due) == {}
    assert loop.get(world.resident, order["id"])["rating"]["state"] == "unrated"
    lapsed = loop.call("POST", f"/orders/{order['id']}/rating", world.resident, {"stars": 5}, status=409)
    assert lapsed["error"] == "rating.closed"

    assert run(app, audit_due) == {"escalate:completed": 1}
    assert run(app, audit_due + 100 * esc) == {}
    assert loop.get(world.mgr_s1, order["id"])["status"] == "completed"
    assert notes(app, "order.escalated") == {world.mgr_i1.id: 2}
    assert timeline(app, order["id"]) == [
        ("submit", None, "submitted"),
        ("dispatch", "submitted", "dispatched"),
        ("grab", "dispatched", "staffed"),
        ("check_in", "staffed", "in_service"),
        ("escalate", "in_service", "in_service"),
        ("close_attendance", "in_service", "completed"),
        ("rating_lapsed", "completed", "completed"),
        ("escalate", "completed", "completed"),
    ]
    # The audit is still welcome, late.
    with loop.at(audit_due + timedelta(hours=1)):
        audited = loop.call("POST", f"/orders/{order['id']}/audit", world.mgr_s1, {"confirm_computed": True})
    assert audited["status"] == "closed"


# ---- reminders --------------------------------------------------------------------------------------------


def test_holders_are_reminded_once_when_their_service_is_near(app, world, loop):
    vol2 = make_volunteer(app, world.sites["S1"], 21, "志愿者二")
    soon = loop.submit(world.resident)
    loop.dispatch_grab(world.mgr_s1, soon["id"], capacity=3)
    loop.grab(world.vol_s1, soon["id"])
    loop.grab(vol2, soon["id"])
    later_start = at(soon["start_at"]) + timedelta(hours=3)
    later = loop.submit(world.resident, start=later_start)
    loop.dispatch_grab(world.mgr_s1, later["id"], capacity=1)
    loop.grab(world.vol_s1, later["id"])
    waiting = loop.submit(world.resident)  # submitted: nobody holds it
    ahead = timedelta(minutes=app.config["APP"]["order_reminder_minutes"])
    start = at(soon["start_at"])

    assert run(app, start - ahead - timedelta(seconds=1)) == {}
    assert run(app, start - ahead) == {"reminded": 1}
    assert notes(app, "order.reminder", soon["id"]) == {world.vol_s1.id: 1, vol2.id: 1}
    assert run(app, start - ahead) == {}
    assert run(app, start - timedelta(minutes=1)) == {}
    assert notes(app, "order.reminder") == {world.vol_s1.id: 1, vol2.id: 1}
    # A reminder is not a change of state: no timeline event.
    assert [e[0] for e in timeline(app, soon["id"])] == ["submit", "dispatch", "grab", "grab"]

    assert run(app, later_start - ahead)["reminded"] == 1  # (the first order is late by then)
    assert notes(app, "order.reminder", later["id"]) == {world.vol_s1.id: 1}
    assert notes(app, "order.reminder", waiting["id"]) == {}


# ---- the command ------------------------------------------------------------------------------------------


def test_the_command_applies_what_is_due_now_in_batches(app, world, loop):
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    with loop.at(datetime.now(UTC) - timedelta(hours=5)):  # dispatch was due an hour ago
        late = [loop.submit(world.resident, start=start)["id"] for _ in range(3)]
    on_time = loop.submit(world.resident, start=start)["id"]
    runner = app.test_cli_runner()

    result = runner.invoke(args=["orders", "apply-deadlines", "--batch", "2"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "escalate:submitted: 3"
    for order_id in late:
        assert [e[0] for e in timeline(app, order_id)] == ["submit", "escalate"]
    assert [e[0] for e in timeline(app, on_time)] == ["submit"]

    result = runner.invoke(args=["orders", "apply-deadlines"])
    assert (result.exit_code, result.output.strip()) == (0, "nothing due")
    assert notes(app, "order.escalated") == {world.mgr_i1.id: 3}
