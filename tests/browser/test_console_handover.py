"""Passing an order on (转派) in headless Chromium against the real server with the demo (issue 17): the
station's manager chooses the sibling station on the order's page and gives a reason; the sibling's
manager accepts it on the same page and may dispatch it; the resident's order now names the sibling as
its dispatching site. Every page is checked for browser console errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from selenium.webdriver.common.by import By

from tests.browser.harness import (
    RESIDENTS,
    SIBLING_STATION_MANAGER,
    STATION_MANAGER,
    api,
    login,
    reset,
    wait_for,
)
from tests.browser.test_console_flows import STATION_LAT, STATION_LNG, confirm, no_errors, reloaded

TITLE = "代买药品（浏览器测试：转派）"


def test_an_order_is_passed_to_the_sibling_station_which_accepts_it(browser, server):
    start = datetime.now(UTC) + timedelta(days=2)
    order = (
        api(server.base)
        .login(RESIDENTS[0])
        .post(
            "/api/v1/orders",
            {
                "category_id": 1,
                "title": TITLE,
                "address": "宝石社区 3 幢（浏览器测试）",
                "lat": STATION_LAT,
                "lng": STATION_LNG,
                "start_at": start.isoformat(),
                "end_at": (start + timedelta(hours=1)).isoformat(),
                "volunteers_needed": 1,
            },
            expect=201,
        )
    )
    sibling = api(server.base).login(SIBLING_STATION_MANAGER).get("/api/v1/me")["home_site"]

    login(browser, server.base, STATION_MANAGER)
    browser.get(server.url(f"/console/orders/{order['id']}"))
    action = next(d for d in browser.find_elements(By.CSS_SELECTOR, "details.action") if "转派" in d.text)
    action.find_element(By.TAG_NAME, "summary").click()
    action.find_element(By.CSS_SELECTOR, f"select[name=to_site_id] option[value='{sibling['id']}']").click()
    action.find_element(By.CSS_SELECTOR, "textarea[name=reason]").send_keys("本站本周人手不足")
    body = browser.find_element(By.TAG_NAME, "body")
    action.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    confirm(browser)
    reloaded(browser, body)
    card = wait_for(browser, "section.handovers").text
    assert "待对方答复" in card and sibling["name"] in card and "本站本周人手不足" in card, card
    no_errors(browser)

    reset(browser)
    login(browser, server.base, SIBLING_STATION_MANAGER)
    browser.get(server.url(f"/console/orders/{order['id']}"))
    accept = wait_for(browser, "section.handovers form button.primary")
    body = browser.find_element(By.TAG_NAME, "body")
    accept.click()
    confirm(browser)
    reloaded(browser, body)
    assert "已接收" in wait_for(browser, "section.handovers").text
    assert browser.find_elements(By.CSS_SELECTOR, f"form[data-api='/api/v1/orders/{order['id']}/dispatch']")
    no_errors(browser)
    seen = api(server.base).login(RESIDENTS[0]).get(f"/api/v1/orders/{order['id']}")
    assert seen["dispatch_site_id"] == sibling["id"], seen
