"""Pluggable SMS senders of login codes: console (development), memory (tests), tencent (Tencent Cloud
SMS, volunteer_app/providers/tencent_sms.py), or a gateway class named in config.

A sender with `queued = True` (tencent) is handed each code through the background worker (auth.service
SMS_CODE_WORK): a slow or blocked provider never holds the request. The console and memory senders
touch no network and are called right after the request commits (development and tests read the code
at once); a dotted-path sender is called the same way unless it says `queued = True`."""

from __future__ import annotations

import sys
from typing import Protocol

from flask import current_app

from volunteer_app import plugins
from volunteer_app.phones import mask_phone
from volunteer_app.providers.tencent_sms import TencentLoginSender


class SmsSender(Protocol):
    def send_login_code(self, phone: str, code: str) -> None: ...


class ConsoleSender:
    """Development only (production refuses it): prints the code so a developer can log in. Printed,
    not logged: codes never reach the logs; and in production it would print nothing."""

    queued = False

    def send_login_code(self, phone: str, code: str) -> None:
        if current_app.config.get("ENV_NAME") == "production":
            return
        print(f"[sms] login code for {mask_phone(phone)}: {code}", file=sys.stdout, flush=True)


class MemorySender:
    """Keeps messages in a list on the app (tests read them)."""

    queued = False

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send_login_code(self, phone: str, code: str) -> None:
        self.sent.append((phone, code))


BUILTINS: dict[str, type] = {"console": ConsoleSender, "memory": MemorySender, "tencent": TencentLoginSender}


def sender() -> SmsSender:
    """The app's sender, created once per app from the `sms_sender` setting."""
    return plugins.configured("sms_sender", BUILTINS)


def is_queued(gateway: SmsSender) -> bool:
    """Whether codes go to this sender through the background worker (see the module's doc)."""
    return bool(getattr(gateway, "queued", False))
