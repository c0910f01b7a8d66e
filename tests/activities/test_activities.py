"""Activities through the HTTP API: publish, sign up with a waitlist, the feed, attendance and audit,
exact sign-ups under concurrency, and service-day rules from saving to hours in the book."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from tests.api.helpers import assert_error
from tests.orders.conftest import FAR, NEAR, PLACE, Loop, category_id, iso
from tests.race import race
from tests.support import many_volunteers
from volunteer_app.activities import jobs
from volunteer_app.activities import service as activities
from volunteer_app.activities.models import Activity
from volunteer_app.attendance.models import Assignment
from volunteer_app.extensions import db
from volunteer_app.notifications.models import Notification
from volunteer_app.timebank.models import TimeAccount

SHANGHAI = ZoneInfo("Asia/Shanghai")
HERE = f"lat={PLACE['lat']}&lng={PLACE['lng']}"


@pytest.fixture
def loop(app, client) -> Loop:
    return Loop(app, client)


def activity_body(app, *, start: datetime | None = None, minutes: int = 180, **over) -> dict:
    start = start or datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    return {
        "category_id": category_id(app),
        "title": "社区清洁日",
        "theme": "学雷锋",
        "address": "文晖街道文化广场",
        **PLACE,
        "start_at": iso(start),
        "end_at": iso(start + timedelta(minutes=minutes)),
        "slots": 2,
        "waitlist_max": 1,
        **over,
    }


def publish(loop, world, **over) -> dict:
    return loop.call(
        "POST", f"/sites/{world.sites['S1']}/activities", world.mgr_s1, activity_body(loop.app, **over), 201
    )


def signup(loop, person, activity_id: int, status: int = 201) -> dict:
    return loop.call("POST", f"/activities/{activity_id}/signup", person, None, status)


def row(app, activity_id: int) -> Activity:
    with app.app_context():
        return db.session.get(Activity, activity_id)


def signups(app, activity_id: int) -> dict[int, str]:
    with app.app_context():
        return dict(
            db.session.execute(
                select(Assignment.volunteer_id, Assignment.status).where(
                    Assignment.activity_id == activity_id
                )
            ).all()
        )


def kinds(app, user_id: int, kind: str) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == user_id, Notification.kind == kind)
        )


def book(app, user_id: int) -> int:
    with app.app_context():
        return db.session.scalar(select(TimeAccount.balance).where(TimeAccount.user_id == user_id)) or 0


# ---- publishing -------------------------------------------------------------------------------------


def test_a_manager_publishes_and_anyone_signed_in_reads_it(app, world, loop):
    created = publish(loop, world)
    assert (created["status"], created["slots_left"], created["waitlist_left"]) == ("open", 2, 1)
    assert created["signup_open"] is True and created["my_assignment"] is None
    seen = loop.call("GET", f"/activities/{created['id']}", world.vol_s4)
    assert seen["title"] == "社区清洁日"
    listed = loop.call("GET", f"/sites/{world.sites['S1']}/activities", world.resident)["items"]
    assert [a["id"] for a in listed] == [created["id"]]


def test_publishing_out_of_reach_or_with_a_bad_window_changes_nothing(app, world, loop):
    path = f"/sites/{world.sites['S1']}/activities"
    assert_error(
        loop.client.post(f"/api/v1{path}", json=activity_body(app), headers=world.mgr_s4.headers), 404
    )
    assert_error(
        loop.client.post(f"/api/v1{path}", json=activity_body(app), headers=world.vol_s1.headers), 403
    )
    start = datetime.now(UTC) + timedelta(days=1)
    for over, field in (
        ({"end_at": iso(start - timedelta(hours=1)), "start_at": iso(start)}, "end_at"),
        ({"start_at": iso(start), "end_at": iso(start + timedelta(hours=25))}, "end_at"),
        (
            {"start_at": iso(start - timedelta(days=3)), "end_at": iso(start - timedelta(days=3, hours=-1))},
            "start_at",
        ),
        ({"slots": 0}, "slots"),
        ({"slots": True}, "slots"),
        ({"waitlist_max": -1}, "waitlist_max"),
        ({"category_id": 999_999}, "category_id"),
    ):
        body = {**activity_body(app), **over}
        response = loop.client.post(f"/api/v1{path}", json=body, headers=world.mgr_s1.headers)
        assert_error(response, 422)
        assert field in response.get_json()["errors"]["json"], (over, response.get_json())
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Activity)) == 0


def test_a_sites_list_upcoming_past_and_with_the_sites_below(app, world, loop):
    now = datetime.now(UTC).replace(microsecond=0)
    soon = publish(loop, world, start=now + timedelta(days=1))["id"]
    later = publish(loop, world, start=now + timedelta(days=2))["id"]
    ended, earlier = publish(loop, world)["id"], publish(loop, world)["id"]
    s2 = loop.call("POST", f"/sites/{world.sites['S2']}/activities", world.mgr_s2, activity_body(app), 201)[
        "id"
    ]
    with app.app_context():  # the API refuses to publish in the past: move two back
        for activity_id, days in ((ended, 1), (earlier, 3)):
            activity = db.session.get(Activity, activity_id)
            activity.start_at = now - timedelta(days=days, hours=3)
            activity.end_at = now - timedelta(days=days)
        db.session.commit()

    def ids(query: str, person=world.mgr_i1) -> list[int]:
        return [a["id"] for a in loop.call("GET", f"/sites/{query}", person)["items"]]

    s1, i1 = world.sites["S1"], world.sites["I1"]
    assert ids(f"{s1}/activities", world.resident) == [soon, later]  # upcoming: anyone may read them
    assert ids(f"{s1}/activities?when=upcoming", world.vol_s4) == [soon, later]
    assert ids(f"{s1}/activities?when=past") == [ended, earlier]  # the latest first
    assert ids(f"{i1}/activities") == []
    assert set(ids(f"{i1}/activities?subtree=true")) == {soon, later, s2}
    assert ids(f"{i1}/activities?subtree=1&when=past") == [ended, earlier]
    # The past (with its audit notes) and the subtree are the managers': anyone else, 404 like unknown.
    for person in (world.resident, world.vol_s1, world.mgr_s2, world.mgr_s4):
        for query in (f"{s1}/activities?when=past", f"{i1}/activities?subtree=true"):
            response = loop.client.get(f"/api/v1/sites/{query}", headers=person.headers)
            assert_error(response, 404)
    page = loop.call("GET", f"/sites/{s1}/activities?when=past&limit=1", world.mgr_s1)
    assert [a["id"] for a in page["items"]] == [ended]
    after = loop.call(
        "GET", f"/sites/{s1}/activities?when=past&limit=1&cursor={page['next_cursor']}", world.mgr_s1
    )
    assert [a["id"] for a in after["items"]] == [earlier] and after["next_cursor"] is None
    for bad in ("when=ended", "subtree=yes"):
        assert_error(
            loop.client.get(f"/api/v1/sites/{s1}/activities?{bad}", headers=world.resident.headers), 422
        )


def test_the_activities_waiting_for_their_audit(app, world, loop):
    """`when=to_audit`: ended and still open (the audit closes it), the oldest first; the managers'."""
    now = datetime.now(UTC).replace(microsecond=0)
    older, newer, audited, cancelled, under_way = (publish(loop, world)["id"] for _ in range(5))
    publish(loop, world, start=now + timedelta(days=1))  # upcoming
    below = loop.call("POST", f"/sites/{world.sites['S2']}/activities", world.mgr_s2, activity_body(app), 201)
    loop.call("POST", f"/activities/{cancelled}/cancel", world.mgr_s1, {"reason": "暴雨"})
    with app.app_context():  # the API refuses to publish in the past: move them back
        for activity_id, ended in (
            (older, timedelta(days=2)),
            (newer, timedelta(minutes=1)),
            (audited, timedelta(hours=1)),
            (cancelled, timedelta(hours=1)),
            (below["id"], timedelta(hours=2)),
        ):
            activity = db.session.get(Activity, activity_id)
            activity.start_at, activity.end_at = now - ended - timedelta(hours=2), now - ended
        activity = db.session.get(Activity, under_way)
        activity.start_at, activity.end_at = now - timedelta(hours=1), now + timedelta(hours=1)
        db.session.commit()
    loop.call("POST", f"/activities/{audited}/audit", world.mgr_s1, {"confirm_computed": True})

    def ids(site: str, query: str = "", person=world.mgr_i1) -> list[int]:
        found = loop.call("GET", f"/sites/{world.sites[site]}/activities?when=to_audit{query}", person)
        return [a["id"] for a in found["items"]]

    assert ids("S1") == [older, newer]
    assert ids("S1", person=world.mgr_s1) == [older, newer]
    assert ids("I1") == []  # the institute's own
    assert ids("I1", "&subtree=true") == [older, below["id"], newer]
    assert ids("C1", "&subtree=true", world.admin) == [older, below["id"], newer]
    page = loop.call("GET", f"/sites/{world.sites['S1']}/activities?when=to_audit&limit=1", world.mgr_s1)
    assert [a["id"] for a in page["items"]] == [older] and page["next_cursor"]
    for person in (world.resident, world.vol_s1, world.mgr_s2, world.mgr_s4):
        response = loop.client.get(
            f"/api/v1/sites/{world.sites['S1']}/activities?when=to_audit", headers=person.headers
        )
        assert_error(response, 404)


