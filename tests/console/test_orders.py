"""The console's Orders area: the queue (/console/orders) and an order's page (/console/orders/<id>):
who may open them, reach, the queue's filters and paging, and every form the page draws sent as
console.js sends it (the cookie, the CSRF header, an Idempotency-Key; tests/console/forms.py) to a
working API route."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest

from tests.console.forms import Form, choose_volunteers, collect, one_form, send, tagged
from tests.orders.conftest import NEAR, Loop
from tests.support import console_sign_in, grant, make_user
from tests.workbench.conftest import categories, set_order, soon, volunteer
from volunteer_app.console import orders as console_orders
from volunteer_app.console.security import CSP

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOT_MINE = "不在您管理的站点范围内"


@pytest.fixture
def loop(app, client) -> Loop:
    return Loop(app, client)


def audit_typed(audit: Form, minutes: dict[int, int] | None = None, reasons: dict[int, str] | None = None):
    """What the manager types into the audit's rows (assignments.N.minutes, .reason), found by the
    assignment id each row's hidden field holds."""
    typed: dict[str, str] = {}
    for field in audit.fields:
        match = re.fullmatch(r"assignments\.(\d+)\.assignment_id", field.name)
        if match:
            row, assignment = match.group(1), int(field.value)
            if minutes and assignment in minutes:
                typed[f"assignments.{row}.minutes"] = str(minutes[assignment])
            if reasons and assignment in reasons:
                typed[f"assignments.{row}.reason"] = reasons[assignment]
    return typed


def queue_ids(client, query: str = "") -> list[int]:
    response = client.get(f"/console/orders{query}")
    assert response.status_code == 200, (query, response.status_code, response.text[-800:])
    return [int(i) for i in re.findall(r'<td class="num"><a href="/console/orders/(\d+)', response.text)]


