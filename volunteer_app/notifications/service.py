"""Notifications: writing them with the change they report, delivering the outbox, the inbox, devices."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from flask import current_app, g, has_app_context
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from volunteer_app.accounts.models import RoleGrant, User
from volunteer_app.db import utcnow
from volunteer_app.errors import NotFound, language
from volunteer_app.extensions import db
from volunteer_app.notifications import senders
from volunteer_app.notifications.models import CHANNELS, MAX_DEVICES, Device, Notification, OutboxMessage
from volunteer_app.pagination import paginate

log = logging.getLogger(__name__)

# kind -> (zh-CN, en), filled with str.format from the notification's params when shown or sent.
KINDS: dict[str, tuple[str, str]] = {
    "order.submitted": ("新订单「{title}」待派单", 'New order "{title}" is waiting to be dispatched'),
    "order.offered": (
        "您收到服务邀请「{title}」，请接单或婉拒",
        'You are invited to serve "{title}": please accept or decline',
    ),
    "order.filled": ("「{title}」已满员", '"{title}" is fully staffed'),
    "order.declined": (
        "志愿者{name}退出「{title}」，请重新派单",
        'Volunteer {name} withdrew from "{title}": please dispatch it again',
    ),
    "order.reminder": (
        "「{title}」将于{start}开始，请按时签到",
        '"{title}" starts at {start}: please check in on time',
    ),
    "activity.reminder": (
        "您报名的活动「{title}」将于{start}开始，请按时签到",
        'The activity "{title}" you signed up for starts at {start}: please check in on time',
    ),
    "activity.unaudited": (
        "活动「{title}」已过审核期限仍未审核，请尽快审核以便志愿者时长入账",
        'The activity "{title}" is past its audit deadline: audit it so the volunteers\' hours are credited',
    ),
    "activity.promoted": (
        "候补成功：您已获得活动「{title}」的名额",
        'A place on "{title}" came free: you have moved up from the waitlist',
    ),
    "activity.cancelled": (
        "活动「{title}」已取消：{reason}",
        'The activity "{title}" was cancelled: {reason}',
    ),
    "order.rate_request": ("「{title}」服务已完成，请评价", '"{title}" is done: please rate the service'),
    "order.escalated": (
        "「{title}」逾期未处理（{state}），已上报",
        '"{title}" is overdue ({state}) and was escalated',
    ),
    "order.rejected": ("订单「{title}」未被受理", 'The order "{title}" was not accepted'),
    "order.cancelled": ("「{title}」已取消", '"{title}" was cancelled'),
    "order.expired": ("「{title}」已过期关闭", '"{title}" expired and was closed'),
    "hours.credited": (
        "「{title}」审核通过，{duration}已存入时间存折",
        '"{title}" was approved: {duration} added to your time book',
    ),
    "ledger.mismatch": ("时间存折校验发现异常：{detail}", "The time book check found a problem: {detail}"),
    "timebank.statement": (
        "您 {month} 的时间存折月结单已生成，请查看",
        "Your time book statement for {month} is ready",
    ),
    "star.up": (
        "恭喜！您的志愿星级升至 {level} 星",
        "Congratulations: your volunteer star level rose to {level}",
    ),
}
# What a notification is about, for the app to open it: subject type -> what its id is (always a string).
SUBJECT_TYPES: dict[str, str] = {
    "order": "the order's id: GET /orders/{id}",
    "activity": "the activity's id: GET /activities/{id}",
    "statement": "the month YYYY-MM of the reader's statement: GET /me/timebook/transfers?month={id}",
    "timebook": "the reader's book number: GET /me/timebook",
    "ledger": "the ledger as a whole, no id (run `flask timebank verify`)",
}
# kind -> the subject types it may carry (notify refuses any other, and a missing one).
KIND_SUBJECTS: dict[str, tuple[str, ...]] = {
    **{kind: ("order",) for kind in KINDS if kind.startswith("order.")},
    **{kind: ("activity",) for kind in KINDS if kind.startswith("activity.")},
    "hours.credited": ("order", "activity"),
    "ledger.mismatch": ("ledger",),
    "timebank.statement": ("statement",),
    "star.up": ("timebook",),
}
# Appended when the params carry a reason the template does not already show.
REASON = ("（原因：{reason}）", " (reason: {reason})")
PARAM_TYPES = (str, int, float)

# Delivery: a claim is a lease (a crashed sender's rows are taken over after it); failures back off.
SENDING_LEASE = timedelta(minutes=10)
RETRY_FIRST = timedelta(seconds=30)
RETRY_MAX = timedelta(hours=1)
# Most outbox rows one request sends itself after commit; the rest wait for `flask notifications deliver`.
AFTER_REQUEST_LIMIT = 200
# Ids per IN (…) list, well under SQLite's bound-parameter limit.
CHUNK = 1000


class _KeepUnknown(dict):
    """format_map values: a placeholder without a param stays as written instead of raising."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def duration_text(minutes: int, lang: str = "zh-CN") -> str:
    """Minutes as people read them: "45 分钟", "1 小时 30 分钟", "2 小时" (en: "45 minutes", "1 hour 30
    minutes"). Minutes are exact, so nothing is rounded away (a minute is never "0.0 hours")."""
    sign = "-" if minutes < 0 else ""
    whole, rest = divmod(abs(int(minutes)), 60)
    if lang == "en":
        parts = [f"{whole} hour{'s' if whole != 1 else ''}"] if whole else []
        if rest or not whole:
            parts.append(f"{rest} minute{'s' if rest != 1 else ''}")
    else:
        parts = [f"{whole} 小时"] if whole else []
        if rest or not whole:
            parts.append(f"{rest} 分钟")
    return sign + " ".join(parts)