def test_the_signup_list_names_each_volunteer_and_gives_the_waitlist_in_its_order(app, world, loop):
    a = publish(loop, world, slots=1, waitlist_max=3)["id"]
    holder, first, second = many_volunteers(app, world.sites["S1"], 3)
    held = signup(loop, holder, a)["id"]
    waiting_first = signup(loop, first, a)["id"]
    waiting_second = signup(loop, second, a)["id"]
    # The first in the queue cancels and signs up again: back of the queue, with the same row.
    loop.call("DELETE", f"/activities/{a}/signup", first, status=204)
    assert signup(loop, first, a)["id"] == waiting_first
    everyone = loop.call("GET", f"/activities/{a}/signups", world.mgr_s1)["items"]
    assert [s["id"] for s in everyone] == [held, waiting_first, waiting_second]  # sign-up order
    assert {s["volunteer_name"] for s in everyone} == {"抢单志愿者"}
    assert everyone[0]["hours_confirmed"] is None and everyone[0]["status"] == "held"
    queue = loop.call("GET", f"/activities/{a}/signups?waitlist=true", world.mgr_s1)["items"]
    assert [s["id"] for s in queue] == [waiting_second, waiting_first]  # the order places go in
    page = loop.call("GET", f"/activities/{a}/signups?waitlist=true&limit=1", world.mgr_s1)
    rest = loop.call(
        "GET", f"/activities/{a}/signups?waitlist=true&limit=1&cursor={page['next_cursor']}", world.mgr_s1
    )
    assert [s["id"] for s in page["items"] + rest["items"]] == [waiting_second, waiting_first]
    placed = loop.call("GET", f"/activities/{a}/signups?waitlist=false", world.mgr_s1)["items"]
    assert [s["id"] for s in placed] == [held]
    # The waitlist's order is the order places go in.
    loop.call("DELETE", f"/activities/{a}/signup", holder, status=204)
    assert signups(app, a)[second.id] == "held" and signups(app, a)[first.id] == "waitlisted"
    assert_error(loop.client.get(f"/api/v1/activities/{a}/signups", headers=world.mgr_s2.headers), 404)


