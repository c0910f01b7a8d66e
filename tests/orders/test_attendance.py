"""签到 / 签退 through the API, with time travel: time and place checks, computed minutes, a manager
closing a missed check-out or recording a no-show, and the last one off site completing the order."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from tests.orders.conftest import FAR, NEAR, PLACE
from tests.support import make_volunteer
from volunteer_app.attendance.models import Assignment
from volunteer_app.extensions import db
from volunteer_app.orders.models import OrderEvent

GRACE = timedelta(minutes=30)  # checkin_grace_minutes, the site default
RATING_WINDOW = timedelta(hours=72)


def staffed(app, world, loop, n: int = 1, minutes: int = 120):
    """An order of S1 grabbed by `n` volunteers (vol_s1 first).

    Returns (order id, window start, [(person, assignment)]).
    """
    order = loop.submit(world.resident, minutes=minutes)
    loop.dispatch_grab(world.mgr_s1, order["id"], capacity=n)
    people = [
        world.vol_s1,
        *(make_volunteer(app, world.sites["S1"], 20 + i, f"志愿者{i}") for i in range(1, n)),
    ]
    held = [(person, loop.grab(person, order["id"])) for person in people]
    return order["id"], datetime.fromisoformat(order["start_at"]), held


def status(loop, world, order_id: int) -> str:
    return loop.get(world.mgr_s1, order_id)["status"]


def test_check_in_window_opens_grace_before_start_and_closes_at_end(app, world, loop):
    order_id, start, [(vol, a)] = staffed(app, world, loop)
    end = start + timedelta(minutes=120)
    with loop.at(start - GRACE - timedelta(minutes=1)):
        body = loop.act(vol, a["id"], "check-in", NEAR, status=409)
        assert body["error"] == "attendance.too_early" and "30" in body["message"]
        path = f"/assignments/{a['id']}/check-in"
        english = loop.call("POST", path, vol, NEAR, 409, headers={"Accept-Language": "en"})
        assert "30 minutes" in english["message"]
    with loop.at(end + timedelta(minutes=1)):
        body = loop.act(vol, a["id"], "check-in", NEAR, status=409)
        assert body["error"] == "attendance.too_late"
    assert status(loop, world, order_id) == "staffed"
    assert [e["action"] for e in loop.events(world.mgr_s1, order_id)] == ["submit", "dispatch", "grab"]
    with loop.at(start - GRACE):
        checked = loop.act(vol, a["id"], "check-in", NEAR)
    assert checked["status"] == "checked_in"
    assert datetime.fromisoformat(checked["checkin_at"]) == start - GRACE
    assert checked["checkin_ok"] is True and checked["checkin_distance_m"] < 50
    assert status(loop, world, order_id) == "in_service"
    with loop.at(start):
        body = loop.act(vol, a["id"], "check-in", NEAR, status=409)
        assert body["error"] == "attendance.already_checked_in"


def assert_too_far(body: dict, low: int = 3500, high: int = 4500) -> None:
    """422 `attendance.too_far`, with the distance (metres) and the site's radius as numbers."""
    assert body["code"] == 422 and body["error"] == "attendance.too_far", body
    position = body["errors"]["position"]
    assert low < position["distance_m"] < high and position["radius_m"] == 500, body
    assert str(position["distance_m"]) in body["message"] and "500" in body["message"], body


def test_far_check_in_is_refused_with_the_distance_and_records_nothing(app, world, loop):
    """Issue 11, defect 4: a check-in from 4 km away was a 200 `checked_in` with checkin_ok false, and
    the right check-in afterwards a 409. It is refused, and the volunteer checks in on site."""
    order_id, start, [(vol, a)] = staffed(app, world, loop)
    path = f"/assignments/{a['id']}/check-in"
    with loop.at(start):
        assert_too_far(loop.act(vol, a["id"], "check-in", FAR, status=422))
        english = loop.call("POST", path, vol, FAR, 422, headers={"Accept-Language": "en"})
        assert_too_far(english)
        assert "m from the service location" in english["message"]
        assert "米" in loop.act(vol, a["id"], "check-in", FAR, status=422)["message"]
        mine = loop.get(vol, order_id)["my_assignment"]
        assert (mine["status"], mine["checkin_at"], mine["checkin_distance_m"]) == ("held", None, None)
        assert status(loop, world, order_id) == "staffed"
        assert [e["action"] for e in loop.events(world.mgr_s1, order_id)] == ["submit", "dispatch", "grab"]
        checked = loop.act(vol, a["id"], "check-in", NEAR)  # from the right place: accepted
    assert checked["status"] == "checked_in" and checked["checkin_ok"] is True
    assert checked["checkin_distance_m"] < 50
    assert status(loop, world, order_id) == "in_service"


