"""点单 and 派单 through the API: routing, proxy orders, reading by scope, offers, grabs, cancelling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import select

from tests.api.helpers import assert_error
from tests.orders.conftest import NEAR, order_body, run_worker
from tests.support import headers_now, make_user, make_volunteer
from volunteer_app.accounts.models import User
from volunteer_app.attendance.models import Assignment
from volunteer_app.extensions import db
from volunteer_app.orders.models import Order


def kinds(loop, person) -> list[str]:
    """The kinds of the person's notifications, newest first."""
    return [n["kind"] for n in loop.call("GET", "/me/notifications?limit=100", person)["items"]]


def notes_of(loop, person, kind: str, order_id: int) -> list[dict]:
    items = loop.call("GET", "/me/notifications?limit=100", person)["items"]
    return [n for n in items if n["kind"] == kind and n["order_id"] == order_id]


def post(client, path: str, person, body=None, headers=None):
    return client.post(f"/api/v1{path}", json=body, headers={**person.headers, **(headers or {})})


def assignment_statuses(app, order_id: int) -> dict[int, str]:
    with app.app_context():
        rows = db.session.execute(
            select(Assignment.volunteer_id, Assignment.status).where(Assignment.order_id == order_id)
        ).all()
    return dict(rows)


# ---- 点单 ------------------------------------------------------------------------------------------


def test_resident_order_routes_to_home_station_and_notifies_its_managers(app, world, loop):
    detail = loop.submit(world.resident)
    order = detail
    assert order["site_id"] == world.sites["S1"]
    assert order["dispatch_site_id"] == world.sites["S1"]
    assert order["status"] == "submitted" and order["proxy_id"] is None
    assert detail["resident"]["id"] == world.resident.id
    assert detail["resident"]["phone"] == world.resident.phone  # the resident sees their own phone
    assert not notes_of(loop, world.mgr_s1, "order.submitted", order["id"])  # queued with the order
    run_worker(app)  # which writes the managers' notice just after the commit
    submitted = notes_of(loop, world.mgr_s1, "order.submitted", order["id"])
    assert len(submitted) == 1
    # Only the dispatching site's own managers are told, not those of another station or above.
    assert "order.submitted" not in kinds(loop, world.mgr_s2)
    assert "order.submitted" not in kinds(loop, world.mgr_i1)
    events = loop.events(world.resident, order["id"])
    assert [(e["action"], e["from"], e["to"], e["actor_id"]) for e in events] == [
        ("submit", None, "submitted", world.resident.id)
    ]


def test_resident_without_home_station_is_routed_to_the_nearest_station(app, world, loop):
    drifter = make_user(app, name="无站居民")
    near_s2 = loop.submit(drifter, lat=30.2801, lng=120.1799)
    assert near_s2["site_id"] == world.sites["S2"]
    near_s3 = loop.submit(drifter, lat=30.2099, lng=120.1101)
    assert near_s3["site_id"] == world.sites["S3"]
    run_worker(app)
    assert notes_of(loop, world.mgr_s2, "order.submitted", near_s2["id"])
    assert not notes_of(loop, world.mgr_s1, "order.submitted", near_s2["id"])


def test_proxy_order_for_an_unregistered_phone_creates_the_resident(app, client, world, loop):
    body = {
        **order_body(app),
        "resident_phone": "13612345678",
        "resident_name": "王奶奶",
        "site_id": world.sites["S1"],
    }
    detail = loop.call("POST", "/orders", world.mgr_s1, body, 201)
    order = detail
    assert order["proxy_id"] == world.mgr_s1.id
    assert order["site_id"] == world.sites["S1"]
    assert detail["resident"]["name"] == "王奶奶"
    assert detail["resident"]["phone"] == "+8613612345678"  # the manager in reach sees it in full
    with app.app_context():
        resident = db.session.scalars(select(User).where(User.phone == "+8613612345678")).one()
        resident_id = resident.id
        assert resident.name == "王奶奶" and resident.home_site_id == world.sites["S1"]
        stored = db.session.get(Order, order["id"])
        assert (stored.resident_id, stored.proxy_id) == (resident_id, world.mgr_s1.id)
    assert detail["resident"]["id"] == resident_id
    (submit,) = loop.events(world.mgr_s1, order["id"])
    assert (submit["action"], submit["actor_id"], submit["proxy_id"]) == (
        "submit",
        world.mgr_s1.id,
        world.mgr_s1.id,
    )

    # The resident logs in later (no login round trip here) and finds the order as theirs.
    mine = client.get("/api/v1/orders?scope=mine", headers=headers_now(app, resident_id))
    assert mine.status_code == 200
    assert [o["id"] for o in mine.get_json()["items"]] == [order["id"]]

    # A second proxy order for the same phone finds the same person, not a new one.
    again = loop.call("POST", "/orders", world.mgr_s1, body, 201)
    assert again["resident"]["id"] == resident_id


