"""Delivering the outbox: claiming due rows, sending each through its channel's sender, recording each
try (a provider's refusal by its code; retries back off; a refusal that cannot change is dead at once),
and purging finished rows. Runs in the worker and the scheduler, never in a request."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, func, select, update

from volunteer_app.accounts.models import User
from volunteer_app.db import utcnow
from volunteer_app.extensions import db
from volunteer_app.notifications import senders
from volunteer_app.notifications.channels import DeliveryError
from volunteer_app.notifications.messages import render
from volunteer_app.notifications.models import FINISHED, Device, Notification, OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)

# Delivery: a claim is a lease (a crashed sender's rows are taken over after it); failures back off.
SENDING_LEASE = timedelta(minutes=10)
# A batch stops sending this long before its lease runs out and hands its unsent rows back: a blocked
# provider (each send waiting out its timeouts) must not let another deliverer take over rows this one
# is still sending, which would send them twice.
LEASE_MARGIN = timedelta(minutes=1)
RETRY_FIRST = timedelta(seconds=30)
RETRY_MAX = timedelta(hours=1)
# Ids per IN (…) list, well under SQLite's bound-parameter limit.
CHUNK = 1000


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the n-th failed attempt: 30 s, doubling, at most an hour."""
    return min(RETRY_FIRST * 2 ** max(attempts - 1, 0), RETRY_MAX)


def deliver_pending(*, limit: int = 100, now: datetime | None = None) -> int:
    """Send up to `limit` due outbox rows, each through its channel's sender; mark each sent, or failed
    with a later next try (dead after `notification_max_attempts`, or at once when the provider says
    retrying cannot help: DeliveryError(retry=False)). Claims rows first with a conditional UPDATE in
    its own transaction, so concurrent deliverers never send a row twice. Commits; returns how many
    were sent."""
    now = now or utcnow()
    by_channel = senders.channel_senders()  # before claiming: a sender that cannot be built strands nothing
    messages = _claim(limit, now)
    if not messages:
        return 0
    sent: list[int] = []
    failed: list[tuple[dict[str, Any], str, bool]] = []
    released: list[int] = []
    stop_at = time.monotonic() + (SENDING_LEASE - LEASE_MARGIN).total_seconds()
    for message in messages:
        if time.monotonic() >= stop_at:  # the lease is running out: the rest wait for the next batch
            released.append(message["id"])
            continue
        try:
            by_channel[message["channel"]].send(message)
        except DeliveryError as exc:  # the provider's own answer: its code is what admins see
            log.warning(
                "notification %s to user %s via %s refused: %s",
                message["notification_id"],
                message["user_id"],
                message["channel"],
                exc.code,
            )
            error = f"{exc.code}: {exc.detail}" if exc.detail else exc.code
            failed.append((message, error[:200], exc.retry))
        except Exception as exc:  # a gateway down, a timeout, a bug: recorded and retried, never raised
            log.warning(
                "notification %s to user %s via %s failed: %s",
                message["notification_id"],
                message["user_id"],
                message["channel"],
                type(exc).__name__,
            )
            failed.append((message, f"{type(exc).__name__}: {exc}"[:200], True))
        else:
            sent.append(message["id"])
    _record(sent, failed, now, released)
    return len(sent)


def due(now: datetime):
    """Pending or failed rows whose time has come, and claims whose lease ran out (a crashed sender)."""
    return (
        OutboxMessage.status.in_((OutboxStatus.PENDING, OutboxStatus.FAILED, OutboxStatus.SENDING)),
        OutboxMessage.next_try_at <= now,
    )


def count_due(now: datetime | None = None) -> int:
    """How many outbox rows are due now (what a `flask notifications deliver` would try)."""
    count = db.session.scalar(select(func.count()).select_from(OutboxMessage).where(*due(now or utcnow())))
    db.session.rollback()
    return int(count or 0)