# ---- 报名 and the waitlist -------------------------------------------------------------------------


def test_signup_fills_places_then_the_waitlist_then_refuses(app, world, loop):
    a = publish(loop, world)["id"]
    people = many_volunteers(app, world.sites["S1"], 4)
    first, second, third, fourth = people
    assert signup(loop, first, a)["status"] == "held"
    assert signup(loop, second, a)["status"] == "held"
    waiting = signup(loop, third, a)
    assert waiting["status"] == "waitlisted" and waiting["queued_at"] is not None
    assert_error(
        loop.client.post(f"/api/v1/activities/{a}/signup", headers=fourth.headers), 409, "activity.full"
    )
    assert_error(
        loop.client.post(f"/api/v1/activities/{a}/signup", headers=first.headers),
        409,
        "activity.already_signed_up",
    )
    activity = row(app, a)
    assert (activity.taken, activity.waiting) == (2, 1)
    mine = loop.call("GET", f"/activities/{a}", third)["my_assignment"]
    assert mine["status"] == "waitlisted"


def test_a_freed_place_goes_to_the_oldest_on_the_waitlist(app, world, loop):
    a = publish(loop, world, slots=1, waitlist_max=2)["id"]
    holder, early, late = many_volunteers(app, world.sites["S1"], 3)
    held = signup(loop, holder, a)
    signup(loop, early, a)
    signup(loop, late, a)
    assert loop.call("DELETE", f"/activities/{a}/signup", holder, status=204) is None
    assert signups(app, a) == {holder.id: "cancelled", early.id: "held", late.id: "waitlisted"}
    assert kinds(app, early.id, "activity.promoted") == 1 and kinds(app, late.id, "activity.promoted") == 0
    activity = row(app, a)
    assert (activity.taken, activity.waiting) == (1, 1)
    # A waitlisted sign-up cancelling frees a waitlist place only.
    loop.call("DELETE", f"/activities/{a}/signup", late, status=204)
    activity = row(app, a)
    assert (activity.taken, activity.waiting) == (1, 0)
    # Signing up again after cancelling reuses the row: back of the queue.
    again = signup(loop, holder, a)
    assert (again["id"], again["status"]) == (held["id"], "waitlisted")
    assert_error(
        loop.client.delete(f"/api/v1/activities/{a}/signup", headers=late.headers),
        409,
        "activity.not_signed_up",
    )


def test_withdraw_on_a_signup_is_cancelling_it_and_accept_is_not_for_signups(app, world, loop):
    a = publish(loop, world, slots=1, waitlist_max=1)["id"]
    holder, waiting = many_volunteers(app, world.sites["S1"], 2)
    mine = signup(loop, holder, a)
    signup(loop, waiting, a)
    assert_error(
        loop.client.post(f"/api/v1/assignments/{mine['id']}/accept", json={}, headers=holder.headers), 404
    )
    assert_error(
        loop.client.post(f"/api/v1/assignments/{mine['id']}/withdraw", json={}, headers=waiting.headers), 404
    )
    assert loop.act(holder, mine["id"], "withdraw")["status"] == "cancelled"
    assert signups(app, a)[waiting.id] == "held"