def test_proxy_order_for_a_registered_resident_uses_their_home_station(app, world, loop):
    body = {**order_body(app), "resident_phone": world.resident.phone, "resident_name": "居民"}
    order = loop.call("POST", "/orders", world.mgr_i1, body, 201)
    assert order["site_id"] == world.sites["S1"]
    assert order["proxy_id"] == world.mgr_i1.id
    mine = loop.call("GET", "/orders?scope=mine", world.resident)["items"]
    assert [o["id"] for o in mine] == [order["id"]]


def test_proxy_order_refused_for_non_managers_and_out_of_reach(app, client, world, loop):
    body = {**order_body(app), "resident_phone": "13612345679", "resident_name": "李爷爷"}
    # A resident or a volunteer cannot order for someone else.
    for person in (world.resident, world.vol_s1):
        resp = post(client, "/orders", person, {**body, "site_id": world.sites["S1"]})
        assert "resident_phone" in assert_error(resp, 422)["errors"]["json"]
    # A station out of the manager's reach (another center's, or a sibling station).
    for site in ("S4", "S2"):
        resp = post(client, "/orders", world.mgr_s1, {**body, "site_id": world.sites[site]})
        assert "site_id" in assert_error(resp, 422)["errors"]["json"]
    # A registered resident whose home station is out of reach.
    outsider = make_user(app, name="外区居民", home_site_id=world.sites["S4"])
    resp = post(client, "/orders", world.mgr_s1, {**body, "resident_phone": outsider.phone})
    assert "site_id" in assert_error(resp, 422)["errors"]["json"]
    # A proxy order needs both the phone and the name.
    resp = post(
        client, "/orders", world.mgr_s1, {**body, "resident_name": None, "site_id": world.sites["S1"]}
    )
    assert resp.status_code == 422
    with app.app_context():
        assert db.session.scalar(select(User.id).where(User.phone == "+8613612345679")) is None
        assert db.session.scalars(select(Order)).all() == []


def test_order_window_is_validated(app, client, world):
    now = datetime.now(UTC).replace(microsecond=0)
    cases = {
        "end_at": order_body(app, start=now + timedelta(hours=2), minutes=-30),
        "start_at": order_body(app, start=now - timedelta(hours=1)),
    }
    for field, body in cases.items():
        resp = post(client, "/orders", world.resident, body)
        assert field in assert_error(resp, 422)["errors"]["json"]
    too_long = order_body(app, minutes=13 * 60)
    assert "end_at" in assert_error(post(client, "/orders", world.resident, too_long), 422)["errors"]["json"]


# ---- reading: scopes, paging, masking ---------------------------------------------------------------


