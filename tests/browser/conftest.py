"""Browser tests: headless Chromium against a real server with the demo data, one of each per test run.

- `server`: a separate process (server.py beside this file) on a free port of 127.0.0.1, SQLite in a
  temporary instance directory, migrated (`flask deploy`) and loaded with the demo (`flask demo load`),
  the worker embedded (exports get made), stopped at the end. Its data lives for the whole run: a test
  makes what it changes (an order of its own) or uses demo rows no other test changes.
- `browser` (Accept-Language zh-CN) and `browser_en` (en): one Chromium each per run, signed out and
  emptied before every test that uses it.
- Helpers in harness.py: login(driver, base, phone), api(base).login(phone).post(...), wait_for,
  console_errors, screenshot(driver, name) (docs/console/, only with CONSOLE_SCREENSHOTS=1).

They run on SQLite only: a PostgreSQL run (TEST_DATABASE_URL) skips them. Without Chromium they are
skipped locally but fail under CI (env CI) or `./dev screenshots`, so neither can skip them silently.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser import harness

HERE = Path(__file__).resolve().parent
START_TIMEOUT = 300  # seconds for deploy, demo load and the first /readyz on a busy CI machine


@pytest.hookimpl(tryfirst=True)  # before `-m` selects on the marker
def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.browser)


_FAILED = pytest.StashKey[bool]()  # whether a test's call failed (for the browser fixtures' teardown)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


_STARTED = pytest.StashKey[str]()  # how long the server took to start, said in the summary


def pytest_terminal_summary(terminalreporter, config) -> None:
    if _STARTED in config.stash:
        terminalreporter.write_line(f"browser tests: {config.stash[_STARTED]}")


@pytest.fixture(scope="session", autouse=True)
def _browser_requirements() -> None:
    server = os.environ.get("TEST_DATABASE_URL")
    if server and server.startswith("postgres"):
        pytest.skip("browser tests run on SQLite only (this run is on PostgreSQL)")
    reason = harness.missing_browser()
    if reason is None:
        return
    for strict in ("CI", "CONSOLE_SCREENSHOTS"):
        if os.environ.get(strict, "").lower() not in ("", "0", "false", "no"):
            pytest.fail(f"{reason}; with {strict} set the browser tests must run, not skip", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _clean() -> None:
    """Overrides tests/conftest.py's: browser tests use the server's database, not the test database."""


@dataclass(frozen=True)
class Server:
    base: str  # http://127.0.0.1:PORT
    instance: Path  # its instance directory (volunteer.db)
    log: Path  # deploy, demo load and the server's requests

    def url(self, path: str) -> str:
        return self.base + path


def _server_env(instance: Path) -> dict[str, str]:
    # Nothing of this shell's own configuration reaches the server: its database, Redis, config overlay.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("VOLUNTEER_") and k not in ("DATABASE_URL", "REDIS_URL", "SCHEDULER_MODE")
    }
    root = str(harness.ROOT)
    env.update(
        VOLUNTEER_INSTANCE_DIR=str(instance),
        VOLUNTEER_WORKER_MODE="embedded",
        VOLUNTEER_SCHEDULER_MODE="off",
        PYTHONPATH=os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")])),
        PYTHONUNBUFFERED="1",
    )
    return env


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)  # the server and a flask command it may be running
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        except ProcessLookupError:
            pass


def _wait_until_served(process: subprocess.Popen, log: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    base = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the browser tests' server exited {process.returncode}:\n{log.read_text()}")
        if base is None:
            lines = [line for line in log.read_text().splitlines() if line.startswith("serving on ")]
            base = lines[0].removeprefix("serving on ").strip() if lines else None
        if base is not None:
            try:
                with urllib.request.urlopen(f"{base}/readyz", timeout=5) as response:
                    if response.status == 200:
                        return base
            except OSError:
                pass
        time.sleep(0.2)
    raise RuntimeError(
        f"the browser tests' server was not ready within {START_TIMEOUT} s:\n{log.read_text()}"
    )


@pytest.fixture(scope="session")
def server(tmp_path_factory, request) -> Iterator[Server]:
    """The app served by a process of its own, with the demo loaded (see the module's docstring)."""
    instance = tmp_path_factory.mktemp("browser-instance")
    log = instance / "server.log"
    started = time.monotonic()
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.browser.server"],
            cwd=harness.ROOT,
            env=_server_env(instance),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped with the flask command it runs
        )
    try:
        base = _wait_until_served(process, log)
        request.config.stash[_STARTED] = f"server ready in {time.monotonic() - started:.1f} s at {base}"
        yield Server(base=base, instance=instance, log=log)
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def _chromium(tmp_path_factory) -> Iterator[Callable[[str], WebDriver]]:
    """Chromium for a language: one per language asked for, started when a test first asks, quit at the
    end of the run."""
    drivers: dict[str, WebDriver] = {}

    def get(lang: str) -> WebDriver:
        if lang not in drivers:
            drivers[lang] = harness.chrome(lang, profile=tmp_path_factory.mktemp(f"chromium-{lang}"))
        return drivers[lang]

    yield get
    for driver in drivers.values():
        driver.quit()


def _driver(chromium: Callable[[str], WebDriver], lang: str, request, server: Server):
    driver = chromium(lang)
    harness.reset(driver)
    yield driver
    if request.node.stash.get(_FAILED, False):
        # What the page showed when the test failed, kept beside the server's log.
        name = request.node.name.replace("/", "_")[:100]
        shot = server.instance / f"failed-{name}.png"
        driver.save_screenshot(str(shot))
        (server.instance / f"failed-{name}.html").write_text(driver.page_source)
        print(f"\n{request.node.nodeid} failed at {driver.current_url}; page saved as {shot} (.html beside)")


@pytest.fixture
def browser(_chromium, request, server):
    """Chromium asking for Chinese (zh-CN) pages, signed out, 1366×768."""
    yield from _driver(_chromium, "zh-CN", request, server)


@pytest.fixture
def browser_en(_chromium, request, server):
    """Chromium asking for English (en) pages, signed out, 1366×768."""
    yield from _driver(_chromium, "en", request, server)