def _minutes_of(params: dict) -> int | None:
    """The `minutes` param (older rows carried only `hours`, rounded to a tenth)."""
    minutes, old_hours = params.get("minutes"), params.get("hours")
    if isinstance(minutes, int | float) and not isinstance(minutes, bool):
        return int(minutes)
    if isinstance(old_hours, int | float) and not isinstance(old_hours, bool):
        return round(old_hours * 60)
    return None


def render(kind: str, params: dict[str, Any] | None, lang: str = "zh-CN") -> str:
    """A notification's text in one language; missing params are left as their {placeholders}. A
    `minutes` param is shown as {duration} in the reader's language."""
    zh, en = KINDS.get(kind, (kind, kind))
    english = lang == "en"
    text = en if english else zh
    values = _KeepUnknown(params or {})
    minutes = _minutes_of(values)
    if minutes is not None and "duration" not in values:
        values["duration"] = duration_text(minutes, lang)
    if values.get("reason") not in (None, "") and "{reason}" not in text:
        text += REASON[1 if english else 0]
    try:
        return text.format_map(values)
    except (AttributeError, IndexError, KeyError, ValueError):
        return text


# ---- writing (in the caller's transaction) ---------------------------------------------------------


Subject = tuple[str, int | str | None]  # (subject type, id): ("order", 42), ("statement", "2026-05")


class Message(NamedTuple):
    """One notification to write: the same kind, params and subject to each of `user_ids`."""

    user_ids: Iterable[int]
    kind: str
    params: dict | None
    subject: Subject


def notify(user_ids: Iterable[int], kind: str, *, subject: Subject, params: dict | None = None) -> int:
    """Put one inbox row per distinct user and one outbox row per (user, device) — or one console row
    for a user without devices — in the current transaction. `subject` is what it is about (a type of
    SUBJECT_TYPES that KIND_SUBJECTS allows for the kind, and its id). Flushes only: the caller commits.
    Returns the number of inbox rows."""
    return notify_many([Message(user_ids, kind, params, subject)])


def _checked(message: Message) -> tuple[list[int], dict, str, str | None]:
    if message.kind not in KINDS:
        raise ValueError(f"unknown notification kind: {message.kind!r}")
    params = dict(message.params or {})
    for key, value in params.items():
        if not isinstance(key, str) or not (value is None or isinstance(value, PARAM_TYPES)):
            raise ValueError(f"notification param {key!r} must be a string or a number")
    subject_type, subject_id = message.subject or (None, None)
    if subject_type not in KIND_SUBJECTS[message.kind]:
        raise ValueError(f"a {message.kind!r} notification is about one of {KIND_SUBJECTS[message.kind]}")
    if (subject_id is None) != (subject_type == "ledger"):
        raise ValueError(f"a {subject_type!r} subject needs an id (only the ledger has none)")
    return (
        sorted(set(message.user_ids)),
        params,
        subject_type,
        None if subject_id is None else str(subject_id),
    )