def test_list_scopes_status_filter_and_paging_newest_first(app, client, world, loop):
    other = make_user(app, name="另一位居民", home_site_id=world.sites["S1"])
    s4_resident = make_user(app, name="外区居民", home_site_id=world.sites["S4"])
    ids = [loop.submit(world.resident)["id"] for _ in range(5)]
    other_id = loop.submit(other)["id"]
    s4_id = loop.submit(s4_resident)["id"]
    loop.dispatch_grab(world.mgr_s1, ids[1], capacity=2)
    loop.dispatch_grab(world.mgr_s1, ids[3], capacity=1)
    loop.grab(world.vol_s1, ids[3])  # the only place: staffed

    # mine: only what I ordered, newest first, page by page.
    seen, cursor = [], None
    while True:
        page = loop.call(
            "GET", f"/orders?scope=mine&limit=2{f'&cursor={cursor}' if cursor else ''}", world.resident
        )
        assert len(page["items"]) <= 2
        seen += [o["id"] for o in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)

    # assigned: the orders I serve.
    assigned = loop.call("GET", "/orders?scope=assigned", world.vol_s1)["items"]
    assert [o["id"] for o in assigned] == [ids[3]]
    # managed: the sites I manage (the default for staff).
    managed = loop.call("GET", "/orders", world.mgr_s1)["items"]
    assert [o["id"] for o in managed] == sorted([*ids, other_id], reverse=True)
    assert [o["id"] for o in loop.call("GET", "/orders?scope=managed", world.mgr_c1)["items"]] == sorted(
        [*ids, other_id], reverse=True
    )
    assert [o["id"] for o in loop.call("GET", "/orders", world.mgr_s4)["items"]] == [s4_id]
    assert loop.call("GET", "/orders", world.mgr_s2)["items"] == []
    # A resident asking for "managed" sees nothing.
    assert loop.call("GET", "/orders?scope=managed", world.resident)["items"] == []
    # status filter
    dispatched = loop.call("GET", "/orders?status=dispatched", world.mgr_s1)["items"]
    assert [o["id"] for o in dispatched] == [ids[1]]
    staffed = loop.call("GET", "/orders?scope=assigned&status=staffed", world.vol_s1)["items"]
    assert [o["id"] for o in staffed] == [ids[3]]
    waiting = loop.call("GET", "/orders?scope=mine&status=submitted", world.resident)["items"]
    assert [o["id"] for o in waiting] == [ids[4], ids[2], ids[0]]
    assert_error(client.get("/api/v1/orders?status=nonsense", headers=world.resident.headers), 422)
    assert_error(client.get("/api/v1/orders?scope=everything", headers=world.resident.headers), 422)


def test_detail_masks_phone_and_shows_assignments_by_role(app, client, world, loop):
    vol2 = make_volunteer(app, world.sites["S1"], 21, "志愿者二")
    order_id = loop.submit(world.resident)["id"]
    loop.dispatch_grab(world.mgr_s1, order_id, capacity=2)
    a1 = loop.grab(world.vol_s1, order_id)
    a2 = loop.grab(vol2, order_id)
    masked = world.resident.phone[:-8] + "****" + world.resident.phone[-4:]

    as_volunteer = loop.get(world.vol_s1, order_id)
    assert as_volunteer["resident"]["phone"] == masked
    assert as_volunteer["my_assignment"]["id"] == a1["id"]
    assert as_volunteer["my_assignment"]["status"] == "held"
    assert as_volunteer["assignments"] == []  # a volunteer sees only their own

    for manager in (world.mgr_s1, world.mgr_i1, world.mgr_c1):
        as_manager = loop.get(manager, order_id)
        assert as_manager["resident"]["phone"] == world.resident.phone
        lines = {line["assignment"]["id"]: line["volunteer_name"] for line in as_manager["assignments"]}
        assert lines == {a1["id"]: "志愿者一", a2["id"]: "志愿者二"}
        assert as_manager["my_assignment"] is None

    as_resident = loop.get(world.resident, order_id)
    assert as_resident["resident"]["phone"] == world.resident.phone
    assert {line["volunteer_name"] for line in as_resident["assignments"]} == {"志愿者一", "志愿者二"}

    # Out of reach or unrelated: 404, never 403.
    for person in (world.mgr_s4, world.mgr_s2, world.vol_s4, make_user(app, name="路人")):
        assert_error(client.get(f"/api/v1/orders/{order_id}", headers=person.headers), 404)
        assert_error(client.get(f"/api/v1/orders/{order_id}/events", headers=person.headers), 404)


# ---- 派单 ------------------------------------------------------------------------------------------