def test_far_check_out_is_refused_and_nothing_is_recorded(app, world, loop):
    order_id, start, [(vol, a)] = staffed(app, world, loop)
    with loop.at(start):
        loop.act(vol, a["id"], "check-in", NEAR)
    with loop.at(start + timedelta(minutes=60)):
        assert_too_far(loop.act(vol, a["id"], "check-out", FAR, status=422))
        mine = loop.get(vol, order_id)["my_assignment"]
        assert (mine["status"], mine["checkout_at"], mine["minutes_computed"]) == ("checked_in", None, None)
        assert status(loop, world, order_id) == "in_service"
    with loop.at(start + timedelta(minutes=61)):
        out = loop.act(vol, a["id"], "check-out", NEAR)
    assert out["status"] == "checked_out" and out["checkout_ok"] is True and out["checkout_distance_m"] < 50
    assert out["minutes_computed"] == 61
    assert status(loop, world, order_id) == "completed"


def test_the_radius_is_the_sites_setting(app, world, loop):
    """A site that widens its check-in radius accepts what the default would refuse."""
    _, start, [(vol, a)] = staffed(app, world, loop)
    loop.call("PATCH", f"/sites/{world.sites['S1']}/settings", world.mgr_s1, {"checkin_radius_m": 5000})
    with loop.at(start):
        checked = loop.act(vol, a["id"], "check-in", FAR)
    assert checked["checkin_ok"] is True and 3500 < checked["checkin_distance_m"] < 4500


def test_no_position_is_stored(app, world, loop):
    order_id, start, [(vol, a)] = staffed(app, world, loop)
    with loop.at(start):
        loop.act(vol, a["id"], "check-in", FAR, status=422)
        loop.act(vol, a["id"], "check-in", NEAR)
    with loop.at(start + timedelta(minutes=60)):
        loop.act(vol, a["id"], "check-out", FAR, status=422)
        loop.act(vol, a["id"], "check-out", PLACE)
    # Only the distance is kept: no column could hold a position, and the reported coordinates
    # appear in no stored row of the assignment or the timeline.
    with app.app_context():
        inspector = sa.inspect(db.engine)
        for table in ("assignments", "order_events"):
            names = {c["name"] for c in inspector.get_columns(table)}
            assert not {n for n in names if "lat" in n or "lng" in n or "lon" in n or "position" in n}, names
        row = db.session.execute(sa.select(Assignment.__table__).where(Assignment.id == a["id"])).one()
        events = db.session.execute(
            sa.select(OrderEvent.__table__).where(OrderEvent.order_id == order_id)
        ).all()
        for value in [*row, *(v for e in events for v in e)]:
            assert value not in (FAR["lat"], FAR["lng"], NEAR["lat"], NEAR["lng"])
            assert not (isinstance(value, str) and ("30.3" in value or "120.2" in value))


def test_check_out_late_is_refused_and_the_manager_closes_it_at_the_window_end(app, client, world, loop):
    order_id, start, [(vol, a)] = staffed(app, world, loop)
    end = start + timedelta(minutes=120)
    with loop.at(start + timedelta(minutes=10)):
        loop.act(vol, a["id"], "check-in", NEAR)
    with loop.at(end + GRACE + timedelta(minutes=1)):
        body = loop.act(vol, a["id"], "check-out", NEAR, status=409)
        assert body["error"] == "attendance.checkout_late"
        assert status(loop, world, order_id) == "in_service"
        # Closing needs a manager in reach, and a reason.
        loop.act(vol, a["id"], "close", {"reason": "忘记签退"}, status=403)
        loop.act(world.mgr_s4, a["id"], "close", {"reason": "忘记签退"}, status=404)
        loop.act(world.mgr_s1, a["id"], "close", {}, status=422)
        closed = loop.act(world.mgr_s1, a["id"], "close", {"reason": "忘记签退"})
    assert closed["status"] == "checked_out"
    assert datetime.fromisoformat(closed["checkout_at"]) == end  # default: the window's end
    assert closed["close_reason"] == "忘记签退"
    assert closed["minutes_computed"] == 110  # from the check-in to the end
    assert status(loop, world, order_id) == "completed"
    last = loop.events(world.mgr_s1, order_id)[-1]
    assert (
        last["action"],
        last["from"],
        last["to"],
        last["actor_id"],
        last["assignment_id"],
        last["note"],
    ) == (
        "close_attendance",
        "in_service",
        "completed",
        world.mgr_s1.id,
        a["id"],
        "忘记签退",
    )


