"""The console's time bank: the reward catalogue, fulfilling a code (核销) and the family links to review.

Every page by role and reach; every form the pages draw is sent to the API route it names, with the
console's cookie and CSRF value, as console.js would send it (tests/console/forms.py).
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from tests.console.forms import Form, collect, forms, lookup_url, one_form, send, show_redemption
from tests.console.test_today import _counts
from tests.support import ADMIN_VIEW, caller, console_sign_in, credit, make_user
from volunteer_app.console import timebank as console_timebank
from volunteer_app.extensions import db
from volunteer_app.timebank import gifts, rewards
from volunteer_app.timebank.models import Reward

API = "/api/v1"
PAGES = ("/console/timebank", "/console/timebank/fulfil", "/console/timebank/family-links")


def api_forms(text: str) -> list[Form]:
    """The page's forms that console.js sends to the JSON API."""
    return [f for f in forms(text) if (f.api or "").startswith(API)]


# ---- the world's time bank ----------------------------------------------------------------------------


def _reward(app, world, site: str, **fields) -> dict:
    with app.app_context():
        reward = rewards.create_reward(
            who=ADMIN_VIEW,
            actor_id=world.admin.id,
            site_id=world.sites[site],
            **{"kind": "goods", "title": f"爱心超市大米{site}", "price_minutes": 90, "stock": 5, **fields},
        )
        return {"id": reward.id, "title": reward.title}


def _redeem(app, client, world, reward_id: int) -> str:
    r = client.post(f"{API}/redemptions", json={"reward_id": reward_id}, headers=world.vol_s1.headers)
    assert r.status_code == 201, r.json
    return r.json["code"]


def _link(app, world, relative_phone: str) -> int:
    with app.app_context():
        who = caller(world.vol_s1.id)
        return gifts.request_link(who=who, relative_phone=relative_phone, relation="parent")["id"]


@pytest.fixture
def bank(app, world):
    """At S1: a reward, a code waiting to be fulfilled (vol_s1's), a family link waiting for approval."""
    reward = _reward(app, world, "S1")
    credit(app, world.vol_s1, world.sites["S1"], 600)
    code = _redeem(app, app.test_client(), world, reward["id"])
    link_id = _link(app, world, world.resident.phone)
    return {"reward": reward, "code": code, "link": link_id}


# What of S1's data each page shows to a manager in reach (and must never show out of reach).
def s1_data(page: str, bank) -> list[str]:
    return {
        "/console/timebank": [bank["reward"]["title"]],
        "/console/timebank/fulfil": ["志***", "…" + bank["code"][-3:]],
        "/console/timebank/family-links": ["志愿者一", "居民"],
    }[page]


# ---- roles and reach ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_each_page_by_role_and_reach(app, world, bank, path):
    s1 = world.sites["S1"]
    anonymous = app.test_client().get(f"{path}?site={s1}")
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"].startswith(f"/console/login?next={path}")

    volunteer = app.test_client()
    console_sign_in(app, volunteer, world.vol_s1.id)
    r = volunteer.get(path)
    assert r.status_code == 403 and "管理后台供" in r.text

    for who in ("mgr_s1", "mgr_i1", "admin"):
        client = app.test_client()
        console_sign_in(app, client, world.people[who].id)
        r = client.get(f"{path}?site={s1}")
        assert r.status_code == 200, who
        for shown in s1_data(path, bank):
            assert shown in r.text, (who, shown)
        assert "<script>" not in r.text and " style=" not in r.text
        assert r.headers["Content-Security-Policy"].startswith("default-src 'self'")

    mine = app.test_client()
    console_sign_in(app, mine, world.mgr_s1.id)
    assert all(s in mine.get(path).text for s in s1_data(path, bank))  # the default site is S1

    for who in ("mgr_s2", "mgr_s4"):
        client = app.test_client()
        console_sign_in(app, client, world.people[who].id)
        r = client.get(f"{path}?site={s1}")
        assert r.status_code == 404, who
        assert "不在您管理的站点范围内" in r.text
        for hidden in [*s1_data(path, bank), "站点S1"]:
            assert hidden not in r.text, (who, hidden)
        own = client.get(path)  # their own station's page: nothing of S1's
        assert own.status_code == 200
        for hidden in s1_data(path, bank):
            assert hidden not in own.text, (who, hidden)


@pytest.mark.parametrize("path", PAGES)
def test_a_bad_cursor_or_state_is_no_500(app, client, world, path):
    console_sign_in(app, client, world.mgr_s1.id)
    assert client.get(f"{path}?cursor=nonsense").status_code == 400
    assert client.get(f"{path}?status=%00lost").status_code == 200
    assert client.get(f"{path}?site=abc").status_code == 200  # not a number: the default site


