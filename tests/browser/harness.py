"""What browser tests use: Chromium through Selenium (Debian's chromium and chromium-driver, nothing
downloaded), signing in to the console, the JSON API as a phone would call it, and screenshots for the
README. The fixtures that start the server and the browser are in conftest.py beside this file."""

from __future__ import annotations

import json
import os
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from volunteer_app.demo.world import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOTS = ROOT / "docs" / "console"
WIDTH, HEIGHT = 1366, 768  # the office PC the console is built for
TIME_ZONE = "Asia/Shanghai"
WAIT = 10  # seconds a page may take to show what a test waits for

# The demo's logins (volunteer_app/demo/world.py; every password is PASSWORD).
ADMIN = "13900000000"
CENTER_MANAGER = "13900000001"
INSTITUTE_MANAGER = "13900000002"  # 北山街道 (DEMO-INST-1): stations DEMO-ST-1 and DEMO-ST-2
STATION_MANAGER = "13900000004"  # 宝石社区 (DEMO-ST-1)
SIBLING_STATION_MANAGER = "13900000005"  # 西湖社区 (DEMO-ST-2), beside DEMO-ST-1 under the same institute
VOLUNTEERS = [f"1370000{n:04d}" for n in range(1, 21)]  # volunteer n at station (n - 1) % 4 + 1
RESIDENTS = [f"1360000{n:04d}" for n in range(1, 6)]


def missing_browser() -> str | None:
    """Why Chromium cannot be driven here, or None."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            return f"{path} is missing (Debian's {package}: apt-get install chromium chromium-driver)"
    return None


def chrome(lang: str = "zh-CN", profile: Path | None = None) -> WebDriver:
    """A headless Chromium asking for pages in `lang` (Accept-Language and navigator.languages), in a
    1366×768 window, on China's clock (TZ), with a fresh profile in `profile` (an empty directory; a new
    temporary one if None); it never touches the network beyond the pages it is sent to."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM  # with the driver's path below: Selenium Manager downloads nothing
    profile = profile or Path(tempfile.mkdtemp(prefix="chromium-profile-"))
    for flag in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        f"--window-size={WIDTH},{HEIGHT}",
        f"--lang={lang}",
    ):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"intl.accept_languages": lang})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console_errors() reads them
    # The browser's clock is a station's (the demo's sites are in Asia/Shanghai), whatever this machine's.
    service = Service(executable_path=CHROMEDRIVER, env={**os.environ, "TZ": TIME_ZONE})
    driver = webdriver.Chrome(service=service, options=options)
    driver.implicitly_wait(0)  # tests wait for what they need (wait_for), never by a global delay
    return driver


def reset(driver: WebDriver) -> None:
    """Forget every cookie and stored value, and leave the page: the next test starts signed out."""
    driver.get("about:blank")
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    driver.execute_cdp_cmd("Storage.clearDataForOrigin", {"origin": "*", "storageTypes": "all"})
    driver.get_log("browser")  # drop the previous test's console messages


def path_of(driver: WebDriver) -> str:
    return urlsplit(driver.current_url).path


def wait_for(driver: WebDriver, css: str, timeout: float = WAIT):
    """The first element matching the CSS selector once it is displayed (AssertionError naming the page
    and what it says otherwise)."""

    def shown(d):
        for element in d.find_elements(By.CSS_SELECTOR, css):
            if element.is_displayed():
                return element
        return False

    try:
        return WebDriverWait(driver, timeout).until(shown)
    except TimeoutException:
        raise AssertionError(
            f"no {css!r} shown within {timeout} s on {driver.current_url}: {page_text(driver)}"
        ) from None


def page_text(driver: WebDriver, limit: int = 600) -> str:
    """The page's visible text, shortened: for failure messages."""
    try:
        text = driver.find_element(By.TAG_NAME, "body").text
    except NoSuchElementException:
        text = driver.page_source
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + " …"


def login(
    driver: WebDriver, base: str, phone: str, password: str = PASSWORD, lands: str = "/console/"
) -> None:
    """Sign in on /console/login with phone and password, as a person would (type, click), and wait
    until the console shows `lands`. The phone field and the button are those of the password's form,
    so a page with an SMS-code form beside it works too."""
    driver.get(f"{base}/console/login")
    secret = wait_for(driver, "input[name=password]")
    try:
        form = secret.find_element(By.XPATH, "ancestor::form")
    except NoSuchElementException:
        form = driver.find_element(By.TAG_NAME, "body")
    field = form.find_element(By.NAME, "phone")
    field.clear()
    field.send_keys(phone)
    secret.clear()
    secret.send_keys(password)
    form.find_element(By.CSS_SELECTOR, "button[type=submit], input[type=submit], button:not([type])").click()
    try:
        WebDriverWait(driver, WAIT).until(lambda d: path_of(d) == lands)
    except TimeoutException:
        raise AssertionError(
            f"signing in as {phone} did not reach {lands} within {WAIT} s; "
            f"at {driver.current_url}: {page_text(driver)}"
        ) from None


