"""The console's Volunteers area: the roster, applications, teams and a volunteer's page.

Every route for every role, in and out of reach; the ID number never unmasked; each form the pages
draw sent as console.js would send it (tests/console/forms.py) to a working API route with the cookie
and the CSRF header; the words in Chinese by default, English when asked.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from html import unescape
from pathlib import Path

import pytest

from tests.console.forms import Form, collect, forms, next_location, one_form, send
from tests.orders.conftest import Loop
from tests.support import ADMIN_VIEW, caller, console_sign_in, credit, id_number, make_user
from tests.workbench.conftest import volunteer
from volunteer_app.accounts import service as accounts
from volunteer_app.accounts.models import VolunteerApplication
from volunteer_app.console.i18n import ZH
from volunteer_app.extensions import db

TEMPLATES = Path(__file__).parents[2] / "volunteer_app/console/templates/console"


def api_forms(html: str) -> list[Form]:
    """The page's forms that console.js sends (those with a data-api)."""
    return [f for f in forms(html) if f.api]


# ---- the world -------------------------------------------------------------------------------------


@pytest.fixture
def loop(app, client) -> Loop:
    return Loop(app, client)


@pytest.fixture
def crew(app, world):
    """S1: 王小明 (急救, phone ending 4321, T1 leader, 2.5 h audited) beside the world's vol_s1;
    S2: 赵敏."""
    wang = volunteer(app, world.sites["S1"], 71, "王小明", ["急救", "驾驶"], phone="13912344321")
    zhao = volunteer(app, world.sites["S2"], 73, "赵敏", ["心理辅导"])
    with app.app_context():
        accounts.add_team_member(
            who=ADMIN_VIEW, granter_id=world.admin.id, team_id=world.teams["T1"], user_id=wang.id, leader=True
        )
    credit(app, wang, world.sites["S1"], 150, day=date.today() - timedelta(days=3))
    return {"wang": wang, "zhao": zhao}


def pages(world, crew) -> dict[str, tuple[str, str]]:
    """Each route on S1's objects, with a marker of S1's data it shows a manager in reach."""
    s1 = world.sites["S1"]
    return {
        "roster": (f"/console/volunteers?site={s1}", "王小明"),
        "applications": (f"/console/volunteers/applications?site={s1}", "申请人"),
        "teams": (f"/console/volunteers/teams?site={s1}&team={world.teams['T1']}", "宝石志愿服务队"),
        "volunteer": (f"/console/volunteers/{crew['wang'].id}", "ZY"),
    }


S1_DATA = ("站点S1", "王小明", "申请人", "宝石志愿服务队", "志愿者一", "4321")


@pytest.mark.parametrize("route", ["roster", "applications", "teams", "volunteer"])
def test_each_route_for_each_role_in_and_out_of_reach(app, world, crew, route):
    path, marker = pages(world, crew)[route]
    anonymous = app.test_client().get(path)
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/console/login?next=")
    for key, status in (
        ("vol_s1", 403),
        ("resident", 403),
        ("mgr_s1", 200),
        ("mgr_i1", 200),
        ("mgr_c1", 200),
        ("admin", 200),
    ):
        client = app.test_client()
        console_sign_in(app, client, world.people[key].id)
        response = client.get(path)
        assert response.status_code == status, (key, response.status_code)
        if status == 200:
            assert marker in response.text, key
            assert " style=" not in response.text and "<script>" not in response.text
        else:
            assert "管理后台供" in response.text
    for key in ("mgr_s2", "mgr_s4"):  # a sibling station, the other center
        client = app.test_client()
        console_sign_in(app, client, world.people[key].id)
        response = client.get(path)
        assert response.status_code == 404, (key, response.status_code)
        assert "不在您管理的站点范围内" in response.text
        assert not [mark for mark in S1_DATA if mark in response.text], key


