"""评单 and 审核 through the API: who may rate and when; the audit confirms minutes (a change needs a
reason), closes the order and credits each volunteer's book exactly once."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from tests.api.helpers import assert_error
from tests.orders.conftest import NEAR
from tests.support import make_user, make_volunteer
from volunteer_app.attendance.models import Assignment
from volunteer_app.extensions import db
from volunteer_app.orders.deadlines import apply_deadlines
from volunteer_app.timebank.models import Transfer

RATING_WINDOW = timedelta(hours=72)
TITLE = "陪独居老人就医"  # order_body's title


def completed(app, world, loop, plan: list[tuple[int, int, dict]]):
    """An order of S1 served per `plan`: one (check-in minute, check-out minute, check-out place) per
    volunteer, minutes from the window start (the window is 120 minutes; check-ins are near).
    Returns (order id, the moment it completed, [(person, assignment id)])."""
    order = loop.submit(world.resident)
    start = datetime.fromisoformat(order["start_at"])
    loop.dispatch_grab(world.mgr_s1, order["id"], capacity=len(plan))
    people = [world.vol_s1] + [
        make_volunteer(app, world.sites["S1"], 20 + i, f"志愿者{i + 1}") for i in range(1, len(plan))
    ]
    held = [(p, loop.grab(p, order["id"])["id"]) for p in people]
    for (person, a), (arrive, _, _) in sorted(zip(held, plan, strict=True), key=lambda x: x[1][0]):
        with loop.at(start + timedelta(minutes=arrive)):
            loop.act(person, a, "check-in", NEAR)
    leaving = sorted(zip(held, plan, strict=True), key=lambda x: x[1][1])
    for (person, a), (_, leave, place) in leaving:
        with loop.at(start + timedelta(minutes=leave)):
            loop.act(person, a, "check-out", place)
    assert loop.get(world.mgr_s1, order["id"])["status"] == "completed"
    return order["id"], start + timedelta(minutes=leaving[-1][1][1]), held


def rate(client, order_id: int, person, body):
    return client.post(f"/api/v1/orders/{order_id}/rating", json=body, headers=person.headers)


def audit(client, order_id: int, person, body):
    return client.post(f"/api/v1/orders/{order_id}/audit", json=body, headers=person.headers)


def book(loop, person) -> int:
    return loop.call("GET", "/me/timebook", person)["balance_minutes"]


def transfer_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Transfer))


def credited_notes(loop, person, order_id: int) -> list[dict]:
    items = loop.call("GET", "/me/notifications?limit=100", person)["items"]
    return [n for n in items if n["kind"] == "hours.credited" and n["order_id"] == order_id]


# ---- 评单 ------------------------------------------------------------------------------------------


def test_only_the_ordering_resident_rates_once(app, client, world, loop):
    order_id, _, _ = completed(app, world, loop, [(0, 60, NEAR)])
    for person in (world.vol_s1, world.mgr_s1, world.admin, make_user(app, home_site_id=world.sites["S1"])):
        assert_error(rate(client, order_id, person, {"stars": 5}), 404)
    rated = loop.call(
        "POST", f"/orders/{order_id}/rating", world.resident, {"stars": 4, "comment": "准时，耐心"}
    )
    assert rated["status"] == "completed"
    rating = rated["rating"]
    assert (rating["state"], rating["stars"], rating["comment"]) == ("rated", 4, "准时，耐心")
    assert rating["rated_at"] is not None
    assert_error(rate(client, order_id, world.resident, {"stars": 5}), 409, "rating.already")
    assert loop.get(world.mgr_s1, order_id)["rating"]["stars"] == 4
    last = loop.events(world.mgr_s1, order_id)[-1]
    assert (last["action"], last["from"], last["to"], last["actor_id"]) == (
        "rate",
        "completed",
        "completed",
        world.resident.id,
    )


def test_rating_body_is_validated(app, client, world, loop):
    order_id, _, _ = completed(app, world, loop, [(0, 60, NEAR)])
    for body in (
        {"stars": 0},
        {"stars": 6},
        {"stars": "5"},
        {"stars": 4.5},
        {},
        {"stars": 3, "comment": "好" * 501},
    ):
        assert_error(rate(client, order_id, world.resident, body), 422)
    assert loop.get(world.resident, order_id)["rating"]["state"] == "pending"
    rated = loop.call(
        "POST", f"/orders/{order_id}/rating", world.resident, {"stars": 1, "comment": "差" * 500}
    )
    assert rated["rating"]["stars"] == 1 and len(rated["rating"]["comment"]) == 500


def test_no_rating_before_completion(app, client, world, loop):
    order = loop.submit(world.resident)
    assert_error(rate(client, order["id"], world.resident, {"stars": 5}), 409)
    loop.dispatch_grab(world.mgr_s1, order["id"], capacity=1)
    held = loop.grab(world.vol_s1, order["id"])
    with loop.at(datetime.fromisoformat(order["start_at"])):
        loop.act(world.vol_s1, held["id"], "check-in", NEAR)
        assert loop.call("POST", f"/orders/{order['id']}/rating", world.resident, {"stars": 5}, 409)
    assert loop.get(world.resident, order["id"])["rating"]["state"] is None


def test_no_rating_after_the_window(app, client, world, loop):
    order_id, done_at, _ = completed(app, world, loop, [(0, 60, NEAR)])
    with loop.at(done_at + RATING_WINDOW + timedelta(minutes=1)):
        body = loop.call("POST", f"/orders/{order_id}/rating", world.resident, {"stars": 5}, 409)
        assert body["error"] == "rating.closed"
    with loop.at(done_at + RATING_WINDOW - timedelta(minutes=1)):
        loop.call("POST", f"/orders/{order_id}/rating", world.resident, {"stars": 5})


def test_no_rating_once_marked_unrated(app, client, world, loop):
    order_id, done_at, _ = completed(app, world, loop, [(0, 60, NEAR)])
    with app.app_context():
        moved = apply_deadlines(now=done_at + RATING_WINDOW + timedelta(minutes=1))
    assert moved.get("rating_lapsed") == 1
    assert loop.get(world.resident, order_id)["rating"]["state"] == "unrated"
    # Even if the clock were read before the due time, the window is shut.
    assert_error(rate(client, order_id, world.resident, {"stars": 5}), 409, "rating.closed")


def test_rating_an_audited_order(app, client, world, loop):
    order_id, _, _ = completed(app, world, loop, [(0, 60, NEAR)])
    loop.call("POST", f"/orders/{order_id}/audit", world.mgr_s1, {"confirm_computed": True})
    rated = loop.call("POST", f"/orders/{order_id}/rating", world.resident, {"stars": 5})
    assert rated["status"] == "closed" and rated["rating"]["state"] == "rated"
    last = loop.events(world.resident, order_id)[-1]
    assert (last["action"], last["from"], last["to"]) == ("rate", "closed", "closed")


# ---- 审核 ------------------------------------------------------------------------------------------


def test_audit_closes_and_credits_each_book_exactly_once(app, client, world, loop):
    plan = [(0, 90, NEAR), (10, 70, NEAR), (0, 0, NEAR)]  # 90, 60, and 0 (left as soon as they came)
    order_id, _, [(v1, a1), (v2, a2), (v3, a3)] = completed(app, world, loop, plan)
    lines = {
        line["assignment"]["id"]: line["assignment"]
        for line in loop.get(world.mgr_s1, order_id)["assignments"]
    }
    assert [lines[a]["minutes_computed"] for a in (a1, a2, a3)] == [90, 60, 0]

    body = {
        "assignments": [{"assignment_id": a2, "minutes": 45, "reason": "中途离开半小时"}],
        "confirm_computed": True,
        "note": "已电话回访",
    }
    audited = loop.call("POST", f"/orders/{order_id}/audit", world.mgr_s1, body)
    order = audited
    assert order["status"] == "closed" and order["closed_at"] is not None
    assert order["audit_note"] == "已电话回访"
    lines = {line["assignment"]["id"]: line["assignment"] for line in audited["assignments"]}
    assert {a: (lines[a]["status"], lines[a]["minutes_confirmed"]) for a in (a1, a2, a3)} == {
        a1: ("audited", 90),
        a2: ("audited", 45),
        a3: ("audited", 0),
    }
    assert lines[a1]["transfer_id"] is not None and lines[a3]["transfer_id"] is None
    assert (book(loop, v1), book(loop, v2), book(loop, v3)) == (90, 45, 0)
    statement = loop.call("GET", "/me/timebook/transfers", v1)["items"]
    assert [(t["minutes"], t["memo"], t["transfer_id"]) for t in statement] == [
        (90, TITLE, lines[a1]["transfer_id"])
    ]
    assert loop.call("GET", "/me/timebook/transfers", v3)["items"] == []
    assert [n["params"]["minutes"] for n in credited_notes(loop, v1, order_id)] == [90]
    said = [n["title"] for n in credited_notes(loop, v2, order_id)]
    assert said == [f"「{TITLE}」审核通过，45 分钟已存入时间存折"]  # not "0.8 小时"
    assert [(n["subject_type"], n["subject_id"]) for n in credited_notes(loop, v2, order_id)] == [
        ("order", str(order_id))
    ]
    assert credited_notes(loop, v3, order_id) == []  # zero minutes: nothing credited, nothing said
    assert transfer_count(app) == 2
    last = loop.events(world.mgr_s1, order_id)[-1]
    assert (last["action"], last["from"], last["to"], last["actor_id"], last["note"]) == (
        "audit",
        "completed",
        "closed",
        world.mgr_s1.id,
        "已电话回访",
    )

    # A second audit is refused and credits nothing.
    assert_error(audit(client, order_id, world.mgr_s1, {"confirm_computed": True}), 409, "order.bad_state")
    assert_error(audit(client, order_id, world.mgr_i1, body), 409, "order.bad_state")
    assert (book(loop, v1), book(loop, v2)) == (90, 45)
    assert transfer_count(app) == 2
    assert len(credited_notes(loop, v1, order_id)) == 1


def test_changing_minutes_without_a_reason_changes_nothing(app, client, world, loop):
    order_id, _, [(v1, a1), (v2, a2)] = completed(app, world, loop, [(0, 90, NEAR), (0, 60, NEAR)])
    # The first line is credited before the second fails: the whole audit must roll back.
    body = {"assignments": [{"assignment_id": a1, "minutes": 90}, {"assignment_id": a2, "minutes": 30}]}
    error = assert_error(audit(client, order_id, world.mgr_s1, body), 422, "attendance.reason_required")
    assert error["errors"]["json"]["assignments"] == {"1": {"reason": ["必填"]}}
    body["assignments"][1]["reason"] = ""
    assert_error(audit(client, order_id, world.mgr_s1, body), 422)
    detail = loop.get(world.mgr_s1, order_id)
    assert detail["status"] == "completed" and detail["closed_at"] is None
    assert {line["assignment"]["status"] for line in detail["assignments"]} == {"checked_out"}
    assert {line["assignment"]["minutes_confirmed"] for line in detail["assignments"]} == {None}
    assert transfer_count(app) == 0
    assert (book(loop, v1), book(loop, v2)) == (0, 0)
    assert credited_notes(loop, v1, order_id) == []
    assert [e["action"] for e in loop.events(world.mgr_s1, order_id)][-1] == "check_out"
    # The same minutes as computed need no reason.
    loop.call(
        "POST",
        f"/orders/{order_id}/audit",
        world.mgr_s1,
        {"assignments": [{"assignment_id": a2, "minutes": 60}], "confirm_computed": True},
    )
    assert (book(loop, v1), book(loop, v2)) == (90, 60)


def test_audit_minutes_are_bounded_and_lines_must_belong_to_the_order(app, client, world, loop):
    order_id, _, [(v1, a1)] = completed(app, world, loop, [(0, 60, NEAR)])
    other_id, _, [(_, other_a)] = completed(app, world, loop, [(0, 30, NEAR)])

    def refused(items, field=None):
        body = assert_error(audit(client, order_id, world.mgr_s1, {"assignments": items}), 422)
        if field:
            assert field in str(body["errors"]), body

    refused([{"assignment_id": a1, "minutes": 121, "reason": "加班"}], "minutes")  # the window is 120
    refused([{"assignment_id": a1, "minutes": 24 * 60 + 1, "reason": "x"}], "minutes")
    refused([{"assignment_id": a1, "minutes": -5, "reason": "x"}], "minutes")
    refused([{"assignment_id": other_a, "minutes": 30}], "assignment_id")
    refused([{"assignment_id": 999_999, "minutes": 30}], "assignment_id")
    refused(
        [
            {"assignment_id": a1, "minutes": 50, "reason": "x"},
            {"assignment_id": a1, "minutes": 40, "reason": "y"},
        ]
    )
    assert loop.get(world.mgr_s1, order_id)["status"] == "completed"
    assert transfer_count(app) == 0
    # The whole window is allowed, with a reason.
    loop.call(
        "POST",
        f"/orders/{order_id}/audit",
        world.mgr_s1,
        {"assignments": [{"assignment_id": a1, "minutes": 120, "reason": "签退晚了"}]},
    )
    assert book(loop, v1) == 120
    assert loop.get(world.mgr_s1, other_id)["status"] == "completed"


def test_audit_needs_a_manager_in_reach_and_a_completed_order(app, client, world, loop):
    order_id, _, [(v1, _)] = completed(app, world, loop, [(0, 60, NEAR)])
    for person in (world.mgr_s2, world.mgr_s4):
        assert_error(audit(client, order_id, person, {"confirm_computed": True}), 404)
    for person in (world.vol_s1, world.resident):
        assert audit(client, order_id, person, {"confirm_computed": True}).status_code == 403
    assert loop.get(world.mgr_s1, order_id)["status"] == "completed"
    # A manager above the station audits it.
    audited = loop.call(
        "POST", f"/orders/{order_id}/audit", world.mgr_i1, {"confirm_computed": True, "note": "所级审核"}
    )
    assert audited["status"] == "closed"
    assert book(loop, v1) == 60
    # Not before the service is complete.
    waiting = loop.submit(world.resident)["id"]
    assert_error(audit(client, waiting, world.mgr_s1, {"confirm_computed": True}), 409, "order.bad_state")


def test_confirming_zero_minutes_credits_nothing(app, client, world, loop):
    order_id, _, [(v1, a1)] = completed(app, world, loop, [(0, 60, NEAR)])
    body = {"assignments": [{"assignment_id": a1, "minutes": 0, "reason": "未实际提供服务"}]}
    audited = loop.call("POST", f"/orders/{order_id}/audit", world.mgr_s1, body)
    (line,) = audited["assignments"]
    assert (line["assignment"]["status"], line["assignment"]["minutes_confirmed"]) == ("audited", 0)
    assert line["assignment"]["transfer_id"] is None
    assert book(loop, v1) == 0 and transfer_count(app) == 0
    assert credited_notes(loop, v1, order_id) == []


def test_a_no_show_is_not_audited_or_credited(app, client, world, loop):
    order = loop.submit(world.resident)
    start = datetime.fromisoformat(order["start_at"])
    vol2 = make_volunteer(app, world.sites["S1"], 40, "志愿者二")
    loop.dispatch_grab(world.mgr_s1, order["id"], capacity=2)
    a1 = loop.grab(world.vol_s1, order["id"])["id"]
    a2 = loop.grab(vol2, order["id"])["id"]
    with loop.at(start):
        loop.act(world.vol_s1, a1, "check-in", NEAR)
        loop.act(world.mgr_s1, a2, "no-show", {"reason": "未到"})
    with loop.at(start + timedelta(minutes=60)):
        loop.act(world.vol_s1, a1, "check-out", NEAR)
    body = assert_error(
        audit(
            client,
            order["id"],
            world.mgr_s1,
            {"assignments": [{"assignment_id": a2, "minutes": 60, "reason": "x"}]},
        ),
        422,
    )
    assert "assignment_id" in str(body["errors"])
    loop.call("POST", f"/orders/{order['id']}/audit", world.mgr_s1, {"confirm_computed": True})
    with app.app_context():
        assert db.session.get(Assignment, a2).status == "no_show"
    assert (book(loop, world.vol_s1), book(loop, vol2)) == (60, 0)