def test_close_at_a_given_time_must_lie_between_check_in_and_window_end(app, world, loop):
    _, start, [(vol, a)] = staffed(app, world, loop)
    end = start + timedelta(minutes=120)
    with loop.at(start + timedelta(minutes=20)):
        loop.act(vol, a["id"], "check-in", NEAR)
    with loop.at(end + timedelta(hours=2)):
        for bad in (start + timedelta(minutes=10), end + GRACE + timedelta(minutes=1)):
            loop.act(
                world.mgr_s1, a["id"], "close", {"reason": "补签", "checkout_at": bad.isoformat()}, status=422
            )
        closed = loop.act(
            world.mgr_s1,
            a["id"],
            "close",
            {"reason": "补签", "checkout_at": (start + timedelta(minutes=80)).isoformat()},
        )
    assert closed["minutes_computed"] == 60


def test_minutes_count_only_inside_the_window(app, world, loop):
    order_id, start, held = staffed(app, world, loop, n=3)
    end = start + timedelta(minutes=120)
    (v1, a1), (v2, a2), (v3, a3) = held
    with loop.at(start - timedelta(minutes=20)):
        loop.act(v1, a1["id"], "check-in", NEAR)  # early: counts from the start
    with loop.at(start + timedelta(minutes=15, seconds=30)):
        loop.act(v2, a2["id"], "check-in", NEAR)
    with loop.at(start + timedelta(minutes=30)):
        loop.act(v3, a3["id"], "check-in", PLACE)
    with loop.at(start + timedelta(minutes=45)):
        loop.act(v3, a3["id"], "check-out", FAR, status=422)  # from far away: refused
        assert loop.act(v3, a3["id"], "check-out", PLACE)["minutes_computed"] == 15
    with loop.at(start + timedelta(minutes=75, seconds=59)):
        assert loop.act(v2, a2["id"], "check-out", NEAR)["minutes_computed"] == 60  # whole minutes
    assert status(loop, world, order_id) == "in_service"  # one still on site
    with loop.at(end + timedelta(minutes=25)):
        out = loop.act(v1, a1["id"], "check-out", NEAR)  # late, within grace: counts to the end
    assert out["minutes_computed"] == 120
    assert status(loop, world, order_id) == "completed"


def test_the_last_one_off_site_completes_the_order_and_asks_for_a_rating(app, world, loop):
    order_id, start, [(v1, a1), (v2, a2)] = staffed(app, world, loop, n=2)
    with loop.at(start):
        loop.act(v1, a1["id"], "check-in", NEAR)
        loop.act(v2, a2["id"], "check-in", NEAR)
    with loop.at(start + timedelta(minutes=60)):
        loop.act(v1, a1["id"], "check-out", NEAR)
        order = loop.get(world.mgr_s1, order_id)
        assert order["status"] == "in_service" and order["completed_at"] is None
        assert order["rating"]["state"] is None
    assert not [
        n
        for n in loop.call("GET", "/me/notifications", world.resident)["items"]
        if n["kind"] == "order.rate_request"
    ]
    done_at = start + timedelta(minutes=90)
    with loop.at(done_at):
        loop.act(v2, a2["id"], "check-out", NEAR)
        order = loop.get(world.resident, order_id)
    assert order["status"] == "completed"
    assert datetime.fromisoformat(order["completed_at"]) == done_at
    assert order["rating"]["state"] == "pending"
    assert datetime.fromisoformat(order["rating"]["due_at"]) == done_at + RATING_WINDOW
    asks = [
        n
        for n in loop.call("GET", "/me/notifications", world.resident)["items"]
        if n["kind"] == "order.rate_request"
    ]
    assert len(asks) == 1 and asks[0]["order_id"] == order_id
    tail = [(e["action"], e["from"], e["to"]) for e in loop.events(world.resident, order_id)][-2:]
    assert tail == [("check_out", "in_service", "in_service"), ("check_out", "in_service", "completed")]
    # Checking out twice is refused.
    with loop.at(done_at):
        loop.act(v2, a2["id"], "check-out", NEAR, status=409)


