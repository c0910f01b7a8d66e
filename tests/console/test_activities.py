"""The console's activities and service days: the list (upcoming, past, a site's sub-sites), one
activity with its sign-ups and waitlist and the actions on them, the service-day rules with a preview
before saving; every role in and out of reach; each form sent as console.js would send it
(tests/console/forms.py)."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, time, timedelta
from html import unescape
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

import volunteer_app.console.activities as console_activities
from tests.console.forms import (
    collect,
    forms,
    next_location,
    one_form,
    rule_preview_url,
    send,
    show_rule_kind,
    type_into,
)
from tests.orders.conftest import NEAR, PLACE, category_id, iso
from tests.support import console_sign_in, many_volunteers
from volunteer_app.accounts.models import User
from volunteer_app.activities.models import Activity, ServiceDayRule
from volunteer_app.attendance.models import Assignment
from volunteer_app.extensions import db

SHANGHAI = ZoneInfo("Asia/Shanghai")
_titles = itertools.count(1)


# ---- the world's activities ----------------------------------------------------------------------


def body_for(app, *, start: datetime | None = None, minutes: int = 120, **over) -> dict:
    start = start or datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    return {
        "category_id": category_id(app),
        "title": f"社区清洁日{next(_titles)}",
        "address": "文晖街道文化广场",
        **PLACE,
        "start_at": iso(start),
        "end_at": iso(start + timedelta(minutes=minutes)),
        "slots": 2,
        "waitlist_max": 1,
        **over,
    }


def publish(app, world, site: str = "S1", manager: str = "mgr_s1", **over) -> dict:
    response = app.test_client().post(
        f"/api/v1/sites/{world.sites[site]}/activities",
        json=body_for(app, **over),
        headers=world.people[manager].headers,
    )
    assert response.status_code == 201, response.json
    return response.json


def move(app, activity_id: int, start: datetime, end: datetime) -> None:
    """Put an activity's window elsewhere (the API refuses to publish one in the past)."""
    with app.app_context():
        activity = db.session.get(Activity, activity_id)
        activity.start_at, activity.end_at = start, end
        db.session.commit()


def signup(app, person, activity_id: int) -> dict:
    response = app.test_client().post(f"/api/v1/activities/{activity_id}/signup", headers=person.headers)
    assert response.status_code == 201, response.json
    return response.json


def signed_in(app, world, who: str):
    client = app.test_client()
    csrf = console_sign_in(app, client, world.people[who].id)
    return client, csrf


