"""Pluggable notification senders: console (logs), memory (tests), or a push gateway class named in config."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from volunteer_app import plugins

log = logging.getLogger(__name__)

# What the memory sender has sent, in order (tests read and clear it).
SENT: list[dict[str, Any]] = []


class NotificationSender(Protocol):
    def send(self, message: dict[str, Any]) -> None: ...


class ConsoleSender:
    """Logs one line per message: ids and kind only, never a phone number, a name or a device token."""

    def send(self, message: dict[str, Any]) -> None:
        log.info(
            "notification %s to user %s: %s via %s",
            message["notification_id"],
            message["user_id"],
            message["kind"],
            message["channel"],
        )


class MemorySender:
    """Keeps every message in the module's SENT list (tests read them)."""

    def send(self, message: dict[str, Any]) -> None:
        SENT.append(message)


def sender() -> NotificationSender:
    """The app's sender, created once per app from the `notification_sender` setting."""
    return plugins.configured("notification_sender", {"console": ConsoleSender, "memory": MemorySender})