def test_assign_to_named_volunteers_offers_and_notifies(app, client, world, loop):
    vol2 = make_volunteer(app, world.sites["S1"], 21, "志愿者二")
    order_id = loop.submit(world.resident)["id"]
    detail = loop.dispatch_assign(world.mgr_s1, order_id, [world.vol_s1.id, vol2.id], capacity=1)
    assert detail["status"] == "dispatched" and detail["mode"] == "assign"
    assert detail["capacity"] == 1 and detail["taken"] == 0
    assert assignment_statuses(app, order_id) == {world.vol_s1.id: "offered", vol2.id: "offered"}
    for volunteer in (world.vol_s1, vol2):
        assert len(notes_of(loop, volunteer, "order.offered", order_id)) == 1
    assert "order.offered" not in kinds(loop, world.vol_s4)

    mine = loop.get(world.vol_s1, order_id)["my_assignment"]
    theirs = loop.get(vol2, order_id)["my_assignment"]
    accepted = loop.act(world.vol_s1, mine["id"], "accept")
    assert accepted["status"] == "held"
    order = loop.get(world.mgr_s1, order_id)
    assert (order["status"], order["taken"]) == ("staffed", 1)
    # The only place went: the other offer can no longer be accepted.
    loop.act(vol2, theirs["id"], "accept", status=409)
    # Someone else's assignment is not mine to act on.
    loop.act(vol2, mine["id"], "withdraw", status=404)


def test_assign_by_team(app, client, world, loop):
    vol2 = make_volunteer(app, world.sites["S1"], 21, "志愿者二")
    make_volunteer(app, world.sites["S1"], 22, "不在队里")
    team = world.teams["T1"]
    for volunteer in (world.vol_s1, vol2):
        loop.call("POST", f"/teams/{team}/members", world.mgr_s1, {"user_id": volunteer.id}, 201)
    order_id = loop.submit(world.resident)["id"]
    loop.call("POST", f"/orders/{order_id}/dispatch", world.mgr_s1, {"mode": "assign", "team_id": team})
    assert assignment_statuses(app, order_id) == {world.vol_s1.id: "offered", vol2.id: "offered"}
    assert notes_of(loop, vol2, "order.offered", order_id)
    # Another center's team is out of reach; an empty team has no one to offer to.
    other = loop.submit(world.resident)["id"]
    resp = post(
        client, f"/orders/{other}/dispatch", world.mgr_s1, {"mode": "assign", "team_id": world.teams["T4"]}
    )
    assert resp.status_code in (404, 422)
    empty = loop.call("POST", f"/sites/{world.sites['S1']}/teams", world.mgr_s1, {"name": "空队"}, 201)["id"]
    resp = post(client, f"/orders/{other}/dispatch", world.mgr_s1, {"mode": "assign", "team_id": empty})
    assert_error(resp, 422, "order.no_volunteers")
    assert loop.get(world.mgr_s1, other)["status"] == "submitted"


def test_dispatch_refusals_leave_the_order_submitted(app, client, world, loop):
    order = loop.submit(world.resident)
    order_id, start = order["id"], datetime.fromisoformat(order["start_at"])
    path = f"/orders/{order_id}/dispatch"
    not_a_volunteer = world.resident.id

    resp = post(
        client, path, world.mgr_s1, {"mode": "assign", "volunteer_ids": [world.vol_s1.id, world.vol_s4.id]}
    )
    body = assert_error(resp, 422)
    assert str(world.vol_s4.id) in body["errors"]["json"]["volunteer_ids"][0]
    assert str(world.vol_s1.id) not in body["errors"]["json"]["volunteer_ids"][0]
    resp = post(client, path, world.mgr_s1, {"mode": "assign", "volunteer_ids": [not_a_volunteer]})
    assert "volunteer_ids" in assert_error(resp, 422)["errors"]["json"]
    resp = post(client, path, world.mgr_s1, {"mode": "grab", "volunteer_ids": [world.vol_s1.id]})
    assert_error(resp, 422)
    resp = post(client, path, world.mgr_s1, {"mode": "assign"})
    assert "volunteer_ids" in assert_error(resp, 422)["errors"]["json"]

    past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    resp = post(client, path, world.mgr_s1, {"mode": "grab", "deadline": past})
    assert "deadline" in assert_error(resp, 422)["errors"]["json"]
    after_end = (start + timedelta(minutes=121)).isoformat()
    resp = post(client, path, world.mgr_s1, {"mode": "grab", "deadline": after_end})
    assert "deadline" in assert_error(resp, 422)["errors"]["json"]

    # A manager out of reach: 404; a volunteer: forbidden.
    assert_error(post(client, path, world.mgr_s4, {"mode": "grab"}), 404)
    assert_error(post(client, path, world.mgr_s2, {"mode": "grab"}), 404)
    assert post(client, path, world.vol_s1, {"mode": "grab"}).status_code == 403

    assert loop.get(world.mgr_s1, order_id)["status"] == "submitted"
    assert assignment_statuses(app, order_id) == {}
    assert [e["action"] for e in loop.events(world.mgr_s1, order_id)] == ["submit"]

    # A deadline at the window's end is accepted; dispatching twice is a conflict.
    end = (start + timedelta(minutes=120)).isoformat()
    detail = loop.dispatch_grab(world.mgr_s1, order_id, capacity=3, deadline=end)
    assert datetime.fromisoformat(detail["fill_due_at"]) == start + timedelta(minutes=120)
    assert detail["capacity"] == 3
    assert_error(post(client, path, world.mgr_s1, {"mode": "grab"}), 409, "order.bad_state")


