"""The console's flows as a station manager runs them, in headless Chromium against the real server with
the demo (issue 15, "How it is checked"): clicking and typing on the real pages; the phones' side
(a resident's order, volunteers grabbing, checking in and out, redeeming a reward) through the JSON API.

The tests share the server's data and run in this order: the order audited in the first one is found
in the export of a later one and opened by a sibling station's manager in another. Each page visited
is checked for browser console errors (a CSP violation, a script error). Screenshots for the README
are taken at the moments they show something (written only with CONSOLE_SCREENSHOTS=1).
"""

from __future__ import annotations

import csv
import io
import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException, WebDriverException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.harness import (
    RESIDENTS,
    SIBLING_STATION_MANAGER,
    STATION_MANAGER,
    TIME_ZONE,
    VOLUNTEERS,
    WAIT,
    api,
    console_errors,
    login,
    page_text,
    path_of,
    reset,
    screenshot,
    wait_for,
)

ZONE = ZoneInfo(TIME_ZONE)
# 宝石社区 (DEMO-ST-1): its manager dispatches its orders (the demo keeps the default dispatch_level
# "station"); resident 1 and volunteers 1, 5, 9, 13 and 17 live there.
STATION_LAT, STATION_LNG = 30.2665, 120.1450
RESIDENT = RESIDENTS[0]
GRABBERS = (VOLUNTEERS[0], VOLUNTEERS[4])
LATE = VOLUNTEERS[8]  # the third, too late: 409 order.full
REDEEMER = VOLUNTEERS[12]
TITLE = "陪同就医（浏览器测试）"
ADDRESS = "宝石社区 7 幢 2 单元（浏览器测试）"
AUDITED_MINUTES = 90  # the manager confirms 1.5 hours for the first volunteer (computed: 0 or so)

# What the audit test learns and the export test uses (the order, its volunteers), in this test process.
FLOW: dict = {}


def no_errors(driver, *expected: str) -> None:
    """The page the browser shows has logged no error (CSP violation, script error, failed request)
    but the `expected` ones (patterns of failed_load: an API answer the test asked for, e.g. a 422),
    each of which must be there."""
    errors = console_errors(driver)
    for pattern in expected:
        assert any(re.search(pattern, e) for e in errors), f"no {pattern!r} among the errors {errors}"
    unexpected = [e for e in errors if not any(re.search(pattern, e) for pattern in expected)]
    assert unexpected == [], f"browser console errors on {driver.current_url}: {unexpected}"


def failed_load(path: str, status: int) -> str:
    """The browser console's error for an answer of `status` to a request for `path` (with any query
    string): logged for a 4xx the test expects (a form's 422, a page's 404)."""
    answered = f"Failed to load resource: the server responded with a status of {status}"
    return rf"{re.escape(path)}(\?\S*)? - {answered}"


def local_input(moment: datetime) -> str:
    """A datetime-local field's value on the stations' clock, to the minute."""
    return moment.astimezone(ZONE).strftime("%Y-%m-%dT%H:%M")


def set_moment(driver, field, value: str) -> None:
    """Fill a datetime-local field. Chromium orders its segments by the browser's own locale (the
    machine's, not the page's), so typing into them is not portable: the value is set as the date
    picker would set it, with the input and change events a person's choice fires."""
    driver.execute_script(
        "arguments[0].value = arguments[1];"
        "arguments[0].dispatchEvent(new Event('input', {bubbles: true}));"
        "arguments[0].dispatchEvent(new Event('change', {bubbles: true}));",
        field,
        value,
    )
    assert field.get_attribute("value") == value


def type_into(field, text: str) -> None:
    field.clear()
    field.send_keys(text)


def confirm(driver) -> None:
    """Accept the confirmation dialog a form asks (data-confirm)."""
    WebDriverWait(driver, WAIT).until(expected_conditions.alert_is_present())
    driver.switch_to.alert.accept()


