"""Pluggable SMS senders: console (development), memory (tests), or a gateway class named in config."""

from __future__ import annotations

import importlib
import sys
from typing import Protocol

from flask import current_app

from volunteer_app.accounts.identity import mask_phone


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
    ext = current_app.extensions
    if "sms_sender" not in ext:
        name = current_app.config["APP"]["sms_sender"]
        if name == "console":
            ext["sms_sender"] = ConsoleSender()
        elif name == "memory":
            ext["sms_sender"] = MemorySender()
        else:
            module, _, attr = name.partition(":")
            ext["sms_sender"] = getattr(importlib.import_module(module), attr)()
    return ext["sms_sender"]