# ---- the catalogue ------------------------------------------------------------------------------------


def test_the_catalogue_shows_prices_stock_state_and_what_the_site_inherits(app, client, world):
    _reward(app, world, "S1", title="大米", price_minutes=90, stock=0)
    withdrawn = _reward(app, world, "S1", title="旧毛巾")
    with app.app_context():
        rewards.update_reward(who=ADMIN_VIEW, reward_id=withdrawn["id"], changes={"active": False})
    _reward(app, world, "I1", title="所里的理发")
    _reward(app, world, "C1", title="中心的体检", kind="service", min_age=60)
    _reward(app, world, "S2", title="隔壁站的米")
    console_sign_in(app, client, world.mgr_s1.id)
    text = client.get("/console/timebank").text
    assert "90 分钟 = 1.50 小时" in text and "已兑完" in text and "已下架" in text
    assert "上级站点「站点I1」的回报" in text and "所里的理发" in text
    assert "上级站点「站点C1」的回报" in text and "中心的体检" in text
    assert text.index("站点I1") < text.index("站点C1")  # the parent first
    assert "隔壁站的米" not in text
    edits = {f.api for f in api_forms(text) if f.method == "PATCH"}
    assert edits == {f"{API}/rewards/{withdrawn['id']}"} | {
        f"{API}/rewards/{i}" for i in _ids_titled(app, "大米")
    }  # the inherited ones are changed at their own site
    assert f'href="/console/timebank?site={world.sites["I1"]}"' not in text  # I1 is above mgr_s1's reach

    above = app.test_client()
    console_sign_in(app, above, world.mgr_i1.id)
    text = above.get(f"/console/timebank?site={world.sites['S1']}").text
    assert f'href="/console/timebank?site={world.sites["I1"]}"' in text  # in mgr_i1's reach: a link


def _ids_titled(app, title: str) -> set[int]:
    with app.app_context():
        return set(db.session.scalars(select(Reward.id).where(Reward.title == title)))


def test_adding_and_changing_a_reward_through_the_pages_forms(app, client, world):
    csrf = console_sign_in(app, client, world.mgr_s1.id)
    page = client.get("/console/timebank").text
    (new,) = [f for f in api_forms(page) if f.method == "POST"]
    assert new.api == f"{API}/sites/{world.sites['S1']}/rewards"
    assert new.names() == {"kind", "title", "description", "price_minutes", "stock", "min_age"}

    r = send(client, new, None, collect(new, {"title": "义剪", "stock": "3"}))
    assert r.status_code == 403 and r.json["error"] == "auth.csrf"  # no CSRF value: refused
    r = send(client, new, csrf, collect(new, {"title": "义剪", "stock": "-1", "price_minutes": "0"}))
    assert r.status_code == 422  # (the browser's min= would stop this first; the API refuses it too)
    assert set(r.json["errors"]["json"]) == {"stock", "price_minutes"} <= new.names()  # shown by its field
    body = collect(new, {"title": "义剪", "stock": "3", "kind": "service", "min_age": "60"})
    assert body == {"kind": "service", "title": "义剪", "price_minutes": 60, "stock": 3, "min_age": 60}
    r = send(client, new, csrf, body)
    assert r.status_code == 201, r.json
    reward_id = r.json["id"]
    assert (r.json["price_minutes"], r.json["stock"], r.json["min_age"]) == (60, 3, 60)

    page = client.get("/console/timebank").text
    assert "义剪" in page and "60 分钟 = 1.00 小时" in page
    edit, toggle = [f for f in api_forms(page) if f.api == f"{API}/rewards/{reward_id}"]
    assert edit.method == toggle.method == "PATCH"
    assert edit.names() == {"price_minutes", "stock", "active"}
    assert collect(edit) == {"price_minutes": 60, "stock": 3, "active": True}
    r = send(client, edit, csrf, collect(edit, {"stock": "-5"}))
    assert r.status_code == 422 and set(r.json["errors"]["json"]) == {"stock"}
    r = send(client, edit, csrf, collect(edit, {"stock": "12", "price_minutes": "120"}))
    assert (r.status_code, r.json["stock"], r.json["price_minutes"], r.json["active"]) == (200, 12, 120, True)

    assert collect(toggle) == {"active": False} and "data-confirm" in toggle.attrs
    r = send(client, toggle, csrf)
    assert (r.status_code, r.json["active"]) == (200, False)
    page = client.get("/console/timebank").text
    edit, toggle = [f for f in api_forms(page) if f.api == f"{API}/rewards/{reward_id}"]
    assert collect(edit)["active"] is False and collect(toggle) == {"active": True} and "重新上架" in page
    r = send(client, edit, csrf, collect(edit, {"active": "true"}))  # on offer again through the list
    assert (r.status_code, r.json["active"]) == (200, True)


