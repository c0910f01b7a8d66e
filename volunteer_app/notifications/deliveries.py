"""What the outbox did, for admins (`/admin/notifications/…`): each delivery's channel, status,
attempts and the provider's last error, its target masked (a phone's last four digits, a token's or
openid's first characters)."""

from __future__ import annotations

from sqlalchemy import select

from volunteer_app.accounts.models import User
from volunteer_app.errors import NotFound
from volunteer_app.extensions import db
from volunteer_app.notifications.models import Notification, OutboxMessage
from volunteer_app.pagination import paginate

SHOWN_PREFIX = 6


def mask_target(channel: str, target: str | None, phone: str | None) -> str | None:
    """sms: the user's phone as it is now, its last four digits only; push and wechat: the first
    characters of the token or openid; console: none."""
    if channel == "sms":
        return f"***{phone[-4:]}" if phone else None
    if not target:
        return None
    return target[:SHOWN_PREFIX] + "…" if len(target) > SHOWN_PREFIX else "…"


def _page(stmt, *, limit: int, cursor: str | None) -> dict:
    page = paginate(stmt, [OutboxMessage.id], limit=limit, cursor=cursor, descending=True)
    rows: list[OutboxMessage] = page["items"]
    kinds = dict(
        db.session.execute(
            select(Notification.id, Notification.kind).where(
                Notification.id.in_({r.notification_id for r in rows})
            )
        ).all()
    )
    sms_users = {r.user_id for r in rows if r.channel == "sms"}
    phones = (
        dict(db.session.execute(select(User.id, User.phone).where(User.id.in_(sms_users))).all())
        if sms_users
        else {}
    )
    page["items"] = [
        {
            "id": r.id,
            "notification_id": r.notification_id,
            "user_id": r.user_id,
            "kind": kinds.get(r.notification_id),
            "channel": r.channel,
            "target": mask_target(r.channel, r.target, phones.get(r.user_id)),
            "status": r.status,
            "attempts": r.attempts,
            "last_error": r.last_error,
            "next_try_at": r.next_try_at,
            "sent_at": r.sent_at,
            "created_at": r.created_at,
        }
        for r in rows
    ]
    return page


def list_deliveries(
    *, user_id: int | None, channel: str | None, status: str | None, limit: int, cursor: str | None
) -> dict:
    """Outbox rows, newest first, filtered by user, channel and status (admins: the view checks)."""
    stmt = select(OutboxMessage)
    if user_id is not None:
        stmt = stmt.where(OutboxMessage.user_id == user_id)
    if channel is not None:
        stmt = stmt.where(OutboxMessage.channel == channel)
    if status is not None:
        stmt = stmt.where(OutboxMessage.status == status)
    return _page(stmt, limit=limit, cursor=cursor)


def notification_deliveries(*, notification_id: int, limit: int, cursor: str | None) -> dict:
    """One notification's outbox rows (404 when there is no such notification)."""
    if db.session.get(Notification, notification_id) is None:
        raise NotFound()
    stmt = select(OutboxMessage).where(OutboxMessage.notification_id == notification_id)
    return _page(stmt, limit=limit, cursor=cursor)
