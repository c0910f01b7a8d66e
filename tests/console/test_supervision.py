"""The console's Supervision area (/console/supervision): its tabs list what the API lists, a record's
page shows its timeline and offers each move to the side that may make it, and every form is sent as
console.js sends it (tests/console/forms.py) to a working API route: raising, reporting and closing a
督办 item, answering a complaint, deciding an appeal, recording a follow-up call. Reach: a sibling
station sees none of it."""

from __future__ import annotations

import pytest

from tests.api.endpoints import _appeal_on, _complaint, _follow_up
from tests.console.forms import collect, forms, one_form, send
from tests.orders.conftest import Loop
from tests.support import console_sign_in
from volunteer_app.extensions import db
from volunteer_app.supervision.models import Appeal, Complaint, FollowUp, SupervisionItem


@pytest.fixture
def loop(app, client) -> Loop:
    return Loop(app, client)


def _apis(page: str) -> set[str]:
    return {f.api for f in forms(page) if f.api}


def test_an_item_raised_reported_and_closed_through_the_console(app, client, world):
    s1 = world.sites["S1"]
    csrf = console_sign_in(app, client, world.mgr_i1.id)
    # The institute opens its station's page of the area: the raise form names the station.
    page = client.get(f"/console/supervision?site={s1}&tab=acting").text
    raise_form = one_form(page, api=f"/api/v1/sites/{s1}/supervision-items")
    typed = {"level": "red", "subject": "订单审核不及时", "description": "请核查本站逾期未审核的订单"}
    answer = send(client, raise_form, csrf, collect(raise_form, typed))
    assert answer.status_code == 201, answer.json
    item_id = answer.json["id"]
    listed = client.get(f"/console/supervision?site={s1}&tab=acting&level=red").text
    assert f"/console/supervision/acting/{item_id}" in listed and "订单审核不及时" in listed
    # The raiser is offered the raiser's moves, not the report.
    page = client.get(f"/console/supervision/acting/{item_id}?site={s1}").text
    assert {f"/api/v1/supervision-items/{item_id}/{m}" for m in ("notes", "withdraw")} <= _apis(page)
    assert f"/api/v1/supervision-items/{item_id}/report" not in _apis(page)

    # The station reports it done.
    csrf = console_sign_in(app, client, world.mgr_s1.id)
    page = client.get(f"/console/supervision/acting/{item_id}?site={s1}").text
    assert f"/api/v1/supervision-items/{item_id}/withdraw" not in _apis(page)
    report = one_form(page, ends=f"/supervision-items/{item_id}/report")
    done = send(client, report, csrf, collect(report, {"result": "已逐单补审，建立每周提醒"}))
    assert done.status_code == 200, done.json

    # The institute closes it (销号); the timeline shows each step with who took it.
    csrf = console_sign_in(app, client, world.mgr_i1.id)
    page = client.get(f"/console/supervision/acting/{item_id}?site={s1}").text
    close = one_form(page, ends=f"/supervision-items/{item_id}/close")
    assert send(client, close, csrf, collect(close, {"note": "整改到位"})).status_code == 200
    page = client.get(f"/console/supervision/acting/{item_id}?site={s1}").text
    assert "已销号" in page and "已逐单补审" in page and "站长S1" in page  # the reporter, by name
    assert not [f for f in forms(page) if f.api and "/supervision-items/" in f.api]  # nothing left to do
    with app.app_context():
        assert db.session.get(SupervisionItem, item_id).status == "closed"
    raised = client.get(f"/console/supervision?site={world.sites['I1']}&tab=raised&status=closed").text
    assert f"/console/supervision/acting/{item_id}" in raised