def test_signup_closes_at_the_start_and_on_cancelled_activities(app, world, loop):
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
    a = publish(loop, world, start=start)["id"]
    people = many_volunteers(app, world.sites["S1"], 3)
    signup(loop, people[0], a)
    with loop.at(start + timedelta(minutes=1)):
        signup(loop, people[1], a, status=409)
        loop.call("DELETE", f"/activities/{a}/signup", people[0], status=409)
    b = publish(loop, world)["id"]
    signup(loop, people[2], b)
    done = loop.call("POST", f"/activities/{b}/cancel", world.mgr_s1, {"reason": "暴雨预警"})
    assert done["status"] == "cancelled"
    assert signups(app, b) == {people[2].id: "cancelled"}
    assert kinds(app, people[2].id, "activity.cancelled") == 1
    assert_error(
        loop.client.post(f"/api/v1/activities/{b}/signup", headers=people[0].headers), 409, "activity.closed"
    )
    assert_error(
        loop.client.post(
            f"/api/v1/activities/{a}/cancel", json={"reason": "x"}, headers=world.mgr_s4.headers
        ),
        404,
    )


def test_forty_volunteers_sign_up_at_once_for_three_places_and_two_waitlist_places(app, world, loop):
    a = publish(loop, world, slots=3, waitlist_max=2)["id"]
    people = many_volunteers(app, world.sites["S1"], 40)

    def go(client, person):
        return client.post(f"/api/v1/activities/{a}/signup", headers=person.headers)

    responses = race(app, [lambda c, p=p: go(c, p) for p in people])
    assert Counter(r.status_code for r in responses) == {201: 5, 409: 35}
    assert Counter(r.get_json()["status"] for r in responses if r.status_code == 201) == {
        "held": 3,
        "waitlisted": 2,
    }
    assert {r.get_json()["error"] for r in responses if r.status_code == 409} == {"activity.full"}
    activity = row(app, a)
    assert (activity.taken, activity.waiting) == (3, 2)
    assert Counter(signups(app, a).values()) == {"held": 3, "waitlisted": 2}


def test_concurrent_cancellations_promote_each_waiting_volunteer_once(app, world, loop):
    a = publish(loop, world, slots=3, waitlist_max=3)["id"]
    people = many_volunteers(app, world.sites["S1"], 6)
    for person in people:
        signup(loop, person, a)
    holders = people[:3]
    responses = race(
        app, [lambda c, p=p: c.delete(f"/api/v1/activities/{a}/signup", headers=p.headers) for p in holders]
    )
    assert [r.status_code for r in responses] == [204, 204, 204]
    assert Counter(signups(app, a).values()) == {"cancelled": 3, "held": 3}
    activity = row(app, a)
    assert (activity.taken, activity.waiting) == (3, 0)


# ---- the feed ---------------------------------------------------------------------------------------


