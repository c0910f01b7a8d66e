"""Capturing the app's own log output: the real configuration (volunteer_app/logs.py configure, the one
create_app runs) writing to a buffer instead of stderr."""

from __future__ import annotations

import io
import json

import pytest

from volunteer_app import logs


class Captured:
    """What the process wrote through the app's handler since the fixture started."""

    def __init__(self, buffer: io.StringIO):
        self.buffer = buffer

    @property
    def text(self) -> str:
        return self.buffer.getvalue()

    def lines(self) -> list[dict]:
        """Each JSON line, parsed (a line that is not a JSON object fails the test)."""
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]

    def requests(self) -> list[dict]:
        return [line for line in self.lines() if line.get("event") == "request"]

    def clear(self) -> None:
        self.buffer.seek(0)
        self.buffer.truncate()


@pytest.fixture
def capture_logs(app):
    """capture_logs(format="json", level="DEBUG", levels=None): route every logger through the app's
    configuration into a buffer; the app's own configuration is put back after the test."""

    def start(fmt: str = "json", level: str = "DEBUG", levels: dict | None = None) -> Captured:
        settings = dict(app.config["LOGGING"], format=fmt, level=level)
        if levels is not None:
            settings["levels"] = levels
        buffer = io.StringIO()
        logs.configure(settings, stream=buffer)
        return Captured(buffer)

    yield start
    logs.configure(app.config["LOGGING"])


# The WeChat fake and the app pointed at it (tests/wechat/conftest.py), for the walk's WeChat sign-in.
from tests.wechat.conftest import fake, wechat_app  # noqa: E402, F401
