"""转派 / 上报 (orders/handover.py): passing an order on to a sibling station (its managers accept or
decline; the requester may cancel while pending) or up to the parent site (at once), and the orders'
reach afterwards (orders/common.py): the new holder acts, the sites it left only read.

World (tests/support.py): C1 → I1 → (S1, S2), C1 → I2 → S3; C2 → I3 → S4. The resident lives at S1.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.api.helpers import assert_error
from tests.orders.conftest import timeline
from tests.race import race
from tests.workbench.conftest import set_order
from volunteer_app.attendance.models import Assignment
from volunteer_app.extensions import db
from volunteer_app.notifications.models import Notification
from volunteer_app.orders.deadlines import apply_deadlines
from volunteer_app.orders.models import Order, OrderEvent, OrderHandover

API = "/api/v1"
REASON = "本站人手不足"


def handover(loop, manager, order_id: int, to_site_id: int, status: int = 201) -> dict:
    body = {"to_site_id": to_site_id, "reason": REASON}
    return loop.call("POST", f"/orders/{order_id}/handovers", manager, body, status)


def settle(loop, manager, handover_id: int, action: str, status: int = 200, body=None) -> dict:
    return loop.call("POST", f"/handovers/{handover_id}/{action}", manager, body, status)


def told(app, kind: str) -> Counter:
    """Who got notifications of `kind`: user id → how many."""
    with app.app_context():
        return Counter(db.session.scalars(select(Notification.user_id).where(Notification.kind == kind)))


def order_row(app, order_id: int) -> Order:
    with app.app_context():
        order = db.session.get(Order, order_id)
        db.session.expunge(order)
        return order


def events(app, order_id: int | None = None) -> int:
    with app.app_context():
        stmt = select(func.count()).select_from(OrderEvent)
        if order_id is not None:
            stmt = stmt.where(OrderEvent.order_id == order_id)
        return db.session.scalar(stmt)


def set_dispatch_within(client, world, code: str, minutes: int) -> None:
    r = client.patch(
        f"{API}/sites/{world.sites[code]}/settings",
        json={"dispatch_within_minutes": minutes},
        headers=world.admin.headers,
    )
    assert r.status_code == 200, r.get_json()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


# ---- 转派: asked, accepted ------------------------------------------------------------------------


def test_a_transfer_accepted_moves_the_order_and_its_deadline_to_the_sibling(app, client, world, loop):
    set_dispatch_within(client, world, "S2", 90)
    order = loop.submit(world.resident)
    order_id = order["id"]
    set_order(app, order_id, escalated_at=datetime.now(UTC))  # late at S1 already
    asked = handover(loop, world.mgr_s1, order_id, world.sites["S2"])
    assert (asked["kind"], asked["status"], asked["from_site_id"], asked["to_site_id"]) == (
        "transfer",
        "pending",
        world.sites["S1"],
        world.sites["S2"],
    )
    assert told(app, "order.handover_requested") == {world.mgr_s2.id: 1}
    # Pending: S1 still holds it; S2 reads it (to decide) but may not act yet.
    assert loop.get(world.mgr_s2, order_id)["dispatch_site_id"] == world.sites["S1"]
    loop.dispatch_grab(world.mgr_s2, order_id, status=404)
    assert timeline(app, order_id) == [("submit", None, "submitted")]

    before = datetime.now(UTC).replace(microsecond=0)
    done = settle(loop, world.mgr_s2, asked["id"], "accept")
    assert (done["status"], done["decided_by_id"]) == ("accepted", world.mgr_s2.id)
    row = order_row(app, order_id)
    assert (row.status, row.dispatch_site_id, row.site_id, row.escalated_at) == (
        "submitted",
        world.sites["S2"],
        world.sites["S1"],
        None,
    )
    # The new holder's deadline: S2's 90 minutes from the hop.
    assert before + timedelta(minutes=89) <= row.dispatch_due_at <= datetime.now(UTC) + timedelta(minutes=91)
    assert timeline(app, order_id)[-1] == ("hand_over", "submitted", "submitted")
    assert told(app, "order.handed_over") == {world.resident.id: 1, world.mgr_s1.id: 1}

    # The old station reads the order, its timeline and the hop; it no longer acts on it.
    seen = loop.get(world.mgr_s1, order_id)
    assert [(h["kind"], h["status"]) for h in seen["handovers"]] == [("transfer", "accepted")]
    assert seen["resident"]["phone"] == loop.get(world.mgr_s2, order_id)["resident"]["phone"]
    hop = loop.events(world.mgr_s1, order_id)[-1]
    assert hop["action"] == "hand_over" and REASON in hop["note"]
    loop.dispatch_grab(world.mgr_s1, order_id, status=404)
    loop.call("POST", f"/orders/{order_id}/reject", world.mgr_s1, {"reason": "x"}, 404)
    loop.call("POST", f"/orders/{order_id}/cancel", world.mgr_s1, {"reason": "x"}, 404)
    handover(loop, world.mgr_s1, order_id, world.sites["I1"], status=404)
    # The resident sees the order, not the handovers; the institute above both still acts.
    assert loop.get(world.resident, order_id)["handovers"] == []
    # The new holder dispatches, and the managers' queues follow the holder.
    queue = f"/orders?need=review&site_id={world.sites['S2']}"
    assert [o["id"] for o in loop.call("GET", queue, world.mgr_s2)["items"]] == [order_id]
    queue = f"/orders?need=review&site_id={world.sites['S1']}"
    assert loop.call("GET", queue, world.mgr_s1)["items"] == []
    assert loop.dispatch_grab(world.mgr_s2, order_id, capacity=1)["status"] == "dispatched"
    # Both stations list it: incoming at S2, outgoing at S1.
    incoming = loop.call("GET", f"/sites/{world.sites['S2']}/handovers?direction=incoming", world.mgr_s2)
    outgoing = loop.call("GET", f"/sites/{world.sites['S1']}/handovers?direction=outgoing", world.mgr_s1)
    assert [h["id"] for h in incoming["items"]] == [h["id"] for h in outgoing["items"]] == [asked["id"]]
    path = f"/sites/{world.sites['S1']}/handovers?direction=incoming"
    assert loop.call("GET", path, world.mgr_s1)["items"] == []
    path = f"/sites/{world.sites['S2']}/handovers?status=declined"
    assert loop.call("GET", path, world.mgr_s2)["items"] == []


def test_the_new_holder_audits_and_closes_attendance_the_old_does_not(app, world, loop):
    order_id = loop.submit(world.resident)["id"]
    asked = handover(loop, world.mgr_s1, order_id, world.sites["S2"])
    settle(loop, world.mgr_s2, asked["id"], "accept")
    # S2 offers it to S1's volunteer? Not theirs: S2 offers only its own volunteers (422).
    loop.dispatch_assign(world.mgr_s2, order_id, [world.vol_s1.id], status=422)
    loop.dispatch_grab(world.mgr_s2, order_id, capacity=1)
    held = loop.grab(world.vol_s1, order_id)["id"]
    loop.act(world.mgr_s1, held, "no-show", {"reason": "未到场"}, status=404)
    loop.act(world.mgr_s2, held, "no-show", {"reason": "未到场"})


# ---- declined, cancelled ---------------------------------------------------------------------------


def test_a_declined_transfer_leaves_the_order_where_it_was(app, world, loop):
    order_id = loop.submit(world.resident)["id"]
    before = order_row(app, order_id)
    asked = handover(loop, world.mgr_s1, order_id, world.sites["S2"])
    settle(loop, world.mgr_s1, asked["id"], "decline", status=404, body={"reason": "x"})  # not the receiver
    done = settle(loop, world.mgr_s2, asked["id"], "decline", body={"reason": "本站也无人"})
    assert (done["status"], done["decision_note"]) == ("declined", "本站也无人")
    assert told(app, "order.handover_declined") == {world.mgr_s1.id: 1}
    after = order_row(app, order_id)
    assert (after.dispatch_site_id, after.dispatch_due_at) == (
        before.dispatch_site_id,
        before.dispatch_due_at,
    )
    assert events(app, order_id) == 1
    loop.get(world.mgr_s2, order_id, status=404)  # a declined receiver keeps nothing
    settle(loop, world.mgr_s2, asked["id"], "accept", status=409)
    # Asked again (or referred up), a new handover may be made.
    handover(loop, world.mgr_s1, order_id, world.sites["I1"])
    assert order_row(app, order_id).dispatch_site_id == world.sites["I1"]


def test_a_cancelled_request_can_no_longer_be_accepted(app, world, loop):
    order_id = loop.submit(world.resident)["id"]
    asked = handover(loop, world.mgr_s1, order_id, world.sites["S2"])
    settle(loop, world.mgr_s2, asked["id"], "cancel", status=404)  # the receiver does not cancel
    assert settle(loop, world.mgr_s1, asked["id"], "cancel")["status"] == "cancelled"
    r = loop.client.post(f"{API}/handovers/{asked['id']}/accept", headers=world.mgr_s2.headers)
    assert_error(r, 409, "handover.not_pending")
    settle(loop, world.mgr_s1, asked["id"], "cancel", status=409)
    assert order_row(app, order_id).dispatch_site_id == world.sites["S1"]
    assert events(app, order_id) == 1
    loop.get(world.mgr_s2, order_id, status=404)


# ---- 上报 ------------------------------------------------------------------------------------------


def test_a_referral_up_happens_at_once_and_the_deadline_job_escalates_above_the_new_holder(
    app, client, world, loop
):
    set_dispatch_within(client, world, "I1", 240)
    order = loop.submit(world.resident)
    order_id = order["id"]
    old_due = at(order["dispatch_due_at"])
    # Late at the station: escalated to the institute (S1's parent).
    with app.app_context():
        assert apply_deadlines(now=old_due) == {"escalate:submitted": 1}
    assert told(app, "order.escalated") == {world.mgr_i1.id: 1}

    done = handover(loop, world.mgr_s1, order_id, world.sites["I1"])
    assert (done["kind"], done["status"], done["decided_by_id"]) == ("refer_up", "accepted", world.mgr_s1.id)
    assert told(app, "order.referred_up") == {world.mgr_i1.id: 1}
    assert told(app, "order.handed_over") == {world.resident.id: 1}
    row = order_row(app, order_id)
    assert (row.dispatch_site_id, row.escalated_at) == (world.sites["I1"], None)
    new_due = row.dispatch_due_at
    assert new_due >= datetime.now(UTC) + timedelta(minutes=239)
    # The old deadline no longer applies; the new one escalates to C1 (the institute's parent).
    with app.app_context():
        assert apply_deadlines(now=new_due - timedelta(minutes=1)) == {}
        assert apply_deadlines(now=new_due) == {"escalate:submitted": 1}
    assert told(app, "order.escalated") == {world.mgr_i1.id: 1, world.mgr_c1.id: 1}
    # The station reads it, does not act; an institute does not pass orders on.
    loop.get(world.mgr_s1, order_id)
    loop.dispatch_grab(world.mgr_s1, order_id, status=404)
    r = loop.client.post(
        f"{API}/orders/{order_id}/handovers",
        json={"to_site_id": world.sites["C1"], "reason": REASON},
        headers=world.mgr_i1.headers,
    )
    assert_error(r, 422, "handover.not_station")
    assert loop.dispatch_grab(world.mgr_i1, order_id, capacity=1)["status"] == "dispatched"


def test_a_dispatched_order_nobody_holds_is_submitted_again_with_its_offers_ended(app, world, loop):
    pool = loop.submit(world.resident)["id"]
    loop.dispatch_grab(world.mgr_s1, pool, capacity=2)
    handover(loop, world.mgr_s1, pool, world.sites["I1"])
    row = order_row(app, pool)
    assert (row.status, row.mode, row.capacity, row.fill_due_at, row.dispatched_by_id) == (
        "submitted",
        None,
        0,
        None,
        None,
    )
    assert timeline(app, pool)[-1] == ("hand_over", "dispatched", "submitted")
    loop.grab(world.vol_s1, pool, status=404)  # no longer an open pool

    offered = loop.submit(world.resident)["id"]
    offer = loop.dispatch_assign(world.mgr_s1, offered, [world.vol_s1.id])["assignments"][0]["assignment"]
    asked = handover(loop, world.mgr_s1, offered, world.sites["S2"])
    settle(loop, world.mgr_s2, asked["id"], "accept")
    with app.app_context():
        assert db.session.get(Assignment, offer["id"]).status == "cancelled"
    loop.act(world.vol_s1, offer["id"], "accept", status=409)
    assert order_row(app, offered).status == "submitted"


def test_an_accept_is_refused_when_the_order_moved_on_meanwhile(app, world, loop):
    """Pending while S1 still holds it: S1 dispatched and a volunteer grabbed; the accept is 409 and
    nothing changes; S2 declines instead."""
    order_id = loop.submit(world.resident)["id"]
    asked = handover(loop, world.mgr_s1, order_id, world.sites["S2"])
    loop.dispatch_grab(world.mgr_s1, order_id, capacity=2)
    loop.grab(world.vol_s1, order_id)
    count = events(app, order_id)
    r = loop.client.post(f"{API}/handovers/{asked['id']}/accept", headers=world.mgr_s2.headers)
    assert_error(r, 409, "handover.held")
    assert (events(app, order_id), order_row(app, order_id).dispatch_site_id) == (count, world.sites["S1"])
    settle(loop, world.mgr_s2, asked["id"], "decline", body={"reason": "已有人接单"})


# ---- refusals --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "to",
    ["S3", "S4", "S1", "C1", "I2", 10**9],
    ids=["not-a-sibling", "another-institute", "itself", "the-center", "another-institute-site", "absent"],
)
def test_only_a_sibling_station_or_the_parent(app, world, loop, to):
    order_id = loop.submit(world.resident)["id"]
    to_site_id = world.sites[to] if isinstance(to, str) else to
    r = loop.client.post(
        f"{API}/orders/{order_id}/handovers",
        json={"to_site_id": to_site_id, "reason": REASON},
        headers=world.mgr_s1.headers,
    )
    assert_error(r, 422, "handover.bad_target")
    assert r.get_json()["errors"]["json"]["to_site_id"]
    assert events(app, order_id) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OrderHandover)) == 0


def test_a_centers_order_is_not_passed_on(app, client, world, loop):
    r = client.patch(
        f"{API}/sites/{world.sites['C1']}/settings",
        json={"dispatch_level": "center"},
        headers=world.mgr_c1.headers,
    )
    assert r.status_code == 200
    order_id = loop.submit(world.resident)["id"]
    handover(loop, world.mgr_s1, order_id, world.sites["S2"], status=404)  # S1 does not dispatch it
    r = loop.client.post(
        f"{API}/orders/{order_id}/handovers",
        json={"to_site_id": world.sites["I1"], "reason": REASON},
        headers=world.mgr_c1.headers,
    )
    assert_error(r, 422, "handover.not_station")


def test_one_pending_at_a_time_and_only_in_the_states_the_table_allows(app, world, loop):
    order_id = loop.submit(world.resident)["id"]
    handover(loop, world.mgr_s1, order_id, world.sites["S2"])
    for to in ("S2", "I1"):
        r = loop.client.post(
            f"{API}/orders/{order_id}/handovers",
            json={"to_site_id": world.sites[to], "reason": REASON},
            headers=world.mgr_s1.headers,
        )
        assert_error(r, 409, "handover.pending")
    # A place held: 409 handover.held; cancelled: 409 order.bad_state (before the body is looked at).
    held = loop.submit(world.resident)["id"]
    loop.dispatch_grab(world.mgr_s1, held, capacity=2)
    loop.grab(world.vol_s1, held)
    cancelled = loop.submit(world.resident)["id"]
    loop.call("POST", f"/orders/{cancelled}/cancel", world.resident, {"reason": "不需要了"})
    for order, error in ((held, "handover.held"), (cancelled, "order.bad_state")):
        count = events(app)
        r = loop.client.post(
            f"{API}/orders/{order}/handovers",
            json={"to_site_id": world.sites["S3"], "reason": REASON},
            headers=world.mgr_s1.headers,
        )
        assert_error(r, 409, error)
        assert events(app) == count


# ---- races -----------------------------------------------------------------------------------------


def _pending(loop, world) -> tuple[int, int]:
    order_id = loop.submit(world.resident)["id"]
    return order_id, handover(loop, world.mgr_s1, order_id, world.sites["S2"])["id"]


def test_two_accepts_at_once_one_wins(app, world, loop):
    order_id, handover_id = _pending(loop, world)

    def accept(person):
        return lambda c: c.post(f"{API}/handovers/{handover_id}/accept", headers=person.headers)

    responses = race(app, [accept(world.mgr_s2), accept(world.mgr_i1)])
    assert sorted(r.status_code for r in responses) == [200, 409]
    assert [r.get_json()["error"] for r in responses if r.status_code == 409] == ["handover.not_pending"]
    assert [e for e in timeline(app, order_id) if e[0] == "hand_over"] == [
        ("hand_over", "submitted", "submitted")
    ]
    assert told(app, "order.handed_over")[world.resident.id] == 1


def test_accept_and_cancel_at_once_one_wins(app, world, loop):
    order_id, handover_id = _pending(loop, world)
    responses = race(
        app,
        [
            lambda c: c.post(f"{API}/handovers/{handover_id}/accept", headers=world.mgr_s2.headers),
            lambda c: c.post(f"{API}/handovers/{handover_id}/cancel", headers=world.mgr_s1.headers),
        ],
    )
    assert sorted(r.status_code for r in responses) == [200, 409]
    accepted = responses[0].status_code == 200
    with app.app_context():
        status = db.session.get(OrderHandover, handover_id).status
    assert status == ("accepted" if accepted else "cancelled")
    hops = [e for e in timeline(app, order_id) if e[0] == "hand_over"]
    assert len(hops) == (1 if accepted else 0)
    expected = world.sites["S2"] if accepted else world.sites["S1"]
    assert order_row(app, order_id).dispatch_site_id == expected


def test_two_requests_at_once_one_is_pending(app, world, loop):
    order_id = loop.submit(world.resident)["id"]
    body = {"to_site_id": world.sites["S2"], "reason": REASON}
    responses = race(
        app,
        [
            lambda c: c.post(f"{API}/orders/{order_id}/handovers", json=body, headers=world.mgr_s1.headers),
            lambda c: c.post(f"{API}/orders/{order_id}/handovers", json=body, headers=world.mgr_i1.headers),
        ],
    )
    assert sorted(r.status_code for r in responses) == [201, 409]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OrderHandover)) == 1


def test_the_pages_offer_the_old_station_nothing_and_the_new_holder_everything(app, world, loop):
    """orders.queries.manager_actions (what the console's order page offers) reads the same reach."""
    from types import SimpleNamespace

    from volunteer_app.orders.queries import manager_actions
    from volunteer_app.sites.models import Site

    order_id = loop.submit(world.resident)["id"]
    asked = handover(loop, world.mgr_s1, order_id, world.sites["S2"])
    settle(loop, world.mgr_s2, asked["id"], "accept")
    with app.app_context():
        paths = {code: db.session.get(Site, world.sites[code]).path for code in ("S1", "S2", "I1")}
        who = {c: SimpleNamespace(is_admin=False, manager_paths=(p,)) for c, p in paths.items()}
        order = db.session.get(Order, order_id)
        offered = {c: {a for a, yes in manager_actions(order, w).items() if yes} for c, w in who.items()}
    assert offered == {
        "S1": set(),
        "S2": {"reject", "dispatch", "cancel"},
        "I1": {"reject", "dispatch", "cancel"},
    }