def test_out_of_reach_by_any_door_is_the_404_page(app, client, world, crew):
    console_sign_in(app, client, world.mgr_s2.id)
    s1, t1 = world.sites["S1"], world.teams["T1"]
    for path in (
        f"/console/volunteers/{world.vol_s1.id}",
        f"/console/volunteers/{world.vol_s1.id}?site={world.sites['S2']}",
        f"/console/volunteers/teams?team={t1}",
        f"/console/volunteers/teams?site={s1}",
        f"/console/volunteers/applications?site={s1}",
        f"/console/volunteers?site={s1}&team_id={t1}",
        f"/console/volunteers/{world.applicant.id}",  # not a volunteer at all
        f"/console/volunteers/{world.mgr_s1.id}",
        "/console/volunteers/987654321",
        "/console/volunteers/99999999999999999999999",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert not [mark for mark in S1_DATA if mark in response.text], path
    # The sibling's own volunteer opens.
    assert client.get(f"/console/volunteers/{crew['zhao'].id}").status_code == 200


def test_the_id_number_is_never_shown_unmasked(app, client, world, crew):
    csrf = console_sign_in(app, client, world.mgr_s1.id)
    s1 = world.sites["S1"]
    full = id_number(7)  # the world's applicant at S1
    page = client.get(f"/console/volunteers/applications?site={s1}")
    assert page.status_code == 200
    with app.app_context():
        masked = db.session.get(VolunteerApplication, world.applications["applicant"]).id_number_masked
    assert masked in page.text and full not in page.text
    assert full[:14] not in page.text and full[-8:] not in page.text
    # Approved through the page's own form: the approved list, the roster and the volunteer's page.
    form = one_form(
        page.text, api=f"/api/v1/volunteer-applications/{world.applications['applicant']}/approve"
    )
    assert send(client, form, csrf).status_code == 200
    for path in (
        f"/console/volunteers/applications?site={s1}&status=approved",
        f"/console/volunteers?site={s1}",
        f"/console/volunteers/{world.applicant.id}",
    ):
        text = client.get(path, headers={"Accept-Language": "en"}).text
        assert "申请人" in text and full not in text and full[-8:] not in text, path


def test_the_roster_shows_hours_stars_skills_teams_and_tasks(app, client, world, crew):
    r = client.patch(
        f"/api/v1/sites/{world.sites['S1']}/settings",
        json={"star_thresholds_hours": [1, 2, 3]},
        headers=world.mgr_s1.headers,
    )
    assert r.status_code == 200
    console_sign_in(app, client, world.mgr_s1.id)
    text = client.get(f"/console/volunteers?site={world.sites['S1']}").text
    row = re.search(
        rf"<tr>\s*<td><a href=\"/console/volunteers/{crew['wang'].id}\?site=\d+\">王小明</a>.*?</tr>",
        text,
        re.S,
    )
    assert row, text
    cells = [
        unescape(re.sub(r"<[^>]+>", " ", c)).split()
        for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(0), re.S)
    ]
    assert cells[1] == ["+86139****4321"]
    assert cells[2] == [f"ZY{crew['wang'].id:010d}"]
    assert cells[3] == ["站点S1"]
    assert cells[4] == ["★★"]  # 2.5 h over thresholds 1 and 2
    assert cells[5] == ["2.50"]
    assert cells[6] == ["急救", "驾驶"]
    assert cells[7] == ["宝石志愿服务队", "·", "队长"]
    assert cells[8] == ["0"]
    assert "13912344321" not in text  # the roster masks the phone


def test_search_filters_and_paging(app, client, world, crew):
    console_sign_in(app, client, world.mgr_i1.id)
    base = f"/console/volunteers?site={world.sites['I1']}"

    def names(path: str) -> list[str]:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        return re.findall(r'<a href="/console/volunteers/\d+\?site=\d+">([^<]+)</a>', response.text)

    assert names(base) == ["志愿者一", "王小明", "赵敏"]
    assert names(base + "&q=4321") == ["王小明"]
    assert names(base + "&q=赵") == ["赵敏"]
    assert names(base + "&skill=急救") == ["王小明"]
    assert names(base + f"&team_id={world.teams['T1']}") == ["王小明"]
    assert names(base + "&q=&skill=&team_id=") == ["志愿者一", "王小明", "赵敏"]  # an empty filter is none
    assert names(base + "&q=nobody") == []
    # One at a time: each page links the next, with the filters kept.
    seen, path = [], base + "&limit=1"
    while path:
        seen += names(path)
        more = re.search(r'<a href="([^"]+)">更多</a>', client.get(path).text)
        path = unescape(more.group(1)) if more else None
        assert path is None or (
            "limit=1" in path and "cursor=" in path and f"site={world.sites['I1']}" in path
        )
    assert seen == ["志愿者一", "王小明", "赵敏"]
    seen, path = [], base + "&limit=1&skill=急救"
    while path:
        seen += names(path)
        more = re.search(r'<a href="([^"]+)">更多</a>', client.get(path).text)
        path = unescape(more.group(1)) if more else None
        assert path is None or "skill=" in path
    assert seen == ["王小明"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("q=" + "长" * 41, "q"),
        ("team_id=x", "team_id"),
        ("team_id=0", "team_id"),
        ("limit=0", "limit"),
        ("limit=1000", "limit"),
    ],
)
def test_a_bad_filter_is_a_422_page_naming_it(app, client, world, crew, query, field):
    console_sign_in(app, client, world.mgr_s1.id)
    response = client.get(f"/console/volunteers?site={world.sites['S1']}&{query}")
    assert response.status_code == 422
    assert "查询条件有误" in response.text and field in response.text
    assert "王小明" not in response.text  # nothing listed on a bad query