def test_the_feed_lists_open_activities_nearest_first_with_orders(app, world, loop):
    near = publish(loop, world, **NEAR, title="近处活动")["id"]
    far = publish(loop, world, **FAR, title="远处活动")["id"]
    order = loop.submit(world.resident)
    loop.dispatch_grab(world.mgr_s1, order["id"], capacity=2)
    feed = loop.call("GET", f"/tasks/available?{HERE}&radius_m=10000", world.vol_s1)["items"]
    assert [(i["kind"], i["id"]) for i in feed] == [
        ("order", order["id"]),
        ("activity", near),
        ("activity", far),
    ]
    assert feed[1]["theme"] == "学雷锋" and feed[1]["waitlist_left"] == 1
    # Paged one at a time, the same three in the same order.
    seen, cursor = [], None
    while True:
        page = loop.call(
            "GET",
            f"/tasks/available?{HERE}&radius_m=10000&limit=1" + (f"&cursor={cursor}" if cursor else ""),
            world.vol_s1,
        )
        seen += [(i["kind"], i["id"]) for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [(i["kind"], i["id"]) for i in feed]
    # Signed up: gone from my feed; full with no waitlist room: gone from everyone's.
    signup(loop, world.vol_s1, near)
    mine = loop.call("GET", f"/tasks/available?{HERE}&radius_m=10000", world.vol_s1)["items"]
    assert ("activity", near) not in [(i["kind"], i["id"]) for i in mine]
    for person in many_volunteers(app, world.sites["S1"], 2):
        signup(loop, person, near)
    others = loop.call("GET", f"/tasks/available?{HERE}&radius_m=10000", world.vol_s4)["items"]
    assert ("activity", near) not in [(i["kind"], i["id"]) for i in others]
    assert ("activity", far) in [(i["kind"], i["id"]) for i in others]


# ---- attendance and audit ---------------------------------------------------------------------------


def test_attend_and_audit_credit_the_hours_once(app, world, loop):
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=5)
    a = publish(loop, world, start=start, minutes=120, slots=3, waitlist_max=1)["id"]
    came, absent, waiting, left_late = many_volunteers(app, world.sites["S1"], 4)
    came_id = signup(loop, came, a)["id"]
    signup(loop, absent, a)
    late_id = signup(loop, left_late, a)["id"]
    signup(loop, waiting, a)
    with loop.at(start - timedelta(hours=1)):
        assert_error(
            loop.client.post(
                f"/api/v1/assignments/{came_id}/check-in", json=PLACE, headers=loop.headers(came)
            ),
            409,
            "attendance.too_early",
        )
    with loop.at(start + timedelta(minutes=5)):
        loop.act(came, came_id, "check-in", NEAR)
        loop.act(left_late, late_id, "check-in", NEAR)
    with loop.at(start + timedelta(minutes=95)):
        out = loop.act(came, came_id, "check-out", NEAR)
        assert out["minutes_computed"] == 90
        # Not ended yet; and someone is still on site.
        assert_error(
            loop.client.post(
                f"/api/v1/activities/{a}/audit",
                json={"confirm_computed": True},
                headers=loop.headers(world.mgr_s1),
            ),
            409,
            "activity.not_ended",
        )
    with loop.at(start + timedelta(hours=3)):
        assert_error(
            loop.client.post(
                f"/api/v1/activities/{a}/audit",
                json={"confirm_computed": True},
                headers=loop.headers(world.mgr_s1),
            ),
            409,
            "activity.on_site",
        )
        loop.act(world.mgr_s1, late_id, "close", {"reason": "忘记签退"})
        assert_error(
            loop.client.post(
                f"/api/v1/activities/{a}/audit",
                json={"confirm_computed": True},
                headers=loop.headers(world.mgr_s4),
            ),
            404,
        )
        audited = loop.call(
            "POST",
            f"/activities/{a}/audit",
            world.mgr_s1,
            {
                "assignments": [{"assignment_id": late_id, "minutes": 60, "reason": "现场确认"}],
                "confirm_computed": True,
                "note": "ok",
            },
        )
        assert audited["status"] == "closed"
        loop.call("POST", f"/activities/{a}/audit", world.mgr_s1, {"confirm_computed": True}, status=409)
    assert book(app, came.id) == 90 and book(app, left_late.id) == 60 and book(app, absent.id) == 0
    assert signups(app, a) == {
        came.id: "audited",
        left_late.id: "audited",
        absent.id: "no_show",
        waiting.id: "cancelled",
    }
    assert kinds(app, came.id, "hours.credited") == 1
    timebook = loop.call("GET", "/me/timebook", came)
    assert timebook["balance_minutes"] == 90


# ---- service-day rules ------------------------------------------------------------------------------


def rule_body(app, **over) -> dict:
    return {
        "spec": {"kind": "days_of_month", "days": [5], "part_of_day": "afternoon"},
        "theme": "每月志愿服务日",
        "title": "文明实践志愿服务日",
        "category_id": category_id(app),
        "address": "文晖街道新时代文明实践站",
        **PLACE,
        "slots": 10,
        "waitlist_max": 5,
        **over,
    }


def test_preview_reads_a_rule_back_before_saving(app, world, loop):
    site = world.sites["S1"]
    moment = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)
    with loop.at(moment):
        got = loop.call(
            "GET",
            f"/sites/{site}/service-day-rules/preview?kind=nth_weekday&nth=1&weekday=4&part_of_day=afternoon&count=3",
            world.mgr_s1,
        )
    assert got["timezone"] == "Asia/Shanghai"
    assert [o["date"] for o in got["next_occurrences"]] == ["2026-12-04", "2027-01-01", "2027-02-05"]
    assert got["next_occurrences"][0]["start_at"].startswith("2026-12-04T06:30:00")
    assert "星期五" in got["description"] or "周五" in got["description"]
    bad = loop.client.get(
        f"/api/v1/sites/{site}/service-day-rules/preview?kind=nth_weekday&nth=9&weekday=4&part_of_day=afternoon",
        headers=world.mgr_s1.headers,
    )
    assert_error(bad, 422)
    assert_error(
        loop.client.get(
            f"/api/v1/sites/{site}/service-day-rules/preview?kind=annual&dates=03-05&part_of_day=morning",
            headers=world.mgr_s4.headers,
        ),
        404,
    )


