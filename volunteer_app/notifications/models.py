"""Notifications: the inbox a user reads, the outbox a sender drains, the devices pushes go to, and
each user's notification settings (opt-outs, quiet hours).

A notification is written in the transaction of the change it reports (one inbox row per user, and
the outbox rows its kind's route gives: routing.py); a worker sends them after commit (never the
request), touching only the outbox.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from volunteer_app.db import BigId, UTCDateTime, utcnow
from volunteer_app.extensions import db


class OutboxStatus(enum.StrEnum):
    """An outbox message: pending, being sent, sent; failed (retried with backoff), dead (gave up);
    skipped (never sent: over the user's daily cap, `last_error` says so)."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    DEAD = "dead"
    SKIPPED = "skipped"


PLATFORMS = ("ios", "android", "harmony", "web")
# The platforms the "push" channel reaches (JPush serves the apps on all three). A "web" device gets no
# pushes: a browser reads its inbox (JPush has no web push).
PUSH_PLATFORMS = ("ios", "android", "harmony")
FINISHED = (OutboxStatus.SENT, OutboxStatus.DEAD, OutboxStatus.SKIPPED)
MAX_DEVICES = 10


class Notification(db.Model):
    """One message in a user's inbox; its text is rendered from `kind` and `params` when read."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_id_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    # The order it is about (no foreign key: orders live in their own domain and migration).
    order_id: Mapped[int | None] = mapped_column(BigId)
    # What it is about, for the app to open (service.SUBJECT_TYPES): "order" and an order's id, "activity"
    # and an activity's id, "statement" and a month "YYYY-MM", "timebook" and a book number, "ledger"
    # (no id). Set on every row written since migration 0010; older rows have what could be recovered.
    subject_type: Mapped[str | None] = mapped_column(String(20))
    subject_id: Mapped[str | None] = mapped_column(String(40))
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxMessage(db.Model):
    """One delivery of a notification through one channel (channels.py) to one target, claimed and
    sent by a worker."""

    __tablename__ = "notification_outbox"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'failed', 'dead', 'skipped')", name="status"
        ),
        CheckConstraint("channel IN ('push', 'sms', 'wechat', 'console')", name="channel"),
        Index("ix_notification_outbox_status_next_try_at_id", "status", "next_try_at", "id"),
        # The daily cap counts a user's rows of their local day; an admin lists a user's deliveries.
        Index("ix_notification_outbox_user_id_created_at", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    channel: Mapped[str] = mapped_column(String(16))
    # Where to: push, the device's token (the row dies if the device left the user before it is sent);
    # wechat, the openid; sms and console, none (an SMS goes to the user's phone as it is when sent).
    target: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(12), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    # Pending or failed: not before this. Sending: the claim's lease ends here (a crashed sender's
    # claim is taken over after it).
    next_try_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Device(db.Model):
    """A phone (or browser) that receives pushes; a token belongs to the user who registered it last."""

    __tablename__ = "devices"
    __table_args__ = (CheckConstraint("platform IN ('ios', 'android', 'harmony', 'web')", name="platform"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    token: Mapped[str] = mapped_column(String(255), unique=True)
    app_version: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class NotificationSetting(db.Model):
    """A user's choices (routing.py): the channels they turned off per kind, and quiet hours (local
    times "HH:MM" in their home site's time zone; null: the deployment's window). No row: the defaults."""

    __tablename__ = "notification_settings"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    # kind -> the channels ("push", "sms", "wechat") not to use for it; security kinds ignore it.
    opt_out: Mapped[dict] = mapped_column(JSON, default=dict)
    quiet_hours: Mapped[bool] = mapped_column(default=True)
    quiet_start: Mapped[str | None] = mapped_column(String(5))
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