def test_bad_query_values_never_fail(app, client, world, crew):
    console_sign_in(app, client, world.mgr_s1.id)
    s1 = world.sites["S1"]
    for path, status in (
        (f"/console/volunteers?site={s1}&cursor=nope", 400),
        (f"/console/volunteers?site={s1}&skill=%00", 422),
        (f"/console/volunteers/applications?site={s1}&status=maybe", 422),
        (f"/console/volunteers/applications?site={s1}&cursor=nope", 400),
        (f"/console/volunteers/teams?site={s1}&team=x", 422),
        (f"/console/volunteers/teams?site={s1}&team=99999999999999999999", 422),
        (f"/console/volunteers/teams?site={s1}&team={world.teams['T1']}&pick=%00", 422),
        (f"/console/volunteers/teams?site={s1}&cursor=nope", 400),
        (f"/console/volunteers/{crew['wang'].id}?certificate=x", 422),
        (f"/console/volunteers/{crew['wang'].id}?certificate=987654", 404),
        ("/console/volunteers?site=x", 200),  # not a site id: the caller's own site, as everywhere
        ("/console/volunteers?site=99999999999999999999", 404),  # beyond any id: no database error
        ("/console/volunteers?site=-1", 404),
    ):
        response = client.get(path)
        assert response.status_code == status, (path, response.status_code)


# ---- the forms, sent as the page draws them -------------------------------------------------------------


def test_approve_and_reject_forms(app, client, world, crew):
    other = make_user(app, name="第二申请人", home_site_id=world.sites["S1"])
    with app.test_request_context():
        second = accounts.apply_as_volunteer(
            who=caller(other.id),
            real_name="第二申请人",
            id_number=id_number(31),
            site_id=world.sites["S1"],
            skills=[],
            category_ids=[],
        ).id
    csrf = console_sign_in(app, client, world.mgr_i1.id)
    path = f"/console/volunteers/applications?site={world.sites['I1']}"
    page = client.get(path).text
    assert "第二申请人" in page and "申请人" in page
    approve = one_form(page, api=f"/api/v1/volunteer-applications/{world.applications['applicant']}/approve")
    reject = one_form(page, api=f"/api/v1/volunteer-applications/{second}/reject")
    assert reject.names() == {"reason"} and collect(approve) == {}
    # Without the page's CSRF value the cookie changes nothing.
    refused = send(client, approve, "")
    assert refused.status_code == 403 and refused.json["error"] == "auth.csrf"
    # No reason: the API's message for the field, in the page's language.
    empty = send(client, reject, csrf)
    assert empty.status_code == 422 and "reason" in empty.json["errors"]["json"]
    assert send(client, reject, csrf, collect(reject, {"reason": "资料不全，请补充"})).status_code == 200
    assert send(client, approve, csrf).status_code == 200
    page = client.get(path).text
    assert "暂无待审核的申请" in page
    rejected = client.get(path + "&status=rejected").text
    assert "第二申请人" in rejected and "资料不全，请补充" in rejected
    # The new volunteer is on the roster.
    assert "申请人" in client.get(f"/console/volunteers?site={world.sites['S1']}").text
    # Approving again: the API's conflict, shown as the form would show it.
    again = send(client, approve, csrf)  # the form of a page drawn before
    assert again.status_code == 409 and again.json["message"] == "该申请已处理"