def test_bad_rules_are_refused_field_by_field(app, world, loop):
    path = f"/api/v1/sites/{world.sites['S1']}/service-day-rules"
    for spec in (
        {"kind": "days_of_month", "days": [0], "part_of_day": "afternoon"},
        {"kind": "days_of_month", "days": "5", "part_of_day": "afternoon"},
        {"kind": "weekly", "part_of_day": "afternoon"},
        {"kind": "annual", "dates": ["02-30"], "part_of_day": "morning"},
        {"kind": "nth_week", "nth": 3, "part_of_day": "noon"},
        {
            "kind": "days_of_month",
            "days": [5],
            "part_of_day": "morning",
            "start_time": "12:00",
            "end_time": "11:00",
        },
        "every month",
    ):
        response = loop.client.post(path, json=rule_body(app, spec=spec), headers=world.mgr_s1.headers)
        assert_error(response, 422)
        assert "spec" in response.get_json()["errors"]["json"], (spec, response.get_json())
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Activity)) == 0


def test_saving_a_rule_generates_this_month_and_next_and_the_monthly_job_the_one_after(app, world, loop):
    site = world.sites["S1"]
    saved_at = datetime(2026, 11, 3, 9, 0, tzinfo=SHANGHAI)
    with loop.at(saved_at):
        rule = loop.call("POST", f"/sites/{site}/service-day-rules", world.mgr_s1, rule_body(app), 201)
        listed = loop.call("GET", f"/sites/{site}/service-day-rules", world.mgr_s1)["items"]
    assert [r["id"] for r in listed] == [rule["id"]]
    assert [o["date"] for o in rule["next_occurrences"]] == ["2026-11-05", "2026-12-05", "2027-01-05"]

    def dates():
        with app.app_context():
            return [
                d.isoformat()
                for d in db.session.scalars(
                    select(Activity.local_date)
                    .where(Activity.rule_id == rule["id"])
                    .order_by(Activity.local_date)
                )
            ]

    assert dates() == ["2026-11-05", "2026-12-05"]
    with app.app_context():
        first = db.session.scalars(
            select(Activity).where(Activity.rule_id == rule["id"]).order_by(Activity.id)
        ).first()
        assert first.start_at == datetime(2026, 11, 5, 6, 30, tzinfo=UTC)  # 14:30 in Shanghai
        assert (first.theme, first.slots, first.waitlist_max, first.site_id) == (
            "每月志愿服务日",
            10,
            5,
            site,
        )
    # The monthly job on Nov 20 (02:00 Shanghai) asks for December again: nothing new.
    with app.app_context():
        assert jobs.generate_next_month(datetime(2026, 11, 19, 18, 0, tzinfo=UTC)) == {
            "rules": 1,
            "activities": 0,
        }
        db.session.commit()
    # On Dec 20 it generates January, once however often it runs.
    with app.app_context():
        assert jobs.generate_next_month(datetime(2026, 12, 19, 18, 0, tzinfo=UTC))["activities"] == 1
        assert jobs.generate_next_month(datetime(2026, 12, 19, 18, 0, tzinfo=UTC))["activities"] == 0
        db.session.commit()
    assert dates() == ["2026-11-05", "2026-12-05", "2027-01-05"]
    # Paused: the job generates nothing more.
    with loop.at(saved_at):
        paused = loop.call("PATCH", f"/service-day-rules/{rule['id']}", world.mgr_s1, {"active": False})
    assert paused["active"] is False and paused["next_occurrences"] == []
    with app.app_context():
        assert jobs.generate_next_month(datetime(2027, 1, 19, 18, 0, tzinfo=UTC)) == {
            "rules": 0,
            "activities": 0,
        }
    assert_error(
        loop.client.get(f"/api/v1/service-day-rules/{rule['id']}", headers=world.mgr_s4.headers), 404
    )


def test_a_rule_saved_after_this_months_day_starts_with_next_month(app, world, loop):
    with loop.at(datetime(2026, 11, 5, 15, 0, tzinfo=SHANGHAI)):  # the 5th's afternoon already began
        rule = loop.call(
            "POST", f"/sites/{world.sites['S1']}/service-day-rules", world.mgr_s1, rule_body(app), 201
        )
    with app.app_context():
        got = db.session.scalars(select(Activity.local_date).where(Activity.rule_id == rule["id"])).all()
    assert [d.isoformat() for d in got] == ["2026-12-05"]


def test_reminders_go_once_to_holders_of_activities_starting_within_a_day(app, world, loop):
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=30)
    a = publish(loop, world, start=start, slots=1, waitlist_max=1)["id"]
    holder, waiting = many_volunteers(app, world.sites["S1"], 2)
    signup(loop, holder, a)
    signup(loop, waiting, a)
    with app.app_context():
        assert jobs.remind_upcoming(start - timedelta(hours=25))["activities"] == 0
        assert jobs.remind_upcoming(start - timedelta(hours=23)) == {"activities": 1, "volunteers": 1}
        assert jobs.remind_upcoming(start - timedelta(hours=22))["activities"] == 0
        db.session.commit()
    assert kinds(app, holder.id, "activity.reminder") == 1
    assert kinds(app, waiting.id, "activity.reminder") == 0