def test_more_rewards_than_a_page_continue_on_the_next(app, client, world, monkeypatch):
    monkeypatch.setattr(console_timebank, "PAGE_SIZE", 2)
    titles = [f"回报{i}" for i in range(3)]
    for title in titles:
        _reward(app, world, "S1", title=title)
    console_sign_in(app, client, world.mgr_s1.id)
    first = client.get("/console/timebank").text
    more = re.search(r'href="(\?site=\d+&amp;cursor=[^"]+)">更多<', first)
    assert more and [t in first for t in titles] == [True, True, False]
    second = client.get("/console/timebank" + html.unescape(more.group(1))).text
    assert [t in second for t in titles] == [False, False, True] and ">更多<" not in second


# ---- 核销 -----------------------------------------------------------------------------------------------


def _lookup(page: str) -> Form:
    """The lookup form (timebank.js reads its code field and asks data-lookup; console.js sends none)."""
    lookup = one_form(page, id="code-lookup")
    (code,) = [f for f in lookup.fields if f.attrs.get("id") == "code"]
    assert "autofocus" in code.attrs and not code.name  # a scanner types into it at once; never sent
    assert lookup.api is None
    return lookup


def _card(page: str) -> Form:
    """The fulfil form of the redemption card's <template> (timebank.js clones it for each code)."""
    (form,) = [f for f in forms(page) if f.in_template and f.api is not None]
    assert form.method == "POST" and form.then == "event" and form.api == ""
    return form


def test_fulfilling_a_code_once_the_second_try_shows_the_conflict(app, client, world, bank):
    csrf = console_sign_in(app, client, world.mgr_s1.id)
    code = bank["code"]
    page = client.get("/console/timebank/fulfil").text
    assert code not in page  # the waiting list shows only the code's end
    assert "…" + code[-3:] in page and "待核销" in page
    # Each state's badge colour is decided once, on the server: the list uses it, and the page hands
    # it to timebank.js (data-badge) for the card of a code looked up.
    words = re.search(r'<template id="redemption-words">(.*?)</template>', page, re.S).group(1)
    assert re.findall(r'data-word="(\w+)" data-badge="(\w*)">([^<]+)<', words) == [
        ("issued", "amber", "待核销"),
        ("fulfilled", "green", "已核销"),
        ("expired", "red", "已过期"),
    ]
    assert '<span class="badge amber">待核销</span>' in page

    # The code never goes into the page's address: the field has no name a plain submit would put in
    # the query string, the page does not take one from it, and timebank.js writes no address.
    assert not re.search(r'<input[^>]*id="code"[^>]*name=|<input[^>]*name="code"', page)
    assert code not in client.get(f"/console/timebank/fulfil?code={code}").text
    script = client.get("/console/static/timebank.js").get_data(as_text=True)
    assert "replaceState" not in script and "pushState" not in script

    r = client.get(lookup_url(_lookup(page), f" {code.lower()} "))  # what timebank.js asks for a typed code
    assert r.status_code == 200
    assert (r.json["status"], r.json["reward"]["title"], r.json["holder_name_masked"]) == (
        "issued",
        bank["reward"]["title"],
        "志***",
    )
    assert world.vol_s1.phone not in r.get_data(as_text=True)

    form = show_redemption(_card(page), r.json)  # timebank.js points the card's form at the code
    assert form.api == f"{API}/redemptions/{code}/fulfil" and collect(form) == {}
    stale = show_redemption(_card(page), r.json)  # the same code looked up in a second tab
    assert send(client, form, None).status_code == 403  # no CSRF value: nothing fulfilled
    r = send(client, form, csrf)
    assert (r.status_code, r.json["status"]) == (200, "fulfilled")
    assert show_redemption(_card(page), r.json) is None  # the card shown again has no Fulfil button
    again = send(client, stale, csrf)
    assert (again.status_code, again.json["error"]) == (409, "redemption.not_issued")
    assert again.json["message"] == "该兑换码已核销或已失效"
    assert client.get(lookup_url(_lookup(page), code)).json["status"] == "fulfilled"

    page = client.get("/console/timebank/fulfil").text
    assert "…" + code[-3:] not in page  # no longer waiting
    done = client.get("/console/timebank/fulfil?status=fulfilled").text
    assert "…" + code[-3:] in done and '<span class="badge green">已核销</span>' in done