def reloaded(driver, old_body) -> None:
    """Wait until the page was loaded again (a form's data-then="reload"): the old page's body is gone.

    While the browser is between the two pages, asking about the old element can fail with another
    WebDriver error than "stale" (its frame is detached, its context is not found yet); that is asked
    again, not taken for a page that stayed. A CI run with four test processes on two cores met it."""
    seen: list[str] = []

    def gone(_driver) -> bool:
        try:
            old_body.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as error:
            seen.append(f"{type(error).__name__}: {error.msg}")
        return False

    try:
        WebDriverWait(driver, WAIT).until(gone)
    except TimeoutException:
        raise AssertionError(
            f"the page was not reloaded (errors on the way: {seen[-3:]}): {page_text(driver)}"
        ) from None
    wait_for(driver, "main")


def log_mark(server) -> int:
    """Where server.log ends now: requests_in_log counts only what the server logs after it."""
    return server.log.stat().st_size


def requests_in_log(server, method: str, route: str, since: int) -> int:
    """How many `method route` requests the server logged after `since` (log_mark): the app's one line
    per request (volunteer_app/logs.py, text format under the development server), which names the
    route template, never the path with its ids."""
    with open(server.log, "rb") as log:
        log.seek(since)
        text = log.read().decode("utf-8", "replace")
    pattern = re.compile(rf"(?=.*\bmethod={method}(\s|$))(?=.*\broute={re.escape(route)}(\s|$))")
    return sum(1 for line in text.splitlines() if " request " in line and pattern.search(line))


def double_click(driver, button) -> None:
    ActionChains(driver).double_click(button).perform()


def row_text(driver, css: str, containing: str) -> str:
    for row in driver.find_elements(By.CSS_SELECTOR, css):
        if containing in row.text:
            return row.text
    raise AssertionError(f"no {css!r} row containing {containing!r}: {page_text(driver)}")


# ---- 1. an order from the queue to the audit, and the hours on the volunteer's row ------------------


@pytest.fixture(scope="module")
def order(server) -> dict:
    """A resident of 宝石 orders a service starting in a few minutes (check-in opens `grace` before)."""
    now = datetime.now(UTC)
    resident = api(server.base).login(RESIDENT)
    assert resident.get("/api/v1/me")["home_site"]["name"].startswith("宝石")
    created = resident.post(
        "/api/v1/orders",
        {
            "category_id": 1,
            "title": TITLE,
            "description": "从家到浙一医院，需轮椅",
            "address": ADDRESS,
            "lat": STATION_LAT,
            "lng": STATION_LNG,
            "start_at": (now + timedelta(minutes=5)).isoformat(),
            "end_at": (now + timedelta(minutes=125)).isoformat(),
            "volunteers_needed": 2,
        },
        expect=201,
    )
    assert created["status"] == "submitted"
    # The station dispatches its own orders (dispatch_level "station"), so its manager opens it.
    assert created["dispatch_site_id"] == created["site_id"], created
    return created


