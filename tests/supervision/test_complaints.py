"""Complaints (诉求) through the API: when a resident may raise one, who sees and acts on it, what each
side sees of its timeline, the notices, lists and filters, and the 督办 raised from one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.api.helpers import assert_error
from tests.orders.conftest import Loop
from tests.race import race
from tests.supervision.complaint_support import BODY, cancelled_order, complain, complaint_in, served_order
from tests.support import make_user
from volunteer_app.extensions import db
from volunteer_app.notifications.models import Notification
from volunteer_app.supervision.models import Complaint, SupervisionItem

API = "/api/v1"


@pytest.fixture
def loop(app, client) -> Loop:
    return Loop(app, client)


def _notices(app, kind: str) -> list[tuple[int, str | None, dict]]:
    with app.app_context():
        return [
            (n.user_id, n.subject_id, n.params)
            for n in db.session.scalars(
                select(Notification).where(Notification.kind == kind).order_by(Notification.id)
            )
        ]


def _moment(value: str) -> datetime:
    return datetime.fromisoformat(value)


# ---- raising one ----------------------------------------------------------------------------------------


def test_a_resident_complains_about_their_ended_order_and_the_dispatch_site_is_told(app, world, loop):
    order = cancelled_order(loop, world.resident)
    before = datetime.now(UTC).replace(microsecond=0)
    body = complain(loop, world.resident, order["id"])
    assert (body["status"], body["order_id"], body["site_id"]) == ("open", order["id"], world.sites["S1"])
    assert (body["category"], body["text"], body["reopened"], body["item_id"]) == (
        BODY["category"],
        BODY["text"],
        0,
        None,
    )
    hours = app.config["SITE_DEFAULTS"]["complaint_answer_hours"]
    assert (
        before + timedelta(hours=hours)
        <= _moment(body["due_at"])
        <= datetime.now(UTC) + timedelta(hours=hours)
    )
    assert [(e["action"], e["from"], e["to"]) for e in body["timeline"]] == [("submit", None, "open")]
    assert _notices(app, "complaint.submitted") == [
        (world.mgr_s1.id, str(body["id"]), {"title": BODY["text"][:30], "category": "服务质量"})
    ]


def test_an_order_still_moving_cannot_be_complained_about(app, world, loop):
    order = loop.submit(world.resident)
    assert loop.call("POST", f"/orders/{order['id']}/complaints", world.resident, BODY, 409)["error"] == (
        "complaint.not_ended"
    )


def test_one_live_complaint_per_order_another_after_it_is_withdrawn_or_closed(app, world, loop):
    order = cancelled_order(loop, world.resident)
    first = complain(loop, world.resident, order["id"])["id"]
    assert complain(loop, world.resident, order["id"], 409)["error"] == "complaint.already_open"
    loop.call("POST", f"/complaints/{first}/answer", world.mgr_s1, {"resolution": "已处理"})
    assert complain(loop, world.resident, order["id"], 409)["error"] == "complaint.already_open"  # answered
    loop.call("POST", f"/complaints/{first}/accept", world.resident)
    second = complain(loop, world.resident, order["id"])["id"]
    loop.call("POST", f"/complaints/{second}/withdraw", world.resident)
    complain(loop, world.resident, order["id"])


def test_the_window_counts_from_when_the_order_ended(app, world, loop):
    days = app.config["SITE_DEFAULTS"]["complaint_window_days"]
    cancelled = cancelled_order(loop, world.resident)
    ended = datetime.now(UTC)
    with loop.at(ended + timedelta(days=days, minutes=1)):
        refused = complain(loop, world.resident, cancelled["id"], 409)
        assert refused["error"] == "complaint.window_closed"
    with loop.at(ended + timedelta(days=days) - timedelta(minutes=1)):
        complain(loop, world.resident, cancelled["id"])


def test_the_window_of_a_served_order_counts_from_completion_then_from_the_audit(app, world, loop):
    days = app.config["SITE_DEFAULTS"]["complaint_window_days"]
    completed, ended = served_order(loop, world)
    assert completed["status"] == "completed"
    with loop.at(ended + timedelta(days=days, minutes=1)):
        complain(loop, world.resident, completed["id"], 409)
    with loop.at(ended + timedelta(days=days - 1)):
        complain(loop, world.resident, completed["id"])
    closed, audited = served_order(loop, world, audit=True)
    assert closed["status"] == "closed"
    with loop.at(audited + timedelta(days=days, minutes=1)):
        complain(loop, world.resident, closed["id"], 409)
    with loop.at(audited + timedelta(days=days) - timedelta(minutes=1)):
        complain(loop, world.resident, closed["id"])


def test_a_site_may_set_its_own_window(app, world, loop):
    loop.call("PATCH", f"/sites/{world.sites['S1']}/settings", world.mgr_s1, {"complaint_window_days": 1})
    order = cancelled_order(loop, world.resident)
    with loop.at(datetime.now(UTC) + timedelta(days=1, minutes=5)):
        assert complain(loop, world.resident, order["id"], 409)["error"] == "complaint.window_closed"
    with loop.at(datetime.now(UTC) + timedelta(hours=23)):
        complain(loop, world.resident, order["id"])


def test_bad_input_is_refused_and_nothing_is_raised(app, world, loop):
    order = cancelled_order(loop, world.resident)
    for body in (
        {"category": "nonsense", "text": "x"},
        {"category": "other", "text": "   "},
        {"category": "other", "text": "长" * 2001},
        {"text": "没有类别"},
    ):
        loop.call("POST", f"/orders/{order['id']}/complaints", world.resident, body, 422)
    assert loop.call("GET", "/me/complaints", world.resident)["items"] == []


def test_a_repeated_idempotency_key_replays_the_first_answer(app, world, loop):
    order = cancelled_order(loop, world.resident)
    key = {"Idempotency-Key": "complaint-1"}
    first = loop.call("POST", f"/orders/{order['id']}/complaints", world.resident, BODY, 201, headers=key)
    again = loop.call("POST", f"/orders/{order['id']}/complaints", world.resident, BODY, 201, headers=key)
    assert again == first
    assert len(loop.call("GET", "/me/complaints", world.resident)["items"]) == 1


# ---- reach ----------------------------------------------------------------------------------------------


def test_someone_elses_order_and_complaint_are_absent(app, world, loop):
    order = cancelled_order(loop, world.resident)
    other = make_user(app, name="邻居", home_site_id=world.sites["S1"])
    loop.call("POST", f"/orders/{order['id']}/complaints", other, BODY, 404)
    loop.call("POST", f"/orders/{order['id']}/complaints", world.mgr_s1, BODY, 404)  # not theirs to raise
    complaint_id = complain(loop, world.resident, order["id"])["id"]
    for person in (other, world.vol_s1, world.mgr_s2, world.mgr_s4):
        loop.call("GET", f"/complaints/{complaint_id}", person, None, 404)
    for action in ("accept", "withdraw"):
        loop.call("POST", f"/complaints/{complaint_id}/{action}", other, None, 404)
        loop.call("POST", f"/complaints/{complaint_id}/{action}", world.mgr_s1, None, 404)  # the resident's
    loop.call("POST", f"/complaints/{complaint_id}/answer", world.mgr_s2, {"resolution": "x"}, 404)
    loop.call("POST", f"/complaints/{complaint_id}/notes", world.mgr_s2, {"note": "x"}, 404)
    loop.call("GET", f"/sites/{world.sites['S1']}/complaints", world.mgr_s2, None, 404)
    loop.call("GET", f"/sites/{world.sites['I1']}/complaints", world.mgr_s1, None, 404)  # not up the tree
    assert loop.call("GET", f"/complaints/{complaint_id}", world.mgr_c1)["id"] == complaint_id
    listed = loop.call("GET", f"/sites/{world.sites['I1']}/complaints", world.mgr_i1)["items"]
    assert [c["id"] for c in listed] == [complaint_id]
    assert loop.call("GET", "/me/complaints", other)["items"] == []


# ---- what each side sees --------------------------------------------------------------------------------


def test_the_resident_sees_actions_times_and_answers_not_staff_names_or_notes(app, world, loop):
    complaint_id = complaint_in(loop, world, "open")
    loop.call("POST", f"/complaints/{complaint_id}/notes", world.mgr_s1, {"note": "内部：志愿者称堵车"})
    answered = loop.call(
        "POST", f"/complaints/{complaint_id}/answer", world.mgr_s1, {"resolution": "已提醒志愿者提前联系"}
    )
    assert (answered["answered_by_id"], answered["resolution"]) == (world.mgr_s1.id, "已提醒志愿者提前联系")
    assert _notices(app, "complaint.answered") == [
        (
            world.resident.id,
            str(complaint_id),
            {"title": BODY["text"][:30], "resolution": "已提醒志愿者提前联系"},
        )
    ]
    mine = loop.call("GET", f"/complaints/{complaint_id}", world.resident)
    assert (mine["status"], mine["resolution"], mine["answered_by_id"], mine["item_id"]) == (
        "answered",
        "已提醒志愿者提前联系",
        None,
        None,
    )
    assert [(e["action"], e["actor_id"], e["note"]) for e in mine["timeline"]] == [
        ("submit", world.resident.id, None),
        ("note", None, None),
        ("answer", None, "已提醒志愿者提前联系"),
    ]
    assert all(e["created_at"] for e in mine["timeline"])
    staff = loop.call("GET", f"/complaints/{complaint_id}", world.mgr_s1)
    assert [(e["action"], e["actor_id"], e["note"]) for e in staff["timeline"]] == [
        ("submit", world.resident.id, None),
        ("note", world.mgr_s1.id, "内部：志愿者称堵车"),
        ("answer", world.mgr_s1.id, "已提醒志愿者提前联系"),
    ]
    assert str(world.mgr_s1.id) not in str([e["actor_id"] for e in mine["timeline"]])


def test_reopening_counts_sets_a_new_deadline_and_tells_the_site(app, world, loop):
    complaint_id = complaint_in(loop, world, "answered")
    first_due = loop.call("GET", f"/complaints/{complaint_id}", world.resident)["due_at"]
    later = datetime.now(UTC) + timedelta(hours=5)
    with loop.at(later):
        reopened = loop.call(
            "POST", f"/complaints/{complaint_id}/reopen", world.resident, {"text": "问题没解决"}
        )
    assert (reopened["status"], reopened["reopened"]) == ("open", 1)
    hours = app.config["SITE_DEFAULTS"]["complaint_answer_hours"]
    assert abs(_moment(reopened["due_at"]) - (later + timedelta(hours=hours))) < timedelta(seconds=1)
    assert _moment(reopened["due_at"]) > _moment(first_due)
    assert reopened["timeline"][-1]["note"] == "问题没解决"
    assert _notices(app, "complaint.reopened") == [
        (world.mgr_s1.id, str(complaint_id), {"title": BODY["text"][:30], "reason": "问题没解决"})
    ]


# ---- lists ----------------------------------------------------------------------------------------------


def test_lists_newest_first_with_filters_and_cursor(app, world, loop):
    open_id = complaint_in(loop, world, "open")
    answered_id = complaint_in(loop, world, "answered")
    other = cancelled_order(loop, world.resident)
    conduct_id = complain(
        loop, world.resident, other["id"], body={"category": "conduct", "text": "态度不好"}
    )["id"]
    site = world.sites["S1"]

    def ids(path: str, person=world.mgr_s1) -> list[int]:
        return [c["id"] for c in loop.call("GET", path, person)["items"]]

    assert ids("/me/complaints", world.resident) == [conduct_id, answered_id, open_id]
    assert ids("/me/complaints?status=answered", world.resident) == [answered_id]
    assert ids(f"/sites/{site}/complaints") == [conduct_id, answered_id, open_id]
    assert ids(f"/sites/{site}/complaints?status=open") == [conduct_id, open_id]
    assert ids(f"/sites/{site}/complaints?category=conduct") == [conduct_id]
    assert ids(f"/sites/{site}/complaints?overdue=true") == []
    page = loop.call("GET", f"/sites/{site}/complaints?limit=2", world.mgr_s1)
    assert [c["id"] for c in page["items"]] == [conduct_id, answered_id]
    rest = loop.call("GET", f"/sites/{site}/complaints?limit=2&cursor={page['next_cursor']}", world.mgr_s1)
    assert ([c["id"] for c in rest["items"]], rest["next_cursor"]) == ([open_id], None)
    hours = app.config["SITE_DEFAULTS"]["complaint_answer_hours"]
    with loop.at(datetime.now(UTC) + timedelta(hours=hours + 1)):
        assert ids(f"/sites/{site}/complaints?overdue=true") == [conduct_id, open_id]
        assert ids(f"/sites/{site}/complaints?overdue=false") == [answered_id]
    loop.call("GET", f"/sites/{site}/complaints?overdue=maybe", world.mgr_s1, None, 422)
    loop.call("GET", f"/sites/{site}/complaints?status=lost", world.mgr_s1, None, 422)
    loop.call("GET", f"/sites/{site}/complaints?cursor=nonsense", world.mgr_s1, None, 400)


# ---- 督办 -------------------------------------------------------------------------------------------------


def test_a_manager_above_the_site_raises_one_item_about_a_complaint(app, world, loop):
    complaint_id = complaint_in(loop, world, "open")
    refused = loop.call("POST", f"/complaints/{complaint_id}/supervise", world.mgr_s1, {"level": "red"}, 403)
    assert refused["error"] == "supervision.not_above"
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    late = loop.call(
        "POST", f"/complaints/{complaint_id}/supervise", world.mgr_i1, {"level": "red", "due_at": past}, 422
    )
    # the same refusal, and the same code, as raising an item with a past deadline (test_items.py)
    assert (late["error"], late["errors"]["json"]) == (
        "supervision.due_past",
        {"due_at": ["必须晚于当前时间"]},
    )
    body = loop.call(
        "POST", f"/complaints/{complaint_id}/supervise", world.mgr_i1, {"level": "red", "subject": "诉求督办"}
    )
    assert body["item_id"] is not None and body["status"] == "open"
    assert (body["timeline"][-1]["action"], body["timeline"][-1]["actor_id"]) == (
        "supervise",
        world.mgr_i1.id,
    )
    with app.app_context():
        item = db.session.get(SupervisionItem, body["item_id"])
        assert (
            item.about_kind,
            item.about_id,
            item.site_id,
            item.raised_site_id,
            item.level,
            item.subject,
        ) == (
            "complaint",
            complaint_id,
            world.sites["S1"],
            world.sites["I1"],
            "red",
            "诉求督办",
        )
        assert item.description == BODY["text"]
    again = loop.call("POST", f"/complaints/{complaint_id}/supervise", world.mgr_c1, {"level": "red"}, 409)
    assert again["error"] == "complaint.already_supervised"
    assert loop.call("GET", f"/complaints/{complaint_id}", world.resident)["item_id"] is None
    assert loop.call("GET", f"/complaints/{complaint_id}", world.mgr_s1)["item_id"] == body["item_id"]


def test_a_complaint_at_the_top_cannot_be_supervised(app, world, loop):
    """Nobody is above a center: a center's complaint has no one to supervise it (403)."""
    complaint_id = complaint_in(loop, world, "open")
    with app.app_context():
        db.session.get(Complaint, complaint_id).site_id = world.sites["C1"]
        db.session.commit()
    assert (
        loop.call("POST", f"/complaints/{complaint_id}/supervise", world.admin, {"level": "green"}, 403)[
            "error"
        ]
        == "supervision.not_above"
    )


def test_two_complaints_sent_at_once_about_one_order_make_one(app, world, loop):
    order = cancelled_order(loop, world.resident)
    url = f"{API}/orders/{order['id']}/complaints"
    responses = race(app, [lambda c: c.post(url, json=BODY, headers=world.resident.headers)] * 2)
    assert sorted(r.status_code for r in responses) == [201, 409]
    assert_error(next(r for r in responses if r.status_code == 409), 409, "complaint.already_open")
    assert len(loop.call("GET", "/me/complaints", world.resident)["items"]) == 1


def test_two_answers_at_once_answer_once(app, world, loop):
    complaint_id = complaint_in(loop, world, "open")
    url = f"{API}/complaints/{complaint_id}/answer"
    calls = [
        lambda c, p=p: c.post(url, json={"resolution": f"答复{p.id}"}, headers=p.headers)
        for p in (world.mgr_s1, world.mgr_i1)
    ]
    responses = race(app, calls)
    assert sorted(r.status_code for r in responses) == [200, 409]
    assert len(_notices(app, "complaint.answered")) == 1
    events = loop.call("GET", f"/complaints/{complaint_id}", world.mgr_s1)["timeline"]
    assert [e["action"] for e in events] == ["submit", "answer"]
