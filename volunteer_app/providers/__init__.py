"""Clients of outside providers (SMS, WeChat, app push) over their HTTP APIs: core, imports no domain.

DeliveryError is defined here (the providers raise it) and is the delivery-channel contract's own
(notifications/channels.py re-exports it): a core package cannot import the notifications domain."""

from __future__ import annotations


class DeliveryError(Exception):
    """A provider did not take the message. `code` is the provider's own error, prefixed with its name
    ("jpush:1011", "wechat:43101", "tencent:LimitExceeded.PhoneNumberDailyLimit"), or "timeout" /
    "http:<status>" when it could not be reached; it is what admins see. `retry`: False when trying
    again cannot help (an invalid number, a refused consent): the row is dead at once."""

    def __init__(self, code: str, detail: str = "", *, retry: bool = True) -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail
        self.retry = retry