def test_an_unknown_or_out_of_reach_or_expired_code_shows_the_apis_message(app, world, bank):
    other = app.test_client()
    csrf = console_sign_in(app, other, world.mgr_s2.id)
    page = other.get("/console/timebank/fulfil").text
    r = other.get(lookup_url(_lookup(page), bank["code"]))
    assert (r.status_code, r.json["message"]) == (404, "未找到该资源")  # S1's code, not S2's: no card
    forged = other.post(f"{API}/redemptions/{bank['code']}/fulfil", headers={"X-CSRF-Token": csrf})
    assert forged.status_code == 404  # and a request made by hand changes nothing
    r = other.get(lookup_url(_lookup(page), "ABCDEFGH"), headers={"Accept-Language": "en"})
    assert (r.status_code, r.json["message"]) == (404, "Not found")

    later = datetime.now(UTC) + timedelta(hours=169)  # the default: codes keep 168 hours
    with time_machine.travel(later, tick=False):
        client = app.test_client()
        csrf = console_sign_in(app, client, world.mgr_s1.id)
        page = client.get("/console/timebank/fulfil").text
        looked_up = client.get(lookup_url(_lookup(page), bank["code"])).json
        assert looked_up["status"] == "expired"
        assert show_redemption(_card(page), looked_up) is None  # its card has no Fulfil button
        forged = client.post(f"{API}/redemptions/{bank['code']}/fulfil", headers={"X-CSRF-Token": csrf})
        assert (forged.status_code, forged.json["message"]) == (409, "该兑换码已过期")  # made by hand
        # Before the job has refunded it: expired, not waiting (the service says so, not the page).
        assert "…" + bank["code"][-3:] not in client.get("/console/timebank/fulfil").text
        expired = client.get("/console/timebank/fulfil?status=expired").text
        row = expired.split("…" + bank["code"][-3:])[1].split("</tr>")[0]
        assert "已过期" in row and "待核销" not in row
        assert client.get(lookup_url(_lookup(page), bank["code"])).json["status"] == "expired"


def test_todays_counts_open_these_lists_and_agree(app, client, world, bank):
    second = _redeem(app, client, world, bank["reward"]["id"])
    console_sign_in(app, client, world.mgr_i1.id)
    counts = _counts(client.get(f"/console/?site={world.sites['S1']}").text)
    count, href = counts["redemptions_to_fulfil"]
    page = client.get(href).text
    assert count == 2 and page.count('<td class="code">…') == 2
    assert "…" + bank["code"][-3:] in page and "…" + second[-3:] in page
    count, href = counts["family_links_pending"]
    page = client.get(href).text
    assert count == 1 and page.count('<tr id="link-') == 1


# ---- family links -------------------------------------------------------------------------------------


def test_approving_and_rejecting_family_links_through_the_pages_forms(app, client, world, bank):
    second = _link(app, world, make_user(app, name="老母亲").phone)
    csrf = console_sign_in(app, client, world.mgr_s1.id)
    page = client.get("/console/timebank/family-links").text
    assert "待审核" in page and "老母亲" in page and "父母" in page
    approve = one_form(page, api=f"{API}/family-links/{bank['link']}/approve")
    reject = one_form(page, api=f"{API}/family-links/{second}/reject")
    assert collect(approve) == {} and "data-confirm" in approve.attrs
    assert reject.names() == {"reason"}

    r = send(client, approve, csrf)
    assert (r.status_code, r.json["status"]) == (200, "approved")
    r = send(client, reject, csrf)  # (the browser's required= stops this first; the API refuses it too)
    assert r.status_code == 422 and set(r.json["errors"]["json"]) == {"reason"}  # shown by the field
    r = send(client, reject, csrf, collect(reject, {"reason": "请提供户口本"}))
    assert (r.status_code, r.json["status"]) == (200, "rejected")
    assert send(client, approve, csrf).json["error"] == "family.not_pending"  # a page drawn before

    page = client.get("/console/timebank/family-links").text
    assert "暂无数据" in page and not api_forms(page)
    page = client.get("/console/timebank/family-links?status=rejected").text
    assert "老母亲" in page and "请提供户口本" in page and "已驳回" in page
    page = client.get("/console/timebank/family-links?status=").text  # all
    assert "老母亲" in page and "居民" in page


# ---- language -----------------------------------------------------------------------------------------


def test_the_pages_speak_english_when_the_browser_asks(app, client, world, bank):
    console_sign_in(app, client, world.mgr_s1.id)
    en = {"Accept-Language": "en-US,en;q=0.9"}
    text = client.get("/console/timebank", headers=en).text
    assert '<html lang="en">' in text
    assert "Rewards of this site" in text and "90 min = 1.50 h" in text and "回报目录" not in text
    text = client.get("/console/timebank/fulfil", headers=en).text
    assert "Scan or type the code" in text and "Fulfil" in text and "待核销" not in text
    text = client.get("/console/timebank/family-links", headers=en).text
    assert "Approve" in text and "parent" in text and "通过" not in text