def test_no_show_recorded_by_a_manager_with_a_reason(app, client, world, loop):
    order_id, start, [(v1, a1), (v2, a2)] = staffed(app, world, loop, n=2)
    with loop.at(start + timedelta(minutes=5)):
        loop.act(v1, a1["id"], "check-in", NEAR)
    with loop.at(start + timedelta(minutes=40)):
        loop.act(world.mgr_s1, a2["id"], "no-show", {}, status=422)
        loop.act(v1, a2["id"], "no-show", {"reason": "没来"}, status=403)
        loop.act(world.mgr_s2, a2["id"], "no-show", {"reason": "没来"}, status=404)
        # Someone on site is not a no-show.
        assert (
            loop.act(world.mgr_s1, a1["id"], "no-show", {"reason": "x"}, status=409)["error"]
            == "attendance.not_held"
        )
        marked = loop.act(world.mgr_i1, a2["id"], "no-show", {"reason": "电话未接，未到场"})
        assert marked["status"] == "no_show" and marked["close_reason"] == "电话未接，未到场"
        assert marked["minutes_computed"] == 0
        # A no-show cannot check in afterwards.
        loop.act(v2, a2["id"], "check-in", NEAR, status=409)
        assert status(loop, world, order_id) == "in_service"
        loop.act(v1, a1["id"], "check-out", NEAR)
    order = loop.get(world.mgr_s1, order_id)
    assert order["status"] == "completed" and order["taken"] == 2  # the promised place stays counted
    no_show = next(e for e in loop.events(world.mgr_s1, order_id) if e["action"] == "no_show")
    assert (no_show["actor_id"], no_show["assignment_id"], no_show["note"]) == (
        world.mgr_i1.id,
        a2["id"],
        "电话未接，未到场",
    )


def test_a_holder_who_never_came_is_a_no_show_once_the_order_completes(app, world, loop):
    order_id, start, [(v1, a1), (v2, a2)] = staffed(app, world, loop, n=2)
    with loop.at(start):
        loop.act(v1, a1["id"], "check-in", NEAR)
    with loop.at(start + timedelta(minutes=30)):
        loop.act(v1, a1["id"], "check-out", NEAR)
        # v1 left and v2 never came: the order is complete as soon as the last one on site leaves,
        # and v2's place is settled as a no-show (not left "held" for ever, counting against the
        # number of open grabs v2 may hold).
        assert status(loop, world, order_id) == "completed"
        mine = loop.get(v2, order_id)["my_assignment"]
        assert (mine["status"], mine["minutes_computed"]) == ("no_show", 0)
        assert loop.act(v2, a2["id"], "check-in", NEAR, status=409)["error"] == "order.bad_state"


def test_check_in_replays_with_the_same_idempotency_key(app, client, world, loop):
    order_id, start, [(vol, a)] = staffed(app, world, loop)
    key = {"Idempotency-Key": "checkin-retry-1"}
    with loop.at(start):
        first = loop.call("POST", f"/assignments/{a['id']}/check-in", vol, NEAR, 200, headers=key)
        again = loop.call("POST", f"/assignments/{a['id']}/check-in", vol, NEAR, 200, headers=key)
        assert again == first
        other = loop.call("POST", f"/assignments/{a['id']}/check-in", vol, FAR, 422, headers=key)
        assert other["error"] == "idempotency.key_reused"
        # Without the key, a second check-in is a conflict, not a second check-in.
        loop.act(vol, a["id"], "check-in", NEAR, status=409)
    actions = [e["action"] for e in loop.events(world.mgr_s1, order_id)]
    assert actions.count("check_in") == 1


def test_only_my_own_assignment_and_only_when_held(app, world, loop):
    vol2 = make_volunteer(app, world.sites["S1"], 30, "志愿者二")
    _, start, [(vol, a)] = staffed(app, world, loop)
    with loop.at(start):
        loop.act(vol2, a["id"], "check-in", NEAR, status=404)
        loop.act(world.mgr_s1, a["id"], "check-in", NEAR, status=404)
        loop.act(vol, a["id"], "check-out", NEAR, status=409)  # not checked in yet
    # An offer not yet accepted cannot be checked in.
    offered = loop.submit(world.resident)["id"]
    loop.dispatch_assign(world.mgr_s1, offered, [vol2.id], capacity=1)
    mine = loop.get(vol2, offered)["my_assignment"]
    with loop.at(start):
        assert loop.act(vol2, mine["id"], "check-in", NEAR, status=409)["error"] == "attendance.not_held"