def notify_many(messages: Iterable[Message]) -> int:
    """`notify` for many messages at once (a scheduler sweep: one per moved order) in three statements
    per CHUNK inbox rows, however many messages: the inbox rows, their users' devices, the outbox rows.
    Flushes only. Returns the number of inbox rows."""
    now = utcnow()
    rows = [
        {
            "user_id": user_id,
            "kind": message.kind,
            "params": params,
            "order_id": int(subject_id) if subject_type == "order" else None,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "created_at": now,
        }
        for message in messages
        for users, params, subject_type, subject_id in [_checked(message)]
        for user_id in users
    ]
    for start in range(0, len(rows), CHUNK):
        _write(rows[start : start + CHUNK], now)
    return len(rows)


def _write(rows: list[dict], now: datetime) -> None:
    # Each returned row says whose it is, so no RETURNING in input order is needed (which SQLite can
    # only give one row at a time).
    written = db.session.execute(
        insert(Notification).returning(Notification.id, Notification.user_id), rows
    ).all()
    devices: dict[int, list[tuple[str, str]]] = {}
    for user_id, platform, token in db.session.execute(
        select(Device.user_id, Device.platform, Device.token)
        .where(Device.user_id.in_({row["user_id"] for row in rows}))
        .order_by(Device.id)
    ):
        devices.setdefault(user_id, []).append((CHANNELS[platform], token))
    outbox = [
        {
            "notification_id": notification_id,
            "user_id": user_id,
            "channel": channel,
            "device_token": token,
            "status": "pending",
            "attempts": 0,
            "next_try_at": now,
            "created_at": now,
        }
        for notification_id, user_id in sorted(written)
        for channel, token in devices.get(user_id) or [("console", None)]
    ]
    # render_nulls: one INSERT for rows with and without a device token alike.
    db.session.execute(insert(OutboxMessage), outbox, execution_options={"render_nulls": True})
    if has_app_context():
        # Read by deliver_after_request: this request has something to send once it has committed.
        g.notification_outbox = g.get("notification_outbox", 0) + len(outbox)


def managers_of(site_id: int) -> list[int]:
    """The active users holding the manager role granted directly on this site (not above it)."""
    return managers_of_sites({site_id}).get(site_id, [])


def managers_of_sites(site_ids: set[int]) -> dict[int, list[int]]:
    """`managers_of` for many sites in one query: site id → its direct active managers, by user id."""
    found: dict[int, list[int]] = {}
    if not site_ids:
        return found
    for site_id, user_id in db.session.execute(
        select(RoleGrant.site_id, RoleGrant.user_id)
        .join(User, User.id == RoleGrant.user_id)
        .where(RoleGrant.role == "manager", RoleGrant.site_id.in_(site_ids), User.is_active.is_(True))
        .order_by(RoleGrant.site_id, RoleGrant.user_id)
    ):
        found.setdefault(site_id, []).append(user_id)
    return found


