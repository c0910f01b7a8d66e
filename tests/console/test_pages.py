"""What every console page shares (volunteer_app/console/pages.py): the clock of a time that belongs to
no site."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from sqlalchemy import select

from tests.support import console_sign_in
from volunteer_app.auth.models import AuthSession
from volunteer_app.extensions import db


def test_a_time_of_no_site_is_on_the_deployments_default_clock(app, client, world, monkeypatch):
    """The Sign-ins page names no site: its times follow SITE_DEFAULTS' time zone, not a fixed one."""
    monkeypatch.setitem(
        app.config, "SITE_DEFAULTS", {**app.config["SITE_DEFAULTS"], "timezone": "America/New_York"}
    )
    console_sign_in(app, client, world.mgr_s1.id)
    with app.app_context():
        created = db.session.scalars(
            select(AuthSession.created_at)
            .where(AuthSession.user_id == world.mgr_s1.id)
            .order_by(AuthSession.id.desc())
        ).first()
    page = client.get("/console/sessions").text
    new_york = created.astimezone(ZoneInfo("America/New_York")).strftime("%Y-%m-%d %H:%M")
    shanghai = created.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
    assert new_york in page and shanghai not in page


def test_one_word_per_assignment_state(app):
    """Every state has one English word in the console (so one Chinese), distinct from the others;
    the order, activity and volunteer pages all take it from console/labels.py."""
    from volunteer_app.attendance.models import AssignmentStatus
    from volunteer_app.console import labels
    from volunteer_app.console.i18n import ZH

    assert set(labels.ASSIGNMENT_STATUS) == set(AssignmentStatus)
    chinese = [ZH[word] for word in labels.ASSIGNMENT_STATUS.values()]
    assert len(set(chinese)) == len(chinese) == len(AssignmentStatus)
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert labels.assignment_word("held") == "Holds a place"
    with app.test_request_context():
        assert labels.assignment_word("held") == "已占名额" and labels.assignment_word("lost") == "lost"


def test_a_query_strings_errors_are_one_line_per_field_in_the_callers_language(app):
    """pages.load_query: the API's schema loads the query string (empty fields and other keys left
    out); a bad field is its messages, translated, as one line."""
    from volunteer_app.console.pages import load_query
    from volunteer_app.orders.schemas import OrderListArgs

    with app.test_request_context("/console/orders?site=3&status=&category_id=abc&from=2026-13-01"):
        values, errors = load_query(OrderListArgs())
        assert values == {} and set(errors) == {"category_id", "from"}
        assert all(isinstance(m, str) and m for m in errors.values())
        assert errors["category_id"] == "不是有效的整数。"
    with app.test_request_context("/console/orders?category_id=abc", headers={"Accept-Language": "en"}):
        assert load_query(OrderListArgs())[1] == {"category_id": "Not a valid integer."}
    with app.test_request_context("/console/orders?site=3&category_id=7&status="):
        values, errors = load_query(OrderListArgs())
        assert errors == {} and values["category_id"] == 7 and values.get("status") is None


def test_an_order_queue_names_what_waits_as_today_does(app, client, world):
    """Each order count of Today links to the queue filtered by its `need`; the queue's chip says
    what is shown in the very words of the count (one place: workbench/today.py LABELS)."""
    from volunteer_app.workbench.today import LABELS, ORDER_NEEDS

    console_sign_in(app, client, world.mgr_i1.id)
    for lang, index in (("zh-CN", 0), ("en", 1)):
        for key, need in ORDER_NEEDS.items():
            page = client.get(f"/console/orders?need={need}", headers={"Accept-Language": lang}).text
            assert f'<span class="badge amber">{LABELS[key][index]}</span>' in page, (lang, need)


def test_a_datetime_field_is_read_on_the_sites_clock_at_the_moment_it_names(app, world):
    """Every datetime-local field names its site's zone (data-zone: console.js takes the offset at
    the moment typed) and carries, as the fallback, the offset at the moment the form is about: an
    activity's end (not today's), an order's start."""
    from datetime import UTC, datetime, timedelta

    from tests.console.forms import collect, one_form
    from tests.console.test_activities import move, publish, signed_in, signup
    from volunteer_app.attendance.models import Assignment
    from volunteer_app.console.pages import utc_offset

    london = ZoneInfo("Europe/London")
    assert utc_offset(london, datetime(2026, 7, 1, tzinfo=UTC)) == "+01:00"
    assert utc_offset(london, datetime(2026, 1, 1, tzinfo=UTC)) == "+00:00"
    assert utc_offset(ZoneInfo("Asia/Kolkata")) == "+05:30"

    s1 = world.sites["S1"]
    response = app.test_client().patch(
        f"/api/v1/sites/{s1}/settings", json={"timezone": "Europe/London"}, headers=world.mgr_s1.headers
    )
    assert response.status_code == 200, response.json
    summer, winter = publish(app, world)["id"], publish(app, world)["id"]
    for activity, day in (
        (summer, datetime(2025, 7, 1, 9, tzinfo=UTC)),
        (winter, datetime(2025, 1, 6, 9, tzinfo=UTC)),
    ):
        # someone still checked in: the page offers to close the check-out (a datetime-local field)
        signup(app, world.vol_s1, activity)
        move(app, activity, day, day + timedelta(hours=2))
        with app.app_context():
            held = db.session.scalars(select(Assignment).where(Assignment.activity_id == activity)).one()
            held.status, held.checkin_at = "checked_in", day
            db.session.commit()
    client, _ = signed_in(app, world, "mgr_s1")
    for activity, offset, window, typed in (
        (summer, "+01:00", "10:00–12:00", "2025-07-01T11:30"),
        (winter, "+00:00", "09:00–11:00", "2025-01-06T10:30"),
    ):
        page = client.get(f"/console/activities/{activity}").text
        assert window in page
        fields = re.findall(r'<input[^>]*type="datetime-local"[^>]*>', page)
        assert fields and all(f'data-offset="{offset}" data-zone="Europe/London"' in f for f in fields), (
            fields
        )
        close = one_form(page, ends="/close")  # as console.js reads it: London's offset on that day
        assert collect(close, {"checkout_at": typed})["checkout_at"] == f"{typed}:00{offset}"
    page = client.get(f"/console/activities?site={s1}").text
    fields = re.findall(r'<input[^>]*type="datetime-local"[^>]*>', page)
    assert len(fields) == 2 and all('data-zone="Europe/London"' in f for f in fields), fields
