"""The console's Today page: the workbench's counts, each a link to the console list that shows them,
exactly those items (followed page by page)."""

from __future__ import annotations

import html as markup
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin

import pytest
from sqlalchemy import update

from tests.api.endpoints import _activity_body, _appeal_on, _complaint, _follow_up
from tests.orders.conftest import Loop, order_body
from tests.support import ADMIN_VIEW, caller, console_sign_in, credit, headers_now
from tests.workbench.conftest import fill_today, past, volunteer
from volunteer_app.activities.models import Activity
from volunteer_app.console import activities as console_activities
from volunteer_app.console import orders as console_orders
from volunteer_app.console import supervision as console_supervision
from volunteer_app.console import timebank as console_timebank
from volunteer_app.extensions import db
from volunteer_app.supervision.models import Complaint, FollowUp, SupervisionItem
from volunteer_app.timebank import gifts, rewards
from volunteer_app.timebank.models import Redemption


def _counts(html: str) -> dict[str, tuple[int, str]]:
    return {
        key: (int(count), href.replace("&amp;", "&"))
        for href, key, count in re.findall(
            r'<a class="count[^"]*" href="([^"]+)" data-key="(\w+)">\s*<strong>(\d+)</strong>', html
        )
    }


def test_roles_and_reach(app, client, world):
    assert client.get("/console/").status_code == 302
    console_sign_in(app, client, world.vol_s1.id)
    assert client.get("/console/").status_code == 403
    console_sign_in(app, client, world.mgr_s2.id)
    response = client.get(f"/console/?site={world.sites['S1']}")
    assert response.status_code == 404 and "站点S1" not in response.text
    console_sign_in(app, client, world.admin.id)
    assert client.get(f"/console/?site={world.sites['S1']}").status_code == 200


def test_counts_link_to_lists_that_show_them(app, client, world):
    headers = headers_now(app, world.resident.id)
    order = client.post("/api/v1/orders", json=order_body(app), headers=headers)
    assert order.status_code == 201, order.json
    console_sign_in(app, client, world.mgr_s1.id)
    page = client.get("/console/")
    assert page.status_code == 200
    counts = _counts(page.text)
    assert len(counts) == 18  # every count a link, the supervision counts to the Supervision area
    assert counts["items_to_act"] == (
        0,
        f"/console/supervision?site={world.sites['S1']}&tab=acting&status=open",
    )
    assert (
        counts["appeals_to_decide"][1].startswith("/console/supervision?")
        and "tab=appeals" in (counts["appeals_to_decide"][1])
    )
    assert counts["applications_pending"][0] == 1  # the world's applicant at S1
    assert counts["family_links_pending"][0] == 0
    to_review, href = counts["orders_to_review"]
    assert to_review == 1
    queue = client.get(href)
    assert queue.status_code == 200
    assert f"/console/orders/{order.json['id']}" in queue.text
    applications = client.get(counts["applications_pending"][1])
    assert applications.status_code == 200


# What identifies an item in a row of each console list.
ORDER_ROW = r'href="/console/orders/(\d+)'
ROW_ID = {
    "orders_to_review": ORDER_ROW,
    "orders_to_dispatch": ORDER_ROW,
    "pools_not_filling": ORDER_ROW,
    "checkouts_overdue": ORDER_ROW,
    "audits_overdue": ORDER_ROW,
    "escalations_received": ORDER_ROW,
    "applications_pending": r'data-api="/api/v1/volunteer-applications/(\d+)/approve"',
    "family_links_pending": r'<tr id="link-(\d+)"',
    "redemptions_to_fulfil": r'<td class="code">…(\w+)</td>',
    "activities_unaudited": r'href="/console/activities/(\d+)"',
    **{
        key: r'href="/console/supervision/\w+/(\d+)'
        for key in (
            "items_to_act",
            "items_to_close",
            "items_overdue",
            "complaints_open",
            "complaints_overdue",
            "appeals_to_decide",
            "follow_ups_pending",
            "follow_ups_overdue",
        )
    },
}