def rule_in_db(app, world) -> int:
    client, csrf = signed_in(app, world, "mgr_s1")
    body = {
        "spec": {"kind": "nth_weekday", "nth": 1, "weekday": 4, "part_of_day": "morning"},
        "theme": "每月学雷锋日",
        "title": "第一个星期五",
        "category_id": category_id(app),
        "address": "站前广场",
        **PLACE,
        "slots": 5,
    }
    response = client.post(
        f"/api/v1/sites/{world.sites['S1']}/service-day-rules", json=body, headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 201, response.json
    return response.json["id"]


# ---- roles and reach -----------------------------------------------------------------------------


def test_every_page_keeps_to_its_roles_and_reach(app, world):
    activity = publish(app, world, title="宝石站清洁日")
    rule_in_db(app, world)
    s1 = world.sites["S1"]
    pages = {
        f"/console/activities?site={s1}": "宝石站清洁日",
        f"/console/activities/{activity['id']}": "宝石站清洁日",
        f"/console/activities/rules?site={s1}": "每月学雷锋日",
    }
    for path, shown in pages.items():
        response = app.test_client().get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/console/login?next=/console/activities")
        client, _ = signed_in(app, world, "vol_s1")
        response = client.get(path)
        assert response.status_code == 403 and shown not in response.text, path
        for who in ("mgr_s1", "mgr_i1", "mgr_c1", "admin"):
            client, _ = signed_in(app, world, who)
            response = client.get(path)
            assert response.status_code == 200, (who, path)
            assert shown in response.text, (who, path)
        for who in ("mgr_s2", "mgr_s4"):
            client, _ = signed_in(app, world, who)
            response = client.get(path)
            assert response.status_code == 404, (who, path)
            assert "不在您管理的站点范围内" in response.text
            assert shown not in response.text and "站点S1" not in response.text, (who, path)
    # Without ?site= a page is about the caller's own site: S2's manager sees S2's, not S1's.
    client, _ = signed_in(app, world, "mgr_s2")
    for path in ("/console/activities", "/console/activities/rules"):
        response = client.get(path)
        assert response.status_code == 200 and "站点S2" in response.text
        assert "宝石站清洁日" not in response.text and "每月学雷锋日" not in response.text
    assert client.get("/console/activities/999999").status_code == 404


# ---- the list --------------------------------------------------------------------------------------


def test_the_list_shows_upcoming_then_past_on_the_sites_clock(app, world, monkeypatch):
    # 10:00 on the sites' clock two days on: the 90 minutes never cross midnight there, whenever the
    # suite runs (from an hour of now, a run at 15:00 UTC gave 23:00–00:30, which the list writes with
    # the end's date).
    day = datetime.now(SHANGHAI).date() + timedelta(days=2)
    start = datetime.combine(day, time(10), SHANGHAI).astimezone(UTC)
    soon = publish(app, world, title="即将一", start=start, minutes=90, slots=3, waitlist_max=2)
    publish(app, world, title="即将二", start=start + timedelta(days=1), waitlist_max=0)
    ended = publish(app, world, title="已结束一")
    earlier = publish(app, world, title="已结束二")
    now = datetime.now(UTC)
    move(app, ended["id"], now - timedelta(days=1, hours=2), now - timedelta(days=1))
    move(app, earlier["id"], now - timedelta(days=5, hours=2), now - timedelta(days=5))
    other = publish(app, world, site="S2", manager="mgr_s2", title="旁边站的")
    signup(app, world.vol_s1, soon["id"])

    client, _ = signed_in(app, world, "mgr_s1")
    text = client.get(f"/console/activities?site={world.sites['S1']}").text
    order = [text.index(t) for t in ("即将一", "即将二", "已结束一", "已结束二")]
    assert order == sorted(order)  # upcoming by start, then the past, latest first
    assert "旁边站的" not in text
    local = start.astimezone(SHANGHAI)
    assert f"{local:%Y-%m-%d %H:%M}–{local + timedelta(minutes=90):%H:%M}" in text
    row = text[text.index("即将一") : text.index("</tr>", text.index("即将一"))]
    assert "1 / 3" in row and "0 / 2" in row  # places taken / asked, the waitlist waiting / asked
    assert "报名中" in text and "待审核" in text  # signing up; ended and not audited
    assert 'data-offset="+08:00"' in text

    # An institute's manager sees both of its stations' activities, each named, and picks one.
    client, _ = signed_in(app, world, "mgr_i1")
    text = client.get(f"/console/activities?site={world.sites['I1']}").text
    assert "即将一" in text and "旁边站的" in text and "站点S2" in text
    assert f'href="/console/activities?site={world.sites["S2"]}"' in text
    text = client.get(f"/console/activities?site={world.sites['S2']}").text
    assert "旁边站的" in text and "即将一" not in text
    assert f'href="/console/activities?site={world.sites["I1"]}"' in text  # back up
    assert client.get(f"/console/activities?site={world.sites['S4']}").status_code == 404
    assert other["site_id"] == world.sites["S2"]

    # One row a page: "More" walks each list and keeps the other one where it is.
    monkeypatch.setattr(console_activities, "PAGE", 1)
    client, _ = signed_in(app, world, "mgr_s1")
    text = client.get(f"/console/activities?site={world.sites['S1']}").text
    assert "即将一" in text and "即将二" not in text and "已结束一" in text and "已结束二" not in text
    links = [unescape(m) for m in re.findall(r'<a href="([^"]+)">更多</a>', text)]
    assert len(links) == 2
    text = client.get(links[0]).text
    assert "即将二" in text and "即将一" not in text and "已结束一" in text
    text = client.get(links[1]).text
    assert "已结束二" in text and "已结束一" not in text and "即将一" in text
    assert client.get(f"/console/activities?site={world.sites['S1']}&cursor=forged").status_code == 400


def test_the_to_audit_filter_lists_what_waits_for_its_audit(app, world, monkeypatch):
    """`?when=to_audit` (Today's "ended activities to audit" link): ended and still open, the oldest
    first, through its own "More"; the other filters' activities are not on it."""
    now = datetime.now(UTC)
    older, newer, cancelled = (publish(app, world, title=t) for t in ("待审一", "待审二", "已取消的"))
    publish(app, world, title="即将的")
    publish(app, world, site="S4", manager="mgr_s4", title="别的中心的")
    response = app.test_client().post(
        f"/api/v1/activities/{cancelled['id']}/cancel", json={"reason": "暴雨"}, headers=world.mgr_s1.headers
    )
    assert response.status_code == 200, response.json
    for activity, hours in ((older, 30), (newer, 3), (cancelled, 5)):
        move(app, activity["id"], now - timedelta(hours=hours + 2), now - timedelta(hours=hours))

    client, _ = signed_in(app, world, "mgr_i1")
    url = f"/console/activities?site={world.sites['I1']}&when=to_audit"
    text = client.get(url).text
    assert text.index("待审一") < text.index("待审二")
    assert "已取消的" not in text and "即将的" not in text and "别的中心的" not in text
    assert '<option value="to_audit" selected>' in text
    english = client.get(url, headers={"Accept-Language": "en"}).text
    assert "To audit" in english and "Upcoming and past" in english
    monkeypatch.setattr(console_activities, "PAGE", 1)
    text = client.get(url).text
    assert "待审一" in text and "待审二" not in text
    (more,) = [unescape(m) for m in re.findall(r'<a href="([^"]+)">更多</a>', text)]
    text = client.get(more).text
    assert "待审二" in text and "待审一" not in text and not re.findall(r'<a href="([^"]+)">更多</a>', text)
    # A filter that does not exist: a 422 that says so, nothing listed.
    response = client.get(f"/console/activities?site={world.sites['I1']}&when=ended")
    assert response.status_code == 422 and "没有这个筛选条件" in response.text
    assert "待审一" not in response.text
    client, _ = signed_in(app, world, "mgr_s2")
    response = client.get(f"/console/activities?site={world.sites['S1']}&when=to_audit")
    assert response.status_code == 404 and "待审一" not in response.text


def test_the_create_form_publishes_through_the_api_and_lands_on_the_activity(app, world):
    client, csrf = signed_in(app, world, "mgr_s1")
    page = client.get(f"/console/activities?site={world.sites['S1']}").text
    form = one_form(page, id="create-activity")
    assert form.api == f"/api/v1/sites/{world.sites['S1']}/activities"
    local = (datetime.now(SHANGHAI) + timedelta(days=3)).replace(hour=9, minute=0, second=0, microsecond=0)
    fill = {
        "title": "敬老院探访",
        "theme": "重阳敬老",
        "start_at": f"{local:%Y-%m-%dT%H:%M}",
        "end_at": f"{local + timedelta(hours=3):%Y-%m-%dT%H:%M}",
        "slots": "4",
        "waitlist_max": "2",
        "address": "朝晖九区敬老院",
        "lat": str(PLACE["lat"]),
        "lng": str(PLACE["lng"]),
    }
    body = collect(form, fill)
    assert body["start_at"] == f"{local:%Y-%m-%dT%H:%M}:00+08:00" and body["slots"] == 4
    assert body["category_id"] == category_id(app) and body["lat"] == PLACE["lat"]

    assert send(client, form, "", body).status_code == 403  # no CSRF value
    # The API's errors name the form's own fields (console.js puts each next to its field).
    bad = collect(form, {**fill, "end_at": fill["start_at"], "slots": "0"})
    response = send(client, form, csrf, bad)
    assert response.status_code == 422
    assert set(response.json["errors"]["json"]) <= form.names() and "slots" in response.json["errors"]["json"]
    response = send(client, form, csrf, collect(form, {**fill, "end_at": fill["start_at"]}), lang="en")
    assert response.json["errors"]["json"] == {"end_at": ["must be after start_at"]}
    with app.app_context():
        assert db.session.scalar(select(Activity.id).where(Activity.title == "敬老院探访")) is None

    response = send(client, form, csrf, body)
    assert response.status_code == 201, response.json
    target = next_location(form, response.json)
    assert target == f"/console/activities/{response.json['id']}"
    page = client.get(target)
    assert page.status_code == 200
    assert (
        "敬老院探访" in page.text
        and f"{local:%Y-%m-%d %H:%M}–{local + timedelta(hours=3):%H:%M}" in page.text
    )
    assert "0 / 4" in page.text and "0 / 2" in page.text


# ---- one activity ---------------------------------------------------------------------------------


def test_the_activity_shows_its_signups_and_the_waitlist_in_the_order_places_go(app, world):
    activity = publish(app, world, slots=1, waitlist_max=3)
    holder, first, second = many_volunteers(app, world.sites["S1"], 3)
    with app.app_context():
        for person, name in ((holder, "占位者"), (first, "候补甲"), (second, "候补乙")):
            db.session.get(User, person.id).name = name
        db.session.commit()
    signup(app, holder, activity["id"])
    signup(app, first, activity["id"])
    signup(app, second, activity["id"])
    # 候补甲 cancels and signs up again: now behind 候补乙.
    assert (
        app.test_client()
        .delete(f"/api/v1/activities/{activity['id']}/signup", headers=first.headers)
        .status_code
        == 204
    )
    signup(app, first, activity["id"])

    client, csrf = signed_in(app, world, "mgr_s1")
    text = client.get(f"/console/activities/{activity['id']}").text
    waitlist = text[text.index('class="list waitlist"') :]
    assert waitlist.index("候补乙") < waitlist.index("候补甲")
    signups = text[text.index('class="list signups"') : text.index('class="list waitlist"')]
    assert "占位者" in signups and "候补甲" not in signups
    assert "1 / 1" in text and "2 / 3" in text

    # Cancel, with a reason: the API's own route, with the cookie and the page's CSRF value.
    form = one_form(text, id="cancel-activity")
    assert (
        send(client, form, csrf).status_code == 422
    )  # the reason is required (the browser's required=, too)
    response = send(client, form, csrf, collect(form, {"reason": "暴雨预警"}))
    assert response.status_code == 200 and response.json["status"] == "cancelled"
    text = client.get(f"/console/activities/{activity['id']}").text
    assert "已取消：暴雨预警" in text and 'id="cancel-activity"' not in text


def test_close_a_missed_check_out_mark_a_no_show_then_audit_with_a_reason(app, world):
    now = datetime.now(UTC).replace(microsecond=0)
    activity = publish(app, world, slots=3, waitlist_max=0)
    stayed, left_early, absent = many_volunteers(app, world.sites["S1"], 3)
    ids = {p.id: signup(app, p, activity["id"])["id"] for p in (stayed, left_early, absent)}
    move(app, activity["id"], now - timedelta(minutes=20), now + timedelta(hours=2))  # under way
    api = app.test_client()
    for person in (stayed, left_early):
        response = api.post(
            f"/api/v1/assignments/{ids[person.id]}/check-in", json=NEAR, headers=person.headers
        )
        assert response.status_code == 200, response.json

    client, csrf = signed_in(app, world, "mgr_s1")
    text = client.get(f"/console/activities/{activity['id']}").text
    assert "进行中" in text
    closes = [f for f in forms(text) if f.attrs.get("class") == "close-checkout"]
    no_shows = [f for f in forms(text) if f.attrs.get("class") == "no-show"]
    assert sorted(f.api for f in closes) == sorted(
        f"/api/v1/assignments/{ids[p.id]}/close" for p in (stayed, left_early)
    )
    assert [f.api for f in no_shows] == [f"/api/v1/assignments/{ids[absent.id]}/no-show"]
    assert "cancel-activity" not in text  # it has started
    assert 'id="audit"' not in text and "活动结束后方可审核" in text

    close = next(f for f in closes if str(ids[left_early.id]) in f.api)
    checkout = (now + timedelta(minutes=10)).astimezone(SHANGHAI)
    response = send(
        client,
        close,
        csrf,
        collect(close, {"reason": "忘记签退", "checkout_at": f"{checkout:%Y-%m-%dT%H:%M}"}),
    )
    assert response.status_code == 200, response.json
    assert response.json["status"] == "checked_out" and response.json["close_reason"] == "忘记签退"
    response = send(client, no_shows[0], csrf, collect(no_shows[0], {"reason": "未到场"}))
    assert response.status_code == 200 and response.json["status"] == "no_show"
    stay = next(f for f in closes if str(ids[stayed.id]) in f.api)
    assert send(client, stay, csrf, collect(stay, {"reason": "现场确认"})).status_code == 200

    # Ended: the audit lists each checked-out sign-up with its computed minutes.
    move(app, activity["id"], now - timedelta(minutes=20), now - timedelta(minutes=1))
    text = client.get(f"/console/activities/{activity['id']}").text
    form = one_form(text, id="audit")
    assert form.api == f"/api/v1/activities/{activity['id']}/audit"
    rows = re.findall(r'<tr data-assignment-id="(\d+)">', text)
    assert sorted(int(r) for r in rows) == sorted((ids[stayed.id], ids[left_early.id]))
    with app.app_context():
        computed = {
            a.id: a.minutes_computed
            for a in db.session.scalars(select(Assignment).where(Assignment.id.in_(ids.values())))
        }
    for index, row in enumerate(rows):
        assert f'name="assignments.{index}.minutes"' in text
        assert f'value="{computed[int(row)]}" data-computed="{computed[int(row)]}"' in text

    def audit_body(changes: dict[int, dict]) -> dict:
        """What console.js sends: the rows' fields (assignments.N.*) as a list, the changes typed in."""
        fill = {"note": "核实"}
        for index, row in enumerate(rows):
            for key, value in changes.get(int(row), {}).items():
                fill[f"assignments.{index}.{key}"] = value
        body = collect(form, fill)
        assert [item["assignment_id"] for item in body["assignments"]] == [int(row) for row in rows]
        return body

    changed = ids[left_early.id]
    response = send(client, form, csrf, audit_body({changed: {"minutes": 5}}))
    assert response.status_code == 422 and response.json["error"] == "attendance.reason_required"
    index = rows.index(str(changed))
    assert response.json["errors"]["json"] == {"assignments": {str(index): {"reason": ["必填"]}}}
    assert f"assignments.{index}.reason" in form.names()
    response = send(client, form, csrf, audit_body({changed: {"minutes": 5, "reason": "提前离开"}}))
    assert response.status_code == 200, response.json
    assert response.json["status"] == "closed"
    text = client.get(f"/console/activities/{activity['id']}").text
    assert "已审核" in text and "核实" in text and 'id="audit"' not in text
    assert "0.08" in text  # 5 minutes confirmed, shown in hours
    assert "缺席" in text


def test_an_audit_with_no_one_checked_out_confirms_nothing_and_closes(app, world):
    now = datetime.now(UTC).replace(microsecond=0)
    activity = publish(app, world)
    signup(app, world.vol_s1, activity["id"])
    move(app, activity["id"], now - timedelta(hours=3), now - timedelta(hours=1))
    client, csrf = signed_in(app, world, "mgr_s1")
    form = one_form(client.get(f"/console/activities/{activity['id']}").text, id="audit")
    body = collect(form)
    assert body == {"confirm_computed": True}
    response = send(client, form, csrf, body)
    assert response.status_code == 200 and response.json["status"] == "closed"


# ---- service-day rules ------------------------------------------------------------------------------


RULE_FILL = {
    "theme": "每月志愿服务日",
    "title": "文明实践志愿服务日",
    "address": "文晖街道新时代文明实践站",
    "slots": "10",
    "waitlist_max": "5",
}


def test_a_rule_is_previewed_then_saved_then_paused_and_resumed(app, world):
    client, csrf = signed_in(app, world, "mgr_s1")
    page = client.get(f"/console/activities/rules?site={world.sites['S1']}")
    assert page.status_code == 200
    assert "activities.js" in page.text and "<script>" not in page.text and " style=" not in page.text
    form = one_form(page.text, id="rule-form")
    assert form.api == f"/api/v1/sites/{world.sites['S1']}/service-day-rules"
    assert "data-save disabled" in page.text  # Save waits for a preview
    form = show_rule_kind(form, "days_of_month")  # the kind drawn first
    filled = type_into(form, {**RULE_FILL, "spec.days": "5, 15", "spec.part_of_day": "afternoon"})
    body = collect(filled)
    assert body["spec"] == {"kind": "days_of_month", "days": [5, 15], "part_of_day": "afternoon"}

    preview = client.get(rule_preview_url(filled))  # what activities.js asks before Save is enabled
    assert preview.status_code == 200, preview.json
    assert preview.json["description"] == "每月5日、15日 下午"
    assert len(preview.json["next_occurrences"]) == 5
    with app.app_context():
        assert db.session.scalar(select(ServiceDayRule.id)) is None  # a preview saves nothing

    response = send(client, form, csrf, body)
    assert response.status_code == 201, response.json
    rule_id = response.json["id"]
    text = client.get(f"/console/activities/rules?site={world.sites['S1']}").text
    assert "每月志愿服务日" in text and "每月5日、15日 下午" in text and "启用中" in text
    first = response.json["next_occurrences"][0]
    start = datetime.fromisoformat(first["start_at"]).astimezone(SHANGHAI)
    assert f"{start:%Y-%m-%d %H:%M}–" in text
    with app.app_context():
        assert db.session.scalar(select(Activity.id).where(Activity.rule_id == rule_id)) is not None

    pause = one_form(text, api=f"/api/v1/service-day-rules/{rule_id}")
    assert pause.method == "PATCH" and collect(pause) == {"active": False}
    response = send(client, pause, csrf)
    assert response.status_code == 200 and response.json["active"] is False
    text = client.get(f"/console/activities/rules?site={world.sites['S1']}").text
    assert "已暂停" in text and "恢复" in text
    resume = one_form(text, api=f"/api/v1/service-day-rules/{rule_id}")
    assert send(client, resume, csrf).json["active"] is True

    english = client.get(
        f"/console/activities/rules?site={world.sites['S1']}", headers={"Accept-Language": "en-US,en;q=0.9"}
    ).text
    assert "Service-day rules" in english and "Monthly on the 5th and 15th, afternoon" in english
    assert "Preview" in english and '<html lang="en">' in english


@pytest.mark.parametrize(
    ("kind", "typed", "spec"),
    [
        ("nth_weekday", [("spec.nth", "1"), ("spec.weekday", "4")], {"nth": 1, "weekday": 4}),
        ("nth_week", [("spec.nth", "3"), ("spec.weekdays", ["5", "6"])], {"nth": 3, "weekdays": [5, 6]}),
        ("annual", [("spec.dates", "03-05, 12-05")], {"dates": ["03-05", "12-05"]}),
        ("days_of_month", [("spec.days", "10"), ("spec.days", ["-1"])], {"days": [10, -1]}),
    ],
)
def test_each_kind_of_rule_reads_back_from_its_own_fields(app, world, kind, typed, spec):
    client, csrf = signed_in(app, world, "mgr_s1")
    text = client.get(f"/console/activities/rules?site={world.sites['S1']}").text
    form = one_form(text, id="rule-form")
    # Only the first kind's fields are on when the page is drawn; activities.js turns each kind's on.
    for f in form.fields:
        if f.name in ("spec.nth", "spec.weekday", "spec.weekdays", "spec.dates"):
            assert f.disabled, f
    form = show_rule_kind(form, kind)
    body = collect(form, [*RULE_FILL.items(), *typed])
    assert body["spec"] == {"kind": kind, **spec, "part_of_day": "afternoon"}
    preview = client.get(rule_preview_url(type_into(form, [*RULE_FILL.items(), *typed])))
    assert preview.status_code == 200, preview.json
    assert preview.json["next_occurrences"]
    assert send(client, form, csrf, body).status_code == 201


def test_the_apis_refusals_of_a_rule_name_the_forms_fields(app, world):
    client, csrf = signed_in(app, world, "mgr_s1")
    text = client.get(f"/console/activities/rules?site={world.sites['S1']}").text
    form = show_rule_kind(one_form(text, id="rule-form"), "days_of_month")
    names = form.names()
    # A bad day, in the preview (the spec checked whole: errors.json.spec) and on saving.
    bad = type_into(form, {**RULE_FILL, "spec.days": "0, 15"})
    response = client.get(rule_preview_url(bad))
    assert response.status_code == 422
    assert response.json["errors"]["json"]["spec"] == {"days": ["必须在 1 到 31 之间，或为 -1"]}
    response = send(client, form, csrf, collect(bad), lang="en")
    assert response.status_code == 422
    errors = response.json["errors"]["json"]["spec"]
    assert errors == {"days": ["must be between 1 and 31 or -1"]} and "spec.days" in names
    # A value the query cannot parse is the query's error on the same field (activities.js maps it).
    response = client.get(rule_preview_url(type_into(form, {"spec.days": "five"})))
    assert response.status_code == 422 and "days" in response.json["errors"]["query"]
    # A time that ends before it starts.
    backwards = type_into(form, {"spec.days": "5", "spec.start_time": "12:00", "spec.end_time": "11:00"})
    response = client.get(rule_preview_url(backwards), headers={"Accept-Language": "en"})
    assert response.json["errors"]["json"]["spec"] == {"end_time": ["must be after start_time"]}
    assert "spec.end_time" in names
    # What the page cannot send, made by hand: an unknown key is refused by name (no field of the
    # form has it: console.js adds the message to the form's top), a weekday the API does not know.
    hand_made = {**collect(form, {**RULE_FILL, "spec.days": "5"})}
    hand_made["spec"] = {**hand_made["spec"], "every": "month"}
    response = client.post(form.api, json=hand_made, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 422 and response.json["errors"]["json"]["spec"] == {
        "every": ["未知字段。"]
    }
    assert "spec.every" not in names
    wrong = {"kind": "nth_weekday", "nth": 1, "weekday": 9, "part_of_day": "morning", "count": 5}
    response = client.get(form.attrs["data-preview"] + "?" + urlencode(wrong))
    assert response.status_code == 422 and "spec.weekday" in names
    assert "weekday" in response.json["errors"]["json"]["spec"]
    weekdays = show_rule_kind(form, "nth_weekday").field("spec.weekday")
    assert "9" not in [o.value for o in weekdays.options]  # the page offers only the API's weekdays
    with app.app_context():
        assert db.session.scalar(select(ServiceDayRule.id)) is None


def test_the_pages_scripts_are_served_from_the_app(app, world):
    client, _ = signed_in(app, world, "mgr_s1")
    response = client.get("/console/static/activities.js")
    assert response.status_code == 200 and "data-preview" in response.text
    assert response.headers["Content-Type"].startswith("text/javascript")


def test_every_form_on_the_pages_names_a_route_of_the_api(app, world):
    """Each form's data-api and method is an API route (forms not sent by another test included)."""
    now = datetime.now(UTC).replace(microsecond=0)
    upcoming = publish(app, world)
    under_way = publish(app, world, slots=3)
    came, absent = many_volunteers(app, world.sites["S1"], 2)
    came_id = signup(app, came, under_way["id"])["id"]
    signup(app, absent, under_way["id"])
    move(app, under_way["id"], now - timedelta(minutes=10), now + timedelta(hours=1))
    path = f"/api/v1/assignments/{came_id}/check-in"
    assert app.test_client().post(path, json=NEAR, headers=came.headers).status_code == 200
    ended = publish(app, world)
    move(app, ended["id"], now - timedelta(hours=3), now - timedelta(hours=1))
    rule_in_db(app, world)
    client, _ = signed_in(app, world, "mgr_s1")
    pages = [
        f"/console/activities?site={world.sites['S1']}",
        f"/console/activities/rules?site={world.sites['S1']}",
        *(f"/console/activities/{a['id']}" for a in (upcoming, under_way, ended)),
    ]
    adapter = app.url_map.bind("localhost")
    seen = set()
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        for form in forms(response.text):
            api = form.api or ""
            if not api.startswith("/api/v1/"):
                continue  # the header's sign-out (the console's own)
            endpoint, _ = adapter.match(api, method=form.method)
            seen.add((endpoint, form.method))
            if "data-preview" in form.attrs:
                assert adapter.match(form.attrs["data-preview"], method="GET")[0].endswith("SiteRulePreview")
    assert {endpoint.rsplit(".", 1)[-1] for endpoint, _ in seen} >= {
        "SiteActivities",
        "SiteRules",
        "RuleOne",
        "ActivityCancel",
        "ActivityAudit",
        "AssignmentClose",
        "AssignmentNoShow",
    }
