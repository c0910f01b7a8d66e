"""The inbox: one's own notifications, newest first, titled in the reader's language; marking them read."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update

from volunteer_app.db import utcnow
from volunteer_app.errors import language
from volunteer_app.extensions import db
from volunteer_app.notifications.messages import render
from volunteer_app.notifications.models import Notification, OutboxMessage
from volunteer_app.pagination import paginate

if TYPE_CHECKING:
    from volunteer_app.auth.tokens import Principal


def list_notifications(*, who: Principal, unread: bool, limit: int, cursor: str | None) -> dict:
    """One's own notifications, newest first (only unread ones if asked), titled in the caller's language."""
    stmt = select(Notification).where(Notification.user_id == who.user_id)
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


def mark_read(*, who: Principal, ids: list[int] | None, everything: bool) -> int:
    """Mark one's own notifications read (the given ids, or all); others' ids match nothing. Commits;
    returns how many changed."""
    stmt = update(Notification).where(Notification.user_id == who.user_id, Notification.read_at.is_(None))
    if not everything:
        stmt = stmt.where(Notification.id.in_(ids or []))
    result = db.session.execute(
        stmt.values(read_at=utcnow()), execution_options={"synchronize_session": False}
    )
    db.session.commit()
    return result.rowcount


def purge_inbox(before, *, batch: int = 2000) -> int:
    """Delete inbox rows written before `before` (and their delivery rows), oldest first, a batch per
    transaction (the retention job, `[retention] notifications_days`). Walks the table in id order,
    which is the order rows were written, and stops at the first row younger than `before`: each batch
    reads only the rows it deletes, however large the table. Commits."""
    deleted = 0
    while True:
        rows = db.session.execute(
            select(Notification.id, Notification.created_at).order_by(Notification.id).limit(batch)
        ).all()
        old = [row_id for row_id, at in rows if at < before]
        if old:
            db.session.execute(delete(OutboxMessage).where(OutboxMessage.notification_id.in_(old)))
            db.session.execute(delete(Notification).where(Notification.id.in_(old)))
            db.session.commit()
            deleted += len(old)
        if len(old) < batch:
            return deleted