def test_default_capacity_and_deadline(app, world, loop):
    order = loop.submit(world.resident, volunteers_needed=3)
    detail = loop.call("POST", f"/orders/{order['id']}/dispatch", world.mgr_s1, {"mode": "grab"})
    # No capacity: the number of volunteers needed; no deadline: the grab window, at most the start.
    assert detail["capacity"] == 3
    assert detail["fill_due_at"] == order["start_at"]


def test_decline_tells_managers_and_reassign_offers_more(app, client, world, loop):
    vol2 = make_volunteer(app, world.sites["S1"], 21, "志愿者二")
    vol3 = make_volunteer(app, world.sites["S1"], 22, "志愿者三")
    order_id = loop.submit(world.resident)["id"]
    loop.dispatch_assign(world.mgr_s1, order_id, [world.vol_s1.id], capacity=1)
    mine = loop.get(world.vol_s1, order_id)["my_assignment"]
    declined = loop.act(world.vol_s1, mine["id"], "decline", {"reason": "没空"})
    assert declined["status"] == "declined"
    assert len(notes_of(loop, world.mgr_s1, "order.declined", order_id)) == 1
    assert loop.get(world.mgr_s1, order_id)["status"] == "dispatched"
    loop.act(world.vol_s1, mine["id"], "accept", status=409)  # a declined offer stays declined

    # Reassign: more offers; one already offered to is skipped, out of reach is refused.
    resp = post(client, f"/orders/{order_id}/offers", world.mgr_s1, {"volunteer_ids": [world.vol_s4.id]})
    assert str(world.vol_s4.id) in assert_error(resp, 422)["errors"]["json"]["volunteer_ids"][0]
    resp = post(client, f"/orders/{order_id}/offers", world.mgr_s1, {"volunteer_ids": [world.vol_s1.id]})
    assert_error(resp, 409, "order.no_volunteers")
    loop.call("POST", f"/orders/{order_id}/offers", world.mgr_s1, {"volunteer_ids": [vol2.id, vol3.id]})
    assert assignment_statuses(app, order_id) == {
        world.vol_s1.id: "declined",
        vol2.id: "offered",
        vol3.id: "offered",
    }
    assert notes_of(loop, vol3, "order.offered", order_id)
    a2 = loop.get(vol2, order_id)["my_assignment"]
    loop.act(vol2, a2["id"], "accept")
    assert loop.get(world.mgr_s1, order_id)["status"] == "staffed"
    # A staffed order takes no more offers.
    resp = post(client, f"/orders/{order_id}/offers", world.mgr_s1, {"volunteer_ids": [vol3.id]})
    assert_error(resp, 409, "order.bad_state")
    actions = [e["action"] for e in loop.events(world.mgr_s1, order_id)]
    assert actions == ["submit", "dispatch", "decline", "offer", "accept"]


