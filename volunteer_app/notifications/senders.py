"""Pluggable notification senders, one per channel: console (logs), memory (tests), the providers'
(JPush, Tencent Cloud SMS, WeChat subscription messages), or a class named in config.

`[notifications] senders` names a channel's sender; a channel it does not name uses the one
`[app] notification_sender` (console in development, memory in tests), as before channels existed.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any, Protocol

from flask import current_app

from volunteer_app import plugins
from volunteer_app.notifications.channels import CHANNEL_NAMES

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


BUILTINS: dict[str, type] = {"console": ConsoleSender, "memory": MemorySender}
# The providers' senders, imported when named (providers/ is a core package; none is loaded unless used).
PROVIDERS = {
    "jpush": "volunteer_app.providers.jpush:JPushSender",
    "tencent_sms": "volunteer_app.providers.tencent_sms:TencentSmsSender",
    "wechat": "volunteer_app.providers.wechat:WechatSender",
}


def sender() -> NotificationSender:
    """The app's fallback sender, created once per app from `[app] notification_sender`."""
    return plugins.configured("notification_sender", BUILTINS)


def _build(name: str) -> NotificationSender:
    if name in BUILTINS:
        return BUILTINS[name]()
    module, _, attr = PROVIDERS.get(name, name).partition(":")
    return getattr(importlib.import_module(module), attr)()


def channel_senders() -> dict[str, NotificationSender]:
    """Each channel's sender: its own from `[notifications] senders` (created once per app and kept in
    the app's extensions, where a test may replace one), else the fallback `sender()`."""
    own: dict[str, NotificationSender] = current_app.extensions.setdefault("notification_senders", {})
    names = current_app.config["NOTIFICATIONS"]["senders"]
    for channel, name in names.items():
        if channel not in own:
            own[channel] = _build(name)
    fallback = None if all(c in own for c in CHANNEL_NAMES) else sender()
    return {channel: own.get(channel) or fallback for channel in CHANNEL_NAMES}