def _claim(limit: int, now: datetime) -> list[dict[str, Any]]:
    """Move up to `limit` due rows to `sending` (only the rows this UPDATE changed are ours) and return
    them as messages; rows whose device left the user meanwhile are dropped as dead. Commits."""
    candidates = list(
        db.session.scalars(
            select(OutboxMessage.id)
            .where(*due(now))
            .order_by(OutboxMessage.next_try_at, OutboxMessage.id)
            .limit(limit)
            # PostgreSQL: concurrent workers skip each other's rows instead of queueing on them
            # (the conditional UPDATE below is what makes a claim exclusive, on both databases).
            .with_for_update(skip_locked=True)
        )
    )
    if not candidates:
        db.session.rollback()
        return []
    claimed = list(
        db.session.scalars(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(candidates), *due(now))
            .values(status=OutboxStatus.SENDING, next_try_at=now + SENDING_LEASE)
            .returning(OutboxMessage.id),
            execution_options={"synchronize_session": False},
        )
    )
    rows = db.session.execute(
        select(OutboxMessage, Notification, Device.id, User.phone, User.is_active)
        .join(Notification, Notification.id == OutboxMessage.notification_id)
        .join(User, User.id == OutboxMessage.user_id)
        .outerjoin(
            Device,
            (OutboxMessage.channel == "push")
            & (Device.token == OutboxMessage.target)
            & (Device.user_id == OutboxMessage.user_id),
        )
        .where(OutboxMessage.id.in_(claimed))
        .order_by(OutboxMessage.id)
        .execution_options(populate_existing=True)
    ).all()
    messages, gone = [], {}
    for outbox, notification, device_id, phone, active in rows:
        if outbox.channel == "push" and device_id is None:
            # A token deleted or registered by someone else since: its pushes must not reach that phone.
            gone[outbox.id] = "device.gone"
        elif outbox.channel != "console" and not active:
            gone[outbox.id] = "user.inactive"
        else:
            # An SMS goes to the phone the user has now (the number is never copied into the outbox).
            target = phone if outbox.channel == "sms" else outbox.target
            messages.append(_message(outbox, notification, target))
    for error in set(gone.values()):
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(sorted(i for i, e in gone.items() if e == error)))
            .values(status=OutboxStatus.DEAD, last_error=error),
            execution_options={"synchronize_session": False},
        )
    db.session.commit()
    return messages


def _message(outbox: OutboxMessage, notification: Notification, target: str | None) -> dict[str, Any]:
    """What a sender gets (channels.py): where to, what kind, and the text in both languages."""
    return {
        "id": outbox.id,
        "notification_id": notification.id,
        "user_id": outbox.user_id,
        "channel": outbox.channel,
        "target": target,
        "kind": notification.kind,
        "params": dict(notification.params or {}),
        "order_id": notification.order_id,
        "subject_type": notification.subject_type,
        "subject_id": notification.subject_id,
        "title": render(notification.kind, notification.params),
        "title_en": render(notification.kind, notification.params, "en"),
        "attempts": outbox.attempts,
    }


def _record(
    sent: list[int], failed: list[tuple[dict[str, Any], str, bool]], now: datetime, released: list[int]
) -> None:
    """Mark sent rows sent, failed rows failed (or dead once out of attempts, or at once when retrying
    cannot help), and hand `released` rows (not tried: the lease ran short) back as pending, due now,
    their attempts unchanged. Commits."""
    max_attempts = int(current_app.config["APP"]["notification_max_attempts"])
    mine = OutboxMessage.status == OutboxStatus.SENDING
    for start in range(0, len(released), CHUNK):
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(released[start : start + CHUNK]), mine)
            .values(status=OutboxStatus.PENDING, next_try_at=now),
            execution_options={"synchronize_session": False},
        )
    for start in range(0, len(sent), CHUNK):
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(sent[start : start + CHUNK]), mine)
            .values(
                status=OutboxStatus.SENT, sent_at=now, attempts=OutboxMessage.attempts + 1, last_error=None
            ),
            execution_options={"synchronize_session": False},
        )
    for message, error, retry in failed:
        attempts = message["attempts"] + 1
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message["id"], mine)
            .values(
                status=OutboxStatus.DEAD if attempts >= max_attempts or not retry else OutboxStatus.FAILED,
                attempts=attempts,
                next_try_at=now + retry_delay(attempts),
                last_error=error,
            ),
            execution_options={"synchronize_session": False},
        )
    db.session.commit()


def purge_outbox(before: datetime, *, batch: int = 10_000) -> int:
    """Delete outbox rows that are finished (sent, dead after their last attempt, skipped) and older than
    `before`, batch by batch (commits each). Inbox rows stay: they are the user's. Returns the count."""
    removed = 0
    while True:
        done = (
            select(OutboxMessage.id)
            .where(
                OutboxMessage.status.in_(FINISHED),
                OutboxMessage.created_at < before,
            )
            .limit(batch)
        )
        count = db.session.execute(
            delete(OutboxMessage).where(OutboxMessage.id.in_(done.scalar_subquery()))
        ).rowcount
        db.session.commit()
        removed += count or 0
        if not count or count < batch:
            return removed