def test_withdraw_reopens_a_staffed_order(app, client, world, loop):
    vol2 = make_volunteer(app, world.sites["S1"], 21, "志愿者二")
    order_id = loop.submit(world.resident)["id"]
    loop.dispatch_grab(world.mgr_s1, order_id, capacity=2)
    a1 = loop.grab(world.vol_s1, order_id)
    loop.grab(vol2, order_id)
    order = loop.get(world.mgr_s1, order_id)
    assert (order["status"], order["taken"]) == ("staffed", 2)

    withdrawn = loop.act(world.vol_s1, a1["id"], "withdraw", {"reason": "生病"})
    assert withdrawn["status"] == "withdrawn"
    order = loop.get(world.mgr_s1, order_id)
    assert (order["status"], order["taken"]) == ("dispatched", 1)
    assert notes_of(loop, world.mgr_s1, "order.declined", order_id)
    loop.act(world.vol_s1, a1["id"], "withdraw", status=409)  # not held any more
    # The freed place can be grabbed again by someone else.
    vol3 = make_volunteer(app, world.sites["S1"], 22, "志愿者三")
    loop.grab(vol3, order_id)
    order = loop.get(world.mgr_s1, order_id)
    assert (order["status"], order["taken"]) == ("staffed", 2)
    events = loop.events(world.mgr_s1, order_id)
    withdraw = next(e for e in events if e["action"] == "withdraw")
    assert (withdraw["from"], withdraw["to"], withdraw["note"]) == ("staffed", "dispatched", "生病")


def test_reject_needs_a_reason_and_tells_the_resident(app, client, world, loop):
    order_id = loop.submit(world.resident)["id"]
    assert (
        "reason"
        in assert_error(post(client, f"/orders/{order_id}/reject", world.mgr_s1, {}), 422)["errors"]["json"]
    )
    assert_error(post(client, f"/orders/{order_id}/reject", world.mgr_s1, {"reason": ""}), 422)
    assert_error(post(client, f"/orders/{order_id}/reject", world.mgr_s4, {"reason": "不在范围"}), 404)
    assert loop.get(world.mgr_s1, order_id)["status"] == "submitted"
    rejected = loop.call("POST", f"/orders/{order_id}/reject", world.mgr_s1, {"reason": "不在服务范围"})
    assert rejected["status"] == "rejected" and rejected["reason"] == "不在服务范围"
    assert notes_of(loop, world.resident, "order.rejected", order_id)
    # An end state: nothing more happens to it.
    assert_error(
        post(client, f"/orders/{order_id}/dispatch", world.mgr_s1, {"mode": "grab"}), 409, "order.bad_state"
    )
    assert_error(
        post(client, f"/orders/{order_id}/cancel", world.resident, {"reason": "x"}), 409, "order.bad_state"
    )


def test_cancel_by_the_resident_voids_offers_and_holds(app, client, world, loop):
    vol2 = make_volunteer(app, world.sites["S1"], 21, "志愿者二")
    vol3 = make_volunteer(app, world.sites["S1"], 22, "志愿者三")
    order_id = loop.submit(world.resident)["id"]
    loop.dispatch_assign(world.mgr_s1, order_id, [world.vol_s1.id, vol2.id, vol3.id], capacity=2)
    loop.act(world.vol_s1, loop.get(world.vol_s1, order_id)["my_assignment"]["id"], "accept")
    loop.act(vol3, loop.get(vol3, order_id)["my_assignment"]["id"], "decline")

    assert (
        "reason"
        in assert_error(post(client, f"/orders/{order_id}/cancel", world.resident, {}), 422)["errors"]["json"]
    )
    # Someone else's order: 404 (a volunteer holding it cannot cancel it either).
    assert_error(post(client, f"/orders/{order_id}/cancel", make_user(app), {"reason": "x"}), 404)
    assert_error(post(client, f"/orders/{order_id}/cancel", world.mgr_s4, {"reason": "x"}), 404)
    assert loop.get(world.mgr_s1, order_id)["status"] == "dispatched"

    cancelled = loop.call("POST", f"/orders/{order_id}/cancel", world.resident, {"reason": "不需要了"})
    assert cancelled["status"] == "cancelled" and cancelled["reason"] == "不需要了"
    assert assignment_statuses(app, order_id) == {
        world.vol_s1.id: "cancelled",
        vol2.id: "cancelled",
        vol3.id: "declined",  # an answer already given stays as it was
    }
    for person in (world.vol_s1, vol2, world.mgr_s1):
        assert notes_of(loop, person, "order.cancelled", order_id), person
    assert not notes_of(loop, vol3, "order.cancelled", order_id)
    assert not notes_of(loop, world.resident, "order.cancelled", order_id)
    last = loop.events(world.resident, order_id)[-1]
    assert (last["action"], last["from"], last["to"], last["actor_id"], last["note"]) == (
        "cancel",
        "dispatched",
        "cancelled",
        world.resident.id,
        "不需要了",
    )
    assert_error(post(client, f"/orders/{order_id}/cancel", world.resident, {"reason": "再次"}), 409)