def test_a_new_user_walks_a_service_day_from_rule_to_hours(app, world, loop):
    """The issue's walk: a manager adds a 每月5日 rule, the activity is in the volunteers' feed, a
    volunteer signs up, checks in and out, the manager audits, and the hours arrive."""
    site = world.sites["S1"]
    with loop.at(datetime(2026, 11, 1, 9, 0, tzinfo=SHANGHAI)):
        loop.call("POST", f"/sites/{site}/service-day-rules", world.mgr_s1, rule_body(app), 201)
        feed = loop.call("GET", f"/tasks/available?{HERE}", world.vol_s1)["items"]
        assert [(i["kind"], i["title"]) for i in feed][:1] == [("activity", "文明实践志愿服务日")]
        activity = next(i for i in feed if i["kind"] == "activity" and i["start_at"].startswith("2026-11-05"))
        mine = signup(loop, world.vol_s1, activity["id"])
    with loop.at(datetime(2026, 11, 5, 14, 25, tzinfo=SHANGHAI)):
        loop.act(world.vol_s1, mine["id"], "check-in", NEAR)
    with loop.at(datetime(2026, 11, 5, 17, 30, tzinfo=SHANGHAI)):
        assert loop.act(world.vol_s1, mine["id"], "check-out", NEAR)["minutes_computed"] == 180
    with loop.at(datetime(2026, 11, 6, 9, 0, tzinfo=SHANGHAI)):
        loop.call("POST", f"/activities/{activity['id']}/audit", world.mgr_s1, {"confirm_computed": True})
        assert loop.call("GET", "/me/timebook", world.vol_s1)["balance_minutes"] == 180


def test_assignment_actions_on_a_signup_are_its_volunteers_and_its_managers_only(app, world, loop):
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=20)
    a = publish(loop, world, start=start)["id"]
    mine = signup(loop, world.vol_s1, a)["id"]
    for person, action, body in (
        (world.vol_s4, "check-in", NEAR),
        (world.vol_s4, "withdraw", {}),
        (world.mgr_s4, "close", {"reason": "x"}),
        (world.mgr_s4, "no-show", {"reason": "x"}),
        (world.mgr_s2, "no-show", {"reason": "x"}),
    ):
        response = loop.client.post(f"/api/v1/assignments/{mine}/{action}", json=body, headers=person.headers)
        assert_error(response, 404)
    assert signups(app, a) == {world.vol_s1.id: "held"}
    # Before the start no one has failed to come yet: 409, nothing recorded.
    response = loop.client.post(
        f"/api/v1/assignments/{mine}/no-show", json={"reason": "未到场"}, headers=world.mgr_s1.headers
    )
    assert_error(response, 409, "activity.not_started")
    assert signups(app, a) == {world.vol_s1.id: "held"}
    with loop.at(start + timedelta(minutes=1)):
        assert loop.act(world.mgr_s1, mine, "no-show", {"reason": "未到场"})["status"] == "no_show"


def test_the_actions_an_activity_allows_follow_its_state_and_the_clock(app, world, loop):
    """activities.service.allowed_actions (what the console offers) says what the commands accept:
    cancel before the start, a no-show from it, the audit from the end; nothing once cancelled."""
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    end = start + timedelta(minutes=180)
    a = publish(loop, world, start=start)["id"]
    with app.app_context():
        activity = db.session.get(Activity, a)
        for moment, phase, allowed in (
            (start - timedelta(minutes=1), "signing_up", {"cancel", "close_attendance"}),
            (start, "under_way", {"close_attendance", "no_show"}),
            (end - timedelta(seconds=1), "under_way", {"close_attendance", "no_show"}),
            (end, "to_audit", {"close_attendance", "no_show", "audit"}),
        ):
            assert activities.phase(activity, moment) == phase, moment
            assert {k for k, v in activities.allowed_actions(activity, moment).items() if v} == allowed, (
                moment
            )
    # The commands agree: under way, cancelling is refused; before the end, the audit.
    with loop.at(start + timedelta(minutes=1)):
        headers = loop.headers(world.mgr_s1)
        response = loop.client.post(f"/api/v1/activities/{a}/cancel", json={"reason": "x"}, headers=headers)
        assert_error(response, 409, "activity.started")
        response = loop.client.post(
            f"/api/v1/activities/{a}/audit", json={"confirm_computed": True}, headers=headers
        )
        assert_error(response, 409, "activity.not_ended")
    loop.call("POST", f"/activities/{a}/cancel", world.mgr_s1, {"reason": "下雨"})
    with app.app_context():
        activity = db.session.get(Activity, a)
        assert activities.phase(activity, start) == "cancelled"
        assert not any(activities.allowed_actions(activity, end).values())


