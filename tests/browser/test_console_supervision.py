"""The console's Supervision area in headless Chromium against the real server with the demo (issue 17):
the institute raises a 督办 item against its station on the station's page of the area, the station's
manager opens it from Today, reports it done by typing into the page's form, and the institute closes
it (销号); a sibling station's manager gets the console's 404 for it. Every page is checked for browser
console errors (a CSP violation, a script error)."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.harness import (
    INSTITUTE_MANAGER,
    SIBLING_STATION_MANAGER,
    STATION_MANAGER,
    WAIT,
    api,
    login,
    reset,
    wait_for,
)
from tests.browser.test_console_flows import failed_load, no_errors, reloaded

SUBJECT = "订单审核不及时（浏览器测试）"


def _submit(browser, summary: str, typed: dict[str, str]) -> None:
    """Open the page's action named `summary`, type into its fields, press its button, wait for the
    reload."""
    action = next(
        d for d in browser.find_elements(By.CSS_SELECTOR, "details.action") if d.text.startswith(summary)
    )
    action.find_element(By.TAG_NAME, "summary").click()
    for name, value in typed.items():
        field = action.find_element(By.CSS_SELECTOR, f"[name='{name}']")
        if field.tag_name == "select":
            field.find_element(By.CSS_SELECTOR, f"option[value='{value}']").click()
        else:
            field.send_keys(value)
    body = browser.find_element(By.TAG_NAME, "body")
    action.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    reloaded(browser, body)


def test_an_item_is_raised_reported_and_closed_in_the_console(browser, server):
    station = api(server.base).login(STATION_MANAGER).get("/api/v1/me")["home_site"]["id"]

    # The institute raises it on the station's page of the area (reached from its own, "Sites below").
    login(browser, server.base, INSTITUTE_MANAGER)
    browser.find_element(By.CSS_SELECTOR, "nav.side a[href^='/console/supervision']").click()
    wait_for(browser, "nav.sup-tabs")
    no_errors(browser)
    browser.get(server.url(f"/console/supervision?site={station}&tab=acting"))
    _submit(browser, "对", {"level": "red", "subject": SUBJECT, "description": "请核查逾期未审核的订单"})
    no_errors(browser)
    row = next(
        r for r in browser.find_elements(By.CSS_SELECTOR, "table.sup-list tbody tr") if SUBJECT in r.text
    )
    assert "红色" in row.text and "办理中" in row.text, row.text
    item_path = row.find_element(By.CSS_SELECTOR, "a").get_attribute("href").split(server.base, 1)[-1]
    item_id = int(item_path.split("?")[0].rsplit("/", 1)[-1])

    # The station sees it among Today's items to act on and reports it done.
    reset(browser)
    login(browser, server.base, STATION_MANAGER)
    card = wait_for(browser, "a.count[data-key='items_to_act']")
    card.click()
    wait_for(browser, "table.sup-list")
    browser.find_element(By.CSS_SELECTOR, f"a[href*='/console/supervision/acting/{item_id}']").click()
    wait_for(browser, "ol.timeline")
    assert not [d for d in browser.find_elements(By.CSS_SELECTOR, "details.action") if "销号" in d.text]
    _submit(browser, "报结", {"result": "已逐单补审并建立每周提醒"})
    assert "已报结" in browser.find_element(By.CSS_SELECTOR, "main h1").text
    no_errors(browser)

    # The institute closes it; the timeline has every step.
    reset(browser)
    login(browser, server.base, INSTITUTE_MANAGER)
    browser.get(server.url(f"/console/supervision/acting/{item_id}?site={station}"))
    _submit(browser, "确认销号", {"note": "整改到位"})
    WebDriverWait(browser, WAIT).until(lambda d: "已销号" in d.find_element(By.CSS_SELECTOR, "main h1").text)
    timeline = browser.find_element(By.CSS_SELECTOR, "ol.timeline").text
    assert "发起" in timeline and "已报结" in timeline and "已逐单补审" in timeline, timeline
    assert not browser.find_elements(By.CSS_SELECTOR, "details.action")
    no_errors(browser)
    assert api(server.base).login(INSTITUTE_MANAGER).get(f"/api/v1/supervision-items/{item_id}")[
        "status"
    ] == ("closed")

    # A sibling station's manager: the console's 404 page, nothing of the item.
    reset(browser)
    login(browser, server.base, SIBLING_STATION_MANAGER)
    browser.get(server.url(f"/console/supervision/acting/{item_id}"))
    assert wait_for(browser, "main h1").text.startswith("404")
    assert SUBJECT not in browser.page_source
    no_errors(browser, failed_load(f"/console/supervision/acting/{item_id}", 404))
