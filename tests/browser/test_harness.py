"""The harness itself works, whatever the console's state: the real server answers and is ready, its API
takes a phone's login and a manager's export (made by the embedded worker), and Chromium runs the
JavaScript of a page the app serves (Swagger UI, which renders the API document's title)."""

from __future__ import annotations

import time

from tests.browser.harness import (
    STATION_MANAGER,
    TIME_ZONE,
    VOLUNTEERS,
    api,
    console_errors,
    path_of,
    reset,
    wait_for,
)


def test_the_server_is_ready_and_serves_the_api_document(server):
    ready = api(server.base).get("/readyz")
    assert ready["status"] == "ok" and ready["revision"], ready
    document = api(server.base).get("/api/v1/openapi.json")
    assert document["info"]["title"] == "volunteer_app"
    assert "/api/v1/auth/login" in document["paths"]
    assert server.url("/readyz").startswith("http://127.0.0.1:")


def test_the_api_helper_signs_in_a_demo_volunteer_and_the_worker_makes_an_export(server):
    volunteer = api(server.base).login(VOLUNTEERS[0])
    me = volunteer.get("/api/v1/me")
    assert me["phone"].endswith(VOLUNTEERS[0][-4:]) and me["volunteer"]["volunteer_no"], me
    assert api(server.base).login(VOLUNTEERS[0]).token == volunteer.token  # kept, not a second login
    assert api(server.base).get("/api/v1/me", expect=401)["error"]

    manager = api(server.base).login(STATION_MANAGER)
    station = manager.get("/api/v1/me")["home_site"]["id"]
    stats = manager.get(f"/api/v1/sites/{station}/stats")
    job = manager.post(
        f"/api/v1/sites/{station}/exports",
        {"kind": "orders", "format": "csv", "from": stats["from"], "to": stats["to"]},
        expect=202,
    )
    deadline = time.monotonic() + 60
    while job["state"] not in ("done", "failed", "dead") and time.monotonic() < deadline:
        time.sleep(0.3)
        job = manager.get(f"/api/v1/jobs/{job['id']}")
    assert job["state"] == "done", job
    data = manager.get(job["result_url"].removeprefix(server.base))
    assert isinstance(data, bytes) and data, job


def test_chromium_runs_the_apps_own_javascript_swagger_ui(browser, server):
    browser.get(server.url("/api/docs"))
    assert browser.title == "volunteer_app"
    # Rendered by swagger-ui-bundle.js (served by the app) from the API document it fetched.
    assert "volunteer_app" in wait_for(browser, "#swagger-ui-container .info .title").text
    assert wait_for(browser, "#swagger-ui-container .opblock-tag")
    assert browser.execute_script("return navigator.language") == "zh-CN"
    assert browser.execute_script("return Intl.DateTimeFormat().resolvedOptions().timeZone") == TIME_ZONE
    assert browser.execute_script("return [window.outerWidth, window.outerHeight]") == [1366, 768]
    assert path_of(browser) == "/api/docs"
    assert console_errors(browser) == []


def test_between_tests_the_browser_forgets_cookies_and_storage(browser, server):
    browser.get(server.url("/api/docs"))
    browser.add_cookie({"name": "console_session", "value": "x"})
    browser.execute_script("localStorage.setItem('k', 'v'); sessionStorage.setItem('k', 'v')")
    reset(browser)  # what the browser fixture does before each test
    browser.get(server.url("/api/docs"))
    assert browser.get_cookies() == []
    assert browser.execute_script("return [localStorage.length, sessionStorage.length]") == [0, 0]


def test_english_is_there_when_asked(browser_en, server):
    browser_en.get(server.url("/api/docs"))
    assert browser_en.execute_script("return navigator.language") == "en"
    request = "return fetch('/api/v1/nowhere').then(r => r.json()).then(b => b.message)"
    assert browser_en.execute_script(request) == english_not_found(server)


def english_not_found(server) -> str:
    """The API's 404 message in English (Accept-Language: en), to compare with what the browser got."""
    return api(server.base, lang="en").get("/api/v1/nowhere", expect=404)["message"]