def test_an_activity_with_someone_already_checked_in_cannot_be_cancelled(app, world, loop):
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=20)  # check-in opens 30 min before
    a = publish(loop, world, start=start)["id"]
    mine = signup(loop, world.vol_s1, a)["id"]
    loop.act(world.vol_s1, mine, "check-in", NEAR)
    response = loop.client.post(
        f"/api/v1/activities/{a}/cancel", json={"reason": "x"}, headers=world.mgr_s1.headers
    )
    assert_error(response, 409, "activity.on_site")
    assert row(app, a).status == "open" and signups(app, a) == {world.vol_s1.id: "checked_in"}


def test_far_check_in_and_out_at_an_activity_are_refused_and_record_nothing(app, world, loop):
    """Issue 11, defect 4, for activities: beyond the site's check-in radius is 422 with the distance."""
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=20)
    a = publish(loop, world, start=start)["id"]
    mine = signup(loop, world.vol_s1, a)["id"]
    for action in ("check-in", "check-out"):
        if action == "check-out":
            loop.act(world.vol_s1, mine, "check-in", NEAR)
        response = loop.client.post(
            f"/api/v1/assignments/{mine}/{action}", json=FAR, headers=world.vol_s1.headers
        )
        body = assert_error(response, 422, "attendance.too_far")
        assert 3500 < body["errors"]["position"]["distance_m"] < 4500
        assert body["errors"]["position"]["radius_m"] == 500
        with app.app_context():
            stored = db.session.scalars(select(Assignment).where(Assignment.id == mine)).one()
            expected = ("held", None) if action == "check-in" else ("checked_in", None)
            assert (stored.status, stored.checkout_at) == expected
    assert loop.act(world.vol_s1, mine, "check-out", NEAR)["status"] == "checked_out"


def test_my_activities_lists_my_assignments_with_the_assignment_to_check_in_with(app, world, loop):
    later = publish(
        loop, world, title="第二场", start=datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    )
    sooner = publish(loop, world, title="第一场", slots=1, waitlist_max=1)
    other = publish(loop, world, title="没报名")
    signup(loop, world.vol_s4, sooner["id"])
    mine_later = signup(loop, world.vol_s1, later["id"])
    mine_sooner = signup(loop, world.vol_s1, sooner["id"])  # waitlisted: vol_s4 holds the place
    page = loop.call("GET", "/me/activities", world.vol_s1)
    got = [(a["id"], a["my_assignment"]["id"], a["my_assignment"]["status"]) for a in page["items"]]
    assert got == [
        (sooner["id"], mine_sooner["id"], "waitlisted"),
        (later["id"], mine_later["id"], "held"),
    ]
    assert other["id"] not in [a["id"] for a in page["items"]]
    loop.call("DELETE", f"/activities/{later['id']}/signup", world.vol_s1, status=204)
    assert [a["id"] for a in loop.call("GET", "/me/activities", world.vol_s1)["items"]] == [sooner["id"]]
    assert_error(loop.client.get("/api/v1/me/activities", headers=world.resident.headers), 403)


def test_an_activity_left_unaudited_is_escalated_once_to_its_managers_and_those_above(app, world, loop):
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    a = publish(loop, world, start=start, minutes=60)["id"]
    due = row(app, a).audit_due_at
    assert due == start + timedelta(minutes=60) + timedelta(hours=168)  # the default audit window
    with app.app_context():
        assert jobs.escalate_unaudited(due - timedelta(minutes=1)) == {"escalated": 0}
        assert jobs.escalate_unaudited(due) == {"escalated": 1}
        assert jobs.escalate_unaudited(due + timedelta(hours=1)) == {"escalated": 0}
        db.session.commit()
    assert kinds(app, world.mgr_s1.id, "activity.unaudited") == 1
    assert kinds(app, world.mgr_i1.id, "activity.unaudited") == 1  # the institute above S1
    assert kinds(app, world.mgr_s4.id, "activity.unaudited") == 0
    # An audited activity is never escalated.
    b = publish(loop, world, start=start, minutes=60)["id"]
    with loop.at(start + timedelta(hours=2)):
        loop.call("POST", f"/activities/{b}/audit", world.mgr_s1, {"confirm_computed": True})
    with app.app_context():
        assert jobs.escalate_unaudited(due + timedelta(hours=2)) == {"escalated": 0}


def test_generated_activities_carry_their_audit_deadline(app, world, loop):
    with loop.at(datetime(2026, 11, 3, 9, 0, tzinfo=SHANGHAI)):
        rule = loop.call(
            "POST", f"/sites/{world.sites['S1']}/service-day-rules", world.mgr_s1, rule_body(app), 201
        )
    with app.app_context():
        for activity in db.session.scalars(select(Activity).where(Activity.rule_id == rule["id"])):
            assert activity.audit_due_at == activity.end_at + timedelta(hours=168)
