"""The console's Statistics area: the figures, charts, rankings and leaderboard of a site in reach, the
export buttons (through the API with the cookie and CSRF, made by the worker, downloaded with the
cookie) and the exports made."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.console.forms import Form, collect, forms, send
from tests.exports.conftest import read_csv
from tests.exports.test_exports import _world_orders
from tests.notifications.conftest import run_worker
from tests.support import console_sign_in
from volunteer_app.accounts.identity import mask_name
from volunteer_app.console import stats
from volunteer_app.console.i18n import ZH

NOVEMBER = "period=2026-11"
ROUTES = ("/console/stats", "/console/stats/rankings", "/console/stats/exports")


def export_buttons(html: str) -> list[Form]:
    """The export buttons: each a form console.js sends (data-then="event"; stats.js follows the job)."""
    return [f for f in forms(html) if "data-export" in f.attrs]


def svg(html: str, chart_id: str) -> str:
    found = re.search(rf'<svg[^>]*aria-labelledby="{chart_id}-t".*?</svg>', html, re.S)
    assert found, f"no chart {chart_id}"
    return found.group(0)


def texts(fragment: str) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]*)</text>", fragment)


# ---- who may open the pages --------------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES)
def test_anonymous_is_sent_to_sign_in_and_a_volunteer_sees_403(app, client, world, route):
    response = client.get(f"{route}?site={world.sites['S1']}")
    assert response.status_code == 302
    assert response.headers["Location"].startswith(f"/console/login?next={route}")
    console_sign_in(app, client, world.vol_s1.id)
    response = client.get(f"{route}?site={world.sites['S1']}")
    assert response.status_code == 403
    assert "站点S1" not in response.text


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("person", ["mgr_s2", "mgr_s4"])
def test_another_stations_manager_gets_the_consoles_404_without_s1s_data(app, client, world, route, person):
    _world_orders(app, world)
    console_sign_in(app, client, world.people[person].id)
    response = client.get(f"{route}?site={world.sites['S1']}&{NOVEMBER}")
    assert response.status_code == 404
    assert "站点S1" not in response.text and "2.00" not in response.text
    assert "<svg" not in response.text


@pytest.mark.parametrize("route", ROUTES)
def test_managers_in_reach_and_the_admin_open_every_page(app, client, world, route):
    for person, site in (("mgr_s1", "S1"), ("mgr_i1", "S1"), ("mgr_c1", "I2"), ("admin", "C2")):
        console_sign_in(app, client, world.people[person].id)
        response = client.get(f"{route}?site={world.sites[site]}")
        assert response.status_code == 200, (person, site)
        assert f"站点{site}" in response.text
        assert "style=" not in response.text  # the CSP allows no inline style
        assert not re.search(r"<script(?![^>]*\bsrc=)", response.text)  # nor inline script
    console_sign_in(app, client, world.mgr_s1.id)
    assert "站点S1" in client.get(route).text  # default: the caller's first site


# ---- the figures -------------------------------------------------------------------------------------


def test_the_figures_are_the_apis_as_tables_and_charts(app, client, world):
    _world_orders(app, world)
    i1 = world.sites["I1"]
    api = client.get(
        f"/api/v1/sites/{i1}/stats?from=2026-11-01&to=2026-11-30", headers=world.mgr_i1.headers
    ).get_json()
    console_sign_in(app, client, world.mgr_i1.id)
    page = client.get(f"/console/stats?site={i1}&{NOVEMBER}")
    assert page.status_code == 200
    html = page.text
    assert "2026-11-01 至 2026-11-30" in html
    assert "数据截至" in html and "数据准确" in html  # as_of, no pending change
    figures = api["figures"]
    assert (figures["sessions"]["total"], figures["attendances"], figures["service_hours"]) == (2, 3, 2.75)
    cards = re.findall(r'<div class="figure"><span>([^<]+)</span><strong>([^<]+)</strong>', html)
    assert ("场次", "2") in cards and ("人次", "3") in cards and ("服务时长（小时）", "2.75") in cards
    assert ("满意度（4–5星）", "100.0%") in cards
    outcome = re.search(r'id="orders-by-outcome".*?</table>', html, re.S).group(0)
    assert re.search(r"<th>已提交</th><td class=\"num\">3</td>", outcome)
    assert re.search(r"<th>超时上报</th><td class=\"num\">1</td>", outcome)
    assert re.search(r"<th>办理中</th><td class=\"num\">1</td>", outcome)

    months = svg(html, "chart-months")  # the 12 months to November, service hours by default
    assert "2025-12" in texts(months) and "2026-11" in texts(months) and "2.75" in texts(months)
    assert 'role="img"' in months and "<title" in months
    categories = svg(html, "chart-categories")
    assert "关爱老人" in texts(categories) and "2.75" in texts(categories)
    children = svg(html, "chart-children")
    assert texts(children) == ["站点S1", "2.00", "站点S2", "0.75"]
    # every chart has its table: the month row and the child rows with the same figures
    assert re.search(
        r"<th>2026-11</th><td class=\"num\">2</td><td class=\"num\">3</td>\s*<td class=\"num\">2.75</td>",
        html,
    )
    assert re.search(
        r'>站点S2</a></th>\s*<td class="num">1</td><td class="num">1</td>\s*<td class="num">0.75</td>', html
    )

    sessions = client.get(f"/console/stats?site={i1}&{NOVEMBER}&metric=sessions").text
    assert texts(svg(sessions, "chart-children")) == ["站点S1", "1", "站点S2", "1"]
    assert client.get(f"/console/stats?site={i1}&{NOVEMBER}&metric=nonsense").status_code == 200


def test_coverage_lists_the_idle_stations_and_a_custom_period_is_read(app, client, world):
    _world_orders(app, world)
    console_sign_in(app, client, world.mgr_c1.id)
    html = client.get(f"/console/stats?site={world.sites['C1']}&from=2026-11-01&to=2026-11-15").text
    idle = re.findall(r'class="badge red idle">([^<]+)<', html)
    assert idle == ["站点S3"]  # S1 and S2 held sessions in the first half of November
    assert 'name="from" value="2026-11-01"' in html and 'name="to" value="2026-11-15"' in html
    # the export buttons carry the period shown
    export = export_buttons(html)[0]
    assert collect(export)["from"] == "2026-11-01" and collect(export)["to"] == "2026-11-15"


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ("period=2026-13", "应为年份"),
        ("period=%00", "应为年份"),
        ("from=2026-11-30&to=2026-11-01", "统计区间的开始日期晚于结束日期"),
        ("from=1999-01-01&to=1999-01-31", "field-error"),
        ("from=not-a-date", "field-error"),
        ("from=2020-01-01&to=2026-11-30", "统计区间过长"),
    ],
)
def test_a_bad_period_is_a_422_page_with_the_message_and_the_picker(app, client, world, query, shown):
    console_sign_in(app, client, world.mgr_s1.id)
    response = client.get(f"/console/stats?site={world.sites['S1']}&{query}")
    assert response.status_code == 422
    assert shown in response.text
    assert 'name="period"' in response.text  # the picker stays, to ask again


def test_the_page_in_english(app, client, world):
    _world_orders(app, world)
    console_sign_in(app, client, world.mgr_i1.id)
    html = client.get(
        f"/console/stats?site={world.sites['I1']}&{NOVEMBER}", headers={"Accept-Language": "en-US,en;q=0.9"}
    ).text
    assert '<html lang="en">' in html
    assert "Service hours" in html and "Orders by outcome" in html and "Child sites side by side" in html
    assert texts(svg(html, "chart-categories")) == ["Elder care", "2.75"]
    assert "服务时长" not in html and "场次" not in html


def template_words(*names: str) -> set[str]:
    """The words a console template passes to _() (with \\' read as ')."""
    root = Path(stats.__file__).parent / "templates" / "console"
    words = set()
    for name in names:
        text = (root / name).read_text()
        words |= set(re.findall(r'_\(\s*"((?:[^"\\]|\\.)+)"', text))
        words |= set(re.findall(r"_\(\s*'((?:[^'\\]|\\.)+)'", text))
    return {word.replace("\\'", "'") for word in words}


def test_every_word_of_the_area_has_its_chinese(app):
    words = template_words("stats.html", "stats_rankings.html", "stats_exports.html", "_stats.html")
    words |= {label for label, _read in stats.METRICS.values()}
    assert len(words) > 50
    assert sorted(word for word in words if word not in ZH) == []


# ---- rankings and the leaderboard --------------------------------------------------------------------


def test_the_ranking_shows_every_component_and_the_boards_and_the_leaderboard_masks_names(app, client, world):
    _world_orders(app, world)
    c1 = world.sites["C1"]
    api = client.get(f"/api/v1/sites/{c1}/rankings?period=2026-11", headers=world.mgr_c1.headers).get_json()
    console_sign_in(app, client, world.mgr_c1.id)
    html = client.get(f"/console/stats/rankings?site={c1}&{NOVEMBER}").text
    first, _second = api["rankings"]
    assert first["site"]["name"] == "站点I1" and first["score"] > 0
    assert texts(svg(html, "chart-scores")) == ["站点I1", f"{first['score']:.2f}", "站点I2", "0.00"]
    red = re.search(r'class="card board red-board">.*?</section>', html, re.S).group(0)
    black = re.search(r'class="card board black-board">.*?</section>', html, re.S).group(0)
    assert "站点I1" in red and "站点I2" not in red and "站点I2" in black
    detail = re.search(r"<details[^>]*>\s*<summary>1\. 站点I1.*?</details>", html, re.S).group(0)
    for component in first["components"]:
        assert component["label"] in detail
        assert f"{component['points']:.2f}" in detail and f"{component['score']:.2f}" in detail
    sessions = next(c for c in first["components"] if c["component"] == "sessions")
    assert re.search(rf"场次.*?<td class=\"num\">{sessions['value']:g}</td>", detail, re.S)
    satisfaction = next(c for c in first["components"] if c["component"] == "satisfaction")
    assert f"{satisfaction['value'] * 100:.1f}%" in detail

    board = re.search(r'<table class="list compact leaderboard">.*?</table>', html, re.S).group(0)
    assert mask_name("志愿者一") in board and "志愿者一" not in html
    assert re.search(
        r"志\*\*\*</td><td>站点S1</td><td class=\"num\">2.25</td><td class=\"num\">2</td>", board
    )


def test_a_station_has_no_children_to_rank_but_its_leaderboard(app, client, world):
    _world_orders(app, world)
    console_sign_in(app, client, world.mgr_s1.id)
    html = client.get(f"/console/stats/rankings?site={world.sites['S1']}&{NOVEMBER}").text
    assert "没有可排名的下级站点" in html
    assert "志***" in html
    response = client.get(f"/console/stats/rankings?site={world.sites['S1']}&period=2026-Q5")
    assert response.status_code == 422 and "应为年份" in response.text


# ---- exports -----------------------------------------------------------------------------------------


def test_every_export_button_works_through_the_api_with_the_cookie_and_downloads_with_it(app, client, world):
    _world_orders(app, world)
    i1 = world.sites["I1"]
    csrf = console_sign_in(app, client, world.mgr_i1.id)
    html = client.get(f"/console/stats?site={i1}&{NOVEMBER}").text
    assert "/console/static/stats.js" in html
    assert client.get("/console/static/stats.js").status_code == 200
    buttons = export_buttons(html)
    assert {(collect(f)["kind"], collect(f)["format"]) for f in buttons} == {
        (kind, fmt)
        for kind in ("orders", "activities", "hours", "stats", "supervision", "rankings")
        for fmt in ("csv", "xlsx")
    }
    assert "data-export-jobs" in html and "<progress" not in html  # stats.js adds one per job

    jobs = {}
    for form in buttons:
        assert (form.api, form.method, form.then) == (f"/api/v1/sites/{i1}/exports", "POST", "event")
        body = collect(form)
        assert body["from"] == "2026-11-01" and body["to"] == "2026-11-30"
        response = send(client, form, csrf, body)
        assert response.status_code == 202, response.get_json()
        jobs[(body["kind"], body["format"])] = response.get_json()
    refused = send(client, buttons[0], "")
    assert refused.status_code == 403 and refused.get_json()["error"] == "auth.csrf"

    queued = client.get(f"/api/v1/jobs/{jobs[('orders', 'csv')]['id']}").get_json()
    assert queued["state"] == "queued" and queued["result_url"] is None
    run_worker(app)
    for key, job in jobs.items():
        done = client.get(f"/api/v1/jobs/{job['id']}").get_json()  # what stats.js polls, with the cookie
        assert done["state"] == "done", (key, done)
        assert done["result_url"] == f"/api/v1/jobs/{job['id']}/result"
    done = client.get(f"/api/v1/jobs/{jobs[('orders', 'csv')]['id']}").get_json()
    download = client.get(done["result_url"])
    assert download.status_code == 200
    assert "attachment" in download.headers["Content-Disposition"]
    rows = read_csv(download.get_data())
    assert rows[0][:2] == ["订单编号", "实践站"] and len(rows) == 4  # November's three orders of I1
    stats_csv = read_csv(client.get(f"/api/v1/jobs/{jobs[('stats', 'csv')]['id']}/result").get_data())
    assert [r[0] for r in stats_csv[1:]] == ["站点S1", "站点S2", "合计（站点I1）"]

    # the exports made: listed on the page, downloadable by the one who asked
    html = client.get(f"/console/stats?site={i1}&{NOVEMBER}").text
    assert html.count('href="/api/v1/jobs/') == 5  # the latest five
    listing = client.get(f"/console/stats/exports?site={i1}").text
    assert listing.count('class="badge green"') == 12  # six kinds, two formats
    assert "站点I1_订单_2026-11-01_2026-11-30.csv" in listing
    # another manager above sees the records but not a link to someone else's file, and cannot fetch it
    console_sign_in(app, client, world.mgr_c1.id)
    listing = client.get(f"/console/stats/exports?site={world.sites['C1']}").text
    assert "站点I1_订单_2026-11-01_2026-11-30.csv" in listing and "/api/v1/jobs/" not in listing
    assert client.get(done["result_url"]).status_code == 404


def test_an_export_the_api_refuses_shows_its_error_and_queues_nothing(app, client, world):
    csrf = console_sign_in(app, client, world.mgr_s1.id)
    s1 = world.sites["S1"]
    html = client.get(f"/console/stats?site={s1}&from=2025-01-01&to=2026-11-30").text
    orders = next(f for f in export_buttons(html) if collect(f)["kind"] == "orders")
    response = send(client, orders, csrf)
    assert response.status_code == 422
    assert response.get_json()["errors"]["json"]["to"] == ["最多 366 天"]  # shown next to the form
    assert "暂无数据" in client.get(f"/console/stats/exports?site={s1}").text


def test_the_exports_list_refuses_a_cursor_it_did_not_write(app, client, world):
    console_sign_in(app, client, world.mgr_s1.id)
    response = client.get(f"/console/stats/exports?site={world.sites['S1']}&cursor=bogus")
    assert response.status_code == 400