# ---- delivering (after commit) ------------------------------------------------------------------------


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the n-th failed attempt: 30 s, doubling, at most an hour."""
    return min(RETRY_FIRST * 2 ** max(attempts - 1, 0), RETRY_MAX)


def deliver_pending(*, limit: int = 100, now: datetime | None = None) -> int:
    """Send up to `limit` due outbox rows through the configured sender; mark each sent, or failed with
    a later next try (dead after `notification_max_attempts`). Claims rows first with a conditional
    UPDATE in its own transaction, so concurrent deliverers never send a row twice. Commits; returns
    how many were sent."""
    now = now or utcnow()
    send = senders.sender().send  # before claiming: a sender that cannot be built strands nothing
    messages = _claim(limit, now)
    if not messages:
        return 0
    sent: list[int] = []
    failed: list[tuple[dict[str, Any], str]] = []
    for message in messages:
        try:
            send(message)
        except Exception as exc:  # a gateway's failure is recorded and retried, never raised
            log.warning(
                "notification %s to user %s failed: %s",
                message["notification_id"],
                message["user_id"],
                type(exc).__name__,
            )
            failed.append((message, f"{type(exc).__name__}: {exc}"[:200]))
        else:
            sent.append(message["id"])
    _record(sent, failed, now)
    return len(sent)


def _due(now: datetime):
    """Pending or failed rows whose time has come, and claims whose lease ran out (a crashed sender)."""
    return (OutboxMessage.status.in_(("pending", "failed", "sending")), OutboxMessage.next_try_at <= now)


def _claim(limit: int, now: datetime) -> list[dict[str, Any]]:
    """Move up to `limit` due rows to `sending` (only the rows this UPDATE changed are ours) and return
    them as messages; rows whose device left the user meanwhile are dropped as dead. Commits."""
    candidates = list(
        db.session.scalars(
            select(OutboxMessage.id)
            .where(*_due(now))
            .order_by(OutboxMessage.next_try_at, OutboxMessage.id)
            .limit(limit)
        )
    )
    if not candidates:
        db.session.rollback()
        return []
    claimed = list(
        db.session.scalars(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(candidates), *_due(now))
            .values(status="sending", next_try_at=now + SENDING_LEASE)
            .returning(OutboxMessage.id),
            execution_options={"synchronize_session": False},
        )
    )
    rows = db.session.execute(
        select(OutboxMessage, Notification, Device.id)
        .join(Notification, Notification.id == OutboxMessage.notification_id)
        .outerjoin(
            Device, (Device.token == OutboxMessage.device_token) & (Device.user_id == OutboxMessage.user_id)
        )
        .where(OutboxMessage.id.in_(claimed))
        .order_by(OutboxMessage.id)
        .execution_options(populate_existing=True)
    ).all()
    # A token deleted or registered by someone else since: its pushes must not reach that phone.
    gone = {outbox.id for outbox, _n, device_id in rows if outbox.device_token and device_id is None}
    if gone:
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(sorted(gone)))
            .values(status="dead", last_error="device.gone"),
            execution_options={"synchronize_session": False},
        )
    messages = [_message(outbox, notification) for outbox, notification, _d in rows if outbox.id not in gone]
    db.session.commit()
    return messages


def _message(outbox: OutboxMessage, notification: Notification) -> dict[str, Any]:
    """What a sender gets: where to, what kind, and the text in both languages."""
    return {
        "id": outbox.id,
        "notification_id": notification.id,
        "user_id": outbox.user_id,
        "channel": outbox.channel,
        "device_token": outbox.device_token,
        "kind": notification.kind,
        "params": dict(notification.params or {}),
        "order_id": notification.order_id,
        "subject_type": notification.subject_type,
        "subject_id": notification.subject_id,
        "title": render(notification.kind, notification.params),
        "title_en": render(notification.kind, notification.params, "en"),
        "attempts": outbox.attempts,
    }


def _record(sent: list[int], failed: list[tuple[dict[str, Any], str]], now: datetime) -> None:
    """Mark sent rows sent, failed rows failed (or dead once out of attempts). Commits."""
    max_attempts = int(current_app.config["APP"]["notification_max_attempts"])
    mine = OutboxMessage.status == "sending"
    for start in range(0, len(sent), CHUNK):
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(sent[start : start + CHUNK]), mine)
            .values(status="sent", sent_at=now, attempts=OutboxMessage.attempts + 1, last_error=None),
            execution_options={"synchronize_session": False},
        )
    for message, error in failed:
        attempts = message["attempts"] + 1
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message["id"], mine)
            .values(
                status="dead" if attempts >= max_attempts else "failed",
                attempts=attempts,
                next_try_at=now + retry_delay(attempts),
                last_error=error,
            ),
            execution_options={"synchronize_session": False},
        )
    db.session.commit()


def purge_outbox(before: datetime, *, batch: int = 10_000) -> int:
    """Delete outbox rows that are finished (sent, or dead after their last attempt) and older than
    `before`, batch by batch (commits each). Inbox rows stay: they are the user's. Returns the count."""
    removed = 0
    while True:
        done = (
            select(OutboxMessage.id)
            .where(OutboxMessage.status.in_(("sent", "dead")), OutboxMessage.created_at < before)
            .limit(batch)
        )
        count = db.session.execute(
            delete(OutboxMessage).where(OutboxMessage.id.in_(done.scalar_subquery()))
        ).rowcount
        db.session.commit()
        removed += count or 0
        if not count or count < batch:
            return removed