def _rows(page: str) -> list[str]:
    """The rows of the page's one list (table.list), its "nothing here" row left out."""
    bodies = re.findall(r'<table class="list[^"]*">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert len(bodies) == 1, len(bodies)
    return [row for row in re.findall(r"<tr[^>]*>.*?</tr>", bodies[0], re.S) if "colspan" not in row]


def _listed(client, href: str, key: str) -> list[str]:
    """The items a console list shows (each row's id, or a code's last characters), page by page
    through its "More" link."""
    found, url, pages = [], href, 0
    while url:
        pages += 1
        assert pages < 50
        response = client.get(url)
        assert response.status_code == 200, (key, url)
        for row in _rows(response.text):
            ids = set(re.findall(ROW_ID[key], row))
            assert len(ids) == 1, (key, row)
            found += ids
        more = re.findall(r'<a href="([^"]*\bcursor=[^"]*)"', response.text)
        assert len(more) <= 1, more
        url = urljoin(url, markup.unescape(more[0])) if more else None
    return found


@pytest.fixture
def busy(app, client, world):
    """The workbench's world of things waiting, and at S2 a second code to fulfil, family link and
    activity to audit (so that each console list, a row a page, has a "More" to follow)."""
    loop = Loop(app, client)
    made = fill_today(app, world, loop)
    s2 = world.sites["S2"]
    body = _activity_body(app, "S1")  # a place near S1 will do
    ended = loop.call("POST", f"/sites/{s2}/activities", world.mgr_s2, body, 201)["id"]
    now = datetime.now(UTC)
    past(app, Activity, ended, start_at=now - timedelta(hours=5), end_at=now - timedelta(hours=4))
    asking = volunteer(app, s2, 93, "志愿者三")
    credit(app, world.vol_s1, s2, 30)
    with app.app_context():
        gifts.request_link(who=caller(asking.id), relative_phone=world.resident.phone, relation="child")
        reward = rewards.create_reward(
            who=ADMIN_VIEW,
            actor_id=world.admin.id,
            site_id=s2,
            kind="goods",
            title="毛巾",
            price_minutes=30,
            stock=1,
        )
        second = rewards.redeem(who=caller(world.vol_s1.id), reward_id=reward.id)["id"]
    with app.app_context():  # codes the page can tell apart by their last characters
        codes = {made["code"]: "WAITING2", second: "WAITING4", made["lapsed_code"]: "EXPIRED3"}
        for row_id, code in codes.items():
            db.session.execute(update(Redemption).where(Redemption.id == row_id).values(code=code))
        db.session.commit()
    return made | {"ended_s2": ended} | _supervision(app, world, loop)


def _supervision(app, world, loop) -> dict:
    """Below I1: 督办 items to act on (one past due), one reported to close, complaints and follow-ups
    (one of each past due), an appeal I1 decides."""
    body = {"subject": "订单审核不及时", "description": "请核查整改", "level": "yellow"}
    s1, s2 = world.sites["S1"], world.sites["S2"]
    acting = loop.call("POST", f"/sites/{s1}/supervision-items", world.mgr_i1, body, 201)["id"]
    late = loop.call("POST", f"/sites/{s1}/supervision-items", world.mgr_c1, body, 201)["id"]
    reported = loop.call("POST", f"/sites/{s2}/supervision-items", world.mgr_i1, body, 201)["id"]
    loop.call("POST", f"/supervision-items/{reported}/report", world.mgr_s2, {"result": "已整改"})
    complaints = [_complaint(app, world, "S1") for _ in range(2)]
    follow_ups = [_follow_up(app, world, "S1") for _ in range(2)]
    appeal = _appeal_on(app, world, "S1")
    gone = datetime.now(UTC) - timedelta(hours=1)
    with app.app_context():
        for model, row_id in ((SupervisionItem, late), (Complaint, complaints[0]), (FollowUp, follow_ups[0])):
            db.session.execute(update(model).where(model.id == row_id).values(due_at=gone))
        db.session.commit()
    return {
        "items_to_act": sorted([acting, late]),
        "items_overdue": [late],
        "items_to_close": [reported],
        "complaints_open": sorted(complaints),
        "complaints_overdue": [complaints[0]],
        "follow_ups": follow_ups,
        "appeals_to_decide": [appeal],
    }


@pytest.mark.parametrize("page_size", [None, 1])
def test_each_count_opens_a_list_of_exactly_those_items(app, client, world, busy, monkeypatch, page_size):
    """At the institute every count is above zero; each link's list shows exactly what was counted,
    followed through its pages (of one item: every "More" link keeps the list's filter)."""
    if page_size:
        monkeypatch.setattr(console_orders, "PAGE_SIZE", page_size)
        monkeypatch.setattr(console_timebank, "PAGE_SIZE", page_size)
        monkeypatch.setattr(console_activities, "PAGE", page_size)
        monkeypatch.setattr(console_supervision, "PAGE_SIZE", page_size)
    console_sign_in(app, client, world.mgr_i1.id)
    counts = _counts(client.get(f"/console/?site={world.sites['I1']}").text)
    assert len(counts) == 18
    listed = {key: _listed(client, href, key) for key, (_count, href) in counts.items()}
    assert {key: len(items) for key, items in listed.items()} == {key: n for key, (n, _) in counts.items()}
    assert all(count > 0 for count, _href in counts.values()), counts
    for items in listed.values():
        assert len(items) == len(set(items))  # no row twice across pages
    as_ids = {
        key: sorted(int(i) for i in items) for key, items in listed.items() if key != "redemptions_to_fulfil"
    }
    assert as_ids["orders_to_review"] == sorted([*busy["review"], busy["review_s2"]])
    assert as_ids["escalations_received"] == [busy["review_s2"]]
    for key, made in (
        ("orders_to_dispatch", "dispatch"),
        ("pools_not_filling", "pool"),
        ("checkouts_overdue", "checkout"),
        ("audits_overdue", "audit"),
    ):
        assert as_ids[key] == [busy[made]], key
    assert as_ids["activities_unaudited"] == sorted([busy["ended"], busy["ended_s2"]])
    for key in ("items_to_act", "items_overdue", "items_to_close", "complaints_open", "complaints_overdue"):
        assert as_ids[key] == busy[key], key
    assert as_ids["appeals_to_decide"] == busy["appeals_to_decide"]
    # Follow-ups: the two made here, and any the world's audited orders settled into.
    assert set(busy["follow_ups"]) <= set(as_ids["follow_ups_pending"])
    assert busy["follow_ups"][0] in as_ids["follow_ups_overdue"]
    assert busy["follow_ups"][1] not in as_ids["follow_ups_overdue"]
    assert len(as_ids["family_links_pending"]) == len(as_ids["applications_pending"]) == 2
    # The code past its time is neither counted nor listed as waiting, though the job has not refunded it.
    assert listed["redemptions_to_fulfil"] == ["NG2", "NG4"]
    expired = client.get(f"/console/timebank/fulfil?site={world.sites['I1']}&status=expired").text
    assert "…ED3" in expired and "…NG2" not in expired


def test_english(app, client, world):
    console_sign_in(app, client, world.mgr_s1.id)
    page = client.get("/console/", headers={"Accept-Language": "en"})
    assert "Orders to review" in page.text and "Needs action" in page.text