def test_a_station_manager_opens_an_order_to_grabbing_audits_it_and_sees_the_hours(browser, server, order):
    manager_api = api(server.base).login(STATION_MANAGER)
    station = order["site_id"]
    login(browser, server.base, STATION_MANAGER)
    no_errors(browser)

    # Settings: this station's orders are dispatched by the station (the demo keeps the default).
    browser.find_element(By.CSS_SELECTOR, "nav.side a[href^='/console/settings']").click()
    level = wait_for(browser, "select#set-dispatch_level")
    assert level.get_attribute("value") == "station"
    screenshot(browser, "settings")
    no_errors(browser)

    # Today's "to review" card leads to the queue, where the new order is.
    browser.find_element(By.CSS_SELECTOR, "nav.side").find_element(By.LINK_TEXT, "今日").click()
    wait_for(browser, "a.count[data-key=orders_to_review]")
    screenshot(browser, "today")
    wait_for(browser, "a.count[data-key=orders_to_review]").click()
    wait_for(browser, "table.orders-queue")
    assert path_of(browser) == "/console/orders"
    link = wait_for(browser, f"table.orders-queue a[href*='/console/orders/{order['id']}']")
    assert TITLE in row_text(browser, "table.orders-queue tbody tr", f"#{order['id']}")
    screenshot(browser, "orders")
    no_errors(browser)
    link.click()

    # The order's page: open it to grabbing, 2 places, a deadline at the start; a double click on the
    # button sends it once.
    wait_for(browser, "section#actions")
    assert TITLE in browser.find_element(By.TAG_NAME, "h1").text
    assert "已提交" in browser.find_element(By.TAG_NAME, "h1").text
    no_errors(browser)
    wait_for(browser, "[data-tabs] [data-tab=grab]").click()
    pane = wait_for(browser, "[data-pane=grab]")
    type_into(pane.find_element(By.NAME, "capacity"), "2")
    deadline = datetime.fromisoformat(order["start_at"])
    set_moment(browser, pane.find_element(By.NAME, "deadline"), local_input(deadline))
    type_into(pane.find_element(By.NAME, "note"), "需要会推轮椅")
    body = browser.find_element(By.TAG_NAME, "body")
    mark = log_mark(server)
    double_click(browser, pane.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    reloaded(browser, body)
    heading = wait_for(browser, "h1").text
    assert "已派单" in heading, heading
    assert requests_in_log(server, "POST", "/api/v1/orders/<int:order_id>/dispatch", mark) == 1
    events = manager_api.get(f"/api/v1/orders/{order['id']}/events")["items"]
    assert [e["action"] for e in events].count("dispatch") == 1, events
    dispatched = manager_api.get(f"/api/v1/orders/{order['id']}")
    assert (dispatched["mode"], dispatched["capacity"]) == ("grab", 2), dispatched
    assert datetime.fromisoformat(dispatched["fill_due_at"]) == deadline.replace(second=0, microsecond=0)
    no_errors(browser)

    # Two volunteers grab it, a third is too late; the two check in on site, then out.
    held = {}
    for phone in GRABBERS:
        volunteer = api(server.base).login(phone)
        held[phone] = volunteer.post(f"/api/v1/orders/{order['id']}/grab", expect=201)
    late = api(server.base).login(LATE).post(f"/api/v1/orders/{order['id']}/grab", expect=409)
    assert late["error"] == "order.full", late
    here = {"lat": STATION_LAT, "lng": STATION_LNG}
    for phone in GRABBERS:
        api(server.base).login(phone).post(f"/api/v1/assignments/{held[phone]['id']}/check-in", here)
    for phone in GRABBERS:
        api(server.base).login(phone).post(f"/api/v1/assignments/{held[phone]['id']}/check-out", here)
    done = manager_api.get(f"/api/v1/orders/{order['id']}")
    assert done["status"] == "completed", done
    lines = {line["assignment"]["volunteer_id"]: line for line in done["assignments"]}
    first = lines[held[GRABBERS[0]]["volunteer_id"]]
    name = first["volunteer_name"]
    before = hours_on_roster(browser, server, name)

    # The manager reloads the order: the audit form shows each volunteer's computed minutes.
    browser.get(server.url(f"/console/orders/{order['id']}?site={station}"))
    audit = wait_for(browser, "section#audit form")
    rows = audit.find_elements(By.CSS_SELECTOR, "tr[data-audit-row]")
    assert len(rows) == 2
    for row in rows:
        line = next(v for v in lines.values() if v["volunteer_name"] in row.text)
        computed = line["assignment"]["minutes_computed"]
        assert f"{computed} 分钟" in row.text, row.text
        field = row.find_element(By.CSS_SELECTOR, "input[name$='.minutes']")
        assert field.get_attribute("value") == str(computed)
    timeline = browser.find_element(By.CSS_SELECTOR, "ol.timeline").text
    for words in ("已提交", "已派单", "抢单", "签到", "签退"):
        assert words in timeline, timeline
    screenshot(browser, "order", full_page=True)
    no_errors(browser)

    # A changed minute without a reason: the API's message, next to the reason field, in Chinese.
    mine = next(r for r in rows if name in r.text)
    type_into(mine.find_element(By.CSS_SELECTOR, "input[name$='.minutes']"), str(AUDITED_MINUTES))
    audit.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    confirm(browser)
    message = wait_for(browser, "section#audit .form-error")
    assert "原因" in message.text, message.text  # 与系统计算的时长不同，请填写原因
    reason = mine.find_element(By.CSS_SELECTOR, "input[name$='.reason']")
    note = wait_for(browser, "section#audit tr[data-audit-row] .field-error")
    assert note.text == "必填", note.text
    assert note.find_element(By.XPATH, "./preceding-sibling::label[1]//input") == reason
    assert "invalid" in reason.get_attribute("class")
    assert manager_api.get(f"/api/v1/orders/{order['id']}")["status"] == "completed"  # nothing changed
    no_errors(browser, failed_load(f"/api/v1/orders/{order['id']}/audit", 422))

    # With the reason, the audit closes the order.
    type_into(reason, "陪诊排队，实际服务 1.5 小时")
    body = browser.find_element(By.TAG_NAME, "body")
    audit.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    confirm(browser)
    reloaded(browser, body)
    heading = wait_for(browser, "h1").text
    assert "已审核结单" in heading, heading
    assert not browser.find_elements(By.CSS_SELECTOR, "section#audit")
    assert f"{AUDITED_MINUTES} 分钟" in browser.find_element(By.CSS_SELECTOR, "table.assignments").text
    assert "审核" in browser.find_element(By.CSS_SELECTOR, "ol.timeline").text
    no_errors(browser)

    # The volunteer's row on the roster: 1.5 hours more.
    after = hours_on_roster(browser, server, name, shot="volunteers")
    assert after == pytest.approx(before + AUDITED_MINUTES / 60), (before, after)
    FLOW.update(order_id=order["id"], audited_minutes=AUDITED_MINUTES, volunteer=name)


def hours_on_roster(browser, server, name: str, shot: str | None = None) -> float:
    """The hours on `name`'s row of the roster: Volunteers in the menu, the name typed in the search."""
    browser.find_element(By.CSS_SELECTOR, "nav.side a[href^='/console/volunteers']").click()
    search = wait_for(browser, "form.filters input[name=q]")
    if shot:
        screenshot(browser, shot)
    no_errors(browser)
    type_into(search, name)
    body = browser.find_element(By.TAG_NAME, "body")
    search.submit()
    reloaded(browser, body)
    rows = [
        row
        for row in browser.find_elements(By.CSS_SELECTOR, "table.roster tbody tr")
        if row.find_elements(By.TAG_NAME, "a") and row.find_element(By.TAG_NAME, "a").text == name
    ]
    assert len(rows) == 1, page_text(browser)
    headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "table.roster thead th")]
    cells = rows[0].find_elements(By.TAG_NAME, "td")
    no_errors(browser)
    return float(cells[headers.index("服务时长（小时）")].text)


