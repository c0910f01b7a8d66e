"""The console's scripts themselves, in the browser: console.js reads a datetime-local field at its
site's UTC offset on the day typed (data-zone), not today's, data-offset only where the browser cannot
tell; stats.js stops following an export the API refuses to show."""

from __future__ import annotations

import time

from selenium.webdriver.common.by import By

from tests.browser.harness import STATION_MANAGER, console_errors, login, wait_for


def test_a_moment_is_read_at_the_zones_offset_on_the_day_typed(browser, server):
    login(browser, server.base, STATION_MANAGER)
    body = browser.execute_script(
        """
        var form = document.createElement("form");
        [["summer", "Europe/London", "2026-07-01T09:30"], ["winter", "Europe/London", "2026-01-05T09:30"],
         ["shanghai", "Asia/Shanghai", "2026-12-05T09:00"], ["kolkata", "Asia/Kolkata", "2026-06-01T00:00"],
         ["unknown", "Nowhere/Else", "2026-07-01T09:30"], ["none", "", "2026-07-01T09:30"]
        ].forEach(function (f) {
          var input = document.createElement("input");
          input.type = "datetime-local";
          input.name = f[0];
          input.dataset.type = "moment";
          input.dataset.offset = "+03:00";
          if (f[1]) input.dataset.zone = f[1];
          input.value = f[2];
          form.appendChild(input);
        });
        document.body.appendChild(form);
        return window.ConsoleApi.collect(form);
        """
    )
    assert body == {
        "summer": "2026-07-01T09:30:00+01:00",
        "winter": "2026-01-05T09:30:00+00:00",
        "shanghai": "2026-12-05T09:00:00+08:00",
        "kolkata": "2026-06-01T00:00:00+05:30",
        "unknown": "2026-07-01T09:30:00+03:00",  # the server's offset, where the browser cannot tell
        "none": "2026-07-01T09:30:00+03:00",
    }
    assert console_errors(browser) == []


def test_following_an_export_stops_at_a_refusal_and_says_why(browser, server):
    """stats.js asks GET /api/v1/jobs/{id} until the job ends; a 4xx (here a job that is not there:
    404) stops it at once, with the API's message, instead of asking every second forever."""
    login(browser, server.base, STATION_MANAGER)
    browser.get(server.url("/console/stats"))
    wait_for(browser, "form[data-export]")
    browser.execute_script(
        """
        window.jobAsks = 0;
        var fetch0 = window.fetch;
        window.fetch = function (url, init) {
          if (String(url).indexOf("/api/v1/jobs/") === 0) window.jobAsks += 1;
          return fetch0(url, init);
        };
        var form = document.querySelector("form[data-export]");
        form.dispatchEvent(new CustomEvent("console:done", {
          detail: { id: "999999999", state: "queued" }, bubbles: true
        }));
        """
    )
    state = wait_for(browser, "[data-export-jobs] li.failed .state")
    assert state.text.startswith("失败 — ") and "未找到" in state.text, state.text
    asks = browser.execute_script("return window.jobAsks")
    time.sleep(2.5)  # two more seconds of polling would have asked twice more
    assert browser.execute_script("return window.jobAsks") == asks == 1
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-export-jobs] li.failed progress")
    errors = console_errors(browser)
    assert all("/api/v1/jobs/999999999" in e and "404" in e for e in errors), errors