def local_input(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


# ---- who may open the pages ----------------------------------------------------------------------


def test_roles_and_reach(app, client, world, loop):
    s1 = loop.submit(world.resident, title="给独居老人修水管")["id"]
    at_s4 = make_user(app, name="外区居民", home_site_id=world.sites["S4"])
    s4 = loop.submit(at_s4, title="外区订单")["id"]
    pages = ("/console/orders", f"/console/orders/{s1}")

    for path in pages:  # anonymous: to the sign-in page, coming back afterwards
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/console/login?next=")

    console_sign_in(app, client, world.vol_s1.id)
    for path in pages:
        response = client.get(path)
        assert response.status_code == 403 and "给独居老人修水管" not in response.text

    console_sign_in(app, client, world.mgr_s1.id)
    assert queue_ids(client) == [s1]
    page = client.get(f"/console/orders/{s1}")
    assert page.status_code == 200
    text = unescape(page.text)
    assert "给独居老人修水管" in text and "居民" in text and world.resident.phone in text  # a manager's view
    assert "时间线" in text and "下单" in text and "已提交" in text  # the timeline's first event
    assert page.headers["Content-Security-Policy"] == CSP
    assert "<script>" not in page.text and " style=" not in page.text and " on" + "click=" not in page.text
    queue = client.get("/console/orders").text
    assert "****" in queue and world.resident.phone not in queue  # the queue shows the phone masked

    # ?site= is checked too: out of reach is 404
    assert client.get(f"/console/orders/{s1}?site={world.sites['S1']}").status_code == 200
    assert client.get(f"/console/orders/{s1}?site={world.sites['S4']}").status_code == 404
    for person in (world.mgr_i1, world.mgr_c1):
        console_sign_in(app, client, person.id)
        assert client.get(f"/console/orders/{s1}").status_code == 200
        assert queue_ids(client) == [s1]

    console_sign_in(app, client, world.admin.id)
    assert queue_ids(client, f"?site={world.sites['C1']}") == [s1]
    assert queue_ids(client, f"?site={world.sites['C2']}") == [s4]
    assert client.get(f"/console/orders/{s4}").status_code == 200

    for person in (world.mgr_s2, world.mgr_s4):
        console_sign_in(app, client, person.id)
        for path in (
            f"/console/orders/{s1}",
            f"/console/orders?site={world.sites['S1']}",
            f"/console/orders?site_id={world.sites['S1']}",
        ):
            response = client.get(path)
            assert response.status_code == 404, (person, path)
            assert NOT_MINE in response.text and "给独居老人修水管" not in response.text
    assert queue_ids(client) == [s4]  # mgr_s4's own queue
    assert client.get("/console/orders/987654321").status_code == 404


def test_a_manager_who_volunteers_sees_no_open_pool_elsewhere(app, client, world, loop):
    """The API shows an open pool to any volunteer (their feed); the console's page is a manager's and
    shows only orders in reach."""
    order = loop.submit(world.resident, title="开放抢单")["id"]
    loop.dispatch_grab(world.mgr_s1, order)
    grant(app, world.vol_s4, "manager", world.sites["S4"])
    assert loop.get(world.vol_s4, order)["status"] == "dispatched"
    console_sign_in(app, client, world.vol_s4.id)
    response = client.get(f"/console/orders/{order}")
    assert response.status_code == 404 and "开放抢单" not in response.text


# ---- the queue's filters ---------------------------------------------------------------------------


def test_queue_filters_and_today_links(app, client, world, loop, monkeypatch):
    first, second = categories(app)
    at_s2 = make_user(app, name="居民二", home_site_id=world.sites["S2"])
    day = datetime.now(SHANGHAI).date() + timedelta(days=10)

    def on(d, hour=9):
        return datetime(d.year, d.month, d.day, hour, 0, tzinfo=SHANGHAI)

    a = loop.submit(world.resident, category_id=first, start=on(day))["id"]
    b = loop.submit(at_s2, category_id=second, start=on(day + timedelta(days=2)))["id"]
    c = loop.submit(world.resident, category_id=first, start=on(day + timedelta(days=4)))["id"]
    set_order(app, c, escalated_at=datetime.now(UTC))
    d = loop.submit(world.resident, category_id=first)["id"]
    loop.dispatch_grab(world.mgr_s1, d)
    e = loop.submit(world.resident, category_id=second, volunteers_needed=1, **soon())["id"]
    loop.dispatch_grab(world.mgr_s1, e, capacity=1)
    held = loop.grab(world.vol_s1, e)["id"]
    loop.act(world.vol_s1, held, "check-in", NEAR)
    set_order(app, e, window_end=datetime.now(UTC) - timedelta(minutes=1))

    console_sign_in(app, client, world.mgr_i1.id)
    site = f"?site={world.sites['I1']}"
    assert queue_ids(client, site) == [e, d, c, b, a]  # newest first
    assert queue_ids(client, f"{site}&status=submitted") == [c, b, a]
    assert queue_ids(client, f"{site}&status=dispatched") == [d]
    assert queue_ids(client, f"{site}&category_id={second}") == [e, b]
    assert queue_ids(client, f"{site}&site_id={world.sites['S2']}") == [b]
    assert queue_ids(client, f"{site}&site_id={world.sites['S1']}&category_id={first}") == [d, c, a]
    assert queue_ids(client, f"{site}&from={day}&to={day + timedelta(days=2)}") == [b, a]
    assert queue_ids(client, f"{site}&from={day + timedelta(days=3)}") == [c]
    assert queue_ids(client, f"{site}&escalated=true") == [c]
    assert queue_ids(client, f"{site}&escalated=false") == [e, d, b, a]
    # The links of the Today page: the API's names, and overdue=checkout for the check-outs overdue.
    assert queue_ids(client, "?status=submitted") == [c, b, a]  # the manager's first site: I1
    assert queue_ids(client, "?escalated=true") == [c]
    assert queue_ids(client, "?status=in_service&overdue=checkout") == [e]
    assert queue_ids(client, "?need=review") == [c, b, a]
    page = client.get("/console/orders?status=in_service&overdue=checkout").text
    assert "服务已结束仍未签退" in page  # the chip naming what is shown, in Today's words

    # The filter form keeps what is chosen, and the station list is the site's subtree.
    page = client.get(f"/console/orders{site}&status=submitted&category_id={first}").text
    assert '<option value="submitted" selected>' in page
    assert f'<option value="{first}" selected>' in page
    stations = re.findall(r'<select name="site_id".*?</select>', page, re.S)[0]
    assert "站点S1" in stations and "站点S2" in stations and "站点S3" not in stations

    # Paging follows next_cursor with the filters kept.
    monkeypatch.setattr(console_orders, "PAGE_SIZE", 2)
    seen, path = [], f"/console/orders{site}&status=submitted"
    while path:
        response = client.get(path)
        seen += [int(i) for i in re.findall(r'<td class="num"><a href="/console/orders/(\d+)', response.text)]
        more = re.search(r'<a href="([^"]+)" rel="next">下一页</a>', response.text)
        path = unescape(more.group(1)) if more else None
        assert path is None or "status=submitted" in path
    assert seen == [c, b, a]


def test_bad_filters_are_a_clear_4xx(app, client, world, loop):
    loop.submit(world.resident)
    console_sign_in(app, client, world.mgr_s1.id)
    today = datetime.now(SHANGHAI).date()
    for query, field in (
        ("from=2026-13-01", "from"),
        ("to=tomorrow", "to"),
        ("status=lost", "status"),
        ("escalated=maybe", "escalated"),
        ("category_id=abc", "category_id"),
        ("overdue=soon", None),
        (f"from={today + timedelta(days=1)}&to={today}", None),
        ("cursor=not-a-cursor", None),
    ):
        response = client.get(f"/console/orders?{query}")
        assert response.status_code in (400, 422), (query, response.status_code)
        if response.status_code == 422:
            assert "筛选条件有误" in response.text
        if field:
            assert re.search(
                rf'name="{field}"[^>]*class="invalid"|class="invalid"[^>]*name="{field}"', response.text
            )
    english = client.get(
        f"/console/orders?from={today + timedelta(days=1)}&to={today}", headers={"Accept-Language": "en"}
    )
    assert english.status_code == 422 and "The period starts after it ends" in english.text


# ---- the forms of an order's page -----------------------------------------------------------------


def test_review_forms_reject_and_dispatch(app, client, world, loop):
    vol2 = volunteer(app, world.sites["S1"], 71, "志愿者二", skills=["急救"])
    to_reject = loop.submit(world.resident)["id"]
    to_named = loop.submit(world.resident)["id"]
    to_team = loop.submit(world.resident)["id"]
    to_grab = loop.submit(world.resident)["id"]
    loop.call("POST", f"/teams/{world.teams['T1']}/members", world.mgr_s1, {"user_id": vol2.id}, 201)
    csrf = console_sign_in(app, client, world.mgr_s1.id)

    # Reject, with a reason; without the CSRF header nothing happens.
    page = client.get(f"/console/orders/{to_reject}").text
    reject = one_form(page, ends=f"/orders/{to_reject}/reject")
    assert send(client, reject, "", collect(reject, {"reason": "重复下单"})).status_code == 403
    refused = send(client, reject, csrf)  # the reason left empty (the browser's required= stops it first)
    assert refused.status_code == 422 and "reason" in refused.json["errors"]["json"]
    assert send(client, reject, csrf, collect(reject, {"reason": "重复下单"})).status_code == 200
    page = client.get(f"/console/orders/{to_reject}").text
    assert "已驳回" in page and "重复下单" in page and f"/orders/{to_reject}/reject" not in page

    # The picker searches the station's volunteers through the API, with hours and open tasks.
    page = client.get(f"/console/orders/{to_named}").text
    (picker,) = tagged(page, "data-picker")
    assert picker["data-api"] == f"/api/v1/sites/{world.sites['S1']}/volunteers"
    assert picker["data-for"] == "form-named"
    found = client.get(picker["data-api"], query_string={"q": vol2.phone[-4:]}).json["items"]
    assert [v["user_id"] for v in found] == [vol2.id]
    assert {"lifetime_hours", "open_tasks", "star_level", "teams"} <= set(found[0])
    by_skill = client.get(picker["data-api"], query_string={"skill": "急救"}).json["items"]
    assert [v["user_id"] for v in by_skill] == [vol2.id]
    by_team = client.get(picker["data-api"], query_string={"team_id": world.teams["T1"]}).json["items"]
    assert [v["user_id"] for v in by_team] == [vol2.id]
    everyone = client.get(picker["data-api"]).json["items"]
    assert {world.vol_s1.id, vol2.id} <= {v["user_id"] for v in everyone}

    # Dispatch to the volunteers chosen in the picker, with a deadline on the site's clock.
    named = one_form(page, ends="/dispatch", id="form-named")
    deadline = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=60)
    chosen = choose_volunteers(named, world.vol_s1.id, vol2.id)  # orders.js adds one input each
    body = collect(chosen, {"deadline": local_input(deadline)})
    assert body["mode"] == "assign" and body["deadline"].endswith("+08:00")
    assert body["volunteer_ids"] == [world.vol_s1.id, vol2.id]
    response = send(client, chosen, csrf, body)
    assert response.status_code == 200, response.json
    assert datetime.fromisoformat(response.json["fill_due_at"]) == deadline
    # Both decline: the page offers to more (the same picker, POST /offers).
    for person in (world.vol_s1, vol2):
        offer = loop.get(person, to_named)["my_assignment"]["id"]
        loop.act(person, offer, "decline", {"reason": "没空"})
    third = volunteer(app, world.sites["S1"], 72, "志愿者三")
    page = client.get(f"/console/orders/{to_named}").text
    assert "已拒绝" in page and "/dispatch" not in page
    offers = one_form(page, id="form-named")
    assert offers.api == f"/api/v1/orders/{to_named}/offers"
    assert collect(offers) == {}  # nobody chosen yet: the API says which field is missing
    assert send(client, offers, csrf).status_code == 422
    offers = choose_volunteers(offers, third.id)
    assert send(client, offers, csrf).status_code == 200
    assert third.id in [
        a["assignment"]["volunteer_id"] for a in loop.get(world.mgr_s1, to_named)["assignments"]
    ]

    # Dispatch to a team.
    page = client.get(f"/console/orders/{to_team}").text
    team = one_form(page, ends=f"/orders/{to_team}/dispatch", has="team_id")
    assert [o.value for o in team.field("team_id").options] == ["", str(world.teams["T1"])]  # not T4
    response = send(client, team, csrf, collect(team, {"team_id": world.teams["T1"]}))
    assert response.status_code == 200, response.json
    assert [a["assignment"]["volunteer_id"] for a in response.json["assignments"]] == [vol2.id]

    # Open a grab pool with its places and deadline; then cancel it with a reason.
    page = client.get(f"/console/orders/{to_grab}").text
    grab = one_form(page, ends=f"/orders/{to_grab}/dispatch", has="capacity")
    too_late = loop.get(world.mgr_s1, to_grab)["end_at"]
    late = send(
        client,
        grab,
        csrf,
        collect(grab, {"deadline": local_input(datetime.fromisoformat(too_late) + timedelta(hours=1))}),
    )
    assert late.status_code == 422 and "deadline" in late.json["errors"]["json"]
    response = send(client, grab, csrf, collect(grab, {"capacity": "1", "deadline": local_input(deadline)}))
    assert response.status_code == 200, response.json
    assert response.json["mode"] == "grab" and response.json["capacity"] == 1
    page = client.get(f"/console/orders/{to_grab}").text
    assert "开放抢单" in page
    cancel = one_form(page, ends=f"/orders/{to_grab}/cancel")
    assert send(client, cancel, csrf, collect(cancel, {"reason": "居民已自行解决"})).status_code == 200
    page = client.get(f"/console/orders/{to_grab}").text
    assert "已取消" in page and "居民已自行解决" in page and "当前状态无可执行的操作" in page


