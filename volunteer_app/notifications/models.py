"""Notifications: the inbox a user reads, the outbox a sender drains, and the devices pushes go to.

A notification is written in the transaction of the change it reports (one inbox row per user, one
outbox row per device or one console row); a worker sends them after commit (never the request),
touching only the outbox.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from volunteer_app.db import BigId, UTCDateTime, utcnow
from volunteer_app.extensions import db


class OutboxStatus(enum.StrEnum):
    """An outbox message: pending, being sent, sent; failed (retried with backoff), dead (gave up)."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    DEAD = "dead"


PLATFORMS = ("ios", "android", "harmony", "web")
# The push service each platform's messages go through; "console" when the user has no device.
CHANNELS = {"ios": "apns", "android": "fcm", "harmony": "hms", "web": "webpush"}
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
    """One delivery of a notification to one device (or the console), claimed and sent by a worker."""

    __tablename__ = "notification_outbox"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed', 'dead')", name="status"),
        Index("ix_notification_outbox_status_next_try_at_id", "status", "next_try_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    channel: Mapped[str] = mapped_column(String(16))
    device_token: Mapped[str | None] = mapped_column(String(255))
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