def console_errors(driver: WebDriver) -> list[str]:
    """The browser console's errors since the last call (a Content-Security-Policy violation, a script
    error, a failed request of the page), except the favicon the browser asks for on its own."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and "favicon.ico" not in entry["message"]
    ]


def screenshot(driver: WebDriver, name: str, full_page: bool = False) -> Path | None:
    """docs/console/<name>.png, for the README, only when CONSOLE_SCREENSHOTS=1 (`./dev screenshots`);
    otherwise nothing. full_page: the whole page's height, not only the window's."""
    if os.environ.get("CONSOLE_SCREENSHOTS") != "1":
        return None
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / f"{name}.png"
    if not full_page:
        driver.save_screenshot(str(target))
        return target
    size = driver.get_window_size()
    height = driver.execute_script("return document.documentElement.scrollHeight")
    try:
        # The window's height less the viewport's is the browser's own chrome (zero when headless).
        chrome_height = size["height"] - driver.execute_script("return window.innerHeight")
        driver.set_window_size(size["width"], max(height + chrome_height, HEIGHT))
        driver.save_screenshot(str(target))
    finally:
        driver.set_window_size(size["width"], size["height"])
    return target


# ---- the JSON API, as the phone app calls it ----


class ApiError(AssertionError):
    pass


# Access tokens by (server, phone) with when they were issued: one login per person per run, so tests
# neither wait for argon2 again nor meet the per-phone login limits; renewed well before they expire.
_TOKENS: dict[tuple[str, str], tuple[str, float]] = {}
TOKEN_REUSE_SECONDS = 600  # access tokens live 15 minutes (access_token_minutes)


@dataclass
class Api:
    """The JSON API at `base`, as one person (after login) or anyone (before). Every call checks the
    status it expects (200 unless told) and returns the decoded body (bytes for a file); a POST carries
    a fresh Idempotency-Key unless given one in `headers`."""

    base: str
    token: str | None = None
    lang: str = "zh-CN"

    def login(self, phone: str, password: str = PASSWORD) -> Api:
        """This API as `phone` (a new Api; this one is unchanged). One login per phone and run."""
        token, issued = _TOKENS.get((self.base, phone), (None, 0.0))
        if token is None or time.monotonic() - issued > TOKEN_REUSE_SECONDS:
            token = self.post("/api/v1/auth/login", {"phone": phone, "password": password})["access_token"]
            _TOKENS[(self.base, phone)] = (token, time.monotonic())
        return Api(self.base, token, self.lang)

    def call(self, method: str, path: str, body=None, expect: int = 200, headers: dict | None = None):
        request = urllib.request.Request(self.base + path, method=method)
        request.add_header("Accept-Language", self.lang)
        if body is not None:
            request.data = json.dumps(body).encode()
            request.add_header("Content-Type", "application/json")
        if method == "POST":
            request.add_header("Idempotency-Key", uuid.uuid4().hex)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw  # a file (an export), or a page
        if status != expect:
            raise ApiError(f"{method} {path}: expected {expect}, got {status}: {payload!r:.600}")
        return payload

    def get(self, path: str, expect: int = 200, **kwargs):
        return self.call("GET", path, expect=expect, **kwargs)

    def post(self, path: str, body=None, expect: int = 200, **kwargs):
        return self.call("POST", path, body if body is not None else {}, expect=expect, **kwargs)

    def patch(self, path: str, body, expect: int = 200, **kwargs):
        return self.call("PATCH", path, body, expect=expect, **kwargs)

    def put(self, path: str, body, expect: int = 200, **kwargs):
        return self.call("PUT", path, body, expect=expect, **kwargs)

    def delete(self, path: str, expect: int = 204, **kwargs):
        return self.call("DELETE", path, expect=expect, **kwargs)


def api(base: str, lang: str = "zh-CN") -> Api:
    """The JSON API of the server at `base`, signed out; `.login(phone)` for one person's."""
    return Api(base, lang=lang)