def test_attendance_forms_and_the_audit(app, client, world, loop):
    vol2 = volunteer(app, world.sites["S1"], 73, "志愿者二")
    order = loop.submit(world.resident, volunteers_needed=2, **soon())["id"]
    loop.dispatch_grab(world.mgr_s1, order, capacity=2)
    on_site = loop.grab(world.vol_s1, order)["id"]
    absent = loop.grab(vol2, order)["id"]
    loop.act(world.vol_s1, on_site, "check-in", NEAR)
    csrf = console_sign_in(app, client, world.mgr_s1.id)

    page = client.get(f"/console/orders/{order}").text
    assert "服务中" in page and "已签到" in page
    no_show = one_form(page, ends=f"/assignments/{absent}/no-show")
    assert send(client, no_show, csrf, collect(no_show, {"reason": "未到场，电话未接"})).status_code == 200
    page = client.get(f"/console/orders/{order}").text
    close = one_form(page, ends=f"/assignments/{on_site}/close")
    field = close.field("checkout_at")
    assert (field.type, field.data("type"), field.data("offset")) == ("datetime-local", "moment", "+08:00")
    end = datetime.fromisoformat(loop.get(world.mgr_s1, order)["end_at"])
    body = collect(close, {"checkout_at": local_input(end), "reason": "忘记签退"})
    assert datetime.fromisoformat(body["checkout_at"]) == end.replace(second=0)
    response = send(client, close, csrf, body)
    assert response.status_code == 200, response.json
    computed = response.json["minutes_computed"]
    assert computed > 0

    # Completed: the audit shows the computed minutes prefilled; a changed figure needs a reason.
    page = client.get(f"/console/orders/{order}").text
    assert "已完成待审核" in page
    audit = one_form(page, ends=f"/orders/{order}/audit")
    assert audit.field("assignments.0.minutes").value == str(computed)
    assert "assignments.0.reason" in audit.names()  # where console.js shows the API's field error
    changed = collect(audit, audit_typed(audit, minutes={on_site: computed - 5}))
    refused = send(client, audit, csrf, changed)
    assert refused.status_code == 422 and refused.json["error"] == "attendance.reason_required"
    assert refused.json["errors"]["json"] == {"assignments": {"0": {"reason": ["必填"]}}}
    english = send(client, audit, csrf, changed, lang="en")
    assert english.json["message"] == "A reason is required when the minutes differ from the computed figure"
    assert loop.get(world.mgr_s1, order)["status"] == "completed"  # nothing changed
    fine = collect(audit, audit_typed(audit, minutes={on_site: computed - 5}, reasons={on_site: "提前离开"}))
    response = send(client, audit, csrf, fine)
    assert response.status_code == 200, response.json
    assert response.json["status"] == "closed"
    page = client.get(f"/console/orders/{order}").text
    assert "已审核结单" in page and f"{computed - 5} 分钟" in page and "/audit" not in page


