"""console.js itself, in the browser: a datetime-local field is read at its site's UTC offset on the day
typed (data-zone), not today's; data-offset only where the browser cannot tell."""

from __future__ import annotations

from tests.browser.harness import STATION_MANAGER, console_errors, login


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
