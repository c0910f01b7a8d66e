"""Pluggable SMS senders: console (development), memory (tests), or a gateway class named in config."""

from __future__ import annotations

import sys
from typing import Protocol

from volunteer_app import plugins
from volunteer_app.phones import mask_phone


class SmsSender(Protocol):
    def send_login_code(self, phone: str, code: str) -> None: ...


class ConsoleSender:
    """Development only (production refuses it): prints the code so a developer can log in."""

    def send_login_code(self, phone: str, code: str) -> None:
        print(f"[sms] login code for {mask_phone(phone)}: {code}", file=sys.stdout, flush=True)


class MemorySender:
    """Keeps messages in a list on the app (tests read them)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send_login_code(self, phone: str, code: str) -> None:
        self.sent.append((phone, code))


def sender() -> SmsSender:
    """The app's sender, created once per app from the `sms_sender` setting."""
    return plugins.configured("sms_sender", {"console": ConsoleSender, "memory": MemorySender})