def test_the_audit_as_drawn_confirms_the_computed_minutes(app, client, world, loop):
    order = loop.submit(world.resident, volunteers_needed=1, **soon())["id"]
    loop.dispatch_grab(world.mgr_s1, order, capacity=1)
    held = loop.grab(world.vol_s1, order)["id"]
    loop.act(world.vol_s1, held, "check-in", NEAR)
    loop.act(world.vol_s1, held, "check-out", NEAR)
    csrf = console_sign_in(app, client, world.mgr_s1.id)
    page = client.get(f"/console/orders/{order}").text
    audit = one_form(page, ends=f"/orders/{order}/audit")
    drawn = collect(audit)  # the rows as the server drew them: one list
    (row,) = drawn["assignments"]
    assert row["assignment_id"] == held and isinstance(row["minutes"], int) and "reason" not in row
    response = send(client, audit, csrf, drawn)
    assert response.status_code == 200, response.json
    (line,) = response.json["assignments"]
    assert line["assignment"]["minutes_confirmed"] == line["assignment"]["minutes_computed"] == row["minutes"]


def test_english_once(app, client, world, loop):
    order = loop.submit(world.resident)["id"]
    console_sign_in(app, client, world.mgr_s1.id)
    en = {"Accept-Language": "en-US,en;q=0.9"}
    queue = client.get("/console/orders", headers=en).text
    assert "Order queue" in queue and "Submitted" in queue and '<html lang="en">' in queue
    page = client.get(f"/console/orders/{order}", headers=en).text
    assert "Timeline" in page and "Reject" in page and "Open a grab pool" in page and "Ordered" in page
    assert "订单队列" in client.get("/console/orders").text