def test_team_forms_create_add_and_remove(app, client, world, crew):
    csrf = console_sign_in(app, client, world.mgr_s1.id)
    s1, t1 = world.sites["S1"], world.teams["T1"]
    page = client.get(f"/console/volunteers/teams?site={s1}").text
    assert "选择一个队伍查看队员" in page
    create = one_form(page, api=f"/api/v1/sites/{s1}/teams")
    blank = send(client, create, csrf)
    assert blank.status_code == 422 and "name" in blank.json["errors"]["json"]
    body = collect(create, {"name": "助老分队", "parent_id": t1, "description": "关爱老人"})
    assert body == {"name": "助老分队", "parent_id": t1, "description": "关爱老人"}
    made = send(client, create, csrf, body)
    assert made.status_code == 201, made.json
    assert (made.json["parent_id"], made.json["site_id"]) == (t1, s1)
    # The new team nests under T1, and opens where the form sends the browser.
    team = made.json["id"]
    assert next_location(create, made.json) == f"/console/volunteers/teams?site={s1}&team={team}"
    tree = client.get(f"/console/volunteers/teams?site={s1}").text
    assert re.search(rf'class="depth-1 ?"[^>]*>\s*<a href="[^"]*team={team}">助老分队</a>', tree)
    page = client.get(f"/console/volunteers/teams?site={s1}&team={team}&pick=4321").text
    assert "暂无队员" in page and "王小明" in page
    add = one_form(page, api=f"/api/v1/teams/{team}/members")
    assert collect(add) == {"user_id": crew["wang"].id, "leader": False}
    assert send(client, add, csrf, collect(add, {"leader": True})).status_code == 201
    page = client.get(f"/console/volunteers/teams?site={s1}&team={team}&pick=4321").text
    assert "已在队中" in page and f'/api/v1/teams/{team}/members"' not in page
    assert "队长" in page
    remove = one_form(page, api=f"/api/v1/teams/{team}/members/{crew['wang'].id}")
    assert remove.method == "DELETE" and collect(remove) == {}
    assert send(client, remove, csrf).status_code == 204
    assert "暂无队员" in client.get(f"/console/volunteers/teams?site={s1}&team={team}").text
    # A volunteer of a sibling station is not offered, and the API refuses them.
    page = client.get(f"/console/volunteers/teams?site={s1}&team={team}&pick=赵敏").text
    assert "没有符合条件的志愿者" in page
    refused = client.post(
        f"/api/v1/teams/{team}/members", json={"user_id": crew["zhao"].id}, headers={"X-CSRF-Token": csrf}
    )
    assert refused.status_code == 404


def test_an_institute_sees_the_teams_below_it(app, client, world, crew):
    console_sign_in(app, client, world.mgr_i1.id)
    page = client.get(f"/console/volunteers/teams?site={world.sites['I1']}").text
    assert "宝石志愿服务队" in page and "站点S1" in page and "外区队" not in page
    roster = client.get(f"/console/volunteers?site={world.sites['I1']}").text
    assert f'<option value="{world.teams["T1"]}"' in roster


def test_the_volunteer_page_and_its_certificate(app, client, world, crew, loop):
    wang = crew["wang"]
    order = loop.submit(world.resident)["id"]
    loop.dispatch_assign(world.mgr_s1, order, [wang.id])
    csrf = console_sign_in(app, client, world.mgr_s1.id)
    path = f"/console/volunteers/{wang.id}?site={world.sites['S1']}"
    page = client.get(path).text
    assert "王小明实名" in page and "+86139****4321" in page and f"ZY{wang.id:010d}" in page
    assert "2.50" in page and "急救" in page and "宝石志愿服务队" in page
    assert f'href="/console/orders/{order}"' in page and "已邀请" in page
    issue = one_form(page, api=f"/api/v1/volunteers/{wang.id}/certificates")
    body = collect(issue)
    assert (
        body["date_to"] == date.today().isoformat()
        or abs((date.fromisoformat(body["date_to"]) - date.today()).days) <= 1
    )
    later = send(
        client, issue, csrf, collect(issue, {"date_to": (date.today() + timedelta(days=3)).isoformat()})
    )
    assert later.status_code == 422 and "date_to" in later.json["errors"]["json"]
    issued = send(client, issue, csrf)
    assert issued.status_code == 201, issued.json
    certificate = issued.json
    shown_at = next_location(issue, certificate)
    assert (
        shown_at == f"/console/volunteers/{wang.id}?site={world.sites['S1']}&certificate={certificate['id']}"
    )
    shown = client.get(shown_at).text
    assert certificate["number"] in shown and "证明已开具" in shown
    printed = re.search(r'href="(/api/v1/certificates/\d+/print)"', shown).group(1)
    assert printed == f"/api/v1/certificates/{certificate['id']}/print"
    sheet = client.get(printed)
    assert sheet.status_code == 200 and certificate["number"] in sheet.text
    assert id_number(71) not in sheet.text and id_number(71) not in shown
    # Another volunteer's certificate is not shown on this page.
    assert (
        client.get(f"/console/volunteers/{world.vol_s1.id}?certificate={certificate['id']}").status_code
        == 404
    )


