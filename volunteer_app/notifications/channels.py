"""Delivery channels: the contract between routing (which outbox rows a notification gets) and the
senders (which deliver one row through a provider).

Channels:
- "push": an app push through the configured push service (JPush) to one registered device; the
  outbox row's target is the device's token (JPush's registration id).
- "sms": a text message to the user's phone; the target is resolved when the row is sent (the
  number is never copied into the outbox).
- "wechat": a mini-program subscription message to the user's openid (the target), sent only with the
  user's consent for that kind.
- "console": no provider (the inbox is the message); the console and memory senders log or keep it.

A sender is any object with `send(message: dict) -> None`; it raises DeliveryError when the provider
refuses or cannot be reached. The message dict has: id (outbox row), notification_id, user_id,
channel, target (token / phone / openid, or None for console), kind, params, title (zh-CN),
title_en, subject_type, subject_id, order_id, attempts.

Reachers: a channel's reacher answers, inside the notifying transaction, which of some users that
channel can reach for a kind, and where: `reach(user_ids, kind) -> {user_id: [target, ...]}` (a user
left out cannot be reached). A reacher may reserve something in that transaction (a WeChat
subscription consent is used up by the message it allows); its releaser gives it back when the row is
written "skipped" (the daily cap).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from volunteer_app.providers import DeliveryError  # defined in core: the providers raise it

CHANNEL_NAMES = ("push", "sms", "wechat", "console")

Reach = Callable[[Sequence[int], str], dict[int, list[str | None]]]
REACHERS: dict[str, Reach] = {}
# A reacher that reserves something gives it back for the rows routing then writes "skipped" (over the
# daily cap): `release(user_ids, kind)`, one id per skipped row, in the same transaction.
Release = Callable[[Sequence[int], str], None]
RELEASERS: dict[str, Release] = {}

__all__ = [
    "CHANNEL_NAMES",
    "REACHERS",
    "RELEASERS",
    "DeliveryError",
    "Reach",
    "Release",
    "reacher",
    "releaser",
]


def reacher(channel: str) -> Callable[[Reach], Reach]:
    """Register `channel`'s reacher (one per channel; a second registration replaces the first)."""
    if channel not in CHANNEL_NAMES:
        raise ValueError(f"unknown channel: {channel!r}")

    def register(fn: Reach) -> Reach:
        REACHERS[channel] = fn
        return fn

    return register


def releaser(channel: str) -> Callable[[Release], Release]:
    """Register `channel`'s release of what its reacher reserved for rows never sent (see RELEASERS)."""
    if channel not in CHANNEL_NAMES:
        raise ValueError(f"unknown channel: {channel!r}")

    def register(fn: Release) -> Release:
        RELEASERS[channel] = fn
        return fn

    return register