# ---- 2. a redemption code fulfilled -----------------------------------------------------------------


def redeem(server) -> dict:
    """A volunteer of 宝石 redeems the cheapest reward on offer that the book can pay for."""
    volunteer = api(server.base).login(REDEEMER)
    balance = volunteer.get("/api/v1/me/timebook")["balance_minutes"]
    offered = volunteer.get("/api/v1/rewards?limit=100")["items"]
    affordable = sorted(
        (r for r in offered if r["active"] and r["price_minutes"] <= balance and r["stock"] > 0),
        key=lambda r: r["price_minutes"],
    )
    assert affordable, (balance, offered)
    return volunteer.post("/api/v1/redemptions", {"reward_id": affordable[0]["id"]}, expect=201)


def look_up(browser, code: str):
    """Type `code` into the fulfil page's field and Enter (as a scanner does); the card or message."""
    field = wait_for(browser, "form#code-lookup input#code")
    type_into(field, code.lower())  # as typed: the page reads it in capitals
    field.send_keys("\n")
    return wait_for(browser, "#code-result dl.facts, #code-result .form-error")


def test_a_redemption_code_is_typed_shown_and_fulfilled_once(browser, server):
    redemption = redeem(server)
    code = redemption["code"]
    login(browser, server.base, STATION_MANAGER)
    browser.find_element(By.CSS_SELECTOR, "nav.side a[href^='/console/timebank']").click()
    wait_for(browser, "nav.timebank-tabs")
    no_errors(browser)
    browser.find_element(By.CSS_SELECTOR, "nav.timebank-tabs a[href*='/console/timebank/fulfil']").click()
    no_errors(browser)

    # What the code is: the reward, the volunteer (masked), the price, issued.
    card = look_up(browser, code)
    facts = card.text
    assert code in facts and redemption["reward"]["title"] in facts, facts
    assert "待核销" in facts, facts
    fulfil = wait_for(browser, "#code-result form.fulfil button[type=submit]")
    screenshot(browser, "timebank-fulfil")
    no_errors(browser)
    fulfil.click()
    confirm(browser)
    note = wait_for(browser, "#code-result .notice")
    assert note.text == "已核销，请交付回报。", note.text
    WebDriverWait(browser, WAIT).until(
        lambda d: not d.find_elements(By.CSS_SELECTOR, "#code-result form.fulfil")
    )
    assert "已核销" in browser.find_element(By.CSS_SELECTOR, "#code-result dl.facts").text
    manager_api = api(server.base).login(STATION_MANAGER)
    assert manager_api.get(f"/api/v1/redemptions/{code}")["status"] == "fulfilled"
    no_errors(browser)

    # Typed again: shown fulfilled, with nothing to press.
    again = look_up(browser, code)
    assert "已核销" in again.text, again.text
    assert not browser.find_elements(By.CSS_SELECTOR, "#code-result form.fulfil")
    no_errors(browser)

    # A code shown on this desk and fulfilled at another meanwhile: Fulfil answers the API's conflict.
    other = redeem(server)
    look_up(browser, other["code"])
    fulfil = wait_for(browser, "#code-result form.fulfil button[type=submit]")
    manager_api.post(f"/api/v1/redemptions/{other['code']}/fulfil")
    fulfil.click()
    confirm(browser)
    refused = wait_for(browser, "#code-result form.fulfil .form-error")
    conflict = (
        api(server.base)
        .login(STATION_MANAGER)
        .post(f"/api/v1/redemptions/{other['code']}/fulfil", expect=409)
    )
    assert refused.text == conflict["message"], (refused.text, conflict)
    no_errors(browser, failed_load(f"/api/v1/redemptions/{other['code']}/fulfil", 409))