def test_a_station_does_not_raise_against_itself_nor_see_a_siblings_items(app, client, world, loop):
    s1, s2 = world.sites["S1"], world.sites["S2"]
    body = {"subject": "整改", "description": "请整改", "level": "green"}
    item_id = loop.call("POST", f"/sites/{s1}/supervision-items", world.mgr_i1, body, 201)["id"]
    console_sign_in(app, client, world.mgr_s1.id)
    own = client.get(f"/console/supervision?site={s1}").text
    assert f"/api/v1/sites/{s1}/supervision-items" not in _apis(own)  # no site above it of theirs
    console_sign_in(app, client, world.mgr_s2.id)
    assert client.get(f"/console/supervision/acting/{item_id}?site={s2}").status_code == 404
    assert f"/console/supervision/acting/{item_id}" not in client.get(f"/console/supervision?site={s2}").text
    assert client.get(f"/console/supervision?site={s1}").status_code == 404
    assert client.get(f"/console/supervision?site={s2}&tab=nonsense").status_code == 404


def test_complaint_appeal_and_follow_up_pages_send_their_forms(app, client, world):
    s1, i1 = world.sites["S1"], world.sites["I1"]
    complaint = _complaint(app, world, "S1")
    appeal = _appeal_on(app, world, "S1")
    follow_up = _follow_up(app, world, "S1")

    csrf = console_sign_in(app, client, world.mgr_s1.id)
    listed = client.get(f"/console/supervision?site={s1}&tab=complaints&status=open").text
    assert f"/console/supervision/complaints/{complaint}" in listed
    page = client.get(f"/console/supervision/complaints/{complaint}?site={s1}").text
    assert f"/api/v1/complaints/{complaint}/supervise" not in _apis(page)  # the station is not above itself
    answer = one_form(page, ends=f"/complaints/{complaint}/answer")
    assert send(client, answer, csrf, collect(answer, {"resolution": "已致电致歉"})).status_code == 200
    # The station reads its volunteer's appeal but may not decide it.
    page = client.get(f"/console/supervision/appeals/{appeal}?site={s1}").text
    assert not [api for api in _apis(page) if "/appeals/" in api]
    page = client.get(f"/console/supervision/follow_ups/{follow_up}?site={s1}").text
    call = one_form(page, ends=f"/follow-ups/{follow_up}/calls")
    typed = {"reached": "true", "satisfaction": "4", "notes": "居民满意"}
    assert send(client, call, csrf, collect(call, typed)).status_code == 200

    csrf = console_sign_in(app, client, world.mgr_i1.id)
    listed = client.get(f"/console/supervision?site={i1}&tab=appeals&status=pending").text
    assert f"/console/supervision/appeals/{appeal}" in listed
    page = client.get(f"/console/supervision/appeals/{appeal}?site={i1}").text
    uphold = one_form(page, ends=f"/appeals/{appeal}/uphold")
    assert (
        send(client, uphold, csrf, collect(uphold, {"minutes_granted": "30", "note": "有证据"})).status_code
        == 200
    )
    # Above the station, the institute may raise a 督办 item about the answered complaint.
    page = client.get(f"/console/supervision/complaints/{complaint}?site={s1}").text
    assert f"/api/v1/complaints/{complaint}/answer" not in _apis(page)  # answered already
    supervise = one_form(page, ends=f"/complaints/{complaint}/supervise")
    typed = {"level": "yellow", "subject": "上门不及时", "description": "请站点整改"}
    assert send(client, supervise, csrf, collect(supervise, typed)).status_code == 200
    with app.app_context():
        assert db.session.get(Complaint, complaint).status == "answered"
        assert db.session.get(Complaint, complaint).item_id is not None
        assert db.session.get(FollowUp, follow_up).status == "done"
        appealed = db.session.get(Appeal, appeal)
        assert (appealed.status, appealed.minutes_granted) == ("upheld", 30)
    # Every tab's filters and its timeline page answer in the page's language.
    for tab in ("acting", "raised", "complaints", "appeals", "follow_ups"):
        english = client.get(f"/console/supervision?site={i1}&tab={tab}", headers={"Accept-Language": "en"})
        assert english.status_code == 200 and "Supervision" in english.text