def deliver_after_request(response):
    """after_request hook: send what this request put in the outbox once it has committed; a failing
    sender is logged and never turns the response into an error."""
    created = g.pop("notification_outbox", 0)
    if not created:
        return response
    try:
        # Anything the request left uncommitted is discarded, exactly as the session teardown would.
        db.session.rollback()
        deliver_pending(limit=min(created, AFTER_REQUEST_LIMIT))
    except Exception:
        log.exception("delivering notifications after the request failed; they stay in the outbox")
        db.session.rollback()
    return response


# ---- the inbox -------------------------------------------------------------------------------------


def list_notifications(user_id: int, *, unread: bool, limit: int, cursor: str | None) -> dict:
    """One's own notifications, newest first (only unread ones if asked), titled in the caller's language."""
    stmt = select(Notification).where(Notification.user_id == user_id)
    if unread:
        stmt = stmt.where(Notification.read_at.is_(None))
    page = paginate(stmt, [Notification.id], limit=limit, cursor=cursor, descending=True)
    lang = language()
    page["items"] = [_inbox_item(n, lang) for n in page["items"]]
    return page


def _inbox_item(notification: Notification, lang: str) -> dict[str, Any]:
    return {
        "id": notification.id,
        "kind": notification.kind,
        "title": render(notification.kind, notification.params, lang),
        "params": notification.params or {},
        "order_id": notification.order_id,
        "subject_type": notification.subject_type,
        "subject_id": notification.subject_id,
        "read_at": notification.read_at,
        "created_at": notification.created_at,
    }


def mark_read(user_id: int, *, ids: list[int] | None, everything: bool) -> int:
    """Mark one's own notifications read (the given ids, or all); others' ids match nothing. Commits;
    returns how many changed."""
    stmt = update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    if not everything:
        stmt = stmt.where(Notification.id.in_(ids or []))
    result = db.session.execute(
        stmt.values(read_at=utcnow()), execution_options={"synchronize_session": False}
    )
    db.session.commit()
    return result.rowcount


# ---- devices ---------------------------------------------------------------------------------------


def register_device(user_id: int, *, platform: str, token: str, app_version: str | None) -> Device:
    """Register a push token for the caller, or take it over (a phone handed to someone else moves to
    them); keeps the caller's newest MAX_DEVICES devices. Commits."""
    now = utcnow()
    # One registration per user at a time, so two at once cannot both keep an eleventh device.
    db.session.execute(select(User.id).where(User.id == user_id).with_for_update())
    by_token = select(Device).where(Device.token == token).with_for_update()
    device = db.session.scalars(by_token).first()
    if device is None:
        device = Device(user_id=user_id, platform=platform, token=token, created_at=now)
        try:
            with db.session.begin_nested():
                db.session.add(device)
        except IntegrityError:  # registered at the same moment by another request: take that row
            device = db.session.scalars(by_token).one()
    device.user_id = user_id
    device.platform = platform
    device.app_version = app_version
    device.last_seen_at = now
    db.session.flush()
    stale = list(
        db.session.scalars(
            select(Device.id)
            .where(Device.user_id == user_id)
            .order_by(Device.last_seen_at.desc(), Device.id.desc())
            .offset(MAX_DEVICES)
        )
    )
    if stale:
        db.session.execute(delete(Device).where(Device.id.in_(stale)))
    db.session.commit()
    return device


def remove_device(user_id: int, device_id: int) -> None:
    """Forget one of the caller's devices (404 when it is not theirs). Commits."""
    result = db.session.execute(delete(Device).where(Device.id == device_id, Device.user_id == user_id))
    if result.rowcount != 1:
        db.session.rollback()
        raise NotFound()
    db.session.commit()