# ---- 3. a service-day rule, previewed then saved ------------------------------------------------------


def test_a_service_day_rule_is_read_back_in_words_with_its_dates_then_saved_once(browser, server):
    manager_api = api(server.base).login(STATION_MANAGER)
    station = manager_api.get("/api/v1/me")["home_site"]["id"]
    login(browser, server.base, STATION_MANAGER)
    browser.find_element(By.CSS_SELECTOR, "nav.side a[href^='/console/activities']").click()
    wait_for(browser, "main h1")
    no_errors(browser)
    browser.find_element(By.CSS_SELECTOR, "a[href*='/console/activities/rules']").click()
    form = wait_for(browser, "form#rule-form")
    no_errors(browser)
    theme = f"助老理发日 {time.strftime('%H%M%S')}"

    # When: the 8th and the 18th of each month, in the morning.
    kind = form.find_element(By.NAME, "spec.kind")
    kind.find_element(By.CSS_SELECTOR, "option[value=days_of_month]").click()
    type_into(form.find_element(By.CSS_SELECTOR, "input[name='spec.days']:not([type=checkbox])"), "8, 18")
    form.find_element(By.CSS_SELECTOR, "select[name='spec.part_of_day'] option[value=morning]").click()
    # What: each activity it generates.
    type_into(form.find_element(By.NAME, "theme"), theme)
    type_into(form.find_element(By.NAME, "title"), "义务理发")
    type_into(form.find_element(By.NAME, "slots"), "6")
    save = form.find_element(By.CSS_SELECTOR, "[data-save]")
    assert not save.is_enabled(), "Save before a preview"

    form.find_element(By.CSS_SELECTOR, "[data-preview-button]").click()
    out = wait_for(browser, "[data-preview-out]")
    expected = manager_api.get(
        f"/api/v1/sites/{station}/service-day-rules/preview"
        "?kind=days_of_month&days=8&days=18&part_of_day=morning&count=5"
    )
    words = out.find_element(By.CSS_SELECTOR, "[data-preview-text]").text
    assert words == expected["description"], (words, expected)
    dates = [li.text for li in out.find_elements(By.CSS_SELECTOR, "[data-preview-dates] li")]
    assert [d.split()[0] for d in dates] == [o["date"] for o in expected["next_occurrences"]], dates
    assert all(d.split()[0][-2:] in ("08", "18") for d in dates), dates
    assert save.is_enabled()
    screenshot(browser, "activities-rule-preview")
    no_errors(browser)

    # Saved with a double click: one request, one rule, shown in the list with its words.
    body = browser.find_element(By.TAG_NAME, "body")
    mark = log_mark(server)
    double_click(browser, save)
    reloaded(browser, body)
    wait_for(browser, "table.rules")
    rows = [r for r in browser.find_elements(By.CSS_SELECTOR, "table.rules tbody tr") if theme in r.text]
    assert len(rows) == 1, page_text(browser)
    assert expected["description"] in rows[0].text, rows[0].text
    first = expected["next_occurrences"][0]["date"]
    assert first in rows[0].text, rows[0].text
    assert requests_in_log(server, "POST", "/api/v1/sites/<int:site_id>/service-day-rules", mark) == 1
    saved = manager_api.get(f"/api/v1/sites/{station}/service-day-rules?limit=100")["items"]
    assert [r["theme"] for r in saved].count(theme) == 1
    no_errors(browser)