def test_english_when_the_browser_asks(app, client, world, crew):
    console_sign_in(app, client, world.mgr_s1.id)
    s1 = world.sites["S1"]
    zh = client.get(f"/console/volunteers?site={s1}").text
    assert "花名册" in zh and "进行中任务" in zh and "Open tasks" not in zh
    en = {
        path: client.get(path, headers={"Accept-Language": "en"}).text
        for path in (
            f"/console/volunteers?site={s1}",
            f"/console/volunteers/applications?site={s1}",
            f"/console/volunteers/teams?site={s1}&team={world.teams['T1']}",
            f"/console/volunteers/{crew['wang'].id}",
        )
    }
    assert all('<html lang="en">' in text for text in en.values())
    texts = list(en.values())
    assert "Roster" in texts[0] and "Open tasks" in texts[0] and "花名册" not in texts[0]
    assert "Reason for rejecting (the applicant sees it)" in texts[1] and "Approve" in texts[1]
    assert "Add a member" in texts[2] and "Create a team" in texts[2]
    assert "Issue certificate" in texts[3] and "Lifetime hours" in texts[3]


def test_every_word_of_the_pages_has_its_chinese():
    words = set()
    for name in (
        "volunteers.html",
        "volunteers_applications.html",
        "volunteers_teams.html",
        "volunteers_tabs.html",
        "volunteer.html",
    ):
        text = (TEMPLATES / name).read_text()
        words |= set(re.findall(r'_\("([^"]+)"\)', text)) | set(re.findall(r"_\('([^']+)'\)", text))
    from volunteer_app.console import labels, volunteers

    words |= set(labels.ASSIGNMENT_STATUS.values()) | set(volunteers.APPLICATION_STATUS.values())
    assert words and sorted(w for w in words if w not in ZH) == []


def test_every_form_needs_the_pages_csrf_value(app, client, world, crew):
    """Each form of the four pages, sent with the cookie but without the CSRF header (or a forged one),
    is refused and changes nothing; with it, each reaches its API route (none answers 404 or 405)."""
    csrf = console_sign_in(app, client, world.mgr_s1.id)
    s1, t1 = world.sites["S1"], world.teams["T1"]
    drawn = []
    for path in (
        f"/console/volunteers/applications?site={s1}",
        f"/console/volunteers/teams?site={s1}&team={t1}&pick=志愿者",
        f"/console/volunteers/{crew['wang'].id}?site={s1}",
    ):
        drawn += api_forms(client.get(path).text)
    apis = sorted({(f.method, re.sub(r"/\d+", "/N", f.api)) for f in drawn})
    assert apis == [
        ("DELETE", "/api/v1/teams/N/members/N"),
        ("POST", "/api/v1/sites/N/teams"),
        ("POST", "/api/v1/teams/N/members"),
        ("POST", "/api/v1/volunteer-applications/N/approve"),
        ("POST", "/api/v1/volunteer-applications/N/reject"),
        ("POST", "/api/v1/volunteers/N/certificates"),
        ("POST", "/console/logout"),
    ]
    for form in drawn:
        for forged in ("", "forged"):
            response = send(client, form, forged)
            assert response.status_code == 403 and response.json["error"] == "auth.csrf", form.api
    with app.app_context():
        assert db.session.get(VolunteerApplication, world.applications["applicant"]).status == "pending"
    for form in drawn:
        if form.api != "/console/logout":
            typed = {k: v for k, v in {"reason": "资料不全", "name": "新队伍"}.items() if k in form.names()}
            response = send(client, form, csrf, collect(form, typed))
            assert response.status_code not in (404, 405), (form.api, response.status_code)