def test_cancel_by_a_manager_tells_the_resident(app, world, loop):
    order_id = loop.submit(world.resident)["id"]
    loop.dispatch_grab(world.mgr_s1, order_id, capacity=1)
    loop.grab(world.vol_s1, order_id)
    cancelled = loop.call("POST", f"/orders/{order_id}/cancel", world.mgr_i1, {"reason": "天气原因"})
    assert cancelled["status"] == "cancelled"
    note = notes_of(loop, world.resident, "order.cancelled", order_id)
    assert len(note) == 1 and note[0]["params"]["reason"] == "天气原因"
    assert notes_of(loop, world.vol_s1, "order.cancelled", order_id)
    assert assignment_statuses(app, order_id) == {world.vol_s1.id: "cancelled"}


def test_cancel_after_check_in_is_a_conflict(app, client, world, loop):
    order = loop.submit(world.resident)
    start = datetime.fromisoformat(order["start_at"])
    loop.dispatch_grab(world.mgr_s1, order["id"], capacity=1)
    held = loop.grab(world.vol_s1, order["id"])
    with loop.at(start):
        loop.act(world.vol_s1, held["id"], "check-in", NEAR)
        for person in (world.resident, world.mgr_s1):
            body = loop.call("POST", f"/orders/{order['id']}/cancel", person, {"reason": "算了"}, 409)
            assert body["error"] == "order.bad_state"
    assert loop.get(world.mgr_s1, order["id"])["status"] == "in_service"
    assert assignment_statuses(app, order["id"]) == {world.vol_s1.id: "checked_in"}


def test_a_phone_order_for_a_new_resident_goes_to_the_station_nearest_the_address(app, world, loop):
    """No site_id and no home station: the nearest station, if the manager reaches it (else 422)."""
    body = {"resident_phone": "13612340001", "resident_name": "李大爷"}
    placed = loop.submit(world.mgr_s1, **body)
    assert placed["site_id"] == world.sites["S1"] and placed["proxy_id"] == world.mgr_s1.id
    far_away = {"resident_phone": "13612340002", "resident_name": "张阿姨", "lat": 31.2501, "lng": 121.4901}
    refused = loop.submit(world.mgr_s1, status=422, **far_away)  # nearest is S4, out of mgr_s1's reach
    assert "site_id" in refused["errors"]["json"]


def test_the_submit_answer_is_the_order_as_read_back(app, client, world, loop):
    """POST /orders answers with what it wrote, not a second read: byte for byte what GET /orders/{id}
    gives the same caller at once (a moment given in +08:00 with microseconds comes back in UTC), for
    a resident and for staff ordering for a resident by phone."""
    local = timezone(timedelta(hours=8))
    start = (datetime.now(UTC) + timedelta(hours=3)).astimezone(local).replace(microsecond=123456)
    resident_body = {
        **order_body(app),
        "start_at": start.isoformat(),
        "end_at": (start + timedelta(hours=1)).isoformat(),
    }
    proxy_body = {
        **resident_body,
        "resident_phone": world.resident.phone,
        "resident_name": "x",
        "site_id": world.sites["S1"],
    }
    for person, body in ((world.resident, resident_body), (world.mgr_s1, proxy_body)):
        posted = post(client, "/orders", person, body)
        assert posted.status_code == 201, posted.get_json()
        order_id = posted.get_json()["id"]
        read = client.get(f"/api/v1/orders/{order_id}", headers=person.headers)
        assert posted.get_data() == read.get_data()
        assert posted.get_json()["start_at"].endswith("+00:00")