# ---- 4. an export, downloaded ---------------------------------------------------------------------


def downloaded(directory: Path, suffix: str, before: set[str]) -> Path:
    """The file that arrived in `directory` (a finished download, not Chromium's .crdownload)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        new = [p for p in directory.iterdir() if p.name not in before and p.suffix == suffix]
        if new:
            return new[0]
        time.sleep(0.2)
    raise AssertionError(f"no {suffix} file downloaded into {directory}: {sorted(os.listdir(directory))}")


def export_from_stats(browser, title: str, fmt: str) -> None:
    """Click the export button of `title` (a kind) and `fmt`, follow its progress, click its link."""
    row = next(
        r for r in browser.find_elements(By.CSS_SELECTOR, "table.export-buttons tr") if title in r.text
    )
    links = len(browser.find_elements(By.CSS_SELECTOR, "[data-export-jobs] a.download"))
    row.find_element(By.XPATH, f".//button[normalize-space()='{fmt.upper()}']").click()
    item = wait_for(browser, "[data-export-jobs] li")
    assert item.find_elements(By.TAG_NAME, "progress"), item.get_attribute("outerHTML")
    WebDriverWait(browser, 60).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "[data-export-jobs] a.download")) > links
    )
    item = browser.find_element(By.CSS_SELECTOR, "[data-export-jobs] li")
    assert "完成" in item.text, item.text
    item.find_element(By.CSS_SELECTOR, "a.download").click()


@pytest.fixture
def downloads(browser, tmp_path) -> Iterator[Path]:
    """Chromium saves what it downloads into a temporary directory (headless, without asking), for the
    length of one test."""
    browser.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)}
    )
    yield tmp_path
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "default"})


def audited(browser, server, order) -> dict:
    """What the audit test learnt (FLOW). Under pytest-xdist that test may have run in another test
    process, with its own server and database; then its flow runs here first, on this process's order."""
    if not FLOW.get("order_id"):
        reset(browser)
        test_a_station_manager_opens_an_order_to_grabbing_audits_it_and_sees_the_hours(browser, server, order)
        reset(browser)
    return FLOW


