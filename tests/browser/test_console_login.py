"""The console's sign-in, against its contract: /console/login has a form with fields named phone and
password and a submit button; a station manager who signs in lands on /console/."""

from __future__ import annotations

from selenium.webdriver.common.by import By

from tests.browser.harness import STATION_MANAGER, console_errors, login, path_of, screenshot, wait_for


def test_a_station_manager_signs_in_and_lands_on_the_console(browser, server):
    browser.get(server.url("/console/login"))
    wait_for(browser, "input[name=phone]")
    wait_for(browser, "input[name=password]")
    screenshot(browser, "login")

    login(browser, server.base, STATION_MANAGER)
    assert path_of(browser) == "/console/"
    assert not browser.find_elements(By.CSS_SELECTOR, "input[name=password]")
    assert any(c["name"] for c in browser.get_cookies()), "signed in without a cookie"
    assert console_errors(browser) == []  # no script error, no Content-Security-Policy violation