def test_the_manager_downloads_the_orders_export_and_it_has_the_audited_order(
    browser, server, order, downloads
):
    audited(browser, server, order)
    login(browser, server.base, STATION_MANAGER)
    browser.find_element(By.CSS_SELECTOR, "nav.side a[href^='/console/stats']").click()
    wait_for(browser, "table.export-buttons")
    screenshot(browser, "stats")
    no_errors(browser)

    export_from_stats(browser, "订单", "csv")
    screenshot(browser, "stats-export")
    path = downloaded(downloads, ".csv", set())
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    header = rows[0]
    assert header[:4] == ["订单编号", "实践站", "服务类别", "标题"], header
    mine = [dict(zip(header, r, strict=True)) for r in rows[1:] if r[0] == str(FLOW["order_id"])]
    assert len(mine) == 1, rows[:3]
    assert mine[0]["标题"] == TITLE
    assert mine[0]["审核时长（分钟）"] == str(FLOW["audited_minutes"]), mine[0]
    no_errors(browser)

    export_from_stats(browser, "订单", "xlsx")
    book = openpyxl.load_workbook(downloaded(downloads, ".xlsx", {path.name}), read_only=True)
    sheet = book.worksheets[0]
    found = [r for r in sheet.iter_rows(values_only=True) if str(r[0]) == str(FLOW["order_id"])]
    assert len(found) == 1 and found[0][3] == TITLE, found
    no_errors(browser)


# ---- 5. a sibling station's manager cannot open the order ------------------------------------------


def test_a_sibling_stations_manager_gets_the_404_page_for_the_order(browser, server, order):
    login(browser, server.base, SIBLING_STATION_MANAGER)
    browser.get(server.url(f"/console/orders/{order['id']}"))
    heading = wait_for(browser, "main h1").text
    assert heading.startswith("404"), heading
    source = browser.page_source
    for secret in (TITLE, ADDRESS, "浙一医院", order["resident"]["name"], f"#{order['id']}"):
        assert secret not in source, secret
    # Nor by its station's ?site=, nor from the queue.
    browser.get(server.url(f"/console/orders?site={order['site_id']}"))
    assert wait_for(browser, "main h1").text.startswith("404")
    assert TITLE not in browser.page_source
    # Both answered 404 (the browser logs a page's own 404 as a failed load).
    no_errors(
        browser,
        failed_load(f"/console/orders/{order['id']}", 404),
        failed_load(f"/console/orders?site={order['site_id']}", 404),
    )


# ---- 7. English ----------------------------------------------------------------------------------


def test_the_console_speaks_english_when_the_browser_asks(browser_en, server, order):
    login(browser_en, server.base, STATION_MANAGER)
    assert browser_en.find_element(By.TAG_NAME, "html").get_attribute("lang").startswith("en")
    nav = browser_en.find_element(By.CSS_SELECTOR, "nav.side").text
    for word in ("Today", "Orders", "Activities", "Volunteers", "Time bank", "Statistics", "Settings"):
        assert word in nav, nav
    browser_en.get(server.url(f"/console/orders/{order['id']}"))
    page = wait_for(browser_en, "main").text
    assert f"Order #{order['id']}" in page and "Timeline" in page, page[:300]
    assert not re.search("[订单时间线审核]", browser_en.find_element(By.CSS_SELECTOR, "nav.side").text)
    no_errors(browser_en)

    # A form's error, next to its field, in English: a rule on the 40th of the month.
    browser_en.get(server.url("/console/activities/rules"))
    form = wait_for(browser_en, "form#rule-form")
    type_into(form.find_element(By.CSS_SELECTOR, "input[name='spec.days']:not([type=checkbox])"), "40")
    form.find_element(By.CSS_SELECTOR, "[data-preview-button]").click()
    note = wait_for(browser_en, "form#rule-form .field-error")
    station = order["site_id"]
    answer = (
        api(server.base, lang="en")
        .login(STATION_MANAGER)
        .get(f"/api/v1/sites/{station}/service-day-rules/preview?kind=days_of_month&days=40", expect=422)
    )
    assert note.text == " ".join(answer["errors"]["json"]["spec"]["days"]), (note.text, answer)
    assert note.text.isascii() and "between 1 and 31" in note.text, note.text
    days = note.find_element(By.XPATH, "./preceding-sibling::label[1]//input")
    assert days.get_attribute("name") == "spec.days" and "invalid" in days.get_attribute("class")
    assert not form.find_element(By.CSS_SELECTOR, "[data-save]").is_enabled()
    no_errors(browser_en, failed_load(f"/api/v1/sites/{station}/service-day-rules/preview", 422))
